#!/bin/sh
# Builds the static libraries the portable onside-agent links (zlib, OpenSSL, nghttp2, libcurl,
# libyaml, json-c, PCRE2) with musl-gcc, from Debian's source packages of the pinned versions below,
# fetched with `apt-get source` from this machine's Debian mirror (nothing from anywhere else).
#   scripts/portable/deps.sh OUT_DIR        (called by scripts/build-portable.sh)
# OUT_DIR/src holds the unpacked sources, OUT_DIR/prefix the installed libraries and headers, and
# OUT_DIR/stamps one file per library built: a library whose stamp names the pinned version is not
# built again, so a rebuild of the agent takes seconds. Delete OUT_DIR to start over.
set -eu

# Debian 12 (bookworm) source packages: the versions of the 12.x point release. (bookworm-security
# lists newer openssl, pcre2 and zlib, but their files were not downloadable from the mirror this was
# built against; take them when they are.) To move to newer versions: change the
# pins (`apt-cache showsrc NAME` lists what the mirror holds), delete OUT_DIR, rebuild, and rerun the
# portable tests (packaging/README.md). The mirror keeps only the latest version of each suite, so a
# pin stops resolving when Debian publishes a fix: then bump it.
PIN_ZLIB="zlib=1:1.2.13.dfsg-1"
PIN_OPENSSL="openssl=3.0.20-1~deb12u2"
PIN_NGHTTP2="nghttp2=1.52.0-1+deb12u3"
PIN_CURL="curl=7.88.1-10+deb12u15"
PIN_YAML="libyaml=0.2.5-1"
PIN_JSONC="json-c=0.16-2"
PIN_PCRE2="pcre2=10.42-1"
DEB_SUITE=bookworm

out=$(mkdir -p "$1" && cd "$1" && pwd)
src=$out/src
prefix=$out/prefix
stamps=$out/stamps
logs=$out/logs
jobs=${ONSIDE_JOBS:-2}
mkdir -p "$src" "$prefix/lib" "$prefix/include" "$stamps" "$logs"

say() { printf '== %s\n' "$*"; }
die() { printf 'build-portable: %s\n' "$*" >&2; exit 1; }

# ---- the toolchain ----

# musl-gcc sees only musl's headers; OpenSSL and curl want a few kernel headers (linux/, asm/), which
# are the same for every libc: link the host's linux-libc-dev headers into a directory of our own.
kheaders=$out/kernel-headers
if [ ! -d "$kheaders/linux" ]; then
	mkdir -p "$kheaders"
	ln -sfn /usr/include/linux "$kheaders/linux"
	ln -sfn /usr/include/asm-generic "$kheaders/asm-generic"
	ln -sfn "/usr/include/$(gcc -dumpmachine)/asm" "$kheaders/asm"
fi
export CC=musl-gcc
export CFLAGS="-O2 -g0 -fPIC -ffunction-sections -fdata-sections -fstack-protector-strong -D_FORTIFY_SOURCE=0"
export CPPFLAGS="-isystem $kheaders"
export LDFLAGS="-static"
# only our prefix: never a host library or a host .pc file
export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig
export PKG_CONFIG_PATH=

# ---- sources ----

# A private apt configuration with deb-src entries for the host's Debian mirror: the host's own
# sources stay untouched, and apt verifies the Release signatures and file hashes as usual.
apt_dir=$out/apt
apt_opts() {
	echo "-o Dir::Etc::SourceList=$apt_dir/sources.list -o Dir::Etc::SourceParts=$apt_dir/none" \
		"-o Dir::State::Lists=$apt_dir/lists -o Dir::Cache=$apt_dir/cache -o APT::Sandbox::User=root" \
		"-o Debug::NoLocking=1"
}
mirrors() {
	{
		awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' /etc/apt/sources.list.d/*.sources 2>/dev/null
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; break } }' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
	} | grep -i debian | sort -u
}
apt_setup() {
	local m key
	[ -f "$apt_dir/.updated" ] && return 0
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/none"
	key=/usr/share/keyrings/debian-archive-keyring.gpg
	: >"$apt_dir/sources.list"
	for m in $(mirrors); do
		case $m in
		*security*) echo "deb-src [signed-by=$key] $m $DEB_SUITE-security main" ;;
		*) echo "deb-src [signed-by=$key] $m $DEB_SUITE main" ;;
		esac >>"$apt_dir/sources.list"
	done
	[ -s "$apt_dir/sources.list" ] || die "no Debian mirror in /etc/apt/sources.list*"
	say "apt-get update (source indexes of $DEB_SUITE, private lists in $apt_dir)"
	# shellcheck disable=SC2046
	apt-get $(apt_opts) update >"$logs/apt-update.log" 2>&1 || die "apt-get update failed: see $logs/apt-update.log"
	touch "$apt_dir/.updated"
}

# Unpacks the pinned source package (Debian's patches applied) into src/NAME-VERSION; prints the path.
fetch() {
	local pin=$1 name ver dir
	name=${pin%%=*}
	ver=${pin#*=}
	dir=$src/$name-$(echo "$ver" | tr ':~+' '___')
	if [ ! -f "$dir/.unpacked" ]; then
		apt_setup
		rm -rf "$dir" "$dir.tmp"
		mkdir -p "$dir.tmp"
		say "apt-get source $pin" >&2
		# shellcheck disable=SC2046
		(cd "$dir.tmp" && apt-get $(apt_opts) source -q "$pin") >"$logs/source-$name.log" 2>&1 ||
			die "apt-get source $pin failed (pin gone from the mirror?): see $logs/source-$name.log"
		mv "$(find "$dir.tmp" -mindepth 1 -maxdepth 1 -type d | head -n1)" "$dir"
		mkdir -p "$dir/.debian-source"
		mv "$dir.tmp"/* "$dir/.debian-source/" 2>/dev/null || true
		rm -rf "$dir.tmp"
		touch "$dir/.unpacked"
	fi
	echo "$dir"
}

# built NAME PIN: true when NAME was built from PIN with these flags already
built() {
	[ "$(cat "$stamps/$1" 2>/dev/null)" = "$2 $CFLAGS" ]
}
done_stamp() {
	echo "$2 $CFLAGS" >"$stamps/$1"
}

# step NAME PIN FUNCTION: fetch, build in a copy of the sources, install into prefix, stamp.
step() {
	local name=$1 pin=$2 fn=$3 dir work rc
	if built "$name" "$pin"; then
		say "$name: $pin (cached)"
		return 0
	fi
	dir=$(fetch "$pin")
	work=$out/work/$name
	rm -rf "$work"
	mkdir -p "$out/work"
	cp -a "$dir" "$work"
	say "$name: building $pin (log: $logs/$name.log)"
	# a subshell outside any `||`, so that set -e stops the recipe at its first failing command
	set +e
	(
		set -e
		cd "$work"
		"$fn"
	) >"$logs/$name.log" 2>&1
	rc=$?
	set -e
	[ "$rc" = 0 ] || { tail -n 30 "$logs/$name.log" >&2; die "$name: build failed"; }
	done_stamp "$name" "$pin"
	rm -rf "$work"
}

# ---- recipes ----

build_zlib() {
	./configure --static --prefix="$prefix" --libdir="$prefix/lib"
	make -j"$jobs" libz.a
	make install
}

# no-module: providers built into libcrypto (a static binary cannot load modules). The OPENSSLDIR is
# the agent's own, normally absent directory: the binary never reads the host's openssl.cnf, which
# belongs to another OpenSSL version. CA certificates are found by agent/cabundle.c.
build_openssl() {
	./Configure linux-x86_64 --prefix="$prefix" --libdir=lib --openssldir=/etc/onside-agent/openssl \
		no-shared no-module no-engine no-afalgeng no-dso no-tests no-ssl3 no-comp \
		no-legacy no-ktls "$CPPFLAGS" "$CFLAGS"
	make -j"$jobs" build_libs
	make install_dev
}

# The library only (no tools), for HTTP/2 in libcurl as Debian's libcurl has it.
build_nghttp2() {
	cmake -S . -B b -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_C_FLAGS="$CPPFLAGS $CFLAGS" -DENABLE_LIB_ONLY=ON -DENABLE_STATIC_LIB=ON \
		-DENABLE_SHARED_LIB=OFF -DENABLE_DOC=OFF -DWITH_LIBXML2=OFF -DWITH_JEMALLOC=OFF
	cmake --build b -j"$jobs"
	cmake --install b
}

# HTTP and HTTPS only; the CA bundle is chosen at run time (agent/cabundle.c), so none is built in.
build_curl() {
	./configure --prefix="$prefix" --disable-shared --enable-static --with-openssl="$prefix" \
		--with-zlib="$prefix" --with-nghttp2="$prefix" --without-ca-bundle --without-ca-path \
		--without-ca-fallback --disable-ldap --disable-ldaps --disable-rtsp --disable-dict \
		--disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp \
		--disable-gopher --disable-mqtt --disable-ftp --disable-file --disable-manual --disable-docs \
		--disable-ntlm --disable-ntlm-wb --disable-alt-svc --disable-hsts --disable-netrc --disable-sspi \
		--disable-websockets --enable-threaded-resolver --enable-ipv6 --without-libidn2 --without-libpsl \
		--without-brotli --without-zstd --without-librtmp --without-libssh2 --without-libssh \
		--without-libgsasl --without-gssapi --without-hyper --without-quiche --without-ngtcp2 \
		--without-nghttp3 --without-msh3
	make -j"$jobs" -C lib
	make -C lib install
	make -C include install
	make install-pkgconfigDATA
}

# Debian's libyaml source is a git export without a generated configure: make it as debian/rules does.
build_libyaml() {
	autoreconf -fi
	./configure --prefix="$prefix" --disable-shared --enable-static
	make -j"$jobs"
	make install
}

build_jsonc() {
	cmake -S . -B b -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_C_FLAGS="$CPPFLAGS $CFLAGS" -DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON \
		-DBUILD_TESTING=OFF -DDISABLE_WERROR=ON -DDISABLE_EXTRA_LIBS=ON -DBUILD_APPS=OFF
	cmake --build b -j"$jobs"
	cmake --install b
}

build_pcre2() {
	./configure --prefix="$prefix" --disable-shared --enable-static --enable-jit --disable-pcre2-16 \
		--disable-pcre2-32 --disable-pcre2grep-libz --disable-pcre2grep-libbz2 --disable-pcre2test-libreadline
	make -j"$jobs" libpcre2-8.la
	make install-libLTLIBRARIES install-includeHEADERS install-nodist_includeHEADERS install-pkgconfigDATA
}

command -v musl-gcc >/dev/null || die "musl-gcc is missing (apt-get install musl-tools)"
command -v dpkg-source >/dev/null || die "dpkg-source is missing (apt-get install dpkg-dev)"
for t in perl make cmake pkg-config autoreconf libtoolize; do
	command -v "$t" >/dev/null || die "$t is missing"
done

step zlib "$PIN_ZLIB" build_zlib
step openssl "$PIN_OPENSSL" build_openssl
step nghttp2 "$PIN_NGHTTP2" build_nghttp2
step curl "$PIN_CURL" build_curl
step libyaml "$PIN_YAML" build_libyaml
step json-c "$PIN_JSONC" build_jsonc
step pcre2 "$PIN_PCRE2" build_pcre2
say "dependencies ready in $prefix"
