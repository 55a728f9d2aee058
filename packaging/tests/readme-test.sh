#!/bin/sh
# The README's two commands, for real, as a new user runs them: in a fresh copy of a clean debootstrap
# root (cached in /var/tmp/onside-roots) of each Debian suite, as root, from a copy of the source tree:
#   1. scripts/deps.sh && scripts/demo.sh
#   2. scripts/deps.sh && scripts/test.sh        (builds twice, runs the whole suite twice)
# Prints and records (in $ONSIDE_ROOTS/readme-test.results, one line per command and suite) the exit
# code, the tests CTest ran and the time taken. Run as root, one suite after the other (the suite takes
# several minutes per root):
#   packaging/tests/readme-test.sh [bullseye] [bookworm] [trixie]        (default: all three)
# ONSIDE_SOURCE=head uses the committed tree (git archive HEAD) instead of the working tree.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

suites=${*:-bullseye bookworm trixie}
results=$ONSIDE_ROOTS/readme-test.results
trap umount_all EXIT
trap 'exit 130' INT TERM
need_host_tools

# The commit the copied tree is (with "+changes" when the working tree differs from it).
source_rev() {
	rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
	[ "${ONSIDE_SOURCE:-worktree}" = head ] || git -C "$top" diff --quiet HEAD 2>/dev/null || rev="$rev+changes"
}

# One README command in ROOT: its exit code, the tests CTest said it ran (both builds) and seconds.
run_cmd() {
	local suite=$1 r=$2 name=$3 cmd=$4 log start rc secs ran
	log=$ONSIDE_ROOTS/$suite.readme-$name.log
	say "$suite: $cmd (log: $log)"
	start=$(date +%s)
	set +e
	in_root "$r" sh -c "cd /src && $cmd" >"$log" 2>&1
	rc=$?
	set -e
	secs=$(($(date +%s) - start))
	ran=$(sed -n 's/^test\.sh: \(build-[a-z]*\): \([0-9]*\) tests ran and passed.*/\1 \2/p' "$log" | tr '\n' ' ')
	[ "$name" = test ] && [ -z "$ran" ] && ran="$(grep -h 'tests passed\|tests failed out of\|No tests were found' "$log" | tr '\n' ' ')"
	tail -n 5 "$log" | sed 's/^/   /'
	printf '%s %s: exit %s, %s s; %s (source %s, %s)\n' "$suite" "$name" "$rc" "$secs" "${ran:-no tests}" "$rev" \
		"$(date -u +%Y-%m-%d)" | tee -a "$results"
	return "$rc"
}

for suite in $suites; do
	ensure_base_root "$suite"
	r=$(fresh_root "$suite" base readme)
	mount_root "$r"
	source_rev
	copy_source "$top" "$r"
	say "$suite: $(in_root "$r" cat /etc/debian_version), fresh debootstrap --variant=minbase root $r"
	run_cmd "$suite" "$r" demo "scripts/deps.sh && scripts/demo.sh" || true
	run_cmd "$suite" "$r" test "scripts/deps.sh && scripts/test.sh" || true
	umount_root "$r"
	rm -rf "$r"
done
