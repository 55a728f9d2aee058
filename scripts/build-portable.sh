#!/bin/sh
# Builds the portable onside-agent: one statically linked x86_64 binary (musl, with OpenSSL, libcurl,
# nghttp2, zlib, libyaml, json-c and PCRE2 built from pinned Debian source packages) that runs on any
# x86_64 Linux with kernel 3.10 or later, and the .deb and .rpm made from it, whose dependencies name
# no shared library. Run from a clone, on Debian 12 (root for the first run: apt-get source):
#   scripts/build-portable.sh            binary and packages
#   scripts/build-portable.sh --binary   the binary only
# Needs: musl-tools dpkg-dev cmake pkg-config make perl autoconf automake libtool (scripts/deps.sh
# installs the rest of the build tools), and rpm for the .rpm. Output in build-portable/:
#   onside-agent                          the binary (stripped)
#   onside-agent_VERSION_amd64.deb        onside-agent-VERSION-1.x86_64.rpm
#   deps/                                 the built libraries, reused by the next run (delete to redo)
# packaging/README.md ("The portable build") says what it is for and how it is tested.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
out=$top/build-portable
packages=yes
case ${1:-} in
--binary) packages=no ;;
"") ;;
*) echo "usage: $0 [--binary]" >&2; exit 2 ;;
esac

say() { printf '== %s\n' "$*"; }
die() { printf 'build-portable: %s\n' "$*" >&2; exit 1; }

scripts/portable/deps.sh "$out/deps"
prefix=$out/deps/prefix

# The build date in --version and the packages' changelogs: the commit's, unless SOURCE_DATE_EPOCH
# is set already, so that building one commit twice gives the same binary and packages.
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && git -C "$top" rev-parse HEAD >/dev/null 2>&1; then
	SOURCE_DATE_EPOCH=$(git -C "$top" log -1 --format=%ct)
	export SOURCE_DATE_EPOCH
fi

say "configuring and building the agent (static, musl-gcc) in $out/agent"
# Release (-O3), as tests/bench/bench.py builds the native agent it is compared with. musl has no
# _FORTIFY_SOURCE; relro and now still apply to a static binary's own GOT. musl's memcpy is a call to
# `rep movsq`, slow for the short copies of the hot path (6 or 7 per event, 3 to 250 bytes): copies up
# to 256 bytes are inlined as SSE loops instead (7% less CPU in workload a; packaging/README.md).
cflags="-fstack-protector-strong -ffunction-sections -fdata-sections -minline-stringops-dynamically"
cflags="$cflags -mmemcpy-strategy=vector_loop:256:noalign,libcall:-1:noalign"
ldflags="-Wl,--gc-sections -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack"
PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig PKG_CONFIG_PATH='' CC=musl-gcc \
	cmake -S . -B "$out/agent" -DONSIDE_STATIC=ON -DONSIDE_TESTS=OFF -DONSIDE_WERROR=ON \
	-DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS=$cflags" "-DCMAKE_EXE_LINKER_FLAGS=$ldflags" \
	>"$out/agent-configure.log" 2>&1 || { tail -n 30 "$out/agent-configure.log"; die "cmake failed"; }
cmake --build "$out/agent" -j"${ONSIDE_JOBS:-2}" --target onside-agent >"$out/agent-build.log" 2>&1 ||
	{ tail -n 40 "$out/agent-build.log"; die "the agent's build failed"; }
strip -o "$out/onside-agent" "$out/agent/onside-agent"

# What makes it portable, checked: no program interpreter, no NEEDED entry.
bin=$out/onside-agent
if readelf -lW "$bin" | grep -q 'INTERP'; then
	die "$bin has a program interpreter: it is not static"
fi
if readelf -dW "$bin" | grep -q '(NEEDED)'; then
	readelf -dW "$bin" | grep '(NEEDED)' >&2
	die "$bin needs shared libraries"
fi
"$bin" --version >/dev/null || die "$bin does not run"
say "$("$bin" --version | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
say "$bin: $(file -b "$bin" | cut -d, -f1-6); readelf -d: no NEEDED entry; $(du -k "$bin" | cut -f1) KiB"

[ "$packages" = yes ] || exit 0
say "packages from the portable binary (cpack in $out/agent)"
rm -f "$out/agent"/onside-agent*.deb "$out/agent"/onside-agent*.rpm
(cd "$out/agent" && cpack) >"$out/cpack.log" 2>&1 || { tail -n 30 "$out/cpack.log"; die "cpack failed"; }
for f in "$out/agent"/onside-agent*.deb "$out/agent"/onside-agent*.rpm; do
	[ -e "$f" ] || continue
	cp "$f" "$out/"
	say "$out/$(basename "$f")"
done
deb=$(ls "$out"/onside-agent_*_amd64.deb)
say "dpkg-deb -f Depends: $(dpkg-deb -f "$deb" Depends)"
if command -v rpm >/dev/null; then
	rpmf=$(ls "$out"/onside-agent-*.x86_64.rpm)
	say "rpm -qpR: $(rpm -qpR "$rpmf" 2>/dev/null | tr '\n' ' ')"
fi
