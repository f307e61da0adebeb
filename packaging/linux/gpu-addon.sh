#!/bin/sh
# TumorTracer GPU add-on: installs ONNX Runtime 1.29's CUDA execution provider beside TumorTracer's private copy of
# ONNX Runtime, so that `tumortracer classify --device auto` (the default) runs on an NVIDIA GPU.
#
#   sudo /usr/share/tumortracer/gpu-addon.sh            install (the .deb's layout)
#   sudo /usr/share/tumortracer/gpu-addon.sh --remove   uninstall
#   gpu-addon.sh [--remove] LIBDIR                      another layout (e.g. ~/.local/lib/tumortracer)
#   gpu-addon.sh --from FILE.tgz [LIBDIR]               offline: the npm tarball below, fetched elsewhere
#
# It downloads the npm package com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (ONNX Runtime 1.29.0's CUDA
# provider, 179 MB, checked by SHA-256) and copies libonnxruntime_providers_shared.so and
# libonnxruntime_providers_cuda.so into LIBDIR. The GPU itself needs what that provider was built against, which
# this script does not install: an NVIDIA driver for CUDA 13, the CUDA 13 runtime libraries (libcudart.so.13,
# libcublas.so.13, libcublasLt.so.13, libcurand.so.10) and cuDNN 9 for CUDA 13 on the library path.
# Without them nothing breaks: --device auto falls back to the CPU, and --device cuda says what is missing.
set -eu

PKG=com.github.asus4.onnxruntime.linux-x64-gpu
PKG_VERSION=0.4.9
PKG_SHA256=2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412
URL=https://registry.npmjs.org/$PKG/-/$PKG-$PKG_VERSION.tgz
LIBS="libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so"

usage() {
	echo "usage: gpu-addon.sh [--remove | --from FILE.tgz] [LIBDIR]" >&2
	exit 2
}
remove=0
from=""
case "${1:-}" in
--remove)
	remove=1
	shift
	;;
--from)
	[ $# -ge 2 ] || usage
	from=$2
	shift 2
	;;
-*) usage ;;
esac
[ $# -le 1 ] || usage
# share/tumortracer/gpu-addon.sh → lib/tumortracer, for /usr, /usr/local and ~/.local alike.
here=$(cd "$(dirname "$0")" && pwd)
libdir=${1:-$here/../../lib/tumortracer}
if [ ! -f "$libdir/libonnxruntime.so.1" ]; then
	echo "gpu-addon: $libdir has no libonnxruntime.so.1; give TumorTracer's library folder as the argument" >&2
	exit 1
fi
libdir=$(cd "$libdir" && pwd)

if [ "$remove" = 1 ]; then
	for l in $LIBS; do rm -f "$libdir/$l"; done
	echo "gpu-addon: removed the CUDA provider from $libdir; TumorTracer runs on the CPU"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "$from" ]; then
	cp "$from" "$tmp/addon.tgz"
elif echo "gpu-addon: downloading $PKG@$PKG_VERSION (179 MB)" && command -v curl >/dev/null; then
	curl -fsSL -o "$tmp/addon.tgz" "$URL"
elif command -v wget >/dev/null; then
	wget -q -O "$tmp/addon.tgz" "$URL"
elif command -v npm >/dev/null; then
	(cd "$tmp" && npm pack --silent "$PKG@$PKG_VERSION" >/dev/null && mv "$PKG-$PKG_VERSION.tgz" addon.tgz)
else
	echo "gpu-addon: needs curl, wget or npm to download $URL" >&2
	exit 1
fi
if ! echo "$PKG_SHA256  $tmp/addon.tgz" | sha256sum -c --status; then
	echo "gpu-addon: ${from:-the download} does not match the SHA-256 of $PKG-$PKG_VERSION.tgz; nothing was installed" >&2
	exit 1
fi
members=""
for l in $LIBS; do members="$members package/Plugins/Linux/x64/$l"; done
# shellcheck disable=SC2086 # the member list is meant to split
tar -xzf "$tmp/addon.tgz" -C "$tmp" $members
for l in $LIBS; do
	install -m0644 "$tmp/package/Plugins/Linux/x64/$l" "$libdir/$l"
done
echo "gpu-addon: installed the CUDA provider into $libdir"
if ldconfig -p 2>/dev/null | grep -q 'libcudart\.so\.13' && ldconfig -p 2>/dev/null | grep -q 'libcudnn\.so\.9'; then
	echo "gpu-addon: CUDA 13 and cuDNN 9 libraries found; try: tumortracer classify --device cuda FILE"
else
	echo "gpu-addon: CUDA 13 runtime or cuDNN 9 not found on the library path; until they are installed" \
		"TumorTracer keeps using the CPU (tumortracer classify --device cuda FILE says what is missing)"
fi
