/* The posture checks (posture.h): one table, a row per check, and its accessors. What
 * a row's fields mean is in posture_eval.h; posture_eval.c evaluates them.
 *
 * A row names the ARM type it applies to (compared case-insensitively: Resource Graph
 * lower-cases types), optionally narrowed by one property (a compute's computeType, a
 * pricing's name), the property path it reads and the rule it applies. An absent
 * property (or a JSON null) stands for the service default (contract §5): for enum and
 * boolean rules that default value is evaluated like any other; for the other rules the
 * row says whether "absent" passes. A check that reads something the collector reads
 * separately (diagnostic settings, the Defender pricing) is marked so: it is UNKNOWN
 * when that read failed. */
#include <stddef.h>
#include <strings.h>

#include "posture_eval.h"

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
	.rule = AW_RULE_ENUM,
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
	.rule = AW_RULE_ENUM,
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
	.rule = AW_RULE_NO_OPEN_IP,
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
	.rule = AW_RULE_BOOL,
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
	.rule = AW_RULE_APPROVED_PE,
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
	.rule = AW_RULE_IDENTITY,
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
	.rule = AW_RULE_BOOL,
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
	.rule = AW_RULE_DIAGNOSTICS,
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
	.rule = AW_RULE_NAMED,
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
	.rule = AW_RULE_ENUM,
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
	.rule = AW_RULE_ENUM,
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
	.rule = AW_RULE_DIAGNOSTICS,
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
	.rule = AW_RULE_BOOL,
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
	.rule = AW_RULE_ENUM,
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
	.rule = AW_RULE_DURATION,
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
	.rule = AW_RULE_BOOL,
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
	.rule = AW_RULE_ENUM,
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
	.rule = AW_RULE_BOOL,
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
	.rule = AW_RULE_BOOL,
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
	.rule = AW_RULE_ENUM,
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
	.rule = AW_RULE_BOOL,
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
	.rule = AW_RULE_DIAGNOSTICS,
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
	.rule = AW_RULE_EPOCH,
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
	.rule = AW_RULE_ENUM,
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
