#!/bin/sh
# SPDX-License-Identifier: MIT
# completion.sh - the bash completion works without the bash-completion
# package (no _init_completion, no _filedir), and offers pool names from
# numballoc-cli pools.
. "$(dirname "$0")/lib.sh"

command -v bash >/dev/null 2>&1 || { skip "completion" "no bash"; done_testing; }
COMPLETION=$top_srcdir/tools/numballoc-cli.bash-completion
newpool P compl
newfile F compl

# words WORDS...: what completion offers for the last word, in a bash that
# has only this file loaded (bash --norc: no bash-completion).
words() {
	bash --norc --noprofile -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_numballoc_cli; echo "${COMPREPLY[*]}"' sh "$COMPLETION" "$@" 2>&1
}

check "no _init_completion in a plain bash" bash --norc --noprofile -c '! declare -F _init_completion'
prints "the commands" "create allocate free test chown list stat map reclaim pools export import destroy" \
	words "$CLI" ""
prints "commands starting with 'ch'" "chown" words "$CLI" ch
prints "free's options" "--block --owner --json" words "$CLI" -p x free --
prints "the policies" "lowest cyclic spread" words "$CLI" create --policy ""
"$CLI" -p "$P" create --capacity 5 >/dev/null
prints "pool names from numballoc-cli pools" "$P" words "$CLI" -p "nbt-$$-comp"
touch "$F"
prints "--file completes file names" "$F" words "$CLI" --file "$F"

done_testing
