#!/bin/sh
# Builds onside-agent twice (warnings as errors; AddressSanitizer + UndefinedBehaviorSanitizer) and
# runs the unit and integration tests under CTest with each build. Fails unless every test the source
# tree holds was run, and passed, and every skipped test gave a reason from the allow-list below. The
# last lines list the skipped tests with their reasons, the checks a test could not make in a build
# (under ASan, say), and the number of skipped tests.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -le 2 ] || jobs=2

count() {
	# shellcheck disable=SC2012
	ls -d "$@" 2>/dev/null | wc -l
}
# One CTest test per tests/unit/test_*.c, per tests/integration/test_*.py and per fuzz target's corpus
# (tests/CMakeLists.txt, tests/fuzz/CMakeLists.txt).
expected=$(($(count tests/unit/test_*.c) + $(count tests/integration/test_*.py) + $(count tests/fuzz/corpus/*/)))

# A test may skip only for one of these reasons (extended regex): it needs root and the suite runs as
# another user, it is about the other kind of binary (static, portable build / dynamic, native), or
# the sandbox the suite runs in (a chroot, some containers) forbids user namespaces, which the
# inotify-watch-limit tests need to lower the kernel's limit for real.
allowed_skips='not running as root|needs root|binary( .*)? is (dynamically|statically) linked|cannot make a user namespace with its own inotify watch limit'
notes=$(mktemp)
trap 'rm -f "$notes"' EXIT

# The skips ("SKIP <test>: <reason>", from tests/integration/agentlib.py and the unit tests) and lost
# checks ("LOST CHECK <test>: <what>") in the output of every test CTest ran in build directory $1.
collect_notes() {
	grep -h -e '^SKIP ' -e '^LOST CHECK ' "$1/Testing/Temporary/LastTest.log" | sed "s|^|$1: |" >>"$notes" || true
}

report_notes() {
	nskip=$(grep -c ': SKIP ' "$notes" || true)
	bad=$(grep ': SKIP ' "$notes" | grep -Ev "$allowed_skips" || true)
	if grep -q ': LOST CHECK ' "$notes"; then
		echo "test.sh: checks not made in a build (the test says why):"
		grep ': LOST CHECK ' "$notes" | sed 's/^/  /'
	fi
	if [ "$nskip" -gt 0 ]; then
		echo "test.sh: skipped tests (allowed reasons: $allowed_skips):"
		grep ': SKIP ' "$notes" | sed 's/^/  /'
	fi
	if [ -n "$bad" ]; then
		echo "test.sh: skipped for a reason not in the allow-list:" >&2
		printf '%s\n' "$bad" | sed 's/^/  /' >&2
		echo "test.sh: $nskip tests skipped, $(printf '%s\n' "$bad" | wc -l) of them not allowed: FAILED"
		exit 1
	fi
	echo "test.sh: $nskip tests skipped, all for allowed reasons"
}

run_suite() {
	dir=$1
	shift
	cmake -S . -B "$dir" -DONSIDE_WERROR=ON "$@"
	cmake --build "$dir" -j"$jobs"
	# CTest runs from inside the build directory: CMake 3.18's ctest (Debian 11) has no --test-dir,
	# ignores it, finds no tests and exits 0.
	rm -f "$dir/ctest.log"
	(cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600 --output-log ctest.log)
	ran=$(sed -n 's/^.*tests passed, [0-9]* tests* failed out of \([0-9]*\)$/\1/p' "$dir/ctest.log" | tail -n1)
	if [ -z "$ran" ] || [ "$ran" -lt "$expected" ]; then
		echo "test.sh: $dir: CTest ran ${ran:-no} tests; the source tree holds $expected" >&2
		exit 1
	fi
	echo "test.sh: $dir: $ran tests ran and passed (the source tree holds $expected)"
	collect_notes "$dir"
}

run_suite build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo
# LeakSanitizer is part of ASan; abort on the first UBSan report too.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DONSIDE_SANITIZE=ON
report_notes
