#!/bin/sh
# run.sh FUZZER SEED_DIR WORK_DIR SECONDS: a short libFuzzer run over a copy of the
# seed corpus. Any crash, leak or sanitizer report fails the test.
set -eu
fuzzer=$1 seeds=$2 work=$3 secs=$4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
[ -d "$seeds" ] && cp -r "$seeds"/. "$work/corpus/"
exec "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus"
