#!/bin/sh
# The installed unit's exposure score, as systemd itself rates it
# (`systemd-analyze security --offline=yes`), must be 1.2 or better (issue 8: a
# hardened unit with network access reaches about 1.1 on Debian 12's systemd 252).
# Usage: unit_security.sh UNIT_FILE
set -u
unit=$1
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "systemd-analyze not found: scripts/bootstrap installs the systemd package" >&2
	exit 1
fi
out=$(systemd-analyze security --offline=yes "$unit" 2>&1)
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
	printf '%s\n' "$out" >&2
	echo "no exposure score in systemd-analyze's output" >&2
	exit 1
fi
echo "exposure level of $(basename "$unit"): $score (must be <= 1.2)"
# list what still counts against the unit, so a regression says why
printf '%s\n' "$out" | grep '^✗' | head -20
awk -v s="$score" 'BEGIN { exit !(s <= 1.2) }'
