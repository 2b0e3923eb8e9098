#!/usr/bin/env bash
# The engine benchmark: `aiwatchd replay` against json-c / jsmn / memmem baselines, on one core,
# in one run, so the figures are ratios rather than machine-dependent times. See README.md.
#
#   tests/bench/run.sh [--quick] [-n N] [--reps R] [--build DIR] [--work DIR]
#                      [--rr-columns projected|full] [--no-pin] [--profile]
#
# Run by hand (it takes minutes and about 3 GB of disk); it is not part of `meson test`.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=1000000
REPS=3
BUILD="$ROOT/build-bench"
WORK=""
RR_COLUMNS=projected
PIN=1
PROFILE=0
NGROUPS=100000
PER_GROUP=2

usage() {
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	cat <<EOF
Options:
  --quick            N = 100,000 and 1 repetition: a fast check that everything works
  -n, --records N    records per corpus (default 1,000,000)
  --reps R           runs per measurement; the least CPU time is kept (default 3)
  --build DIR        release build directory of aiwatchd (default build-bench; set up if missing)
  --work DIR         corpora, rule sets, baselines and results (default BUILD/bench)
  --rr-columns C     RequestResponse columns: projected (default, ~850 bytes) or full (~1,370)
  --no-pin           do not pin to CPU 0 with taskset
  --profile          afterwards, perf-record the full-pack replay and print its top functions
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) N=100000; REPS=1 ;;
	-n|--records) N=$2; shift ;;
	--reps) REPS=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--work) WORK=$2; shift ;;
	--rr-columns) RR_COLUMNS=$2; shift ;;
	--no-pin) PIN=0 ;;
	--profile) PROFILE=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$N" in ''|*[!0-9]*) echo "run.sh: -n needs a number" >&2; exit 2 ;; esac
case "$REPS" in ''|*[!0-9]*|0) echo "run.sh: --reps needs a positive number" >&2; exit 2 ;; esac
WORK=${WORK:-$BUILD/bench}
mkdir -p "$WORK/bin"
AIWATCHD="$BUILD/aiwatchd"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS="$WORK/results-$STAMP.tsv"
REPORT="$WORK/report-$STAMP.txt"
PY=python3

say() { printf '%s\n' "$*" >&2; }

# --- build ---------------------------------------------------------------------------------
if [ ! -f "$BUILD/build.ninja" ]; then
	say "== setting up a release build in $BUILD"
	meson setup "$BUILD" "$ROOT" --buildtype=release -Dtests=false >/dev/null
fi
buildtype=$(meson introspect --buildoptions "$BUILD" 2>/dev/null |
	$PY -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))' ||
	echo unknown)
if [ "$buildtype" != release ]; then
	say "run.sh: $BUILD is a '$buildtype' build; the figures are only meaningful for --buildtype=release"
fi
say "== building aiwatchd ($BUILD)"
ninja -C "$BUILD" -j2 aiwatchd >/dev/null

CFLAGS_BENCH="-O2 -std=c17 -D_GNU_SOURCE -Wall -Wextra"
RUNNER="$WORK/bin/bench_run"
if [ ! -x "$RUNNER" ] || [ "$HERE/bench_run.c" -nt "$RUNNER" ]; then
	say "== compiling bench_run"
	# Static when libc.a is there: the smaller the parent, the lower the RSS floor it leaves.
	# shellcheck disable=SC2086
	cc $CFLAGS_BENCH -static -o "$RUNNER" "$HERE/bench_run.c" 2>/dev/null ||
		cc $CFLAGS_BENCH -o "$RUNNER" "$HERE/bench_run.c"
fi
for b in memmem jsonc jsmn; do
	src="$HERE/baseline_$b.c" bin="$WORK/bin/baseline_$b"
	if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$HERE/bench_lines.h" -nt "$bin" ]; then
		say "== compiling baseline_$b"
		# shellcheck disable=SC2046,SC2086
		cc $CFLAGS_BENCH $(pkg-config --cflags json-c) -o "$bin" "$src" $(pkg-config --libs json-c)
	fi
done

# --- corpora and rule sets -----------------------------------------------------------------
# Generated files are remade when the generator or its arguments change (a stamp holds
# their hash), not merely when a generator file is touched: a corpus takes a minute.
stamp_of() { # what args... -> hash of the generator(s) and the arguments
	local gens=("$HERE/gen_corpus.py")
	[ "$1" = rules ] && gens+=("$HERE/gen_rules.py")
	{ cat "${gens[@]}"; echo "$*"; } | sha256sum | cut -c1-16
}
corpus() { # mode records extra-args... -> path
	local mode=$1 n=$2; shift 2
	local path="$WORK/corpus-$mode-$RR_COLUMNS-$n.jsonl" stamp
	stamp=$(stamp_of corpus "$mode" "$RR_COLUMNS" "$@")
	if [ ! -s "$path" ] || [ "$(cat "$path.stamp" 2>/dev/null)" != "$stamp" ]; then
		say "== generating $path"
		$PY "$HERE/gen_corpus.py" --mode "$mode" --rr-columns "$RR_COLUMNS" -o "$path" "$@" >&2
		printf '%s\n' "$stamp" >"$path.stamp"
	fi
	printf '%s\n' "$path"
}
OPENAI=$(corpus openai "$N" -n "$N")
MIXED=$(corpus mixed "$N" -n "$N")
GROUPSC=$(corpus groups $((NGROUPS * PER_GROUP)) --groups "$NGROUPS" --per-group "$PER_GROUP")
EMPTY="$WORK/empty.jsonl"
: >"$EMPTY"

for k in 10 100 1000; do
	d="$WORK/rules-$k"
	stamp=$(stamp_of rules "$k")
	if [ "$(cat "$d.stamp" 2>/dev/null)" != "$stamp" ]; then
		$PY "$HERE/gen_rules.py" --count "$k" --out "$d"
		printf '%s\n' "$stamp" >"$d.stamp"
	fi
done
$PY "$HERE/gen_rules.py" --groups "$WORK/rules-groups" --stages "$WORK/rules-stages" 2>/dev/null
for d in "$ROOT/conf/rules" "$WORK/rules-10" "$WORK/rules-100" "$WORK/rules-1000" \
	"$WORK/rules-groups/groups" "$WORK/rules-groups/control" "$WORK/rules-stages/elsewhere"; do
	if ! out=$("$AIWATCHD" rules list --rules "$d" 2>&1); then
		printf '%s\n' "$out" | tail -20 >&2
		say "run.sh: rules in $d do not load cleanly; fix them before measuring"
		exit 1
	fi
done

# Page cache: every run reads warm files.
cat "$OPENAI" "$MIXED" "$GROUPSC" >/dev/null

# --- what runs -----------------------------------------------------------------------------
TASKSET=()
if [ "$PIN" = 1 ]; then
	if command -v taskset >/dev/null; then TASKSET=(taskset -c 0); else say "run.sh: no taskset; not pinned"; fi
fi
MEASURE=("${TASKSET[@]}" "$PY" "$HERE/measure.py" run --results "$RESULTS" --reps 1 --runner "$RUNNER")
B="$WORK/bin"
PACK="$ROOT/conf/rules"

# label|corpus|records|load-of|command   (commands are word-split on spaces: no spaces in paths)
PLAN=()
for c in openai mixed; do
	f=$OPENAI; [ $c = mixed ] && f=$MIXED
	PLAN+=("split lines + memmem|$c|$N||$B/baseline_memmem $f")
	PLAN+=("jsmn tokenize, top level|$c|$N||$B/baseline_jsmn $f")
	PLAN+=("jsmn tokenize, + properties_s|$c|$N||$B/baseline_jsmn --properties $f")
	PLAN+=("json-c parse, top level|$c|$N||$B/baseline_jsonc $f")
	PLAN+=("json-c parse, + properties_s|$c|$N||$B/baseline_jsonc --properties $f")
	if [ $c = openai ]; then
		# Where replay's time goes before any rule runs (see README.md, "stages").
		PLAN+=("replay, no rules (read+validate)|$c|$N||$AIWATCHD replay --rules $WORK/rules-stages/none --format none $f")
		PLAN+=("replay, 1 rule elsewhere (+view,route)|$c|$N||$AIWATCHD replay --rules $WORK/rules-stages/elsewhere --format none $f")
	fi
	PLAN+=("replay, shipped rule pack|$c|$N||$AIWATCHD replay --rules $PACK --format none $f")
	PLAN+=("(load) replay, shipped rule pack|$c|$N|$c:replay, shipped rule pack|$AIWATCHD replay --rules $PACK --format none $EMPTY")
done
for k in 10 100 1000; do
	PLAN+=("replay, $k generated rules|mixed|$N||$AIWATCHD replay --rules $WORK/rules-$k --format none $MIXED")
	PLAN+=("(load) replay, $k generated rules|mixed|$N|mixed:replay, $k generated rules|$AIWATCHD replay --rules $WORK/rules-$k --format none $EMPTY")
done
GN=$((NGROUPS * PER_GROUP))
PLAN+=("replay, $NGROUPS correlation groups|groups|$GN||$AIWATCHD replay --rules $WORK/rules-groups/groups --format none $GROUPSC")
PLAN+=("replay, 1 correlation group (control)|groups|$GN||$AIWATCHD replay --rules $WORK/rules-groups/control --format none $GROUPSC")

corpus_line() { # path mode
	$PY - "$1" "$2" <<'EOF'
import os, sys
p, mode = sys.argv[1], sys.argv[2]
n = sum(1 for _ in open(p, "rb"))
sz = os.path.getsize(p)
print("  %-7s %s: %d records, %.1f MB, %.0f bytes/record" % (mode, p, n, sz / 1e6, sz / max(n, 1)))
EOF
}

{
	echo "aiwatch engine benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo
	echo "Machine: $(uname -srm); nproc $(nproc); CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//');" \
		"load average $(cut -d' ' -f1-3 /proc/loadavg); MemTotal $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "aiwatchd: $AIWATCHD ($buildtype build, $(cc --version | head -1)); source $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' + local changes')"
	echo "Pinned: ${TASKSET[*]:-no}; $REPS round(s) over all the commands below, one run of each per round (interleaved, so a slow spell of the machine slows baselines and replay alike), least CPU time kept; CPU = user+sys of the child (wait4 rusage), RSS = its ru_maxrss"
	"$RUNNER" -o "$WORK/floor.rusage" "$B/baseline_memmem" "$EMPTY" >/dev/null
	echo "RSS floor: a trivial C program (baseline_memmem on an empty file) under bench_run reports $(awk '{printf "%.1f MiB", $3/1024}' "$WORK/floor.rusage")"
	echo
	echo "Corpora (tests/bench/gen_corpus.py, seed 20250617, --rr-columns $RR_COLUMNS, 24 h of TimeGenerated):"
	corpus_line "$OPENAI" openai
	corpus_line "$MIXED" mixed
	corpus_line "$GROUPSC" groups
	echo "  groups: $NGROUPS distinct properties_s.objectId values x $PER_GROUP records, within one hour"
	echo "Rule sets: shipped pack $PACK ($("$AIWATCHD" rules list --rules "$PACK" 2>&1 | tail -1));"
	for k in 10 100 1000; do
		echo "  generated $WORK/rules-$k ($("$AIWATCHD" rules list --rules "$WORK/rules-$k" 2>&1 | tail -1))"
	done
	echo
	echo "Commands (each run as: ${TASKSET[*]:+${TASKSET[*]} }python3 tests/bench/measure.py run ... -- COMMAND):"
	for p in "${PLAN[@]}"; do
		IFS='|' read -r label _ _ _ cmd <<<"$p"
		printf '  %-40s %s\n' "$label" "$cmd"
	done
	echo
} | tee "$REPORT"

# --- measure -------------------------------------------------------------------------------
say "== measuring ($REPS round(s) over all commands)"
for ((round = 1; round <= REPS; round++)); do
	say "-- round $round of $REPS"
	for p in "${PLAN[@]}"; do
		IFS='|' read -r label c n loadof cmd <<<"$p"
		args=(--label "$label" --corpus "$c" --records "$n")
		[ -n "$loadof" ] && args+=(--load-of "$loadof")
		# shellcheck disable=SC2086
		"${MEASURE[@]}" "${args[@]}" -- $cmd >&2
	done
done

$PY "$HERE/measure.py" table --results "$RESULTS" | tee -a "$REPORT"

# --- optional profile ----------------------------------------------------------------------
if [ "$PROFILE" = 1 ]; then
	if command -v perf >/dev/null; then
		{
			echo
			echo "Profile: perf record -g of the full-pack replay on the openai corpus (top functions, self time)"
			perf record -q -g -o "$WORK/perf.data" -- "${TASKSET[@]}" "$AIWATCHD" replay --rules "$PACK" --format none "$OPENAI" 2>&1 | tail -1
			# awk, not head: an early-closed pipe would end the script (pipefail).
			perf report -i "$WORK/perf.data" --stdio --no-children -g none --sort symbol 2>/dev/null |
				awk '/^ +[0-9]/ && n++ < 25'
			echo "(call chains: perf report -i $WORK/perf.data --children; a -O2 -g -fno-omit-frame-pointer build attributes them best)"
		} | tee -a "$REPORT"
	else
		say "run.sh: --profile needs perf (linux-perf)"
	fi
fi
say "== report: $REPORT (raw: $RESULTS)"
