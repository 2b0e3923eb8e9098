#!/bin/sh
# The manual pages say what the binary does: every command and long option of
# `aiwatchd --help` is in aiwatchd(8), with every exit code; every configuration option
# it lists is a term (.B key, or .SS for a section) of aiwatchd.yaml(5), a plugin's
# options within that plugin's "Input type: NAME" / "Output type: NAME" section. And
# groff formats both pages without a warning (skipped when groff is not installed).
# Usage: man_pages.sh DOC_DIR   ($AIWATCHD is the binary, as meson sets it)
set -u
doc=$1
page8=$doc/aiwatchd.8
page5=$doc/aiwatchd.yaml.5
bin=${AIWATCHD:?AIWATCHD is not set (run through meson test)}
fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

problem() {
	echo "FAIL: $*" >&2
	fail=1
}

# The man source with escapes that do not change a word removed: \- is -, \& and
# font changes disappear.
plain() {
	sed -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\f[BIRP]//g' "$1"
}

if command -v groff >/dev/null 2>&1; then
	for p in "$page8" "$page5"; do
		out=$(groff -man -ww -z -Tutf8 "$p" 2>&1)
		[ -z "$out" ] || problem "groff warns about $(basename "$p"):
$out"
	done
else
	echo "groff not installed: formatting not checked"
fi

"$bin" --help >"$tmp/help" 2>&1 || problem "aiwatchd --help failed"
plain "$page8" >"$tmp/8"
plain "$page5" >"$tmp/5"

# --- aiwatchd(8): commands, long options, exit codes -------------------------------
# Usage lines name the commands: "aiwatchd check [...]", "aiwatchd dead-letter list".
sed -n 's/^\(Usage: \|       \)aiwatchd \([a-z][a-z-]*\( [a-z][a-z-]*\)\{0,1\}\).*/\2/p' \
	"$tmp/help" | sort -u >"$tmp/commands"
[ -s "$tmp/commands" ] || problem "no command found in aiwatchd --help"
while read -r cmd; do
	grep -q "^\.SY \"aiwatchd $cmd\"" "$tmp/8" ||
		problem "aiwatchd(8) SYNOPSIS lacks the command 'aiwatchd $cmd'"
done <"$tmp/commands"
for sub in replay rules dead-letter; do
	"$bin" "$sub" --help >>"$tmp/help" 2>&1
done
grep -o -- '--[a-z][a-z-]*' "$tmp/help" | sort -u >"$tmp/longopts"
while read -r opt; do
	grep -q -- "$opt" "$tmp/8" || problem "aiwatchd(8) does not mention $opt"
done <"$tmp/longopts"
sed -n 's/^  \([0-9]\)  .*/\1/p' "$tmp/help" | sort -u >"$tmp/codes"
[ -s "$tmp/codes" ] || problem "no exit code found in aiwatchd --help"
while read -r code; do
	sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$tmp/8" | grep -qx "\.B $code" ||
		problem "aiwatchd(8) EXIT STATUS lacks $code"
done <"$tmp/codes"

# --- aiwatchd.yaml(5): every option -----------------------------------------------
# "  key   (type...)  help" lines; "Input type: NAME" starts a plugin's block.
awk '
	/^(Input|Output) type: / { plugin = $0; next }
	/^  [a-z][a-z0-9_.]*  +\(/ { print (plugin == "" ? "core" : plugin) "\t" $1 }
' "$tmp/help" >"$tmp/options"
n=$(wc -l <"$tmp/options")
[ "$n" -ge 40 ] || problem "only $n options parsed from aiwatchd --help"

# A term: ".B key" or ".SS key" in the given text.
has_term() {
	grep -qx -e "\.B $1" -e "\.SS $1" "$2"
}

# The part of the page between a heading and the next .SS or .SH.
section() {
	awk -v h=".SS \"$1\"" '
		$0 == h { on = 1; next }
		on && /^\.S[SH] / { exit }
		on { print }
	' "$tmp/5"
}

sed -n '/^\.SH CREDENTIALS/,/^\.SH /p' "$tmp/5" >"$tmp/creds"
tab=$(printf '\t')
while IFS="$tab" read -r where key; do
	case $where in
	core)
		case $key in
		azure.credential.*)
			has_term "${key#azure.}" "$tmp/creds" ||
				problem "aiwatchd.yaml(5) CREDENTIALS lacks ${key#azure.} (for $key)"
			;;
		*)
			has_term "$key" "$tmp/5" || problem "aiwatchd.yaml(5) lacks the option $key"
			;;
		esac
		;;
	*)
		section "$where" >"$tmp/section"
		if [ ! -s "$tmp/section" ]; then
			# once per plugin
			grep -qxF "$where" "$tmp/missing" 2>/dev/null ||
				problem "aiwatchd.yaml(5) has no section .SS \"$where\""
			echo "$where" >>"$tmp/missing"
			continue
		fi
		case $key in
		credential.*)
			has_term credential "$tmp/section" ||
				problem "aiwatchd.yaml(5) \"$where\" lacks the option credential"
			has_term "$key" "$tmp/creds" ||
				problem "aiwatchd.yaml(5) CREDENTIALS lacks $key"
			;;
		*)
			has_term "$key" "$tmp/section" ||
				problem "aiwatchd.yaml(5) \"$where\" lacks the option $key"
			;;
		esac
		;;
	esac
done <"$tmp/options"

if [ "$fail" -eq 0 ]; then
	echo "man pages cover $(wc -l <"$tmp/commands") commands, $(wc -l <"$tmp/longopts") long options and $n configuration options"
fi
exit "$fail"
