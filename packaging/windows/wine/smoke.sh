#!/usr/bin/env bash
# Runs the Windows zip's TumorTracer.exe under Wine, headless, and compares it with the Linux build:
#   - `TumorTracer.exe version` names windows/amd64 and FyneApp.toml's version, and the codecs it leaves out;
#   - `TumorTracer.exe classify` on the bundled samples prints the same records as the Linux binary (path aside);
#   - a JPEG-LS copy of a sample (made here with DCMTK's dcmcjpls) is reported as needing a codec this build
#     leaves out, while the Linux binary decodes it.
# Needs dist/TumorTracer-*-windows-amd64.zip (make package), wine64 (apt: wine64), MinGW and DCMTK. Not part of
# make test-package: the Windows cross-build takes many minutes and Wine is not needed to build.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../../.."
ROOT=$PWD
WORK=$ROOT/build/package
VERSION=$(sed -n 's/^Version *= *"\(.*\)"/\1/p' FyneApp.toml)
zip=$ROOT/dist/TumorTracer-$VERSION-windows-amd64.zip
linux=$WORK/linux/tumortracer

die() { echo "wine-smoke: $*" >&2; exit 1; }
[ -f "$zip" ] || die "$zip is missing; run make package"
[ -x "$linux" ] || die "$linux is missing; run make package"
WINE=$(command -v wine64 || true)
[ -n "$WINE" ] || WINE=/usr/lib/wine/wine64
[ -x "$WINE" ] || die "wine64 is not installed (apt-get install wine64)"

export WINEPREFIX=$WORK/wine/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
	mkdir -p "$WINEPREFIX"
	"$WINE" wineboot --init >/dev/null 2>&1 || true
fi
# Wine 8.0 lacks bcryptprimitives.dll, which Go's Windows runtime needs; the shim's source says why.
x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
	packaging/windows/wine/bcryptprimitives.c packaging/windows/wine/bcryptprimitives.def -ladvapi32

app=$WORK/wine/app
rm -rf "$app" && mkdir -p "$app"
unzip -q "$zip" -d "$app"
cd "$app/TumorTracer"

failures=0
check() {
	local what=$1
	shift
	if "$@"; then echo "wine-smoke: ok   $what"; else echo "wine-smoke: FAIL $what" >&2; failures=$((failures + 1)); fi
}

out=$("$WINE" TumorTracer.exe version 2>&1) || true
echo "wine-smoke: \$ wine TumorTracer.exe version -> $out"
check "version names $VERSION and windows/amd64" grep -q "^tumortracer $VERSION .*windows/amd64" <<<"$out"
check "version says the Windows build cannot decode JPEG-LS and JPEG 2000" \
	grep -q "cannot decode DICOM compressed as .*JPEG 2000.*JPEG-LS" <<<"$out"

status=0
"$WINE" TumorTracer.exe classify 'samples\phantom-chest-xray.dcm' 'samples\phantom-chest-ct.dcm' \
	>"$app/win.csv" 2>"$app/win.err" || status=$?
echo "wine-smoke: \$ wine TumorTracer.exe classify samples\\phantom-chest-xray.dcm samples\\phantom-chest-ct.dcm (exit $status)"
sed 's/^/    /' "$app/win.csv" "$app/win.err"
check "classify exits 0" test "$status" -eq 0
(cd "$app/TumorTracer/samples" && TUMORTRACER_ORT_LIB=$ROOT/lib/libonnxruntime.so.1 "$linux" classify phantom-chest-xray.dcm phantom-chest-ct.dcm >"$app/linux.csv" 2>/dev/null) || true
# Compare everything after the path column.
check "Windows and Linux give the same records" \
	cmp -s <(cut -d, -f2- "$app/win.csv" | tr -d '\r') <(cut -d, -f2- "$app/linux.csv")

dcmcjpls "$app/TumorTracer/samples/phantom-chest-ct.dcm" "$app/jpegls.dcm"
out=$("$WINE" TumorTracer.exe info 'Z:'"${app//\//\\}"'\jpegls.dcm' 2>&1) || true
echo "wine-smoke: \$ wine TumorTracer.exe info jpegls.dcm -> $out"
check "a JPEG-LS file is reported as needing a codec the Windows build leaves out" grep -q "leaves out" <<<"$out"
check "the Linux build decodes the same JPEG-LS file" bash -c "'$linux' info '$app/jpegls.dcm' >/dev/null 2>&1"

[ "$failures" -eq 0 ] || die "$failures check(s) failed"
echo "wine-smoke: all checks passed"
