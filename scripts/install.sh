#!/bin/sh
# scripts/install.sh [--debug] PREFIX
#
# Builds (release, or debug with --debug) and installs under PREFIX:
#   bin/      rump_server, rumpctl
#   lib/      librumphijack.so, librump.so/.a (the in-process kernel),
#             librumpclient.so/.a (the client), and NetBSD's other link
#             names (-lrumpuser -lrumpvfs -lrumpnet -lrumpnet_net
#             -lrumpnet_netinet -lrumpnet_shmif -lrumpnet_netconfig) as
#             one-line linker scripts that pull in librump
#   include/rump/  rump.h rump_syscalls.h rumpdefs.h rumpclient.h (generated)
#   lib/pkgconfig/ rump.pc rumpclient.pc
# Then: cc prog.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs rump)
set -eu

profile=release
if [ "${1:-}" = "--debug" ]; then
	profile=debug
	shift
fi
if [ $# -ne 1 ]; then
	echo "usage: $0 [--debug] PREFIX" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(mkdir -p "$1" && cd "$1" && pwd)

flag=
[ "$profile" = release ] && flag=--release
(cd "$root" && cargo build -q $flag -p rump-abi -p rump-capi -p rumpclient-capi -p rump-hijack -p rump-tools)
out=${CARGO_TARGET_DIR:-$root/target}/$profile

mkdir -p "$prefix/bin" "$prefix/lib/pkgconfig" "$prefix/include/rump"
install -m 755 "$out/rump_server" "$out/rumpctl" "$prefix/bin/"
install -m 755 "$out/librumphijack.so" "$out/librump.so" "$prefix/lib/"
install -m 644 "$out/librump.a" "$prefix/lib/"
install -m 755 "$out/librumpclient_c.so" "$prefix/lib/librumpclient.so"
install -m 644 "$out/librumpclient_c.a" "$prefix/lib/librumpclient.a"
for alias in rumpuser rumpvfs rumpnet rumpnet_net rumpnet_netinet rumpnet_shmif rumpnet_netconfig; do
	for ext in so a; do
		echo "/* -l$alias: part of librump */ INPUT(-lrump)" >"$prefix/lib/lib$alias.$ext"
	done
done
"$out/rump_headers" "$prefix/include/rump"

# What a static link needs besides the library (Rust's std).
private="-lpthread -ldl -lm -lrt -lgcc_s"
for pc in rump:rump:"the rump kernel, in the process" rumpclient:rumpclient:"a client of a rump_server"; do
	name=${pc%%:*}
	rest=${pc#*:}
	lib=${rest%%:*}
	desc=${rest#*:}
	cat >"$prefix/lib/pkgconfig/$name.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: $name
Description: NetBSD's rump kernel interface: $desc
Version: 0.1.0
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -l$lib
Libs.private: $private
PC
done
echo "installed under $prefix"
