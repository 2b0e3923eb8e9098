#!/usr/bin/env python3
"""Benchmark corpus generator: Log Analytics JSON lines for `aiwatchd replay`.

    python3 tests/bench/gen_corpus.py [--records N] [--mode mixed|openai|groups] [--out PATH]

Modes
  mixed   (default) the tables the rule pack reads, in proportions a busy AI platform sees
          (per 10,000 records): Azure OpenAI RequestResponse 8,970; Azure OpenAI Audit 30;
          AzureActivity 100; Key Vault AuditEvent 450 (AzureDiagnostics 360, AZKVAuditLogs 90);
          AmlOnlineEndpointTrafficLog 445; SecurityAlert 5.
  openai  Azure OpenAI RequestResponse records only: the measurement basis of the issue's
          targets (it quotes 1,000,000 records of about 725 bytes, without their columns).
  groups  RequestResponse records whose properties_s.objectId takes --groups distinct values
          (--per-group records each, interleaved, within one hour): the input of the
          "memory per 100,000 correlation groups" measurement (see gen_rules.py --groups).

Records look like what the daemon's own Log Analytics query returns (azure-contract.md:
`project _ItemId, TimeGenerated, ...needed columns...`): RequestResponse rows carry the columns
the rules and the routing read (`--rr-columns projected`, about 850 bytes: Type,
ResourceProvider, Category, Resource, OperationName, ResultSignature, CallerIPAddress,
properties_s, _ResourceId plus TimeGenerated and _ItemId) or every AzureDiagnostics column of
log-schemas.md section 1.3 (`--rr-columns full`, about 1,370 bytes). The json-c, jsmn and
memmem baselines on the projected rows come within 5-20 % of the issue's figures for its
~725-byte records. The other tables carry all
their columns (log-schemas.md sections 1.4, 2.1, 3.1, 3.4, 4.1).

Thousands of callers (Entra object ids, key-authenticated client networks, Key Vault
identities; each account, vault and endpoint has its own few, drawn from shared pools), about
2,700 model deployments on 300 accounts, 120 vaults, 400 ML endpoints; a few
percent errors (400/401/403/429/500; Key Vault Unauthorized/Forbidden/TooManyRequests; ML
401/403/429/5xx). TimeGenerated increases over --hours (default 24) with up to 2 s of jitter
(so records are slightly out of order, well inside the engine's allowed lateness); _ItemId is
unique. Everything is invented (documentation IP ranges and seeded GUIDs); Python 3 standard
library only; the same arguments always give the same bytes.

The corpus is large (about 920 MB for 1,000,000 mixed records): write it to a build
directory, never into the repository. The default output is
<repo>/build-bench/bench/<mode>-<N>.jsonl.
"""
import argparse
import json
import math
import os
import random
import sys
from datetime import datetime, timezone

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_DIR = os.path.join(ROOT, "build-bench", "bench")
SEED = 20250617
TICKS_AT_EPOCH = 621355968000000000
WORKSPACE = "7afe3898-aaa8-4c03-bb16-a4c9a80e006c"   # Log Analytics workspace (TenantId column)
AAD_TENANT = "c9e3b0a4-5d1f-4e62-9a7b-2f8d6c4e1b30"  # Entra tenant (claims)

# Mixed-mode proportions per 10,000 records.
MIX = [("rr", 8970), ("audit", 30), ("activity", 100), ("kv_diag", 360), ("kv_azkv", 90),
       ("aml", 445), ("alert", 5)]

MODELS = [  # (model, version, operation, weight)
    ("gpt-4o", "2024-11-20", "ChatCompletions_Create", 30),
    ("gpt-4o-mini", "2024-07-18", "ChatCompletions_Create", 25),
    ("gpt-4.1", "2025-04-14", "ChatCompletions_Create", 10),
    ("gpt-35-turbo", "0125", "ChatCompletions_Create", 6),
    ("o3-mini", "2025-01-31", "ChatCompletions_Create", 5),
    ("gpt-35-turbo-instruct", "0914", "Completions_Create", 3),
    ("text-embedding-3-large", "1", "Embeddings_Create", 12),
    ("text-embedding-3-small", "1", "Embeddings_Create", 6),
    ("text-embedding-ada-002", "2", "Embeddings_Create", 2),
    ("dall-e-3", "3.0", "ImagesGenerations_Create", 1),
]
API_VERSIONS = ["2024-10-21", "2024-06-01", "2024-12-01-preview", "2025-01-01-preview",
                "2024-08-01-preview", "2025-03-01-preview"]
RR_STATUS = [("200", 9550), ("400", 50), ("401", 100), ("403", 50), ("429", 200), ("500", 50)]
REGIONS = ["eastus", "eastus2", "westus3", "swedencentral", "francecentral", "uksouth",
           "japaneast", "australiaeast", "canadaeast", "northcentralus"]
TEAMS = ["search", "chat", "rag", "support", "copilot", "docs", "legal", "hr", "finance",
         "sales", "mktg", "ops", "risk", "fraud", "claims", "care", "eng", "data", "ml", "sec"]

KV_OPS = [("SecretGet", 550), ("SecretList", 60), ("SecretListVersions", 20), ("KeyGet", 60),
          ("KeySign", 50), ("KeyUnwrap", 60), ("KeyWrap", 30), ("VaultGet", 90),
          ("CertificateGet", 40), ("Authentication", 20), ("SecretSet", 12), ("SecretDelete", 3),
          ("SecretBackup", 2), ("KeyDelete", 1), ("SecretPurge", 1), ("VaultPut", 1)]
KV_STATUS = [(200, "OK", "Success", 9650), (401, "Unauthorized", "Unauthorized", 200),
             (403, "Forbidden", "Forbidden", 100), (429, "TooManyRequests", "TooManyRequests", 50)]
KV_CLIENTS = [
    "azsdk-python-keyvault-secrets/4.8.0 Python/3.11.9 (Linux-6.8.0-1021-azure-x86_64-with-glibc2.39)",
    "azsdk-net-Security.KeyVault.Secrets/4.6.0 (.NET 8.0.8; Microsoft Windows 10.0.20348)",
    "azsdk-java-azure-security-keyvault-secrets/4.8.5 (17.0.12; Linux; 6.8.0-1021-azure)",
    "FxVersion/4.8.9256.0 OSName/Windows OSVersion/Microsoft.Windows.10.0.20348 Microsoft.Azure.KeyVault.KeyVaultClient/3.0.5.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "azsdk-js-keyvault-secrets/4.8.0 core-rest-pipeline/1.16.3 Node/v20.15.1 OS/(x64-Linux-6.8.0-1021-azure)",
]

ACTIVITY_OPS = [  # (OperationNameValue, provider, weight)
    ("MICROSOFT.COGNITIVESERVICES/ACCOUNTS/DEPLOYMENTS/WRITE", "MICROSOFT.COGNITIVESERVICES", 8),
    ("MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION", "MICROSOFT.COGNITIVESERVICES", 10),
    ("MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", "MICROSOFT.COGNITIVESERVICES", 4),
    ("MICROSOFT.COGNITIVESERVICES/ACCOUNTS/REGENERATEKEY/ACTION", "MICROSOFT.COGNITIVESERVICES", 1),
    ("MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/ONLINEENDPOINTS/LISTKEYS/ACTION",
     "MICROSOFT.MACHINELEARNINGSERVICES", 4),
    ("MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/COMPUTES/WRITE", "MICROSOFT.MACHINELEARNINGSERVICES", 4),
    ("MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/JOBS/WRITE", "MICROSOFT.MACHINELEARNINGSERVICES", 12),
    ("MICROSOFT.KEYVAULT/VAULTS/WRITE", "MICROSOFT.KEYVAULT", 2),
    ("MICROSOFT.KEYVAULT/VAULTS/SECRETS/WRITE", "MICROSOFT.KEYVAULT", 6),
    ("MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE", "MICROSOFT.RESOURCES", 20),
    ("MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION", "MICROSOFT.STORAGE", 15),
    ("MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/WRITE", "MICROSOFT.INSIGHTS", 3),
    ("MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", "MICROSOFT.AUTHORIZATION", 2),
    ("MICROSOFT.AUTHORIZATION/POLICIES/AUDITIFNOTEXISTS/ACTION", "MICROSOFT.AUTHORIZATION", 25),
    ("MICROSOFT.WEB/SITES/RESTART/ACTION", "MICROSOFT.WEB", 4),
]
APPS = [  # Claims.appid, weight
    ("c44b4083-3bb0-49c1-b47d-974e53cbdf3c", 40),   # Azure Portal
    ("04b07795-8ddb-461a-bbee-02f9e1bf7b46", 20),   # Azure CLI
    ("1950a258-227b-4e31-a9cf-717495945fc2", 8),    # Azure PowerShell
    ("cb2ff863-7f30-4ced-ab89-a00194bcf6d9", 8),    # AI Studio
    ("d7304df8-741f-47d3-9bc2-df0e24e2071f", 8),    # ML Studio
    ("dc807dec-d211-4b3f-bc8a-43b3443c4874", 6),    # OpenAI Studio
]
ML_UAS = ["python-requests/2.31.0", "python-requests/2.32.3", "azureml-inference-client/1.4.0",
          "Java-http-client/17.0.12", "okhttp/4.12.0", "curl/8.5.0", "PostmanRuntime/7.39.0",
          "Go-http-client/2.0", "axios/1.7.2", "Apache-HttpClient/5.3.1 (Java/17.0.12)",
          "Mozilla/5.0 (compatible; azureml-batch/2.1)", "node-fetch/1.0"]
ML_STATUS = [(200, "OK", 9500), (401, "Unauthorized", 150), (403, "Forbidden", 50),
             (429, "Too Many Requests", 200), (500, "Internal Server Error", 60),
             (503, "Service Unavailable", 40)]
ALERT_TYPES = [
    ("AI.Azure_Jailbreak.ContentFiltering.BlockedAttempt", "A Jailbreak attempt on your Azure AI model deployment was blocked by Azure AI Content Safety Prompt Shields", "Medium", 40),
    ("AI.Azure_Jailbreak.ContentFiltering.DetectedAttempt", "A Jailbreak attempt on your Azure AI model deployment was detected by Azure AI Content Safety Prompt Shields", "Medium", 10),
    ("AI.Azure_DataLeakInModelResponse.Sensitive", "Sensitive data exposure detected in AI model response", "Low", 10),
    ("AI.Azure_AccessFromSuspiciousUserAgent", "Suspicious user agent detected", "Medium", 8),
    ("AI.Azure_DOWVolumeAnomaly", "Suspected wallet attack - volume anomaly detected", "Medium", 5),
    ("KV_SuspiciousIPAccess", "Access from a suspicious IP address to a key vault", "Medium", 10),
    ("ARM_AnomalousRBACRoleAssignment", "Anomalous RBAC role assignment detected", "Medium", 5),
]


def jdump(o):
    return json.dumps(o, separators=(",", ":"))


def cumulative(pairs):
    """(values, cumulative weights) for random.choices(cum_weights=...)."""
    vals, cum, s = [], [], 0
    for v, w in pairs:
        s += w
        vals.append(v)
        cum.append(s)
    return vals, cum


class Vocab:
    """The fictitious organisation: subscriptions, accounts, deployments, identities, networks.
    Built from its own seed so gen_rules.py can name the same things."""

    def __init__(self, seed=SEED):
        r = random.Random(seed ^ 0x5EED)
        self.rng = r
        self.subs = [self.guid() for _ in range(6)]
        # Azure OpenAI / AI Services accounts and their deployments.
        self.accounts = []
        for i in range(300):
            team = TEAMS[i % len(TEAMS)]
            region = REGIONS[r.randrange(len(REGIONS))]
            name = "oai-%s-%03d" % (team, i)
            rg = "rg-%s-%s" % (team, ("prod", "dev", "test")[r.randrange(3)])
            sub = self.subs[r.randrange(len(self.subs))]
            deps = []
            for j in range(r.randint(3, 15)):
                m = r.choices(MODELS, weights=[x[3] for x in MODELS])[0]
                dname = "%s-%d" % (m[0].replace(".", ""), j)
                deps.append((dname, m[0], m[1], m[2]))
            arm = "/subscriptions/%s/resourcegroups/%s/providers/microsoft.cognitiveservices/accounts/%s" % (
                sub, rg, name)
            self.accounts.append({"name": name.upper(), "arm": arm, "rg": rg.upper(), "sub": sub,
                                  "region": region, "deps": deps})
        self.deployments = sum(len(a["deps"]) for a in self.accounts)
        # Account popularity: Zipf-like, a few hot accounts and a long tail.
        self.acct_cum = list(_zipf_cum(len(self.accounts), 1.1))
        # Entra callers (object ids) and key-auth client networks (masked /24).
        self.oids = [self.guid() for _ in range(6000)]
        self.oid_cum = list(_zipf_cum(len(self.oids), 0.9))
        self.nets = ["%d.%d.%d" % (r.choice([20, 40, 52, 98, 104, 137, 172, 198, 203]),
                                   r.randrange(256), r.randrange(256)) for _ in range(2500)]
        self.net_cum = list(_zipf_cum(len(self.nets), 0.9))
        # Each account is called by its own few applications: a handful of client networks
        # and Entra callers drawn from the shared pools (so hot callers use several
        # accounts), with the account's own Zipf popularity among them.
        for a in self.accounts:
            a["nets"] = self.pool(self.nets, self.net_cum, r.randint(2, 24))
            a["oids"] = self.pool(self.oids, self.oid_cum, r.randint(3, 60))
        # Key Vault
        self.vaults = []
        for i in range(120):
            team = TEAMS[i % len(TEAMS)]
            name = "kv-%s-%s-%02d" % (team, ("prod", "dev", "shared")[i % 3], i)
            rg = "rg-%s-security" % team
            sub = self.subs[r.randrange(len(self.subs))]
            secrets = ["%s-%s" % (p, s) for p in ("aoai", "sql", "storage", "api", "cosmos", "sp")
                       for s in ("key1", "key2", "conn", "password", "token")][:r.randint(6, 30)]
            self.vaults.append({"name": name, "rg": rg, "sub": sub, "secrets": secrets})
        self.kv_ids = [(self.guid(), self.guid()) for _ in range(3000)]  # (oid, appid)
        self.kv_cum = list(_zipf_cum(len(self.kv_ids), 1.0))
        for kv in self.vaults:
            kv["ids"] = self.pool(self.kv_ids, self.kv_cum, r.randint(3, 40))
        self.kv_ips = ["10.%d.%d.%d" % (r.randrange(256), r.randrange(256), r.randrange(1, 255))
                       for _ in range(800)] + ["%s.%d" % (n, r.randrange(1, 255)) for n in self.nets[:400]]
        # Azure ML workspaces and online endpoints
        self.ml = []
        for i in range(100):
            team = TEAMS[i % len(TEAMS)]
            ws = "mlw-%s-%02d" % (team, i)
            rg = "rg-%s-ml" % team
            sub = self.subs[r.randrange(len(self.subs))]
            wsid = self.guid()
            for e in range(4):
                ep = "%s-%s-ep%d" % (team, ("score", "classify", "rank", "extract")[e], i)
                arm = ("/subscriptions/%s/resourcegroups/%s/providers/microsoft.machinelearningservices"
                       "/workspaces/%s/onlineendpoints/%s" % (sub, rg, ws, ep))
                self.ml.append({"ws": ws, "wsid": wsid, "ep": ep, "arm": arm, "sub": sub,
                                "region": REGIONS[i % len(REGIONS)]})
        self.ml_cum = list(_zipf_cum(len(self.ml), 1.0))
        for m in self.ml:
            m["oids"] = self.pool(self.oids, self.oid_cum, r.randint(2, 30))
        # People and service principals in the activity log.
        self.people = ["%s.%s@contoso.example" % (f, l) for f in
                       ("ana", "ben", "chen", "dara", "eli", "fay", "gus", "hana", "ivo", "jun",
                        "kai", "lea", "mo", "nia", "oli", "pia", "raj", "sam", "tia", "uma")
                       for l in ("ng", "kim", "roy", "diaz", "wu", "berg", "sato", "khan")]
        self.people_oids = {p: self.guid() for p in self.people}
        self.spns = [self.guid() for _ in range(200)]

    def pool(self, items, cum, k):
        """k distinct items drawn by popularity, with Zipf weights among themselves."""
        chosen = list(dict.fromkeys(self.rng.choices(items, cum_weights=cum, k=k)))
        return chosen, list(_zipf_cum(len(chosen), 1.0))

    def guid(self):
        h = "%032x" % self.rng.getrandbits(128)
        return "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], "89ab"[int(h[16], 16) & 3],
                                      h[17:20], h[20:])


def _zipf_cum(n, s):
    tot = 0.0
    for k in range(1, n + 1):
        tot += 1.0 / (k ** s)
        yield tot


class Corpus:
    def __init__(self, vocab, seed, start, hours, rr_columns):
        self.v = vocab
        self.r = random.Random(seed)
        self.start = start
        self.span = hours * 3600.0
        self.full_rr = rr_columns == "full"
        self.status_vals, self.status_cum = cumulative(RR_STATUS)
        self.kv_vals, self.kv_cum = cumulative([(x, x[3]) for x in KV_STATUS])
        self.kvop_vals, self.kvop_cum = cumulative(KV_OPS)
        self.ml_vals, self.ml_cum = cumulative([(x, x[2]) for x in ML_STATUS])
        self.act_vals, self.act_cum = cumulative([(x, x[2]) for x in ACTIVITY_OPS])
        self.app_vals, self.app_cum = cumulative(APPS)
        self.alert_vals, self.alert_cum = cumulative([(x, x[3]) for x in ALERT_TYPES])
        self.epoch = start.timestamp()

    # --- helpers -------------------------------------------------------------------------

    def guid(self):
        h = "%032x" % self.r.getrandbits(128)
        return "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], "89ab"[int(h[16], 16) & 3],
                                      h[17:20], h[20:])

    def pick(self, seq, cum):
        return self.r.choices(seq, cum_weights=cum)[0]

    @staticmethod
    def iso(t):
        """Unix seconds -> ISO-8601 with 7 fractional digits, as Log Analytics returns it."""
        sec = int(t)
        frac = int((t - sec) * 10_000_000)
        return datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%07dZ" % frac

    def lognorm(self, median, sigma, lo, hi):
        x = int(median * math.exp(self.r.gauss(0.0, sigma)))
        return lo if x < lo else hi if x > hi else x

    # --- Azure OpenAI --------------------------------------------------------------------

    def rr(self, t, acct=None, oid=None):
        r = self.r
        a = acct or self.pick(self.v.accounts, self.v.acct_cum)
        dname, model, version, op = a["deps"][r.randrange(len(a["deps"]))]
        status = self.pick(self.status_vals, self.status_cum)
        if oid is None:
            key_auth = r.random() < 0.45
            oid = "" if key_auth else self.pick(*a["oids"])
        # Now and then a client from anywhere: a developer on the road, a new integration.
        net = self.pick(*a["nets"]) if r.random() >= 0.002 else self.pick(self.v.nets, self.v.net_cum)
        embed = op == "Embeddings_Create"
        if op == "ChatCompletions_Create" or op == "Completions_Create":
            reqlen = self.lognorm(1400, 0.9, 60, 120000)
        elif embed:
            reqlen = self.lognorm(2600, 0.6, 20, 32000)
        else:
            reqlen = self.lognorm(300, 0.4, 50, 4000)
        if status == "200":
            if embed:
                resplen, dur = self.lognorm(33000, 0.3, 8000, 130000), self.lognorm(90, 0.5, 15, 3000)
            else:
                resplen = 0 if r.random() < 0.0005 else self.lognorm(1800, 0.8, 40, 64000)
                dur = self.lognorm(900, 0.8, 80, 120000)
        else:
            resplen = {"400": 612, "401": 235, "403": 241, "429": 318}.get(status, 190)
            dur = r.randint(2, 40)
        stream = "Non-Streaming" if embed or r.random() < 0.6 else "Streaming"
        tick0 = TICKS_AT_EPOCH + int(t * 10_000_000) - dur * 10_000
        props = ('{"apiName":"Azure OpenAI API version %s","requestTime":%d,"requestLength":%d,'
                 '"responseTime":%d,"responseLength":%d,"objectId":"%s","streamType":"%s",'
                 '"modelDeploymentName":"%s","modelName":"%s","modelVersion":"%s"}' % (
                     API_VERSIONS[r.randrange(len(API_VERSIONS))] if r.random() < 0.3 else API_VERSIONS[0],
                     tick0, reqlen, tick0 + dur * 10_000 + r.randrange(10_000), resplen, oid, stream,
                     dname, model, version))
        if self.full_rr:
            rec = {"TenantId": WORKSPACE, "TimeGenerated": self.iso(t),
                   "ResourceId": a["arm"].upper(), "Category": "RequestResponse",
                   "ResourceGroup": a["rg"], "SubscriptionId": a["sub"],
                   "ResourceProvider": "MICROSOFT.COGNITIVESERVICES", "Resource": a["name"],
                   "ResourceType": "ACCOUNTS", "OperationName": op, "ResultSignature": status,
                   "DurationMs": dur, "CallerIPAddress": net + ".***", "CorrelationId": self.guid(),
                   "properties_s": props, "event_s": "ShoeboxCallResult",
                   "location_s": a["region"], "Tenant_s": a["region"], "SourceSystem": "Azure",
                   "Type": "AzureDiagnostics", "_ResourceId": a["arm"], "_ItemId": self.guid()}
        else:
            rec = {"TimeGenerated": self.iso(t), "Type": "AzureDiagnostics",
                   "ResourceProvider": "MICROSOFT.COGNITIVESERVICES", "Category": "RequestResponse",
                   "Resource": a["name"], "OperationName": op, "ResultSignature": status,
                   "CallerIPAddress": net + ".***", "properties_s": props,
                   "_ResourceId": a["arm"], "_ItemId": self.guid()}
        return jdump(rec)

    def audit(self, t):
        a = self.pick(self.v.accounts, self.v.acct_cum)
        return jdump({
            "TenantId": WORKSPACE, "TimeGenerated": self.iso(t), "ResourceId": a["arm"].upper(),
            "Category": "Audit", "ResourceGroup": a["rg"], "SubscriptionId": a["sub"],
            "ResourceProvider": "MICROSOFT.COGNITIVESERVICES", "Resource": a["name"],
            "ResourceType": "ACCOUNTS", "OperationName": "ListKey", "ResultSignature": "",
            "CallerIPAddress": "", "CorrelationId": self.guid(),
            "properties_s": jdump({"objectId": self.pick(self.v.oids, self.v.oid_cum)}),
            "AssetIdentity_g": self.guid(), "Tenant_s": a["region"], "SourceSystem": "Azure",
            "Type": "AzureDiagnostics", "_ResourceId": a["arm"], "_ItemId": self.guid()})

    # --- AzureActivity -------------------------------------------------------------------

    def activity(self, t):
        r = self.r
        opname, provider, _ = self.pick(self.act_vals, self.act_cum)
        if r.random() < 0.7:
            caller = self.v.people[r.randrange(len(self.v.people))]
            oid, kind = self.v.people_oids[caller], "User"
            appid = self.pick(self.app_vals, self.app_cum)
            name = caller.split("@")[0].replace(".", " ").title()
        else:
            oid = self.v.spns[r.randrange(len(self.v.spns))]
            caller, kind, appid, name = oid, "ServicePrincipal", self.guid(), "spn-" + oid[:8]
        ip = self.v.kv_ips[r.randrange(len(self.v.kv_ips))]
        sub = self.v.subs[r.randrange(len(self.v.subs))]
        if provider == "MICROSOFT.COGNITIVESERVICES":
            a = self.v.accounts[r.randrange(len(self.v.accounts))]
            scope, rg, sub = a["arm"], a["rg"], a["sub"]
            if "DEPLOYMENTS" in opname:
                scope += "/deployments/" + a["deps"][0][0]
        elif provider == "MICROSOFT.MACHINELEARNINGSERVICES":
            m = self.v.ml[r.randrange(len(self.v.ml))]
            scope, sub = m["arm"], m["sub"]
            rg = scope.split("/")[4].upper()
        elif provider == "MICROSOFT.KEYVAULT":
            kv = self.v.vaults[r.randrange(len(self.v.vaults))]
            scope = "/subscriptions/%s/resourcegroups/%s/providers/microsoft.keyvault/vaults/%s" % (
                kv["sub"], kv["rg"], kv["name"])
            rg, sub = kv["rg"].upper(), kv["sub"]
        else:
            rg = "RG-%s-%s" % (TEAMS[r.randrange(len(TEAMS))].upper(), ("PROD", "DEV")[r.randrange(2)])
            scope = "/subscriptions/%s/resourcegroups/%s/providers/%s/x%05d" % (
                sub, rg.lower(), opname.split("/")[0].lower() + "/" + opname.split("/")[1].lower(),
                r.randrange(100000))
        status = "Start" if r.random() < 0.45 else ("Success" if r.random() < 0.97 else "Failure")
        action = opname.lower().replace("microsoft.", "Microsoft.", 1)
        role = ("Owner", "Contributor", "Reader", "Cognitive Services Contributor")[r.randrange(4)]
        iat = int(t) - r.randrange(600)
        authorization = jdump({"action": action, "scope": scope, "evidence": {
            "role": role, "roleAssignmentScope": "/subscriptions/" + sub,
            "roleAssignmentId": self.guid().replace("-", ""),
            "roleDefinitionId": self.guid().replace("-", ""),
            "principalId": oid.replace("-", ""), "principalType": kind}})
        claims = {"aud": "https://management.core.windows.net/",
                  "iss": "https://sts.windows.net/%s/" % AAD_TENANT, "iat": str(iat),
                  "nbf": str(iat), "exp": str(iat + 3600), "appid": appid, "appidacr": "0",
                  "http://schemas.microsoft.com/identity/claims/objectidentifier": oid,
                  "http://schemas.microsoft.com/identity/claims/tenantid": AAD_TENANT,
                  "ipaddr": ip, "ver": "1.0", "name": name}
        if kind == "User":
            claims["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = caller
            claims["http://schemas.microsoft.com/claims/authnmethodsreferences"] = "pwd,mfa"
            claims["scp"] = "user_impersonation"
        props = {"eventCategory": "Administrative", "entity": scope, "message": action,
                 "hierarchy": "%s/%s" % (AAD_TENANT, sub), "caller": caller,
                 "statusCode": "" if status == "Start" else ("OK" if status == "Success" else "Forbidden"),
                 "serviceRequestId": "", "resource": scope.rsplit("/", 1)[1],
                 "resourceProviderValue": provider, "activityStatusValue": status,
                 "activitySubstatusValue": ""}
        if opname.endswith("ROLEASSIGNMENTS/WRITE"):
            props["requestbody"] = jdump({"Id": self.guid(), "Properties": {
                "PrincipalId": self.guid(), "PrincipalType": "ServicePrincipal",
                "RoleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
                "Scope": "/subscriptions/%s/resourceGroups/%s" % (sub, rg.lower())}})
        elif opname == "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE":
            props["requestbody"] = jdump({"location": "eastus2", "kind": "OpenAI", "properties": {
                "publicNetworkAccess": "Disabled", "disableLocalAuth": True,
                "networkAcls": {"defaultAction": "Deny"}}})
        return jdump({
            "TenantId": WORKSPACE, "SourceSystem": "Azure", "CallerIpAddress": ip,
            "CategoryValue": "Administrative", "CorrelationId": self.guid(),
            "Authorization": authorization, "Claims": jdump(claims), "Level": "Informational",
            "OperationNameValue": opname, "Properties": jdump(props), "Caller": caller,
            "EventDataId": self.guid(), "EventSubmissionTimestamp": self.iso(t + 2.0),
            "HTTPRequest": jdump({"clientRequestId": self.guid(), "clientIpAddress": ip,
                                  "method": "POST" if opname.endswith("ACTION") else "PUT"}),
            "OperationId": self.guid(), "ResourceGroup": rg, "ResourceProviderValue": provider,
            "ActivityStatusValue": status, "ActivitySubstatusValue": "",
            "Hierarchy": "%s/%s" % (AAD_TENANT, sub), "SubscriptionId": sub,
            "OperationName": "", "ActivityStatus": "", "ActivitySubstatus": "", "Category": "",
            "ResourceProvider": "", "ResourceId": "", "Resource": "", "TimeGenerated": self.iso(t),
            "Type": "AzureActivity", "_ResourceId": scope, "_ItemId": self.guid()})

    # --- Key Vault -----------------------------------------------------------------------

    def kv_common(self, t):
        r = self.r
        kv = self.v.vaults[r.randrange(len(self.v.vaults))]
        op = self.pick(self.kvop_vals, self.kvop_cum)
        code, sig, rtype, _ = self.pick(self.kv_vals, self.kv_cum)
        oid, appid = self.pick(*kv["ids"])
        ip = self.v.kv_ips[r.randrange(len(self.v.kv_ips))]
        host = "https://%s.vault.azure.net" % kv["name"]
        if op.startswith("Secret") or op.startswith("Key") or op.startswith("Certificate"):
            kind = "secrets" if op.startswith("Secret") else "keys" if op.startswith("Key") else "certificates"
            obj = kv["secrets"][r.randrange(len(kv["secrets"]))]
            ver = "%032x" % r.getrandbits(128)
            if op.endswith("List"):
                oid_url, uri = "%s/%s" % (host, kind), "%s/%s?api-version=7.4" % (host, kind)
            else:
                oid_url = "%s/%s/%s/%s" % (host, kind, obj, ver)
                uri = "%s/%s/%s/?api-version=7.4" % (host, kind, obj)
        else:
            oid_url, uri = host, "%s/?api-version=7.4" % host
        rid = "/subscriptions/%s/resourcegroups/%s/providers/microsoft.keyvault/vaults/%s" % (
            kv["sub"], kv["rg"], kv["name"])
        return kv, op, code, sig, rtype, oid, appid, ip, oid_url, uri, rid

    def kv_diag(self, t):
        kv, op, code, sig, rtype, oid, appid, ip, idurl, uri, rid = self.kv_common(t)
        r = self.r
        return jdump({
            "TenantId": WORKSPACE, "TimeGenerated": self.iso(t), "ResourceId": rid.upper(),
            "Category": "AuditEvent", "ResourceGroup": kv["rg"].upper(), "SubscriptionId": kv["sub"],
            "ResourceProvider": "MICROSOFT.KEYVAULT", "Resource": kv["name"].upper(),
            "ResourceType": "VAULTS", "OperationName": op, "ResultType": rtype,
            "ResultSignature": sig, "ResultDescription": "", "DurationMs": r.randint(3, 80),
            "CallerIPAddress": ip, "CorrelationId": self.guid(), "OperationVersion": "7.4",
            "id_s": idurl, "requestUri_s": uri,
            "clientInfo_s": KV_CLIENTS[r.randrange(len(KV_CLIENTS))], "httpStatusCode_d": code,
            "isRbacAuthorized_b": True, "identity_claim_oid_g": oid,
            "identity_claim_appid_g": appid, "identity_claim_ipaddr_s": ip,
            "SourceSystem": "Azure", "Type": "AzureDiagnostics", "_ResourceId": rid,
            "_ItemId": self.guid()})

    def kv_azkv(self, t):
        kv, op, code, sig, rtype, oid, appid, ip, idurl, uri, rid = self.kv_common(t)
        r = self.r
        return jdump({
            "TenantId": WORKSPACE, "TimeGenerated": self.iso(t), "Category": "AuditEvent",
            "OperationName": op, "ResultType": rtype, "ResultSignature": sig,
            "ResultDescription": "", "DurationMs": r.randint(3, 80), "CallerIpAddress": ip,
            "CorrelationId": self.guid(), "OperationVersion": "7.4",
            "Identity": jdump({"claim": {"oid": oid, "appid": appid, "ipaddr": ip,
                                         "xms_mirid": "", "idtyp": "app"}}),
            "Properties": jdump({"id": idurl, "requestUri": uri, "httpStatusCode": code}),
            "Id": idurl, "RequestUri": uri, "ClientInfo": KV_CLIENTS[r.randrange(len(KV_CLIENTS))],
            "HttpStatusCode": code, "IsAddressAuthorized": True, "AddressAuthorizationType": "",
            "IsAccessPolicyMatch": False, "IsRbacAuthorized": True, "AppliedAssignmentId": self.guid(),
            "TrustedService": "", "Tlsversion": "TLS1_2", "SubnetId": "", "SourceSystem": "Azure",
            "Type": "AZKVAuditLogs", "_ResourceId": rid, "_SubscriptionId": kv["sub"],
            "_ItemId": self.guid()})

    # --- Azure ML online endpoints -------------------------------------------------------

    def aml(self, t):
        r = self.r
        m = self.pick(self.v.ml, self.v.ml_cum)
        code, reason, _ = self.pick(self.ml_vals, self.ml_cum)
        x = r.random()
        auth = "Key" if x < 0.5 else "AADToken" if x < 0.8 else "AMLToken"
        ident = "" if auth == "Key" else self.pick(*m["oids"])
        req = self.lognorm(1500, 0.7, 50, 200000)
        ok = code == 200
        model_ms = self.lognorm(45, 0.6, 2, 30000) if ok else 0
        return jdump({
            "TenantId": WORKSPACE, "TimeGenerated": self.iso(t), "AzureMLWorkspaceId": m["wsid"],
            "AzureMLWorkspaceName": m["ws"], "EndpointName": m["ep"],
            "DeploymentName": ("blue", "green", "main")[r.randrange(3)], "Location": m["region"],
            "Method": "POST", "Path": "/score", "Protocol": "HTTP/1.1", "AuthType": auth,
            "IdentityData": ident, "ResponseCode": code, "ResponseCodeReason": reason,
            "ModelStatusCode": code if ok or code >= 500 else 0,
            "ModelStatusReason": reason if ok or code >= 500 else "",
            "RequestPayloadSize": req, "ResponsePayloadSize": self.lognorm(400, 0.8, 20, 50000) if ok else 57,
            "RequestDurationMs": r.randint(0, 3), "ResponseDurationMs": model_ms,
            "TotalDurationMs": model_ms + r.randint(1, 5), "RequestThrottlingDelayMs": 0,
            "ResponseThrottlingDelayMs": 0, "UserAgent": ML_UAS[r.randrange(len(ML_UAS))],
            "XRequestId": self.guid(), "XMSClientRequestId": self.guid(),
            "OperationName": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score",
            "SourceSystem": "Azure", "Type": "AmlOnlineEndpointTrafficLog",
            "_ResourceId": m["arm"], "_SubscriptionId": m["sub"], "_ItemId": self.guid()})

    # --- Defender for Cloud --------------------------------------------------------------

    def alert(self, t):
        r = self.r
        atype, name, sev, _ = self.pick(self.alert_vals, self.alert_cum)
        a = self.v.accounts[r.randrange(len(self.v.accounts))]
        arm = a["arm"].replace("resourcegroups", "resourceGroups").replace(
            "microsoft.cognitiveservices", "Microsoft.CognitiveServices")
        said = self.guid()
        status = "New" if r.random() < 0.8 else ("InProgress", "Resolved")[r.randrange(2)]
        ent = jdump([{"$id": "2", "ResourceId": arm, "Type": "azure-resource"},
                     {"$id": "3", "Address": self.pick(self.v.nets, self.v.net_cum) + ".17", "Type": "ip"}])
        ext = jdump({"resourceType": "Azure AI Services", "alert schema version": "2.0",
                     "Deployment name": a["deps"][0][0], "Caller IP address": "203.0.113.***",
                     "Caller object id": "", "User agent": ML_UAS[r.randrange(len(ML_UAS))]})
        return jdump({
            "TenantId": WORKSPACE, "TimeGenerated": self.iso(t), "DisplayName": name, "AlertName": name,
            "AlertSeverity": sev, "Description": name + ".", "ProviderName": "Azure Security Center",
            "VendorName": "Microsoft", "VendorOriginalId": said, "SystemAlertId": said,
            "ResourceId": arm, "SourceComputerId": "", "AlertType": atype, "ConfidenceLevel": "",
            "ConfidenceScore": None, "IsIncident": False, "StartTime": self.iso(t - 180),
            "EndTime": self.iso(t - 120), "ProcessingEndTime": self.iso(t),
            "RemediationSteps": jdump(["Review the alert and the affected resource."]),
            "ExtendedProperties": ext, "Entities": ent, "SourceSystem": "Detection",
            "WorkspaceSubscriptionId": a["sub"], "WorkspaceResourceGroup": "rg-sec-la",
            "ExtendedLinks": "", "ProductName": "Azure Security Center",
            "ProductComponentName": "AI", "AlertLink": "", "Status": status,
            "CompromisedEntity": a["name"].lower(), "Tactics": "DefenseEvasion", "Techniques": "",
            "Type": "SecurityAlert", "_ItemId": self.guid()})

    # --- streams ---------------------------------------------------------------------------

    def times(self, n, span):
        """n increasing event times over span seconds, each with up to 2 s of jitter."""
        r = self.r
        step = span / max(n, 1)
        for i in range(n):
            yield self.epoch + i * step + r.uniform(-2.0, 0.0) * (1.0 if i else 0.0)

    def mixed(self, n):
        kinds, cum = cumulative(MIX)
        make = {"rr": self.rr, "audit": self.audit, "activity": self.activity,
                "kv_diag": self.kv_diag, "kv_azkv": self.kv_azkv, "aml": self.aml,
                "alert": self.alert}
        for t in self.times(n, self.span):
            yield make[self.pick(kinds, cum)](t)

    def openai(self, n):
        for t in self.times(n, self.span):
            yield self.rr(t)

    def groups(self, ngroups, per_group):
        """ngroups distinct caller object ids, each per_group times, spread over one hour."""
        ids = [self.guid() for _ in range(ngroups)]
        n = ngroups * per_group
        for i, t in enumerate(self.times(n, min(self.span, 3600.0))):
            yield self.rr(t, oid=ids[i % ngroups])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--records", "-n", type=int, default=1_000_000, help="records to write (default 1,000,000)")
    ap.add_argument("--mode", choices=("mixed", "openai", "groups"), default="mixed",
                    help="which records (see below; default mixed)")
    ap.add_argument("--out", "-o", help="output path ('-' for stdout); default %s/<mode>-<N>.jsonl" % DEFAULT_DIR)
    ap.add_argument("--seed", type=int, default=SEED, help="random seed (default %d)" % SEED)
    ap.add_argument("--start", default="2025-06-17T00:00:00Z", help="time of the first record (UTC)")
    ap.add_argument("--hours", type=float, default=24.0, help="time the records span (default 24)")
    ap.add_argument("--rr-columns", choices=("projected", "full"), default="projected",
                    help="RequestResponse columns (default projected, about 850 bytes)")
    ap.add_argument("--groups", type=int, default=100_000, help="groups mode: distinct group values")
    ap.add_argument("--per-group", type=int, default=2, help="groups mode: records per group value")
    ap.add_argument("--quiet", "-q", action="store_true")
    a = ap.parse_args(argv)
    if a.records <= 0 or a.groups <= 0 or a.per_group <= 0 or a.hours <= 0:
        ap.error("--records, --groups, --per-group and --hours must be positive")
    try:
        start = datetime.strptime(a.start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        ap.error("--start must look like 2025-06-17T00:00:00Z")
    n = a.groups * a.per_group if a.mode == "groups" else a.records
    out = a.out or os.path.join(DEFAULT_DIR, "%s-%d.jsonl" % (a.mode, n))

    vocab = Vocab()
    c = Corpus(vocab, a.seed, start, a.hours, a.rr_columns)
    if a.mode == "mixed":
        stream = c.mixed(n)
    elif a.mode == "openai":
        stream = c.openai(n)
    else:
        stream = c.groups(a.groups, a.per_group)

    if out != "-":
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        tmp = out + ".tmp"
        f = open(tmp, "w", encoding="utf-8", newline="\n")
    else:
        f = sys.stdout
    total = count = 0
    buf = []
    for line in stream:
        buf.append(line)
        total += len(line) + 1
        count += 1
        if len(buf) >= 4096:
            f.write("\n".join(buf))
            f.write("\n")
            buf.clear()
    if buf:
        f.write("\n".join(buf))
        f.write("\n")
    if out != "-":
        f.close()
        os.replace(tmp, out)  # a half-written corpus never looks finished
    if not a.quiet:
        print("gen_corpus: %s: %d records (%s), %d bytes, %.0f bytes/record; %d accounts, %d deployments, "
              "%d Entra callers, %d client networks, %d vaults, %d ML endpoints" % (
                  out, count, a.mode, total, total / max(count, 1), len(vocab.accounts),
                  vocab.deployments, len(vocab.oids), len(vocab.nets), len(vocab.vaults),
                  len(vocab.ml)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
