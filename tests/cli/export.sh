#!/bin/sh
# SPDX-License-Identifier: MIT
# export.sh - export writes the held IDs and their owners as JSON; import
# reads them back into a new pool (made with the exported parameters) or an
# empty one; it refuses a non-empty pool unless --force, and a bad document
# changes nothing.
. "$(dirname "$0")/lib.sh"

newpool P exp
newpool Q imp
newpool R imp2
newpool N plain
newfile F exp
S=
trap 'if [ -n "$S" ]; then kill "$S" 2>/dev/null; fi; cleanup' EXIT

sleep 300 >/dev/null 2>&1 &
S=$!
check "create" "$CLI" -p "$P" create --capacity 100 --base 5000 --policy cyclic
"$CLI" -p "$P" allocate --owner $$ -n 3 >/dev/null
"$CLI" -p "$P" allocate --owner "$S" --block 5 >/dev/null
"$CLI" -p "$P" allocate --owner $$ --id 5090 >/dev/null
"$CLI" -p "$P" export >"$F"
got=$?
check "export: exit $got" test $got = 0
if printf '%s' "$(cat "$F")" | json_ok; then
	ok "...the document is JSON"
else
	[ $? -eq 2 ] && skip "...the document is JSON" "no jq or python3" || not_ok "...not JSON: $(cat "$F")"
fi
check "...names the runs and holders" grep -q "{\"first\": 5003, \"count\": 5, \"owner\": $S}" "$F"

check "import into a missing pool creates it" sh -c '"$1" -p "$2" import <"$3"' sh "$CLI" "$Q" "$F"
check "...with the same parameters" test "$("$CLI" -p "$Q" stat | tail -n +2)" = "$("$CLI" -p "$P" stat | tail -n +2)"
check "...the same IDs and holders" test "$("$CLI" -p "$Q" list)" = "$("$CLI" -p "$P" list)"

BEFORE=$("$CLI" -p "$Q" list)
"$CLI" -p "$Q" import <"$F" 2>"$F.err"
got=$?
check "import into a non-empty pool is refused: exit $got" test $got = 4
check "...saying why" grep -q "not empty.*--force" "$F.err"
check "...and changes nothing" test "$("$CLI" -p "$Q" list)" = "$BEFORE"
"$CLI" -p "$Q" free 5000
check "import --force fills in what is missing" sh -c '"$1" -p "$2" import --force <"$3" 2>/dev/null' sh "$CLI" "$Q" "$F"
check "...the pool equals the export again" test "$("$CLI" -p "$Q" list)" = "$("$CLI" -p "$P" list)"

# Into an existing empty pool of another kind of owners: holders are dropped.
check "create an empty pool without owners" "$CLI" -p "$N" create --capacity 100 --base 5000 --no-owners
check "import into it" sh -c '"$1" -p "$2" import <"$3"' sh "$CLI" "$N" "$F"
outputs "...the same IDs" "5000-5007 5090" -p "$N" list

# Runs outside the pool, and documents that are not right: nothing changes.
check "create a small empty pool" "$CLI" -p "$R" create --capacity 10 --base 5000
bad_doc() {
	desc=$1 want=$2 doc=$3
	printf '%s' "$doc" | "$CLI" -p "$R" import >/dev/null 2>"$F.err"
	got=$?
	if [ $got -eq "$want" ] && [ -z "$("$CLI" -p "$R" list)" ] && grep -q '^numballoc-cli: ' "$F.err"; then
		ok "$desc: exit $got, $(head -1 "$F.err")"
	else
		not_ok "$desc: exit $got (expected $want), $(cat "$F.err")"
	fi
}
TMPFILES="$TMPFILES $F.err"
bad_doc "the export of a larger pool (runs outside)" 2 "$(cat "$F")"
bad_doc "not JSON" 2 "hello"
bad_doc "empty input" 2 ""
bad_doc "a negative ID" 2 '{"held": [{"first": -1, "count": 1}]}'
bad_doc "a count of 0" 2 '{"held": [{"first": 5000, "count": 0}]}'
bad_doc "a run without first" 2 '{"held": [{"count": 2}]}'
bad_doc "trailing text" 2 '{"held": []} x'
bad_doc "unterminated" 2 '{"held": [{"first": 5000'
bad_doc "an ID held twice in the document" 4 '{"held": [{"first": 5000, "count": 2}, {"first": 5001, "count": 1}]}'
check "a hand-made document with unknown keys imports" sh -c \
	'printf "%s" "{\"comment\": [1, {\"x\": null}], \"held\": [{\"first\": 5002, \"count\": 2, \"owner\": null}]}" | "$1" -p "$2" import --owner "$3"' sh "$CLI" "$R" $$
outputs "...its IDs" "5002-5003 $$" -p "$R" list
status_is 2 "import with an argument" -p "$R" import x
newpool M missing
printf '%s' '{"capacity": 10, "base": 0, "held": [{"first": 12, "count": 1}]}' |
	"$CLI" -p "$M" import >/dev/null 2>&1
got=$?
check "import of a run outside the document's own pool: exit $got" test $got = 2
check "...creates nothing" test ! -e "/dev/shm/$M"

done_testing
