"""Grouped cross-validation over the de-duplicated train+valid pool: a second estimate beside the test figures.

Usage: cv.py --model ID --work DIR --out cv.json [--device cpu|cuda] [--folds K] [--parallel P] [--deadline S]

Groups are near-duplicate clusters: the ingest's dHash of each file (files.tsv), joined transitively at
params' cv.group_hamming, looser than the de-duplication threshold (after de-duplication no two kept files are
within that threshold, so grouping at it would put every file alone). Whole groups go to folds, greedily balancing
each fold's class counts. Each fold trains the recipe (train.fit) on the other folds with the same params and
keeps the last epoch's averaged weights (a fold has no valid images of its own to choose an epoch with), then
scores its held-out images. The pool includes the valid split, which shares patients with train (training/
README.md), so this estimate is optimistic in the same way valid is.

Reported: accuracy and macro-F1 of the 4-class answer, and (models with a normal class) the subtype macro-F1 over
the cancer classes on the cancer images, out-of-fold and per fold.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

import datapack
import dedup
import ingest
import metrics

HERE = os.path.dirname(os.path.abspath(__file__))


def load_pool(work, params):
    """Return (x, y, rel, dhash bool [N, bits]) of train+valid, hashes from the folder's files.tsv."""
    h, w = params["input"]["height"], params["input"]["width"]
    parts = [datapack.load_split(work, s, h, w) for s in ("train", "valid")]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    rel = np.concatenate([p[2] for p in parts])
    hashes = {}
    with open(os.path.join(work, "files.tsv")) as f:
        cols = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(cols, line.rstrip("\n").split("\t")))
            hashes[row["rel"]] = np.unpackbits(np.frombuffer(bytes.fromhex(row["dhash"]), dtype=np.uint8)).astype(bool)
    missing = [r for r in rel if r not in hashes]
    if missing:
        raise ValueError(f"files.tsv has no dHash for {len(missing)} files, e.g. {missing[0]}")
    return x, y, rel, np.stack([hashes[r] for r in rel])


def assign_folds(groups, y, k, folds, seed):
    """Put whole groups into folds: biggest groups first, each where its main class is rarest so far."""
    rng = np.random.default_rng(seed)
    order = sorted(rng.permutation(len(groups)).tolist(), key=lambda g: -len(groups[g]))
    counts = np.zeros((folds, k), dtype=np.int64)
    fold_of = np.zeros(len(y), dtype=np.int64)
    for g in order:
        members = groups[g]
        main = np.bincount(y[members], minlength=k).argmax()
        f = min(range(folds), key=lambda i: (counts[i, main], counts[i].sum(), i))
        fold_of[members] = f
        counts[f] += np.bincount(y[members], minlength=k)
    return fold_of


def fold_worker(args, params):
    """Train on every fold but one and write the held-out logits."""
    import torch

    import model as camnet
    import train

    pool = np.load(os.path.join(args.scratch, "pool.npz"))
    x, y, fold_of = pool["x"], pool["y"], pool["fold"]
    torch.set_num_threads(args.threads)
    tr, te = fold_of != args.fold, fold_of == args.fold
    seed = int(params["train"]["seed"])
    res = train.fit(params, x[tr], y[tr], x[:0], y[:0], args.device, seed, args.epochs or None, select=False,
                    log=lambda s: print(f"fold {args.fold}: {s}", flush=True))
    net = camnet.build(params).to(args.device)
    net.load_state_dict(res["state"])
    logits = train.predict_logits(net, x[te], float(params["mean"]), float(params["std"]),
                                  int(params["input"]["channels"]), args.device)
    np.savez(os.path.join(args.scratch, f"fold-{args.fold}.npz"), logits=logits, index=np.nonzero(te)[0],
             seconds=res["train_seconds"])
    return 0


def scores(y, pred, class_ids):
    """The CV figures of one set of decisions."""
    k = len(class_ids)
    cm = metrics.confusion(y, pred, k)
    _, _, _, f1 = metrics.per_class(cm)
    out = {"n": int(len(y)), "accuracy": float(np.mean(pred == y)), "macro_f1": float(f1.mean())}
    if "normal" in class_ids:
        subtypes = [i for i, c in enumerate(class_ids) if c != "normal"]
        out["subtype_macro_f1"] = metrics.subtype_macro_f1(y, pred, subtypes)
        out["n_cancer"] = int(np.isin(y, subtypes).sum())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True, help="the cv.json to write")
    ap.add_argument("--params", default=os.path.join(HERE, "params.yaml"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--folds", type=int, default=0, help="override params' cv.folds")
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=0, help="override params (a dry run)")
    ap.add_argument("--deadline", type=float, default=0)
    ap.add_argument("--scratch", default="")
    ap.add_argument("--fold", type=int, default=-1, help=argparse.SUPPRESS)  # worker mode
    args = ap.parse_args(argv)
    params = ingest.load_params(args.params, args.model)
    if args.fold >= 0:
        return fold_worker(args, params)

    import seeds  # the parallel runner

    cvp = params.get("cv", {"folds": 5, "group_hamming": params["ingest"]["near_dup_hamming"]})
    folds = args.folds or int(cvp["folds"])
    class_ids = [c["id"] for c in params["classes"]]
    args.scratch = args.scratch or tempfile.mkdtemp(prefix=f"tt-cv-{args.model}-")
    os.makedirs(args.scratch, exist_ok=True)
    t0 = time.time()
    x, y, rel, hashes = load_pool(args.work, params)
    groups = dedup.duplicate_groups(list(rel), hashes, int(cvp["group_hamming"]))
    fold_of = assign_folds(groups, y, len(class_ids), folds, int(params["train"]["seed"]))
    np.savez(os.path.join(args.scratch, "pool.npz"), x=x, y=y, fold=fold_of)
    cmds = []
    for f in range(folds):
        argv_f = [sys.executable, "cv.py", "--model", args.model, "--work", args.work, "--out", args.out,
                  "--params", args.params, "--device", args.device, "--threads", str(args.threads),
                  "--scratch", args.scratch, "--fold", str(f)]
        if args.epochs:
            argv_f += ["--epochs", str(args.epochs)]
        cmds.append((f"fold-{f}", argv_f, os.path.join(args.scratch, f"fold-{f}.log")))
    codes = seeds.run_parallel(cmds, args.parallel, args.deadline, lambda s: print(s, flush=True))

    logits = np.full((len(y), len(class_ids)), np.nan)
    per_fold, seconds = [], []
    for f in range(folds):
        path = os.path.join(args.scratch, f"fold-{f}.npz")
        if codes.get(f"fold-{f}") != 0 or not os.path.exists(path):
            continue
        d = np.load(path)
        logits[d["index"]] = d["logits"]
        seconds.append(float(d["seconds"]))
        per_fold.append({"fold": f, **scores(y[d["index"]], d["logits"].argmax(1), class_ids)})
    done = ~np.isnan(logits[:, 0])
    if not done.any():
        print("cv: no fold finished", file=sys.stderr)
        return 1
    pred = logits[done].argmax(1)
    out = {"model": args.model, "folds": folds, "folds_done": len(per_fold), "group_hamming": int(cvp["group_hamming"]),
           "groups": len(groups), "largest_group": max(len(g) for g in groups),
           "out_of_fold": scores(y[done], pred, class_ids), "per_fold": per_fold,
           "per_fold_mean": {k: float(np.mean([p[k] for p in per_fold])) for k in per_fold[0] if k != "fold"},
           "per_fold_sd": {k: float(np.std([p[k] for p in per_fold], ddof=1)) if len(per_fold) > 1 else 0.0
                           for k in per_fold[0] if k != "fold"},
           "train_seconds_per_fold": seconds, "wall_seconds": round(time.time() - t0, 1),
           "device": args.device, "epochs": args.epochs or params["train"]["epochs"],
           "note": "last-epoch averaged weights per fold; pool = de-duplicated train+valid"}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out["out_of_fold"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
