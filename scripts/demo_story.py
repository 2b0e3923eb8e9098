"""Load the recorded attack story into the Azure emulator's configuration.

    python3 scripts/demo_story.py SCENARIO.jsonl OUT.json SECRET_FILE [ESTATE.json]

The story (tests/data/scenarios/day.jsonl: a day of Azure OpenAI, Key Vault, activity
and Defender records over benign background traffic, with injected attacks) is moved
in time so that it ends a few minutes ago, each record gets an ingestion time shortly
after its TimeGenerated (Log Analytics is always a little late), and the records
become the rows of one Log Analytics workspace. The same file configures the
emulator's Entra app for the daemon, the data collection rule the Sentinel output
writes to, and (ESTATE.json) the AI resources whose hardening the posture input reads
through Resource Graph and ARM. Python 3 standard library only.
"""
import datetime as dt
import json
import sys

TENANT = "00000000-0000-0000-0000-0000000000aa"
WORKSPACE = "11111111-2222-3333-4444-555555555555"
DCR = "dcr-aiwatchdemo0000000000000000000000"
CLIENT_ID = "aiwatch-demo"


def iso(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main(scenario, out, secret, estate=None):
    rows, times = [], []
    for line in open(scenario):
        line = line.strip()
        if not line:
            continue
        rec = json.loads(line)
        if "Type" not in rec or "TimeGenerated" not in rec:
            continue
        rows.append(rec)
        times.append(dt.datetime.fromisoformat(rec["TimeGenerated"].replace("Z", "+00:00")))
    now = dt.datetime.now(dt.timezone.utc)
    shift = (now - dt.timedelta(minutes=10)) - max(times)
    table = {}
    for i, (rec, t) in enumerate(zip(rows, times)):
        t2 = t + shift
        rec["TimeGenerated"] = iso(t2)
        item = rec.get("_ItemId") or "demo-%06d" % i
        rec["_ItemId"] = item
        # ingested 1 to 4 minutes after the event, never in the future
        lag = dt.timedelta(seconds=60 + (i * 37) % 180)
        rec["ingestion_time"] = iso(min(t2 + lag, now - dt.timedelta(seconds=5)))
        table[item] = rec
    cfg = {
        "tenant_id": TENANT,
        "token_lifetime_s": 3600,
        "clients": [{"client_id": CLIENT_ID, "client_secret": secret}],
        "loganalytics": {WORKSPACE: {"rows": table}},
        "ingestion": {"dcrs": {DCR: {"streams": ["Custom-AIWatchAlerts_CL"],
                                     "principals": [CLIENT_ID]}}},
    }
    if estate:
        with open(estate) as f:
            cfg["estate"] = json.load(f)
    with open(out, "w") as f:
        json.dump(cfg, f)
    print(len(table))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], open(sys.argv[3]).read().strip(),
         sys.argv[4] if len(sys.argv) > 4 else None)
