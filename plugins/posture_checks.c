/* The posture checks (posture.h): one table, a row per check, and the evaluation of a
 * row against one inventory element.
 *
 * A row names the ARM type it applies to (compared case-insensitively: Resource Graph
 * lower-cases types), optionally narrowed by one property (a compute's computeType, a
 * pricing's name), the property path it reads and the rule it applies. An absent
 * property (or a JSON null) stands for the service default (contract §5): for enum and
 * boolean rules that default value is evaluated like any other; for the other rules the
 * row says whether "absent" passes. A value of the wrong JSON type fails, with an Actual
 * that says what was there. A check that reads something the collector reads
 * separately (diagnostic settings, the Defender pricing) is UNKNOWN, never PASS or
 * FAIL, when that read failed (AW_POSTURE_META.error) and the value is absent. */
#include "posture.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum rule {
	RULE_ENUM,	  /* a string among `want` ("A|B"), case-insensitive */
	RULE_BOOL,	  /* a JSON boolean equal to `want` ("true"/"false") */
	RULE_NO_OPEN_IP,  /* an array of {value} rules, none open to every address */
	RULE_APPROVED_PE, /* an array with one private endpoint connection Approved */
	RULE_IDENTITY,	  /* SystemAssigned and/or UserAssigned */
	RULE_DIAGNOSTICS, /* a setting sending an enabled log to a Log Analytics workspace */
	RULE_NAMED,	  /* a non-empty string */
	RULE_DURATION,	  /* an ISO 8601 duration */
	RULE_EPOCH,	  /* a date, in epoch seconds */
};

struct aw_posture_check {
	const char *id;
	const char *title;
	const char *area;
	const char *type;
	const char *only_path;	/* applies only where this property ... */
	const char *only_value; /* ... is this string (case-insensitive) */
	const char *path;
	enum rule rule;
	const char *want;	  /* RULE_ENUM, RULE_BOOL */
	const char *absent_value; /* RULE_ENUM, RULE_BOOL: what an absent property stands for */
	bool absent_passes;	  /* the other rules */
	bool separate_read;	  /* read apart from Resource Graph: UNKNOWN when that failed */
	const char *expected;
	const char *dflt;
	const char *severity;
	const char *baseline;
	const char *remediation;
};

#define T_ACCOUNT    "Microsoft.CognitiveServices/accounts"
#define T_DEPLOYMENT "Microsoft.CognitiveServices/accounts/deployments"
#define T_WORKSPACE  "Microsoft.MachineLearningServices/workspaces"
#define T_COMPUTE    "Microsoft.MachineLearningServices/workspaces/computes"
#define T_VAULT	     "Microsoft.KeyVault/vaults"
#define T_SECRET     "Microsoft.KeyVault/vaults/secrets"
#define T_PRICING    "Microsoft.Security/pricings"
#define DIAG_PATH    AW_POSTURE_META ".diagnosticSettings"

#define B_PRIVATE "Private endpoints with public network access disabled"
#define B_LOGS	  "Diagnostic logs flowing to Log Analytics"
#define B_COMPUTE "Compute with no public IP and no SSH"
#define B_VAULT	  "Secrets in Key Vault with expiry and purge protection"
#define E_DIAG	  "a diagnostic setting sending an enabled log to a Log Analytics workspace"
#define DIAG_FIX(what)                                                                             \
	"az monitor diagnostic-settings create --name aiwatch --resource <" what " id> "           \
	"--workspace <Log Analytics workspace id> "                                                \
	"--logs '[{\"categoryGroup\":\"allLogs\",\"enabled\":true}]'. Portal: the " what           \
	" > Monitoring > Diagnostic settings > Add diagnostic setting > Send to Log "              \
	"Analytics workspace."

static const struct aw_posture_check checks[] = {
    {
	.id = "AIW-CS-001",
	.title = "Azure AI account: public network access disabled",
	.area = "Network",
	.type = T_ACCOUNT,
	.path = "properties.publicNetworkAccess",
	.rule = RULE_ENUM,
	.want = "Disabled",
	.absent_value = "Enabled",
	.expected = "Disabled",
	.dflt = "Enabled",
	.severity = "High",
	.baseline = B_PRIVATE,
	.remediation = "az resource update --ids <account id> --set "
		       "properties.publicNetworkAccess=Disabled (give clients a private endpoint "
		       "first: AIW-CS-005). Portal: the account > Resource Management > "
		       "Networking > Firewalls and virtual networks > Disabled.",
    },
    {
	.id = "AIW-CS-002",
	.title = "Azure AI account: network rules deny by default",
	.area = "Network",
	.type = T_ACCOUNT,
	.path = "properties.networkAcls.defaultAction",
	.rule = RULE_ENUM,
	.want = "Deny",
	.absent_value = "Allow",
	.expected = "Deny",
	.dflt = "Allow",
	.severity = "High",
	.baseline = B_PRIVATE,
	.remediation = "az resource update --ids <account id> --set "
		       "properties.networkAcls.defaultAction=Deny, then allow the networks that "
		       "need access with az cognitiveservices account network-rule add. Portal: "
		       "the account > Networking > Firewalls and virtual networks > Selected "
		       "networks and private endpoints.",
    },
    {
	.id = "AIW-CS-003",
	.title = "Azure AI account: no IP rule open to every address",
	.area = "Network",
	.type = T_ACCOUNT,
	.path = "properties.networkAcls.ipRules",
	.rule = RULE_NO_OPEN_IP,
	.absent_passes = true,
	.expected = "no rule for 0.0.0.0/0, ::/0 or 0.0.0.0",
	.dflt = "no rules",
	.severity = "High",
	.baseline = B_PRIVATE,
	.remediation = "az cognitiveservices account network-rule remove --name <account> "
		       "--resource-group <resource group> --ip-address 0.0.0.0/0, and add the "
		       "client ranges that need access instead. Portal: the account > "
		       "Networking > Firewalls and virtual networks > Firewall > delete the "
		       "address range.",
    },
    {
	.id = "AIW-CS-004",
	.title = "Azure AI account: local (API key) authentication disabled",
	.area = "Identity",
	.type = T_ACCOUNT,
	.path = "properties.disableLocalAuth",
	.rule = RULE_BOOL,
	.want = "true",
	.absent_value = "false",
	.expected = "true",
	.dflt = "false",
	.severity = "High",
	.baseline = "Azure OpenAI with local (key) authentication disabled",
	.remediation = "Move clients to Microsoft Entra ID tokens (role Cognitive Services OpenAI "
		       "User), then az resource update --ids <account id> --set "
		       "properties.disableLocalAuth=true. Portal: no switch; use the CLI, a "
		       "Bicep/ARM template or the Azure Policy that requires key access to be "
		       "disabled on Azure AI Services resources.",
    },
    {
	.id = "AIW-CS-005",
	.title = "Azure AI account: reached through an approved private endpoint",
	.area = "Network",
	.type = T_ACCOUNT,
	.path = "properties.privateEndpointConnections",
	.rule = RULE_APPROVED_PE,
	.absent_passes = false,
	.expected = "at least one Approved private endpoint connection",
	.dflt = "none",
	.severity = "Medium",
	.baseline = B_PRIVATE,
	.remediation = "az network private-endpoint create --name <endpoint> --resource-group "
		       "<resource group> --vnet-name <vnet> --subnet <subnet> "
		       "--private-connection-resource-id <account id> --group-id account "
		       "--connection-name <name>; approve a pending one with az network "
		       "private-endpoint-connection approve --id <connection id>. Portal: the "
		       "account > Networking > Private endpoint connections.",
    },
    {
	.id = "AIW-CS-006",
	.title = "Azure AI account: has a managed identity",
	.area = "Identity",
	.type = T_ACCOUNT,
	.path = "identity.type",
	.rule = RULE_IDENTITY,
	.absent_passes = false,
	.expected = "SystemAssigned and/or UserAssigned",
	.dflt = "None",
	.severity = "Medium",
	.baseline = "Managed identities instead of stored keys",
	.remediation = "az cognitiveservices account identity assign --name <account> "
		       "--resource-group <resource group>. Portal: the account > Resource "
		       "Management > Identity > System assigned > Status On.",
    },
    {
	.id = "AIW-CS-007",
	.title = "Azure AI account: outbound network access restricted",
	.area = "Network",
	.type = T_ACCOUNT,
	.path = "properties.restrictOutboundNetworkAccess",
	.rule = RULE_BOOL,
	.want = "true",
	.absent_value = "false",
	.expected = "true",
	.dflt = "false",
	.severity = "Low",
	.baseline = "Outbound access limited to approved destinations (no exfiltration path)",
	.remediation = "az resource update --ids <account id> --set "
		       "properties.restrictOutboundNetworkAccess=true "
		       "'properties.allowedFqdnList=[\"<fqdn the account needs>\"]'. Portal: no "
		       "switch; use the CLI or a Bicep/ARM template.",
    },
    {
	.id = "AIW-CS-008",
	.title = "Azure AI account: diagnostic logs sent to Log Analytics",
	.area = "Logging",
	.type = T_ACCOUNT,
	.path = DIAG_PATH,
	.rule = RULE_DIAGNOSTICS,
	.absent_passes = false,
	.separate_read = true,
	.expected = E_DIAG,
	.dflt = "none",
	.severity = "Medium",
	.baseline = B_LOGS,
	.remediation = DIAG_FIX("account"),
    },
    {
	.id = "AIW-CS-101",
	.title = "Model deployment: content filter (RAI policy) assigned",
	.area = "Threat protection",
	.type = T_DEPLOYMENT,
	.path = "properties.raiPolicyName",
	.rule = RULE_NAMED,
	.absent_passes = false,
	.expected = "a content filter policy named",
	.dflt = "none",
	.severity = "Medium",
	.baseline = "Azure OpenAI with content filtering on",
	.remediation = "az resource update --ids <deployment id> --set "
		       "properties.raiPolicyName=Microsoft.DefaultV2 (or a custom content "
		       "filter). Portal: Azure AI Foundry > Safety + security > Content filters "
		       "> the filter > Apply to the deployment.",
    },
    {
	.id = "AIW-ML-001",
	.title = "ML workspace: public network access disabled",
	.area = "Network",
	.type = T_WORKSPACE,
	.path = "properties.publicNetworkAccess",
	.rule = RULE_ENUM,
	.want = "Disabled",
	.absent_value = "Enabled",
	.expected = "Disabled",
	.dflt = "Enabled",
	.severity = "High",
	.baseline = B_PRIVATE,
	.remediation = "az ml workspace update --name <workspace> --resource-group <resource "
		       "group> --public-network-access Disabled (clients through a private "
		       "endpoint). Portal: the workspace > Settings > Networking > Public "
		       "access > Disabled.",
    },
    {
	.id = "AIW-ML-002",
	.title = "ML workspace: managed network isolation on",
	.area = "Network",
	.type = T_WORKSPACE,
	.path = "properties.managedNetwork.isolationMode",
	.rule = RULE_ENUM,
	.want = "AllowOnlyApprovedOutbound|AllowInternetOutbound",
	.absent_value = "Disabled",
	.expected = "AllowOnlyApprovedOutbound or AllowInternetOutbound",
	.dflt = "Disabled",
	.severity = "Medium",
	.baseline = "Workspaces isolated in a managed virtual network",
	.remediation = "az ml workspace update --name <workspace> --resource-group <resource "
		       "group> --managed-network allow_only_approved_outbound, then az ml "
		       "workspace provision-network --name <workspace> --resource-group "
		       "<resource group>. Portal: the workspace > Settings > Networking > "
		       "Workspace managed outbound access.",
    },
    {
	.id = "AIW-ML-003",
	.title = "ML workspace: diagnostic logs sent to Log Analytics",
	.area = "Logging",
	.type = T_WORKSPACE,
	.path = DIAG_PATH,
	.rule = RULE_DIAGNOSTICS,
	.absent_passes = false,
	.separate_read = true,
	.expected = E_DIAG,
	.dflt = "none",
	.severity = "Medium",
	.baseline = B_LOGS,
	.remediation = DIAG_FIX("workspace"),
    },
    {
	.id = "AIW-ML-101",
	.title = "ML compute: no public IP on its nodes",
	.area = "Compute",
	.type = T_COMPUTE,
	.path = "properties.properties.enableNodePublicIp",
	.rule = RULE_BOOL,
	.want = "false",
	.absent_value = "true",
	.expected = "false",
	.dflt = "true",
	.severity = "High",
	.baseline = B_COMPUTE,
	.remediation = "A compute's public IP is fixed when it is created: recreate it in a "
		       "virtual network (or the workspace's managed network) with "
		       "enable_node_public_ip: false in its YAML (az ml compute create --file "
		       "<compute.yml> --resource-group <resource group> --workspace-name "
		       "<workspace>). Portal: Azure Machine Learning studio > Compute > New > "
		       "Advanced settings > No public IP.",
    },
    {
	.id = "AIW-ML-102",
	.title = "ML compute instance: SSH not open to the internet",
	.area = "Compute",
	.type = T_COMPUTE,
	.only_path = "properties.computeType",
	.only_value = "ComputeInstance",
	.path = "properties.properties.sshSettings.sshPublicAccess",
	.rule = RULE_ENUM,
	.want = "Disabled",
	.absent_value = "Disabled",
	.expected = "Disabled",
	.dflt = "Disabled",
	.severity = "Medium",
	.baseline = B_COMPUTE,
	.remediation = "SSH access is fixed when the instance is created: recreate it with "
		       "ssh_public_access_enabled: false in its YAML (az ml compute create "
		       "--file <instance.yml> --resource-group <resource group> --workspace-name "
		       "<workspace>) and use the studio terminal or VS Code instead. Portal: "
		       "Azure Machine Learning studio > Compute > New > Security > SSH access "
		       "off.",
    },
    {
	.id = "AIW-ML-103",
	.title = "ML compute instance: shuts down when idle",
	.area = "Compute",
	.type = T_COMPUTE,
	.only_path = "properties.computeType",
	.only_value = "ComputeInstance",
	.path = "properties.properties.idleTimeBeforeShutdown",
	.rule = RULE_DURATION,
	.absent_passes = false,
	.expected = "an ISO 8601 duration (for example PT30M)",
	.dflt = "no auto-shutdown",
	.severity = "Low",
	.baseline = "Compute instances shut down when idle",
	.remediation = "POST <compute id>/updateIdleShutdownSetting?api-version=2021-07-01 with "
		       "{\"idleTimeBeforeShutdown\":\"PT30M\"} (az rest --method post --url "
		       "...), or idle_time_before_shutdown_minutes: 30 in the instance's YAML. "
		       "Portal: Azure Machine Learning studio > Compute > the instance > "
		       "Schedule and idle shutdown.",
    },
    {
	.id = "AIW-ML-104",
	.title = "ML compute: local authentication disabled",
	.area = "Identity",
	.type = T_COMPUTE,
	.path = "properties.disableLocalAuth",
	.rule = RULE_BOOL,
	.want = "true",
	.absent_value = "false",
	.expected = "true",
	.dflt = "false",
	.severity = "Medium",
	.baseline = "Local (key) authentication disabled; Microsoft Entra ID only",
	.remediation = "Set properties.disableLocalAuth to true in the compute's Bicep/ARM "
		       "definition (Microsoft.MachineLearningServices/workspaces/computes) and "
		       "redeploy it: az deployment group create --resource-group <resource "
		       "group> --template-file <compute.bicep>. Portal: no switch.",
    },
    {
	.id = "AIW-ML-105",
	.title = "ML compute cluster: remote login port not public",
	.area = "Compute",
	.type = T_COMPUTE,
	.only_path = "properties.computeType",
	.only_value = "AmlCompute",
	.path = "properties.properties.remoteLoginPortPublicAccess",
	.rule = RULE_ENUM,
	.want = "Disabled",
	.absent_value = "NotSpecified",
	.expected = "Disabled",
	.dflt = "NotSpecified (Enabled)",
	.severity = "High",
	.baseline = B_COMPUTE,
	.remediation = "Recreate the cluster with SSH off: ssh_public_access_enabled: false in "
		       "its YAML (az ml compute create --file <cluster.yml> --resource-group "
		       "<resource group> --workspace-name <workspace>), or in a virtual network "
		       "with no public IP. Portal: Azure Machine Learning studio > Compute > "
		       "Compute clusters > New > Advanced settings > Enable SSH access off.",
    },
    {
	.id = "AIW-KV-001",
	.title = "Key Vault: purge protection enabled",
	.area = "Data protection",
	.type = T_VAULT,
	.path = "properties.enablePurgeProtection",
	.rule = RULE_BOOL,
	.want = "true",
	.absent_value = "false",
	.expected = "true",
	.dflt = "false",
	.severity = "High",
	.baseline = B_VAULT,
	.remediation = "az keyvault update --name <vault> --resource-group <resource group> "
		       "--enable-purge-protection true (it cannot be turned off again). Portal: "
		       "the vault > Settings > Properties > Enable purge protection.",
    },
    {
	.id = "AIW-KV-002",
	.title = "Key Vault: Azure RBAC authorization, not access policies",
	.area = "Identity",
	.type = T_VAULT,
	.path = "properties.enableRbacAuthorization",
	.rule = RULE_BOOL,
	.want = "true",
	.absent_value = "false",
	.expected = "true",
	.dflt = "false",
	.severity = "Medium",
	.baseline = "Key Vault access through Azure RBAC, least privilege",
	.remediation = "Grant the Key Vault roles that replace each access policy, then az "
		       "keyvault update --name <vault> --resource-group <resource group> "
		       "--enable-rbac-authorization true. Portal: the vault > Settings > Access "
		       "configuration > Azure role-based access control.",
    },
    {
	.id = "AIW-KV-003",
	.title = "Key Vault: public network access disabled",
	.area = "Network",
	.type = T_VAULT,
	.path = "properties.publicNetworkAccess",
	.rule = RULE_ENUM,
	.want = "Disabled",
	.absent_value = "Enabled",
	.expected = "Disabled",
	.dflt = "Enabled",
	.severity = "High",
	.baseline = B_PRIVATE,
	.remediation = "az keyvault update --name <vault> --resource-group <resource group> "
		       "--public-network-access Disabled (clients through a private endpoint). "
		       "Portal: the vault > Settings > Networking > Firewalls and virtual "
		       "networks > Disable public access.",
    },
    {
	.id = "AIW-KV-004",
	.title = "Key Vault: soft delete enabled",
	.area = "Data protection",
	.type = T_VAULT,
	.path = "properties.enableSoftDelete",
	.rule = RULE_BOOL,
	.want = "true",
	.absent_value = "true",
	.expected = "true",
	.dflt = "true",
	.severity = "Low",
	.baseline = B_VAULT,
	.remediation = "az keyvault update --name <vault> --resource-group <resource group> "
		       "--enable-soft-delete true, then turn on purge protection (AIW-KV-001). "
		       "Portal: the vault > Settings > Properties > Soft-delete.",
    },
    {
	.id = "AIW-KV-005",
	.title = "Key Vault: diagnostic logs sent to Log Analytics",
	.area = "Logging",
	.type = T_VAULT,
	.path = DIAG_PATH,
	.rule = RULE_DIAGNOSTICS,
	.absent_passes = false,
	.separate_read = true,
	.expected = E_DIAG,
	.dflt = "none",
	.severity = "Medium",
	.baseline = B_LOGS,
	.remediation = DIAG_FIX("vault"),
    },
    {
	.id = "AIW-KV-101",
	.title = "Key Vault secret: has an expiry date",
	.area = "Data protection",
	.type = T_SECRET,
	.path = "properties.attributes.exp",
	.rule = RULE_EPOCH,
	.absent_passes = false,
	.expected = "an expiry date",
	.dflt = "never expires",
	.severity = "Medium",
	.baseline = B_VAULT,
	.remediation = "az keyvault secret set-attributes --vault-name <vault> --name <secret> "
		       "--expires <YYYY-MM-DDThh:mm:ssZ>, and rotate the secret before then. "
		       "Portal: the vault > Objects > Secrets > the secret > its current "
		       "version > Set expiration date.",
    },
    {
	.id = "AIW-DEF-001",
	.title = "Defender for Cloud: AI services plan on (Standard)",
	.area = "Threat protection",
	.type = T_PRICING,
	.only_path = "name",
	.only_value = "AI",
	.path = "properties.pricingTier",
	.rule = RULE_ENUM,
	.want = "Standard",
	.absent_value = "Free",
	.separate_read = true,
	.expected = "Standard",
	.dflt = "Free",
	.severity = "High",
	.baseline = "Defender for AI enabled",
	.remediation = "az security pricing create --name AI --tier Standard --subscription "
		       "<subscription>. Portal: Microsoft Defender for Cloud > Environment "
		       "settings > the subscription > Defender plans > AI services > On.",
    },
};

#define NCHECKS (sizeof checks / sizeof checks[0])

/* --- the table ------------------------------------------------------------------------ */

size_t aw_posture_check_count(void)
{
	return NCHECKS;
}

const struct aw_posture_check *aw_posture_check_at(size_t i)
{
	return i < NCHECKS ? &checks[i] : NULL;
}

const struct aw_posture_check *aw_posture_check_find(const char *id)
{
	for (size_t i = 0; id && i < NCHECKS; i++)
		if (strcasecmp(checks[i].id, id) == 0)
			return &checks[i];
	return NULL;
}

const char *aw_posture_check_id(const struct aw_posture_check *c)
{
	return c->id;
}

const char *aw_posture_check_title(const struct aw_posture_check *c)
{
	return c->title;
}

const char *aw_posture_check_area(const struct aw_posture_check *c)
{
	return c->area;
}

const char *aw_posture_check_type(const struct aw_posture_check *c)
{
	return c->type;
}

const char *aw_posture_check_path(const struct aw_posture_check *c)
{
	return c->path;
}

const char *aw_posture_check_expected(const struct aw_posture_check *c)
{
	return c->expected;
}

const char *aw_posture_check_default(const struct aw_posture_check *c)
{
	return c->dflt;
}

const char *aw_posture_check_severity(const struct aw_posture_check *c)
{
	return c->severity;
}

const char *aw_posture_check_baseline(const struct aw_posture_check *c)
{
	return c->baseline;
}

const char *aw_posture_check_remediation(const struct aw_posture_check *c)
{
	return c->remediation;
}

/* --- reading the resource --------------------------------------------------------------- */

enum lookup { FOUND, ABSENT, NOT_OBJECT };

/* A member by name: the exact spelling first, then ignoring case (ARM property names
 * are camelCase, but a hand-written inventory or another api-version may differ). */
static json_object *member(json_object *obj, const char *name, size_t len)
{
	char key[128];
	json_object *v = NULL;

	if (len >= sizeof key)
		return NULL;
	memcpy(key, name, len);
	key[len] = '\0';
	if (json_object_object_get_ex(obj, key, &v))
		return v;
	json_object_object_foreach(obj, k, val)
	{
		if (strlen(k) == len && strncasecmp(k, name, len) == 0)
			return val;
	}
	return NULL;
}

/* Walk a dotted path. NULL members count as absent. NOT_OBJECT: a step on the way is
 * something other than an object; *out is then that value and *depth the length of the
 * path prefix that named it. */
static enum lookup lookup(json_object *res, const char *path, json_object **out, size_t *depth)
{
	json_object *cur = res;
	const char *p = path;

	*out = NULL;
	*depth = 0;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (!json_object_is_type(cur, json_type_object)) {
			if (cur == res)
				return ABSENT;
			*out = cur;
			*depth = (size_t)(p - path) - 1;
			return NOT_OBJECT;
		}
		cur = member(cur, p, len);
		if (!cur)
			return ABSENT;
		if (!dot)
			break;
		p = dot + 1;
	}
	*out = cur;
	return FOUND;
}

static const char *string_at(json_object *res, const char *path)
{
	json_object *v;
	size_t depth;

	if (lookup(res, path, &v, &depth) != FOUND || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* --- results ------------------------------------------------------------------------------ */

/* Cut a string that snprintf truncated at a UTF-8 boundary, and mark the cut. */
static void clip(char *s, size_t size)
{
	size_t n = strlen(s);

	if (n + 1 < size)
		return;
	n = size >= 4 ? size - 4 : 0;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(s + n, "...", 4);
}

static void say(struct aw_posture_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(struct aw_posture_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->actual, sizeof r->actual, fmt, ap);
	va_end(ap);
	clip(r->actual, sizeof r->actual);
}

static const char *type_name(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
	case json_type_int:
		return "a number";
	case json_type_string:
		return "a string";
	case json_type_array:
		return "an array";
	case json_type_object:
		return "an object";
	default:
		return "null";
	}
}

/* The value as short JSON text, for an Actual that shows what was there. */
static void json_text(json_object *v, char *buf, size_t size)
{
	int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;

	snprintf(buf, size, "%s", json_object_to_json_string_ext(v, flags));
	clip(buf, size);
}

static void wrong_type(struct aw_posture_result *r, const char *what, json_object *v,
		       const char *want)
{
	char text[64];

	json_text(v, text, sizeof text);
	r->status = AW_POSTURE_FAIL;
	say(r, "wrong type: %s is %s (%s), expected %s", what, type_name(v), text, want);
}

static bool one_of(const char *s, const char *alternatives)
{
	const char *p = alternatives;

	for (;;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (strlen(s) == len && strncasecmp(s, p, len) == 0)
			return true;
		if (!bar)
			return false;
		p = bar + 1;
	}
}

/* --- the rules --------------------------------------------------------------------------- */

static void eval_enum(const struct aw_posture_check *c, json_object *v, struct aw_posture_result *r)
{
	const char *s;

	if (!v) {
		r->status = one_of(c->absent_value, c->want) ? AW_POSTURE_PASS : AW_POSTURE_FAIL;
		say(r, "absent (default: %s)", c->dflt);
		return;
	}
	if (!json_object_is_type(v, json_type_string)) {
		wrong_type(r, c->path, v, "a string");
		return;
	}
	s = json_object_get_string(v);
	r->status = one_of(s, c->want) ? AW_POSTURE_PASS : AW_POSTURE_FAIL;
	if (*s)
		say(r, "%s", s);
	else
		say(r, "\"\" (empty)");
}

static void eval_bool(const struct aw_posture_check *c, json_object *v, struct aw_posture_result *r)
{
	bool want = strcmp(c->want, "true") == 0;

	if (!v) {
		r->status = (strcmp(c->absent_value, "true") == 0) == want ? AW_POSTURE_PASS
									   : AW_POSTURE_FAIL;
		say(r, "absent (default: %s)", c->dflt);
		return;
	}
	if (!json_object_is_type(v, json_type_boolean)) {
		wrong_type(r, c->path, v, "a boolean");
		return;
	}
	r->status = (bool)json_object_get_boolean(v) == want ? AW_POSTURE_PASS : AW_POSTURE_FAIL;
	say(r, "%s", json_object_get_boolean(v) ? "true" : "false");
}

/* An IP rule that admits every address: any prefix of length 0, or the unspecified
 * address itself, which the services read as "any". */
static bool open_to_all(const char *rule)
{
	size_t n;

	while (isspace((unsigned char)*rule))
		rule++;
	n = strlen(rule);
	while (n > 0 && isspace((unsigned char)rule[n - 1]))
		n--;
	if (n >= 2 && rule[n - 2] == '/' && rule[n - 1] == '0')
		return true;
	return (n == 7 && strncmp(rule, "0.0.0.0", 7) == 0) ||
	       (n == 2 && strncmp(rule, "::", 2) == 0) || (n == 1 && rule[0] == '*');
}

static void eval_ip_rules(const struct aw_posture_check *c, json_object *v,
			  struct aw_posture_result *r)
{
	size_t n, open = 0;
	const char *first = NULL;

	if (!v) {
		r->status = AW_POSTURE_PASS;
		say(r, "absent (default: %s)", c->dflt);
		return;
	}
	if (!json_object_is_type(v, json_type_array)) {
		wrong_type(r, c->path, v, "an array of rules");
		return;
	}
	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(v, i), *value = NULL;
		char what[48];

		if (json_object_is_type(e, json_type_string))
			value = e;
		else if (json_object_is_type(e, json_type_object))
			value = member(e, "value", 5);
		if (!value || !json_object_is_type(value, json_type_string)) {
			snprintf(what, sizeof what, "ipRules[%zu]", i);
			wrong_type(r, what, e, "{\"value\": \"address or range\"}");
			return;
		}
		if (open_to_all(json_object_get_string(value)) && open++ == 0)
			first = json_object_get_string(value);
	}
	if (open) {
		r->status = AW_POSTURE_FAIL;
		say(r, "open to every address: %s%s", first, open > 1 ? " (and more)" : "");
		return;
	}
	r->status = AW_POSTURE_PASS;
	if (n == 0)
		say(r, "no rules");
	else
		say(r, "%zu rule%s, none open to every address", n, n == 1 ? "" : "s");
}

static void eval_private_endpoints(const struct aw_posture_check *c, json_object *v,
				   struct aw_posture_result *r)
{
	size_t n, approved = 0;
	const char *other = NULL;

	if (!v) {
		r->status = AW_POSTURE_FAIL;
		say(r, "absent (default: %s)", c->dflt);
		return;
	}
	if (!json_object_is_type(v, json_type_array)) {
		wrong_type(r, c->path, v, "an array of connections");
		return;
	}
	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		const char *st = string_at(json_object_array_get_idx(v, i),
					   "properties.privateLinkServiceConnectionState.status");

		if (st && strcasecmp(st, "Approved") == 0)
			approved++;
		else if (st && *st && !other)
			other = st;
	}
	r->status = approved ? AW_POSTURE_PASS : AW_POSTURE_FAIL;
	if (n == 0)
		say(r, "no connections");
	else if (approved)
		say(r, "%zu of %zu connection%s Approved", approved, n, n == 1 ? "" : "s");
	else if (other)
		say(r, "none Approved of %zu connection%s (%s)", n, n == 1 ? "" : "s", other);
	else
		say(r, "none Approved of %zu connection%s", n, n == 1 ? "" : "s");
}

/* "SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned" (the ARM spelling,
 * with or without the space). */
static void eval_identity(const struct aw_posture_check *c, json_object *v,
			  struct aw_posture_result *r)
{
	const char *s, *p;

	if (!v) {
		r->status = AW_POSTURE_FAIL;
		say(r, "absent (default: %s)", c->dflt);
		return;
	}
	if (!json_object_is_type(v, json_type_string)) {
		wrong_type(r, c->path, v, "a string");
		return;
	}
	s = json_object_get_string(v);
	r->status = AW_POSTURE_FAIL;
	for (p = s; *p;) {
		size_t len = strcspn(p, ",");
		const char *w = p;
		size_t wl = len;

		while (wl && isspace((unsigned char)*w))
			w++, wl--;
		while (wl && isspace((unsigned char)w[wl - 1]))
			wl--;
		if ((wl == 14 && strncasecmp(w, "SystemAssigned", 14) == 0) ||
		    (wl == 12 && strncasecmp(w, "UserAssigned", 12) == 0))
			r->status = AW_POSTURE_PASS;
		p += len;
		if (*p == ',')
			p++;
	}
	if (*s)
		say(r, "%s", s);
	else
		say(r, "\"\" (empty)");
}

/* One setting that sends at least one enabled log category (or category group) to a
 * Log Analytics workspace: metrics alone, or logs only to storage or Event Hubs, do not
 * reach the SIEM. */
static bool setting_sends_logs(json_object *s)
{
	json_object *logs;
	size_t depth;
	const char *ws = string_at(s, "properties.workspaceId");

	if (!ws || !*ws)
		return false;
	if (lookup(s, "properties.logs", &logs, &depth) != FOUND ||
	    !json_object_is_type(logs, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(logs); i++) {
		json_object *l = json_object_array_get_idx(logs, i), *en;
		const char *cat = string_at(l, "category"), *grp = string_at(l, "categoryGroup");

		if (lookup(l, "enabled", &en, &depth) != FOUND ||
		    !json_object_is_type(en, json_type_boolean) || !json_object_get_boolean(en))
			continue;
		if ((cat && *cat) || (grp && *grp))
			return true;
	}
	return false;
}

static void eval_diagnostics(const struct aw_posture_check *c, json_object *v,
			     struct aw_posture_result *r)
{
	size_t n;

	if (!v) {
		r->status = AW_POSTURE_FAIL;
		say(r, "absent (default: %s)", c->dflt);
		return;
	}
	if (!json_object_is_type(v, json_type_array)) {
		wrong_type(r, "diagnosticSettings", v, "an array of settings");
		return;
	}
	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(v, i);

		if (setting_sends_logs(s)) {
			const char *name = string_at(s, "name");

			r->status = AW_POSTURE_PASS;
			say(r, "setting '%s' sends logs to a workspace", name ? name : "(unnamed)");
			return;
		}
	}
	r->status = AW_POSTURE_FAIL;
	if (n == 0)
		say(r, "no diagnostic settings");
	else
		say(r, "%zu setting%s, none sending enabled logs to a workspace", n,
		    n == 1 ? "" : "s");
}

static void eval_named(const struct aw_posture_check *c, json_object *v,
		       struct aw_posture_result *r)
{
	const char *s;

	if (!v) {
		r->status = AW_POSTURE_FAIL;
		say(r, "absent (default: %s)", c->dflt);
		return;
	}
	if (!json_object_is_type(v, json_type_string)) {
		wrong_type(r, c->path, v, "a string");
		return;
	}
	s = json_object_get_string(v);
	while (isspace((unsigned char)*s))
		s++;
	r->status = *s ? AW_POSTURE_PASS : AW_POSTURE_FAIL;
	if (*s)
		say(r, "%s", json_object_get_string(v));
	else
		say(r, "\"%s\" (empty)", json_object_get_string(v));
}

/* ISO 8601 durations as ARM writes them: P[nY][nM][nW][nD][T[nH][nM][n[.n]S]], at
 * least one component, a T only before a time component. */
static bool iso_duration(const char *s)
{
	bool time = false, any = false;
	const char *units = "YMWD";

	if (*s != 'P' && *s != 'p')
		return false;
	s++;
	while (*s) {
		size_t digits = 0;
		bool frac = false;
		const char *u;

		if ((*s == 'T' || *s == 't') && !time) {
			time = true;
			units = "HMS";
			s++;
			if (!*s)
				return false;
			continue;
		}
		while (isdigit((unsigned char)*s))
			s++, digits++;
		if ((*s == '.' || *s == ',') && digits) {
			s++;
			frac = true;
			if (!isdigit((unsigned char)*s))
				return false;
			while (isdigit((unsigned char)*s))
				s++;
		}
		if (!digits || !*s)
			return false;
		u = strchr(units, toupper((unsigned char)*s));
		if (!u || (frac && *u != 'S'))
			return false;
		units = u + 1; /* components come in order, each once */
		any = true;
		s++;
	}
	return any;
}

static void eval_duration(const struct aw_posture_check *c, json_object *v,
			  struct aw_posture_result *r)
{
	const char *s;

	if (!v) {
		r->status = AW_POSTURE_FAIL;
		say(r, "absent (default: %s)", c->dflt);
		return;
	}
	if (!json_object_is_type(v, json_type_string)) {
		wrong_type(r, c->path, v, "an ISO 8601 duration string");
		return;
	}
	s = json_object_get_string(v);
	if (iso_duration(s)) {
		r->status = AW_POSTURE_PASS;
		say(r, "%s", s);
	} else {
		r->status = AW_POSTURE_FAIL;
		say(r, "\"%s\" is not an ISO 8601 duration", s);
	}
}

#define EPOCH_MAX 253402300799.0 /* 9999-12-31T23:59:59Z */

static void eval_epoch(const struct aw_posture_check *c, json_object *v,
		       struct aw_posture_result *r)
{
	double d;
	time_t t;
	struct tm tm;
	char when[32];

	if (!v) {
		r->status = AW_POSTURE_FAIL;
		say(r, "absent (default: %s)", c->dflt);
		return;
	}
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) {
		wrong_type(r, c->path, v, "a date in epoch seconds");
		return;
	}
	d = json_object_get_double(v);
	if (!(d > 0 && d <= EPOCH_MAX)) {
		char text[64];

		json_text(v, text, sizeof text);
		r->status = AW_POSTURE_FAIL;
		say(r, "%s is not a date in epoch seconds", text);
		return;
	}
	t = (time_t)d;
	if (!gmtime_r(&t, &tm) || !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		r->status = AW_POSTURE_FAIL;
		say(r, "%.0f is not a date in epoch seconds", d);
		return;
	}
	r->status = AW_POSTURE_PASS;
	say(r, "expires %s", when);
}

/* What the collector could not read about this resource, or NULL. */
static const char *read_error(json_object *res)
{
	json_object *meta = member(res, AW_POSTURE_META, strlen(AW_POSTURE_META)), *e;

	if (!meta || !json_object_is_type(meta, json_type_object))
		return NULL;
	e = member(meta, "error", 5);
	if (!e)
		return NULL;
	if (!json_object_is_type(e, json_type_string))
		return "the read failed";
	return *json_object_get_string(e) ? json_object_get_string(e) : NULL;
}

static void evaluate_one(const struct aw_posture_check *c, json_object *res,
			 struct aw_posture_result *r)
{
	json_object *v;
	size_t depth;
	enum lookup l = lookup(res, c->path, &v, &depth);

	if (l == NOT_OBJECT) {
		char what[96];

		snprintf(what, sizeof what, "%.*s", (int)depth, c->path);
		wrong_type(r, what, v, "an object");
		return;
	}
	if (l == ABSENT) {
		const char *err = c->separate_read ? read_error(res) : NULL;

		r->absent = true;
		if (err) {
			r->status = AW_POSTURE_UNKNOWN;
			say(r, "could not be read: %s", err);
			return;
		}
		v = NULL;
	}
	switch (c->rule) {
	case RULE_ENUM:
		eval_enum(c, v, r);
		break;
	case RULE_BOOL:
		eval_bool(c, v, r);
		break;
	case RULE_NO_OPEN_IP:
		eval_ip_rules(c, v, r);
		break;
	case RULE_APPROVED_PE:
		eval_private_endpoints(c, v, r);
		break;
	case RULE_IDENTITY:
		eval_identity(c, v, r);
		break;
	case RULE_DIAGNOSTICS:
		eval_diagnostics(c, v, r);
		break;
	case RULE_NAMED:
		eval_named(c, v, r);
		break;
	case RULE_DURATION:
		eval_duration(c, v, r);
		break;
	case RULE_EPOCH:
		eval_epoch(c, v, r);
		break;
	}
}

size_t aw_posture_evaluate(json_object *resource,
			   void (*fn)(void *ud, const struct aw_posture_result *r), void *ud)
{
	const char *type;
	size_t n = 0;

	if (!json_object_is_type(resource, json_type_object))
		return 0;
	type = string_at(resource, "type");
	if (!type)
		return 0;
	for (size_t i = 0; i < NCHECKS; i++) {
		const struct aw_posture_check *c = &checks[i];
		struct aw_posture_result r;

		if (strcasecmp(c->type, type) != 0)
			continue;
		if (c->only_path) {
			const char *v = string_at(resource, c->only_path);

			if (!v || strcasecmp(v, c->only_value) != 0)
				continue;
		}
		memset(&r, 0, sizeof r);
		r.check = c;
		r.resource = resource;
		r.status = AW_POSTURE_FAIL;
		evaluate_one(c, resource, &r);
		if (fn)
			fn(ud, &r);
		n++;
	}
	return n;
}
