#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build, run and test TumorTracer.
# Idempotent: packages already present are skipped, and the ONNX Runtime library is fetched only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, one line per reason.
PKGS=(
  # Fyne (cgo, OpenGL, X11/Wayland)
  gcc pkg-config libgl1-mesa-dev libx11-dev libxext-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev
  libxxf86vm-dev libwayland-dev libxkbcommon-dev
  # through cgo: JPEG 2000 (OpenJPEG) and JPEG-LS (CharLS) DICOM; 8-bit JPEG files and frames (libjpeg-turbo's
  # libjpeg API: libjpeg-dev is libjpeg62-turbo-dev on Debian, libjpeg-turbo8-dev on Ubuntu)
  libopenjp2-7-dev libcharls-dev libjpeg-dev
  # tests: a real window under Xvfb and its screenshot; reference DICOM decoders
  xvfb xauth x11-apps imagemagick python3-pydicom python3-numpy dcmtk libgdcm-tools
  # training recipe
  python3-torch python3-torchvision python3-yaml python3-pil python3-matplotlib
  # installers (make package, make test-package): Windows cross-build, zip, Depends mapping, MIME and .desktop checks
  gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 zip xz-utils dpkg-dev shared-mime-info desktop-file-utils
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime 1.29 (the C API of onnxruntime_go v1.36.0) for linux-x64, from the npm registry's onnxruntime-node
# package; the checksum pins the exact file.
ORT_VERSION=1.29.0
ORT_SHA256=89688f5cf51c7e31befbb7b9101bc027799009b18d1baa9a5b1146a72e69538d
ORT_LIB=lib/libonnxruntime.so.1
if ! { [ -f "$ORT_LIB" ] && echo "$ORT_SHA256  $ORT_LIB" | sha256sum -c --status; }; then
  echo "deps: fetching libonnxruntime.so.1 from npm onnxruntime-node@$ORT_VERSION"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
  tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  echo "$ORT_SHA256  $tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" | sha256sum -c --status || {
    echo "deps: checksum mismatch for libonnxruntime.so.1 from onnxruntime-node@$ORT_VERSION" >&2; exit 1; }
  mkdir -p lib
  install -m 0644 "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ORT_LIB"
fi
