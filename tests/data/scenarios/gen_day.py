#!/usr/bin/env python3
"""Generate the rule pack's test data: the recorded day and the per-rule fixtures.

    python3 tests/data/scenarios/gen_day.py            # writes everything below
    python3 tests/data/scenarios/gen_day.py --check    # regenerate in memory, compare with the files

Outputs (paths relative to the repository root):
  tests/data/scenarios/day.jsonl           24 hours of Log Analytics records (AzureDiagnostics for
                                           Azure OpenAI and Key Vault, AZKVAuditLogs, AzureActivity,
                                           AmlOnlineEndpointTrafficLog, SecurityAlert,
                                           SecurityRecommendation): benign traffic of a fictitious
                                           organisation, one attack campaign touching every rule
                                           family, and benign look-alikes. Sorted by TimeGenerated
                                           except a few records that arrive up to 2 minutes late.
  tests/data/scenarios/day.expected.json   {"must_alert": [{"rule_id", "min"}],
                                            "must_not_alert_on": [{"rule_id", "_ItemIds"}]}
  tests/data/rules/<rule file stem>/{positive,negative}.jsonl and expect.json

Everything is invented: GUIDs come from a seeded generator, IPs from the documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24; Azure OpenAI masks the last octet, "203.0.113.***"),
names from the fictitious "Fabrikam". Python 3 standard library only; the same seed gives the
same bytes.

Rule ids are read from conf/rules/**/<stem>.yml (the first `id:` line, which is the alerting
document of each file).
"""
import argparse
import hashlib
import json
import os
import random
import re
import sys
import uuid
from datetime import datetime, timedelta, timezone

SEED = 20250617
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
RULES_DIR = os.path.join(ROOT, "conf", "rules")
SCEN_DIR = os.path.join(ROOT, "tests", "data", "scenarios")
FIX_DIR = os.path.join(ROOT, "tests", "data", "rules")

# --- the fictitious organisation ----------------------------------------------------------

SUB = "3821c716-a424-4149-81b1-2e25523cb3c6"          # subscription
WORKSPACE = "7afe3898-aaa8-4c03-bb16-a4c9a80e006c"    # Log Analytics workspace (TenantId column)
AAD_TENANT = "c9e3b0a4-5d1f-4e62-9a7b-2f8d6c4e1b30"   # Entra tenant (claims)
AML_WS_ID = "10450442-16ae-4968-9ece-465991690eb4"

# Client applications seen in Claims.appid
APP_PORTAL = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"      # Azure Portal
APP_AI_STUDIO = "cb2ff863-7f30-4ced-ab89-a00194bcf6d9"   # AI Studio / Foundry portal
APP_ML_STUDIO = "d7304df8-741f-47d3-9bc2-df0e24e2071f"   # ML Studio
APP_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"         # Azure CLI
APP_ARG = "509e4652-da8d-478d-a730-e9d4a1996ca4"         # Azure Resource Graph (VaultGet)

ROLE_OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
ROLE_CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
ROLE_OAI_CONTRIB = "a001fd3d-188f-4b5d-821b-7da978bf7442"
ROLE_BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
ROLE_READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"


def actor(caller, oid, appid, ip, kind="User", name=None, role="Contributor"):
    return {"caller": caller, "oid": oid, "appid": appid, "ip": ip, "kind": kind,
            "name": name or caller, "role": role}


# People and workload identities. Users' Caller is the UPN, service principals' the object id.
ALICE = actor("alice.nguyen@fabrikam.example", "5f27decc-d211-4a73-a822-3b55051f797d", APP_PORTAL,
              "198.51.100.23", name="Alice Nguyen")
BOB = actor("bob.keller@fabrikam.example", "2aab5069-38c2-4374-92b8-12dd6d5f92c9", APP_AI_STUDIO,
            "198.51.100.41", name="Bob Keller")
# The compromised account used by the attacker (Azure CLI, from 192.0.2.0/24).
DANA = actor("dana.ops@fabrikam.example", "957175c3-9720-4e19-bb21-29ed7be2bab0", APP_CLI,
             "192.0.2.45", name="Dana Ops", role="Owner")
PLATFORM = actor("e3f5f69a-d58a-4a98-9d63-e0c8b32bd8db", "e3f5f69a-d58a-4a98-9d63-e0c8b32bd8db",
                 "1a342588-cf23-4a76-b745-f8e8a62a0a36", "203.0.113.10", kind="ServicePrincipal",
                 name="spn-platform-deploy", role="Owner")
FUNCAPP = actor("0d4b7f1e-8c3a-4e59-b2d6-7a1c9e5f3b82", "0d4b7f1e-8c3a-4e59-b2d6-7a1c9e5f3b82",
                "6f2e8a4c-1b7d-4c93-a5e0-3d9f7b2c8e14", "203.0.113.31", kind="ServicePrincipal",
                name="func-ingest", role="Storage Account Key Operator Service Role")
ATTACKER_SPN_OID = "3c8f1a6e-9b2d-4f7a-8e5c-1d0b6a9f2e47"  # guest / SPN the attacker grants access

# Identities in Key Vault and inference logs
CHATAPI_OID = "e2f43683-82ef-4aee-b4a9-3e9fff43629e"     # chat API (managed identity, Entra auth)
CHATAPI_APP = "b7d1e0c2-4a8f-4e3b-9c6d-5f2a1e8b7c90"
RAGIDX_OID = "e126d64b-b82f-4b59-b3a0-30ee2c1d3027"      # RAG indexer (managed identity)
RAGIDX_APP = "3e69e68d-bf94-4ff7-be0f-0a26521ce9d9"
BATCH_OID = "a4e2c9b1-7f3d-4a6e-8b5c-2d1f9e7a3c68"       # nightly summariser (managed identity)
NIGHTLY_OID = "7397c4e4-e056-4329-b7b8-5bfa150ea1c4"     # kv-nightly-backup job (allow-listed)
NIGHTLY_APP = "f8667562-6733-4d0a-8614-9531a7c2abd4"
RAGAPP_OID = "9e1c4b7a-2d5f-4f8e-a3b6-c0d7e2f1a945"      # RAG web app (reads its key from KV)
RAGAPP_APP = "4f7a2c9e-1b3d-4e6f-8a5c-7d9b0e2f4a13"
MLCLIENT_OID = "8c665eeb-696f-4537-a7f3-07cd0e8f6a1a"    # fraud-scoring client
MLCLIENT2_OID = "dbfd7152-9775-4003-a60d-45fbef60bf61"   # reporting client

NET_CORP = "198.51.100"    # office egress
NET_APP = "203.0.113"      # application NAT
NET_EVIL = "192.0.2"       # attacker

ACCOUNTS = {
    # name: (resource group, location, ARM name)
    "FABRIKAM-OAI-PROD": ("RG-AI-PROD", "eastus2", "fabrikam-oai-prod"),
    "FABRIKAM-OAI-DEV": ("RG-AI-DEV", "swedencentral", "fabrikam-oai-dev"),
    "FABRIKAM-AISVC-RAG": ("RG-AI-PROD", "eastus2", "fabrikam-aisvc-rag"),
}
DEPLOYMENTS = {
    "gpt-4o-prod": ("gpt-4o", "2024-11-20"),
    "gpt-4o-mini-batch": ("gpt-4o-mini", "2024-07-18"),
    "text-embedding-3-large": ("text-embedding-3-large", "1"),
    "gpt-4o-dev": ("gpt-4o", "2024-11-20"),
    "o3-mini-dev": ("o3-mini", "2025-01-31"),
    "gpt-41-rag": ("gpt-4.1", "2025-04-14"),
    "text-embedding-3-small": ("text-embedding-3-small", "1"),
    "gpt-45-preview": ("gpt-4.5-preview", "2025-02-27"),
}
VAULTS = {"KV-FAB-AI-PROD": "RG-SECURITY", "KV-FAB-PLATFORM": "RG-SECURITY", "KV-FAB-DEV": "RG-AI-DEV"}
ML_ENDPOINTS = {"fraud-score": ["blue", "green"], "churn-ep": ["main"]}
ML_WS = ("ws-fraud-prod", "RG-ML-PROD", "eastus2")

API_NAME = "Azure OpenAI API version 2024-10-21"
TICKS_AT_EPOCH = 621355968000000000


def ts(t):
    """ISO-8601 with 7 fractional digits, as Log Analytics returns it."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d0Z" % t.microsecond


def ticks(t):
    return TICKS_AT_EPOCH + int(round(t.timestamp() * 10**7))


def jdump(o):
    return json.dumps(o, separators=(",", ":"))


def cog_arm_id(acct):
    rg, _, arm = ACCOUNTS[acct]
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.CognitiveServices/accounts/%s" % (
        SUB, rg.lower(), arm)


def ml_arm_id(sub=None):
    name, rg, _ = ML_WS
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.MachineLearningServices/workspaces/%s" % (
        SUB, rg.lower(), name)


def kv_arm_id(vault):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.KeyVault/vaults/%s" % (
        SUB, VAULTS[vault].lower(), vault.lower())


class Gen:
    """Record builders. One instance per output file keeps every file's randomness independent."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def guid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def jitter(self, t, seconds):
        return t + timedelta(microseconds=self.rng.randrange(int(seconds * 1e6)))

    def masked(self, net):
        return net + ".***"

    # -- Azure OpenAI / AI Services (AzureDiagnostics) --

    def openai_common(self, t, acct, category, op):
        rg, loc, _ = ACCOUNTS[acct]
        rid = "/SUBSCRIPTIONS/%s/RESOURCEGROUPS/%s/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/%s" % (
            SUB.upper(), rg, acct)
        return rid, loc, {
            "TenantId": WORKSPACE, "TimeGenerated": ts(t), "ResourceId": rid, "Category": category,
            "ResourceGroup": rg, "SubscriptionId": SUB, "ResourceProvider": "MICROSOFT.COGNITIVESERVICES",
            "Resource": acct, "ResourceType": "ACCOUNTS", "OperationName": op,
        }

    def rr(self, t, acct, dep, status=200, oid="", net=NET_APP, op=None, reqlen=None, resplen=None,
           dur=None, stream=None):
        model, version = DEPLOYMENTS[dep]
        if op is None:
            op = "Embeddings_Create" if "embedding" in dep else "ChatCompletions_Create"
        embed = op == "Embeddings_Create"
        if reqlen is None:
            reqlen = self.rng.randint(600, 4200) if not embed else self.rng.randint(1500, 4800)
        if status == 200:
            if resplen is None:
                resplen = self.rng.randint(300, 4000) if not embed else self.rng.randint(20000, 40000)
            if dur is None:
                dur = self.rng.randint(350, 4500) if not embed else self.rng.randint(60, 400)
        else:
            resplen = resplen if resplen is not None else {400: 612, 401: 235, 403: 241, 429: 318}.get(status, 190)
            dur = dur if dur is not None else self.rng.randint(3, 40)
        if stream is None:
            stream = "Non-Streaming" if embed or self.rng.random() < 0.6 else "Streaming"
        rid, loc, rec = self.openai_common(t, acct, "RequestResponse", op)
        props = {"apiName": API_NAME, "requestTime": ticks(t), "requestLength": reqlen,
                 "responseTime": ticks(t + timedelta(milliseconds=dur)), "responseLength": resplen,
                 "objectId": oid, "streamType": stream, "modelDeploymentName": dep, "modelName": model,
                 "modelVersion": version}
        rec.update({"ResultSignature": str(status), "DurationMs": dur, "CallerIPAddress": self.masked(net),
                    "CorrelationId": self.guid(), "properties_s": jdump(props), "event_s": "ShoeboxCallResult",
                    "location_s": loc, "Tenant_s": loc, "SourceSystem": "Azure", "Type": "AzureDiagnostics",
                    "_ResourceId": rid.lower(), "_ItemId": self.guid()})
        return rec

    def audit_listkey(self, t, acct, oid):
        rid, loc, rec = self.openai_common(t, acct, "Audit", "ListKey")
        rec.update({"ResultSignature": "", "CallerIPAddress": "", "CorrelationId": self.guid(),
                    "properties_s": jdump({"objectId": oid}), "AssetIdentity_g": self.asset_id(acct),
                    "Tenant_s": loc, "SourceSystem": "Azure", "Type": "AzureDiagnostics",
                    "_ResourceId": rid.lower(), "_ItemId": self.guid()})
        return rec

    @staticmethod
    def asset_id(acct):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "fabrikam-asset:" + acct))

    # -- AzureActivity --

    def activity(self, t, who, action, arm_id, status="Success", substatus="OK", requestbody=None,
                 category="Administrative", corr=None, level="Informational", op_id=None, method="POST"):
        op_value = action.upper()
        provider = action.split("/")[0].upper()
        parts = arm_id.split("/")
        rg = parts[4].upper() if len(parts) > 4 and parts[3].lower() == "resourcegroups" else ""
        claims = {
            "aud": "https://management.core.windows.net/",
            "iss": "https://sts.windows.net/%s/" % AAD_TENANT,
            "iat": str(int(t.timestamp()) - 1200), "nbf": str(int(t.timestamp()) - 1200),
            "exp": str(int(t.timestamp()) + 2400),
            "appid": who["appid"], "appidacr": "0" if who["kind"] == "User" else "2",
            "http://schemas.microsoft.com/identity/claims/objectidentifier": who["oid"],
            "http://schemas.microsoft.com/identity/claims/tenantid": AAD_TENANT,
            "ipaddr": who["ip"], "ver": "1.0",
        }
        if who["kind"] == "User":
            claims.update({
                "name": who["name"],
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": who["caller"],
                "http://schemas.microsoft.com/claims/authnmethodsreferences": "pwd,mfa",
                "scp": "user_impersonation",
            })
        else:
            claims["idtyp"] = "app"
        authz = {"action": action, "scope": arm_id,
                 "evidence": {"role": who["role"], "roleAssignmentScope": "/subscriptions/" + SUB,
                              "roleAssignmentId": str(uuid.uuid5(uuid.NAMESPACE_OID, who["oid"])).replace("-", ""),
                              "roleDefinitionId": str(uuid.uuid5(uuid.NAMESPACE_DNS, who["role"])).replace("-", ""),
                              "principalId": who["oid"].replace("-", ""), "principalType": who["kind"]}}
        props = {"eventCategory": category, "entity": arm_id, "message": action,
                 "hierarchy": "%s/%s" % (AAD_TENANT, SUB), "caller": who["caller"],
                 "statusCode": {"Start": "", "Accept": "Accepted", "Success": substatus}.get(status, substatus),
                 "serviceRequestId": self.guid() if status != "Start" else ""}
        if requestbody is not None:
            props["requestbody"] = jdump(requestbody)
        props.update({"resource": arm_id.split("/")[-1], "resourceProviderValue": provider,
                      "activityStatusValue": status, "activitySubstatusValue": substatus if status != "Start" else ""})
        return {
            "TenantId": WORKSPACE, "SourceSystem": "Azure", "CallerIpAddress": who["ip"],
            "CategoryValue": category, "CorrelationId": corr or self.guid(),
            "Authorization": jdump(authz), "Claims": jdump(claims), "Level": level,
            "OperationNameValue": op_value, "Properties": jdump(props), "Caller": who["caller"],
            "EventDataId": self.guid(), "EventSubmissionTimestamp": ts(t + timedelta(seconds=2)),
            "HTTPRequest": jdump({"clientRequestId": self.guid(), "clientIpAddress": who["ip"], "method": method}),
            "OperationId": op_id or self.guid(), "ResourceGroup": rg, "ResourceProviderValue": provider,
            "ActivityStatusValue": status, "ActivitySubstatusValue": substatus if status != "Start" else "",
            "Hierarchy": "%s/%s" % (AAD_TENANT, SUB), "SubscriptionId": SUB,
            "OperationName": "", "ActivityStatus": "", "ActivitySubstatus": "", "Category": "",
            "ResourceProvider": "", "ResourceId": "", "Resource": "",
            "TimeGenerated": ts(t), "Type": "AzureActivity", "_ResourceId": arm_id.lower(),
            "_ItemId": self.guid(),
        }

    def activity_op(self, t, who, action, arm_id, requestbody=None, body_on_success=False, outcome="Success",
                    substatus="OK", method="POST"):
        """An ARM operation as Azure logs it: a Start record, then the outcome, one CorrelationId."""
        corr = self.guid()
        op_id = self.guid()
        start = self.activity(t, who, action, arm_id, status="Start", requestbody=requestbody, corr=corr,
                              op_id=op_id, method=method)
        end_t = t + timedelta(milliseconds=self.rng.randint(400, 2500))
        end = self.activity(end_t, who, action, arm_id, status=outcome,
                            substatus=substatus if outcome == "Success" else "Forbidden",
                            requestbody=requestbody if body_on_success else None, corr=corr, op_id=op_id,
                            level="Informational" if outcome == "Success" else "Error", method=method)
        return [start, end]

    # -- Key Vault --

    def kv_diag(self, t, vault, op, oid, appid, ip, secret=None, version=None, ok=True, ua=None, upn=None,
                kind="secrets"):
        rg = VAULTS[vault]
        base = "https://%s.vault.azure.net" % vault.lower()
        rid = "/SUBSCRIPTIONS/%s/RESOURCEGROUPS/%s/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/%s" % (SUB.upper(), rg, vault)
        if op == "VaultGet":
            id_s = base + "/"
            uri = "https://management.azure.com/subscriptions/%s/resourceGroups/%s/providers/Microsoft.KeyVault/vaults/%s?api-version=2023-07-01" % (
                SUB, rg.lower(), vault.lower())
        elif secret is None:
            id_s = "%s/%s" % (base, kind)
            uri = "%s/%s?api-version=7.4" % (base, kind)
        else:
            version = version or self.guid().replace("-", "")
            id_s = "%s/%s/%s/%s" % (base, kind, secret, version)
            uri = "%s/%s/%s/?api-version=7.4" % (base, kind, secret)
        rec = {
            "TenantId": WORKSPACE, "TimeGenerated": ts(t), "ResourceId": rid, "Category": "AuditEvent",
            "ResourceGroup": rg, "SubscriptionId": SUB, "ResourceProvider": "MICROSOFT.KEYVAULT",
            "Resource": vault, "ResourceType": "VAULTS", "OperationName": op,
            "ResultType": "Success" if ok else "Forbidden", "ResultSignature": "OK" if ok else "Forbidden",
            "ResultDescription": "" if ok else "Caller is not authorized to perform action on resource.",
            "DurationMs": self.rng.randint(4, 60), "CallerIPAddress": ip, "CorrelationId": self.guid(),
            "OperationVersion": "7.4", "id_s": id_s, "requestUri_s": uri,
            "clientInfo_s": ua or "azsdk-net-Security.KeyVault.Secrets/4.6.0 (.NET 8.0.4; Ubuntu 22.04.4 LTS)",
            "httpStatusCode_d": 200 if ok else 403, "isRbacAuthorized_b": ok,
            "identity_claim_oid_g": oid, "identity_claim_appid_g": appid,
        }
        if upn:
            rec["identity_claim_upn_s"] = upn
            rec["identity_claim_ipaddr_s"] = ip
        rec.update({"SourceSystem": "Azure", "Type": "AzureDiagnostics", "_ResourceId": rid.lower(),
                    "_ItemId": self.guid()})
        return rec

    def kv_rs(self, t, vault, op, oid, appid, ip, name=None, ok=True, kind="secrets", ua=None):
        """Key Vault AuditEvent in the resource-specific AZKVAuditLogs table."""
        base = "https://%s.vault.azure.net" % vault.lower()
        rid = kv_arm_id(vault).lower()
        if name:
            ident = "%s/%s/%s/%s" % (base, kind, name, self.guid().replace("-", ""))
            uri = "%s/%s/%s%s?api-version=7.4" % (base, kind, name, "/backup" if op.endswith("Backup") else "")
        else:
            ident = "%s/%s" % (base, kind)
            uri = "%s/%s?api-version=7.4" % (base, kind)
        status = 200 if ok else 403
        ua = ua or "azsdk-python-keyvault-keys/4.9.0 Python/3.11.9 (Linux-6.5.0-1025-azure-x86_64-with-glibc2.35)"
        identity = {"claim": {"oid": oid, "appid": appid, "http://schemas.microsoft.com/identity/claims/tenantid": AAD_TENANT}}
        props = {"id": ident, "requestUri": uri, "httpStatusCode": status, "clientInfo": ua,
                 "isRbacAuthorized": ok, "isAccessPolicyMatch": False}
        return {
            "TenantId": WORKSPACE, "TimeGenerated": ts(t), "ResultType": "Success" if ok else "Forbidden",
            "OperationName": op, "ResultDescription": "", "CorrelationId": self.guid(), "CallerIpAddress": ip,
            "OperationVersion": "7.4", "Identity": jdump(identity), "Properties": jdump(props), "Id": ident,
            "ClientInfo": ua, "SubnetId": "", "HttpStatusCode": status, "RequestUri": uri,
            "IsAddressAuthorized": False, "AddressAuthorizationType": "", "IsAccessPolicyMatch": False,
            "IsRbacAuthorized": ok, "Tlsversion": "TLS1_3", "ResultSignature": "OK" if ok else "Forbidden",
            "DurationMs": self.rng.randint(5, 80), "SourceSystem": "Azure", "Type": "AZKVAuditLogs",
            "_ResourceId": rid, "_ItemId": self.guid(),
        }

    # -- Azure ML online endpoint traffic --

    def aml(self, t, endpoint, deployment=None, code=200, auth="AADToken", identity="", ua=None):
        name, rg, loc = ML_WS
        deployment = deployment or self.rng.choice(ML_ENDPOINTS[endpoint])
        reqsz = self.rng.randint(300, 2400)
        if code == 200:
            model_code, model_reason = 200, "OK"
            req_ms, resp_ms = self.rng.randint(1, 4), self.rng.randint(1, 3)
            model_ms = self.rng.randint(12, 180)
            respsz = self.rng.randint(60, 900)
        else:
            model_code, model_reason = 0, ""
            req_ms, resp_ms, model_ms = 1, 0, 0
            respsz = {401: 57, 403: 62, 429: 88}.get(code, 120)
        reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests",
                  502: "Bad Gateway"}.get(code, "")
        return {
            "TenantId": WORKSPACE, "TimeGenerated": ts(t), "AzureMLWorkspaceId": AML_WS_ID,
            "AzureMLWorkspaceName": name, "EndpointName": endpoint, "DeploymentName": deployment,
            "Location": loc, "Method": "POST", "Path": "/score", "Protocol": "HTTP/1.1",
            "AuthType": auth, "IdentityData": identity, "ResponseCode": code, "ResponseCodeReason": reason,
            "ModelStatusCode": model_code, "ModelStatusReason": model_reason,
            "RequestPayloadSize": reqsz, "ResponsePayloadSize": respsz,
            "RequestDurationMs": req_ms, "ResponseDurationMs": resp_ms,
            "TotalDurationMs": req_ms + resp_ms + model_ms,
            "RequestThrottlingDelayMs": 0, "ResponseThrottlingDelayMs": 0,
            "UserAgent": ua if ua is not None else FRAUD_UA,
            "XRequestId": self.guid(), "XMSClientRequestId": self.guid(),
            "OperationName": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score",
            "SourceSystem": "Azure", "Type": "AmlOnlineEndpointTrafficLog",
            "_ResourceId": (ml_arm_id() + "/onlineEndpoints/" + endpoint).lower(),
            "_SubscriptionId": SUB, "_ItemId": self.guid(),
        }

    # -- Defender for Cloud --

    def alert(self, t, alert_type, display, severity, resource_arm, compromised, status="New",
              system_id=None, provider="Azure Security Center", component="AI", tactics="DefenseEvasion",
              techniques="", extended=None, entities=None, description=None):
        system_id = system_id or self.guid()
        ext = {"resourceType": "Azure AI Services", "alert schema version": "2.0"}
        ext.update(extended or {})
        ents = entities if entities is not None else [
            {"$id": "2", "ResourceId": resource_arm, "Type": "azure-resource"},
        ]
        return {
            "TenantId": WORKSPACE, "TimeGenerated": ts(t), "DisplayName": display, "AlertName": display,
            "AlertSeverity": severity, "Description": description or display + ".",
            "ProviderName": provider, "VendorName": "Microsoft",
            "VendorOriginalId": system_id, "SystemAlertId": system_id, "ResourceId": resource_arm,
            "SourceComputerId": "", "AlertType": alert_type, "ConfidenceLevel": "", "ConfidenceScore": None,
            "IsIncident": False, "StartTime": ts(t - timedelta(minutes=3)), "EndTime": ts(t - timedelta(minutes=2)),
            "ProcessingEndTime": ts(t), "RemediationSteps": jdump(["Review the alert and the affected resource."]),
            "ExtendedProperties": jdump(ext), "Entities": jdump(ents), "SourceSystem": "Detection",
            "WorkspaceSubscriptionId": SUB, "WorkspaceResourceGroup": "rg-security", "ExtendedLinks": "",
            "ProductName": "Azure Security Center" if provider != "ASI Scheduled Alerts" else "Azure Sentinel",
            "ProductComponentName": component,
            "AlertLink": "https://portal.azure.com/#blade/Microsoft_Azure_Security_AzureDefenderForData/AlertBlade/alertId/%s" % system_id,
            "Status": status, "CompromisedEntity": compromised, "Tactics": tactics, "Techniques": techniques,
            "Type": "SecurityAlert", "_ItemId": self.guid(),
        }

    def recommendation(self, t, display, resource_arm, state="Unhealthy", severity="Medium"):
        return {
            "TenantId": WORKSPACE, "ResourceTenantId": AAD_TENANT, "RecommendationId": self.guid(),
            "RecommendationName": str(uuid.uuid5(uuid.NAMESPACE_URL, display)), "RecommendationDisplayName": display,
            "ProviderName": "Microsoft", "Description": display + ".", "RemediationDescription": "See the recommendation.",
            "RecommendationState": state, "TimeGenerated": ts(t), "DiscoveredTimeUTC": ts(t - timedelta(days=12)),
            "ResolvedTimeUTC": None, "PolicyDefinitionId": "", "RecommendationSeverity": severity,
            "NotApplicableReason": "", "AgentId": "", "AssessedResourceId": resource_arm, "DeviceId": "",
            "ResourceRegion": "eastus2", "SourceSystem": "Azure", "RecommendationLink": "",
            "IsSnapshot": True, "RecommendationAdditionalData": "{}",
            "FirstEvaluationDate": ts(t - timedelta(days=12)), "StatusChangeDate": ts(t - timedelta(days=12)),
            "Type": "SecurityRecommendation", "_ItemId": self.guid(),
        }


# --- per-rule fixtures ---------------------------------------------------------------------

def at(base, minutes=0.0, seconds=0.0, days=0, hours=0.0):
    return base + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


FX = datetime(2025, 6, 10, 8, 0, 0, tzinfo=timezone.utc)        # fixture day
LEARN0 = datetime(2025, 6, 1, 0, 10, 0, tzinfo=timezone.utc)    # first_seen fixtures start here
AFTER = datetime(2025, 6, 9, 10, 0, 0, tzinfo=timezone.utc)     # well after a 7-day learning period

APP_PWSH = "1950a258-227b-4e31-a9cf-717495945fc2"   # Azure PowerShell
AUTOMATION = actor("5b2e9d71-3c4a-4f86-b1e0-8a7d6c5f4e29", "5b2e9d71-3c4a-4f86-b1e0-8a7d6c5f4e29",
                   "d3a9f1c7-6e2b-4b58-9f0d-1c7e4a8b2d65", "203.0.113.77", kind="ServicePrincipal",
                   name="spn-unknown-automation", role="Contributor")
MALLORY_PS = actor("erin.contractor@fabrikam.example", "6e4c2a19-8b7d-4f3e-a5c1-0d9b8e7f6a54", APP_PWSH,
                   "192.0.2.77", name="Erin Contractor")
ML_STUDIO_USER = actor("carol.ds@fabrikam.example", "4d8b6f2a-1e3c-4a7d-9b5e-6c0f2a8d1e73", APP_ML_STUDIO,
                       "198.51.100.58", name="Carol DS")
STORAGE_ID = "/subscriptions/%s/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stfabrikamdata" % SUB


def ml_endpoint_arm(name):
    return ml_arm_id() + "/onlineEndpoints/" + name


def fx_keys_listed_by_unusual_app(g):
    pos, neg = [], []
    pos += g.activity_op(at(FX, 5), DANA, "Microsoft.CognitiveServices/accounts/listKeys/action",
                         cog_arm_id("FABRIKAM-OAI-PROD"))
    pos += g.activity_op(at(FX, 20), MALLORY_PS, "Microsoft.CognitiveServices/accounts/regenerateKey/action",
                         cog_arm_id("FABRIKAM-AISVC-RAG"), requestbody={"keyName": "Key2"})
    pos += g.activity_op(at(FX, 40), AUTOMATION,
                         "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/listKeys/action",
                         ml_endpoint_arm("fraud-score"))
    neg += g.activity_op(at(FX, 2), ALICE, "Microsoft.CognitiveServices/accounts/listKeys/action",
                         cog_arm_id("FABRIKAM-OAI-PROD"))
    neg += g.activity_op(at(FX, 12), BOB, "Microsoft.CognitiveServices/accounts/listKeys/action",
                         cog_arm_id("FABRIKAM-AISVC-RAG"))
    neg += g.activity_op(at(FX, 25), ML_STUDIO_USER, "Microsoft.MachineLearningServices/workspaces/listKeys/action",
                         ml_arm_id())
    neg += g.activity_op(at(FX, 31), DANA, "Microsoft.CognitiveServices/accounts/listKeys/action",
                         cog_arm_id("FABRIKAM-OAI-DEV"), outcome="Failed")
    neg += g.activity_op(at(FX, 44), DANA, "Microsoft.Storage/storageAccounts/listKeys/action", STORAGE_ID)
    neg += g.activity_op(at(FX, 50), AUTOMATION,
                         "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/token/action",
                         ml_endpoint_arm("fraud-score"))
    return pos, neg, 3, 3


def fx_keys_listed_across_many(g):
    pos, neg = [], []
    for i, acct in enumerate(["FABRIKAM-OAI-PROD", "FABRIKAM-OAI-DEV", "FABRIKAM-AISVC-RAG"]):
        pos += g.activity_op(at(FX, 3 + 4 * i), DANA, "Microsoft.CognitiveServices/accounts/listKeys/action",
                             cog_arm_id(acct))
    # Alice: two accounts in the portal, the third two hours later.
    neg += g.activity_op(at(FX, 1), ALICE, "Microsoft.CognitiveServices/accounts/listKeys/action",
                         cog_arm_id("FABRIKAM-OAI-PROD"))
    neg += g.activity_op(at(FX, 6), ALICE, "Microsoft.CognitiveServices/accounts/listKeys/action",
                         cog_arm_id("FABRIKAM-OAI-DEV"))
    neg += g.activity_op(at(FX, 130), ALICE, "Microsoft.CognitiveServices/accounts/listKeys/action",
                         cog_arm_id("FABRIKAM-AISVC-RAG"))
    # Bob: the same account three times.
    for i in range(3):
        neg += g.activity_op(at(FX, 10 + 7 * i), BOB, "Microsoft.CognitiveServices/accounts/listKeys/action",
                             cog_arm_id("FABRIKAM-OAI-DEV"))
    # Automation: three accounts, every call refused.
    for i, acct in enumerate(["FABRIKAM-OAI-PROD", "FABRIKAM-OAI-DEV", "FABRIKAM-AISVC-RAG"]):
        neg += g.activity_op(at(FX, 40 + i), AUTOMATION, "Microsoft.CognitiveServices/accounts/listKeys/action",
                             cog_arm_id(acct), outcome="Failed")
    return pos, neg, 1, 1


def fx_keys_listed_repeatedly(g):
    pos, neg = [], []
    for i in range(12):
        pos.append(g.audit_listkey(at(FX, 2 + 1.5 * i, seconds=g.rng.randint(0, 40)), "FABRIKAM-OAI-DEV", DANA["oid"]))
    for i in range(9):
        neg.append(g.audit_listkey(at(FX, 5 + 6 * i), "FABRIKAM-OAI-DEV", ALICE["oid"]))
    for i in range(10):
        neg.append(g.audit_listkey(at(FX, 0, hours=3 + 0.3 * i), "FABRIKAM-OAI-PROD", BOB["oid"]))
    for i in range(12):
        neg.append(g.rr(at(FX, 80 + i), "FABRIKAM-OAI-DEV", "gpt-4o-dev", net=NET_CORP))
    return pos, neg, 1, 1


def learning_key_traffic(g, acct, dep, nets, start=LEARN0, days=8, per_day=3):
    """Key-authenticated traffic during and after a first_seen learning period."""
    out = []
    for d in range(days):
        for k in range(per_day):
            net = nets[(d * per_day + k) % len(nets)]
            out.append(g.rr(at(start, days=d, hours=2 + 7 * k, minutes=g.rng.randint(0, 50)), acct, dep, net=net))
    return out


def fx_key_use_from_new_network(g):
    pos = learning_key_traffic(g, "FABRIKAM-AISVC-RAG", "gpt-41-rag", [NET_APP, NET_APP, NET_CORP])
    for i in range(3):
        pos.append(g.rr(at(AFTER, 3 * i), "FABRIKAM-AISVC-RAG", "gpt-41-rag", net=NET_EVIL))
    neg = learning_key_traffic(g, "FABRIKAM-AISVC-RAG", "gpt-41-rag", [NET_APP, NET_CORP])
    # A network first seen during the learning period is learnt, not alerted on later.
    neg += learning_key_traffic(g, "FABRIKAM-OAI-DEV", "gpt-4o-dev", [NET_CORP, NET_EVIL])
    neg.append(g.rr(at(AFTER, 1), "FABRIKAM-OAI-DEV", "gpt-4o-dev", net=NET_EVIL))
    # After learning, on the account that never saw 192.0.2.0/24: Entra-authenticated calls and
    # refused key calls from it are not key use.
    neg.append(g.rr(at(AFTER, 5), "FABRIKAM-AISVC-RAG", "gpt-41-rag", net=NET_EVIL, oid=CHATAPI_OID))
    neg.append(g.rr(at(AFTER, 6), "FABRIKAM-AISVC-RAG", "gpt-41-rag", net=NET_EVIL, status=401))
    neg.append(g.rr(at(AFTER, 7), "FABRIKAM-AISVC-RAG", "gpt-41-rag", net=NET_EVIL, status=403))
    neg.append(g.rr(at(AFTER, 8), "FABRIKAM-AISVC-RAG", "gpt-41-rag", net=NET_APP))
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


def fx_key_listed_then_used(g):
    pos = learning_key_traffic(g, "FABRIKAM-OAI-PROD", "gpt-4o-prod", [NET_APP])
    pos += g.activity_op(at(AFTER, 0), DANA, "Microsoft.CognitiveServices/accounts/listKeys/action",
                         cog_arm_id("FABRIKAM-OAI-PROD"))
    for i in range(3):
        pos.append(g.rr(at(AFTER, 20 + 2 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", net=NET_EVIL))
    neg = []
    # Wrong order: key used from a new network first, keys listed afterwards.
    neg += learning_key_traffic(g, "FABRIKAM-OAI-DEV", "gpt-4o-dev", [NET_CORP])
    neg.append(g.rr(at(AFTER, -60), "FABRIKAM-OAI-DEV", "gpt-4o-dev", net=NET_EVIL))
    neg += g.activity_op(at(AFTER, -30), DANA, "Microsoft.CognitiveServices/accounts/listKeys/action",
                         cog_arm_id("FABRIKAM-OAI-DEV"))
    neg.append(g.rr(at(AFTER, -10), "FABRIKAM-OAI-DEV", "gpt-4o-dev", net=NET_EVIL))
    # Listing, then the new network only 30 hours later.
    neg += learning_key_traffic(g, "FABRIKAM-AISVC-RAG", "gpt-41-rag", [NET_APP])
    neg += g.activity_op(at(AFTER, 0, hours=-26), DANA, "Microsoft.CognitiveServices/accounts/listKeys/action",
                         cog_arm_id("FABRIKAM-AISVC-RAG"))
    neg.append(g.rr(at(AFTER, 0, hours=4), "FABRIKAM-AISVC-RAG", "gpt-41-rag", net=NET_EVIL))
    # Listing followed by key use from the account's usual network.
    neg += learning_key_traffic(g, "FABRIKAM-OAI-PROD", "gpt-4o-prod", [NET_APP])
    neg += g.activity_op(at(AFTER, 60), ALICE, "Microsoft.CognitiveServices/accounts/listKeys/action",
                         cog_arm_id("FABRIKAM-OAI-PROD"))
    neg.append(g.rr(at(AFTER, 70), "FABRIKAM-OAI-PROD", "gpt-4o-prod", net=NET_APP))
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


def fx_openai_auth_failure_burst(g):
    pos = [g.rr(at(FX, 0, seconds=14 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", status=401, net=NET_EVIL)
           for i in range(25)]
    neg = [g.rr(at(FX, 0, seconds=30 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", status=401 if i % 3 else 403,
                net=NET_EVIL) for i in range(19)]
    neg += [g.rr(at(FX, 30 + 2.4 * i), "FABRIKAM-OAI-DEV", "gpt-4o-dev", status=401, net=NET_CORP)
            for i in range(25)]
    neg += [g.rr(at(FX, 100, seconds=10 * i), "FABRIKAM-AISVC-RAG", "gpt-41-rag", status=429, net=NET_APP)
            for i in range(25)]
    for i in range(10):
        neg.append(g.rr(at(FX, 140, seconds=20 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", status=401, net=NET_EVIL))
        neg.append(g.rr(at(FX, 140, seconds=20 * i + 5), "FABRIKAM-OAI-DEV", "gpt-4o-dev", status=401, net=NET_EVIL))
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


def fx_ml_auth_failure_burst(g):
    pos = [g.aml(at(FX, 0, seconds=13 * i), "fraud-score", code=401 if i % 4 else 403, auth="Key",
                 ua="python-requests/2.31.0") for i in range(22)]
    neg = [g.aml(at(FX, 0, seconds=31 * i), "fraud-score", code=401, auth="Key", ua="python-requests/2.31.0")
           for i in range(19)]
    for i in range(12):
        neg.append(g.aml(at(FX, 40, seconds=25 * i), "fraud-score", code=401, auth="Key", ua="python-requests/2.31.0"))
        neg.append(g.aml(at(FX, 40, seconds=25 * i + 3), "churn-ep", code=401, auth="Key", ua="python-requests/2.31.0"))
    neg += [g.aml(at(FX, 70, seconds=9 * i), "churn-ep", code=429, auth="Key",
                  ua="fabrikam-churn/3.4.0 (Java/17.0.11)") for i in range(25)]
    neg += [g.aml(at(FX, 90, seconds=9 * i), "fraud-score", identity=MLCLIENT_OID) for i in range(25)]
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


def fx_large_prompt_volume(g):
    pos = [g.rr(at(FX, 0, seconds=1.1 * i), "FABRIKAM-AISVC-RAG", "gpt-41-rag", net=NET_EVIL,
                reqlen=12000 + g.rng.randint(0, 200)) for i in range(45)]
    neg = [g.rr(at(FX, 10, seconds=0.55 * i), "FABRIKAM-AISVC-RAG", "gpt-41-rag", net=NET_APP, reqlen=4900)
           for i in range(100)]
    neg += [g.rr(at(FX, 20, seconds=1.4 * i), "FABRIKAM-AISVC-RAG", "gpt-41-rag", net=NET_APP, reqlen=12000)
            for i in range(40)]
    neg += [g.rr(at(FX, 30, seconds=4 * i), "FABRIKAM-AISVC-RAG", "gpt-41-rag", net=NET_APP, reqlen=12000)
            for i in range(45)]
    neg += [g.rr(at(FX, 50, seconds=1.1 * i), "FABRIKAM-AISVC-RAG", "text-embedding-3-small", net=NET_APP,
                 reqlen=12000) for i in range(50)]
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


def fx_zero_length(g):
    pos = [g.rr(at(FX, 4.5 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", oid=CHATAPI_OID, resplen=0, stream="Non-Streaming")
           for i in range(11)]
    neg = [g.rr(at(FX, 70 + 6 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", oid=CHATAPI_OID, resplen=0)
           for i in range(9)]
    neg += [g.rr(at(FX, 150 + 3 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", oid=CHATAPI_OID, status=429, resplen=0)
            for i in range(12)]
    neg += [g.rr(at(FX, 200 + 3 * i), "FABRIKAM-OAI-PROD", "text-embedding-3-large", oid=RAGIDX_OID, resplen=0)
            for i in range(12)]
    neg += [g.rr(at(FX, 0, hours=5 + 0.5 * i), "FABRIKAM-OAI-DEV", "gpt-4o-dev", net=NET_CORP, resplen=0)
            for i in range(12)]
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


def learning_ml_traffic(g, endpoint, callers, start=LEARN0, days=8, per_day=3):
    out = []
    for d in range(days):
        for k in range(per_day):
            auth, ident, ua = callers[(d * per_day + k) % len(callers)]
            out.append(g.aml(at(start, days=d, hours=1 + 7 * k, minutes=g.rng.randint(0, 50)), endpoint,
                             auth=auth, identity=ident, ua=ua))
    return out


FRAUD_UA = "azureml-fraud-client/2.3.1 python-requests/2.32.3"
CHURN_UA = "fabrikam-churn/3.4.0 (Java/17.0.11)"


def fx_ml_new_identity(g):
    callers = [("AADToken", MLCLIENT_OID, FRAUD_UA), ("AMLToken", MLCLIENT2_OID, FRAUD_UA)]
    pos = learning_ml_traffic(g, "fraud-score", callers)
    pos += [g.aml(at(AFTER, 2 * i), "fraud-score", auth="AADToken", identity=DANA["oid"], ua="curl/8.5.0")
            for i in range(3)]
    neg = learning_ml_traffic(g, "fraud-score", callers + [("AADToken", DANA["oid"], "curl/8.5.0")])
    neg += [g.aml(at(AFTER, 2 * i), "fraud-score", auth=c[0], identity=c[1], ua=c[2])
            for i, c in enumerate(callers * 2)]
    neg.append(g.aml(at(AFTER, 20), "fraud-score", auth="AADToken", identity=DANA["oid"], ua="curl/8.5.0"))
    neg.append(g.aml(at(AFTER, 30), "fraud-score", auth="Key", identity="", ua="python-requests/2.31.0"))
    # An endpoint seen for the first time learns first.
    neg += [g.aml(at(AFTER, 40 + i), "churn-ep", auth="AADToken", identity=MLCLIENT2_OID, ua=CHURN_UA)
            for i in range(3)]
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


def fx_ml_new_user_agent(g):
    callers = [("Key", "", CHURN_UA)]
    pos = learning_ml_traffic(g, "churn-ep", callers)
    pos += [g.aml(at(AFTER, 2 * i), "churn-ep", auth="Key", ua="python-requests/2.31.0") for i in range(3)]
    neg = learning_ml_traffic(g, "churn-ep", callers + [("Key", "", "PostmanRuntime/7.39.0")])
    neg += [g.aml(at(AFTER, 2 * i), "churn-ep", auth="Key", ua=ua)
            for i, ua in enumerate([CHURN_UA, "PostmanRuntime/7.39.0", CHURN_UA])]
    neg.append(g.aml(at(AFTER, 30), "churn-ep", auth="Key", ua=""))
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


def fx_rate_limit_storm(g):
    pos = [g.rr(at(FX, 0, seconds=4 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", status=429, net=NET_EVIL)
           for i in range(60)]
    neg = [g.rr(at(FX, 20, seconds=6 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", status=429, oid=CHATAPI_OID)
           for i in range(49)]
    for i in range(30):
        neg.append(g.rr(at(FX, 40, seconds=9 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", status=429, oid=CHATAPI_OID))
        neg.append(g.rr(at(FX, 40, seconds=9 * i + 2), "FABRIKAM-OAI-PROD", "gpt-4o-mini-batch", status=429,
                        oid=BATCH_OID))
    neg += [g.rr(at(FX, 60, seconds=30 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", status=429, oid=CHATAPI_OID)
            for i in range(60)]
    neg += [g.rr(at(FX, 100, seconds=4 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", status=400, oid=CHATAPI_OID)
            for i in range(60)]
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


def steady_429(g, start, acct, dep, per_bucket, buckets, oid=""):
    out = []
    for b in range(buckets):
        for k in range(per_bucket):
            out.append(g.rr(at(start, 5 * b, seconds=(300.0 / per_bucket) * k + g.rng.uniform(0, 5)), acct, dep,
                            status=429, oid=oid, net=NET_APP))
    return out


def fx_rate_limit_baseline(g):
    pos = steady_429(g, FX, "FABRIKAM-OAI-PROD", "gpt-4o-prod", 2, 30, oid=CHATAPI_OID)
    pos += [g.rr(at(FX, 150, seconds=30 + 5 * i), "FABRIKAM-OAI-PROD", "gpt-4o-prod", status=429, net=NET_EVIL)
            for i in range(40)]
    pos += steady_429(g, at(FX, 155), "FABRIKAM-OAI-PROD", "gpt-4o-prod", 2, 3, oid=CHATAPI_OID)
    pos.sort(key=lambda r: r["TimeGenerated"])
    neg = steady_429(g, FX, "FABRIKAM-OAI-PROD", "gpt-4o-mini-batch", 15, 30, oid=BATCH_OID)
    neg += [g.rr(at(FX, 150, seconds=4 * i + 1), "FABRIKAM-OAI-PROD", "gpt-4o-mini-batch", status=429, oid=BATCH_OID)
            for i in range(60)]
    neg += steady_429(g, at(FX, 155), "FABRIKAM-OAI-PROD", "gpt-4o-mini-batch", 15, 3, oid=BATCH_OID)
    neg += steady_429(g, FX, "FABRIKAM-AISVC-RAG", "gpt-41-rag", 1, 30)
    neg += [g.rr(at(FX, 150, seconds=10 * i + 2), "FABRIKAM-AISVC-RAG", "gpt-41-rag", status=429, net=NET_APP)
            for i in range(15)]
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


AI_VAULT = "KV-FAB-AI-PROD"
SECRET_NAMES = ["aoai-prod-key1", "aoai-prod-key2", "aoai-dev-key1", "aisvc-rag-key1", "search-admin-key",
                "search-query-key", "cosmos-chat-conn", "cosmos-rag-conn", "sql-features-conn", "redis-cache-conn",
                "storage-docs-conn", "storage-ml-conn", "eventhub-telemetry-conn", "aml-fraud-ep-key",
                "aml-churn-ep-key", "apim-subscription-key", "bing-grounding-key", "speech-key",
                "translator-key", "docintel-key"] + ["app-secret-%02d" % i for i in range(44)]
DANA_UA = "azsdk-python-keyvault-secrets/4.8.0 Python/3.11.9 (Linux-6.8.0-31-generic-x86_64-with-glibc2.39)"
CHAT_UA = "azsdk-net-Security.KeyVault.Secrets/4.6.0 (.NET 8.0.4; Ubuntu 22.04.4 LTS)"
NIGHTLY_UA = "azsdk-go-azsecrets/v1.1.0 (go1.22.3; linux)"


def fx_kv_mass_retrieval(g):
    pos = [g.kv_diag(at(FX, 0, seconds=20 * i), AI_VAULT, "SecretGet", DANA["oid"], APP_CLI, DANA["ip"],
                     secret=SECRET_NAMES[i], ua=DANA_UA, upn=DANA["caller"]) for i in range(25)]
    neg = [g.kv_diag(at(FX, 10, seconds=4 * i), AI_VAULT, "SecretGet", NIGHTLY_OID, NIGHTLY_APP, "203.0.113.50",
                     secret=SECRET_NAMES[i], ua=NIGHTLY_UA) for i in range(60)]
    neg += [g.kv_diag(at(FX, 30, seconds=150 * i), AI_VAULT, "SecretGet", BOB["oid"], APP_CLI, BOB["ip"],
                      secret=SECRET_NAMES[i], upn=BOB["caller"]) for i in range(19)]
    neg += [g.kv_diag(at(FX, 100, seconds=40 * i), AI_VAULT, "SecretGet", CHATAPI_OID, CHATAPI_APP, "203.0.113.12",
                      secret=SECRET_NAMES[4 + i % 3], version="%032x" % (i % 3 + 7), ua=CHAT_UA) for i in range(30)]
    neg += [g.kv_diag(at(FX, 0, hours=4 + 0.2 * i), AI_VAULT, "SecretGet", ALICE["oid"], APP_PORTAL, ALICE["ip"],
                      secret=SECRET_NAMES[i], upn=ALICE["caller"]) for i in range(25)]
    neg += [g.kv_diag(at(FX, 0, hours=10, seconds=10 * i), AI_VAULT, "SecretGet", DANA["oid"], APP_CLI, DANA["ip"],
                      secret=SECRET_NAMES[i], ok=False, ua=DANA_UA, upn=DANA["caller"]) for i in range(25)]
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


def kv_learning(g, vault, readers, start=LEARN0, days=8):
    out = []
    for d in range(days):
        for k, (oid, app, ip) in enumerate(readers):
            out.append(g.kv_diag(at(start, days=d, hours=3 + 5 * k, minutes=g.rng.randint(0, 50)), vault,
                                 "SecretGet", oid, app, ip, secret=SECRET_NAMES[k], ua=CHAT_UA))
    return out


def fx_kv_new_identity(g):
    readers = [(CHATAPI_OID, CHATAPI_APP, "203.0.113.12"), (RAGAPP_OID, RAGAPP_APP, "203.0.113.14")]
    pos = kv_learning(g, AI_VAULT, readers)
    pos += [g.kv_diag(at(AFTER, 3 * i), AI_VAULT, "SecretGet", DANA["oid"], APP_CLI, DANA["ip"],
                      secret=SECRET_NAMES[i], ua=DANA_UA, upn=DANA["caller"]) for i in range(3)]
    neg = kv_learning(g, AI_VAULT, readers + [(NIGHTLY_OID, NIGHTLY_APP, "203.0.113.50")])
    neg += [g.kv_diag(at(AFTER, 2 * i), AI_VAULT, "SecretGet", r[0], r[1], r[2], secret=SECRET_NAMES[i])
            for i, r in enumerate(readers + [(NIGHTLY_OID, NIGHTLY_APP, "203.0.113.50")])]
    neg.append(g.kv_diag(at(AFTER, 20), AI_VAULT, "SecretGet", DANA["oid"], APP_CLI, DANA["ip"],
                         secret="aoai-prod-key1", ok=False, upn=DANA["caller"]))
    neg.append(g.kv_diag(at(AFTER, 21), AI_VAULT, "SecretList", DANA["oid"], APP_CLI, DANA["ip"], upn=DANA["caller"]))
    # A vault seen for the first time learns first.
    neg += [g.kv_diag(at(AFTER, 30 + i), "KV-FAB-DEV", "SecretGet", DANA["oid"], APP_CLI, DANA["ip"],
                      secret=SECRET_NAMES[i], upn=DANA["caller"]) for i in range(2)]
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


def fx_kv_sensitive(g):
    pos = [
        g.kv_diag(at(FX, 1), AI_VAULT, "SecretDelete", DANA["oid"], APP_CLI, DANA["ip"], secret="aoai-prod-key1",
                  upn=DANA["caller"]),
        g.kv_diag(at(FX, 3), AI_VAULT, "SecretPurge", DANA["oid"], APP_CLI, DANA["ip"], secret="aoai-prod-key1",
                  upn=DANA["caller"]),
        g.kv_diag(at(FX, 5), AI_VAULT, "SecretBackup", DANA["oid"], APP_CLI, DANA["ip"], secret="aisvc-rag-key1",
                  upn=DANA["caller"]),
        g.kv_rs(at(FX, 7), "KV-FAB-PLATFORM", "KeyBackup", DANA["oid"], APP_CLI, DANA["ip"], name="cmk-storage",
                kind="keys"),
        g.kv_diag(at(FX, 9), AI_VAULT, "VaultDelete", DANA["oid"], APP_CLI, DANA["ip"], upn=DANA["caller"]),
    ]
    neg = [
        g.kv_diag(at(FX, 20), AI_VAULT, "SecretGet", CHATAPI_OID, CHATAPI_APP, "203.0.113.12", secret="search-admin-key"),
        g.kv_diag(at(FX, 21), AI_VAULT, "SecretSet", PLATFORM["oid"], PLATFORM["appid"], PLATFORM["ip"],
                  secret="aoai-prod-key2"),
        g.kv_diag(at(FX, 22), AI_VAULT, "SecretList", BOB["oid"], APP_CLI, BOB["ip"], upn=BOB["caller"]),
        g.kv_rs(at(FX, 23), "KV-FAB-PLATFORM", "KeyCreate", PLATFORM["oid"], PLATFORM["appid"], PLATFORM["ip"],
                name="cmk-storage", kind="keys"),
        g.kv_diag(at(FX, 24), AI_VAULT, "SecretDelete", BOB["oid"], APP_CLI, BOB["ip"], secret="aoai-dev-key1",
                  ok=False, upn=BOB["caller"]),
        g.kv_rs(at(FX, 25), "KV-FAB-PLATFORM", "KeyPurge", BOB["oid"], APP_CLI, BOB["ip"], name="cmk-old",
                kind="keys", ok=False),
        g.kv_diag(at(FX, 26), AI_VAULT, "SecretRestore", PLATFORM["oid"], PLATFORM["appid"], PLATFORM["ip"],
                  secret="aoai-prod-key1"),
    ]
    return pos, neg, 5, 5


def role_body(g, principal, role_id, scope, principal_type="User"):
    return {"Id": g.guid(), "Properties": {
        "PrincipalId": principal, "PrincipalType": principal_type,
        "RoleDefinitionId": "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (SUB, role_id),
        "Scope": scope, "Condition": None, "ConditionVersion": None}}


def role_assign(g, t, who, principal, role_id, scope, outcome="Success", ptype="ServicePrincipal"):
    ra = "%s/providers/Microsoft.Authorization/roleAssignments/%s" % (scope, g.guid())
    return g.activity_op(t, who, "Microsoft.Authorization/roleAssignments/write", ra,
                         requestbody=role_body(g, principal, role_id, scope, ptype), body_on_success=True,
                         outcome=outcome, substatus="Created", method="PUT")


def fx_role_assignment(g):
    pos = role_assign(g, at(FX, 1), DANA, ATTACKER_SPN_OID, ROLE_OAI_CONTRIB, cog_arm_id("FABRIKAM-OAI-PROD"))
    pos += role_assign(g, at(FX, 5), DANA, ATTACKER_SPN_OID, ROLE_OWNER, "/subscriptions/" + SUB)
    pos += role_assign(g, at(FX, 9), DANA, ATTACKER_SPN_OID, ROLE_READER, kv_arm_id(AI_VAULT))
    neg = role_assign(g, at(FX, 30), PLATFORM, FUNCAPP["oid"], ROLE_BLOB_READER, STORAGE_ID)
    neg += role_assign(g, at(FX, 35), PLATFORM, BOB["oid"], ROLE_READER,
                       "/subscriptions/%s/resourceGroups/rg-data" % SUB, ptype="User")
    neg += role_assign(g, at(FX, 40), DANA, ATTACKER_SPN_OID, ROLE_OWNER, cog_arm_id("FABRIKAM-OAI-DEV"),
                       outcome="Failed")
    neg += g.activity_op(at(FX, 45), PLATFORM, "Microsoft.Authorization/roleAssignments/delete",
                         "%s/providers/Microsoft.Authorization/roleAssignments/%s" % (cog_arm_id("FABRIKAM-OAI-PROD"),
                                                                                      g.guid()), method="DELETE")
    return pos, neg, 3, 3


def diag_id(arm, name="send-to-la"):
    return arm + "/providers/microsoft.insights/diagnosticSettings/" + name


def fx_diag_deleted(g):
    pos = g.activity_op(at(FX, 1), DANA, "microsoft.insights/diagnosticSettings/delete",
                        diag_id(cog_arm_id("FABRIKAM-OAI-PROD")), method="DELETE")
    pos += g.activity_op(at(FX, 3), DANA, "microsoft.insights/diagnosticSettings/delete",
                         diag_id(kv_arm_id(AI_VAULT)), method="DELETE")
    neg = g.activity_op(at(FX, 20), PLATFORM, "microsoft.insights/diagnosticSettings/write",
                        diag_id(kv_arm_id(AI_VAULT)), method="PUT",
                        requestbody={"properties": {"workspaceId": "/subscriptions/%s/resourceGroups/rg-security/providers/Microsoft.OperationalInsights/workspaces/law-fabrikam" % SUB,
                                                    "logs": [{"categoryGroup": "audit", "enabled": True}]}})
    neg += g.activity_op(at(FX, 25), BOB, "microsoft.insights/diagnosticSettings/delete",
                         diag_id(cog_arm_id("FABRIKAM-OAI-DEV")), outcome="Failed", method="DELETE")
    neg.append(g.activity(at(FX, 30), DANA, "microsoft.insights/diagnosticSettings/delete",
                          diag_id(ml_arm_id()), status="Start"))
    return pos, neg, 2, 2


def fx_suppression(g):
    rule = "/subscriptions/%s/providers/Microsoft.Security/alertsSuppressionRules/dismiss-ai-noise" % SUB
    body = {"properties": {"alertType": "AI.Azure_Jailbreak.ContentFiltering.BlockedAttempt", "state": "Enabled",
                           "reason": "Other", "comment": "noise"}}
    pos = g.activity_op(at(FX, 1), DANA, "Microsoft.Security/alertsSuppressionRules/write", rule, requestbody=body,
                        method="PUT")
    neg = g.activity_op(at(FX, 20), BOB, "Microsoft.Security/alertsSuppressionRules/write", rule, requestbody=body,
                        outcome="Failed", method="PUT")
    neg += g.activity_op(at(FX, 25), PLATFORM, "Microsoft.Security/alertsSuppressionRules/delete", rule,
                         method="DELETE")
    neg += g.activity_op(at(FX, 30), PLATFORM, "Microsoft.Security/automations/write",
                         "/subscriptions/%s/resourceGroups/rg-security/providers/Microsoft.Security/automations/export-to-la" % SUB,
                         method="PUT")
    return pos, neg, 1, 1


def fx_rai_policy(g):
    acct = cog_arm_id("FABRIKAM-OAI-PROD")
    body = {"properties": {"basePolicyName": "Microsoft.DefaultV2", "mode": "Default", "contentFilters": [
        {"name": "Jailbreak", "blocking": False, "enabled": False, "source": "Prompt"},
        {"name": "Violence", "severityThreshold": "High", "blocking": True, "enabled": True, "source": "Prompt"}]}}
    pos = g.activity_op(at(FX, 1), DANA, "Microsoft.CognitiveServices/accounts/raiPolicies/write",
                        acct + "/raiPolicies/relaxed", requestbody=body, method="PUT")
    pos += g.activity_op(at(FX, 5), DANA, "Microsoft.CognitiveServices/accounts/raiBlocklists/delete",
                         acct + "/raiBlocklists/competitor-terms", method="DELETE")
    neg = g.activity_op(at(FX, 20), PLATFORM, "Microsoft.CognitiveServices/accounts/raiBlocklists/write",
                        acct + "/raiBlocklists/competitor-terms", method="PUT",
                        requestbody={"properties": {"description": "terms"}})
    neg += g.activity_op(at(FX, 25), PLATFORM, "Microsoft.CognitiveServices/accounts/deployments/write",
                         acct + "/deployments/gpt-4o-prod", method="PUT",
                         requestbody={"sku": {"name": "GlobalStandard", "capacity": 450},
                                      "properties": {"model": {"format": "OpenAI", "name": "gpt-4o", "version": "2024-11-20"},
                                                     "raiPolicyName": "Microsoft.DefaultV2"}})
    neg += g.activity_op(at(FX, 30), BOB, "Microsoft.CognitiveServices/accounts/raiPolicies/write",
                         acct + "/raiPolicies/relaxed", requestbody=body, outcome="Failed", method="PUT")
    return pos, neg, 2, 2


def fx_local_auth(g):
    pos = g.activity_op(at(FX, 1), DANA, "Microsoft.CognitiveServices/accounts/write", cog_arm_id("FABRIKAM-OAI-PROD"),
                        requestbody={"properties": {"disableLocalAuth": False}}, method="PATCH")
    pos += g.activity_op(at(FX, 5), DANA, "Microsoft.CognitiveServices/accounts/write",
                         cog_arm_id("FABRIKAM-AISVC-RAG"), method="PUT",
                         requestbody={"location": "eastus2", "kind": "AIServices", "sku": {"name": "S0"},
                                      "properties": {"customSubDomainName": "fabrikam-aisvc-rag",
                                                     "publicNetworkAccess": "Enabled",
                                                     "networkAcls": {"defaultAction": "Allow", "ipRules": []}}})
    pos += g.activity_op(at(FX, 9), DANA, "Microsoft.MachineLearningServices/workspaces/write", ml_arm_id(),
                         method="PATCH", requestbody={"properties": {"publicNetworkAccess": "Enabled"}})
    neg = g.activity_op(at(FX, 20), PLATFORM, "Microsoft.CognitiveServices/accounts/write",
                        cog_arm_id("FABRIKAM-OAI-DEV"), method="PATCH",
                        requestbody={"properties": {"disableLocalAuth": True, "publicNetworkAccess": "Disabled",
                                                    "networkAcls": {"defaultAction": "Deny", "ipRules": []}}})
    neg += g.activity_op(at(FX, 25), PLATFORM, "Microsoft.CognitiveServices/accounts/write",
                         cog_arm_id("FABRIKAM-OAI-PROD"), method="PATCH",
                         requestbody={"tags": {"costCenter": "ai-platform"}})
    neg += g.activity_op(at(FX, 30), PLATFORM, "Microsoft.KeyVault/vaults/write", kv_arm_id(AI_VAULT), method="PUT",
                         requestbody={"properties": {"publicNetworkAccess": "Enabled", "enableRbacAuthorization": True}})
    return pos, neg, 3, 3


def deployment_write(g, t, who, acct, dep, outcome="Success"):
    model, version = DEPLOYMENTS[dep]
    return g.activity_op(t, who, "Microsoft.CognitiveServices/accounts/deployments/write",
                         cog_arm_id(acct) + "/deployments/" + dep, method="PUT", outcome=outcome,
                         substatus="Created",
                         requestbody={"sku": {"name": "GlobalStandard", "capacity": 100},
                                      "properties": {"model": {"format": "OpenAI", "name": model, "version": version}}})


def fx_first_deployment(g):
    pos = []
    for d in range(0, 8, 2):
        pos += deployment_write(g, at(LEARN0, days=d, hours=9), PLATFORM, "FABRIKAM-OAI-PROD", "gpt-4o-prod")
    pos += deployment_write(g, at(AFTER, 0), DANA, "FABRIKAM-OAI-PROD", "gpt-45-preview")
    neg = []
    for d in range(0, 8, 2):
        neg += deployment_write(g, at(LEARN0, days=d, hours=9), PLATFORM, "FABRIKAM-OAI-PROD", "gpt-4o-prod")
    neg += deployment_write(g, at(LEARN0, days=3, hours=14), BOB, "FABRIKAM-OAI-DEV", "o3-mini-dev")
    neg += deployment_write(g, at(AFTER, 0), PLATFORM, "FABRIKAM-OAI-PROD", "gpt-4o-mini-batch")
    neg += deployment_write(g, at(AFTER, 10), BOB, "FABRIKAM-OAI-DEV", "gpt-4o-dev")
    neg += g.activity_op(at(AFTER, 20), DANA, "Microsoft.CognitiveServices/accounts/deployments/delete",
                         cog_arm_id("FABRIKAM-OAI-DEV") + "/deployments/o3-mini-dev", method="DELETE")
    neg += deployment_write(g, at(AFTER, 30), DANA, "FABRIKAM-OAI-PROD", "gpt-45-preview", outcome="Failed")
    neg.sort(key=lambda r: r["TimeGenerated"])
    return pos, neg, 1, 1


JAILBREAK_BLOCKED = ("AI.Azure_Jailbreak.ContentFiltering.BlockedAttempt",
                     "A Jailbreak attempt on your Azure AI model deployment was blocked by Azure AI Content Safety Prompt Shields",
                     "Medium", "PrivilegeEscalation, DefenseEvasion")
JAILBREAK_DETECTED = ("AI.Azure_Jailbreak.ContentFiltering.DetectedAttempt",
                      "A Jailbreak attempt on your Azure AI model deployment was detected by Azure AI Content Safety Prompt Shields",
                      "Medium", "PrivilegeEscalation, DefenseEvasion")
ASCII_SMUGGLING = ("AI.Azure_ASCIISmuggling", "ASCII Smuggling prompt injection detected", "High", "Impact")
CRED_THEFT = ("AI.Azure_CredentialTheftAttempt", "Detected credential theft attempts on an Azure AI model deployment",
              "Medium", "CredentialAccess, LateralMovement, Exfiltration")
DATA_LEAK = ("AI.Azure_DataLeakInModelResponse.Sensitive", "Sensitive data exposure detected in AI model response",
             "Low", "Collection")
ANON_IP = ("AI.Azure_AccessFromAnonymizedIP", "Access from a Tor IP address to an AI resource", "High", "Execution")
KV_SUSP_IP = ("KV_SuspiciousIPAccess", "Access from a suspicious IP address to a key vault", "Medium", "CredentialAccess")
ARM_RBAC = ("ARM_AnomalousRBACRoleAssignment", "Suspicious Azure role assignment detected", "Medium", "PrivilegeEscalation")


def ai_alert(g, t, kind, acct, status="New", system_id=None, name_only=False):
    alert_type, display, sev, tactics = kind
    rec = g.alert(t, alert_type, display, sev, cog_arm_id(acct), acct.lower(), status=status, system_id=system_id,
                  tactics=tactics, extended={"Deployment name": "gpt-4o-prod", "Caller IP address": "192.0.2.***",
                                              "Caller object id": "", "User agent": "python-requests/2.31.0"})
    if name_only:
        rec["AlertType"] = ""
        rec["AlertName"] = alert_type
    return rec


def fx_defender_ai_alert(g):
    cred = g.guid()
    pos = [ai_alert(g, at(FX, 1), JAILBREAK_BLOCKED, "FABRIKAM-OAI-PROD"),
           ai_alert(g, at(FX, 5), CRED_THEFT, "FABRIKAM-AISVC-RAG", system_id=cred),
           ai_alert(g, at(FX, 25), CRED_THEFT, "FABRIKAM-AISVC-RAG", system_id=cred, status="InProgress"),
           ai_alert(g, at(FX, 30), ANON_IP, "FABRIKAM-OAI-DEV", name_only=True)]
    done = g.guid()
    neg = [g.alert(at(FX, 40), "7afe3898-aaa8-4c03-bb16-a4c9a80e006c_4e1d2c3b-5a6f-4789-8b0c-1d2e3f4a5b6c",
                   "AI.Azure_ custom hunting: prompt injection keywords", "Medium", "", "",
                   provider="ASI Scheduled Alerts", component="Scheduled Alerts"),
           g.alert(at(FX, 45), KV_SUSP_IP[0], KV_SUSP_IP[1], KV_SUSP_IP[2], kv_arm_id(AI_VAULT), AI_VAULT.lower(),
                   component="KeyVaults", tactics=KV_SUSP_IP[3]),
           g.alert(at(FX, 50), ARM_RBAC[0], ARM_RBAC[1], ARM_RBAC[2], "/subscriptions/" + SUB, SUB,
                   component="ResourceManager", tactics=ARM_RBAC[3]),
           ai_alert(g, at(FX, 55), DATA_LEAK, "FABRIKAM-OAI-PROD", system_id=done, status="Resolved"),
           ai_alert(g, at(FX, 60), JAILBREAK_DETECTED, "FABRIKAM-OAI-PROD", status="Dismissed")]
    return pos, neg, 3, 3


def fx_jailbreak_burst(g):
    pos = [ai_alert(g, at(FX, 0), JAILBREAK_BLOCKED, "FABRIKAM-OAI-PROD"),
           ai_alert(g, at(FX, 6), JAILBREAK_DETECTED, "FABRIKAM-OAI-PROD"),
           ai_alert(g, at(FX, 60), JAILBREAK_BLOCKED, "FABRIKAM-AISVC-RAG"),
           ai_alert(g, at(FX, 69), ASCII_SMUGGLING, "FABRIKAM-AISVC-RAG")]
    sid = g.guid()
    neg = [ai_alert(g, at(FX, 0), JAILBREAK_BLOCKED, "FABRIKAM-OAI-PROD"),
           ai_alert(g, at(FX, 20), JAILBREAK_BLOCKED, "FABRIKAM-OAI-PROD"),
           ai_alert(g, at(FX, 60), JAILBREAK_BLOCKED, "FABRIKAM-AISVC-RAG", system_id=sid),
           ai_alert(g, at(FX, 65), JAILBREAK_BLOCKED, "FABRIKAM-AISVC-RAG", system_id=sid, status="InProgress"),
           ai_alert(g, at(FX, 120), JAILBREAK_BLOCKED, "FABRIKAM-OAI-PROD"),
           ai_alert(g, at(FX, 123), JAILBREAK_BLOCKED, "FABRIKAM-OAI-DEV"),
           ai_alert(g, at(FX, 180), JAILBREAK_DETECTED, "FABRIKAM-AISVC-RAG"),
           ai_alert(g, at(FX, 182), CRED_THEFT, "FABRIKAM-AISVC-RAG")]
    return pos, neg, 2, 2


# --- posture (AIWatchPosture events of the `posture` input) ------------------------------

SUB_SANDBOX = "6a1f0c3e-52d7-4b9e-8e21-0f4c7d9a3b58"   # a second subscription (Defender plans)

# check id: (title, area, severity, ARM type, property path, expected)
POSTURE_CHECKS = {
    "AIW-CS-001": ("AI account public network access disabled", "Network", "High",
                   "Microsoft.CognitiveServices/accounts", "properties.publicNetworkAccess", "Disabled"),
    "AIW-CS-002": ("AI account network ACL denies by default", "Network", "High",
                   "Microsoft.CognitiveServices/accounts", "properties.networkAcls.defaultAction", "Deny"),
    "AIW-CS-004": ("AI account key (local) authentication disabled", "Identity", "High",
                   "Microsoft.CognitiveServices/accounts", "properties.disableLocalAuth", "true"),
    "AIW-CS-005": ("AI account reached through an approved private endpoint", "Network", "Medium",
                   "Microsoft.CognitiveServices/accounts", "properties.privateEndpointConnections",
                   "at least one Approved"),
    "AIW-CS-006": ("AI account uses a managed identity", "Identity", "Medium",
                   "Microsoft.CognitiveServices/accounts", "identity.type", "a managed identity"),
    "AIW-CS-007": ("AI account outbound network access restricted", "Network", "Low",
                   "Microsoft.CognitiveServices/accounts", "properties.restrictOutboundNetworkAccess", "true"),
    "AIW-CS-008": ("AI account diagnostic logs sent to Log Analytics", "Logging", "Medium",
                   "Microsoft.CognitiveServices/accounts", "_aiwatch.diagnosticSettings",
                   "a setting with workspaceId and an enabled log"),
    "AIW-CS-101": ("Model deployment has a content filter", "Data protection", "Medium",
                   "Microsoft.CognitiveServices/accounts/deployments", "properties.raiPolicyName",
                   "a content filter policy"),
    "AIW-ML-001": ("ML workspace public network access disabled", "Network", "High",
                   "Microsoft.MachineLearningServices/workspaces", "properties.publicNetworkAccess", "Disabled"),
    "AIW-ML-002": ("ML workspace managed network isolated", "Network", "Medium",
                   "Microsoft.MachineLearningServices/workspaces", "properties.managedNetwork.isolationMode",
                   "AllowOnlyApprovedOutbound or AllowInternetOutbound"),
    "AIW-ML-003": ("ML workspace diagnostic logs sent to Log Analytics", "Logging", "Medium",
                   "Microsoft.MachineLearningServices/workspaces", "_aiwatch.diagnosticSettings",
                   "a setting with workspaceId and an enabled log"),
    "AIW-ML-101": ("ML compute has no public IP", "Network", "High",
                   "Microsoft.MachineLearningServices/workspaces/computes",
                   "properties.properties.enableNodePublicIp", "false"),
    "AIW-ML-104": ("ML compute key (local) authentication disabled", "Identity", "Medium",
                   "Microsoft.MachineLearningServices/workspaces/computes", "properties.disableLocalAuth", "true"),
    "AIW-KV-001": ("Key Vault purge protection enabled", "Data protection", "High",
                   "Microsoft.KeyVault/vaults", "properties.enablePurgeProtection", "true"),
    "AIW-KV-003": ("Key Vault public network access disabled", "Network", "High",
                   "Microsoft.KeyVault/vaults", "properties.publicNetworkAccess", "Disabled"),
    "AIW-KV-004": ("Key Vault soft delete enabled", "Data protection", "Low",
                   "Microsoft.KeyVault/vaults", "properties.enableSoftDelete", "true"),
    "AIW-KV-005": ("Key Vault diagnostic logs sent to Log Analytics", "Logging", "Medium",
                   "Microsoft.KeyVault/vaults", "_aiwatch.diagnosticSettings",
                   "a setting with workspaceId and an enabled log"),
    "AIW-KV-101": ("Key Vault secret has an expiry date", "Data protection", "Medium",
                   "Microsoft.KeyVault/vaults/secrets", "properties.attributes.exp", "an expiry date"),
    "AIW-DEF-001": ("Defender for AI services plan on", "Threat protection", "High",
                    "Microsoft.Security/pricings", "properties.pricingTier", "Standard"),
}
POSTURE_CONTROLS = {  # area: the controls a failure of that area drifts (fixture data)
    "Network": {"mcsb": ["NS-2"], "nist": ["SC-7", "AC-4"], "iso27001": ["A.8.20", "A.8.22"], "soc2": ["CC6.6"]},
    "Identity": {"mcsb": ["IM-1", "IM-3"], "nist": ["IA-2", "AC-2"], "iso27001": ["A.5.16", "A.8.5"],
                 "soc2": ["CC6.1"]},
    "Data protection": {"mcsb": ["DP-6", "DP-8"], "nist": ["SC-12", "CP-9"], "iso27001": ["A.8.24", "A.8.13"],
                        "soc2": ["CC6.1", "A1.2"]},
    "Logging": {"mcsb": ["LT-3"], "nist": ["AU-2", "AU-12"], "iso27001": ["A.8.15"], "soc2": ["CC7.2"]},
    "Threat protection": {"mcsb": ["LT-1"], "nist": ["SI-4"], "iso27001": ["A.8.16"], "soc2": ["CC7.2"]},
}
OAI_PROD = cog_arm_id("FABRIKAM-OAI-PROD")
OAI_DEV = cog_arm_id("FABRIKAM-OAI-DEV")
RAG_ACCT = cog_arm_id("FABRIKAM-AISVC-RAG")
AI_KV = kv_arm_id(AI_VAULT)
DEV_KV = kv_arm_id("KV-FAB-DEV")
CI_DANA = ml_arm_id() + "/computes/ci-dana"
CLUSTER = ml_arm_id() + "/computes/cpu-cluster"


def pricing_id(sub):
    return "/subscriptions/%s/providers/Microsoft.Security/pricings/AI" % sub


def posture(t, check, rid, change, actual, previous=""):
    """One AIWatchPosture event: a finding of `check` on `rid` that appeared, changed or resolved."""
    title, area, sev, rtype, path, expected = POSTURE_CHECKS[check]
    sub = rid.split("/")[2]
    item = hashlib.sha256(("%s|%s|%s|%s" % (check, rid, change, actual)).encode()).hexdigest()[:32]
    return {"TimeGenerated": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "Type": "AIWatchPosture", "_ItemId": item,
            "CheckId": check, "CheckTitle": title, "Area": area, "Severity": sev, "ResourceId": rid,
            "_ResourceId": rid, "ResourceType": rtype, "ResourceName": rid.rsplit("/", 1)[1],
            "SubscriptionId": sub, "PropertyPath": path, "Expected": expected, "Actual": actual,
            "PreviousActual": previous if change == "Changed" else "",
            "Status": "Passed" if change == "Resolved" else "Failed", "Change": change,
            "Baseline": "Azure AI security baseline: %s" % title,
            "Remediation": "Set %s to %s (az resource update --ids %s)" % (path, expected, rid),
            "Controls": POSTURE_CONTROLS[area]}


def fx_posture_high(g):
    pos = [posture(at(FX, 1), "AIW-CS-002", OAI_PROD, "Appeared", "absent (default: Allow)"),
           posture(at(FX, 2), "AIW-ML-101", CI_DANA, "Appeared", "true"),
           posture(at(FX, 3), "AIW-KV-001", AI_KV, "Changed", "false", "absent (default: false)"),
           # the first appearance is the public-access rule's; a change of value is this one's
           posture(at(FX, 4), "AIW-CS-001", OAI_DEV, "Changed", "Enabled", "absent (default: Enabled)")]
    neg = [posture(at(FX, 10), "AIW-CS-001", RAG_ACCT, "Appeared", "Enabled"),
           posture(at(FX, 11), "AIW-CS-004", RAG_ACCT, "Appeared", "false"),
           posture(at(FX, 12), "AIW-DEF-001", pricing_id(SUB), "Appeared", "Free"),
           posture(at(FX, 13), "AIW-CS-002", OAI_DEV, "Resolved", "Deny"),
           posture(at(FX, 14), "AIW-CS-005", OAI_PROD, "Appeared", "absent (default: none)"),
           posture(at(FX, 15), "AIW-CS-007", OAI_PROD, "Appeared", "absent (default: false)")]
    return pos, neg, 4, 4


def fx_posture_medium(g):
    pos = [posture(at(FX, 1), "AIW-CS-005", OAI_PROD, "Appeared", "absent (default: none)"),
           posture(at(FX, 2), "AIW-KV-101", AI_KV + "/secrets/aoai-prod-key1", "Appeared", "absent (never expires)"),
           posture(at(FX, 3), "AIW-CS-101", OAI_PROD + "/deployments/gpt-4o-prod", "Changed", "absent (default: none)",
                   "Microsoft.Nil"),
           posture(at(FX, 4), "AIW-ML-104", CLUSTER, "Changed", "false", "absent (default: false)"),
           posture(at(FX, 5), "AIW-KV-005", DEV_KV, "Changed", "a setting without an enabled log",
                   "absent (default: none)")]
    neg = [posture(at(FX, 10), "AIW-ML-104", CI_DANA, "Appeared", "false"),
           posture(at(FX, 11), "AIW-CS-008", OAI_DEV, "Appeared", "absent (default: none)"),
           posture(at(FX, 12), "AIW-CS-002", RAG_ACCT, "Appeared", "Allow"),
           posture(at(FX, 13), "AIW-KV-004", DEV_KV, "Appeared", "false"),
           posture(at(FX, 14), "AIW-CS-006", OAI_DEV, "Resolved", "SystemAssigned")]
    return pos, neg, 5, 5


def fx_posture_key_auth(g):
    pos = [posture(at(FX, 1), "AIW-CS-004", OAI_PROD, "Appeared", "false"),
           posture(at(FX, 2), "AIW-ML-104", CI_DANA, "Appeared", "absent (default: false)")]
    neg = [posture(at(FX, 10), "AIW-CS-004", OAI_DEV, "Resolved", "true"),
           posture(at(FX, 11), "AIW-CS-004", RAG_ACCT, "Changed", "false", "absent (default: false)"),
           posture(at(FX, 12), "AIW-CS-006", OAI_PROD, "Appeared", "None"),
           posture(at(FX, 13), "AIW-ML-101", CLUSTER, "Appeared", "true")]
    return pos, neg, 2, 2


def fx_posture_public_access(g):
    pos = [posture(at(FX, 1), "AIW-CS-001", OAI_PROD, "Appeared", "Enabled"),
           posture(at(FX, 2), "AIW-ML-001", ml_arm_id(), "Appeared", "absent (default: Enabled)"),
           posture(at(FX, 3), "AIW-KV-003", AI_KV, "Appeared", "Enabled")]
    neg = [posture(at(FX, 10), "AIW-CS-001", OAI_DEV, "Resolved", "Disabled"),
           posture(at(FX, 11), "AIW-KV-003", DEV_KV, "Changed", "Enabled", "absent (default: Enabled)"),
           posture(at(FX, 12), "AIW-CS-002", RAG_ACCT, "Appeared", "Allow"),
           posture(at(FX, 13), "AIW-ML-002", ml_arm_id(), "Appeared", "Disabled")]
    return pos, neg, 3, 3


def fx_posture_diagnostics(g):
    pos = [posture(at(FX, 1), "AIW-CS-008", OAI_PROD, "Appeared", "absent (default: none)"),
           posture(at(FX, 2), "AIW-ML-003", ml_arm_id(), "Appeared", "a setting without workspaceId"),
           posture(at(FX, 3), "AIW-KV-005", AI_KV, "Appeared", "a setting without an enabled log")]
    neg = [posture(at(FX, 10), "AIW-CS-008", OAI_DEV, "Resolved", "send-to-la"),
           posture(at(FX, 11), "AIW-KV-005", DEV_KV, "Changed", "absent (default: none)",
                   "a setting without an enabled log"),
           posture(at(FX, 12), "AIW-CS-001", RAG_ACCT, "Appeared", "Enabled")]
    return pos, neg, 3, 3


def fx_posture_defender(g):
    pos = [posture(at(FX, 1), "AIW-DEF-001", pricing_id(SUB), "Appeared", "Free"),
           posture(at(FX, 2), "AIW-DEF-001", pricing_id(SUB_SANDBOX), "Appeared", "absent (default: Free)")]
    neg = [posture(at(FX, 10), "AIW-DEF-001", pricing_id(SUB), "Resolved", "Standard"),
           posture(at(FX, 11), "AIW-DEF-001", pricing_id(SUB_SANDBOX), "Changed", "Free",
                   "absent (default: Free)"),
           posture(at(FX, 12), "AIW-CS-001", OAI_PROD, "Appeared", "Enabled")]
    return pos, neg, 2, 2


def fx_posture_resolved(g):
    pos = [posture(at(FX, 1), "AIW-CS-001", OAI_PROD, "Resolved", "Disabled"),
           posture(at(FX, 2), "AIW-KV-101", AI_KV + "/secrets/aoai-dev-key1", "Resolved",
                   "resource no longer exists")]
    neg = [posture(at(FX, 10), "AIW-CS-001", OAI_DEV, "Appeared", "Enabled"),
           posture(at(FX, 11), "AIW-KV-101", AI_KV + "/secrets/search-admin-key", "Changed", "absent (never expires)",
                   "2025-06-01T00:00:00Z"),
           posture(at(FX, 12), "AIW-DEF-001", pricing_id(SUB_SANDBOX), "Appeared", "Free")]
    return pos, neg, 2, 2


FIXTURES = {
    "azure_ai_keys_listed_by_unusual_app": fx_keys_listed_by_unusual_app,
    "azure_ai_keys_listed_across_many_resources": fx_keys_listed_across_many,
    "azure_openai_keys_listed_repeatedly": fx_keys_listed_repeatedly,
    "azure_openai_key_use_from_new_network": fx_key_use_from_new_network,
    "azure_openai_key_listed_then_used_from_new_network": fx_key_listed_then_used,
    "azure_openai_auth_failure_burst": fx_openai_auth_failure_burst,
    "azure_ml_endpoint_auth_failure_burst": fx_ml_auth_failure_burst,
    "azure_openai_large_prompt_volume": fx_large_prompt_volume,
    "azure_openai_zero_length_success_responses": fx_zero_length,
    "azure_ml_endpoint_new_client_identity": fx_ml_new_identity,
    "azure_ml_endpoint_new_user_agent": fx_ml_new_user_agent,
    "azure_openai_rate_limit_storm": fx_rate_limit_storm,
    "azure_openai_rate_limit_above_baseline": fx_rate_limit_baseline,
    "azure_keyvault_mass_secret_retrieval": fx_kv_mass_retrieval,
    "azure_keyvault_secret_read_by_new_identity": fx_kv_new_identity,
    "azure_keyvault_sensitive_operation": fx_kv_sensitive,
    "azure_role_assigned_on_ai_scope_or_admin_role": fx_role_assignment,
    "azure_diagnostic_setting_deleted": fx_diag_deleted,
    "azure_defender_suppression_rule_created": fx_suppression,
    "azure_openai_content_filter_policy_changed": fx_rai_policy,
    "azure_ai_local_auth_or_public_access_enabled": fx_local_auth,
    "azure_openai_first_model_deployment_by_principal": fx_first_deployment,
    "azure_defender_ai_alert": fx_defender_ai_alert,
    "azure_defender_ai_jailbreak_burst": fx_jailbreak_burst,
    # posture stems sort after the others: a fixture's seed is its index in sorted order
    "azure_security_posture_high_severity_failure": fx_posture_high,
    "azure_security_posture_medium_severity_failure": fx_posture_medium,
    "azure_security_posture_key_auth_enabled": fx_posture_key_auth,
    "azure_security_posture_public_network_access_open": fx_posture_public_access,
    "azure_security_posture_diagnostic_logging_missing": fx_posture_diagnostics,
    "azure_security_posture_defender_for_ai_off": fx_posture_defender,
    "azure_security_posture_finding_resolved": fx_posture_resolved,
}


# --- the recorded day -------------------------------------------------------------------

DAY = datetime(2025, 6, 17, 0, 0, 0, tzinfo=timezone.utc)


class Day:
    """24 hours of one organisation's AI estate, with one attack campaign and look-alikes."""

    def __init__(self, seed):
        self.g = Gen(seed)
        self.rng = self.g.rng
        self.recs = []
        self.late = set()          # _ItemIds that arrive late (out of order)
        self.must_not = {}         # rule stem -> [_ItemId]
        self.must_alert = {}       # rule stem -> min alerts

    def add(self, recs, must_not=(), late=False):
        if isinstance(recs, dict):
            recs = [recs]
        self.recs.extend(recs)
        for stem in must_not:
            self.must_not.setdefault(stem, []).extend(r["_ItemId"] for r in recs)
        if late:
            self.late.update(r["_ItemId"] for r in recs)
        return recs

    def count(self, rate):
        n = int(rate)
        return n + (1 if self.rng.random() < rate - n else 0)

    def minutes(self, start_h=0, end_h=24):
        t = at(DAY, hours=start_h)
        while t < at(DAY, hours=end_h):
            yield t
            t += timedelta(minutes=1)

    # -- benign traffic --

    def chat_api(self):
        g = self.g
        for t in self.minutes():
            h = t.hour
            rate = 0.8 if h < 6 else 1.8 if h < 8 else 3.0 if h < 18 else 1.8 if h < 22 else 1.0
            for _ in range(self.count(rate)):
                tt = g.jitter(t, 60)
                if t.hour == 9 and 1 <= t.minute < 5:
                    continue  # the storm minutes are generated by the attack
                r = self.rng.random()
                status = 400 if r < 0.004 else 429 if r < 0.0065 else 500 if r < 0.0075 else 200
                # A 429 now and then (away from the 09:00 storm) is no storm.
                quiet_429 = status == 429 and not 8 <= h < 10
                self.add(g.rr(tt, "FABRIKAM-OAI-PROD", "gpt-4o-prod", status=status, oid=CHATAPI_OID, net=NET_APP),
                         must_not=["azure_openai_rate_limit_storm",
                                   "azure_openai_rate_limit_above_baseline"] if quiet_429 else ())

    def rag_indexer(self):
        g = self.g
        for run in range(12):
            start = at(DAY, hours=2 * run, minutes=10)
            for i in range(50):
                self.add(g.rr(g.jitter(at(start, seconds=9.6 * i), 9), "FABRIKAM-OAI-PROD", "text-embedding-3-large",
                              oid=RAGIDX_OID, net=NET_APP))

    def batch_summariser(self):
        g = self.g
        stems = ["azure_openai_rate_limit_storm", "azure_openai_rate_limit_above_baseline"]
        for t in self.minutes(1, 3):
            for _ in range(2):
                self.add(g.rr(g.jitter(t, 60), "FABRIKAM-OAI-PROD", "gpt-4o-mini-batch", oid=BATCH_OID, net=NET_APP,
                              reqlen=self.rng.randint(2000, 4800)))
        for b in range(24):
            start = at(DAY, hours=1, minutes=5 * b)
            if b == 18:
                # 02:30 bucket: a routine peak (34 within two minutes), still far below the
                # deployment's own throttling baseline and the static floor.
                for i in range(34):
                    self.add(g.rr(at(start, 1, seconds=3.4 * i + self.rng.uniform(0, 1)), "FABRIKAM-OAI-PROD",
                                  "gpt-4o-mini-batch", status=429, oid=BATCH_OID, net=NET_APP), must_not=stems)
                continue
            n = self.rng.randint(10, 14)
            for i in range(n):
                self.add(g.rr(at(start, 0, seconds=300.0 * i / n + self.rng.uniform(0, 4)), "FABRIKAM-OAI-PROD",
                              "gpt-4o-mini-batch", status=429, oid=BATCH_OID, net=NET_APP), must_not=stems)

    def rag_app(self):
        g = self.g
        for t in self.minutes():
            h = t.hour
            rate = 1.5 if 8 <= h < 18 else 0.3
            for _ in range(self.count(rate)):
                tt = g.jitter(t, 60)
                status = 429 if self.rng.random() < 0.002 else 200
                self.add(g.rr(tt, "FABRIKAM-AISVC-RAG", "gpt-41-rag", status=status, net=NET_APP,
                              reqlen=self.rng.randint(3000, 12000)))
                if self.rng.random() < 0.5:
                    self.add(g.rr(tt - timedelta(milliseconds=self.rng.randint(200, 900)), "FABRIKAM-AISVC-RAG",
                                  "text-embedding-3-small", net=NET_APP, reqlen=self.rng.randint(200, 1200)))

    def developers(self):
        g = self.g
        for t in self.minutes(9, 17):
            for _ in range(self.count(0.4)):
                dep = "gpt-4o-dev" if self.rng.random() < 0.7 else "o3-mini-dev"
                self.add(g.rr(g.jitter(t, 60), "FABRIKAM-OAI-DEV", dep, net=NET_CORP))
        # A developer still using an old key: three refusals, far below a burst.
        for i in range(3):
            self.add(g.rr(at(DAY, hours=10, minutes=2, seconds=35 * i), "FABRIKAM-OAI-DEV", "gpt-4o-dev", status=401,
                          net=NET_CORP), must_not=["azure_openai_auth_failure_burst"])
        # One empty completion now and then is not a pattern.
        self.add(g.rr(at(DAY, hours=13, minutes=7, seconds=12), "FABRIKAM-OAI-PROD", "gpt-4o-prod", oid=CHATAPI_OID,
                      resplen=0), must_not=["azure_openai_zero_length_success_responses"])

    def ml_traffic(self):
        g = self.g
        for t in self.minutes():
            for _ in range(self.count(0.6)):
                code = 429 if self.rng.random() < 0.003 else 200
                self.add(g.aml(g.jitter(t, 60), "fraud-score", code=code, auth="AADToken", identity=MLCLIENT_OID,
                               ua=FRAUD_UA))
            for _ in range(self.count(0.3)):
                self.add(g.aml(g.jitter(t, 60), "churn-ep", auth="Key", ua=CHURN_UA))
            if t.minute in (15, 45) and self.rng.random() < 0.7:
                self.add(g.aml(g.jitter(t, 60), "fraud-score", auth="AMLToken", identity=MLCLIENT2_OID, ua=FRAUD_UA))
        # Key rotated on churn-ep at 08:00: the batch client fails four times, then picks up the new key.
        for i in range(4):
            self.add(g.aml(at(DAY, hours=8, seconds=20 * i + 3), "churn-ep", code=401, auth="Key", ua=CHURN_UA),
                     must_not=["azure_ml_endpoint_auth_failure_burst"])

    def key_vault(self):
        g = self.g
        for q in range(96):
            t = at(DAY, minutes=15 * q)
            for k, name in enumerate(["aoai-prod-key1", "cosmos-chat-conn", "search-query-key"]):
                self.add(g.kv_diag(g.jitter(at(t, seconds=k), 2), AI_VAULT, "SecretGet", CHATAPI_OID, CHATAPI_APP,
                                   "203.0.113.12", secret=name, version="%032x" % (0xA11CE + k), ua=CHAT_UA))
            if q % 2 == 0:
                for k, name in enumerate(["aisvc-rag-key1", "search-admin-key"]):
                    self.add(g.kv_diag(g.jitter(at(t, 7, seconds=k), 2), AI_VAULT, "SecretGet", RAGAPP_OID, RAGAPP_APP,
                                       "203.0.113.14", secret=name, version="%032x" % (0xBEEF + k), ua=CHAT_UA))
        for h in range(24):
            t = at(DAY, hours=h, minutes=self.rng.randint(0, 5))
            self.add(g.kv_diag(t, AI_VAULT, "VaultGet", APP_ARG, APP_ARG, "203.0.113.200",
                               ua="Microsoft.Azure.ResourceGraph"))
            self.add(g.kv_rs(at(t, 1), "KV-FAB-PLATFORM", "SecretGet", PLATFORM["oid"], PLATFORM["appid"],
                             PLATFORM["ip"], name="deploy-sp-cert"))
            for k in range(2):
                self.add(g.kv_rs(at(t, 20 + 15 * k), "KV-FAB-PLATFORM", "KeyUnwrap", "f1e2d3c4-b5a6-4978-8a1b-2c3d4e5f6a7b",
                                 "a8b7c6d5-e4f3-4d2c-9b1a-0f9e8d7c6b5a", "203.0.113.61", name="cmk-storage", kind="keys",
                                 ua="Azure Storage CMK"))
        # 00:30 rotation of two keys by the platform pipeline: writes, not reads or deletes.
        for k, name in enumerate(["aoai-prod-key2", "aisvc-rag-key2"]):
            self.add(g.kv_diag(at(DAY, 30, seconds=5 * k), AI_VAULT, "SecretSet", PLATFORM["oid"], PLATFORM["appid"],
                               PLATFORM["ip"], secret=name), must_not=["azure_keyvault_sensitive_operation"])
        # 02:00 nightly backup job reads every secret (allow-listed).
        self.add(g.kv_diag(at(DAY, 120), AI_VAULT, "SecretList", NIGHTLY_OID, NIGHTLY_APP, "203.0.113.50",
                           ua=NIGHTLY_UA))
        for i in range(60):
            self.add(g.kv_diag(at(DAY, 120, seconds=2 + 4 * i), AI_VAULT, "SecretGet", NIGHTLY_OID, NIGHTLY_APP,
                               "203.0.113.50", secret=SECRET_NAMES[i], ua=NIGHTLY_UA),
                     must_not=["azure_keyvault_mass_secret_retrieval"])
        # 16:30 an engineer tries to delete a secret without the right role.
        self.add(g.kv_diag(at(DAY, 990), AI_VAULT, "SecretDelete", BOB["oid"], APP_CLI, BOB["ip"],
                           secret="aoai-dev-key1", ok=False, upn=BOB["caller"]),
                 must_not=["azure_keyvault_sensitive_operation"])

    def activity(self):
        g = self.g
        policy = actor("Microsoft.PolicyInsights", "1d78a85d-813d-46f0-b496-dd72f50a3ec0",
                       "1d78a85d-813d-46f0-b496-dd72f50a3ec0", "203.0.113.250", kind="ServicePrincipal",
                       name="Policy Insights")
        for h in range(0, 24, 3):
            self.add(g.activity(at(DAY, hours=h, minutes=41), policy,
                                "Microsoft.Authorization/policies/auditIfNotExists/action",
                                cog_arm_id("FABRIKAM-OAI-DEV"), category="Policy", level="Warning"))
        for h in range(0, 24, 2):
            self.add(g.activity_op(at(DAY, hours=h, minutes=12), FUNCAPP, "Microsoft.Storage/storageAccounts/listKeys/action",
                                   STORAGE_ID), must_not=["azure_ai_keys_listed_by_unusual_app"])
        reporter = actor("c2f9e1a7-4b6d-4e8a-9f3c-5d7b1a2e6c48", MLCLIENT2_OID, "e9c1a3f5-7b2d-4c6e-8a9f-0b1d3e5f7a24",
                         "203.0.113.70", kind="ServicePrincipal", name="spn-reporting")
        for h in range(1, 24, 4):
            self.add(g.activity_op(at(DAY, hours=h, minutes=44), reporter,
                                   "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/token/action",
                                   ml_endpoint_arm("fraud-score")), must_not=["azure_ai_keys_listed_by_unusual_app"])
        self.add(deployment_write(g, at(DAY, hours=9, minutes=30), PLATFORM, "FABRIKAM-OAI-PROD", "gpt-4o-prod"),
                 must_not=["azure_openai_content_filter_policy_changed"])
        self.add(g.activity_op(at(DAY, hours=10, minutes=5), PLATFORM, "microsoft.insights/diagnosticSettings/write",
                               diag_id(kv_arm_id(AI_VAULT)), method="PUT"),
                 must_not=["azure_diagnostic_setting_deleted"])
        # Portal and studio key reads by engineers (with the matching data-plane audit record).
        lk = "Microsoft.CognitiveServices/accounts/listKeys/action"
        self.add(g.activity_op(at(DAY, hours=10, minutes=15), ALICE, lk, cog_arm_id("FABRIKAM-OAI-DEV")),
                 must_not=["azure_ai_keys_listed_by_unusual_app", "azure_ai_keys_listed_across_many_resources"])
        self.add(g.audit_listkey(at(DAY, hours=10, minutes=15, seconds=2), "FABRIKAM-OAI-DEV", ALICE["oid"]))
        self.add(g.activity_op(at(DAY, hours=15, minutes=30), BOB, lk, cog_arm_id("FABRIKAM-AISVC-RAG")),
                 must_not=["azure_ai_keys_listed_by_unusual_app", "azure_ai_keys_listed_across_many_resources"])
        self.add(g.audit_listkey(at(DAY, hours=15, minutes=30, seconds=2), "FABRIKAM-AISVC-RAG", BOB["oid"]))
        self.add(role_assign(g, at(DAY, hours=11, minutes=30), PLATFORM, FUNCAPP["oid"], ROLE_BLOB_READER, STORAGE_ID),
                 must_not=["azure_role_assigned_on_ai_scope_or_admin_role"])
        # 17:00 hardening of the dev account (local auth off, public access off).
        self.add(g.activity_op(at(DAY, hours=17), PLATFORM, "Microsoft.CognitiveServices/accounts/write",
                               cog_arm_id("FABRIKAM-OAI-DEV"), method="PATCH",
                               requestbody={"properties": {"disableLocalAuth": True, "publicNetworkAccess": "Disabled",
                                                           "networkAcls": {"defaultAction": "Deny", "ipRules": []}}}),
                 must_not=["azure_ai_local_auth_or_public_access_enabled"])

    def defender(self):
        g = self.g
        for k, (arm, text) in enumerate([
                (cog_arm_id("FABRIKAM-OAI-DEV"), "Azure AI Services resources should have key access disabled (disable local authentication)"),
                (cog_arm_id("FABRIKAM-AISVC-RAG"), "Azure AI Services resources should have key access disabled (disable local authentication)"),
                (cog_arm_id("FABRIKAM-AISVC-RAG"), "Azure AI Services resources should restrict network access"),
                (ml_arm_id(), "Azure Machine Learning workspaces should disable public network access"),
                (kv_arm_id(AI_VAULT), "Key vaults should have deletion protection enabled"),
                (kv_arm_id("KV-FAB-PLATFORM"), "Azure Key Vault should have firewall enabled"),
                (cog_arm_id("FABRIKAM-OAI-PROD"), "Diagnostic logs in Azure AI services resources should be enabled"),
                (ml_arm_id(), "Azure Machine Learning workspaces should be encrypted with a customer-managed key")]):
            self.add(g.recommendation(at(DAY, hours=6, minutes=k), text, arm,
                                      state="Healthy" if k == 6 else "Unhealthy"))
        # 18:00 and 18:40: jailbreaks on the RAG app, 40 minutes apart, plus a status update of the first.
        sid = g.guid()
        self.add(ai_alert(g, at(DAY, hours=18), JAILBREAK_BLOCKED, "FABRIKAM-AISVC-RAG", system_id=sid),
                 must_not=["azure_defender_ai_jailbreak_burst"])
        self.add(ai_alert(g, at(DAY, hours=18, minutes=8), JAILBREAK_BLOCKED, "FABRIKAM-AISVC-RAG", system_id=sid,
                          status="InProgress"),
                 must_not=["azure_defender_ai_jailbreak_burst", "azure_defender_ai_alert"])
        self.add(ai_alert(g, at(DAY, hours=18, minutes=40), JAILBREAK_BLOCKED, "FABRIKAM-AISVC-RAG"),
                 must_not=["azure_defender_ai_jailbreak_burst"])
        self.add(g.alert(at(DAY, hours=21), KV_SUSP_IP[0], KV_SUSP_IP[1], KV_SUSP_IP[2], kv_arm_id(AI_VAULT),
                         AI_VAULT.lower(), component="KeyVaults", tactics=KV_SUSP_IP[3]),
                 must_not=["azure_defender_ai_alert"])
        self.add(g.alert(at(DAY, hours=22), "%s_4e1d2c3b-5a6f-4789-8b0c-1d2e3f4a5b6c" % WORKSPACE,
                         "Azure OpenAI prompt injection keywords (hunting)", "Low", "", "",
                         provider="ASI Scheduled Alerts", component="Scheduled Alerts"),
                 must_not=["azure_defender_ai_alert"])

    # -- the attack campaign (dana.ops@ compromised; Azure CLI from 192.0.2.45) --

    def attack(self):
        g = self.g
        fs_key = ["azure_openai_key_use_from_new_network", "azure_openai_key_listed_then_used_from_new_network"]
        lk = "Microsoft.CognitiveServices/accounts/listKeys/action"
        # 03:05 re-enable API keys on the production account.
        self.add(g.activity_op(at(DAY, hours=3, minutes=5), DANA, "Microsoft.CognitiveServices/accounts/write",
                               cog_arm_id("FABRIKAM-OAI-PROD"), method="PATCH",
                               requestbody={"properties": {"disableLocalAuth": False}}))
        self.must_alert["azure_ai_local_auth_or_public_access_enabled"] = 1
        # 03:12-03:17 list the keys of every AI resource.
        for m, acct in [(12, "FABRIKAM-OAI-PROD"), (14, "FABRIKAM-OAI-DEV"), (15, "FABRIKAM-AISVC-RAG")]:
            self.add(g.activity_op(at(DAY, hours=3, minutes=m), DANA, lk, cog_arm_id(acct)),
                     must_not=["azure_openai_key_listed_then_used_from_new_network"])
            self.add(g.audit_listkey(at(DAY, hours=3, minutes=m, seconds=2), acct, DANA["oid"]))
        self.add(g.activity_op(at(DAY, hours=3, minutes=17), DANA,
                               "Microsoft.MachineLearningServices/workspaces/listKeys/action", ml_arm_id()))
        self.must_alert["azure_ai_keys_listed_across_many_resources"] = 1
        # 03:20-03:40 first use of the stolen key (a new network, but the estate is still learning).
        for i in range(20):
            self.add(g.rr(at(DAY, hours=3, minutes=20 + i, seconds=self.rng.randint(0, 50)), "FABRIKAM-OAI-PROD",
                          "gpt-4o-prod", net=NET_EVIL), must_not=fs_key)
        # 03:25-03:45 persistence and defence evasion.
        self.add(role_assign(g, at(DAY, hours=3, minutes=25), DANA, ATTACKER_SPN_OID, ROLE_OAI_CONTRIB,
                             cog_arm_id("FABRIKAM-OAI-PROD")))
        self.must_alert["azure_role_assigned_on_ai_scope_or_admin_role"] = 1
        self.add(g.activity_op(at(DAY, hours=3, minutes=30), DANA, "microsoft.insights/diagnosticSettings/delete",
                               diag_id(cog_arm_id("FABRIKAM-OAI-PROD")), method="DELETE"))
        self.must_alert["azure_diagnostic_setting_deleted"] = 1
        self.add(g.activity_op(at(DAY, hours=3, minutes=32), DANA, "Microsoft.Security/alertsSuppressionRules/write",
                               "/subscriptions/%s/providers/Microsoft.Security/alertsSuppressionRules/dismiss-ai-noise" % SUB,
                               method="PUT", requestbody={"properties": {
                                   "alertType": "AI.Azure_Jailbreak.ContentFiltering.BlockedAttempt",
                                   "state": "Enabled", "reason": "Other", "comment": "noise"}}))
        self.must_alert["azure_defender_suppression_rule_created"] = 1
        self.add(g.activity_op(at(DAY, hours=3, minutes=35), DANA, "Microsoft.CognitiveServices/accounts/raiPolicies/write",
                               cog_arm_id("FABRIKAM-OAI-PROD") + "/raiPolicies/relaxed", method="PUT",
                               requestbody={"properties": {"basePolicyName": "Microsoft.DefaultV2", "mode": "Default",
                                                           "contentFilters": [{"name": "Jailbreak", "blocking": False,
                                                                               "enabled": False, "source": "Prompt"}]}}))
        self.must_alert["azure_openai_content_filter_policy_changed"] = 1
        self.add(deployment_write(g, at(DAY, hours=3, minutes=45), DANA, "FABRIKAM-OAI-PROD", "gpt-45-preview"),
                 must_not=["azure_openai_first_model_deployment_by_principal"])
        # 05:00 trying other stolen keys against production: a burst of 401s.
        burst = [g.rr(at(DAY, hours=5, seconds=10 * i + self.rng.uniform(0, 3)), "FABRIKAM-OAI-PROD", "gpt-4o-prod",
                      status=401, net=NET_EVIL) for i in range(30)]
        self.add(burst[:25])
        self.add(burst[25:26], late=True)
        self.add(burst[26:])
        self.must_alert["azure_openai_auth_failure_burst"] = 1
        # 06:30 the same against the fraud-scoring endpoint.
        ml = [g.aml(at(DAY, hours=6, minutes=30, seconds=14 * i), "fraud-score", code=401 if i % 5 else 403,
                    auth="Key", ua="python-requests/2.31.0") for i in range(25)]
        self.add(ml, must_not=["azure_ml_endpoint_new_user_agent"])
        self.must_alert["azure_ml_endpoint_auth_failure_burst"] = 1
        # 09:01-09:04 the stolen key saturates gpt-4o-prod: everyone gets 429.
        storm = []
        for i in range(70):
            storm.append(g.rr(at(DAY, hours=9, minutes=1, seconds=2.5 * i + self.rng.uniform(0, 2)), "FABRIKAM-OAI-PROD",
                              "gpt-4o-prod", status=429, net=NET_EVIL))
        for i in range(30):
            storm.append(g.rr(at(DAY, hours=9, minutes=1, seconds=6 * i + 1), "FABRIKAM-OAI-PROD", "gpt-4o-prod",
                              net=NET_EVIL, reqlen=self.rng.randint(3000, 4900)))
        for i in range(12):
            storm.append(g.rr(at(DAY, hours=9, minutes=1, seconds=15 * i + 4), "FABRIKAM-OAI-PROD", "gpt-4o-prod",
                              status=429, oid=CHATAPI_OID, net=NET_APP))
        self.add(storm[:40])
        self.add(storm[40:41], late=True)
        self.add(storm[41:])
        self.must_not.setdefault("azure_openai_key_use_from_new_network", []).extend(
            r["_ItemId"] for r in storm if r["CallerIPAddress"].startswith(NET_EVIL))
        self.must_alert["azure_openai_rate_limit_storm"] = 1
        self.must_alert["azure_openai_rate_limit_above_baseline"] = 1
        # 11:00 bulk generation with long prompts through the stolen RAG key.
        self.add([g.rr(at(DAY, hours=11, seconds=5 + 1.1 * i), "FABRIKAM-AISVC-RAG", "gpt-41-rag", net=NET_EVIL,
                       reqlen=11500 + self.rng.randint(0, 1000), resplen=self.rng.randint(6000, 16000),
                       dur=self.rng.randint(8000, 30000)) for i in range(45)],
                 must_not=["azure_openai_key_use_from_new_network"])
        self.must_alert["azure_openai_large_prompt_volume"] = 1
        # 12:00 and 12:06 two jailbreak alerts on production; 12:40 the first is resolved.
        first = g.guid()
        self.add(ai_alert(g, at(DAY, hours=12), JAILBREAK_BLOCKED, "FABRIKAM-OAI-PROD", system_id=first))
        self.add(ai_alert(g, at(DAY, hours=12, minutes=6), JAILBREAK_DETECTED, "FABRIKAM-OAI-PROD"))
        self.add(ai_alert(g, at(DAY, hours=12, minutes=40), JAILBREAK_BLOCKED, "FABRIKAM-OAI-PROD", system_id=first,
                          status="Resolved"), must_not=["azure_defender_ai_alert", "azure_defender_ai_jailbreak_burst"])
        self.must_alert["azure_defender_ai_jailbreak_burst"] = 1
        # 13:20 the compromised account harvests the AI vault.
        self.add(g.kv_diag(at(DAY, hours=13, minutes=20), AI_VAULT, "SecretList", DANA["oid"], APP_CLI, DANA["ip"],
                           ua=DANA_UA, upn=DANA["caller"]))
        reads = [g.kv_diag(at(DAY, hours=13, minutes=20, seconds=3 + 15 * i), AI_VAULT, "SecretGet", DANA["oid"],
                           APP_CLI, DANA["ip"], secret=SECRET_NAMES[i], ua=DANA_UA, upn=DANA["caller"])
                 for i in range(35)]
        self.add(reads[:10], must_not=["azure_keyvault_secret_read_by_new_identity"])
        self.add(reads[10:11], must_not=["azure_keyvault_secret_read_by_new_identity"], late=True)
        self.add(reads[11:], must_not=["azure_keyvault_secret_read_by_new_identity"])
        self.must_alert["azure_keyvault_mass_secret_retrieval"] = 1
        # 13:35-13:40 export and destroy.
        for k, name in enumerate(["aoai-prod-key1", "aisvc-rag-key1"]):
            self.add(g.kv_diag(at(DAY, hours=13, minutes=35, seconds=20 * k), AI_VAULT, "SecretBackup", DANA["oid"],
                               APP_CLI, DANA["ip"], secret=name, ua=DANA_UA, upn=DANA["caller"]))
        self.add(g.kv_diag(at(DAY, hours=13, minutes=38), AI_VAULT, "SecretDelete", DANA["oid"], APP_CLI, DANA["ip"],
                           secret="aoai-prod-key1", ua=DANA_UA, upn=DANA["caller"]))
        self.add(g.kv_rs(at(DAY, hours=13, minutes=40), "KV-FAB-PLATFORM", "KeyBackup", DANA["oid"], APP_CLI,
                         DANA["ip"], name="cmk-storage", kind="keys"))
        self.must_alert["azure_keyvault_sensitive_operation"] = 4
        # 14:00-14:10 a script loops over listKeys on the dev account.
        for i in range(12):
            t = at(DAY, hours=14, seconds=50 * i + self.rng.uniform(0, 5))
            self.add(g.activity_op(t, DANA, lk, cog_arm_id("FABRIKAM-OAI-DEV")))
            self.add(g.audit_listkey(at(t, seconds=2), "FABRIKAM-OAI-DEV", DANA["oid"]))
        self.must_alert["azure_openai_keys_listed_repeatedly"] = 1
        self.must_alert["azure_ai_keys_listed_by_unusual_app"] = 4 + 12
        # 16:00-16:40 a prompt that makes the chat model answer with nothing, again and again.
        for i in range(12):
            self.add(g.rr(at(DAY, hours=16, minutes=3.3 * i, seconds=7), "FABRIKAM-OAI-PROD", "gpt-4o-prod",
                          oid=CHATAPI_OID, resplen=0, stream="Non-Streaming"))
        self.must_alert["azure_openai_zero_length_success_responses"] = 1
        # 19:00 the compromised account calls the fraud model directly with a token and curl.
        self.add([g.aml(at(DAY, hours=19, minutes=2 * i), "fraud-score", auth="AADToken", identity=DANA["oid"],
                        ua="curl/8.5.0") for i in range(5)],
                 must_not=["azure_ml_endpoint_new_client_identity", "azure_ml_endpoint_new_user_agent"])
        # 20:00 sensitive data in a model response.
        self.add(ai_alert(g, at(DAY, hours=20), DATA_LEAK, "FABRIKAM-OAI-PROD"))
        self.must_alert["azure_defender_ai_alert"] = 5

    def build(self):
        self.chat_api()
        self.rag_indexer()
        self.batch_summariser()
        self.rag_app()
        self.developers()
        self.ml_traffic()
        self.key_vault()
        self.activity()
        self.defender()
        self.attack()
        # A few benign records arrive late too.
        benign = [r for r in self.recs if r["_ItemId"] not in self.late]
        for r in self.rng.sample(benign, 40):
            self.late.add(r["_ItemId"])
        delays = {}
        for r in self.recs:
            if r["_ItemId"] in self.late:
                delays[r["_ItemId"]] = self.rng.uniform(20, 120)
        def arrival(r):
            return DAY_EPOCH(r["TimeGenerated"]) + delays.get(r["_ItemId"], 0.0)
        recs = sorted(self.recs, key=lambda r: (arrival(r), r["_ItemId"]))
        return recs


def DAY_EPOCH(s):
    return datetime.strptime(s[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


# --- output ------------------------------------------------------------------------------

def rule_ids():
    ids = {}
    for dirpath, _, files in os.walk(RULES_DIR):
        for f in files:
            if not f.endswith(".yml"):
                continue
            with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                for line in fh:
                    m = re.match(r"id:\s*([0-9a-f-]{36})\s*$", line)
                    if m:
                        ids[f[:-4]] = m.group(1)
                        break
    return ids


def jsonl(recs):
    return "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in recs)


def outputs():
    ids = rule_ids()
    out = {}
    for k, stem in enumerate(sorted(FIXTURES)):
        if stem not in ids:
            raise SystemExit("no rule file for fixture %s" % stem)
        g = Gen(SEED * 1000 + k)
        pos, neg, lo, hi = FIXTURES[stem](g)
        d = os.path.join(FIX_DIR, stem)
        out[os.path.join(d, "positive.jsonl")] = jsonl(pos)
        out[os.path.join(d, "negative.jsonl")] = jsonl(neg)
        out[os.path.join(d, "expect.json")] = json.dumps(
            {"rule_id": ids[stem], "min_alerts": lo, "max_alerts": hi}, indent=2) + "\n"
    missing = sorted(set(ids) - set(FIXTURES))
    if missing:
        raise SystemExit("rules without fixtures: %s" % ", ".join(missing))
    day = Day(SEED)
    recs = day.build()
    out[os.path.join(SCEN_DIR, "day.jsonl")] = jsonl(recs)
    expected = {
        "must_alert": [{"rule_id": ids[s], "min": n} for s, n in sorted(day.must_alert.items())],
        "must_not_alert_on": [{"rule_id": ids[s], "_ItemIds": v} for s, v in sorted(day.must_not.items())],
    }
    out[os.path.join(SCEN_DIR, "day.expected.json")] = json.dumps(expected, indent=1) + "\n"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    args = ap.parse_args()
    out = outputs()
    bad = 0
    for path, text in sorted(out.items()):
        if args.check:
            try:
                with open(path, encoding="utf-8") as fh:
                    same = fh.read() == text
            except OSError:
                same = False
            if not same:
                print("differs: %s" % os.path.relpath(path, ROOT))
                bad += 1
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    if args.check:
        print("%d files, %d differ" % (len(out), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
