#!/bin/sh
# Builds the Debian (and, where rpmbuild exists, RPM) packages of the source tree SRC in BUILD_DIR,
# with Debian's hardening flags. Used by install-test.sh on the host and inside Debian roots.
# usage: build-packages.sh SRC BUILD_DIR [PACKAGE_VERSION]
#   PACKAGE_VERSION overrides project(VERSION) for the packages only (upgrade tests).
set -eu
src=$1 dir=$2 pkgver=${3:-}

if command -v dpkg-buildflags >/dev/null; then
	eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
fi
set -- -DONSIDE_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	"-DCMAKE_C_FLAGS=${CFLAGS:-} ${CPPFLAGS:-}" "-DCMAKE_EXE_LINKER_FLAGS=${LDFLAGS:-}"
if [ -n "$pkgver" ]; then
	set -- "$@" "-DCPACK_PACKAGE_VERSION=$pkgver"
fi
rm -rf "$dir"
cmake -S "$src" -B "$dir" "$@"
cmake --build "$dir" -j"$(nproc 2>/dev/null || echo 2)"
cd "$dir"
cpack
