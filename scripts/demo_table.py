"""Terminal views of aiwatchd's alerts for scripts/demo.

    python3 scripts/demo_table.py rows < ALERT LINES        one table row per alert
    python3 scripts/demo_table.py summary ALERTS.jsonl READ IN_WORKSPACE SENTINEL_ROWS.json

Python 3 standard library only.
"""
import collections
import json
import sys

SEV_ORDER = {"High": 0, "Medium": 1, "Low": 2, "Informational": 3}


def row(a):
    group = " ".join(f"{k}={v}" for k, v in a.get("GroupBy", {}).items())
    if not group:
        ent = next((e for e in a.get("Entities", [])
                    if e.get("Type") in ("account", "identity", "ip")), None)
        group = f"{ent['Type']}={ent['Value']}" if ent else a.get("ResourceId", "").rsplit("/", 1)[-1]
    return (f"{a['WindowStart'][:19]:<20} {a['Severity']:<8} {a['EventCount']:>6}  "
            f"{a['RuleTitle'][:66]:<66} {group[:60]}")


def rows():
    for line in sys.stdin:
        if line.strip():
            print(row(json.loads(line)))
    sys.stdout.flush()


def summary(path, events, total, sentinel_path):
    alerts = [json.loads(l) for l in open(path) if l.strip()]
    print(f"\n== summary: {events} records read ({total} in the workspace; the others are "
          f"in tables or categories the input does not read), {len(alerts)} alerts")
    by_rule = collections.Counter((a["Severity"], a["RuleTitle"]) for a in alerts)
    for (sev, title), n in sorted(by_rule.items(), key=lambda x: (SEV_ORDER.get(x[0][0], 9), x[0][1])):
        print(f"  {n:>4}  {sev:<8} {title}")
    by_sev = collections.Counter(a["Severity"] for a in alerts)
    print("  by severity: " + ", ".join(f"{s} {by_sev[s]}" for s in sorted(by_sev, key=lambda s: SEV_ORDER.get(s, 9))))
    ids = {a["AlertId"] for a in alerts}
    try:
        stored = json.load(open(sentinel_path))
    except (OSError, ValueError):
        stored = []
    sids = {r.get("AlertId") for r in stored}
    print(f"  in the Sentinel table (AIWatchAlerts_CL): {len(stored)} rows, "
          f"{len(sids & ids)} of {len(ids)} alerts"
          + ("" if sids >= ids else "  (missing: " + ", ".join(sorted(ids - sids))[:200] + ")"))


if __name__ == "__main__":
    if sys.argv[1] == "rows":
        rows()
    else:
        summary(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
