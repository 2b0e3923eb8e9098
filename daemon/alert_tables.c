/* The two tables that turn a rule and an event into alert columns (see alert_int.h):
 * Sigma tags to Sentinel's Tactics and Techniques, and each source table's columns to
 * typed Entities. What an alert carries of an event is decided here: a column the
 * entity table does not name (a token, a key) never becomes an entity. */
#include "alert_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AW_ALERT_MAX_PATH 3 /* segments of an entity column path */

/* --- tags: tactics and techniques ---------------------------------------------------- */

/* Tactic tags to the names Sentinel's Tactics column uses. `attack.<name>` accepts the
 * ATT&CK Enterprise tactics; `atlas.<name>` accepts those too (ATLAS reuses them, and an
 * alert tagged with both gets the tactic once) plus the two ATLAS-only tactics, for
 * which we coin Sentinel-style names. ATLAS renamed "ML" to "AI" in these two; both
 * spellings map to one name so alerts stay comparable across rule packs. Tags may use
 * '_' for '-' (older Sigma rules: attack.defense_evasion).
 *
 *   tag suffix              Tactics value          attack.  atlas.
 *   reconnaissance          Reconnaissance         yes      yes
 *   resource-development    ResourceDevelopment    yes      yes
 *   initial-access          InitialAccess          yes      yes
 *   execution               Execution              yes      yes
 *   persistence             Persistence            yes      yes
 *   privilege-escalation    PrivilegeEscalation    yes      yes
 *   defense-evasion         DefenseEvasion         yes      yes
 *   credential-access       CredentialAccess       yes      yes
 *   discovery               Discovery              yes      yes
 *   lateral-movement        LateralMovement        yes      yes
 *   collection              Collection             yes      yes
 *   command-and-control     CommandAndControl      yes      yes
 *   exfiltration            Exfiltration           yes      yes
 *   impact                  Impact                 yes      yes
 *   ml-model-access         MLModelAccess          no       yes  (also ai-model-access)
 *   ml-attack-staging       MLAttackStaging        no       yes  (also ai-attack-staging)
 *
 * Techniques: attack.tNNNN[.NNN] -> TNNNN[.NNN]; atlas.aml.tNNNN[.NNN] ->
 * AML.TNNNN[.NNN]. Every other tag (attack.g0016, attack.s0002, cve.*, car.*, ...) is
 * metadata and ignored. */
/* clang-format off */
static const struct {
	const char *tag;
	const char *tactic;
	bool attack;
} tactic_map[] = {
	{"reconnaissance", "Reconnaissance", true},
	{"resource-development", "ResourceDevelopment", true},
	{"initial-access", "InitialAccess", true},
	{"execution", "Execution", true},
	{"persistence", "Persistence", true},
	{"privilege-escalation", "PrivilegeEscalation", true},
	{"defense-evasion", "DefenseEvasion", true},
	{"credential-access", "CredentialAccess", true},
	{"discovery", "Discovery", true},
	{"lateral-movement", "LateralMovement", true},
	{"collection", "Collection", true},
	{"command-and-control", "CommandAndControl", true},
	{"exfiltration", "Exfiltration", true},
	{"impact", "Impact", true},
	{"ml-model-access", "MLModelAccess", false},
	{"ai-model-access", "MLModelAccess", false},
	{"ml-attack-staging", "MLAttackStaging", false},
	{"ai-attack-staging", "MLAttackStaging", false},
};
/* clang-format on */

static bool has_prefix_ci(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++)
		if (aw_alert_lower(*s) != *prefix)
			return false;
	return true;
}

static bool tactic_eq(const char *tag, const char *name)
{
	for (; *tag && *name; tag++, name++) {
		char c = aw_alert_lower(*tag);
		if ((c == '_' ? '-' : c) != *name)
			return false;
	}
	return *tag == '\0' && *name == '\0';
}

static const char *tag_tactic(const char *name, bool attack)
{
	for (size_t i = 0; i < sizeof tactic_map / sizeof tactic_map[0]; i++)
		if ((!attack || tactic_map[i].attack) && tactic_eq(name, tactic_map[i].tag))
			return tactic_map[i].tactic;
	return NULL;
}

static bool digits_at(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* s points after the 't' of a technique tag: NNNN or NNNN.NNN. Writes prefix + "T" +
 * the digits to out; false when s is not a technique number. */
static bool tag_technique(const char *s, const char *prefix, char *out, size_t sz)
{
	size_t len = strlen(s);

	if (!(len == 4 && digits_at(s, 4)) &&
	    !(len == 8 && digits_at(s, 4) && s[4] == '.' && digits_at(s + 5, 3)))
		return false;
	snprintf(out, sz, "%sT%s", prefix, s);
	return true;
}

static int add_unique(struct json_object *arr, const char *s)
{
	size_t n = json_object_array_length(arr);

	if (n >= AW_ALERT_MAX_TAG_IDS)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s) == 0)
			return 0;
	return aw_alert_push(arr, json_object_new_string(s));
}

int aw_alert_map_tags(const struct aw_alert_rule *r, struct json_object *tactics,
		      struct json_object *techniques)
{
	char id[32];

	for (size_t i = 0; i < r->ntags; i++) {
		const char *tag = r->tags[i], *tactic = NULL;
		bool technique = false;

		if (!tag)
			continue;
		if (has_prefix_ci(tag, "atlas.aml.t")) {
			technique = tag_technique(tag + 11, "AML.", id, sizeof id);
		} else if (has_prefix_ci(tag, "atlas.")) {
			tactic = tag_tactic(tag + 6, false);
		} else if (has_prefix_ci(tag, "attack.t") &&
			   tag_technique(tag + 8, "", id, sizeof id)) {
			technique = true;
		} else if (has_prefix_ci(tag, "attack.")) {
			tactic = tag_tactic(tag + 7, true);
		}
		if (technique && add_unique(techniques, id) < 0)
			return -1;
		if (tactic && add_unique(tactics, tactic) < 0)
			return -1;
	}
	return 0;
}

/* --- entities ---------------------------------------------------------------------- */

/* clang-format off */
static const char *const entity_type_name[] = {
	[AW_ENT_IP] = "ip",
	[AW_ENT_ACCOUNT] = "account",
	[AW_ENT_IDENTITY] = "identity",
	[AW_ENT_RESOURCE] = "resource",
	[AW_ENT_DEPLOYMENT] = "deployment",
	[AW_ENT_SECRET] = "secret",
	[AW_ENT_USER_AGENT] = "user_agent",
};
/* clang-format on */

struct aw_entity_src {
	const char *table;		     /* NULL: tables not listed below */
	const char *path[AW_ALERT_MAX_PATH]; /* column, then keys inside its JSON */
	enum aw_entity_type type;
};

/* The one table of where entities come from (log-schemas.md §1-§4). Order matters: the
 * alert lists entities in this order and the record key is the first identity or
 * account, so each table names who acted first. Claim keys that contain dots are one
 * path segment. Masked IPs ("203.0.113.***") are kept as they are. */
/* clang-format off */
static const struct aw_entity_src entity_map[] = {
	/* Azure OpenAI (Cognitive Services) and Key Vault in AzureDiagnostics */
	{"AzureDiagnostics", {"properties_s", "objectId"}, AW_ENT_IDENTITY},
	{"AzureDiagnostics", {"identity_claim_oid_g"}, AW_ENT_IDENTITY},
	{"AzureDiagnostics",
	 {"identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g"},
	 AW_ENT_IDENTITY},
	{"AzureDiagnostics", {"identity_claim_upn_s"}, AW_ENT_ACCOUNT},
	{"AzureDiagnostics",
	 {"identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s"},
	 AW_ENT_ACCOUNT},
	{"AzureDiagnostics", {"identity_claim_appid_g"}, AW_ENT_IDENTITY},
	{"AzureDiagnostics", {"CallerIPAddress"}, AW_ENT_IP},
	{"AzureDiagnostics", {"identity_claim_ipaddr_s"}, AW_ENT_IP},
	{"AzureDiagnostics", {"ResourceId"}, AW_ENT_RESOURCE},
	{"AzureDiagnostics", {"_ResourceId"}, AW_ENT_RESOURCE},
	{"AzureDiagnostics", {"properties_s", "modelDeploymentName"}, AW_ENT_DEPLOYMENT},
	{"AzureDiagnostics", {"id_s"}, AW_ENT_SECRET},
	{"AzureDiagnostics", {"requestUri_s"}, AW_ENT_SECRET},
	{"AzureDiagnostics", {"clientInfo_s"}, AW_ENT_USER_AGENT},
	/* Control plane. ResourceId is empty in real exports; _ResourceId is not. */
	{"AzureActivity", {"Caller"}, AW_ENT_ACCOUNT},
	{"AzureActivity",
	 {"Claims", "http://schemas.microsoft.com/identity/claims/objectidentifier"},
	 AW_ENT_IDENTITY},
	{"AzureActivity", {"Claims", "appid"}, AW_ENT_IDENTITY},
	{"AzureActivity", {"Authorization", "evidence", "principalId"}, AW_ENT_IDENTITY},
	{"AzureActivity", {"CallerIpAddress"}, AW_ENT_IP},
	{"AzureActivity", {"Claims", "ipaddr"}, AW_ENT_IP},
	{"AzureActivity", {"HTTPRequest", "clientIpAddress"}, AW_ENT_IP},
	{"AzureActivity", {"_ResourceId"}, AW_ENT_RESOURCE},
	{"AzureActivity", {"ResourceId"}, AW_ENT_RESOURCE},
	/* Key Vault, resource-specific table */
	{"AZKVAuditLogs", {"Identity", "claim", "oid"}, AW_ENT_IDENTITY},
	{"AZKVAuditLogs", {"Identity", "claim", "upn"}, AW_ENT_ACCOUNT},
	{"AZKVAuditLogs", {"Identity", "claim", "appid"}, AW_ENT_IDENTITY},
	{"AZKVAuditLogs", {"CallerIpAddress"}, AW_ENT_IP},
	{"AZKVAuditLogs", {"Identity", "claim", "ipaddr"}, AW_ENT_IP},
	{"AZKVAuditLogs", {"_ResourceId"}, AW_ENT_RESOURCE},
	{"AZKVAuditLogs", {"Id"}, AW_ENT_SECRET},
	{"AZKVAuditLogs", {"RequestUri"}, AW_ENT_SECRET},
	{"AZKVAuditLogs", {"ClientInfo"}, AW_ENT_USER_AGENT},
	/* AML online endpoints: no client IP column exists */
	{"AmlOnlineEndpointTrafficLog", {"IdentityData"}, AW_ENT_IDENTITY},
	{"AmlOnlineEndpointTrafficLog", {"_ResourceId"}, AW_ENT_RESOURCE},
	{"AmlOnlineEndpointTrafficLog", {"DeploymentName"}, AW_ENT_DEPLOYMENT},
	{"AmlOnlineEndpointTrafficLog", {"UserAgent"}, AW_ENT_USER_AGENT},
	/* Defender */
	{"SecurityAlert", {"Entities"}, AW_ENT_DEFENDER},
	{"SecurityAlert", {"CompromisedEntity"}, AW_ENT_RESOURCE},
	{"SecurityAlert", {"ResourceId"}, AW_ENT_RESOURCE},
	{"SecurityRecommendation", {"AssessedResourceId"}, AW_ENT_RESOURCE},
	{"SecurityRecommendation", {"ResourceId"}, AW_ENT_RESOURCE},
	{"AIWatchPosture", {"ResourceId"}, AW_ENT_RESOURCE},
	{"AIWatchPosture", {"_ResourceId"}, AW_ENT_RESOURCE},
	/* Any other table (the lookup also finds CallerIPAddress: case-insensitive) */
	{NULL, {"CallerIpAddress"}, AW_ENT_IP},
	{NULL, {"ResourceId"}, AW_ENT_RESOURCE},
	{NULL, {"_ResourceId"}, AW_ENT_RESOURCE},
};
/* clang-format on */

void aw_alert_entities_free(struct aw_entities *es)
{
	for (size_t i = 0; i < es->n; i++)
		free(es->e[i].value);
	es->n = 0;
}

/* Add one value unless empty, already present or over the bound. Azure ids, GUIDs,
 * UPNs and vault URLs compare case-insensitively, so de-duplication does too: one
 * resource seen as ResourceId (upper case) and _ResourceId (lower case) is one entity. */
static void entity_add(struct aw_entities *es, enum aw_entity_type type, const char *s, size_t len,
		       const struct aw_entity_src *src)
{
	bool cut = len > AW_ALERT_MAX_ENTITY_BYTES;
	size_t keep = cut ? AW_ALERT_MAX_ENTITY_BYTES : len;
	char *v;

	if (len == 0 || es->n >= AW_ALERT_MAX_ENTITIES || es->oom)
		return;
	v = malloc(keep + sizeof AW_ALERT_ELLIPSIS);
	if (!v) {
		es->oom = true;
		return;
	}
	if (cut) {
		keep = aw_alert_cut(v, s, keep);
	} else {
		memcpy(v, s, keep);
		v[keep] = '\0';
	}
	for (size_t i = 0; i < es->n; i++)
		if (es->e[i].type == type &&
		    aw_alert_caseeq(es->e[i].value, es->e[i].len, v, keep)) {
			free(v);
			return;
		}
	es->e[es->n++] = (struct aw_entity){.type = type, .value = v, .len = keep, .src = src};
}

/* A string member, the key matched case-insensitively: the Log Analytics form writes
 * "Type"/"Address", the ARM form "type"/"address". */
static const char *jstr(struct json_object *o, const char *key, size_t *len)
{
	size_t kl = strlen(key);

	if (!json_object_is_type(o, json_type_object))
		return NULL;
	json_object_object_foreach(o, k, v)
	{
		if (json_object_is_type(v, json_type_string) &&
		    aw_alert_caseeq(k, strlen(k), key, kl)) {
			*len = (size_t)json_object_get_string_len(v);
			return json_object_get_string(v);
		}
	}
	return NULL;
}

/* Defender's Entities: [{"$id":"2","Type":"ip","Address":...}, {"Type":"account",
 * "Name":..., "AadUserId":...}, {"Type":"azure-resource","ResourceId":...}, ...]. Other
 * entity types (host, file, process, ...) have no place in our schema. */
static void entities_from_defender(struct aw_entities *es, const char *text, size_t len,
				   const struct aw_entity_src *src)
{
	static const struct {
		const char *type;
		const char *key;
		enum aw_entity_type ent;
	} keys[] = {
	    {"ip", "Address", AW_ENT_IP},
	    {"account", "Name", AW_ENT_ACCOUNT},
	    {"account", "AadUserId", AW_ENT_IDENTITY},
	    {"azure-resource", "ResourceId", AW_ENT_RESOURCE},
	};
	struct json_tokener *tok = json_tokener_new_ex(AW_ALERT_SAMPLE_DEPTH);
	struct json_object *arr = NULL;

	if (!tok || len > (size_t)INT32_MAX) {
		es->oom = es->oom || !tok;
		goto out;
	}
	arr = json_tokener_parse_ex(tok, text, (int)len);
	if (!arr || !json_object_is_type(arr, json_type_array))
		goto out;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *el = json_object_array_get_idx(arr, i);
		size_t tl, vl;
		const char *type = el ? jstr(el, "Type", &tl) : NULL;

		if (!type)
			continue;
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			const char *v;
			if (!aw_alert_caseeq(type, tl, keys[k].type, strlen(keys[k].type)))
				continue;
			v = jstr(el, keys[k].key, &vl);
			if (v)
				entity_add(es, keys[k].ent, v, vl, src);
		}
	}
out:
	json_object_put(arr);
	if (tok)
		json_tokener_free(tok);
}

struct collect {
	struct aw_entities *es;
	const struct aw_entity_src *src;
};

static int collect_value(void *ud, const struct aw_val *v)
{
	struct collect *c = ud;

	if (c->src->type == AW_ENT_DEFENDER) {
		/* A JSON-text column (string) or, in the ARM form, the array itself. */
		if (v->kind != AW_VAL_STRING && v->kind != AW_VAL_ARRAY)
			return 0;
		entities_from_defender(c->es, v->s, v->len, c->src);
		return 1;
	}
	if (v->kind == AW_VAL_STRING)
		entity_add(c->es, c->src->type, v->s, v->len, c->src);
	return c->es->n >= AW_ALERT_MAX_ENTITIES || c->es->oom;
}

/* A field reference over a static path: the view only reads it. */
static void path_ref(const struct aw_entity_src *src, char *name, size_t namesz, char **seg,
		     struct aw_field_ref *f)
{
	size_t n = 0, off = 0;

	name[0] = '\0';
	for (; n < AW_ALERT_MAX_PATH && src->path[n]; n++) {
		seg[n] = (char *)src->path[n];
		int w = snprintf(name + off, namesz - off, "%s%s", n ? "." : "", src->path[n]);
		if (w > 0)
			off = off + (size_t)w < namesz ? off + (size_t)w : namesz - 1;
	}
	*f = (struct aw_field_ref){.name = name, .len = strlen(name), .seg = seg, .nseg = n};
}

const char *aw_alert_entity_type(const struct aw_entity *e)
{
	return entity_type_name[e->type];
}

void aw_alert_entity_field(const struct aw_entity *e, char *name, size_t sz)
{
	char *seg[AW_ALERT_MAX_PATH];
	struct aw_field_ref f;

	path_ref(e->src, name, sz, seg, &f);
}

static bool table_listed(const char *table)
{
	for (size_t i = 0; i < sizeof entity_map / sizeof entity_map[0]; i++)
		if (entity_map[i].table && strcmp(entity_map[i].table, table) == 0)
			return true;
	return false;
}

void aw_alert_collect_entities(struct aw_event_view *ev, const char *table, struct aw_entities *es)
{
	bool listed = table_listed(table);

	for (size_t i = 0; i < sizeof entity_map / sizeof entity_map[0]; i++) {
		const struct aw_entity_src *src = &entity_map[i];
		char name[256], *seg[AW_ALERT_MAX_PATH];
		struct aw_field_ref f;
		struct collect c = {.es = es, .src = src};

		if (listed ? !src->table || strcmp(src->table, table) != 0 : src->table != NULL)
			continue;
		if (es->n >= AW_ALERT_MAX_ENTITIES || es->oom)
			break;
		path_ref(src, name, sizeof name, seg, &f);
		aw_event_view_get(ev, &f, collect_value, &c, NULL);
	}
}
