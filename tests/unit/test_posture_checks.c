/* The posture check table and its compliance mapping: every check evaluated both ways
 * and with its property absent (the documented service default), wrong JSON types,
 * case-insensitive types and values, UNKNOWN when a separate read failed, checks that
 * apply only to one computeType or pricing name, and a mapping with at least one
 * titled control per framework for every check. Table-driven: one row per case. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture.h"
#include "testutil.h"

#define ACCOUNT	   "\"type\":\"Microsoft.CognitiveServices/accounts\",\"name\":\"oai\""
#define DEPLOYMENT "\"type\":\"Microsoft.CognitiveServices/accounts/deployments\",\"name\":\"gpt\""
#define WORKSPACE  "\"type\":\"Microsoft.MachineLearningServices/workspaces\",\"name\":\"ws\""
#define COMPUTE	   "\"type\":\"Microsoft.MachineLearningServices/workspaces/computes\",\"name\":\"c\""
#define CI	   COMPUTE ",\"properties\":{\"computeType\":\"ComputeInstance\""
#define AML	   COMPUTE ",\"properties\":{\"computeType\":\"AmlCompute\""
#define VAULT	   "\"type\":\"Microsoft.KeyVault/vaults\",\"name\":\"kv\""
#define SECRET	   "\"type\":\"Microsoft.KeyVault/vaults/secrets\",\"name\":\"s\""
#define PRICING	   "\"type\":\"Microsoft.Security/pricings\",\"name\":\"AI\""
#define DIAG_OK                                                                                    \
	"\"_aiwatch\":{\"diagnosticSettings\":[{\"name\":\"to-la\",\"properties\":{"               \
	"\"workspaceId\":\"/subscriptions/s/resourceGroups/r/providers/"                           \
	"Microsoft.OperationalInsights/workspaces/la\",\"logs\":[{\"categoryGroup\":"              \
	"\"allLogs\",\"enabled\":true}]}}]}"
#define DIAG_STORAGE                                                                               \
	"\"_aiwatch\":{\"diagnosticSettings\":[{\"name\":\"to-sa\",\"properties\":{"               \
	"\"storageAccountId\":\"/sa\",\"logs\":[{\"category\":\"Audit\",\"enabled\":true}]}}]}"
#define DIAG_DISABLED                                                                              \
	"\"_aiwatch\":{\"diagnosticSettings\":[{\"name\":\"off\",\"properties\":{"                 \
	"\"workspaceId\":\"/ws\",\"logs\":[{\"category\":\"Audit\",\"enabled\":false}],"           \
	"\"metrics\":[{\"category\":\"AllMetrics\",\"enabled\":true}]}}]}"
#define DIAG_403 "\"_aiwatch\":{\"error\":\"diagnostic settings: HTTP 403 AuthorizationFailed\"}"

enum want { PASS = AW_POSTURE_PASS, FAIL = AW_POSTURE_FAIL, UNKNOWN = AW_POSTURE_UNKNOWN };

struct check_case {
	const char *check;
	const char *resource; /* the inside of a JSON object */
	enum want status;
	int absent;
	const char *actual; /* the whole Actual text */
};

/* clang-format off */
static const struct check_case cases[] = {
	/* AIW-CS-001 publicNetworkAccess */
	{"AIW-CS-001", ACCOUNT ",\"properties\":{\"publicNetworkAccess\":\"Disabled\"}", PASS, 0, "Disabled"},
	{"AIW-CS-001", ACCOUNT ",\"properties\":{\"publicNetworkAccess\":\"disabled\"}", PASS, 0, "disabled"},
	{"AIW-CS-001", ACCOUNT ",\"properties\":{\"publicNetworkAccess\":\"Enabled\"}", FAIL, 0, "Enabled"},
	{"AIW-CS-001", ACCOUNT ",\"properties\":{}", FAIL, 1, "absent (default: Enabled)"},
	{"AIW-CS-001", ACCOUNT, FAIL, 1, "absent (default: Enabled)"},
	{"AIW-CS-001", ACCOUNT ",\"properties\":{\"publicNetworkAccess\":null}", FAIL, 1, "absent (default: Enabled)"},
	{"AIW-CS-001", ACCOUNT ",\"properties\":{\"publicNetworkAccess\":false}", FAIL, 0,
	 "wrong type: properties.publicNetworkAccess is a boolean (false), expected a string"},
	{"AIW-CS-001", ACCOUNT ",\"properties\":{\"publicNetworkAccess\":\"\"}", FAIL, 0, "\"\" (empty)"},
	{"AIW-CS-001", ACCOUNT ",\"properties\":\"Disabled\"", FAIL, 0,
	 "wrong type: properties is a string (\"Disabled\"), expected an object"},
	/* AIW-CS-002 networkAcls.defaultAction */
	{"AIW-CS-002", ACCOUNT ",\"properties\":{\"networkAcls\":{\"defaultAction\":\"Deny\"}}", PASS, 0, "Deny"},
	{"AIW-CS-002", ACCOUNT ",\"properties\":{\"networkAcls\":{\"defaultAction\":\"Allow\"}}", FAIL, 0, "Allow"},
	{"AIW-CS-002", ACCOUNT ",\"properties\":{\"networkAcls\":{}}", FAIL, 1, "absent (default: Allow)"},
	{"AIW-CS-002", ACCOUNT ",\"properties\":{}", FAIL, 1, "absent (default: Allow)"},
	{"AIW-CS-002", ACCOUNT ",\"properties\":{\"networkAcls\":[\"Deny\"]}", FAIL, 0,
	 "wrong type: properties.networkAcls is an array ([\"Deny\"]), expected an object"},
	/* AIW-CS-003 networkAcls.ipRules */
	{"AIW-CS-003", ACCOUNT ",\"properties\":{\"networkAcls\":{\"ipRules\":[{\"value\":\"203.0.113.0/24\"},{\"value\":\"198.51.100.7\"}]}}",
	 PASS, 0, "2 rules, none open to every address"},
	{"AIW-CS-003", ACCOUNT ",\"properties\":{\"networkAcls\":{\"ipRules\":[]}}", PASS, 0, "no rules"},
	{"AIW-CS-003", ACCOUNT ",\"properties\":{\"networkAcls\":{\"ipRules\":[{\"value\":\"203.0.113.0/24\"},{\"value\":\"0.0.0.0/0\"}]}}",
	 FAIL, 0, "open to every address: 0.0.0.0/0"},
	{"AIW-CS-003", ACCOUNT ",\"properties\":{\"networkAcls\":{\"ipRules\":[{\"value\":\"::/0\"},{\"value\":\"0.0.0.0\"}]}}",
	 FAIL, 0, "open to every address: ::/0 (and more)"},
	{"AIW-CS-003", ACCOUNT ",\"properties\":{\"networkAcls\":{\"ipRules\":[{\"value\":\"0.0.0.0\"}]}}", FAIL, 0,
	 "open to every address: 0.0.0.0"},
	{"AIW-CS-003", ACCOUNT ",\"properties\":{\"networkAcls\":{\"defaultAction\":\"Deny\"}}", PASS, 1,
	 "absent (default: no rules)"},
	{"AIW-CS-003", ACCOUNT ",\"properties\":{\"networkAcls\":{\"ipRules\":{\"value\":\"0.0.0.0/0\"}}}", FAIL, 0,
	 "wrong type: properties.networkAcls.ipRules is an object ({\"value\":\"0.0.0.0/0\"}), expected an array of rules"},
	{"AIW-CS-003", ACCOUNT ",\"properties\":{\"networkAcls\":{\"ipRules\":[{\"value\":\"10.0.0.0/8\"},7]}}", FAIL, 0,
	 "wrong type: ipRules[1] is a number (7), expected {\"value\": \"address or range\"}"},
	/* AIW-CS-004 disableLocalAuth */
	{"AIW-CS-004", ACCOUNT ",\"properties\":{\"disableLocalAuth\":true}", PASS, 0, "true"},
	{"AIW-CS-004", ACCOUNT ",\"properties\":{\"disableLocalAuth\":false}", FAIL, 0, "false"},
	{"AIW-CS-004", ACCOUNT ",\"properties\":{}", FAIL, 1, "absent (default: false)"},
	{"AIW-CS-004", ACCOUNT ",\"properties\":{\"disableLocalAuth\":\"true\"}", FAIL, 0,
	 "wrong type: properties.disableLocalAuth is a string (\"true\"), expected a boolean"},
	/* AIW-CS-005 privateEndpointConnections */
	{"AIW-CS-005", ACCOUNT ",\"properties\":{\"privateEndpointConnections\":[{\"properties\":{\"privateLinkServiceConnectionState\":{\"status\":\"Pending\"}}},"
			       "{\"properties\":{\"privateLinkServiceConnectionState\":{\"status\":\"Approved\"}}}]}",
	 PASS, 0, "1 of 2 connections Approved"},
	{"AIW-CS-005", ACCOUNT ",\"properties\":{\"privateEndpointConnections\":[{\"properties\":{\"privateLinkServiceConnectionState\":{\"status\":\"Rejected\"}}}]}",
	 FAIL, 0, "none Approved of 1 connection (Rejected)"},
	{"AIW-CS-005", ACCOUNT ",\"properties\":{\"privateEndpointConnections\":[]}", FAIL, 0, "no connections"},
	{"AIW-CS-005", ACCOUNT ",\"properties\":{}", FAIL, 1, "absent (default: none)"},
	{"AIW-CS-005", ACCOUNT ",\"properties\":{\"privateEndpointConnections\":\"Approved\"}", FAIL, 0,
	 "wrong type: properties.privateEndpointConnections is a string (\"Approved\"), expected an array of connections"},
	/* AIW-CS-006 identity.type */
	{"AIW-CS-006", ACCOUNT ",\"identity\":{\"type\":\"SystemAssigned\"}", PASS, 0, "SystemAssigned"},
	{"AIW-CS-006", ACCOUNT ",\"identity\":{\"type\":\"SystemAssigned, UserAssigned\"}", PASS, 0, "SystemAssigned, UserAssigned"},
	{"AIW-CS-006", ACCOUNT ",\"identity\":{\"type\":\"userassigned\"}", PASS, 0, "userassigned"},
	{"AIW-CS-006", ACCOUNT ",\"identity\":{\"type\":\"None\"}", FAIL, 0, "None"},
	{"AIW-CS-006", ACCOUNT ",\"properties\":{}", FAIL, 1, "absent (default: None)"},
	{"AIW-CS-006", ACCOUNT ",\"identity\":null", FAIL, 1, "absent (default: None)"},
	{"AIW-CS-006", ACCOUNT ",\"identity\":{\"type\":1}", FAIL, 0,
	 "wrong type: identity.type is a number (1), expected a string"},
	/* AIW-CS-007 restrictOutboundNetworkAccess */
	{"AIW-CS-007", ACCOUNT ",\"properties\":{\"restrictOutboundNetworkAccess\":true}", PASS, 0, "true"},
	{"AIW-CS-007", ACCOUNT ",\"properties\":{\"restrictOutboundNetworkAccess\":false}", FAIL, 0, "false"},
	{"AIW-CS-007", ACCOUNT ",\"properties\":{}", FAIL, 1, "absent (default: false)"},
	/* AIW-CS-008 diagnostic settings */
	{"AIW-CS-008", ACCOUNT "," DIAG_OK, PASS, 0, "setting 'to-la' sends logs to a workspace"},
	{"AIW-CS-008", ACCOUNT "," DIAG_STORAGE, FAIL, 0, "1 setting, none sending enabled logs to a workspace"},
	{"AIW-CS-008", ACCOUNT "," DIAG_DISABLED, FAIL, 0, "1 setting, none sending enabled logs to a workspace"},
	{"AIW-CS-008", ACCOUNT ",\"_aiwatch\":{\"diagnosticSettings\":[]}", FAIL, 0, "no diagnostic settings"},
	{"AIW-CS-008", ACCOUNT ",\"properties\":{}", FAIL, 1, "absent (default: none)"},
	{"AIW-CS-008", ACCOUNT "," DIAG_403, UNKNOWN, 1,
	 "could not be read: diagnostic settings: HTTP 403 AuthorizationFailed"},
	{"AIW-CS-008", ACCOUNT ",\"_aiwatch\":{\"diagnosticSettings\":{}}", FAIL, 0,
	 "wrong type: diagnosticSettings is an object ({}), expected an array of settings"},
	/* AIW-CS-101 raiPolicyName on deployments */
	{"AIW-CS-101", DEPLOYMENT ",\"properties\":{\"raiPolicyName\":\"Microsoft.DefaultV2\"}", PASS, 0, "Microsoft.DefaultV2"},
	{"AIW-CS-101", DEPLOYMENT ",\"properties\":{\"raiPolicyName\":\" \"}", FAIL, 0, "\" \" (empty)"},
	{"AIW-CS-101", DEPLOYMENT ",\"properties\":{\"model\":{\"name\":\"gpt-4o\"}}", FAIL, 1, "absent (default: none)"},
	/* AIW-ML-001 workspace publicNetworkAccess */
	{"AIW-ML-001", WORKSPACE ",\"properties\":{\"publicNetworkAccess\":\"Disabled\"}", PASS, 0, "Disabled"},
	{"AIW-ML-001", WORKSPACE ",\"properties\":{\"publicNetworkAccess\":\"Enabled\"}", FAIL, 0, "Enabled"},
	{"AIW-ML-001", WORKSPACE ",\"properties\":{}", FAIL, 1, "absent (default: Enabled)"},
	/* AIW-ML-002 managedNetwork.isolationMode */
	{"AIW-ML-002", WORKSPACE ",\"properties\":{\"managedNetwork\":{\"isolationMode\":\"AllowOnlyApprovedOutbound\"}}", PASS, 0,
	 "AllowOnlyApprovedOutbound"},
	{"AIW-ML-002", WORKSPACE ",\"properties\":{\"managedNetwork\":{\"isolationMode\":\"allowinternetoutbound\"}}", PASS, 0,
	 "allowinternetoutbound"},
	{"AIW-ML-002", WORKSPACE ",\"properties\":{\"managedNetwork\":{\"isolationMode\":\"Disabled\"}}", FAIL, 0, "Disabled"},
	{"AIW-ML-002", WORKSPACE ",\"properties\":{}", FAIL, 1, "absent (default: Disabled)"},
	/* AIW-ML-003 workspace diagnostic settings */
	{"AIW-ML-003", WORKSPACE "," DIAG_OK, PASS, 0, "setting 'to-la' sends logs to a workspace"},
	{"AIW-ML-003", WORKSPACE "," DIAG_DISABLED, FAIL, 0, "1 setting, none sending enabled logs to a workspace"},
	{"AIW-ML-003", WORKSPACE, FAIL, 1, "absent (default: none)"},
	/* AIW-ML-101 enableNodePublicIp, any compute */
	{"AIW-ML-101", AML ",\"properties\":{\"enableNodePublicIp\":false}}", PASS, 0, "false"},
	{"AIW-ML-101", CI ",\"properties\":{\"enableNodePublicIp\":true}}", FAIL, 0, "true"},
	{"AIW-ML-101", CI "}", FAIL, 1, "absent (default: true)"},
	/* AIW-ML-102 sshPublicAccess, compute instances */
	{"AIW-ML-102", CI ",\"properties\":{\"sshSettings\":{\"sshPublicAccess\":\"Disabled\"}}}", PASS, 0, "Disabled"},
	{"AIW-ML-102", CI ",\"properties\":{\"sshSettings\":{\"sshPublicAccess\":\"Enabled\"}}}", FAIL, 0, "Enabled"},
	{"AIW-ML-102", CI ",\"properties\":{}}", PASS, 1, "absent (default: Disabled)"},
	/* AIW-ML-103 idleTimeBeforeShutdown, compute instances */
	{"AIW-ML-103", CI ",\"properties\":{\"idleTimeBeforeShutdown\":\"PT30M\"}}", PASS, 0, "PT30M"},
	{"AIW-ML-103", CI ",\"properties\":{\"idleTimeBeforeShutdown\":\"P1DT2H0.5S\"}}", PASS, 0, "P1DT2H0.5S"},
	{"AIW-ML-103", CI ",\"properties\":{\"idleTimeBeforeShutdown\":\"30 minutes\"}}", FAIL, 0,
	 "\"30 minutes\" is not an ISO 8601 duration"},
	{"AIW-ML-103", CI ",\"properties\":{\"idleTimeBeforeShutdown\":\"PT\"}}", FAIL, 0, "\"PT\" is not an ISO 8601 duration"},
	{"AIW-ML-103", CI ",\"properties\":{\"idleTimeBeforeShutdown\":30}}", FAIL, 0,
	 "wrong type: properties.properties.idleTimeBeforeShutdown is a number (30), expected an ISO 8601 duration string"},
	{"AIW-ML-103", CI "}", FAIL, 1, "absent (default: no auto-shutdown)"},
	/* AIW-ML-104 compute disableLocalAuth (outer properties) */
	{"AIW-ML-104", AML ",\"disableLocalAuth\":true}", PASS, 0, "true"},
	{"AIW-ML-104", CI ",\"disableLocalAuth\":false}", FAIL, 0, "false"},
	{"AIW-ML-104", CI ",\"properties\":{\"disableLocalAuth\":true}}", FAIL, 1, "absent (default: false)"},
	/* AIW-ML-105 remoteLoginPortPublicAccess, clusters */
	{"AIW-ML-105", AML ",\"properties\":{\"remoteLoginPortPublicAccess\":\"Disabled\"}}", PASS, 0, "Disabled"},
	{"AIW-ML-105", AML ",\"properties\":{\"remoteLoginPortPublicAccess\":\"Enabled\"}}", FAIL, 0, "Enabled"},
	{"AIW-ML-105", AML ",\"properties\":{\"remoteLoginPortPublicAccess\":\"NotSpecified\"}}", FAIL, 0, "NotSpecified"},
	{"AIW-ML-105", AML "}", FAIL, 1, "absent (default: NotSpecified (Enabled))"},
	/* AIW-KV-001 enablePurgeProtection */
	{"AIW-KV-001", VAULT ",\"properties\":{\"enablePurgeProtection\":true}", PASS, 0, "true"},
	{"AIW-KV-001", VAULT ",\"properties\":{\"enablePurgeProtection\":false}", FAIL, 0, "false"},
	{"AIW-KV-001", VAULT ",\"properties\":{}", FAIL, 1, "absent (default: false)"},
	/* AIW-KV-002 enableRbacAuthorization */
	{"AIW-KV-002", VAULT ",\"properties\":{\"enableRbacAuthorization\":true}", PASS, 0, "true"},
	{"AIW-KV-002", VAULT ",\"properties\":{\"enableRbacAuthorization\":false}", FAIL, 0, "false"},
	{"AIW-KV-002", VAULT ",\"properties\":{}", FAIL, 1, "absent (default: false)"},
	/* AIW-KV-003 publicNetworkAccess */
	{"AIW-KV-003", VAULT ",\"properties\":{\"publicNetworkAccess\":\"DISABLED\"}", PASS, 0, "DISABLED"},
	{"AIW-KV-003", VAULT ",\"properties\":{\"publicNetworkAccess\":\"Enabled\"}", FAIL, 0, "Enabled"},
	{"AIW-KV-003", VAULT ",\"properties\":{}", FAIL, 1, "absent (default: Enabled)"},
	/* AIW-KV-004 enableSoftDelete (absent: the default is on) */
	{"AIW-KV-004", VAULT ",\"properties\":{\"enableSoftDelete\":true}", PASS, 0, "true"},
	{"AIW-KV-004", VAULT ",\"properties\":{\"enableSoftDelete\":false}", FAIL, 0, "false"},
	{"AIW-KV-004", VAULT ",\"properties\":{}", PASS, 1, "absent (default: true)"},
	/* AIW-KV-005 vault diagnostic settings */
	{"AIW-KV-005", VAULT "," DIAG_OK, PASS, 0, "setting 'to-la' sends logs to a workspace"},
	{"AIW-KV-005", VAULT "," DIAG_STORAGE, FAIL, 0, "1 setting, none sending enabled logs to a workspace"},
	{"AIW-KV-005", VAULT ",\"properties\":{}", FAIL, 1, "absent (default: none)"},
	{"AIW-KV-005", VAULT "," DIAG_403, UNKNOWN, 1, "could not be read: diagnostic settings: HTTP 403 AuthorizationFailed"},
	/* AIW-KV-101 secret expiry */
	{"AIW-KV-101", SECRET ",\"properties\":{\"attributes\":{\"enabled\":true,\"exp\":1798761600}}", PASS, 0,
	 "expires 2027-01-01T00:00:00Z"},
	{"AIW-KV-101", SECRET ",\"properties\":{\"attributes\":{\"enabled\":true}}", FAIL, 1, "absent (default: never expires)"},
	{"AIW-KV-101", SECRET ",\"properties\":{\"attributes\":{\"exp\":\"2027-01-01\"}}", FAIL, 0,
	 "wrong type: properties.attributes.exp is a string (\"2027-01-01\"), expected a date in epoch seconds"},
	{"AIW-KV-101", SECRET ",\"properties\":{\"attributes\":{\"exp\":-5}}", FAIL, 0, "-5 is not a date in epoch seconds"},
	/* AIW-DEF-001 Defender for AI pricing */
	{"AIW-DEF-001", PRICING ",\"properties\":{\"pricingTier\":\"Standard\"}", PASS, 0, "Standard"},
	{"AIW-DEF-001", PRICING ",\"properties\":{\"pricingTier\":\"Free\"}", FAIL, 0, "Free"},
	{"AIW-DEF-001", PRICING ",\"properties\":{}", FAIL, 1, "absent (default: Free)"},
	{"AIW-DEF-001", PRICING ",\"properties\":{},\"_aiwatch\":{\"error\":\"pricing: HTTP 403\"}", UNKNOWN, 1,
	 "could not be read: pricing: HTTP 403"},
	{"AIW-DEF-001", "\"type\":\"microsoft.security/pricings\",\"name\":\"ai\",\"properties\":{\"pricingTier\":\"standard\"}", PASS, 0,
	 "standard"},
};
/* clang-format on */

#define NCASES (sizeof cases / sizeof cases[0])

struct collected {
	struct aw_posture_result r[64];
	size_t n;
};

static void collect(void *ud, const struct aw_posture_result *r)
{
	struct collected *c = ud;

	ck_assert_uint_lt(c->n, 64);
	c->r[c->n++] = *r;
}

static json_object *parse_resource(const char *inside)
{
	char buf[4096];
	json_object *o;

	ck_assert_int_lt(snprintf(buf, sizeof buf, "{%s}", inside), (int)sizeof buf);
	o = json_tokener_parse(buf);
	ck_assert_msg(o != NULL, "test resource is not JSON: %s", buf);
	return o;
}

static const struct aw_posture_result *find(const struct collected *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(aw_posture_check_id(c->r[i].check), id) == 0)
			return &c->r[i];
	return NULL;
}

START_TEST(each_case)
{
	const struct check_case *k = &cases[_i];
	json_object *res = parse_resource(k->resource);
	struct collected got = {0};
	const struct aw_posture_result *r;

	aw_posture_evaluate(res, collect, &got);
	r = find(&got, k->check);
	ck_assert_msg(r != NULL, "case %d: %s did not apply to {%s}", _i, k->check, k->resource);
	ck_assert_msg((int)r->status == (int)k->status,
		      "case %d: %s status %d, want %d (actual \"%s\")", _i, k->check, r->status,
		      k->status, r->actual);
	ck_assert_msg(r->absent == (k->absent != 0), "case %d: %s absent %d", _i, k->check,
		      r->absent);
	ck_assert_str_eq(r->actual, k->actual);
	ck_assert_ptr_eq(r->resource, res);
	json_object_put(res);
}
END_TEST

/* Every check of the table appears in the cases with all three outcomes that its
 * default allows: passing, failing and absent. */
START_TEST(every_check_covered_both_ways)
{
	for (size_t i = 0; i < aw_posture_check_count(); i++) {
		const char *id = aw_posture_check_id(aw_posture_check_at(i));
		int pass = 0, fail = 0, absent = 0;

		for (size_t j = 0; j < NCASES; j++) {
			if (strcmp(cases[j].check, id) != 0)
				continue;
			pass += cases[j].status == PASS;
			fail += cases[j].status == FAIL;
			absent += cases[j].absent && cases[j].status != UNKNOWN;
		}
		ck_assert_msg(pass && fail && absent, "%s: %d passing, %d failing, %d absent cases",
			      id, pass, fail, absent);
	}
}
END_TEST

/* The table is the spec's: ids, types, paths, severities, and what absent means. */
/* clang-format off */
static const struct {
	const char *id, *type, *path, *severity, *dflt;
} spec[] = {
	{"AIW-CS-001", "Microsoft.CognitiveServices/accounts", "properties.publicNetworkAccess", "High", "Enabled"},
	{"AIW-CS-002", "Microsoft.CognitiveServices/accounts", "properties.networkAcls.defaultAction", "High", "Allow"},
	{"AIW-CS-003", "Microsoft.CognitiveServices/accounts", "properties.networkAcls.ipRules", "High", "no rules"},
	{"AIW-CS-004", "Microsoft.CognitiveServices/accounts", "properties.disableLocalAuth", "High", "false"},
	{"AIW-CS-005", "Microsoft.CognitiveServices/accounts", "properties.privateEndpointConnections", "Medium", "none"},
	{"AIW-CS-006", "Microsoft.CognitiveServices/accounts", "identity.type", "Medium", "None"},
	{"AIW-CS-007", "Microsoft.CognitiveServices/accounts", "properties.restrictOutboundNetworkAccess", "Low", "false"},
	{"AIW-CS-008", "Microsoft.CognitiveServices/accounts", "_aiwatch.diagnosticSettings", "Medium", "none"},
	{"AIW-CS-101", "Microsoft.CognitiveServices/accounts/deployments", "properties.raiPolicyName", "Medium", "none"},
	{"AIW-ML-001", "Microsoft.MachineLearningServices/workspaces", "properties.publicNetworkAccess", "High", "Enabled"},
	{"AIW-ML-002", "Microsoft.MachineLearningServices/workspaces", "properties.managedNetwork.isolationMode", "Medium", "Disabled"},
	{"AIW-ML-003", "Microsoft.MachineLearningServices/workspaces", "_aiwatch.diagnosticSettings", "Medium", "none"},
	{"AIW-ML-101", "Microsoft.MachineLearningServices/workspaces/computes", "properties.properties.enableNodePublicIp", "High", "true"},
	{"AIW-ML-102", "Microsoft.MachineLearningServices/workspaces/computes", "properties.properties.sshSettings.sshPublicAccess", "Medium", "Disabled"},
	{"AIW-ML-103", "Microsoft.MachineLearningServices/workspaces/computes", "properties.properties.idleTimeBeforeShutdown", "Low", "no auto-shutdown"},
	{"AIW-ML-104", "Microsoft.MachineLearningServices/workspaces/computes", "properties.disableLocalAuth", "Medium", "false"},
	{"AIW-ML-105", "Microsoft.MachineLearningServices/workspaces/computes", "properties.properties.remoteLoginPortPublicAccess", "High", "NotSpecified (Enabled)"},
	{"AIW-KV-001", "Microsoft.KeyVault/vaults", "properties.enablePurgeProtection", "High", "false"},
	{"AIW-KV-002", "Microsoft.KeyVault/vaults", "properties.enableRbacAuthorization", "Medium", "false"},
	{"AIW-KV-003", "Microsoft.KeyVault/vaults", "properties.publicNetworkAccess", "High", "Enabled"},
	{"AIW-KV-004", "Microsoft.KeyVault/vaults", "properties.enableSoftDelete", "Low", "true"},
	{"AIW-KV-005", "Microsoft.KeyVault/vaults", "_aiwatch.diagnosticSettings", "Medium", "none"},
	{"AIW-KV-101", "Microsoft.KeyVault/vaults/secrets", "properties.attributes.exp", "Medium", "never expires"},
	{"AIW-DEF-001", "Microsoft.Security/pricings", "properties.pricingTier", "High", "Free"},
};
/* clang-format on */

START_TEST(table_is_the_spec)
{
	static const char *const areas[] = {"Network", "Identity",	    "Data protection",
					    "Logging", "Threat protection", "Compute"};

	ck_assert_uint_eq(aw_posture_check_count(), sizeof spec / sizeof spec[0]);
	for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
		const struct aw_posture_check *c = aw_posture_check_at(i);
		int area_ok = 0;

		ck_assert_str_eq(aw_posture_check_id(c), spec[i].id);
		ck_assert_str_eq(aw_posture_check_type(c), spec[i].type);
		ck_assert_str_eq(aw_posture_check_path(c), spec[i].path);
		ck_assert_str_eq(aw_posture_check_severity(c), spec[i].severity);
		ck_assert_str_eq(aw_posture_check_default(c), spec[i].dflt);
		ck_assert_ptr_eq(aw_posture_check_find(spec[i].id), c);
		for (size_t a = 0; a < sizeof areas / sizeof areas[0]; a++)
			area_ok |= strcmp(aw_posture_check_area(c), areas[a]) == 0;
		ck_assert_msg(area_ok, "%s: area %s", spec[i].id, aw_posture_check_area(c));
		ck_assert_msg(strlen(aw_posture_check_title(c)) > 10, "%s: title", spec[i].id);
		ck_assert_msg(strlen(aw_posture_check_expected(c)) > 0, "%s: expected", spec[i].id);
		ck_assert_msg(strlen(aw_posture_check_baseline(c)) > 10, "%s: baseline",
			      spec[i].id);
		/* Remediation gives a command and a place in the portal (or says there is none). */
		ck_assert_msg(strstr(aw_posture_check_remediation(c), "az ") ||
				  strstr(aw_posture_check_remediation(c), "POST "),
			      "%s: remediation without a command", spec[i].id);
		ck_assert_msg(strstr(aw_posture_check_remediation(c), "Portal:"),
			      "%s: remediation without a portal path", spec[i].id);
	}
	ck_assert_ptr_eq(aw_posture_check_find("aiw-kv-001"), aw_posture_check_find("AIW-KV-001"));
	ck_assert_ptr_null(aw_posture_check_find("AIW-XX-999"));
	ck_assert_ptr_null(aw_posture_check_find(NULL));
	ck_assert_ptr_null(aw_posture_check_at(aw_posture_check_count()));
}
END_TEST

static size_t count_applying(const char *inside, struct collected *got)
{
	json_object *res = parse_resource(inside);
	size_t n;

	memset(got, 0, sizeof *got);
	n = aw_posture_evaluate(res, collect, got);
	ck_assert_uint_eq(n, got->n);
	json_object_put(res);
	return n;
}

/* Which checks apply: by type in any case, narrowed by computeType and pricing name. */
START_TEST(which_checks_apply)
{
	struct collected got;

	ck_assert_uint_eq(count_applying(ACCOUNT, &got), 8);
	ck_assert_uint_eq(count_applying("\"type\":\"microsoft.cognitiveservices/accounts\"", &got),
			  8);
	ck_assert_uint_eq(count_applying(DEPLOYMENT, &got), 1);
	ck_assert_uint_eq(count_applying(WORKSPACE, &got), 3);
	ck_assert_uint_eq(count_applying(CI "}", &got), 4);
	ck_assert_ptr_null(find(&got, "AIW-ML-105"));
	ck_assert_uint_eq(count_applying(AML "}", &got), 3);
	ck_assert_ptr_null(find(&got, "AIW-ML-102"));
	ck_assert_ptr_null(find(&got, "AIW-ML-103"));
	ck_assert_uint_eq(
	    count_applying(COMPUTE ",\"properties\":{\"computeType\":\"Kubernetes\"}", &got), 2);
	ck_assert_uint_eq(count_applying(VAULT, &got), 5);
	ck_assert_uint_eq(count_applying(SECRET, &got), 1);
	ck_assert_uint_eq(count_applying(PRICING, &got), 1);
	ck_assert_uint_eq(
	    count_applying("\"type\":\"Microsoft.Security/pricings\",\"name\":\"VirtualMachines\"",
			   &got),
	    0);
	ck_assert_uint_eq(count_applying("\"type\":\"Microsoft.Storage/storageAccounts\"", &got),
			  0);
	ck_assert_uint_eq(count_applying("\"name\":\"no type\"", &got), 0);
	ck_assert_uint_eq(count_applying("\"type\":42", &got), 0);
	ck_assert_uint_eq(aw_posture_evaluate(NULL, collect, &got), 0);

	json_object *arr = json_tokener_parse("[1,2]");
	ck_assert_uint_eq(aw_posture_evaluate(arr, collect, &got), 0);
	json_object_put(arr);
}
END_TEST

/* A diagnostic-settings failure makes only the checks that read them UNKNOWN; the
 * properties Resource Graph returned are still evaluated. */
START_TEST(read_error_only_affects_separate_reads)
{
	struct collected got;

	count_applying(VAULT ",\"properties\":{\"enablePurgeProtection\":true}," DIAG_403, &got);
	ck_assert_int_eq(find(&got, "AIW-KV-005")->status, AW_POSTURE_UNKNOWN);
	ck_assert_int_eq(find(&got, "AIW-KV-001")->status, AW_POSTURE_PASS);
	ck_assert_int_eq(find(&got, "AIW-KV-003")->status, AW_POSTURE_FAIL);
	/* What was read is evaluated even when something else failed. */
	count_applying(VAULT
		       ",\"_aiwatch\":{\"error\":\"secrets: HTTP 403\",\"diagnosticSettings\":[]}",
		       &got);
	ck_assert_int_eq(find(&got, "AIW-KV-005")->status, AW_POSTURE_FAIL);
}
END_TEST

/* Long values are cut at a character boundary and marked. */
START_TEST(long_actual_is_cut)
{
	char inside[1024] = ACCOUNT ",\"properties\":{\"publicNetworkAccess\":\"";
	struct collected got;
	const struct aw_posture_result *r;
	size_t n = strlen(inside);

	for (int i = 0; i < 100; i++, n += 2)
		memcpy(inside + n, "\xc3\xa9", 2); /* é */
	memcpy(inside + n, "\"}", 3);
	count_applying(inside, &got);
	r = find(&got, "AIW-CS-001");
	ck_assert_int_eq(r->status, AW_POSTURE_FAIL);
	n = strlen(r->actual);
	ck_assert_uint_lt(n, sizeof r->actual);
	ck_assert_str_eq(r->actual + n - 3, "...");
	ck_assert_int_eq((unsigned char)r->actual[n - 4], 0xa9);
}
END_TEST

/* --- the mapping ------------------------------------------------------------------- */

START_TEST(every_check_maps_to_every_framework)
{
	for (size_t i = 0; i < aw_posture_check_count(); i++) {
		const struct aw_posture_check *c = aw_posture_check_at(i);

		for (int fw = 0; fw < AW_FW_COUNT; fw++) {
			const char *const *ctl = aw_posture_check_controls(c, fw);
			size_t n = 0;

			for (; ctl[n]; n++) {
				ck_assert_msg(aw_posture_control_title(fw, ctl[n]) != NULL,
					      "%s: %s control %s has no title",
					      aw_posture_check_id(c), aw_posture_framework_name(fw),
					      ctl[n]);
				ck_assert_uint_le(n, AW_POSTURE_MAX_CONTROLS);
			}
			ck_assert_msg(n >= 1, "%s maps to no %s control", aw_posture_check_id(c),
				      aw_posture_framework_name(fw));
		}
	}
}
END_TEST

START_TEST(mapping_reads_like_the_frameworks)
{
	const struct aw_posture_check *c = aw_posture_check_find("AIW-CS-001");
	const char *const *ctl = aw_posture_check_controls(c, AW_FW_MCSB);

	ck_assert_str_eq(ctl[0], "NS-2");
	ck_assert_str_eq(aw_posture_control_title(AW_FW_MCSB, "NS-2"),
			 "Secure cloud native services with network controls");
	ck_assert_str_eq(aw_posture_check_controls(c, AW_FW_NIST)[0], "SC-7");
	ck_assert_str_eq(aw_posture_control_title(AW_FW_NIST, "SC-7"), "Boundary Protection");
	ck_assert_str_eq(aw_posture_control_title(AW_FW_ISO27001, "A.8.20"), "Networks security");
	ck_assert_str_eq(
	    aw_posture_check_controls(aw_posture_check_find("AIW-KV-005"), AW_FW_NIST)[0], "AU-2");
	ck_assert_str_eq(
	    aw_posture_check_controls(aw_posture_check_find("AIW-DEF-001"), AW_FW_SOC2)[0],
	    "CC7.2");
	ck_assert_ptr_null(aw_posture_control_title(AW_FW_NIST, "NS-2"));
	ck_assert_ptr_null(aw_posture_control_title(AW_FW_MCSB, NULL));
	ck_assert_ptr_null(aw_posture_check_controls(NULL, AW_FW_MCSB)[0]);
	ck_assert_ptr_null(aw_posture_check_controls(c, AW_FW_COUNT)[0]);
}
END_TEST

START_TEST(framework_names)
{
	static const char *const names[] = {"mcsb", "nist", "iso27001", "soc2"};

	for (int fw = 0; fw < AW_FW_COUNT; fw++) {
		ck_assert_str_eq(aw_posture_framework_name(fw), names[fw]);
		ck_assert_int_eq(aw_posture_framework_parse(names[fw]), fw);
	}
	ck_assert_int_eq(aw_posture_framework_parse("NIST"), AW_FW_NIST);
	ck_assert_int_eq(aw_posture_framework_parse("pci"), -1);
	ck_assert_int_eq(aw_posture_framework_parse(""), -1);
	ck_assert_int_eq(aw_posture_framework_parse(NULL), -1);
}
END_TEST

/* doc/posture.md lists every check, its remediation and its mapping row as the table
 * has them: a check changed in the code and not in the documentation fails here. */
static void join_controls(const struct aw_posture_check *c, int fw, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (const char *const *p = aw_posture_check_controls(c, fw); *p; p++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s",
				      p == aw_posture_check_controls(c, fw) ? "" : ", ", *p);
}

START_TEST(documentation_matches_the_table)
{
	char *path = aw_test_srcpath("doc/posture.md");
	char *doc = aw_test_read(path, NULL);
	char line[1024], ctl[AW_FW_COUNT][128];

	ck_assert_msg(doc != NULL, "cannot read %s", path);
	for (size_t i = 0; i < aw_posture_check_count(); i++) {
		const struct aw_posture_check *c = aw_posture_check_at(i);
		const char *id = aw_posture_check_id(c);

		snprintf(line, sizeof line, "| %s | %s | %s | `%s` | `%s` | %s | %s |\n", id,
			 aw_posture_check_severity(c), aw_posture_check_area(c),
			 aw_posture_check_type(c), aw_posture_check_path(c),
			 aw_posture_check_expected(c), aw_posture_check_default(c));
		ck_assert_msg(strstr(doc, line), "doc/posture.md lacks the row %s", line);
		snprintf(line, sizeof line, "#### %s: %s\n", id, aw_posture_check_title(c));
		ck_assert_msg(strstr(doc, line), "doc/posture.md lacks the heading %s", line);
		ck_assert_msg(strstr(doc, aw_posture_check_remediation(c)),
			      "doc/posture.md lacks the remediation of %s", id);
		for (int fw = 0; fw < AW_FW_COUNT; fw++)
			join_controls(c, fw, ctl[fw], sizeof ctl[fw]);
		snprintf(line, sizeof line, "| %s | %s | %s | %s | %s |\n", id, ctl[0], ctl[1],
			 ctl[2], ctl[3]);
		ck_assert_msg(strstr(doc, line), "doc/posture.md lacks the mapping row %s", line);
		for (int fw = 0; fw < AW_FW_COUNT; fw++)
			for (const char *const *p = aw_posture_check_controls(c, fw); *p; p++) {
				snprintf(line, sizeof line, " | %s | %s |\n", *p,
					 aw_posture_control_title(fw, *p));
				ck_assert_msg(strstr(doc, line),
					      "doc/posture.md lacks the title row%s", line);
			}
	}
	free(doc);
	free(path);
}
END_TEST

static Suite *posture_checks_suite(void)
{
	Suite *s = suite_create("posture_checks");
	TCase *tc = tcase_create("checks");

	tcase_add_loop_test(tc, each_case, 0, (int)NCASES);
	tcase_add_test(tc, every_check_covered_both_ways);
	tcase_add_test(tc, table_is_the_spec);
	tcase_add_test(tc, which_checks_apply);
	tcase_add_test(tc, read_error_only_affects_separate_reads);
	tcase_add_test(tc, long_actual_is_cut);
	suite_add_tcase(s, tc);
	tc = tcase_create("controls");
	tcase_add_test(tc, every_check_maps_to_every_framework);
	tcase_add_test(tc, mapping_reads_like_the_frameworks);
	tcase_add_test(tc, framework_names);
	tcase_add_test(tc, documentation_matches_the_table);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(posture_checks_suite)
