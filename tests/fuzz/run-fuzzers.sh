#!/bin/sh
# Builds the libFuzzer targets with clang (ONSIDE_FUZZ=ON, in build-fuzz) and runs each for SECONDS
# (default 600), JOBS at a time (default 1), then prints executions, coverage and features per target.
#
#   tests/fuzz/run-fuzzers.sh [-t SECONDS] [-j JOBS] [TARGET...]
#
# Each target starts from its seed corpus (tests/fuzz/corpus/<t>) copied into build-fuzz/fuzz-corpus/<t>,
# which keeps growing from run to run; the seeds in the repository are never touched. A crash, leak,
# timeout or out-of-memory input lands in build-fuzz/fuzz-artifacts/<t>/: minimize it with
# `build-fuzz/tests/fuzz/fuzz_<t> -minimize_crash=1 -runs=10000 FILE`, fix the bug, and copy it into
# tests/fuzz/corpus/<t>/ so fuzz.replay_<t> keeps it fixed. Logs: build-fuzz/fuzz-logs/<t>.log.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build="${BUILD_DIR:-$src/build-fuzz}"
seconds=600
jobs=1
all="json json_fast regex logfmt csv config map timefmt checkpoint http"

while getopts t:j:h opt; do
	case $opt in
	t) seconds=$OPTARG ;;
	j) jobs=$OPTARG ;;
	*) sed -n '2,12p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
targets=${*:-$all}

CC="${CC:-clang}" cmake -S "$src" -B "$build" -DONSIDE_FUZZ=ON -DONSIDE_TESTS=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs" --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done)

mkdir -p "$build/fuzz-corpus" "$build/fuzz-artifacts" "$build/fuzz-logs"

run_one() {
	t=$1
	mkdir -p "$build/fuzz-corpus/$t" "$build/fuzz-artifacts/$t"
	cp -n "$src/tests/fuzz/corpus/$t/"* "$build/fuzz-corpus/$t/" 2>/dev/null || true
	# -timeout: an input that takes more than 10 s is a hang; -rss_limit_mb bounds a runaway
	"$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t/" \
		"$build/fuzz-corpus/$t" >"$build/fuzz-logs/$t.log" 2>&1 || true
}

# a simple pool: start up to $jobs targets, wait for the batch, go on
set -- $targets
while [ $# -gt 0 ]; do
	n=0
	while [ $# -gt 0 ] && [ $n -lt "$jobs" ]; do
		echo "fuzzing $1 for ${seconds}s"
		run_one "$1" &
		shift
		n=$((n + 1))
	done
	wait
done

printf '\n%-11s %12s %8s %8s %8s %6s  %s\n' target execs exec/s cov ft time result
for t in $targets; do
	log="$build/fuzz-logs/$t.log"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	cov=$(printf '%s\n' "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(printf '%s\n' "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	result=ok
	if grep -qE '^==[0-9]+==ERROR|^SUMMARY: |deadly signal|Test unit written' "$log"; then
		result="FAILED: see $log and $build/fuzz-artifacts/$t/"
	fi
	printf '%-11s %12s %8s %8s %8s %6s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
		"${ft:-?}" "${secs:-?}" "$result"
done
