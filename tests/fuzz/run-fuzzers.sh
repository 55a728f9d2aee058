#!/bin/sh
# Builds the libFuzzer targets with clang (ONSIDE_FUZZ=ON, in build-fuzz), runs each for SECONDS
# (default 600), JOBS at a time (default 1), prints executions, coverage and features per target, and
# exits 1 when any target found anything (a crash, leak, timeout, out-of-memory input or broken check)
# or did not run to its end; 0 when none did.
#
#   tests/fuzz/run-fuzzers.sh [-t SECONDS] [-j JOBS] [-c] [TARGET...]
#
#   -c  afterwards, line coverage of each target's own files: the replay targets are built again with
#       clang's source-based coverage (in build-fuzz-cov) and run over the grown corpus
#
# Each target starts from its seed corpus (tests/fuzz/corpus/<t>) copied into build-fuzz/fuzz-corpus/<t>,
# which keeps growing from run to run; the seeds in the repository are never touched. A finding lands in
# build-fuzz/fuzz-artifacts/<t>/: minimize it with `build-fuzz/tests/fuzz/fuzz_<t> -minimize_crash=1
# -runs=10000 FILE`, fix the bug, and copy it into tests/fuzz/corpus/<t>/regress-<what> so that
# fuzz.replay_<t> keeps it fixed. Logs: build-fuzz/fuzz-logs/<t>.log; the table with the date and the
# commit, for tests/fuzz/README.md: build-fuzz/fuzz-logs/summary.txt.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build="${BUILD_DIR:-$src/build-fuzz}"
covbuild="${COV_BUILD_DIR:-$src/build-fuzz-cov}"
seconds=600
jobs=1
coverage=0
all="json json_fast regex logfmt csv ltsv config map pipeline plugin lines timefmt tzif checkpoint http deadletter status sender"

while getopts t:j:ch opt; do
	case $opt in
	t) seconds=$OPTARG ;;
	j) jobs=$OPTARG ;;
	c) coverage=1 ;;
	*) sed -n '2,18p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
targets=${*:-$all}
for t in $targets; do
	case " $all " in
	*" $t "*) ;;
	*) echo "unknown target $t (targets: $all)" >&2; exit 2 ;;
	esac
done

CC="${CC:-clang}" cmake -S "$src" -B "$build" -DONSIDE_FUZZ=ON -DONSIDE_TESTS=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs" --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done)

mkdir -p "$build/fuzz-corpus" "$build/fuzz-artifacts" "$build/fuzz-logs"

run_one() {
	t=$1
	mkdir -p "$build/fuzz-corpus/$t" "$build/fuzz-artifacts/$t"
	cp -n "$src/tests/fuzz/corpus/$t/"* "$build/fuzz-corpus/$t/" 2>/dev/null || true
	# -timeout: an input that takes more than 10 s is a hang; -rss_limit_mb bounds a runaway.
	# libFuzzer's exit status (non-zero for any finding) is kept for the verdict.
	rc=0
	"$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t/" \
		"$build/fuzz-corpus/$t" >"$build/fuzz-logs/$t.log" 2>&1 || rc=$?
	echo "$rc" >"$build/fuzz-logs/$t.rc"
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
rm -f "$build"/fuzz-logs/*.rc
marker="$build/fuzz-logs/.started"
touch "$marker"
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

# line coverage of the files a target is about, over its grown corpus
files_of() {
	case $1 in
	json | json_fast) echo parsers/json.c ;;
	regex | logfmt | csv | ltsv) echo "parsers/$1.c" ;;
	config) echo config/config.c config/config_input.c config/config_parser.c config/config_schema.c config/config_check.c config/config_msg.c config/config_env.c config/config_include.c ;;
	map) echo agent/map.c agent/jsonw.c agent/eventid.c agent/template.c ;;
	pipeline) echo agent/map.c parsers/logfmt.c parsers/csv.c parsers/regex.c parsers/parser.c ;;
	plugin) echo parsers/plugin.c parsers/parser.c agent/map.c ;;
	lines) echo agent/lines.c ;;
	timefmt | tzif) echo agent/timefmt.c ;;
	checkpoint) echo agent/checkpoint.c ;;
	http) echo agent/httpresp.c ;;
	deadletter) echo agent/deadletter.c agent/jsonw.c ;;
	sender) echo agent/sender.c agent/concurrency.c agent/batch.c ;;
	esac
}

line_coverage() {
	t=$1
	prof="$covbuild/prof/$t"
	rm -rf "$prof"
	mkdir -p "$prof"
	LLVM_PROFILE_FILE="$prof/%p.profraw" "$covbuild/tests/fuzz/fuzz_${t}_replay" \
		"$build/fuzz-corpus/$t" >/dev/null 2>&1 || { echo "replay failed"; return; }
	llvm-profdata merge -sparse "$prof"/*.profraw -o "$prof/merged.profdata"
	for f in $(files_of "$t"); do
		llvm-cov report "$covbuild/tests/fuzz/fuzz_${t}_replay" -instr-profile="$prof/merged.profdata" \
			"$src/$f" 2>/dev/null | awk -v f="$(basename "$f")" '
			/^TOTAL/ { printf "%s %s ", f, $(NF - 3) }'
	done
	echo
}

if [ "$coverage" = 1 ]; then
	CC=clang CFLAGS="-fprofile-instr-generate -fcoverage-mapping" cmake -S "$src" -B "$covbuild" \
		-DONSIDE_TESTS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build "$covbuild" -j "$jobs" --target $(for t in $targets; do printf 'fuzz_%s_replay ' "$t"; done) \
		>/dev/null
fi

commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit+uncommitted"
fi
summary="$build/fuzz-logs/summary.txt"
{
	echo "started $started, commit $commit, $(${CC:-clang} --version | head -n 1)"
	echo "${seconds}s per target, $jobs at a time"
	printf '\n%-11s %12s %8s %6s %6s %6s  %s\n' target execs exec/s cov ft time result
	for t in $targets; do
		log="$build/fuzz-logs/$t.log"
		rc=$(cat "$build/fuzz-logs/$t.rc" 2>/dev/null || echo missing)
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
		last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
		cov=$(printf '%s\n' "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
		ft=$(printf '%s\n' "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
		secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
		result=ok
		# a finding: libFuzzer's exit status, a sanitizer's or libFuzzer's report (crash, leak,
		# timeout, out-of-memory), an artifact written during this run, or no final statistics
		if [ "$rc" != 0 ] || [ -z "$execs" ] ||
			grep -qE '^==[0-9]+== ?ERROR|^SUMMARY: |runtime error:|deadly signal|Test unit written' "$log" ||
			[ -n "$(find "$build/fuzz-artifacts/$t" -type f -newer "$marker" 2>/dev/null)" ]; then
			result="FAILED (exit $rc): see $log and $build/fuzz-artifacts/$t/"
		fi
		printf '%-11s %12s %8s %6s %6s %6s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
			"${ft:-?}" "${secs:-?}" "$result"
	done
	if [ "$coverage" = 1 ]; then
		printf '\nline coverage of the replay build over the grown corpus\n'
		for t in $targets; do
			printf '%-11s %s\n' "$t" "$(line_coverage "$t")"
		done
	fi
} | tee "$summary"
echo "summary: $summary"
# (the verdict is read back from the table: the pipe ran the block above in a subshell)
if grep -q '  FAILED ' "$summary"; then
	echo "run-fuzzers: FINDINGS, see above" >&2
	exit 1
fi
