#!/bin/sh
# `aiwatchd posture` against the Azure emulator loaded with the fixture estate
# (tests/data/posture/estate.json): the text report by resource and by the controls of
# MCSB and NIST, and the JSON report, must equal the hand-written expected reports in
# tests/data/posture/; the saved inventory evaluated offline (--inventory) gives the same
# report; exit codes 0 / 3 / 1 / 2 as documented.
#
# What differs between runs is normalised before comparing: the Source line (temporary
# paths), and the text of the one failed read (the 403 on kv-defaults' diagnostic
# settings), whose wording is the emulator's and the collector's; the report's time is
# pinned with SOURCE_DATE_EPOCH.
# Usage: posture_report.sh DATA_DIR   ($AIWATCHD and $AW_EMULATOR as meson sets them)
set -u
data=$1
bin=${AIWATCHD:?AIWATCHD is not set (run through meson test)}
emu=${AW_EMULATOR:?AW_EMULATOR is not set (run through meson test)}
fail=0
emu_pid=
. "$(dirname "$0")/posture_env.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aiwatch-posture-XXXXXX") || exit 1
trap 'posture_env_stop; rm -rf "$tmp"' EXIT

problem() {
	echo "FAIL: $*" >&2
	fail=1
}

SOURCE_DATE_EPOCH=1767225600 # 2026-01-01T00:00:00Z
export SOURCE_DATE_EPOCH

# --- the emulator ------------------------------------------------------------------------
posture_env_start || exit 1

normalise() {
	sed -e 's/^Source: .*/Source: (normalised)/' \
		-e 's/ (first: .*)$/ (first: ...)/' \
		-e 's/\(could not be read: diagnosticSettings\).*/\1 .../' "$1"
}

# run NAME EXPECTED_EXIT ARGS...: aiwatchd posture ARGS, stdout in $tmp/NAME.out
run() {
	name=$1 want=$2
	shift 2
	"$bin" posture "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		problem "posture $* exited $rc, want $want"
		sed 's/^/  stderr: /' "$tmp/$name.err" >&2
	fi
}

same_text() { # NAME EXPECTED_FILE
	normalise "$tmp/$1.out" >"$tmp/$1.norm"
	if ! diff -u "$2" "$tmp/$1.norm" >"$tmp/$1.diff"; then
		problem "$1: the report differs from $(basename "$2"):"
		head -60 "$tmp/$1.diff" >&2
	fi
}

same_json() { # NAME EXPECTED_FILE
	python3 - "$tmp/$1.out" "$2" <<'EOF' || problem "$1: the JSON report differs from $(basename "$2")"
import json, re, sys
got = json.load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
got["source"] = "(normalised)"
if got["inventory"]["error"]:
    got["inventory"]["error"] = "..."
for r in got["resources"]:
    for x in r["results"]:
        x["actual"] = re.sub(r"(could not be read: diagnosticSettings).*", r"\1 ...", x["actual"])
bad = 0
for key in want:
    if got.get(key) != want[key]:
        bad = 1
        print("member %s differs" % key, file=sys.stderr)
        if isinstance(want[key], list) and isinstance(got.get(key), list):
            for a, b in zip(want[key], got[key]):
                if a != b:
                    print("  want %s\n  got  %s" % (json.dumps(a), json.dumps(b)), file=sys.stderr)
                    break
            if len(want[key]) != len(got[key]):
                print("  %d items, want %d" % (len(got[key]), len(want[key])), file=sys.stderr)
        else:
            print("  want %s\n  got  %s" % (json.dumps(want[key]), json.dumps(got.get(key))), file=sys.stderr)
# Every check that ran is described, with its remediation and its controls.
ran = {x["check"] for r in got["resources"] for x in r["results"]}
if set(got["checks"]) != ran:
    bad = 1
    print("checks described: %s, checks run: %s" % (sorted(got["checks"]), sorted(ran)), file=sys.stderr)
for cid, c in got["checks"].items():
    if "az " not in c["remediation"] and "POST " not in c["remediation"]:
        bad = 1
        print("%s: remediation without a command" % cid, file=sys.stderr)
    for fw in ("mcsb", "nist", "iso27001", "soc2"):
        if not c["controls"].get(fw):
            bad = 1
            print("%s: no %s control" % (cid, fw), file=sys.stderr)
sys.exit(bad)
EOF
}

# --- against the emulator -------------------------------------------------------------------
run resources 3 --config "$tmp/aiwatchd.yaml" --save-inventory "$tmp/inventory.json"
same_text resources "$data/expected-resources.txt"
run json 3 --config "$tmp/aiwatchd.yaml" --input estate --json
same_json json "$data/expected-resources.json"
run mcsb 3 --config "$tmp/aiwatchd.yaml" --framework mcsb
same_text mcsb "$data/expected-mcsb.txt"
run nist 3 -c "$tmp/aiwatchd.yaml" --framework nist
same_text nist "$data/expected-nist.txt"

# Every read went to the emulator with a token: the Resource Graph query, the listings,
# the diagnostic settings (the 403 included) and the three Defender plans.
python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" \
	"$base/_emulator/requests" >"$tmp/requests.json" || problem "cannot read the emulator's request log"
python3 - "$tmp/requests.json" <<'EOF' || problem "the emulator did not see the reads a report needs"
import json, sys
reqs = json.load(open(sys.argv[1]))
paths = [r["path"] for r in reqs]
def count(pred):
    return sum(1 for p in paths if pred(p))
graph = count(lambda p: p.endswith("/providers/Microsoft.ResourceGraph/resources"))
diag = count(lambda p: p.endswith("/providers/Microsoft.Insights/diagnosticSettings"))
plans = count(lambda p: p.lower().endswith("/providers/microsoft.security/pricings/ai"))
print("requests: %d Resource Graph, %d diagnostic settings, %d plans" % (graph, diag, plans))
# four reports, each: 9 resources' diagnostic settings and 3 plans
ok = graph >= 4 and diag >= 36 and plans >= 12
sys.exit(0 if ok else 1)
EOF

# --- offline: the saved inventory gives the same report ----------------------------------------
[ -s "$tmp/inventory.json" ] || problem "--save-inventory wrote nothing"
run offline 3 --inventory "$tmp/inventory.json"
same_text offline "$data/expected-resources.txt"
run offline_nist 3 --inventory "$tmp/inventory.json" --framework nist
same_text offline_nist "$data/expected-nist.txt"

# Only the hardened subscription: every check passes, exit 0.
python3 - "$tmp/inventory.json" "$tmp/hardened.json" <<'EOF' || problem "cannot cut the inventory"
import json, sys
inv = json.load(open(sys.argv[1]))
keep = [e for e in inv if e.get("id", "").startswith("/subscriptions/11111111-")]
json.dump(keep, open(sys.argv[2], "w"))
EOF
run hardened 0 --inventory "$tmp/hardened.json"
grep -q '^Summary: 26 checks on 8 resources: 26 passed, 0 failed, 0 unknown$' "$tmp/hardened.out" ||
	problem "the hardened subscription does not pass every check: $(grep Summary "$tmp/hardened.out")"
grep -q '^Remediation' "$tmp/hardened.out" && problem "a report with no failure lists remediation"

# --- errors -----------------------------------------------------------------------------------
run usage_fw 2 --inventory "$tmp/inventory.json" --framework pci
grep -q 'mcsb, nist, iso27001 or soc2' "$tmp/usage_fw.err" || problem "--framework pci: no hint"
run usage_both 2 --inventory "$tmp/inventory.json" --json --html "$tmp/x.html"
run usage_arg 2 --inventory "$tmp/inventory.json" stray
run missing_inv 1 --inventory "$tmp/nope.json"
grep -q "nope.json" "$tmp/missing_inv.err" || problem "a missing inventory is not named"
printf '{"not": "an array"}\n' >"$tmp/object.json"
run bad_inv 1 --inventory "$tmp/object.json"
grep -q "object.json: not a JSON array" "$tmp/bad_inv.err" || problem "a bad inventory: $(cat "$tmp/bad_inv.err")"
printf '[{"id": "x"' >"$tmp/cut.json"
run cut_inv 1 --inventory "$tmp/cut.json"
grep -q "cut.json: not JSON" "$tmp/cut_inv.err" || problem "a cut inventory: $(cat "$tmp/cut_inv.err")"
run missing_cfg 1 --config "$tmp/nope.yaml"
grep -q "nope.yaml" "$tmp/missing_cfg.err" || problem "a missing config is not named"
run no_input 1 --config "$tmp/aiwatchd.yaml" --input other
grep -q "no input of type posture named 'other'" "$tmp/no_input.err" ||
	problem "an unknown --input: $(cat "$tmp/no_input.err")"
run help 0 --help
grep -q -- '--save-inventory' "$tmp/help.out" || problem "posture --help lacks --save-inventory"

# Resource Graph refusing the identity is a read error (exit 1) that names the read.
python3 - "$base" <<'EOF' || problem "cannot queue the fault"
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/_emulator/faults", method="POST",
    data=json.dumps({"path": "/providers/Microsoft.ResourceGraph/resources", "status": 403,
                     "times": 100}).encode(), headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
EOF
run graph_403 1 --config "$tmp/aiwatchd.yaml"
grep -qi "403\|AuthorizationFailed\|Forbidden" "$tmp/graph_403.err" ||
	problem "a refused Resource Graph query is not explained: $(cat "$tmp/graph_403.err")"

posture_env_stop || problem "the emulator did not exit cleanly: $(tail -5 "$tmp/emu.log")"
if [ "$fail" -eq 0 ]; then
	echo "posture reports match the expected ones (by resource, mcsb, nist, JSON, offline)"
fi
exit "$fail"
