#!/bin/sh
# SPDX-License-Identifier: MIT
# json.sh - "stat --json" and "list --json" print valid JSON with the
# documented keys and the right values, whatever the pool's name holds.
. "$(dirname "$0")/lib.sh"

if [ -z "$(json_tool)" ]; then
	skip "JSON output parses" "neither jq nor python3 is installed"
	done_testing
fi

newpool P json
newfile F json

# is_json DESCRIPTION ARGS...: the tool's output parses as JSON.
is_json() {
	desc=$1
	shift
	if "$CLI" "$@" | json_ok; then ok "$desc"; else not_ok "$desc"; fi
}

# json_is DESCRIPTION JQ PYTHON WANT ARGS...: a value of the tool's JSON.
json_is() {
	desc=$1 jq=$2 py=$3 want=$4
	shift 4
	got=$("$CLI" "$@" | json_get "$jq" "$py")
	if [ "$got" = "$want" ]; then ok "$desc"; else not_ok "$desc: got '$got', expected '$want'"; fi
}

"$CLI" -p "$P" create --capacity 1000 --base 0x100 --policy cyclic ||
	{ echo "Bail out! cannot create the pool"; exit 99; }
is_json "list --json of an empty pool parses" -p "$P" list --json
json_is "list --json of an empty pool is []" 'length' 'len(d)' 0 -p "$P" list --json
is_json "stat --json of an empty pool parses" -p "$P" stat --json
"$CLI" -p "$P" allocate --count 3 >/dev/null
"$CLI" -p "$P" allocate --id 0x200 >/dev/null
"$CLI" -p "$P" allocate --block 8 --align 8 >/dev/null
is_json "stat --json parses" -p "$P" stat --json
is_json "--json stat (global option) parses" -p "$P" --json stat
json_is "stat: capacity" '.capacity' 'd["capacity"]' 1000 -p "$P" stat --json
json_is "stat: base" '.base' 'd["base"]' 256 -p "$P" stat --json
json_is "stat: used" '.used' 'd["used"]' 12 -p "$P" stat --json
json_is "stat: free" '.free' 'd["free"]' 988 -p "$P" stat --json
json_is "stat: policy" '.policy' 'd["policy"]' cyclic -p "$P" stat --json
json_is "stat: largest_free_run is a number" '.largest_free_run|type' \
	'type(d["largest_free_run"]).__name__' \
	"$(json_tool | sed 's/jq/number/;s/python3/int/')" -p "$P" stat --json
is_json "list --json parses" -p "$P" list --json
json_is "list --json: the runs as first,count" \
	'map("\(.first):\(.count)")|join(" ")' \
	'" ".join("%d:%d" % (r["first"], r["count"]) for r in d)' \
	"256:3 264:8 512:1" -p "$P" list --json

# A name with a quote, a backslash, a tab and non-ASCII letters.
Q="nbt-$$-q\"\\	é"
ODD_POOL=$Q
"$CLI" -p "$Q" allocate >/dev/null
is_json "stat --json of a pool whose name needs escaping parses" -p "$Q" stat --json
json_is "...and gives the name back" '.pool' 'd["pool"]' "$Q" -p "$Q" stat --json
# A name that is not UTF-8 (a lone byte 0xff): still valid JSON.
newpool B "bin-$(printf '\377')"
"$CLI" -p "$B" allocate >/dev/null
is_json "stat --json of a pool whose name is not UTF-8 parses" -p "$B" stat --json
"$CLI" --file "$F" create --capacity 10 >/dev/null
is_json "stat --json of a file-backed pool parses" --file "$F" stat --json
json_is "...and gives the path back" '.file' 'd["file"]' "$F" --file "$F" stat --json

done_testing
