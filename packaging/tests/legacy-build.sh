#!/bin/sh
# Builds onside-agent with warnings as errors and runs its unit tests inside a clean Debian 11
# "bullseye" root (json-c 0.15, curl 7.74, OpenSSL 1.1, CMake 3.18, GCC 10): the oldest platform
# the agent supports. The root is made with debootstrap and cached in /var/tmp/onside-roots.
#   packaging/tests/legacy-build.sh [SUITE]          (default bullseye; run as root)
# ONSIDE_SOURCE=head builds the committed tree (git archive HEAD) instead of the working tree.
# ONSIDE_CTEST_ARGS overrides the test selection (default: -R ^unit[.], the cmocka unit tests).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

suite=${1:-bullseye}
trap umount_all EXIT
trap 'exit 130' INT TERM

need_host_tools
ensure_build_root "$suite"
r=$(fresh_root "$suite" build legacy)
mount_root "$r"
copy_source "$top" "$r"
say "$suite: $(in_root "$r" sh -c 'cmake --version | head -n1; gcc --version | head -n1;
	dpkg-query -W -f="\${Package} \${Version}\n" libjson-c-dev libcurl4-openssl-dev libssl-dev libpcre2-dev libyaml-dev libcmocka-dev' |
	tr '\n' ';')"
say "$suite: cmake -DONSIDE_WERROR=ON && cmake --build"
in_root "$r" sh -c 'cd /src && cmake -S . -B build-legacy -DONSIDE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
	cmake --build build-legacy -j"$(nproc)"' || die "$suite: the build failed (output above)"
ctest_args=${ONSIDE_CTEST_ARGS:--R ^unit[.]}
say "$suite: ctest $ctest_args"
# shellcheck disable=SC2086
in_root "$r" sh -c "cd /src/build-legacy && ctest --output-on-failure $ctest_args" ||
	die "$suite: unit tests failed (output above)"
umount_root "$r"
rm -rf "$r"
say "$suite: PASS (build with -DONSIDE_WERROR=ON, unit tests)"
