/* The `posture` input's options, their checks, its ARM identity and the collector conf
 * they make (see posture_conf.h). */
#include "posture_conf.h"

#include <string.h>
#include <strings.h>

#include "arm_conf.h"

const struct aw_option aw_posture_options[] = {
    AW_OPT_LIST("subscriptions", struct aw_posture_conf, scope.subscriptions, 0,
		"subscription ids (GUIDs) whose AI resources are checked, also where the "
		"Defender for AI plan is read; with neither this nor management_groups, "
		"every subscription the identity can read"),
    AW_OPT_LIST("management_groups", struct aw_posture_conf, scope.management_groups, 0,
		"management group ids to read instead of subscriptions (Resource Graph "
		"managementGroups); the plan is read for each subscription that has an AI "
		"resource"),
    AW_OPT_STR("arm_endpoint", struct aw_posture_conf, arm_endpoint, "https://management.azure.com",
	       0,
	       "Azure Resource Manager and Resource Graph (sovereign clouds: "
	       "https://management.usgovcloudapi.net, https://management.chinacloudapi.cn)"),
    AW_OPT_STR("scope", struct aw_posture_conf, token_scope, AW_POSTURE_SCOPE_ARM, 0,
	       "token scope for ARM and Resource Graph"),
    AW_OPT_SUB("credential", struct aw_posture_conf, credential, aw_credential_options,
	       "this input's own Entra ID identity; left out, the daemon's azure.credential "
	       "(it needs the Reader role on the subscriptions, which lists Key Vault secret "
	       "metadata but never a value)"),
    AW_OPT_DUR("interval", struct aw_posture_conf, interval_ms, "1h", 1000, 604800000,
	       "time from the start of one read of the estate to the start of the next"),
    AW_OPT_DUR("request_timeout", struct aw_posture_conf, request_timeout_ms, "60s", 1000, 600000,
	       "longest one Resource Graph or ARM request may take before it is retried"),
    AW_OPT_INTEGER("page_size", struct aw_posture_conf, page_size, "1000", 1, 1000,
		   "rows per Resource Graph page ($top)"),
    AW_OPT_INTEGER("concurrency", struct aw_posture_conf, concurrency, "4", 1, 32,
		   "ARM reads in flight at once for deployments, computes, secrets, diagnostic "
		   "settings and Defender plans (each subscription allows about 25 reads a "
		   "second)"),
    AW_OPT_BOOLEAN("children", struct aw_posture_conf, children, "true",
		   "read model deployments, ML computes and Key Vault secret metadata (expiry "
		   "dates, never values), one listing per account, workspace and vault"),
    AW_OPT_BOOLEAN("diagnostics", struct aw_posture_conf, diagnostics, "true",
		   "read each resource's diagnostic settings (one request per resource); off, "
		   "the logging checks report unknown"),
    AW_OPT_INTEGER("max_resources", struct aw_posture_conf, max_resources, "100000", 1, 10000000,
		   "resources and children read in one pass; past it the read stops, the pass "
		   "counts as failed (logged) and nothing is resolved until it fits"),
    AW_OPT_INTEGER("max_findings", struct aw_posture_conf, max_findings, "200000", 1, 10000000,
		   "findings whose state is remembered (about 300 bytes each); past it a new "
		   "failure is reported on every pass until the table has room, counted in "
		   "aiwatch_posture_untracked_findings_total"),
    AW_OPT_END,
};

/* Management group ids: letters, digits, - _ ( ) . (Azure's naming rule), 1..90. */
static bool is_group_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 90)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr("-_().", ch)))
			return false;
	}
	return true;
}

static int check_list(const struct aw_strlist *l, const char *where, const char *key,
		      bool (*ok)(const char *), const char *what, struct aw_error_list *errs)
{
	int rc = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (!ok(l->v[i]))
			rc = aw_error_list_add(errs, "%s.%s[%zu]: '%.60s' is not %s", where, key, i,
					       l->v[i], what);
		for (size_t k = 0; k < i; k++)
			if (strcasecmp(l->v[i], l->v[k]) == 0) {
				rc = aw_error_list_add(errs, "%s.%s[%zu]: %s is listed twice",
						       where, key, i, l->v[i]);
				break;
			}
	}
	return rc;
}

int aw_posture_conf_validate(const void *conf, const char *where, struct aw_error_list *errs)
{
	const struct aw_posture_conf *c = conf;
	int rc = 0;

	if (check_list(&c->scope.subscriptions, where, "subscriptions", aw_arm_is_guid,
		       "a subscription id (a GUID)", errs) < 0)
		rc = -1;
	if (check_list(&c->scope.management_groups, where, "management_groups", is_group_id,
		       "a management group id", errs) < 0)
		rc = -1;
	if (c->scope.subscriptions.n && c->scope.management_groups.n)
		rc = aw_error_list_add(errs,
				       "%s: subscriptions and management_groups are both set; "
				       "Resource Graph takes one or the other",
				       where);
	if (aw_arm_conf_check(where, c->arm_endpoint, c->token_scope, &c->credential, errs) < 0)
		rc = -1;
	return rc;
}

int aw_posture_bearer(const struct aw_posture_conf *c, const char *name, uv_loop_t *loop,
		      struct aw_http *http, struct aw_metrics *m,
		      struct aw_credential *default_cred, struct aw_auth **own_auth,
		      const struct aw_http_bearer **bearer, struct aw_error *err)
{
	const struct aw_arm_identity id = {
	    .credential = &c->credential,
	    .scope = c->token_scope,
	    .kind = "posture",
	    .name = name,
	    .loop = loop,
	    .http = http,
	    .metrics = m,
	    .fallback = default_cred,
	};

	return aw_arm_bearer(&id, own_auth, bearer, err);
}

/* Only the fields that come from the input's conf: loop, http, bearer and component
 * are the caller's. */
void aw_posture_collect_conf_from(const struct aw_posture_conf *c,
				  struct aw_posture_collect_conf *out)
{
	out->arm_endpoint = c->arm_endpoint;
	out->scope = &c->scope;
	out->page_size = (unsigned)c->page_size;
	out->concurrency = (unsigned)c->concurrency;
	out->children = c->children;
	out->diagnostics = c->diagnostics;
	out->max_resources = (size_t)c->max_resources;
	out->timeout_ms = (long)c->request_timeout_ms;
}
