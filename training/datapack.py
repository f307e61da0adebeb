"""The train/valid images as the training stage reads them, from the ingest folder or from a compact GPU data pack.

A GPU machine gets the repository and at most 64 MiB of carried files, and not ../shared/data. `make gpu-pack
MODEL=ID` therefore writes training/gpu-pack/<id>/ (git-ignored) from the ingest output:

  train.npz, valid.npz   either "x" (uint8 [N,H,W] at the input size, compressed) or, when the data set's files are
                         smaller than that (the 224x224 chest-xray JPEGs), "blob" + "offsets": the kept files' own
                         bytes, decoded and resized there by the same code as ingest (preprocess.py); plus "y",
                         "rel"
  files.tsv              the ingest decisions and hashes (grouped cross-validation reads its dHash column)
  ingest.json            counts and the data fingerprint
  pack.json              what the pack holds, for whom, and its size

load_split() reads either layout, so train.py takes --work (ingest folder) or --work PACK alike.
"""

import argparse
import io
import json
import os
import shutil
import sys

import numpy as np

import ingest
import preprocess
import tracking

HERE = os.path.dirname(os.path.abspath(__file__))


def load_split(folder, split, height=None, width=None):
    """Return (x uint8 [N,H,W], y int64 [N], rel [N]) of a split in an ingest folder or a pack.

    height/width are needed only for a pack holding encoded files (they are decoded and resized on load).
    """
    d = np.load(os.path.join(folder, f"{split}.npz"))
    y, rel = d["y"], d["rel"]
    if "x" in d.files:
        return d["x"], y, rel
    blob, offsets = d["blob"], d["offsets"]
    if height is None or width is None:
        meta = json.load(open(os.path.join(folder, "pack.json")))
        height, width = meta["input"]["height"], meta["input"]["width"]
    greys = [preprocess.load_grey(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes())) for i in range(len(y))]
    x = np.zeros((len(y), height, width), dtype=np.uint8)
    by_shape = {}
    for i, g in enumerate(greys):
        by_shape.setdefault(g.shape, []).append(i)
    for idx in by_shape.values():
        for k in range(0, len(idx), 256):  # stacks of 256: the port works in float64
            part = idx[k:k + 256]
            x[part] = preprocess.resize_linear(np.stack([greys[i] for i in part]), width, height)
    return x, y, rel


def build(work, data_root, out, params, budget_mib=56):
    """Write the pack for one model into out; returns pack.json's dict. Raises ValueError over the budget."""
    os.makedirs(out, exist_ok=True)
    h, w = params["input"]["height"], params["input"]["width"]
    layout = {}
    for split in ("train", "valid"):
        d = np.load(os.path.join(work, f"{split}.npz"))
        x, y, rel = d["x"], d["y"], d["rel"]
        raw = [open(os.path.join(data_root, r), "rb").read() for r in rel]
        encoded = sum(len(b) for b in raw)
        path = os.path.join(out, f"{split}.npz")
        if encoded < x.nbytes // 2:
            # The files are smaller than the cache: ship them as they are and decode there (bit-exact for PNG;
            # JPEG decoders may round 1 grey level apart, as between Python and Go).
            offsets = np.cumsum([0] + [len(b) for b in raw]).astype(np.int64)
            blob = np.frombuffer(b"".join(raw), dtype=np.uint8)
            np.savez(path, blob=blob, offsets=offsets, y=y, rel=rel)
            layout[split] = "encoded files"
        else:
            np.savez_compressed(path, x=x, y=y, rel=rel)
            layout[split] = "uint8 at the input size"
    for name in ("files.tsv", "ingest.json"):
        shutil.copy(os.path.join(work, name), os.path.join(out, name))
    meta = {"model": None, "input": {"height": h, "width": w}, "layout": layout,
            "bytes": {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}}
    meta["total_mib"] = round(sum(meta["bytes"].values()) / 2**20, 2)
    with open(os.path.join(out, "pack.json"), "w") as f:
        json.dump(meta, f, indent=1)
    if meta["total_mib"] > budget_mib:
        raise ValueError(f"the pack is {meta['total_mib']} MiB, over the {budget_mib} MiB that may travel with the code")
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description="Build the compact GPU data pack of one model from its ingest output.")
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True, help="the ingest folder (training/work/<id>)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--params", default=os.path.join(HERE, "params.yaml"))
    args = ap.parse_args(argv)
    params = ingest.load_params(args.params, args.model)
    ing = json.load(open(os.path.join(args.work, "ingest.json")))
    if ing.get("input") != {"height": params["input"]["height"], "width": params["input"]["width"]}:
        print(f"gpu-pack: {args.work} was ingested at {ing.get('input')}, params.yaml wants {params['input']}; "
              "re-run the ingest stage", file=sys.stderr)
        return 1
    try:
        meta = build(args.work, args.data, args.out, params)
    except ValueError as e:
        print(f"gpu-pack: {e}", file=sys.stderr)
        return 1
    meta["model"] = args.model
    meta["recipe_commit"] = tracking.git_commit(HERE)
    meta["recipe_sha256"] = tracking.recipe_digest()
    with open(os.path.join(args.out, "pack.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
