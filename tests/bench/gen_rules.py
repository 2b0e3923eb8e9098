#!/usr/bin/env python3
"""Benchmark rule sets: K generated Sigma rules over the tables of the benchmark corpus.

    python3 tests/bench/gen_rules.py --count K --out DIR      # K rules (10, 100, 1000, ...)
    python3 tests/bench/gen_rules.py --groups DIR             # the correlation-memory pair

--count writes K rule documents into DIR (emptied of *.yml first): variations of realistic
detection rules for `logsource: product: azure` with service openai (RequestResponse),
activitylogs, keyvault, ml_endpoint and defender_alerts, over the names gen_corpus.py uses
(accounts, deployments, vaults, endpoints, client networks, object ids) so some of them match:
different OperationName / OperationNameValue and ResultSignature values, `contains` /
`startswith` / `endswith` on properties_s and other JSON-text fields, deployment names,
`cidr` on client addresses, numeric comparisons, a few `re` (about 3 %), filters with `not`,
and one slot in ten a correlation (event_count or value_count, with its silent input rule in
the same file: two documents) so correlation state is exercised. The mix of services follows
the corpus (mostly openai). Rules are valid Sigma (sigma.md); `aiwatchd rules list --rules DIR`
must report 0 load errors (run.sh checks).

--stages DIR writes DIR/none/ (no rules) and DIR/elsewhere/ (one rule for a table the openai
corpus lacks): replaying the openai corpus with them measures the stages before any rule runs.

--groups writes two rule sets for the "memory per 100,000 correlation groups" measurement:
DIR/groups/ has one event_count correlation grouped by properties_s.objectId (one group per
caller in gen_corpus.py --mode groups), DIR/control/ the same correlation grouped by Category
(a single group). Replaying the groups corpus with each gives the memory the groups cost.

Python 3 standard library only; the same arguments give the same files.
"""
import argparse
import glob
import os
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_corpus import KV_OPS, MODELS, TEAMS, Vocab  # noqa: E402

SEED = 4242
LEVELS = ["low", "medium", "medium", "high"]


def q(s):
    """A YAML single-quoted scalar."""
    return "'" + str(s).replace("'", "''") + "'"


def scalar(v):
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return q(v)


def yaml_list(key, values, indent=8):
    pad = " " * indent
    return "%s%s:\n%s" % (pad, key, "".join("%s    - %s\n" % (pad, scalar(v)) for v in values))


def yaml_item(key, value, indent=8):
    if isinstance(value, list):
        return yaml_list(key, value, indent)
    return "%s%s: %s\n" % (" " * indent, key, scalar(value))


class RuleGen:
    def __init__(self, seed=SEED):
        self.r = random.Random(seed)
        self.v = Vocab()

    def uuid(self):
        h = "%032x" % self.r.getrandbits(128)
        return "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], "89ab"[int(h[16], 16) & 3],
                                      h[17:20], h[20:])

    def header(self, n, title, level, tags, name=None, description=None):
        out = "title: %s\nid: %s\n" % (q("Bench %04d: %s" % (n, title)), self.uuid())
        if name:
            out += "name: %s\n" % name
        out += ("status: experimental\ndescription: %s\nauthor: aiwatch benchmark\n"
                "date: 2025-06-20\ntags:\n%slevel: %s\nfalsepositives:\n    - Generated for the benchmark\n"
                % (q(description or "Generated benchmark variant (tests/bench/gen_rules.py)."),
                   "".join("    - %s\n" % t for t in tags), level))
        return out

    @staticmethod
    def logsource(service, category=None):
        out = "logsource:\n    product: azure\n    service: %s\n" % service
        if category:
            out += "    category: %s\n" % category
        return out

    @staticmethod
    def detection(sections, condition):
        out = "detection:\n"
        for ident, items in sections:
            out += "    %s:\n" % ident
            for k, val in items:
                out += yaml_item(k, val)
        return out + "    condition: %s\n" % condition

    # --- helpers over the corpus vocabulary ---------------------------------------------

    def acct(self):
        return self.v.accounts[self.r.randrange(len(self.v.accounts))]

    def dep(self):
        a = self.acct()
        return a, a["deps"][self.r.randrange(len(a["deps"]))]

    def net(self):
        # A network a rule singles out is not one of the platform's busiest (Zipf head).
        return self.v.nets[self.r.randrange(100, len(self.v.nets))]

    def oids(self, k):
        return [self.v.oids[self.r.randrange(len(self.v.oids))] for _ in range(k)]

    def vault(self):
        return self.v.vaults[self.r.randrange(len(self.v.vaults))]

    def ml(self):
        return self.v.ml[self.r.randrange(len(self.v.ml))]

    # --- detection-rule families --------------------------------------------------------
    # Each returns (service, category, title, sections, condition, tags).

    def f_openai_deployment_status(self):
        a, d = self.dep()
        codes = self.r.sample(["429", "500", "400", "403"], self.r.randint(1, 2))
        return ("openai", "requestresponse", "Deployment %s on %s answered %s" % (d[0], a["name"], "/".join(codes)),
                [("selection", [("Resource", a["name"]), ("properties_s.modelDeploymentName", d[0]),
                                ("ResultSignature", codes)])], "selection", ["attack.impact", "atlas.aml.t0029"])

    def f_openai_operation(self):
        ops = self.r.sample(["Create_Thread", "Create_Run", "Get_Run", "Files_Upload", "FineTuning_Jobs_Create",
                             "Assistants_Create", "Batch_Create", "ImagesGenerations_Create",
                             "Completions_Create", "Realtime_Session"], 2)
        a = self.acct()
        return ("openai", "requestresponse", "Operations %s on %s" % ("/".join(ops), a["name"]),
                [("selection", [("OperationName", ops), ("Resource|startswith", a["name"][:-1])])],
                "selection", ["attack.collection", "atlas.aml.t0024"])

    def f_openai_api_version(self):
        ver = self.r.choice(["2023-03-15-preview", "2023-05-15", "2023-12-01-preview", "2024-02-15-preview",
                             "2024-12-01-preview", "2025-01-01-preview"])
        model = self.r.choice(MODELS)[0]
        return ("openai", "requestresponse", "API version %s used with %s failing" % (ver, model),
                [("selection", [("properties_s.apiName|contains", ver), ("properties_s.modelName", model),
                                ("ResultSignature", ["500", "400"])])],
                "selection", ["attack.defense-evasion"])

    def f_openai_large_request(self):
        a = self.acct()
        return ("openai", "requestresponse", "Very large request on %s" % a["name"],
                [("selection", [("Resource", a["name"]),
                                ("properties_s.requestLength|gte", self.r.choice([20000, 50000, 100000]))])],
                "selection", ["attack.impact", "atlas.aml.t0034"])

    def f_openai_key_network(self):
        n = self.net()
        prefix = n + "."
        return ("openai", "requestresponse", "Key-authenticated request from %s*" % prefix,
                [("selection", [("CallerIPAddress|startswith", prefix)]),
                 ("key_auth", [("properties_s.objectId", "")]),
                 ("filter_refused", [("ResultSignature", ["401", "403"])])],
                "selection and key_auth and not filter_refused", ["attack.initial-access", "attack.t1078.004"])

    def f_openai_callers(self):
        return ("openai", "requestresponse", "Watched Entra callers throttled",
                [("selection", [("properties_s.objectId", self.oids(self.r.randint(2, 6))),
                                ("ResultSignature", "429")])],
                "selection", ["attack.impact"])

    def f_openai_regex(self):
        a = self.acct()
        pat = self.r.choice([r"^(gpt-4o|o3-mini)-1[0-9]$", r"^text-embedding-.*-[2-9]$", r"(?i)^DALL-E-3-\d+$",
                             r"^gpt-35-turbo(-instruct)?-1[2-4]$"])
        return ("openai", "requestresponse", "Deployment pattern on %s" % a["name"],
                [("selection", [("Resource", a["name"]), ("properties_s.modelDeploymentName|re", pat),
                                ("ResultSignature", ["429", "500"])])],
                "selection", ["attack.impact"])

    def f_openai_zero_response(self):
        a = self.acct()
        return ("openai", "requestresponse", "Empty streamed answer on %s" % a["name"],
                [("selection", [("Resource|endswith", a["name"][-4:]), ("properties_s.streamType", "Streaming"),
                                ("properties_s.responseLength", 0)])],
                "selection", ["atlas.aml.t0048"])

    def f_activity_operation(self):
        op = self.r.choice(["MICROSOFT.COGNITIVESERVICES/ACCOUNTS/DELETE",
                            "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/DEPLOYMENTS/DELETE",
                            "MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/DELETE",
                            "MICROSOFT.KEYVAULT/VAULTS/ACCESSPOLICIES/WRITE",
                            "MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION",
                            "MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/COMPUTES/WRITE",
                            "MICROSOFT.WEB/SITES/CONFIG/LIST/ACTION",
                            "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIPOLICIES/WRITE"])
        person = self.v.people[self.r.randrange(len(self.v.people))]
        return ("activitylogs", None, "%s by %s" % (op.split("/", 1)[1], person),
                [("selection", [("OperationNameValue", op), ("Caller", person),
                                ("ActivityStatusValue", ["Success", "Succeeded"])]),
                 ("filter_portal", [("Claims.appid", "c44b4083-3bb0-49c1-b47d-974e53cbdf3c")])],
                "selection and not filter_portal", ["attack.persistence"])

    def f_activity_cidr(self):
        cidr = "10.%d.0.0/16" % self.r.randrange(256)
        return ("activitylogs", None, "Key listing from %s" % cidr,
                [("selection", [("CallerIpAddress|cidr", cidr), ("OperationNameValue|endswith", "/LISTKEYS/ACTION")])],
                "selection", ["attack.credential-access", "attack.t1552"])

    def f_activity_requestbody(self):
        key, val = self.r.choice([("publicNetworkAccess", "Enabled"), ("restrictOutboundNetworkAccess", "false"),
                                  ("networkAcls.defaultAction", "Allow"), ("disableLocalAuth", "false"),
                                  ("customSubDomainName", "*-tmp*")])
        return ("activitylogs", None, "Account write setting %s to %s" % (key, val),
                [("selection", [("OperationNameValue", "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE"),
                                ("Properties.requestbody.properties." + key, val)])],
                "selection", ["attack.defense-evasion"])

    def f_kv_forbidden(self):
        kv = self.vault()
        ops = self.r.sample([o for o, _ in KV_OPS], 3)
        return ("keyvault", None, "Refused %s on %s" % ("/".join(ops), kv["name"]),
                [("selection", [("OperationName", ops), ("ResultSignature", ["Forbidden", "Unauthorized"])]),
                 ("vault", [("Resource", kv["name"].upper())]), ("vault_azkv", [("_ResourceId|endswith", "/" + kv["name"])])],
                "selection and 1 of vault*", ["attack.credential-access"])

    def f_kv_secret(self):
        kv = self.vault()
        secret = kv["secrets"][self.r.randrange(len(kv["secrets"]))]
        return ("keyvault", None, "Secret %s in %s read by an unlisted identity" % (secret, kv["name"]),
                [("selection", [("OperationName", "SecretGet"), ("id_s|contains", "%s.vault.azure.net/secrets/%s/" % (kv["name"], secret))]),
                 ("filter_known", [("identity_claim_oid_g", [self.v.kv_ids[i][0] for i in range(self.r.randrange(5), 40, 7)])])],
                "selection and not filter_known", ["attack.credential-access", "attack.t1555.006"])

    def f_kv_cidr(self):
        cidr = "10.%d.%d.0/24" % (self.r.randrange(256), self.r.randrange(256))
        return ("keyvault", None, "Secret operations from %s" % cidr,
                [("selection", [("CallerIPAddress|cidr", cidr), ("OperationName|startswith", "Secret")])],
                "selection", ["attack.credential-access"])

    def f_kv_client_regex(self):
        pat = self.r.choice([r"python-requests/2\.[0-9]+", r"^curl/[78]\.", r"(?i)powershell/[0-9.]+",
                             r"Go-http-client/\d\.\d"])
        return ("keyvault", None, "Vault read by a scripted client (%s)" % pat,
                [("selection", [("clientInfo_s|re", pat), ("OperationName", ["SecretGet", "SecretList"])])],
                "selection", ["attack.credential-access"])

    def f_ml_failure(self):
        m = self.ml()
        return ("ml_endpoint", None, "Refused scoring on %s" % m["ep"],
                [("selection", [("EndpointName", m["ep"]), ("ResponseCode", [401, 403])]),
                 ("key", [("AuthType", "Key")])], "selection and key", ["attack.credential-access"])

    def f_ml_useragent(self):
        ua = self.r.choice(["curl/", "Postman", "Go-http-client", "sqlmap", "nuclei", "zgrab", "python-httpx"])
        m = self.ml()
        return ("ml_endpoint", None, "Endpoint %s called by %s" % (m["ep"], ua),
                [("selection", [("UserAgent|contains", ua), ("AzureMLWorkspaceName", m["ws"])])],
                "selection", ["attack.discovery"])

    def f_ml_payload(self):
        m = self.ml()
        return ("ml_endpoint", None, "Oversized payload on %s" % m["ep"],
                [("selection", [("EndpointName", m["ep"]), ("RequestPayloadSize|gt", self.r.choice([50000, 100000]))])],
                "selection", ["atlas.aml.t0029"])

    def f_defender(self):
        a = self.acct()
        kind = self.r.choice(["Jailbreak", "DataLeak", "MaliciousUrl", "AccessFromSuspicious", "DOW"])
        return ("defender_alerts", None, "Defender %s alert on %s" % (kind, a["name"].lower()),
                [("selection", [("AlertType|startswith", "AI.Azure_"), ("AlertType|contains", kind),
                                ("CompromisedEntity", a["name"].lower())]),
                 ("filter_update", [("Status", ["InProgress", "Resolved", "Dismissed"])])],
                "selection and not filter_update", ["atlas.aml.t0051"])

    FAMILIES = [  # (method, weight): roughly the corpus mix, openai first
        ("f_openai_deployment_status", 14), ("f_openai_operation", 8), ("f_openai_api_version", 6),
        ("f_openai_large_request", 6), ("f_openai_key_network", 8), ("f_openai_callers", 6),
        ("f_openai_regex", 3), ("f_openai_zero_response", 4),
        ("f_activity_operation", 6), ("f_activity_cidr", 3), ("f_activity_requestbody", 3),
        ("f_kv_forbidden", 6), ("f_kv_secret", 6), ("f_kv_cidr", 3), ("f_kv_client_regex", 1),
        ("f_ml_failure", 6), ("f_ml_useragent", 4), ("f_ml_payload", 3),
        ("f_defender", 4),
    ]

    def detection_rule(self, n):
        fams = [f for f, _ in self.FAMILIES]
        f = self.r.choices(fams, weights=[w for _, w in self.FAMILIES])[0]
        service, category, title, sections, cond, tags = getattr(self, f)()
        return (self.header(n, title, self.r.choice(LEVELS), tags) + self.logsource(service, category)
                + self.detection(sections, cond))

    # --- correlations -------------------------------------------------------------------

    def correlation_pair(self, n):
        """Two documents: a correlation and its silent input rule."""
        kind = self.r.randrange(4)
        name = "bench_corr_input_%04d" % n
        team = TEAMS[self.r.randrange(len(TEAMS))].upper()
        if kind == 0:    # throttling per deployment
            ctype, group, field, span, thr = "event_count", ["Resource", "properties_s.modelDeploymentName"], None, "5m", 40
            service, category = "openai", "requestresponse"
            sections = [("selection", [("ResultSignature", ["429", "500"]), ("Resource|startswith", "OAI-%s-" % team)])]
            title = "Throttling storm on %s deployments" % team
        elif kind == 1:  # distinct client networks per account
            ctype, group, field, span, thr = "value_count", ["Resource"], "CallerIPAddress", "1h", 200
            service, category = "openai", "requestresponse"
            sections = [("selection", [("properties_s.objectId", ""), ("Resource|contains", "-%s-" % team)])]
            title = "Key-authenticated calls from many networks on %s accounts" % team
        elif kind == 2:  # secret reads per identity
            ctype, group, field, span, thr = "value_count", ["identity_claim_oid_g"], "id_s", "10m", 30
            service, category = "keyvault", None
            sections = [("selection", [("OperationName", ["SecretGet", "SecretList"]),
                                       ("Resource|startswith", "KV-%s-" % team)])]
            title = "Many secrets read by one identity in %s vaults" % team
        else:            # refused ML scoring per endpoint
            ctype, group, field, span, thr = "event_count", ["_ResourceId", "EndpointName"], None, "10m", 25
            service, category = "ml_endpoint", None
            sections = [("selection", [("ResponseCode", [401, 403, 429])])]
            title = "Refused scoring burst on one ML endpoint"
        level = self.r.choice(LEVELS)
        corr = self.header(n, title, level, ["attack.impact"])
        corr += "correlation:\n    type: %s\n    rules:\n        - %s\n    group-by:\n%s    timespan: %s\n" % (
            ctype, name, "".join("        - %s\n" % g for g in group), span)
        corr += "    condition:\n        gte: %d\n" % thr
        if field:
            corr += "        field: %s\n" % field
        corr += "    generate: false\n"
        base = self.header(n, title + " (correlation input)", "informational", ["attack.impact"], name=name,
                           description="Input of the correlation above; silent on its own.")
        base += self.logsource(service, category) + self.detection(sections, "selection")
        return corr + "---\n" + base


def write_rules(out, count, seed):
    os.makedirs(out, exist_ok=True)
    for old in glob.glob(os.path.join(out, "*.yml")):
        os.remove(old)
    g = RuleGen(seed)
    n = slot = corrs = 0
    while n < count:
        if slot % 10 == 4 and count - n >= 2:
            text, docs = g.correlation_pair(slot), 2
            corrs += 1
        else:
            text, docs = g.detection_rule(slot), 1
        with open(os.path.join(out, "bench_%04d.yml" % slot), "w", encoding="utf-8") as f:
            f.write(text)
        n += docs
        slot += 1
    return slot, corrs


def write_groups(out):
    """The correlation-memory pair: one event_count by caller object id, and its control."""
    for sub, group in (("groups", "properties_s.objectId"), ("control", "Category")):
        d = os.path.join(out, sub)
        os.makedirs(d, exist_ok=True)
        for old in glob.glob(os.path.join(d, "*.yml")):
            os.remove(old)
        rid = "6f1c2a9e-0b7d-4c35-9e58-%012x" % (1 if sub == "groups" else 2)
        bid = "6f1c2a9e-0b7d-4c35-9e58-%012x" % (3 if sub == "groups" else 4)
        text = """title: Bench Requests Per Caller (correlation-memory measurement)
id: %s
status: experimental
description: >-
    One event_count group per %s, a window long enough that every group stays live and a
    threshold no group reaches: the benchmark measures what the live groups cost in memory.
author: aiwatch benchmark
date: 2025-06-20
level: low
correlation:
    type: event_count
    rules:
        - bench_any_request
    group-by:
        - %s
    timespan: 24h
    condition:
        gte: 1000000
    generate: false
---
title: Bench Any Azure OpenAI Request (correlation input)
id: %s
name: bench_any_request
status: experimental
description: Every RequestResponse record. Input of the correlation above; silent on its own.
author: aiwatch benchmark
date: 2025-06-20
level: informational
logsource:
    product: azure
    service: openai
    category: requestresponse
detection:
    selection:
        Category: 'RequestResponse'
    condition: selection
""" % (rid, group, group, bid)
        with open(os.path.join(d, "bench_groups.yml"), "w", encoding="utf-8") as f:
            f.write(text)


def write_stages(out):
    """Rule sets that stop the engine early, to split replay's cost into stages:
    none/ (no rules: read and validate records only) and elsewhere/ (one rule on a table
    the openai corpus does not have: + the event view, log-source classification, routing)."""
    none, elsewhere = os.path.join(out, "none"), os.path.join(out, "elsewhere")
    for d in (none, elsewhere):
        os.makedirs(d, exist_ok=True)
        for old in glob.glob(os.path.join(d, "*.yml")):
            os.remove(old)
    with open(os.path.join(elsewhere, "bench_elsewhere.yml"), "w", encoding="utf-8") as f:
        f.write("""title: Bench Defender Alert (routed away from Azure OpenAI records)
id: 6f1c2a9e-0b7d-4c35-9e58-000000000005
status: experimental
description: Only routes; the openai corpus has no SecurityAlert rows, so it never runs.
author: aiwatch benchmark
date: 2025-06-20
level: low
logsource:
    product: azure
    service: defender_alerts
detection:
    selection:
        AlertType|startswith: 'AI.'
    condition: selection
""")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--count", "-k", type=int, help="rule documents to write")
    ap.add_argument("--out", "-o", help="directory for --count")
    ap.add_argument("--groups", metavar="DIR", help="write the correlation-memory rule sets into DIR")
    ap.add_argument("--stages", metavar="DIR", help="write the stage rule sets (none/, elsewhere/) into DIR")
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args(argv)
    if a.stages:
        write_stages(a.stages)
    if a.groups:
        write_groups(a.groups)
        print("gen_rules: %s/groups and %s/control" % (a.groups, a.groups), file=sys.stderr)
    if a.count is not None:
        if a.count <= 0 or not a.out:
            ap.error("--count needs a positive K and --out DIR")
        files, corrs = write_rules(a.out, a.count, a.seed)
        print("gen_rules: %s: %d rule documents in %d files (%d correlations with their inputs)"
              % (a.out, a.count, files, corrs), file=sys.stderr)
    if a.count is None and not a.groups and not a.stages:
        ap.error("give --count K --out DIR, --groups DIR or --stages DIR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
