#!/usr/bin/env bash
# Trains one model on a GPU machine from its data pack (training/gpu-pack/<id>, built here by `make gpu-pack`), and
# writes what comes back into $OUT: model.pt, weights.npz, train.json, seeds.json, run.tar, log.txt (+ cv.json for
# ct-lung). Run from the repository root:  bash training/gpu_run.sh cxr-pneumonia   (see training/GPU_RUN.md).
#
# The recipe is params.yaml's, unchanged; the GPU only buys several seeds side by side (valid keeps one) and, for
# ct-lung, the grouped cross-validation. The deadlines keep a call inside the sizes GPU_RUN.md promises: seeds
# projected to overrun are stopped (never the last one), so a slow machine returns fewer seeds, not nothing.
set -euo pipefail
MODEL=${1:?usage: gpu_run.sh cxr-pneumonia|ct-lung}
: "${OUT:?OUT must name the folder that comes back}"
cd "$(dirname "$0")"
export PYTHONUNBUFFERED=1
test -f "gpu-pack/$MODEL/pack.json" || { echo "gpu_run: gpu-pack/$MODEL is missing; carry training/gpu-pack/$MODEL" >&2; exit 2; }
{ nvidia-smi -L || true; python3 -c 'import torch, numpy, PIL, yaml; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "numpy", numpy.__version__, "pillow", PIL.__version__)'; } | tee "$OUT/log.txt"
case "$MODEL" in
  cxr-pneumonia) python3 seeds.py --model cxr-pneumonia --work gpu-pack/cxr-pneumonia --out "$OUT" --device cuda \
                   --seeds 1 2 3 4 5 6 --parallel 6 --threads 2 --deadline 300 ;;
  ct-lung)       python3 seeds.py --model ct-lung --work gpu-pack/ct-lung --out "$OUT" --device cuda \
                   --seeds 1 2 3 --parallel 3 --threads 2 --deadline 170 --cv --cv-deadline 150 ;;
  *) echo "gpu_run: unknown model $MODEL" >&2; exit 2 ;;
esac
ls -la "$OUT"
