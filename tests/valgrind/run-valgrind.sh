#!/bin/sh
# Runs the integration tests with the agent under valgrind's memcheck.
#
#   tests/valgrind/run-valgrind.sh [tests/integration/test_X.py ...]
#
# Builds a plain Debug agent (no sanitizers) in $ONSIDE_VALGRIND_BUILD (default build-valgrind), then
# runs each integration test file (default: all of them) with ONSIDE_AGENT_WRAPPER set, so that every
# agent the tests start through agentlib.run_agent/start_agent runs as
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 ...
# A memory error or a definite/indirect leak makes that agent exit 99, which fails its test; each
# agent's full valgrind report is kept in $build/valgrind/vg.<pid>.log and the ones with errors are
# listed at the end. Exit status 0 only when every test file passed and no report has an error.
set -eu
cd "$(dirname "$0")/../.."
src=$(pwd)
build=${ONSIDE_VALGRIND_BUILD:-build-valgrind}
jobs=$(nproc 2>/dev/null || echo 2)

command -v valgrind >/dev/null || { echo "run-valgrind.sh: valgrind is not installed" >&2; exit 2; }
# Every agent a test starts goes through agentlib.agent_command() (run_agent, start_agent use it), which
# puts the wrapper first: a command line built from agent_binary() would escape valgrind.
bypass=$(grep -nE '\[[^]#]*agent_binary\(\)' tests/integration/test_*.py tests/integration/tailtest.py || true)
if [ -n "$bypass" ]; then
	printf 'run-valgrind.sh: these start the agent without agentlib.agent_command(), outside valgrind:\n%s\n' \
		"$bypass" >&2
	exit 2
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DONSIDE_WERROR=ON -DONSIDE_SANITIZE=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target onside-agent onside_example_parser onside_badabi_parser \
	onside_v1_parser onside_source_parser onside_typed_parser

logs=$src/$build/valgrind
rm -rf "$logs"
mkdir -p "$logs"
chmod 1777 "$logs" # a test runs the agent as an unprivileged user; its report lands here too

supp=
[ -f tests/valgrind/onside.supp ] && supp="--suppressions=$src/tests/valgrind/onside.supp"
ONSIDE_AGENT=$src/$build/onside-agent
ONSIDE_PLUGIN_DIR=$src/$build
ONSIDE_SOURCE_DIR=$src
ONSIDE_AGENT_WRAPPER="valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
--error-exitcode=99 --track-fds=no --num-callers=30 --log-file=$logs/vg.%p.log $supp"
export ONSIDE_AGENT ONSIDE_PLUGIN_DIR ONSIDE_SOURCE_DIR ONSIDE_AGENT_WRAPPER

if [ $# -eq 0 ]; then
	set -- tests/integration/test_*.py
fi
failed_files=
for t in "$@"; do
	name=$(basename "$t" .py)
	start=$(date +%s)
	if python3 "$t" >"$logs/$name.out" 2>&1; then
		status=ok
	else
		status=FAILED
		failed_files="$failed_files $name"
	fi
	echo "$name: $status ($(tail -n 1 "$logs/$name.out"), $(($(date +%s) - start))s)"
done

runs=0 clean=0 killed=0 errors=
for f in "$logs"/vg.*.log; do
	[ -e "$f" ] || continue
	runs=$((runs + 1))
	if grep -q "ERROR SUMMARY: 0 errors" "$f"; then
		clean=$((clean + 1))
	elif grep -q "ERROR SUMMARY: [1-9]\|Invalid \|uninitialised\|Conditional jump\|Syscall param\|Mismatched free\|overlap" "$f"; then
		errors="$errors $f"
	else
		killed=$((killed + 1)) # SIGKILLed by its test (kill -9 tests, teardown): no verdict, no error seen
	fi
done
echo "valgrind: $runs agent processes: $clean clean, $killed killed before their summary, reports with errors or leaks:${errors:- none}"
for f in $errors; do
	echo "---- $f"
	grep -B2 -A14 "Invalid \|uninitialised\|Conditional jump\|Syscall param\|Mismatched free\|overlap\|definitely lost in\|indirectly lost in" "$f" | head -80
	grep "ERROR SUMMARY" "$f"
done
# what the tests could not check under valgrind, and what they skipped (tests/integration/agentlib.py)
grep -h -e '^LOST CHECK ' -e '^SKIP ' "$logs"/*.out 2>/dev/null | sed 's/^/  /' || true
if [ -n "$failed_files" ]; then
	echo "test files that failed:$failed_files (outputs in $logs/)"
fi
[ -z "$errors" ] && [ -z "$failed_files" ]
