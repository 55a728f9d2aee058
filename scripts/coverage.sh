#!/bin/sh
# Line coverage of the agent (agent/*.c) by the whole test suite: builds with gcc's --coverage (Debug,
# -O0, in build-cov), runs every CTest test (unit, integration, fuzz corpus replays), and prints gcovr's
# table, one row per file of agent/. Fails when the total is under 92% or any file is under 80%.
#
#   scripts/coverage.sh            build, run the suite, report (about as long as one scripts/test.sh build)
#   scripts/coverage.sh --report   report again from the counts the last run left in build-cov
#
# Needs gcovr (Debian: apt-get install gcovr). Lines that cannot run in a test (an out-of-memory abort)
# are marked in the source with GCOVR_EXCL_LINE or GCOVR_EXCL_START/STOP and a comment saying why.
# Also written: build-cov/coverage.txt (the table) and build-cov/coverage.json (per-file summary).
set -eu
cd "$(dirname "$0")/.."
build=build-cov
min_total=92
min_file=80

command -v gcovr >/dev/null || { echo "coverage.sh: gcovr is not installed (apt-get install gcovr)" >&2; exit 2; }
if [ "${1:-}" != "--report" ]; then
	# atomic counters: the mapping threads run the same code at once (racy counts come out negative);
	# ONSIDE_COVERAGE: a test whose child process aborts writes its counts first (tests/unit/test_xalloc.c)
	cmake -S . -B "$build" -DONSIDE_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
		-DCMAKE_C_FLAGS="--coverage -fprofile-update=atomic -O0 -DONSIDE_COVERAGE" -DCMAKE_EXE_LINKER_FLAGS="--coverage" \
		-DCMAKE_SHARED_LINKER_FLAGS="--coverage" -DCMAKE_MODULE_LINKER_FLAGS="--coverage" >/dev/null
	cmake --build "$build" -j2
	find "$build" -name '*.gcda' -delete
	# A failing test still leaves its counts; the report below says what was covered either way.
	(cd "$build" && ctest -j2 --timeout 600 --output-on-failure) || echo "coverage.sh: some tests failed" >&2
fi

gcovr -r . --object-directory "$build" --exclude-directories "$build/CMakeFiles/[0-9]" --filter 'agent/' \
	--txt "$build/coverage.txt" --json-summary "$build/coverage.json"
cat "$build/coverage.txt"
python3 - "$build/coverage.json" "$min_total" "$min_file" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
min_total, min_file = float(sys.argv[2]), float(sys.argv[3])
low = [(f["filename"], f["line_percent"]) for f in doc["files"] if f["line_percent"] < min_file]
total = doc["line_percent"]
ok = total >= min_total and not low
for name, pct in sorted(low, key=lambda x: x[1]):
    print("coverage.sh: %s: %.1f%% of lines, under %g%%" % (name, pct, min_file))
print("coverage.sh: agent/: %.1f%% of %d lines (at least %g%% overall and %g%% per file: %s)"
      % (total, doc["line_total"], min_total, min_file, "met" if ok else "NOT MET"))
sys.exit(0 if ok else 1)
EOF
