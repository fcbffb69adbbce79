# SPDX-License-Identifier: MIT
# lib.sh - sourced by the shell tests of numballoc-cli: TAP output, pools
# named nbt-$$-TAG that are destroyed on exit, and a JSON checker.
#
# $NUMBALLOC_CLI is the built tool (make check exports it).

CLI=${NUMBALLOC_CLI:?NUMBALLOC_CLI is not set: run through make check}
[ -x "$CLI" ] || { echo "Bail out! $CLI is not executable"; exit 99; }

# In the build tree the tool is a libtool wrapper script that costs some
# 20 ms a call; run the program it wraps directly, with the library it
# was built against. (An installed tool is used as it is.)
cli_dir=$(dirname "$CLI")
if [ -x "$cli_dir/.libs/$(basename "$CLI")" ] && [ -d "$cli_dir/../lib/.libs" ] &&
	grep -q 'libtool' "$CLI" 2>/dev/null; then
	LD_LIBRARY_PATH=$(cd "$cli_dir/../lib/.libs" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export LD_LIBRARY_PATH
	CLI=$cli_dir/.libs/$(basename "$CLI")
fi

tap_n=0
tap_failed=0
POOLS=
TMPFILES=

ok() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1"
}

not_ok() {
	tap_n=$((tap_n + 1))
	echo "not ok $tap_n - $1"
	tap_failed=1
}

skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}

# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# status_is WANT DESCRIPTION ARGS...: run the tool, compare its exit status.
status_is() {
	want=$1
	desc=$2
	shift 2
	"$CLI" "$@" >/dev/null 2>&1
	got=$?
	if [ "$got" -eq "$want" ]; then
		ok "$desc: exit $got"
	else
		not_ok "$desc: exit $got, expected $want"
	fi
}

# newpool VAR TAG: VAR=nbt-$$-TAG, destroyed on exit.
newpool() {
	eval "$1=nbt-$$-$2"
	POOLS="$POOLS nbt-$$-$2"
}

# newfile VAR TAG: VAR=a path for a file-backed pool, removed on exit.
newfile() {
	eval "$1=\${TMPDIR:-/tmp}/nbt-$$-$2"
	TMPFILES="$TMPFILES ${TMPDIR:-/tmp}/nbt-$$-$2"
}

cleanup() {
	for p in $POOLS; do
		"$CLI" -p "$p" destroy --force >/dev/null 2>&1
	done
	# A name with white space in it, which $POOLS cannot carry.
	[ -n "$ODD_POOL" ] && "$CLI" -p "$ODD_POOL" destroy --force >/dev/null 2>&1
	for f in $TMPFILES; do
		rm -f "$f" "$f.out" "$f.err"
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# prints DESCRIPTION WANT COMMAND...: COMMAND prints WANT (its lines joined by spaces).
prints() {
	desc=$1 want=$2
	shift 2
	got=$("$@" 2>&1 | tr '\n' ' ' | sed 's/ $//')
	if [ "$got" = "$want" ]; then ok "$desc"; else not_ok "$desc: got '$got', expected '$want'"; fi
}

# outputs DESCRIPTION WANT ARGS...: the tool with ARGS prints WANT.
outputs() {
	desc=$1 want=$2
	shift 2
	prints "$desc" "$want" "$CLI" "$@"
}

# stat_used POOL-ARGS...: the "used" line of "stat".
stat_used() {
	"$CLI" "$@" stat | sed -n 's/^used: *//p'
}

# json_tool: jq, else python3, else nothing.
json_tool() {
	if command -v jq >/dev/null 2>&1; then
		echo jq
	elif command -v python3 >/dev/null 2>&1; then
		echo python3
	fi
}

# json_ok: standard input parses as JSON, and is UTF-8 (JSON's encoding,
# which jq does not insist on); 2 when there is no tool to tell.
json_ok() {
	doc=$(cat)
	if command -v iconv >/dev/null 2>&1; then
		printf '%s' "$doc" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1 || return 1
	fi
	case $(json_tool) in
	jq) printf '%s' "$doc" | jq -e . >/dev/null 2>&1 ;;
	python3) printf '%s' "$doc" | python3 -m json.tool >/dev/null 2>&1 ;;
	*) return 2 ;;
	esac
}

# json_get JQ-EXPR PYTHON-EXPR: a value of the JSON document on standard
# input, by jq, else by python3 (the document is "d" in the expression).
json_get() {
	case $(json_tool) in
	jq) jq -r "$1" ;;
	python3) python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$2" ;;
	esac
}

done_testing() {
	echo "1..$tap_n"
	exit 0	# failures are "not ok" lines
}
