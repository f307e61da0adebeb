"""Bring a GPU run's files (training/gpu_run.sh's $OUT) into the ingest folder, ready for export and evaluate.

Usage: gpuimport.py --model ID --from DIR --work WORK_DIR [--mlruns DIR]

Checks before copying: the run trained on the same data (its data fingerprint equals WORK_DIR/ingest.json's), and
its weights load here (PyTorch 1.13: model.pt, else the portable weights.npz + train.json). A recipe whose source
digest differs from this checkout's is reported, not refused (the card records the digest the run used). Copies
model.pt, weights.npz, train.json, seeds.json and cv.json into WORK_DIR and the kept seed's MLflow run (run.tar)
into the ignored store training/mlruns, with relative artefact locations.
"""

import argparse
import json
import os
import shutil
import sys
import tarfile
import tempfile

import checkpoint
import tracking

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = ("model.pt", "weights.npz", "train.json", "seeds.json", "cv.json")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--from", dest="src", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--mlruns", default=os.path.join(HERE, "mlruns"))
    args = ap.parse_args(argv)

    tj = os.path.join(args.src, "train.json")
    if not os.path.exists(tj):
        print(f"gpu-import: {tj} is missing: the GPU run kept no seed (see its log.txt)", file=sys.stderr)
        return 1
    with open(tj) as f:
        info = json.load(f)
    if info.get("model") != args.model:
        print(f"gpu-import: {args.src} holds {info.get('model')}, not {args.model}", file=sys.stderr)
        return 1
    with open(os.path.join(args.work, "ingest.json")) as f:
        ing = json.load(f)
    mine, theirs = ing.get("fingerprint", {}).get("all"), (info.get("data_fingerprint") or {}).get("all")
    if mine != theirs:
        print(f"gpu-import: the GPU run trained on data {theirs}, this ingest folder holds {mine}; rebuild the "
              "pack from this ingest (make gpu-pack) and run again", file=sys.stderr)
        return 1
    try:
        ck = checkpoint.load(args.src)
        checkpoint.build_net(ck)
    except (ValueError, RuntimeError, KeyError) as e:
        print(f"gpu-import: the weights do not load here: {e}", file=sys.stderr)
        return 1
    if info.get("recipe_sha256") != tracking.recipe_digest():
        print("gpu-import: note: the run's recipe source differs from this checkout's (digest "
              f"{info.get('recipe_sha256', '?')[:12]} vs {tracking.recipe_digest()[:12]}); the card records the run's")
    for name in FILES:
        src = os.path.join(args.src, name)
        dst = os.path.join(args.work, name)
        if os.path.exists(src):
            shutil.copy(src, dst)
        elif os.path.exists(dst):
            os.remove(dst)  # a stale file from an earlier run must not be mistaken for this run's
    run_tar = os.path.join(args.src, "run.tar")
    if os.path.exists(run_tar):
        with tempfile.TemporaryDirectory() as tmp:
            with tarfile.open(run_tar) as tar:
                for member in tar.getmembers():
                    if member.name.startswith("/") or ".." in member.name.split("/"):
                        raise ValueError(f"run.tar: unsafe path {member.name}")
                tar.extractall(tmp)
            store = os.path.join(tmp, "mlruns")
            for exp in os.listdir(store):
                for run_id in os.listdir(os.path.join(store, exp)):
                    d = os.path.join(store, exp, run_id)
                    if os.path.isdir(d):
                        tracking.record(d, args.mlruns, args.model)
    print(json.dumps({"model": args.model, "seed": info["seed"], "best_epoch": info["best_epoch"],
                      "device": info["environment"].get("gpu", info["environment"].get("device")),
                      "train_seconds": info["train_seconds"], "run_id": info["run_id"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
