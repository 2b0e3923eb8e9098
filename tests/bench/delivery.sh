#!/usr/bin/env bash
# The delivery benchmark: alerts/s that the real aiwatchd delivers to Kafka (a librdkafka
# mock cluster: the real protocol over TCP on loopback) and to the Azure emulator's Logs
# Ingestion API, with the durable spool on (spool_fsync: batch, the default), and the
# spool's write amplification (bytes written to the spool per byte of alert). See README.md.
#
#   tests/bench/delivery.sh [-n EVENTS] [--reps R] [--build DIR]
#
# Run by hand; it is not part of `meson test` (the `bench` case of test_delivery_crash,
# which this runs, is, at 20,000 events).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=100000
REPS=1
BUILD="$ROOT/build-bench"

usage() {
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	cat <<EOF
Options:
  -n, --events N   events appended to the input, one alert each (default 100,000)
  --reps R         repeat the measurement R times (default 1)
  --build DIR      build directory (default build-bench; set up as a release build if missing)
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	-n | --events) N="$2"; shift ;;
	--reps) REPS="$2"; shift ;;
	--build) BUILD="$2"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "delivery.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
case "$N" in '' | *[!0-9]*) echo "delivery.sh: -n needs a number" >&2; exit 2 ;; esac
case "$REPS" in '' | *[!0-9]*) echo "delivery.sh: --reps needs a number" >&2; exit 2 ;; esac

if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" aiwatchd tests/test_delivery_crash tests/azure-emulator/aw-azure-emulator \
	>/dev/null

echo "machine: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $BUILD ($(meson introspect "$BUILD" --buildoptions 2>/dev/null |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))' 2>/dev/null || echo '?'))"
echo "events: $N (one alert each), repetitions: $REPS"

for ((i = 1; i <= REPS; i++)); do
	# Only the `bench` case (one daemon per destination, each started and ready before
	# the events are appended); Check's timeout scaled for large N.
	AIWATCHD="$BUILD/aiwatchd" \
	AW_EMULATOR="$BUILD/tests/azure-emulator/aw-azure-emulator" \
	AW_SRCDIR="$ROOT" AW_BUILDDIR="$BUILD" \
	AW_BENCH_EVENTS="$N" CK_RUN_CASE=bench CK_TIMEOUT_MULTIPLIER=20 \
		"$BUILD/tests/test_delivery_crash" | grep -E '^delivery |Checks:'
done
