#!/bin/sh
# Install test of the packages (slow; not part of CTest). Run as root from anywhere:
#   packaging/tests/install-test.sh [bookworm] [bullseye] [rpm]        (default: all three)
#
# 1. Builds the packages on this host (build-pkg) and again with the patch version bumped
#    (build-pkg-next) for the upgrade.
# 2. For each Debian suite, in a clean debootstrap root (cached in /var/tmp/onside-roots):
#    apt-get install ./onside-agent_*.deb resolves the dependencies; checks the user, directories,
#    owners, modes and the conffile; `systemd-analyze verify` on the installed unit (bookworm);
#    `onside-agent check` on the shipped configuration with a password file; `run --once` as the
#    onside-agent user delivers a log file to the API stand-in on 127.0.0.1; an upgrade keeps the
#    edited agent.yaml and the checkpoint; remove keeps state; purge removes state, config and user.
#    When the host's .deb cannot be installed on the suite (bullseye: it needs libssl3 and glibc
#    2.34), the .deb is built inside a bullseye root from the source tree and tested instead.
#    ONSIDE_SOURCE=head builds the committed tree (git archive HEAD) instead of the working tree.
# 3. The .rpm: rpm -qpl, --requires, --scripts, rpmlint, and an install into a scratch root.
# ONSIDE_PACKAGES=portable tests the packages of the portable binary (build-portable/, made by
# scripts/build-portable.sh) instead, on every suite named (bullseye bookworm trixie rpm): the same
# .deb must install everywhere, and its Depends and the .rpm's requires name no shared library.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

suites=${*:-bookworm bullseye rpm}
work=$(mktemp -d /tmp/onside-install-test.XXXXXX)
standin_pid=""
cleanup() {
	if [ -n "$standin_pid" ]; then
		kill "$standin_pid" 2>/dev/null || true
		wait "$standin_pid" 2>/dev/null || true
	fi
	umount_all
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_host_tools
version=$(sed -n 's/^project(onside-agent VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
[ -n "$version" ] || die "no project(onside-agent VERSION ...) in CMakeLists.txt"
next=$(echo "$version" | awk -F. '{ printf "%s.%s.%d", $1, $2, $3 + 1 }')
arch=$(dpkg --print-architecture)
password="install-test-$$"
summary=""
note() { summary="$summary$*
"; }

# ---- host packages ----

# ONSIDE_SOURCE=head: build the committed tree (immune to half-done edits in the working tree).
src=$top
if [ "${ONSIDE_SOURCE:-worktree}" = head ]; then
	mkdir -p "$work/export"
	copy_source "$top" "$work/export"
	src=$work/export/src
fi
mkdir -p "$work/host"
if [ "${ONSIDE_PACKAGES:-native}" = portable ]; then
	# The packages of the portable binary (scripts/build-portable.sh), the same files on every suite;
	# the upgrade's package is the same build packed again with the bumped version.
	pb=$top/build-portable
	[ -f "$pb/onside-agent_${version}_$arch.deb" ] || die "no $pb/onside-agent_${version}_$arch.deb: run scripts/build-portable.sh"
	say "the portable packages $version (build-portable) and $next (cpack -D CPACK_PACKAGE_VERSION=$next)"
	rm -rf "$work/next"
	(cd "$pb/agent" && cpack -G DEB -D CPACK_PACKAGE_VERSION="$next" -B "$work/next") >"$work/build-next.log" 2>&1 ||
		die "packing $next failed: see $work/build-next.log"
	cp "$pb/onside-agent_${version}_$arch.deb" "$work/next/onside-agent_${next}_$arch.deb" "$work/host/"
	cp "$pb"/onside-agent-"$version"-*.rpm "$work/host/" 2>/dev/null || true
else
	say "building packages $version and $next on the host from $src (build-pkg, build-pkg-next)"
	"$here/build-packages.sh" "$src" "$top/build-pkg" >"$work/build.log" 2>&1 ||
		die "host package build failed: see $work/build.log"
	"$here/build-packages.sh" "$src" "$top/build-pkg-next" "$next" >"$work/build-next.log" 2>&1 ||
		die "host package build ($next) failed: see $work/build-next.log"
	cp "$top/build-pkg/onside-agent_${version}_$arch.deb" "$top/build-pkg-next/onside-agent_${next}_$arch.deb" "$work/host/"
	ls "$top"/build-pkg/onside-agent-"$version"-*.rpm >/dev/null 2>&1 && cp "$top"/build-pkg/onside-agent-"$version"-*.rpm "$work/host/"
fi
ls -l "$work/host"

# ---- the API stand-in, on the host's loopback (the roots share the network namespace) ----

start_standin() {
	local rec=$1 i
	if [ -n "$standin_pid" ]; then
		kill "$standin_pid" 2>/dev/null || true
		wait "$standin_pid" 2>/dev/null || true
	fi
	rm -f "$work/port" "$rec"
	python3 "$top/tests/standin/standin.py" --port 0 --port-file "$work/port" --user acme \
		--password "$password" --record "$rec" --log "$work/standin.log" &
	standin_pid=$!
	i=0
	while [ ! -s "$work/port" ]; do
		i=$((i + 1))
		[ $i -le 100 ] || die "the stand-in did not start: see $work/standin.log"
		sleep 0.1
	done
	port=$(cat "$work/port")
}

# ---- one Debian suite ----

# The .debs to test on SUITE: the host's if apt can install them there, else built in the suite.
debs_for() {
	local suite=$1 r=$2 b
	mkdir -p "$r/tmp/pkgs"
	cp "$work/host/onside-agent_${version}_$arch.deb" "$r/tmp/pkgs/"
	if in_root "$r" sh -c "cd /tmp/pkgs && apt-get install -y -q --dry-run ./onside-agent_${version}_$arch.deb" \
		>"$work/$suite.dry-run.log" 2>&1; then
		cp "$work/host/onside-agent_${next}_$arch.deb" "$r/tmp/pkgs/"
		note "$suite: installed the .debs built on the host"
		return 0
	fi
	rm -f "$r/tmp/pkgs/"*.deb
	say "$suite cannot install the host's .deb ($(dpkg-deb -f "$work/host/onside-agent_${version}_$arch.deb" Depends));"
	say "building the .deb inside a $suite root from the source tree instead"
	grep -E "Depends|but|E:" "$work/$suite.dry-run.log" | head -n 5 | sed 's/^/   /'
	ensure_build_root "$suite"
	b=$(fresh_root "$suite" build pkgbuild)
	mount_root "$b"
	copy_source "$top" "$b"
	in_root "$b" sh -c "/src/packaging/tests/build-packages.sh /src /src/build-pkg &&
		/src/packaging/tests/build-packages.sh /src /src/build-pkg-next $next" >"$work/$suite.build.log" 2>&1 ||
		die "building the .deb inside $suite failed: see $work/$suite.build.log"
	cp "$b/src/build-pkg/onside-agent_${version}_$arch.deb" "$b/src/build-pkg-next/onside-agent_${next}_$arch.deb" \
		"$r/tmp/pkgs/"
	mkdir -p "$work/$suite"
	cp "$r/tmp/pkgs/"*.deb "$work/$suite/"
	umount_root "$b"
	rm -rf "$b"
	note "$suite: the host's .deb needs newer libraries; built the .debs inside $suite (kept in $work/$suite)"
}

test_deb_suite() {
	local suite=$1 r deb1 deb2 pw uid got v n dep
	ensure_base_root "$suite"
	r=$(fresh_root "$suite" base install)
	mount_root "$r"
	in_root "$r" apt-get update -q >"$work/$suite.apt-update.log" 2>&1 || die "apt-get update in $suite failed"
	debs_for "$suite" "$r"
	deb1=onside-agent_${version}_$arch.deb deb2=onside-agent_${next}_$arch.deb

	if [ "${ONSIDE_PACKAGES:-native}" = portable ]; then
		dep=$(dpkg-deb -f "$r/tmp/pkgs/$deb1" Depends)
		! echo "$dep" | grep -q 'lib' || die "the portable .deb depends on a library: $dep"
		echo "ok: the portable .deb's Depends: $dep"
	fi
	say "$suite: apt-get install ./$deb1"
	in_root "$r" sh -c "cd /tmp/pkgs && apt-get install -y -q ./$deb1" >"$work/$suite.install.log" 2>&1 ||
		{ tail -n 20 "$work/$suite.install.log"; die "$suite: installing $deb1 failed"; }
	grep -E '^(Setting up|Unpacking) ' "$work/$suite.install.log" | sed 's/^/   /' | tail -n 12

	say "$suite: user, files, owners, modes, conffile"
	pw=$(in_root "$r" getent passwd onside-agent) || die "no user onside-agent"
	echo "ok: $pw"
	in_root "$r" getent group onside-agent >/dev/null || die "no group onside-agent"
	case $pw in *:/var/lib/onside-agent:/usr/sbin/nologin) ;; *) die "unexpected passwd entry: $pw" ;; esac
	uid=$(echo "$pw" | cut -d: -f3)
	[ "$uid" -lt 1000 ] || die "onside-agent is not a system user (uid $uid)"
	expect_stat "$r" /var/lib/onside-agent "onside-agent:onside-agent 750"
	expect_stat "$r" /etc/onside-agent "root:root 755"
	expect_stat "$r" /etc/onside-agent/agent.yaml "root:onside-agent 640"
	expect_stat "$r" /usr/bin/onside-agent "root:root 755"
	expect_stat "$r" /lib/systemd/system/onside-agent.service "root:root 644"
	expect_stat "$r" /usr/include/onside-agent/onside_parser.h "root:root 644"
	expect_stat "$r" /usr/share/man/man8/onside-agent.8.gz "root:root 644"
	expect_stat "$r" /usr/share/man/man5/onside-agent.yaml.5.gz "root:root 644"
	expect_stat "$r" /usr/share/bash-completion/completions/onside-agent "root:root 644"
	expect_stat "$r" /usr/share/doc/onside-agent/copyright "root:root 644"
	in_root "$r" dpkg-query -W -f='${Conffiles}\n' onside-agent | grep -q ' /etc/onside-agent/agent.yaml ' ||
		die "/etc/onside-agent/agent.yaml is not a conffile"
	echo "ok: /etc/onside-agent/agent.yaml is a conffile"
	echo "ok: $(in_root "$r" onside-agent --version)"
	# the unit as this suite's systemd reads it (247, 252, 257)
	in_root "$r" apt-get install -y -q --no-install-recommends systemd >"$work/$suite.systemd.log" 2>&1 ||
		die "installing systemd into $suite failed"
	# systemd 247 wants /sys (cgroups) to start its manager for verify
	mount -t sysfs sysfs "$r/sys"
	[ ! -d /sys/fs/cgroup ] || mount --bind /sys/fs/cgroup "$r/sys/fs/cgroup"
	in_root "$r" systemd-analyze verify --man=no /lib/systemd/system/onside-agent.service ||
		die "systemd-analyze verify failed on the installed unit"
	umount_root "$r"
	mount_root "$r"
	echo "ok: systemd-analyze verify onside-agent.service (systemd $(in_root "$r" systemctl --version | head -n1 | cut -d' ' -f2))"

	say "$suite: onside-agent check on the shipped configuration with a password file"
	in_root "$r" sh -c "umask 027 && printf '%s\n' '$password' > /etc/onside-agent/password &&
		chown root:onside-agent /etc/onside-agent/password"
	expect_stat "$r" /etc/onside-agent/password "root:onside-agent 640"
	in_root "$r" runuser -u onside-agent -- onside-agent check ||
		die "onside-agent check failed on the shipped configuration"

	say "$suite: run --once as onside-agent delivers a log file to the stand-in"
	start_standin "$work/$suite.record.jsonl"
	# The edit an operator would make (and which the upgrade below must keep): the endpoint.
	in_root "$r" sed -i -e "s|url: https://onside.io/attribution-api/v1/events|url: http://127.0.0.1:$port/attribution-api/v1/events|" \
		-e "s|allow_insecure_http: false|allow_insecure_http: true|" /etc/onside-agent/agent.yaml
	mkdir -p "$r/var/log/shop"
	for n in 1 2 3; do
		printf '{"ts":"2026-05-05T12:00:0%sZ","event":"purchase_completed","install_id":"0b5e3c1a-6a8e-4c55-9f3e-2d7c8a1b4e6%s","order_id":"A-%s","currency":"USD","amount":"9.99"}\n' "$n" "$n" "$n"
	done >"$r/var/log/shop/purchases.log"
	echo '{"ts":"2026-05-05T12:00:09Z","event":"page_view","install_id":"0b5e3c1a-6a8e-4c55-9f3e-2d7c8a1b4e69"}' \
		>>"$r/var/log/shop/purchases.log"
	in_root "$r" chown root:adm /var/log/shop/purchases.log
	in_root "$r" chmod 0640 /var/log/shop/purchases.log
	# As the unit runs it: user and group onside-agent, supplementary group adm, UMask=0027.
	in_root "$r" sh -c 'umask 027 && exec runuser -u onside-agent -g onside-agent -G adm -- "$@"' sh \
		onside-agent run --once -c /etc/onside-agent/agent.yaml >"$work/$suite.run.log" 2>&1 ||
		{ cat "$work/$suite.run.log"; die "$suite: run --once failed"; }
	got=$(wc -l <"$work/$suite.record.jsonl")
	[ "$got" -eq 3 ] || { cat "$work/$suite.run.log"; die "$suite: the stand-in received $got events, expected 3"; }
	echo "ok: the stand-in received 3 events (the page_view line was skipped by match)"
	expect_stat "$r" /var/lib/onside-agent/checkpoint.json "onside-agent:onside-agent 640"
	expect_stat "$r" /var/lib/onside-agent "onside-agent:onside-agent 750"
	in_root "$r" runuser -u onside-agent -- onside-agent status | sed 's/^/   /'

	say "$suite: upgrade to $next keeps the edited agent.yaml and the checkpoint"
	in_root "$r" sh -c "cd /tmp/pkgs && apt-get install -y -q ./$deb2" >"$work/$suite.upgrade.log" 2>&1 ||
		{ tail -n 20 "$work/$suite.upgrade.log"; die "$suite: upgrading to $deb2 failed"; }
	v=$(in_root "$r" dpkg-query -W -f='${Version}' onside-agent)
	[ "$v" = "$next" ] || die "installed version is $v after the upgrade, expected $next"
	grep -q "127.0.0.1:$port" "$r/etc/onside-agent/agent.yaml" || die "the upgrade replaced the edited agent.yaml"
	echo "ok: version $v, edited agent.yaml kept"
	expect_stat "$r" /etc/onside-agent/agent.yaml "root:onside-agent 640"
	printf '{"ts":"2026-05-05T12:00:04Z","event":"purchase_completed","install_id":"0b5e3c1a-6a8e-4c55-9f3e-2d7c8a1b4e64","order_id":"A-4","currency":"USD","amount":"1.50"}\n' \
		>>"$r/var/log/shop/purchases.log"
	in_root "$r" sh -c 'umask 027 && exec runuser -u onside-agent -g onside-agent -G adm -- "$@"' sh \
		onside-agent run --once -c /etc/onside-agent/agent.yaml >>"$work/$suite.run.log" 2>&1 ||
		{ cat "$work/$suite.run.log"; die "$suite: run --once after the upgrade failed"; }
	got=$(wc -l <"$work/$suite.record.jsonl")
	[ "$got" -eq 4 ] || die "$suite: $got events recorded after the upgrade, expected 4 (checkpoint lost?)"
	echo "ok: after the upgrade only the new line was sent (checkpoint kept)"

	say "$suite: remove keeps user, configuration and state; purge removes them"
	in_root "$r" apt-get remove -y -q onside-agent >"$work/$suite.remove.log" 2>&1 || die "$suite: remove failed"
	[ ! -e "$r/usr/bin/onside-agent" ] || die "the binary is still there after remove"
	in_root "$r" getent passwd onside-agent >/dev/null || die "remove deleted the user"
	[ -f "$r/var/lib/onside-agent/checkpoint.json" ] || die "remove deleted the state"
	[ -f "$r/etc/onside-agent/agent.yaml" ] || die "remove deleted the configuration"
	echo "ok: removed; user, /etc/onside-agent and /var/lib/onside-agent kept"
	in_root "$r" apt-get purge -y -q onside-agent >"$work/$suite.purge.log" 2>&1 || die "$suite: purge failed"
	[ ! -e "$r/var/lib/onside-agent" ] || die "purge left /var/lib/onside-agent"
	[ ! -e "$r/etc/onside-agent" ] || die "purge left /etc/onside-agent"
	! in_root "$r" getent passwd onside-agent >/dev/null || die "purge left the user"
	! in_root "$r" getent group onside-agent >/dev/null || die "purge left the group"
	echo "ok: purged; /var/lib/onside-agent, /etc/onside-agent, user and group gone"

	umount_root "$r"
	rm -rf "$r"
	note "$suite: PASS (install, layout, check, delivery as onside-agent, upgrade, remove, purge)"
}

# ---- the RPM ----

test_rpm() {
	local rpmf s
	command -v rpm >/dev/null || die "rpm is missing (apt-get install rpm)"
	rpmf=$(ls "$work"/host/onside-agent-"$version"-*.rpm 2>/dev/null | head -n1)
	[ -n "$rpmf" ] || die "no .rpm was built (is rpmbuild installed?)"
	say "rpm -qpi"
	rpm -qpi "$rpmf" | sed 's/^/   /'
	say "rpm -qpl (with modes and owners)"
	rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpmf" |
		sed 's/^/   /'
	say "rpm -qp --requires"
	rpm -qp --requires "$rpmf" | sed 's/^/   /'
	if [ "${ONSIDE_PACKAGES:-native}" = portable ]; then
		! rpm -qp --requires "$rpmf" | grep -E '\.so|^lib|GLIBC' || die "the portable .rpm requires a shared library"
		echo "ok: the portable .rpm requires no shared library"
	fi
	say "rpm -qp --scripts"
	rpm -qp --scripts "$rpmf" | sed 's/^/   /'
	if command -v rpmlint >/dev/null; then
		say "rpmlint (with packaging/rpm/rpmlint.toml; see packaging/README.md)"
		rpmlint -c "$top/packaging/rpm/rpmlint.toml" "$rpmf" 2>&1 | grep -v -e '^====' -e '^rpmlint:' \
			-e '^configuration' -e '^ *[/p].*toml$' -e '^checks:' -e '^$' | sed 's/^/   /'
		rpmlint -c "$top/packaging/rpm/rpmlint.toml" "$rpmf" 2>&1 | grep -q ' 0 errors' || die "rpmlint reports errors"
	fi
	# A copy of the bookworm root: it has the /bin/sh, getent and useradd that the scriptlets run.
	say "rpm --root SCRATCH --nodeps -i (scriptlets run in the scratch root)"
	ensure_base_root bookworm
	s=$(fresh_root bookworm base rpm)
	rpm --root "$s" --initdb
	rpm --root "$s" --nodeps -i "$rpmf" || die "rpm -i into the scratch root failed"
	in_root "$s" getent passwd onside-agent | sed 's/^/   user: /'
	expect_stat "$s" /usr/bin/onside-agent "root:root 755"
	expect_stat "$s" /etc/onside-agent/agent.yaml "root:onside-agent 640"
	expect_stat "$s" /var/lib/onside-agent "onside-agent:onside-agent 750"
	expect_stat "$s" /usr/lib/systemd/system/onside-agent.service "root:root 644"
	expect_stat "$s" /usr/include/onside-agent/onside_parser.h "root:root 644"
	expect_stat "$s" /usr/share/man/man8/onside-agent.8.gz "root:root 644"
	expect_stat "$s" /usr/share/man/man5/onside-agent.yaml.5.gz "root:root 644"
	expect_stat "$s" /usr/share/bash-completion/completions/onside-agent "root:root 644"
	rpm --root "$s" -q --configfiles onside-agent | grep -qx /etc/onside-agent/agent.yaml ||
		die "agent.yaml is not a %config file"
	rpm --root "$s" -V --nodeps onside-agent || die "rpm -V reports changed files right after install"
	echo "ok: rpm -V clean; agent.yaml is %config(noreplace)"
	echo "edited" >>"$s/etc/onside-agent/agent.yaml"
	rpm --root "$s" -e --nodeps onside-agent || die "rpm -e failed"
	[ -f "$s/etc/onside-agent/agent.yaml.rpmsave" ] || die "rpm -e did not keep the edited agent.yaml as .rpmsave"
	echo "ok: rpm -e kept the edited configuration as agent.yaml.rpmsave"
	rm -rf "$s"
	note "rpm: PASS (layout, requires, scripts, rpmlint, install into a scratch root, erase)"
}

for s in $suites; do
	case $s in
	rpm) test_rpm ;;
	bookworm | bullseye | trixie) test_deb_suite "$s" ;;
	*) die "unknown test $s (bookworm, bullseye, trixie, rpm)" ;;
	esac
done

say "summary"
printf '%s' "$summary"
echo "logs in $work"
