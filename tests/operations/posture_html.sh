#!/bin/sh
# The HTML posture report opens in a browser: `aiwatchd posture --html` of the fixture
# estate (read from the emulator), rendered by headless Chromium. The rendered DOM must
# hold the summary (the counts of the hand-written expected report) and the chart, and
# every failed check of tests/data/posture/expected-resources.json with its resource;
# the screenshot must not be blank (its PNG is decoded here with zlib and its colours
# counted, and the chart's pass and fail colours must be on it). The page must load
# nothing from outside itself. Skipped (77) when Chromium is not installed.
# Usage: posture_html.sh DATA_DIR   ($AIWATCHD and $AW_EMULATOR as meson sets them)
set -u
data=$1
bin=${AIWATCHD:?AIWATCHD is not set (run through meson test)}
emu=${AW_EMULATOR:?AW_EMULATOR is not set (run through meson test)}
fail=0
emu_pid=
chromium=
for c in chromium chromium-browser; do
	if command -v "$c" >/dev/null 2>&1; then
		chromium=$(command -v "$c")
		break
	fi
done
if [ -z "$chromium" ]; then
	echo "chromium is not installed (scripts/bootstrap installs it): skipped"
	exit 77
fi
. "$(dirname "$0")/posture_env.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aiwatch-posture-html-XXXXXX") || exit 1
trap 'posture_env_stop; rm -rf "$tmp"' EXIT

problem() {
	echo "FAIL: $*" >&2
	fail=1
}

posture_env_start || exit 1
"$bin" posture --config "$tmp/aiwatchd.yaml" --html "$tmp/report.html" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 3 ] || problem "posture --html exited $rc, want 3: $(cat "$tmp/err")"
grep -q "HTML report in $tmp/report.html" "$tmp/out" || problem "no summary line: $(cat "$tmp/out")"
posture_env_stop || problem "the emulator did not exit cleanly"
[ -s "$tmp/report.html" ] || {
	echo "FAIL: no HTML report written" >&2
	exit 1
}

# Self-contained: no script, no link to a stylesheet, no remote image or font.
if grep -Eiq '<script|<link|<img|<iframe|@import|url\(|src=' "$tmp/report.html"; then
	problem "the report refers to something outside itself"
fi

# Chromium writes its profile and caches under HOME: keep them in the scratch directory.
browse() {
	HOME=$tmp/home timeout 120 "$chromium" --headless --no-sandbox --disable-gpu \
		--no-first-run --disable-dev-shm-usage --user-data-dir="$tmp/profile" \
		--window-size=1280,2000 "$@" "file://$tmp/report.html" 2>>"$tmp/chromium.log"
}
mkdir -p "$tmp/home"
browse --dump-dom >"$tmp/dom.html" || problem "chromium --dump-dom failed: $(tail -5 "$tmp/chromium.log")"
browse --screenshot="$tmp/shot.png" >/dev/null ||
	problem "chromium --screenshot failed: $(tail -5 "$tmp/chromium.log")"

python3 - "$tmp/dom.html" "$data/expected-resources.json" <<'EOF' || fail=1
import json, sys
from html.parser import HTMLParser

want = json.load(open(sys.argv[2]))
failed = {(x["check"], r["id"]) for r in want["resources"] for x in r["results"]
          if x["status"] == "failed"}

class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = {}
        self.rows = set()
        self.bars = []
        self.stack = []
        self.text = {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids[a["id"]] = tag
            self.stack.append(a["id"])
        else:
            self.stack.append(None)
        if tag == "tr" and a.get("class") == "failed":
            self.rows.add((a.get("data-check"), a.get("data-resource")))
        if tag == "rect" and (a.get("class") or "").startswith("bar-"):
            self.bars.append((a["class"], a.get("data-area"), float(a.get("width", "0"))))
    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()
    def handle_data(self, data):
        for i in self.stack:
            if i:
                self.text[i] = self.text.get(i, "") + data

dom = Dom()
dom.feed(open(sys.argv[1], encoding="utf-8").read())
bad = 0
def problem(msg):
    global bad
    bad = 1
    print("FAIL: " + msg, file=sys.stderr)

s = want["summary"]
line = "%d checks on %d resources: %d passed, %d failed, %d unknown" % (
    s["checks"], s["resources"], s["passed"], s["failed"], s["unknown"])
if "summary" not in dom.ids:
    problem("the rendered page has no summary section")
if dom.text.get("summary-line", "").strip() != line:
    problem("summary says %r, want %r" % (dom.text.get("summary-line"), line))
for k in ("passed", "failed", "unknown"):
    if dom.text.get("count-" + k, "").strip() != str(s[k]):
        problem("the %s tile says %r, want %d" % (k, dom.text.get("count-" + k), s[k]))
if dom.ids.get("chart") != "svg":
    problem("no SVG chart")
areas = {a["area"]: a for a in s["areas"]}
for cls, area, width in dom.bars:
    k = cls[4:]
    if area not in areas or areas[area][k] == 0 or width <= 0:
        problem("chart bar %s for %s does not match the summary" % (cls, area))
drawn = {(cls[4:], area) for cls, area, w in dom.bars}
for a in s["areas"]:
    for k in ("passed", "failed", "unknown"):
        if a[k] and (k, a["area"]) not in drawn:
            problem("the chart has no %s bar for %s" % (k, a["area"]))
missing = failed - dom.rows
extra = dom.rows - failed
for c, r in sorted(missing):
    problem("failed check %s on %s is not on the page" % (c, r))
for c, r in sorted(extra):
    problem("the page lists %s on %s as failed, the expected report does not" % (c, r))
if "remediation" not in dom.ids:
    problem("no remediation section")
print("DOM: summary, chart (%d bars) and %d failed checks with their resources" % (len(dom.bars), len(dom.rows)))
sys.exit(bad)
EOF

# The screenshot: PNG chunks, IDAT inflated with zlib, scanlines unfiltered, colours
# counted. A blank page has one colour; the report has the tiles' and bars' colours.
python3 - "$tmp/shot.png" <<'EOF' || fail=1
import struct, sys, zlib

data = open(sys.argv[1], "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("FAIL: the screenshot is not a PNG")
pos, idat, ihdr = 8, [], None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat.append(body)
    pos += 12 + n
width, height, depth, ctype, _, _, interlace = ihdr
if depth != 8 or ctype not in (2, 6) or interlace:
    sys.exit("FAIL: unexpected PNG format depth=%d colour type=%d interlace=%d" % (depth, ctype, interlace))
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(b"".join(idat))
stride = width * bpp
prev = bytearray(stride)
colours = set()
off = 0
for y in range(height):
    f = raw[off]
    line = bytearray(raw[off + 1:off + 1 + stride])
    off += 1 + stride
    if f == 1:
        for i in range(bpp, stride):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 2:
        for i in range(stride):
            line[i] = (line[i] + prev[i]) & 255
    elif f == 3:
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
    elif f == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[i] = (line[i] + pr) & 255
    elif f != 0:
        sys.exit("FAIL: PNG filter %d" % f)
    for x in range(0, stride, bpp):
        colours.add(bytes(line[x:x + 3]))
    prev = line
need = {b"\x2e\x7d\x32": "passed green", b"\xc6\x28\x28": "failed red"}
print("screenshot %dx%d: %d distinct colours" % (width, height, len(colours)))
bad = 0
if len(colours) < 16:
    print("FAIL: the screenshot looks blank (%d colours)" % len(colours), file=sys.stderr)
    bad = 1
for rgb, what in need.items():
    if rgb not in colours:
        print("FAIL: the screenshot has no %s (the chart and tiles are not drawn)" % what, file=sys.stderr)
        bad = 1
sys.exit(bad)
EOF

if [ "$fail" -eq 0 ]; then
	echo "the HTML posture report renders in Chromium with its summary and every failed check"
fi
exit "$fail"
