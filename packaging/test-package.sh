#!/usr/bin/env bash
# Proves the .deb works once installed: builds it (packaging/package.sh deb), unpacks it into a scratch root with
# dpkg-deb -x, and checks that
#   - the control file's version comes from FyneApp.toml and Depends names the GL/X11 libraries and the C codec
#     libraries (libjpeg-turbo, CharLS, OpenJPEG) the binary needs;
#   - every file is where the desktop expects it, ONNX Runtime in the private /usr/lib/tumortracer/ only;
#   - the MIME XML compiles with update-mime-database and maps *.dcm and the DICM magic to application/dicom,
#     and the .desktop entry offers TumorTracer for application/dicom;
#   - the installed `tumortracer version` and `tumortracer classify` run from an unrelated working directory with
#     no environment variables at all (env -i) and find the library and models by themselves; without --model the
#     gate routes a chest film JPEG and a chest CT PNG slice of the shared test data to their models and refuses the
#     drawn radiograph phantom with a reason (exit 0: a refusal is an answer);
#   - without the packaged library, classify fails (so the success above used the packaged copy);
#   - classify inside a network-less namespace (unshare -n) prints exactly what it printed with the network;
#   - the licences: LICENSE is the Apache-2.0 text, the copyright file gives TumorTracer Apache-2.0, ONNX Runtime
#     its MIT text and each bundled model its data licence as the model card states it, and THIRD-PARTY-NOTICES
#     names every Go module the installed binary was built with (read from the binary), each with a licence text.
# `make test-package` runs this; .ci/run calls it after `make test`.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROOT=$PWD

VERSION=$(sed -n 's/^Version *= *"\(.*\)"/\1/p' FyneApp.toml)
BUILD_NO=$(sed -n 's/^Build *= *\([0-9]*\)/\1/p' FyneApp.toml)

failures=0
pass() { echo "test-package: ok   $*"; }
fail() {
	echo "test-package: FAIL $*" >&2
	failures=$((failures + 1))
}
quiet() { # runs COMMAND..., showing its output only when it fails
	local log
	log=$("$@" 2>&1) && return 0
	echo "$log" >&2
	return 1
}
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
field() { # field CSV-FILE NAME COLUMN: the COLUMN of classify's record whose path ends in NAME
	python3 - "$@" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
hits = [r for r in rows if r["path"].endswith(sys.argv[2])]
print(hits[0][sys.argv[3]] if len(hits) == 1 else "<no single record for %s>" % sys.argv[2])
PY
}
export -f field # the checks below run it in bash -c

./packaging/package.sh deb
deb=$(ls dist/tumortracer_"${VERSION}"-"${BUILD_NO:-1}"_amd64.deb)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
root=$scratch/root
dpkg-deb -x "$deb" "$root"
bin=$root/usr/bin/tumortracer
xray=$root/usr/share/tumortracer/samples/phantom-chest-xray.dcm
ct=$root/usr/share/tumortracer/samples/phantom-chest-ct.dcm

# Control file.
check "package version is $VERSION-${BUILD_NO:-1} from FyneApp.toml" \
	test "$(dpkg-deb -f "$deb" Version)" = "$VERSION-${BUILD_NO:-1}"
depends=$(dpkg-deb -f "$deb" Depends)
echo "test-package: Depends: $depends"
dlopened=$(grep -v '^#' packaging/linux/dlopened.txt | grep .)
for so in $dlopened; do
	check "the binary still loads $so at run time (packaging/linux/dlopened.txt is current)" grep -qaF "$so" "$bin"
done
for need in $(objdump -p "$bin" | awk '$1 == "NEEDED" {print $2}') $dlopened; do
	path=$(ldconfig -p | awk -v so="$need" '!found && $1 == so && /x86-64/ {print $NF; found = 1}')
	if [ -z "$path" ]; then
		fail "the binary needs $need, which this machine cannot resolve"
		continue
	fi
	pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true)
	pkg=${pkg%%:*}
	check "Depends covers $need (package $pkg)" grep -Eq "(^|, )$pkg( |,|$)" <<<"$depends"
done
check "Depends names libgl1 and libx11-6" grep -q "libgl1.*libx11-6\|libx11-6.*libgl1" <<<"$depends"
check "Depends names libjpeg-turbo (8-bit JPEG decoding)" grep -Eq "(^|, )libjpeg(62-turbo|-turbo8)( |,|$)" <<<"$depends"

# Layout.
for f in usr/bin/tumortracer usr/lib/tumortracer/libonnxruntime.so.1 \
	usr/share/applications/org.tumortracer.viewer.desktop usr/share/mime/packages/org.tumortracer.viewer.xml \
	usr/share/icons/hicolor/256x256/apps/org.tumortracer.viewer.png usr/share/icons/hicolor/48x48/apps/org.tumortracer.viewer.png \
	usr/share/tumortracer/samples/phantom-chest-xray.dcm usr/share/tumortracer/samples/phantom-chest-ct.dcm \
	usr/share/doc/tumortracer/copyright usr/share/doc/tumortracer/THIRD-PARTY-NOTICES; do
	check "installs /$f" test -s "$root/$f"
done
check "ONNX Runtime is only in the private folder" \
	test "$(find "$root" -name 'libonnxruntime*' | sed "s|^$root||")" = /usr/lib/tumortracer/libonnxruntime.so.1
check "the binary does not link ONNX Runtime (it is loaded at run time)" \
	bash -c "! objdump -p '$bin' | grep -q 'NEEDED.*onnxruntime'"
check "the icon is a 256x256 PNG" \
	test "$(identify -format '%m %wx%h' "$root/usr/share/icons/hicolor/256x256/apps/org.tumortracer.viewer.png")" = "PNG 256x256"

# Licences.
copyright=$root/usr/share/doc/tumortracer/copyright
notices=$root/usr/share/doc/tumortracer/THIRD-PARTY-NOTICES
if [ -f /usr/share/common-licenses/Apache-2.0 ]; then
	check "LICENSE is the Apache License 2.0 text (as /usr/share/common-licenses/Apache-2.0)" \
		cmp -s LICENSE /usr/share/common-licenses/Apache-2.0
fi
# paragraph FILES: the copyright paragraph whose Files field is FILES.
paragraph() { awk -v f="Files: $1" 'BEGIN { RS = "" } index($0, f "\n") == 1 { print }' "$copyright"; }
check "copyright is machine-readable (DEP-5) and its header says Apache-2.0" \
	bash -c "head -1 '$copyright' | grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' && awk 'BEGIN { RS = \"\" } NR == 1' '$copyright' | grep -qx 'License: Apache-2.0'"
check "copyright: TumorTracer's own files (Files: *) are Apache-2.0" grep -qx 'License: Apache-2.0' <<<"$(paragraph '*')"
check "copyright has the Apache-2.0 licence paragraph" grep -qx 'License: Apache-2.0' <<<"$(awk 'BEGIN { RS = "" } /^License: Apache-2.0\n/' "$copyright")"
check "copyright: ONNX Runtime is MIT, with the licence text" \
	bash -c "grep -qx 'License: MIT' <<<\"\$1\" && grep -q 'Permission is hereby granted' <<<\"\$1\"" _ \
	"$(paragraph 'usr/lib/tumortracer/libonnxruntime.so.1 onnxruntime.dll')"
check "copyright names every bundled model's data licence as its card states it" python3 - "$copyright" "$bin" <<'PY'
import json, re, subprocess, sys
text = " ".join(open(sys.argv[1]).read().split())
cards = json.loads(subprocess.run(["env", "-i", sys.argv[2], "models", "--json"], capture_output=True, check=True).stdout)
bad = []
for m in (c for c in cards if c.get("source") == "bundled"):
    licence = m.get("training", {}).get("licence", "")
    head = licence.split(" (")[0].strip()
    at = text.find(m["id"] + ":")
    if not head or at < 0 or head not in text[at:at + 400]:
        bad.append(f"{m['id']} (card: {licence!r})")
if bad or not cards:
    print("copyright does not name:", ", ".join(bad) or "any model", file=sys.stderr)
    sys.exit(1)
PY
missing_notices=()
while read -r path ver; do
	# A heading line "PATH VERSION — FILE" followed, after its rule, by the file's non-empty text.
	awk -v h="$path $ver — " 'index($0, h) == 1 { getline; getline; if (NF > 0 || getline > 0 && NF > 0) found = 1 }
		END { exit !found }' "$notices" || missing_notices+=("$path@$ver")
done < <(go version -m "$bin" | awk '$1 == "dep" { print $2, $3 }')
check "THIRD-PARTY-NOTICES has a licence text for every Go module in the binary${missing_notices[*]:+ (missing: ${missing_notices[*]})}" \
	test ${#missing_notices[@]} -eq 0
check "THIRD-PARTY-NOTICES has the Go standard library's licence" grep -q '^Go standard library go[0-9.]* — LICENSE$' "$notices"

# Desktop integration.
desktop=$root/usr/share/applications/org.tumortracer.viewer.desktop
check ".desktop runs tumortracer with files" grep -qx 'Exec=tumortracer %F' "$desktop"
check ".desktop offers itself for application/dicom" grep -q '^MimeType=.*application/dicom;' "$desktop"
check ".desktop names the installed icon" grep -qx 'Icon=org.tumortracer.viewer' "$desktop"
check ".desktop passes desktop-file-validate without a remark" test -z "$(desktop-file-validate "$desktop" 2>&1)"
mime=$scratch/mime
mkdir -p "$mime/packages"
cp "$root/usr/share/mime/packages/org.tumortracer.viewer.xml" "$mime/packages/"
check "MIME XML compiles with update-mime-database" quiet update-mime-database "$mime"
check "MIME maps *.dcm to application/dicom" grep -q '^[0-9]*:application/dicom:\*\.dcm$' "$mime/globs2"
check "MIME recognises the DICM magic" grep -q 'DICM' "$mime/magic"

# The installed binary, from elsewhere, with no environment.
away=$scratch/elsewhere
mkdir -p "$away"
cd "$away"
out=$(env -i "$bin" version 2>&1) || true
echo "test-package: \$ env -i tumortracer version -> $out"
check "installed version prints $VERSION" grep -q "^tumortracer $VERSION " <<<"$out"

status=0
env -i "$bin" classify "$xray" "$ct" >"$scratch/classify.out" 2>"$scratch/classify.err" || status=$?
echo "test-package: \$ env -i tumortracer classify phantom-chest-xray.dcm phantom-chest-ct.dcm (exit $status)"
sed 's/^/    /' "$scratch/classify.out" "$scratch/classify.err"
check "installed classify exits 0 (a refusal is an answer)" test "$status" -eq 0
# The drawn radiograph phantom is no chest film to the gate (it sees a CT slice in it): refused, with the reason.
check "classify refuses the drawn radiograph phantom with a reason" bash -c \
	"[ \"\$(field '$scratch/classify.out' phantom-chest-xray.dcm status)\" = refused ] && [ -n \"\$(field '$scratch/classify.out' phantom-chest-xray.dcm reason)\" ]"
# The drawn CT phantom goes to ct-lung, whose out-of-scope statistics find it unlike every training slice: refused.
check "classify gives the CT phantom to ct-lung, which refuses the drawing as out of its scope" bash -c \
	"[ \"\$(field '$scratch/classify.out' phantom-chest-ct.dcm model)\" = ct-lung ] && [ \"\$(field '$scratch/classify.out' phantom-chest-ct.dcm status)\" = refused ]"
# Per series, through the same gate, asked for out-of-scope answers: the CT phantom's series gets ct-lung's series
# result, marked out of scope, with the series columns.
status=0
env -i "$bin" classify --per series --allow-out-of-scope "$ct" >"$scratch/series.out" 2>/dev/null || status=$?
check "installed classify --per series --allow-out-of-scope gives the CT phantom's series a ct-lung result (rule top-5-mean)" python3 - "$scratch/series.out" "$status" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
head = "status,error,reason,out_of_scope,model,version,device,series,series_description,slices,classified,refused,label,probability,rule,key_slice"
ok = (sys.argv[2] == "0" and len(rows) == 1 and ",".join(list(rows[0])[:16]) == head and rows[0]["status"] == "ok"
      and rows[0]["model"] == "ct-lung" and rows[0]["rule"] == "top-5-mean" and rows[0]["out_of_scope"] == "true")
if not ok:
    print("exit", sys.argv[2], open(sys.argv[1]).read(), file=sys.stderr)
sys.exit(0 if ok else 1)
PY

# A JPEG goes through the system's libjpeg-turbo (the Depends above): a 4:2:0 colour file, as chest X-rays come.
# A gradient is no chest film, so it is answered only when asked for out of scope.
convert -size 224x224 gradient:navy-orange -sampling-factor 2x2 "$scratch/film.jpg"
status=0
env -i "$bin" classify --model cxr-pneumonia --allow-out-of-scope "$scratch/film.jpg" >"$scratch/jpeg.out" 2>/dev/null || status=$?
check "installed classify reads a JPEG (answered out of scope on request)" bash -c \
	"[ $status -eq 0 ] && [ \"\$(field '$scratch/jpeg.out' film.jpg status)\" = ok ] && [ \"\$(field '$scratch/jpeg.out' film.jpg out_of_scope)\" = true ]"

# A new user's chest film JPEG and CT PNG slice, without --model: the gate sends each to its model.
data=${TUMORTRACER_DATA:-$ROOT/../shared/data}
film=$data/chest-xray/test/NORMAL/IM-0001-0001.jpeg
slice="$data/chest-ct/test/adenocarcinoma/000108 (3).png"
if [ -f "$film" ] && [ -f "$slice" ]; then
	cp "$film" "$away/chest-film.jpeg"
	cp "$slice" "$away/ct-slice.png"
	status=0
	env -i "$bin" classify chest-film.jpeg ct-slice.png >"$scratch/routed.out" 2>"$scratch/routed.err" || status=$?
	echo "test-package: \$ env -i tumortracer classify chest-film.jpeg ct-slice.png (exit $status)"
	sed 's/^/    /' "$scratch/routed.out" "$scratch/routed.err"
	check "installed classify sends a chest film JPEG to cxr-pneumonia without --model" bash -c \
		"[ $status -eq 0 ] && [ \"\$(field '$scratch/routed.out' chest-film.jpeg model)\" = cxr-pneumonia ] && [ \"\$(field '$scratch/routed.out' chest-film.jpeg status)\" = ok ]"
	check "installed classify sends a chest CT PNG slice to ct-lung without --model" bash -c \
		"[ \"\$(field '$scratch/routed.out' ct-slice.png model)\" = ct-lung ] && [ \"\$(field '$scratch/routed.out' ct-slice.png status)\" = ok ]"
elif [ -n "${CI:-}" ]; then
	fail "the shared test data is missing ($film); CI always has it"
else
	echo "test-package: skip the chest film and CT slice routing: no shared data at $data (give TUMORTRACER_DATA)"
fi

# Without the packaged library the same command must fail: the success above did not come from elsewhere.
nolib=$scratch/nolib
cp -a "$root" "$nolib"
rm "$nolib/usr/lib/tumortracer/libonnxruntime.so.1"
status=0
env -i "$nolib/usr/bin/tumortracer" classify "$xray" >"$scratch/nolib.out" 2>&1 || status=$?
check "without /usr/lib/tumortracer/libonnxruntime.so.1 classify fails and says why" \
	bash -c "[ $status -ne 0 ] && grep -q 'ONNX Runtime' '$scratch/nolib.out'"

# No network: the same output, byte for byte.
netless=""
if unshare -n true 2>/dev/null; then
	netless="unshare -n"
elif unshare -rn true 2>/dev/null; then
	netless="unshare -rn"
fi
if [ -z "$netless" ]; then
	fail "cannot create a network namespace here (unshare -n and unshare -rn both refused)"
else
	status=0
	$netless env -i "$bin" classify "$xray" "$ct" >"$scratch/offline.out" 2>"$scratch/offline.err" || status=$?
	check "classify under '$netless' exits 0" test "$status" -eq 0
	check "classify under '$netless' prints exactly the same records" cmp -s "$scratch/classify.out" "$scratch/offline.out"
	check "'$netless' has no network interface but loopback" test "$($netless awk 'NR > 2 {print $1}' /proc/net/dev)" = "lo:"
fi

cd "$ROOT"
if [ "$failures" -gt 0 ]; then
	echo "test-package: $failures check(s) failed" >&2
	exit 1
fi
echo "test-package: all checks passed for $deb ($(stat -c %s "$deb") bytes)"
