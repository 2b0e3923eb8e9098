#!/bin/sh
# `aiwatchd replay` as a detection engineer runs it: bad lines are skipped with their
# file and line number (across 9 -> 10, 99 -> 100, 109 -> 110, 199 -> 200 and a line with no newline at the
# end), blank and CRLF lines are fine, and the summary counts events and malformed
# lines. Usage: replay_cli.sh (with $AIWATCHD set by meson)
set -u
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
good='{"Type":"AzureActivity","OperationNameValue":"x","TimeGenerated":"2026-11-20T10:00:00Z"}'
i=1
while [ $i -le 1000 ]; do
	case $i in
	9 | 10 | 99 | 100 | 101 | 110 | 200 | 1000) printf '{bad' ;;
	50) printf '%s\r' "$good" ;;
	60) ;;
	*) printf '%s' "$good" ;;
	esac
	[ $i -lt 1000 ] && printf '\n'
	i=$((i + 1))
done >"$dir/day.jsonl"
"$AIWATCHD" replay --rules "$dir" --format none "$dir/day.jsonl" >"$dir/out" 2>"$dir/err"
rc=$?
fail=0
for n in 9 10 99 100 101 110 200 1000; do
	if ! grep -q "^replay: $dir/day.jsonl:$n: skipped: $dir/day.jsonl:$n: not valid JSON" \
		"$dir/err"; then
		echo "no message for line $n" >&2
		fail=1
	fi
done
if [ "$(grep -c 'skipped' "$dir/err")" -ne 8 ]; then
	echo "want 8 skipped lines" >&2
	fail=1
fi
if ! grep -q '^replay: 991 events, 0 alerts, 8 malformed' "$dir/err"; then
	echo "wrong summary" >&2
	fail=1
fi
if [ $fail -ne 0 ]; then
	cat "$dir/err" >&2
	exit 1
fi
echo "replay: line numbers and summary as expected (exit $rc)"
