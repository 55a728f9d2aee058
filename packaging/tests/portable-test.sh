#!/bin/sh
# Tests of the portable binary (build-portable/onside-agent, made by scripts/build-portable.sh): the
# integration suite against it in
#   bullseye    a clean Debian 11 root with only what the tests use (python3, openssl, logrotate, ...)
#   oldkernel   the same root, every agent run under packaging/tests/oldkernel.c (Linux 3.10's system
#               calls: anything newer fails with ENOSYS, as on RHEL 7's kernel)
#   bare        a root holding only the binary, a shell, Python and the tools the tests drive (openssl,
#               logrotate and its gzip, mount, umount, setpriv) with their libraries, and a CA bundle at the RHEL path
#               /etc/pki/tls/certs/ca-bundle.crt and the zone files (as RHEL has them): no /etc/ssl, no
#               nsswitch.conf, no hosts
#   audit       on this host: the system calls the agent makes over the suite (strace -f -c), merged
# Every test must pass; the only skips allowed are the plugin tests', for the reason that a static
# binary cannot load plugins, and the two environment reasons in $allow below. Run as root:
#   packaging/tests/portable-test.sh [bullseye] [oldkernel] [bare] [audit]     (default: all four)
# Results are appended to $ONSIDE_ROOTS/portable-test.results; the audit's table goes to
# build-portable/syscalls.txt.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

what=${*:-bullseye oldkernel bare audit}
bin=$top/build-portable/onside-agent
results=$ONSIDE_ROOTS/portable-test.results
# besides the plugin tests: what a chroot cannot give (user namespaces) and what the roots do not
# install (man and groff: the man pages are checked by the main suite, not the binary)
allow='statically linked \(the portable build\): it cannot load parser plugins|man and groff are not installed|cannot make a user namespace'
trap umount_all EXIT
trap 'exit 130' INT TERM
need_host_tools
[ -x "$bin" ] || die "no $bin: run scripts/build-portable.sh first"
rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$top" diff --quiet HEAD 2>/dev/null || rev="$rev+changes"

# oldkernel, static (musl) so that it runs in any root
oldkernel=$top/build-portable/oldkernel
if [ ! -x "$oldkernel" ] || [ "$here/oldkernel.c" -nt "$oldkernel" ]; then
	musl-gcc -static -O2 -Wall -Wextra -Werror -isystem "$top/build-portable/deps/kernel-headers" \
		-o "$oldkernel" "$here/oldkernel.c" || die "cannot build oldkernel (musl-gcc)"
fi

record() {
	printf '%s (binary of %s, %s)\n' "$*" "$rev" "$(date -u +%Y-%m-%d)" | tee -a "$results"
}

# Runs the suite in root R against /portable/onside-agent; NAME labels the result.
suite_in_root() {
	local r=$1 name=$2 wrapper=${3:-} start rc summary
	say "$name: the integration suite against the portable binary${wrapper:+ under $wrapper}"
	start=$(date +%s)
	set +e
	in_root "$r" python3 /src/packaging/tests/run-integration.py --agent /portable/onside-agent \
		${wrapper:+--wrapper "$wrapper"} --allow-skip "$allow" --logs "/tmp/logs-$name" \
		>"$ONSIDE_ROOTS/portable-$name.log" 2>&1
	rc=$?
	set -e
	cat "$ONSIDE_ROOTS/portable-$name.log"
	summary=$(grep '^integration:' "$ONSIDE_ROOTS/portable-$name.log" | sed 's/; logs in.*//')
	rm -rf "$ONSIDE_ROOTS/portable-$name-logs"
	cp -a "$r/tmp/logs-$name" "$ONSIDE_ROOTS/portable-$name-logs" 2>/dev/null || true
	record "$name: $([ "$rc" = 0 ] && echo PASS || echo FAIL), ${summary#integration: }, $(($(date +%s) - start)) s"
	return "$rc"
}

put_binary() {
	local r=$1
	mkdir -p "$r/portable"
	cp "$bin" "$oldkernel" "$r/portable/"
	copy_source "$top" "$r"
}

# Debian 11 with what the tests use and nothing the agent would need: sets DEB_ROOT. (Not called in
# a $(...) subshell: mount_root must record its mount in this shell for the cleanup.)
debian_root() {
	local r
	ensure_base_root bullseye
	r=$ONSIDE_ROOTS/bullseye.portable
	fresh_root bullseye base portable >/dev/null
	mount_root "$r"
	in_root "$r" sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends python3 openssl \
		ca-certificates logrotate strace mount util-linux' >"$ONSIDE_ROOTS/bullseye.portable-apt.log" 2>&1 ||
		die "installing the test tools into bullseye failed: see $ONSIDE_ROOTS/bullseye.portable-apt.log"
	put_binary "$r"
	DEB_ROOT=$r
}

# Copies each program and the shared libraries it loads (ldd) into R at the same paths.
copy_closure() {
	local r=$1 f lib
	shift
	for f in "$@"; do
		mkdir -p "$r$(dirname "$f")"
		cp -L "$f" "$r$f"
		for lib in $(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
			[ -e "$r$lib" ] && continue
			mkdir -p "$r$(dirname "$lib")"
			cp -L "$lib" "$r$lib"
		done
	done
}

# The bare root: sets BARE_ROOT.
bare_root() {
	local r=$ONSIDE_ROOTS/bare py pyver
	umount_root "$r"
	rm -rf "$r"
	mkdir -p "$r/tmp" "$r/proc" "$r/dev" "$r/etc/pki/tls/certs" "$r/bin" "$r/usr/bin" "$r/var/lib" "$r/run"
	chmod 1777 "$r/tmp"
	# the distribution's Python (not one from PATH, which may be a pyenv shim)
	py=$(readlink -f /usr/bin/python3)
	pyver=$(/usr/bin/python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
	copy_closure "$r" /bin/sh "$py" /usr/bin/openssl /usr/sbin/logrotate /bin/gzip /usr/bin/mount /usr/bin/umount \
		/usr/bin/setpriv /bin/true /bin/bash /usr/bin/zdump /bin/sed
	# the zone files, as every RHEL-family system has them (tzdata comes with glibc-common): tests read
	# local times in named zones and compare them with zdump
	mkdir -p "$r/usr/share" "$r/usr/lib/locale"
	cp -a /usr/share/zoneinfo "$r/usr/share/"
	# the C.UTF-8 locale (RHEL's glibc-minimal-langpack has it): bash, which a test drives, asks for it
	[ ! -d /usr/lib/locale/C.utf8 ] || cp -a /usr/lib/locale/C.utf8 "$r/usr/lib/locale/"
	[ -e "$r/usr/bin/python3" ] || ln -s "$(basename "$py")" "$r/usr/bin/python3"
	# the standard library, without its tests and the GUI/installer parts
	mkdir -p "$r/usr/lib/$pyver"
	tar -C "/usr/lib/$pyver" --exclude=./test --exclude=./idlelib --exclude=./tkinter --exclude=./ensurepip \
		--exclude=./site-packages --exclude=./dist-packages --exclude='__pycache__' -cf - . | tar -C "$r/usr/lib/$pyver" -xf -
	for so in "$r/usr/lib/$pyver"/lib-dynload/*.so; do
		copy_closure "$r" "${so#"$r"}"
	done
	# the tests run as root and switch to uid 65534 (setpriv): these two names, nothing else
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
	for d in null zero random urandom tty ptmx; do
		cp -a "/dev/$d" "$r/dev/$d"
	done
	cp -L /etc/ssl/certs/ca-certificates.crt "$r/etc/pki/tls/certs/ca-bundle.crt"
	put_binary "$r"
	mount_root "$r"
	rm -f "$r/etc/resolv.conf" # mount_root's, for apt: not part of a bare root
	BARE_ROOT=$r
}

audit() {
	local dir=$top/build-portable/strace start
	command -v strace >/dev/null || die "strace is missing (apt-get install strace)"
	rm -rf "$dir"
	mkdir -p "$dir"
	say "audit: the integration suite on this host under strace -f -c (slower; failures do not matter here)"
	start=$(date +%s)
	ONSIDE_STRACE_DIR=$dir python3 "$here/run-integration.py" --agent "$bin" --wrapper "$here/strace-wrap.sh" \
		--allow-skip "$allow" --logs /tmp/onside-audit-logs >"$top/build-portable/audit-suite.log" 2>&1 || true
	python3 - "$dir" >"$top/build-portable/syscalls.txt" <<'PY'
import collections, os, re, sys
calls, errors, runs = collections.Counter(), collections.Counter(), 0
for name in os.listdir(sys.argv[1]):
    runs += 1
    for line in open(os.path.join(sys.argv[1], name)):
        m = re.match(r"^(\w+)\s+(\d+)\s*(\d*)\s*$", line)
        if m and m.group(1) != "syscall" and m.group(1) != "total":
            calls[m.group(1)] += int(m.group(2))
            errors[m.group(1)] += int(m.group(3) or 0)
print("# system calls of the agent over the integration suite: %d agent runs (strace -f -c)" % runs)
for name, n in sorted(calls.items()):
    print("%-20s %10d %8d" % (name, n, errors[name]))
PY
	record "audit: $(grep -c -v '^#' "$top/build-portable/syscalls.txt") distinct system calls over $(ls "$dir" | wc -l) agent runs, $(($(date +%s) - start)) s; table in build-portable/syscalls.txt"
}

# What `check` says about the CA certificates in root R for an https endpoint (the default one).
show_ca() {
	local r=$1 name=$2 out
	printf 'x\n' >"$r/tmp/ca-check.pw"
	chmod 600 "$r/tmp/ca-check.pw"
	printf 'endpoint:\n  username: acme\n  password_file: /tmp/ca-check.pw\ninputs:\n  - name: a\n    paths: [/tmp/a.log]\n    parser: {type: json}\n    event: {event_name: x, event_datetime: "${t}", installation_id: "${i}"}\n' \
		>"$r/tmp/ca-check.yaml"
	out=$(in_root "$r" /portable/onside-agent check -c /tmp/ca-check.yaml 2>&1) || true
	record "$name: check without ca_file: $out"
}

status=0
DEB_ROOT=""
for w in $what; do
	case $w in
	bullseye | oldkernel)
		[ -n "$DEB_ROOT" ] || debian_root
		if [ "$w" = bullseye ]; then
			suite_in_root "$DEB_ROOT" bullseye || status=1
		else
			suite_in_root "$DEB_ROOT" oldkernel /portable/oldkernel || status=1
		fi
		;;
	bare)
		bare_root
		suite_in_root "$BARE_ROOT" bare || status=1
		show_ca "$BARE_ROOT" bare
		;;
	audit) audit ;;
	*) die "unknown test $w (bullseye, oldkernel, bare, audit)" ;;
	esac
done
exit $status
