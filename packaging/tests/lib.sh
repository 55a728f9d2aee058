# Shared by install-test.sh and legacy-build.sh: clean Debian roots made with debootstrap, cached
# under $ONSIDE_ROOTS (default /var/tmp/onside-roots), and helpers to use them. Sourced, not run;
# needs a shell with `local` (dash, bash).
#
#   $ONSIDE_ROOTS/SUITE.base    debootstrap --variant=minbase SUITE (never modified after creation)
#   $ONSIDE_ROOTS/SUITE.build   SUITE.base plus the packages needed to build and test the agent
#   $ONSIDE_ROOTS/SUITE.NAME    a throw-away copy for one test run, recreated every time
# Delete the directory to start from scratch (after making sure nothing is mounted below it).

ONSIDE_ROOTS=${ONSIDE_ROOTS:-/var/tmp/onside-roots}
BUILD_DEPS="build-essential cmake pkg-config libcurl4-openssl-dev libyaml-dev libjson-c-dev libpcre2-dev"
BUILD_DEPS="$BUILD_DEPS libssl-dev libcmocka-dev python3 dpkg-dev file"
MOUNTED=""

say() { printf '== %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# The Debian mirror this machine's apt uses (the first non-security "deb" source).
debian_mirror() {
	local m
	m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -v -e security -e '^$' | grep -i debian | head -n1)
	if [ -z "$m" ]; then
		m=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -i debian | head -n1)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

need_host_tools() {
	local t
	for t in debootstrap chroot; do
		command -v "$t" >/dev/null || die "$t is missing (apt-get install debootstrap)"
	done
	[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot, mounts)"
}

# SUITE.base, created once.
ensure_base_root() {
	local suite=$1
	local base=$ONSIDE_ROOTS/$suite.base
	[ -f "$base/.onside-complete" ] && return 0
	mkdir -p "$ONSIDE_ROOTS"
	rm -rf "$base.tmp"
	say "debootstrap $suite from $(debian_mirror) into $base (once; cached)"
	debootstrap --variant=minbase "$suite" "$base.tmp" "$(debian_mirror)" >"$ONSIDE_ROOTS/$suite.debootstrap.log" 2>&1 ||
		die "debootstrap $suite failed: see $ONSIDE_ROOTS/$suite.debootstrap.log"
	touch "$base.tmp/.onside-complete"
	mv "$base.tmp" "$base"
}

# SUITE.build: the base plus BUILD_DEPS, created once.
ensure_build_root() {
	local suite=$1
	local build=$ONSIDE_ROOTS/$suite.build
	ensure_base_root "$suite"
	[ -f "$build/.onside-build-deps" ] && return 0
	say "installing the build dependencies into $build (once; cached)"
	rm -rf "$build.tmp"
	cp -a "$ONSIDE_ROOTS/$suite.base" "$build.tmp"
	mount_root "$build.tmp"
	# shellcheck disable=SC2086
	in_root "$build.tmp" sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $BUILD_DEPS" \
		>"$ONSIDE_ROOTS/$suite.build-deps.log" 2>&1 ||
		die "installing build dependencies into $suite failed: see $ONSIDE_ROOTS/$suite.build-deps.log"
	umount_root "$build.tmp"
	echo "$BUILD_DEPS" >"$build.tmp/.onside-build-deps"
	mv "$build.tmp" "$build"
}

# A fresh copy of SUITE.KIND (base or build) at SUITE.NAME; prints its path.
fresh_root() {
	local suite=$1 kind=$2 name=$3 dst
	dst=$ONSIDE_ROOTS/$suite.$name
	umount_root "$dst"
	rm -rf "$dst"
	cp -a "$ONSIDE_ROOTS/$suite.$kind" "$dst"
	echo "$dst"
}

# /proc (and /dev/pts, /dev/shm for tools that want them) inside a root; resolv.conf for apt.
mount_root() {
	local r=$1
	cp /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
	mountpoint -q "$r/proc" || mount -t proc proc "$r/proc"
	# a pty for the tests that drive the agent through one (run --once's progress line)
	mkdir -p "$r/dev/pts"
	mountpoint -q "$r/dev/pts" || mount --bind /dev/pts "$r/dev/pts"
	MOUNTED="$r $MOUNTED"
}

# Unmounts ROOT/proc and whatever else a test left mounted below ROOT (deepest first).
umount_root() {
	local r=$1 m
	for m in $(awk -v r="$r/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
}

umount_all() {
	local r
	for r in $MOUNTED; do
		umount_root "$r"
	done
	MOUNTED=""
}

# Runs a command in a root with a clean environment, as a root login would have it: nothing of this
# host's environment (proxies, SSL_CERT_FILE, ...) leaks into what the roots test.
in_root() {
	local r=$1
	shift
	env -i DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 HOME=/root TERM="${TERM:-dumb}" \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$r" "$@"
}

# Copies the source tree into ROOT/src: the working tree without build directories and .git
# (ONSIDE_SOURCE=head: the committed tree, `git archive HEAD`).
copy_source() {
	local src=$1 r=$2
	rm -rf "$r/src"
	mkdir -p "$r/src"
	if [ "${ONSIDE_SOURCE:-worktree}" = head ]; then
		git -C "$src" archive HEAD | tar -C "$r/src" -xf -
	else
		tar -C "$src" --exclude='./build*' --exclude=./.git --exclude='__pycache__' -cf - . | tar -C "$r/src" -xf -
	fi
}

# Checks "owner:group mode" of a path inside a root.
expect_stat() {
	local r=$1 path=$2 want=$3 got
	got=$(in_root "$r" stat -c '%U:%G %a' "$path" 2>/dev/null) || die "$path does not exist"
	[ "$got" = "$want" ] || die "$path is $got, expected $want"
	echo "ok: $path $got"
}
