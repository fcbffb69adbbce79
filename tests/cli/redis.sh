#!/bin/sh
# SPDX-License-Identifier: MIT
# redis.sh - numballoc-cli on pools in Redis (-p redis://...): every ID
# command, leases (--holder/--ttl, renew, reclaim) and the errors a script
# sees. Starts its own redis-server on a free loopback port, in a
# temporary directory, and stops it; skips when there is none.
. "${top_srcdir:-.}/tests/cli/lib.sh"

SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
if [ ! -x "$SERVER" ]; then
	echo "1..0 # SKIP redis-server not installed ($SERVER)"
	exit 0
fi
if ! "$CLI" -p redis://127.0.0.1:1/probe stat 2>&1 | grep -qv 'not supported'; then
	echo "1..0 # SKIP numballoc built without Redis support (configure --with-redis)"
	exit 0
fi

RDIR=$(mktemp -d "${TMPDIR:-/tmp}/nbredis-sh-$$-XXXXXX")
RPID=
stop_server() {
	if [ -n "$RPID" ]; then
		kill "$RPID" 2>/dev/null
		kill -CONT "$RPID" 2>/dev/null
		wait "$RPID" 2>/dev/null
	fi
	rm -rf "$RDIR"
	cleanup
}
trap stop_server EXIT

# A free port: try a few at random until a server starts on one.
up=
for try in 1 2 3 4 5 6 7 8; do
	PORT=$(( ( $$ * 7 + try * 7919 + $(date +%N | sed 's/^0*//;s/^$/0/') ) % 30000 + 20000 ))
	"$SERVER" --port "$PORT" --bind 127.0.0.1 --dir "$RDIR" --save '' --appendonly no \
		--daemonize no --logfile "$RDIR/log" &
	RPID=$!
	i=0
	while [ $i -lt 100 ]; do
		if "$CLI" -p "redis://127.0.0.1:$PORT/probe" stat 2>&1 | grep -qi 'no such pool\|not allocated'; then
			up=1
			break
		fi
		kill -0 "$RPID" 2>/dev/null || break
		sleep 0.05
		i=$((i + 1))
	done
	[ -n "$up" ] && break
	kill "$RPID" 2>/dev/null
	wait "$RPID" 2>/dev/null
	RPID=
done
if [ -z "$up" ]; then
	echo "Bail out! could not start redis-server"
	exit 1
fi

U="redis://127.0.0.1:$PORT/nbt-$$"
status_is 0 "create in Redis" -p "$U" create --capacity 100 --base 1000 --policy cyclic
status_is 5 "create again with another base: exists with other parameters" -p "$U" create --capacity 100
outputs "allocate" "1000" -p "$U" allocate
outputs "allocate -n 3" "1001 1002 1003" -p "$U" allocate -n 3
outputs "allocate --id" "1050" -p "$U" allocate --id 1050
status_is 4 "allocate --id of a held ID" -p "$U" allocate --id 1050
status_is 0 "test a held ID" -p "$U" test 1050
status_is 0 "free" -p "$U" free 1050
status_is 1 "test a free ID" -p "$U" test 1050
status_is 2 "test an ID outside the pool" -p "$U" test 5
outputs "cyclic: the cursor follows allocate, not --id" "1004" -p "$U" allocate
outputs "allocate --block --align" "1008" -p "$U" allocate --block 8 --align 8
prints "stat used" "13" stat_used -p "$U"
status_is 0 "free --block" -p "$U" free --block 1008 8
outputs "list" "1000-1004" -p "$U" list
got=$("$CLI" -p "$U" stat --json | json_get '.capacity' 'd["capacity"]')
if [ "$got" = 100 ] || [ -z "$(json_tool)" ]; then ok "stat --json"; else not_ok "stat --json: $got"; fi
outputs "allocate with a lease" "1005" -p "$U" allocate --holder host-a --ttl 600000
outputs "renew the holder" "1" -p "$U" renew --holder host-a --ttl 600000
outputs "renew a holder with nothing" "0" -p "$U" renew --holder nobody --ttl 1000
got=$("$CLI" -p "$U" renew --holder host-a --ttl 600000 --json)
case $got in
*'"holder": "host-a"'*'"renewed": 1}'*) ok "renew --json" ;;
*) not_ok "renew --json: $got" ;;
esac
status_is 2 "--holder without --ttl" -p "$U" allocate --holder host-a
status_is 2 "renew without --holder" -p "$U" renew --ttl 10
outputs "reclaim: nothing has expired" "0" -p "$U" reclaim
got=$("$CLI" -p "$U" reclaim --json)
case $got in
*'"released": 0}'*) ok "reclaim --json" ;;
*) not_ok "reclaim --json: $got" ;;
esac
outputs "a lease of 1 ms" "1006" -p "$U" allocate --holder quick --ttl 1
sleep 0.05
outputs "reclaim after it ended" "1" -p "$U" reclaim
status_is 0 "destroy" -p "$U" destroy
status_is 1 "stat of a destroyed pool" -p "$U" stat
# a server that is not there, and a password that is not printed
err=$("$CLI" -p "redis://u:hunter2@127.0.0.1:1/x" stat 2>&1)
case $err in
*hunter2*) not_ok "the password is not printed: $err" ;;
*"Connection refused"*) ok "refused, and the password is not printed" ;;
*) not_ok "refused: $err" ;;
esac
done_testing
