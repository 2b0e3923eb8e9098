#!/bin/sh
# doc/configuration.md must be what scripts/config-reference makes from the running
# option tables; a new or changed option without a regenerated reference fails here.
# Usage: config_reference.sh DOC (with $AIWATCHD set by meson)
set -u
doc=$1
want=$(mktemp)
got=$(mktemp)
trap 'rm -f "$want" "$got"' EXIT
"$AIWATCHD" --help | sed -n '/^Configuration (YAML)/,$p' >"$want"
sed -n '/^```$/,/^```$/p' "$doc" | sed '1d;$d' >"$got"
if ! diff -u "$got" "$want"; then
	echo "doc/configuration.md is stale: run scripts/config-reference" >&2
	exit 1
fi
echo "doc/configuration.md matches aiwatchd --help ($(wc -l <"$want") lines)"
