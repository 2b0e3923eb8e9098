#!/bin/sh
# `meson install` into a staging directory gives a tree a Debian package could ship,
# and the installed daemon accepts the installed configuration and rules.
#
# The build is installed with --destdir into a temporary directory, as dpkg-buildpackage
# does (debian/tmp). Installed files name their final paths (the configuration's rules
# directory is substituted by conf/meson.build), so `aiwatchd check` runs on a copy of
# the installed configuration whose rules path is moved under the staging directory,
# after checking that it is exactly the installed rules directory.
#
# Usage: install.sh BUILD_DIR PREFIX CONFDIR RULESDIR SBINDIR MANDIR UNITDIR
# (absolute paths, from tests/meson.build)
set -u
build=$1 prefix=$2 confdir=$3 rulesdir=$4 sbindir=$5 mandir=$6 unitdir=$7
fail=0
work=$(mktemp -d "${TMPDIR:-/tmp}/aiwatch-install-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
stage=$work/stage

problem() {
	echo "FAIL: $*" >&2
	fail=1
}

if ! meson install -C "$build" --destdir "$stage" --no-rebuild --quiet >"$work/log" 2>&1; then
	cat "$work/log" >&2
	echo "FAIL: meson install --destdir failed" >&2
	exit 1
fi

bin=$stage$sbindir/aiwatchd
conf=$stage$confdir/aiwatchd.yaml
unit=$stage$unitdir/aiwatchd.service

# --- the tree -------------------------------------------------------------------------
[ -x "$bin" ] || problem "no executable $sbindir/aiwatchd"
[ -f "$conf" ] || problem "no $confdir/aiwatchd.yaml"
[ -f "$unit" ] || problem "no $unitdir/aiwatchd.service"
for page in man8/aiwatchd.8 man5/aiwatchd.yaml.5; do
	[ -f "$stage$mandir/$page" ] || problem "no manual page $mandir/$page"
done
nrules=$(find "$stage$rulesdir" -name '*.yml' -type f 2>/dev/null | wc -l)
[ "$nrules" -ge 10 ] || problem "only $nrules rule files under $rulesdir"

# The configuration names accounts' secrets at times: not readable by others.
if [ -f "$conf" ]; then
	mode=$(stat -c %a "$conf")
	[ "$mode" = 640 ] || problem "$confdir/aiwatchd.yaml has mode $mode, want 640"
fi
# Only under the prefix, the configuration directory and the unit directory: nothing
# in /var, /tmp or home, which a package must not ship (StateDirectory= makes
# /var/lib/aiwatch at run time).
find "$stage" -type f -o -type l | while read -r f; do
	rel=${f#"$stage"}
	case $rel in
	"$prefix"/* | "$confdir"/* | "$unitdir"/*) ;;
	*) echo "$rel" ;;
	esac
done >"$work/outside"
[ -s "$work/outside" ] && problem "files outside the package's directories:
$(cat "$work/outside")"
ww=$(find "$stage" -perm -o+w ! -type l)
[ -z "$ww" ] || problem "world-writable: $ww"
# Test programs stay in the build tree.
tests=$(find "$stage" -name 'test_*' -o -name 'aw-azure-emulator*')
[ -z "$tests" ] || problem "test programs installed: $tests"

# --- the installed programs and files work together --------------------------------
if [ -x "$bin" ]; then
	"$bin" --version | grep -q '^aiwatchd [0-9]' || problem "installed aiwatchd --version"
fi
if [ -f "$unit" ]; then
	grep -qx "ExecStart=$sbindir/aiwatchd --config $confdir/aiwatchd.yaml" "$unit" ||
		problem "the unit does not start $sbindir/aiwatchd with $confdir/aiwatchd.yaml:
$(grep '^Exec' "$unit")"
fi
if [ -f "$conf" ] && [ -x "$bin" ]; then
	grep -q "^ *- \"$rulesdir\"\$" "$conf" ||
		problem "the installed configuration does not name the installed rules $rulesdir:
$(grep -n -A3 '^rules:' "$conf")"
	# Relocate the one installed path; keep the mode (check refuses nothing here, but
	# a 0640 file is what the daemon sees in production).
	sed "s#\"$rulesdir\"#\"$stage$rulesdir\"#" "$conf" >"$work/check.yaml"
	chmod 640 "$work/check.yaml"
	if out=$("$bin" check --config "$work/check.yaml" 2>&1); then
		echo "$out"
		n=$(printf '%s\n' "$out" | sed -n 's/.*, \([0-9][0-9]*\) rules,.*/\1/p')
		[ "${n:-0}" -ge 10 ] || problem "aiwatchd check loaded ${n:-no} rules"
	else
		problem "aiwatchd check rejects the installed configuration:
$out"
	fi
fi

[ "$fail" -eq 0 ] && echo "installed tree OK: $(find "$stage" -type f | wc -l) files"
exit "$fail"
