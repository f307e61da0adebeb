#!/usr/bin/env bash
# Times `tumortracer classify --device cuda` against `--device cpu` on the same images, on a machine with an NVIDIA
# GPU and ONNX Runtime's CUDA provider beside the library (README, "GPU add-on"). Self-contained: needs neither make
# nor the network, only the binary, its ONNX Runtime folder and bash/coreutils. It asks for out-of-scope answers
# (--allow-out-of-scope): the phantom and its renders are drawings, which the models would refuse after their run.
#
#   scripts/gpu-check.sh BINARY LIBDIR [IMAGES]
#
#   BINARY  a tumortracer binary, e.g. bin/tumortracer or /usr/bin/tumortracer
#   LIBDIR  the folder with libonnxruntime.so.1 and the provider files libonnxruntime_providers_shared.so and
#           libonnxruntime_providers_cuda.so, e.g. lib/ or /usr/lib/tumortracer
#   IMAGES  a folder of JPEG, PNG or DICOM files (e.g. chest X-ray JPEGs). Default: N_IMAGES (64) images made
#           here by the binary's own `render` verb at different windows from one scan: the synthetic phantom
#           installed beside BINARY, else one drawn by packaging/phantom (`go run`, offline), else the chest render
#           this checkout keeps as a test golden image.
#
# Environment: MODEL (default cxr-pneumonia; ct-lung draws a CT phantom), RUNS (3 per device, interleaved; the
# median is printed), BATCH (images per model run, default classify's), N_IMAGES. CUDA 13 and cuDNN 9 must be on
# the loader path (LD_LIBRARY_PATH), as for the add-on.
#
# Prints per device: the median wall time of the whole `classify` process, ms per image over the whole run, ms per
# image beyond a one-image run (start-up and session creation taken out), and the values of the CSV's device column.
# When CUDA cannot run it prints one line saying why and exits 1; 2 is a usage error.
set -euo pipefail

say() { echo "gpu-check: $*"; }
usage() {
	echo "usage: scripts/gpu-check.sh BINARY LIBDIR [IMAGES]" >&2
	exit 2
}
cannot() { # one line: why CUDA cannot run here
	echo "gpu-check: CUDA cannot run: $*" >&2
	exit 1
}
[ $# -ge 2 ] && [ $# -le 3 ] || usage
bin=$1
libdir=$2
images=${3:-}
MODEL=${MODEL:-cxr-pneumonia}
RUNS=${RUNS:-3}
N_IMAGES=${N_IMAGES:-64}
here=$(cd "$(dirname "$0")/.." && pwd)

[ -x "$bin" ] && [ -f "$bin" ] || { echo "gpu-check: $bin is not an executable file" >&2; usage; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -f "$libdir/libonnxruntime.so.1" ] || { echo "gpu-check: $libdir has no libonnxruntime.so.1" >&2; usage; }
libdir=$(cd "$libdir" && pwd)
ortlib=$libdir/libonnxruntime.so.1
case "$RUNS$N_IMAGES" in *[!0-9]*) echo "gpu-check: RUNS and N_IMAGES must be whole numbers" >&2; usage ;; esac
[ "$RUNS" -ge 1 ] && [ "$N_IMAGES" -ge 2 ] || { echo "gpu-check: want RUNS >= 1 and N_IMAGES >= 2" >&2; usage; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say "binary $bin ($("$bin" version 2>/dev/null | head -1))"

# --- can CUDA run? What can be told before drawing images ------------------------------------------------------
for f in libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
	[ -f "$libdir/$f" ] || cannot "$libdir has no $f (the GPU add-on puts it there: packaging/linux/gpu-addon.sh $libdir, or --from the npm tarball offline)"
done
if command -v nvidia-smi >/dev/null; then
	gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1) ||
		cannot "nvidia-smi fails: $gpu"
	say "GPU: $gpu"
else
	say "nvidia-smi not found; trying CUDA anyway"
fi
# What the provider needs and the loader cannot find (ONNX Runtime loads its own libraries first, so those are left
# out). Only used to explain a failed probe below: ldd may be absent or see the loader differently.
unresolved=$(ldd "$libdir/libonnxruntime_providers_cuda.so" 2>/dev/null |
	awk '/not found/ && $1 !~ /^libonnxruntime/ {print $1}' | tr '\n' ' ') || true

# --- images -------------------------------------------------------------------------------------------------
kind=cxr
[ "$MODEL" != ct-lung ] || kind=ct
if [ -n "$images" ]; then
	[ -d "$images" ] || { echo "gpu-check: $images is not a folder" >&2; usage; }
	mapfile -t files < <(find "$images" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.dcm' \) | sort)
	[ ${#files[@]} -ge 2 ] || { echo "gpu-check: $images holds fewer than two .jpg/.jpeg/.png/.dcm files" >&2; usage; }
	source="${#files[@]} files from $images"
else
	# The source scan, first found of: the phantom installed beside BINARY (.deb, tarball); one drawn by
	# packaging/phantom (standard library only, so `go run` fetches nothing); the chest render kept in this checkout
	# as a golden image of dicomio's tests. Its window (centre, width) in its own units.
	sample=$(dirname "$bin")/../share/tumortracer/samples/phantom-chest-$([ $kind = cxr ] && echo xray || echo ct).dcm
	golden=$here/dicomio/testdata/golden/$([ $kind = cxr ] && echo cr_mono1_chest_default || echo ct_small_default).png
	scan=$work/phantom.dcm
	read -r centre width <<<"$([ $kind = cxr ] && echo "2048 4096" || echo "-600 1500")"
	if [ -f "$sample" ]; then
		cp "$sample" "$scan"
		origin="the installed sample $(basename "$sample")"
	elif command -v go >/dev/null && [ -f "$here/packaging/phantom/main.go" ] &&
		(cd "$here" && GOFLAGS=-mod=mod GOPROXY=off go run ./packaging/phantom -kind "$kind" -o "$scan") 2>"$work/go.err"; then
		origin="a $kind phantom drawn by packaging/phantom"
	elif [ -f "$golden" ]; then
		scan=$golden
		centre=128 width=256
		origin="${golden#"$here"/}"
	else
		echo "gpu-check: no images: give an IMAGES folder (no installed sample beside $bin, no go to draw one)" >&2
		exit 2
	fi
	# Distinct inputs of the same anatomy: the binary renders the scan at N_IMAGES different windows.
	mkdir -p "$work/images"
	for i in $(seq 1 "$N_IMAGES"); do
		c=$((centre + (i - N_IMAGES / 2) * width / (4 * N_IMAGES)))
		w=$((width * (60 + 80 * i / N_IMAGES) / 100))
		"$bin" render --window "$c,$w" -o "$work/images/$(printf '%03d' "$i").png" "$scan" >/dev/null 2>"$work/render.err" ||
			{ echo "gpu-check: $bin render failed: $(head -1 "$work/render.err")" >&2; exit 2; }
	done
	files=("$work"/images/*.png)
	source="${#files[@]} PNGs rendered by tumortracer render from $origin"
fi

classify() { # DEVICE FILE... → JSON Lines on stdout, the process's stderr in $work/err
	local device=$1
	shift
	"$bin" classify --ort-lib "$ortlib" --model "$MODEL" --device "$device" --allow-out-of-scope --format json ${BATCH:+--batch "$BATCH"} \
		"$@" 2>"$work/err"
}

say "ONNX Runtime $ortlib; model $MODEL; $source; $RUNS run(s) per device, interleaved"

# The real test: one image through --device cuda, which fails with classify's own sentence when CUDA cannot run.
if ! classify cuda "${files[0]}" >"$work/probe.json"; then
	said=$(grep -v '^tumortracer classify: [0-9]* classified' "$work/err" | head -1)
	said=${said#tumortracer classify: }
	[ -z "$unresolved" ] || cannot "the CUDA provider needs ${unresolved% }, not found on the loader path (add the CUDA 13 and cuDNN 9 folders to LD_LIBRARY_PATH); classify said: $said"
	cannot "$said"
fi

# --- timing ---------------------------------------------------------------------------------------------------
now() { date +%s%N; }
# run DEVICE LABEL FILE...: one timed classify; appends the wall ns to $work/LABEL.ns and the device column's values
# to $work/LABEL.dev.
run() {
	local device=$1 label=$2
	shift 2
	local t0 t1
	t0=$(now)
	if ! classify "$device" "$@" >"$work/out.json"; then
		echo "gpu-check: classify --device $device failed: $(head -1 "$work/err")" >&2
		exit 1
	fi
	t1=$(now)
	echo $((t1 - t0)) >>"$work/$label.ns"
	sed -n 's/.*"device":"\([a-z]*\)".*/\1/p' "$work/out.json" >>"$work/$label.dev"
}
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

for _ in $(seq 1 "$RUNS"); do
	for device in cpu cuda; do
		run "$device" "$device-all" "${files[@]}"
		run "$device" "$device-one" "${files[0]}"
	done
done

n=${#files[@]}
printf '%-6s %6s %14s %18s %26s  %s\n' device images "wall_s(median)" "ms/image(whole)" "ms/image(beyond 1 image)" "device column (all runs)"
for device in cpu cuda; do
	all=$(median "$work/$device-all.ns")
	one=$(median "$work/$device-one.ns")
	column=$(sort "$work/$device-all.dev" | uniq -c | awk '{ printf "%s%s×%s", sep, $2, $1; sep = " " }')
	awk -v d="$device" -v n="$n" -v all="$all" -v one="$one" -v col="$column" 'BEGIN {
		printf "%-6s %6d %14.3f %18.2f %26.2f  %s\n", d, n, all / 1e9, all / 1e6 / n, (all - one) / 1e6 / (n - 1), col }'
done
if grep -qv '^cuda$' "$work/cuda-all.dev"; then
	say "some --device cuda records ran elsewhere (device column above); CUDA did not run them all"
	exit 1
fi
