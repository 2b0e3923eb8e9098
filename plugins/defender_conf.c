/* The `defender` input's options, their checks and the requests they lead to (see
 * defender_conf.h). */
#include "defender_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm_conf.h"

const struct aw_option aw_def_options[] = {
    AW_OPT_LIST("subscriptions", struct aw_def_conf, subscriptions, 0,
		"subscription ids (GUIDs) to read; required unless use_resource_graph, where "
		"none means every subscription the identity may read"),
    AW_OPT_BOOLEAN("use_resource_graph", struct aw_def_conf, use_resource_graph, "false",
		   "read through Azure Resource Graph (securityresources): one query for up to "
		   "resource_graph_batch subscriptions instead of two lists per subscription"),
    AW_OPT_BOOLEAN("assessments", struct aw_def_conf, assessments, "true",
		   "read recommendations (Microsoft.Security/assessments) as "
		   "SecurityRecommendation events"),
    AW_OPT_BOOLEAN("alerts", struct aw_def_conf, alerts, "true",
		   "read security alerts (Microsoft.Security/alerts) as SecurityAlert events"),
    AW_OPT_STR("arm_endpoint", struct aw_def_conf, arm_endpoint, "https://management.azure.com", 0,
	       "Azure Resource Manager (sovereign clouds: https://management.usgovcloudapi.net, "
	       "https://management.chinacloudapi.cn)"),
    AW_OPT_STR("scope", struct aw_def_conf, scope, "https://management.azure.com/.default", 0,
	       "token scope for ARM and Resource Graph"),
    AW_OPT_SUB("credential", struct aw_def_conf, credential, aw_credential_options,
	       "this input's own Entra ID identity; left out, the daemon's azure.credential "
	       "(it needs the Security Reader role on the subscriptions)"),
    AW_OPT_DUR("interval", struct aw_def_conf, interval_ms, "5m", 1000, 86400000,
	       "time from the start of one poll to the start of the next"),
    AW_OPT_DUR("request_timeout", struct aw_def_conf, request_timeout_ms, "60s", 1000, 600000,
	       "one page request, including the transfer"),
    AW_OPT_INTEGER("max_pages", struct aw_def_conf, max_pages, "1000", 1, 100000,
		   "pages read from one list in one poll; a list that still offers more is cut "
		   "off there, every poll (logged, aiwatch_defender_paging_stops_total): findings "
		   "past it are not seen, so raise it when it is hit"),
    AW_OPT_INTEGER("max_empty_pages", struct aw_def_conf, max_empty_pages, "3", 1, 1000,
		   "a list ends after this many empty pages in a row that still carry a "
		   "nextLink (an ARM fault seen with assessments)"),
    AW_OPT_BYTES("max_page_bytes", struct aw_def_conf, max_page_bytes, "32MiB", 65536, 1073741824LL,
		 "largest page accepted"),
    AW_OPT_INTEGER("min_remaining_reads", struct aw_def_conf, min_remaining_reads, "10", 0, 100000,
		   "when ARM's x-ms-ratelimit-remaining-* headers fall below this, wait a second "
		   "before the next request (0: never); 429 and Retry-After are always honoured"),
    AW_OPT_INTEGER("resource_graph_batch", struct aw_def_conf, graph_batch, "300", 1, 1000,
		   "subscriptions named in one Resource Graph query"),
    AW_OPT_INTEGER("resource_graph_page_size", struct aw_def_conf, graph_page_size, "1000", 1, 1000,
		   "rows per Resource Graph page ($top)"),
    AW_OPT_INTEGER("max_findings", struct aw_def_conf, max_findings, "100000", 1, 10000000,
		   "findings whose state is remembered (about 80 bytes each); past it a new "
		   "finding is reported on every poll until the table has room, counted in "
		   "aiwatch_defender_untracked_findings_total"),
    AW_OPT_END,
};

int aw_def_conf_validate(const void *conf, const char *where, struct aw_error_list *errs)
{
	const struct aw_def_conf *c = conf;
	int rc = 0;

	if (!c->use_resource_graph && c->subscriptions.n == 0)
		rc = aw_error_list_add(errs,
				       "%s.subscriptions: at least one subscription id is required "
				       "(or use_resource_graph: true)",
				       where);
	for (size_t i = 0; i < c->subscriptions.n; i++) {
		if (!aw_arm_is_guid(c->subscriptions.v[i]))
			rc = aw_error_list_add(errs,
					       "%s.subscriptions[%zu]: '%.60s' is not a "
					       "subscription id (a GUID)",
					       where, i, c->subscriptions.v[i]);
		for (size_t k = 0; k < i; k++)
			if (strcasecmp(c->subscriptions.v[i], c->subscriptions.v[k]) == 0)
				rc = aw_error_list_add(errs,
						       "%s.subscriptions[%zu]: %s is listed twice",
						       where, i, c->subscriptions.v[i]);
	}
	if (!c->assessments && !c->alerts)
		rc = aw_error_list_add(
		    errs, "%s: assessments and alerts are both off: nothing to read", where);
	if (aw_arm_conf_check(where, c->arm_endpoint, c->scope, &c->credential, errs) < 0)
		rc = -1;
	return rc;
}

size_t aw_def_list_count(const struct aw_def_conf *c)
{
	size_t nkinds = (c->assessments ? 1 : 0) + (c->alerts ? 1 : 0);

	if (!c->use_resource_graph)
		return c->subscriptions.n * nkinds;
	if (!c->subscriptions.n)
		return 1;
	return (c->subscriptions.n + (size_t)c->graph_batch - 1) / (size_t)c->graph_batch;
}

/* One query for both types, ordered by id so that $skipToken paging is stable, and
 * projecting id, without which Resource Graph cannot page (contract §4.4). */
static json_object *graph_request(const struct aw_def_conf *c, size_t batch)
{
	json_object *req = json_object_new_object(), *opts = json_object_new_object(), *subs;
	size_t from = batch * (size_t)c->graph_batch;
	char query[512];

	if (!req || !opts || json_object_object_add(req, "options", opts) != 0) {
		json_object_put(opts);
		json_object_put(req);
		return NULL;
	}
	snprintf(query, sizeof query,
		 "securityresources | where type in~ (%s%s%s) | project id, name, type, "
		 "tenantId, properties | order by id asc",
		 c->assessments ? "'microsoft.security/assessments'" : "",
		 c->assessments && c->alerts ? ", " : "",
		 c->alerts ? "'microsoft.security/locations/alerts'" : "");
	if (json_object_object_add(req, "query", json_object_new_string(query)) != 0 ||
	    json_object_object_add(opts, "$top", json_object_new_int64(c->graph_page_size)) != 0 ||
	    json_object_object_add(opts, "resultFormat", json_object_new_string("objectArray")))
		goto oom;
	if (c->subscriptions.n) {
		if (!(subs = json_object_new_array()) ||
		    json_object_object_add(req, "subscriptions", subs) != 0) {
			json_object_put(subs);
			goto oom;
		}
		for (size_t i = from; i < c->subscriptions.n && i < from + (size_t)c->graph_batch;
		     i++)
			if (json_object_array_add(subs,
						  json_object_new_string(c->subscriptions.v[i])))
				goto oom;
	}
	return req;
oom:
	json_object_put(req);
	return NULL;
}

int aw_def_list_request(const struct aw_def_conf *c, const char *endpoint, size_t i, bool *graph,
			bool *kind_alerts, char *url, size_t urlsz, json_object **request)
{
	size_t nkinds = (c->assessments ? 1 : 0) + (c->alerts ? 1 : 0);
	int n;

	*request = NULL;
	*graph = c->use_resource_graph;
	*kind_alerts = false;
	if (*graph) {
		n = snprintf(
		    url, urlsz,
		    "%s/providers/Microsoft.ResourceGraph/resources?api-version=" AW_DEF_API_GRAPH,
		    endpoint);
		if (n < 0 || (size_t)n >= urlsz || !(*request = graph_request(c, i)))
			return -1;
		return 0;
	}
	*kind_alerts = !c->assessments || i % nkinds == 1;
	if (*kind_alerts)
		n = snprintf(url, urlsz,
			     "%s/subscriptions/%s/providers/Microsoft.Security/"
			     "alerts?api-version=" AW_DEF_API_ALERTS,
			     endpoint, c->subscriptions.v[i / nkinds]);
	else
		n = snprintf(url, urlsz,
			     "%s/subscriptions/%s/providers/Microsoft.Security/"
			     "assessments?api-version=" AW_DEF_API_ASSESSMENTS "&$expand=metadata",
			     endpoint, c->subscriptions.v[i / nkinds]);
	return n < 0 || (size_t)n >= urlsz ? -1 : 0;
}
