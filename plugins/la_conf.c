/* The `loganalytics` input's options, their checks, and the KQL source they name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "la.h"

/* The default `tables`: what the shipped rules read (log-schemas.md, design.md). */
static const char *const la_default_tables[] = {
    "AzureDiagnostics | where ResourceProvider == \"MICROSOFT.COGNITIVESERVICES\" and "
    "Category in (\"RequestResponse\", \"Audit\")",
    "AzureDiagnostics | where ResourceProvider == \"MICROSOFT.KEYVAULT\" and "
    "Category == \"AuditEvent\"",
    "AzureActivity | where ResourceProviderValue in~ (\"MICROSOFT.COGNITIVESERVICES\", "
    "\"MICROSOFT.MACHINELEARNINGSERVICES\", \"MICROSOFT.KEYVAULT\") or OperationNameValue in~ "
    "(\"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE\", "
    "\"MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/WRITE\", "
    "\"MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE\", "
    "\"MICROSOFT.SECURITY/ALERTSSUPPRESSIONRULES/WRITE\")",
    "AZKVAuditLogs",
    "AmlOnlineEndpointTrafficLog",
    "SecurityAlert",
};

const struct aw_option aw_la_options[] = {
    AW_OPT_STR("workspace_id", struct aw_la_conf, workspace_id, NULL, AW_OPT_REQUIRED,
	       "the workspace's id (a GUID, the customerId; not the ARM resource id)"),
    AW_OPT_STR("endpoint", struct aw_la_conf, endpoint, "https://api.loganalytics.io", 0,
	       "query API base URL (US Gov: https://api.loganalytics.us, China: "
	       "https://api.loganalytics.azure.cn)"),
    AW_OPT_STR("scope", struct aw_la_conf, scope, "https://api.loganalytics.io/.default", 0,
	       "token scope for the query API (the same audience serves "
	       "api.loganalytics.azure.com)"),
    AW_OPT_SUB("credential", struct aw_la_conf, credential, aw_credential_options,
	       "this input's own Entra ID identity; absent: the daemon's (azure.credential)"),
    AW_OPT_LIST("tables", struct aw_la_conf, tables, 0,
		"tables to read, each a table name or a table followed by KQL operators "
		"(\"AzureActivity | where ...\"); default: Azure OpenAI/AI Services "
		"AzureDiagnostics RequestResponse and Audit, Key Vault AuditEvent, "
		"AzureActivity for AI, ML and Key Vault, AZKVAuditLogs, "
		"AmlOnlineEndpointTrafficLog, SecurityAlert"),
    AW_OPT_STR("query", struct aw_la_conf, query, NULL, 0,
	       "instead of tables: a KQL tabular source of table rows (filters and "
	       "extends; keep _ItemId and TimeGenerated, no summarize); the input "
	       "appends its cursor clauses"),
    AW_OPT_STR("type", struct aw_la_conf, type, NULL, 0,
	       "Type given to rows whose answer has no Type column (query: sources)"),
    AW_OPT_DUR("interval", struct aw_la_conf, interval_ms, "60s", 100, 86400000LL,
	       "how often a poll starts"),
    AW_OPT_DUR("settle_delay", struct aw_la_conf, settle_delay_ms, "90s", 0, 3600000LL,
	       "rows are read only once their ingestion time is this old (ingestion_time() "
	       "runs slightly ahead of what queries can see)"),
    AW_OPT_DUR("overlap", struct aw_la_conf, overlap_ms, "5m", 0, 86400000LL,
	       "each poll re-reads this much before the watermark, for rows that became "
	       "visible late; their _ItemIds are remembered so none counts twice"),
    AW_OPT_DUR("max_lateness", struct aw_la_conf, max_lateness_ms, "3d", 60000, 30LL * 86400000LL,
	       "TimeGenerated may lie this long before ingestion (Azure keeps up to 2 days): "
	       "the width of the request's timespan below the ingestion range"),
    AW_OPT_INTEGER("row_cap", struct aw_la_conf, row_cap, "10000", 1, AW_LA_TAKE_MAX,
		   "rows per query (take); a full answer is followed at once by the next"),
    AW_OPT_DUR("lookback", struct aw_la_conf, lookback_ms, "1h", 0, 30LL * 86400000LL,
	       "where the first start (or a corrupt checkpoint) begins: this long ago"),
    AW_OPT_DUR("query_timeout", struct aw_la_conf, query_timeout_ms, "180s", 10000, 600000,
	       "server-side time limit (Prefer: wait=...); past it the service answers 504"),
    AW_OPT_INTEGER("dedup_max", struct aw_la_conf, dedup_max, "200000", 16, 10000000,
		   "_ItemIds remembered for the overlap; past it the oldest are forgotten "
		   "(a record seen again is then evaluated twice, same AlertId)"),
    AW_OPT_BYTES("max_response_bytes", struct aw_la_conf, max_response_bytes, "128MiB", 1024 * 1024,
		 1024LL * 1024 * 1024,
		 "larger answers fail (the service sends at most about 100 MiB)"),
    AW_OPT_END,
};

static bool is_guid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (strlen(s) != sizeof shape - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		char c = s[i];
		bool hex =
		    (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (shape[i] == '-' ? c != '-' : !hex)
			return false;
	}
	return true;
}

/* A credential section that only restates the defaults means "the daemon's". */
/* https://host[/path], or http:// to a loopback host (the emulator); no query string. */
static bool endpoint_ok(const char *s)
{
	const char *h;

	if (!s || strpbrk(s, "?# \t\r\n"))
		return false;
	if (!strncmp(s, "https://", 8))
		return s[8] != '\0' && s[8] != '/';
	if (strncmp(s, "http://", 7))
		return false;
	h = s + 7;
	return !strncmp(h, "127.", 4) || !strncmp(h, "localhost", 9) || !strncmp(h, "[::1]", 5);
}

bool aw_la_own_credential(const struct aw_credential_conf *c)
{
	struct aw_credential_conf def;
	struct aw_error err;
	bool own;

	if (aw_options_defaults(aw_credential_options, &def, &err) != 0)
		return true;
	own = !aw_options_equal(aw_credential_options, c, &def);
	aw_options_free(aw_credential_options, &def);
	return own;
}

int aw_la_validate(const void *conf, const char *where, struct aw_error_list *errs)
{
	const struct aw_la_conf *c = conf;
	char why[128], sub[256];
	int rc = 0;

	if (!c->workspace_id || !is_guid(c->workspace_id))
		rc = aw_error_list_add(errs,
				       "%s.workspace_id: '%s' is not a workspace GUID "
				       "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
				       where, c->workspace_id ? c->workspace_id : "");
	if (!endpoint_ok(c->endpoint))
		rc = aw_error_list_add(
		    errs,
		    "%s.endpoint: '%s' is not an https:// URL (plain http only to a "
		    "loopback address, for the test emulator)",
		    where, c->endpoint ? c->endpoint : "");
	if (!c->scope || !*c->scope || strpbrk(c->scope, " \t\r\n"))
		rc = aw_error_list_add(errs,
				       "%s.scope: must be a token scope such as "
				       "https://api.loganalytics.io/.default",
				       where);
	if (c->query && c->tables.n)
		rc = aw_error_list_add(errs, "%s: set either tables or query, not both", where);
	if (c->query && aw_la_source_check(c->query, false, why, sizeof why) != 0)
		rc = aw_error_list_add(errs, "%s.query: %s", where, why);
	for (size_t i = 0; i < c->tables.n; i++)
		if (aw_la_source_check(c->tables.v[i], true, why, sizeof why) != 0)
			rc = aw_error_list_add(errs, "%s.tables[%zu]: %s", where, i, why);
	if (aw_la_own_credential(&c->credential)) {
		snprintf(sub, sizeof sub, "%s.credential", where);
		if (aw_credential_conf_check(&c->credential, sub, errs) != 0)
			rc = -1;
	}
	return rc;
}

char *aw_la_source(const struct aw_la_conf *c)
{
	if (c->query)
		return strdup(c->query);
	if (c->tables.n)
		return aw_la_tables_source(&c->tables);
	struct aw_strlist def = {.v = (char **)la_default_tables,
				 .n = sizeof la_default_tables / sizeof la_default_tables[0]};
	return aw_la_tables_source(&def);
}
