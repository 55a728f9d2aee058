#!/bin/sh
# ONSIDE_AGENT_WRAPPER for the system-call audit (packaging/tests/portable-test.sh --audit): counts the
# agent's system calls with `strace -f -c` into $ONSIDE_STRACE_DIR/PID. strace attaches to this shell,
# which then execs the agent under the same PID, so the tests' signals still reach the agent itself.
# Between the attach and the exec the shell runs builtins only (no grep, no sleep), so the counts are
# the agent's, plus a few open/read/close/dup2 of the shell.
#   ONSIDE_STRACE_DIR=DIR ONSIDE_AGENT_WRAPPER=packaging/tests/strace-wrap.sh python3 tests/integration/...
set -eu
: "${ONSIDE_STRACE_DIR:?set ONSIDE_STRACE_DIR}"
strace -f -c -U name,calls,errors -o "$ONSIDE_STRACE_DIR/$$" -p $$ 2>/dev/null &
tracer=$!
attached=no
while [ $attached = no ]; do
	while read -r key value; do
		if [ "$key" = TracerPid: ] && [ "$value" != 0 ]; then
			attached=yes
		fi
	done </proc/$$/status
	# strace could not attach (e.g. the tests run the agent as another user): run it untraced
	kill -0 "$tracer" 2>/dev/null || attached=gone
done
exec "$@"
