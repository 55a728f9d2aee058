#!/bin/sh
# Builds onside-agent twice (warnings as errors; AddressSanitizer + UndefinedBehaviorSanitizer) and
# runs the unit and integration tests under CTest with each build.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

run_suite() {
	dir=$1
	shift
	cmake -S . -B "$dir" -DONSIDE_WERROR=ON "$@"
	cmake --build "$dir" -j"$jobs"
	ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 600
}

run_suite build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo
# LeakSanitizer is part of ASan; abort on the first UBSan report too.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DONSIDE_SANITIZE=ON
