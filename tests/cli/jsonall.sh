#!/bin/sh
# SPDX-License-Identifier: MIT
# jsonall.sh - --json on every command that prints: each document parses,
# and carries the values the plain command would print.
. "$(dirname "$0")/lib.sh"

newpool P jsonall
newpool Q jsondead

if [ -z "$(json_tool)" ]; then
	skip "--json on every command" "no jq or python3 to parse JSON"
	done_testing
fi

# js DESCRIPTION JQ PY WANT ARGS...: the tool's JSON parses and JQ (or PY) gives WANT.
js() {
	desc=$1 jqx=$2 pyx=$3 want=$4
	shift 4
	doc=$("$CLI" "$@" 2>/dev/null)
	if ! printf '%s' "$doc" | json_ok; then
		not_ok "$desc: not JSON: $doc"
		return
	fi
	got=$(printf '%s' "$doc" | json_get "$jqx" "$pyx")
	if [ "$got" = "$want" ]; then ok "$desc: $got"; else not_ok "$desc: got '$got', expected '$want'"; fi
}

js "create --json" '"\(.created) \(.capacity) \(.owners)"' \
	'"%s %d %s" % (str(d["created"]).lower(), d["capacity"], str(d["owners"]).lower())' \
	"true 50 true" -p "$P" create --capacity 50 --json
js "allocate --json -n 3" '.ids | map(tostring) | join(" ")' '" ".join(map(str, d["ids"]))' \
	"0 1 2" -p "$P" allocate -n 3 --owner $$ --json
js "allocate --json --id 10" '"\(.ids[0]) \(.owner)"' '"%d %d" % (d["ids"][0], d["owner"])' \
	"10 $$" -p "$P" allocate --id 10 --owner $$ --json
js "allocate --json --block 4" '"\(.first) \(.count)"' '"%d %d" % (d["first"], d["count"])' \
	"3 4" -p "$P" --json allocate --block 4 --owner $$
js "test --json (allocated)" '"\(.id) \(.allocated) \(.owner)"' \
	'"%d %s %d" % (d["id"], str(d["allocated"]).lower(), d["owner"])' "10 true $$" -p "$P" test 10 --json
js "test --json (free)" '"\(.allocated) \(.owner)"' '"%s %s" % (str(d["allocated"]).lower(), "null" if d["owner"] is None else d["owner"])' \
	"false null" -p "$P" test 20 --json
js "free --json 0 1 20 (20 not allocated)" '"\(.freed | map(tostring) | join(",")) \(.not_allocated)"' \
	'"%s %d" % (",".join(map(str, d["freed"])), d["not_allocated"])' "0,1 1" -p "$P" free 0 1 20 --json
js "free --json --block 3 4" '"\(.freed[0].first) \(.freed[0].count)"' \
	'"%d %d" % (d["freed"][0]["first"], d["freed"][0]["count"])' "3 4" -p "$P" free --block 3 4 --json
js "chown --json" '"\(.id) \(.owner)"' '"%d %d" % (d["id"], d["owner"])' "10 $$" -p "$P" chown 10 $$ --json
js "list --json" '[.[] | "\(.first)+\(.count)@\(.owner)"] | join(" ")' \
	'" ".join("%d+%d@%d" % (r["first"], r["count"], r["owner"]) for r in d)' "2+1@$$ 10+1@$$" -p "$P" list --json
js "stat --json" '"\(.used) \(.capacity)"' '"%d %d" % (d["used"], d["capacity"])' "2 50" -p "$P" stat --json
js "map --json" '"\(.group) \(.used | add)"' '"%d %d" % (d["group"], sum(d["used"]))' "1 2" -p "$P" map --json
js "export (always JSON)" '.held | length' 'len(d["held"])' "2" -p "$P" export
js "pools --json" "[.[] | select(.pool == \"$P\") | .used] | .[0]" \
	"[r['used'] for r in d if r['pool'] == '$P'][0]" "2" pools --json
"$CLI" -p "$Q" create --capacity 8 >/dev/null
sh -c '"$1" -p "$2" allocate -n 2 >/dev/null' sh "$CLI" "$Q"
js "reclaim --json" '[.[] | .id] | map(tostring) | join(" ")' '" ".join(str(r["id"]) for r in d)' \
	"0 1" -p "$Q" reclaim --json
js "reclaim --json (nothing)" 'length' 'len(d)' "0" -p "$Q" reclaim --json
js "free --owner --json" '.freed' 'd["freed"]' "2" -p "$P" free --owner $$ --json
js "destroy --json" '.destroyed' 'str(d["destroyed"]).lower()' "true" -p "$Q" destroy --json

done_testing
