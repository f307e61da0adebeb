#!/usr/bin/env bash
# Builds TumorTracer's installers under dist/:
#   deb      dist/tumortracer_VERSION-BUILD_amd64.deb        (nfpm)
#   tar      dist/tumortracer-VERSION-linux-amd64.tar.xz     (fyne package -os linux, plus ONNX Runtime)
#   windows  dist/TumorTracer-VERSION-windows-amd64.zip      (MinGW cross-build, plus onnxruntime.dll)
#   all      the three of them
# Each carries the binary (models embedded), ONNX Runtime beside it, the icon, two synthetic sample scans and the
# licences: TumorTracer's (Apache-2.0, LICENSE), packaging/linux/copyright (which part is under which licence, ONNX
# Runtime's MIT text, the models' data) and THIRD-PARTY-NOTICES written from that package's binary by notices.sh.
# Work files go under build/package (ignored); `make package` calls this after `make deps`.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROOT=$PWD

VERSION=$(sed -n 's/^Version *= *"\(.*\)"/\1/p' FyneApp.toml)
BUILD_NO=$(sed -n 's/^Build *= *\([0-9]*\)/\1/p' FyneApp.toml)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$VERSION" ] || { echo "package: no Version in FyneApp.toml" >&2; exit 1; }
BUILD_NO=${BUILD_NO:-1}
GO=${GO:-go}
GOBIN=$($GO env GOPATH)/bin
WORK=$ROOT/build/package
DIST=$ROOT/dist
LDFLAGS="-s -w -X main.version=$VERSION -X main.commit=$COMMIT"
NICE="nice -n 10"

NFPM_VERSION=2.45.2
FYNE_TOOL_VERSION=1.7.4
ORT_VERSION=1.29.0
# SHA-256 of bin/napi-v6/win32/x64/onnxruntime.dll in npm onnxruntime-node@1.29.0.
ORT_DLL_SHA256=5e289b5494cc338d62806f2d24c24aa7cc09a00bbab0404d9169487a45e0053a
ORT_LIB=$ROOT/lib/libonnxruntime.so.1

say() { echo "package: $*"; }
die() { echo "package: $*" >&2; exit 1; }

# module_version prints the version of MODULE that the Go binary BIN was built from, or nothing.
module_version() {
	[ -x "$1" ] || return 0
	$GO version -m "$1" 2>/dev/null | awk -v m="$2" '$1 == "mod" && $2 == m {print $3}'
}

# nfpm_tool and fyne_tool install the pinned commands into GOPATH/bin when they are missing or another version.
nfpm_tool() {
	if [ "$(module_version "$GOBIN/nfpm" github.com/goreleaser/nfpm/v2)" != "v$NFPM_VERSION" ]; then
		say "installing nfpm v$NFPM_VERSION"
		(cd /tmp && $NICE $GO install "github.com/goreleaser/nfpm/v2/cmd/nfpm@v$NFPM_VERSION")
	fi
}
fyne_tool() {
	if [ "$(module_version "$GOBIN/fyne" fyne.io/tools)" != "v$FYNE_TOOL_VERSION" ]; then
		say "installing fyne v$FYNE_TOOL_VERSION"
		(cd /tmp && $NICE $GO install "fyne.io/tools/cmd/fyne@v$FYNE_TOOL_VERSION")
	fi
}

# common draws the samples and prepares the icon; both are shared by every package.
common() {
	mkdir -p "$WORK/samples" "$DIST"
	$GO run ./packaging/phantom -kind cxr -o "$WORK/samples/phantom-chest-xray.dcm"
	$GO run ./packaging/phantom -kind ct -o "$WORK/samples/phantom-chest-ct.dcm"
	# The one icon: assets/icon.png, drawn by assets/icongen (go generate ./assets).
	cp assets/icon.png "$WORK/icon.png"
	convert "$WORK/icon.png" -resize 256x256 "$WORK/icon-256.png"
	convert "$WORK/icon.png" -resize 48x48 "$WORK/icon-48.png"
	[ -f "$ORT_LIB" ] || die "$ORT_LIB is missing; run make deps"
}

# linux_bin builds the Linux binary with the release's version stamped in.
LINUX_BUILT=
linux_bin() {
	[ -z "$LINUX_BUILT" ] || return 0
	LINUX_BUILT=1
	say "building the linux/amd64 binary"
	mkdir -p "$WORK/linux"
	CGO_ENABLED=1 $NICE $GO build -ldflags "$LDFLAGS" -o "$WORK/linux/tumortracer" .
}

# Libraries loaded with dlopen, which dpkg-shlibdeps cannot see (the file says why).
mapfile -t DLOPENED < <(grep -v '^#' packaging/linux/dlopened.txt | grep .)

# soname_package prints the Debian package that ships the x86-64 library SONAME on this machine.
soname_package() {
	local path pkg
	path=$(ldconfig -p | awk -v so="$1" '!found && $1 == so && /x86-64/ {print $NF; found = 1}')
	[ -n "$path" ] || die "$1 is not installed here, so its package cannot be named; run make deps"
	pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null) ||
		die "no Debian package owns $path"
	echo "${pkg%%:*}"
}

# depends prints the Depends field: the binary's DT_NEEDED libraries mapped to packages by dpkg-shlibdeps (which
# also writes the minimum versions the binary's symbols need), then the packages of the dlopened libraries.
depends() {
	local tmp linked extra=() so pkg
	tmp=$(mktemp -d)
	mkdir -p "$tmp/debian"
	printf 'Source: tumortracer\n\nPackage: tumortracer\nArchitecture: amd64\n' >"$tmp/debian/control"
	cp "$WORK/linux/tumortracer" "$tmp/tumortracer"
	linked=$(cd "$tmp" && dpkg-shlibdeps -O -e tumortracer 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
	rm -rf "$tmp"
	[ -n "$linked" ] || die "dpkg-shlibdeps found no dependencies for the binary"
	for so in "${DLOPENED[@]}"; do
		pkg=$(soname_package "$so")
		grep -Eq "(^|, )$pkg( |,|$)" <<<"$linked" || [[ " ${extra[*]} " == *" $pkg "* ]] || extra+=("$pkg")
	done
	printf '%s' "$linked"
	printf ', %s' "${extra[@]}"
	echo
}

# notices writes THIRD-PARTY-NOTICES for the binary $1 into the file $2.
notices() {
	GO=$GO ./packaging/notices.sh "$1" "$2"
}

deb() {
	linux_bin
	local stage=$WORK/deb
	rm -rf "$stage" && mkdir -p "$stage"
	notices "$WORK/linux/tumortracer" "$stage/THIRD-PARTY-NOTICES"
	cp "$WORK/linux/tumortracer" "$ORT_LIB" packaging/linux/org.tumortracer.viewer.desktop \
		packaging/linux/org.tumortracer.viewer.xml packaging/linux/copyright packaging/linux/gpu-addon.sh "$WORK/icon-256.png" "$WORK/icon-48.png" "$stage/"
	cp -r "$WORK/samples" "$stage/samples"
	local deps
	deps=$(depends)
	say "Depends: $deps"
	rm -f "$DIST"/tumortracer_*_amd64.deb
	TT_STAGE=$stage TT_VERSION=$VERSION TT_RELEASE=$BUILD_NO TT_DEPENDS=$deps \
		"$GOBIN/nfpm" package --config packaging/linux/nfpm.yaml --packager deb --target "$DIST/"
	ls "$DIST"/tumortracer_*_amd64.deb >/dev/null
}

tarball() {
	linux_bin
	# fyne package writes its tarball into, and bumps Build in the FyneApp.toml of, the folder it runs in; a scratch
	# copy keeps the shared FyneApp.toml untouched. hasGoCode wants a .go file there; it is never built (--exe).
	local stage=$WORK/fyne
	rm -rf "$stage" && mkdir -p "$stage"
	cp FyneApp.toml "$stage/"
	cp "$WORK/icon.png" "$stage/icon.png"
	sed -i 's|^Icon *=.*|Icon = "icon.png"|' "$stage/FyneApp.toml"
	printf 'package main\n\nfunc main() {}\n' >"$stage/main.go"
	cp "$WORK/linux/tumortracer" "$stage/tumortracer"
	(cd "$stage" && "$GOBIN/fyne" package -os linux --exe tumortracer --name TumorTracer --icon icon.png)
	local tree=$WORK/tar
	rm -rf "$tree" && mkdir -p "$tree"
	tar -xJf "$stage/TumorTracer.tar.xz" -C "$tree"
	local top=$tree/tumortracer
	[ -x "$top/usr/local/bin/tumortracer" ] || die "fyne package made no usr/local/bin/tumortracer"
	# The layout mirrors the .deb under /usr/local: ONNX Runtime in ../lib/tumortracer/ relative to the binary.
	install -Dm0644 "$ORT_LIB" "$top/usr/local/lib/tumortracer/libonnxruntime.so.1"
	install -Dm0644 packaging/linux/org.tumortracer.viewer.desktop "$top/usr/local/share/applications/org.tumortracer.viewer.desktop"
	install -Dm0644 packaging/linux/org.tumortracer.viewer.xml "$top/usr/local/share/mime/packages/org.tumortracer.viewer.xml"
	install -Dm0644 "$WORK/samples/phantom-chest-xray.dcm" "$top/usr/local/share/tumortracer/samples/phantom-chest-xray.dcm"
	install -Dm0644 "$WORK/samples/phantom-chest-ct.dcm" "$top/usr/local/share/tumortracer/samples/phantom-chest-ct.dcm"
	install -Dm0644 packaging/linux/copyright "$top/usr/local/share/doc/tumortracer/copyright"
	install -Dm0644 LICENSE "$top/usr/local/share/doc/tumortracer/LICENSE"
	notices "$WORK/linux/tumortracer" "$top/usr/local/share/doc/tumortracer/THIRD-PARTY-NOTICES"
	install -Dm0755 packaging/linux/gpu-addon.sh "$top/usr/local/share/tumortracer/gpu-addon.sh"
	install -m0644 "$WORK/icon-256.png" "$top/usr/local/share/pixmaps/org.tumortracer.viewer.png"
	install -m0644 packaging/linux/tarball.mk "$top/Makefile"
	local out=$DIST/tumortracer-$VERSION-linux-amd64.tar.xz
	rm -f "$out"
	tar -C "$tree" --owner=0 --group=0 --sort=name -cJf "$out" tumortracer
	say "wrote $out"
}

# ort_dll fetches onnxruntime.dll from the same npm package as the Linux library, checked by SHA-256.
ort_dll() {
	local dll=$WORK/ort-win/onnxruntime.dll
	if [ -f "$dll" ] && echo "$ORT_DLL_SHA256  $dll" | sha256sum -c --status; then
		return
	fi
	say "fetching onnxruntime.dll from npm onnxruntime-node@$ORT_VERSION"
	local tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
	tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" package/bin/napi-v6/win32/x64/onnxruntime.dll
	echo "$ORT_DLL_SHA256  $tmp/package/bin/napi-v6/win32/x64/onnxruntime.dll" | sha256sum -c --status ||
		{ rm -rf "$tmp"; die "checksum mismatch for onnxruntime.dll from onnxruntime-node@$ORT_VERSION"; }
	mkdir -p "$(dirname "$dll")"
	install -m0644 "$tmp/package/bin/napi-v6/win32/x64/onnxruntime.dll" "$dll"
	rm -rf "$tmp"
}

# windows_resources writes the icon, version information and manifest as a COFF object that the Go linker picks up
# from the main package's folder; it exists only for the duration of the build.
SYSO=$ROOT/rsrc_windows_amd64.syso
windows_resources() {
	local res=$WORK/windows/res
	rm -rf "$res" && mkdir -p "$res"
	convert "$WORK/icon.png" -define icon:auto-resize=256,128,64,48,32,16 "$res/tumortracer.ico"
	local v1 v2 v3
	IFS=. read -r v1 v2 v3 <<<"$VERSION"
	sed -e "s/@VERSION@/$VERSION/g" -e "s/@V1@/${v1:-0}/g" -e "s/@V2@/${v2:-0}/g" -e "s/@V3@/${v3:-0}/g" \
		-e "s/@BUILD@/$BUILD_NO/g" -e "s/@COMMIT@/$COMMIT/g" packaging/windows/tumortracer.rc.in >"$res/tumortracer.rc"
	sed -e "s/@V1@/${v1:-0}/g" -e "s/@V2@/${v2:-0}/g" -e "s/@V3@/${v3:-0}/g" -e "s/@BUILD@/$BUILD_NO/g" \
		packaging/windows/tumortracer.manifest.in >"$res/tumortracer.manifest"
	(cd "$res" && x86_64-w64-mingw32-windres -O coff -i tumortracer.rc -o "$SYSO")
}

windows() {
	command -v x86_64-w64-mingw32-gcc >/dev/null || die "x86_64-w64-mingw32-gcc is missing; run make deps"
	ort_dll
	trap 'rm -f "$SYSO"' EXIT
	windows_resources
	say "cross-building TumorTracer.exe (windows/amd64, MinGW; the cgo codecs are left out there)"
	local out=$WORK/windows/TumorTracer
	rm -rf "$out" && mkdir -p "$out/samples"
	CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc CXX=x86_64-w64-mingw32-g++ \
		$NICE $GO build -ldflags "-H=windowsgui $LDFLAGS" -o "$out/TumorTracer.exe" .
	rm -f "$SYSO"
	trap - EXIT
	install -m0644 "$WORK/ort-win/onnxruntime.dll" "$out/onnxruntime.dll"
	install -m0644 "$WORK/samples/"*.dcm "$out/samples/"
	sed "s/@VERSION@/$VERSION/g" packaging/windows/README.txt | sed 's/$/\r/' >"$out/README.txt"
	sed 's/$/\r/' packaging/linux/copyright >"$out/LICENSES.txt"
	sed 's/$/\r/' LICENSE >"$out/LICENSE.txt"
	notices "$out/TumorTracer.exe" "$WORK/windows/THIRD-PARTY-NOTICES"
	sed 's/$/\r/' "$WORK/windows/THIRD-PARTY-NOTICES" >"$out/THIRD-PARTY-NOTICES.txt"
	local zip=$DIST/TumorTracer-$VERSION-windows-amd64.zip
	rm -f "$zip"
	(cd "$WORK/windows" && TZ=UTC zip -q -X -r -9 "$zip" TumorTracer)
	say "wrote $zip"
}

sizes() {
	say "artefacts:"
	for f in "$DIST"/*; do
		printf '  %12s bytes  %s\n' "$(stat -c %s "$f")" "${f#"$ROOT"/}"
	done
}

cmd=${1:-all}
case "$cmd" in
deb) nfpm_tool; common; deb ;;
tar) fyne_tool; common; tarball ;;
windows) common; windows ;;
all) nfpm_tool; fyne_tool; common; deb; tarball; windows; sizes ;;
*) die "unknown target $cmd (want deb, tar, windows or all)" ;;
esac
