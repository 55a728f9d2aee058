#!/bin/sh
# Builds onside-agent twice (warnings as errors; AddressSanitizer + UndefinedBehaviorSanitizer) and
# runs the unit and integration tests under CTest with each build. Fails unless every test the source
# tree holds was run, and passed.
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
}

run_suite build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo
# LeakSanitizer is part of ASan; abort on the first UBSan report too.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DONSIDE_SANITIZE=ON
