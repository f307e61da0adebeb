"""Source-confound check: can a trivial classifier tell the classes apart from file and intensity statistics alone?

Usage: confound.py --model ID --work WORK_DIR --data DATA_ROOT [--out confound.json] [--checkpoint WORK_DIR]

For every kept file (WORK_DIR/{train,valid,test}_files.txt) it records what says "where the picture came from"
rather than "what the anatomy shows": file format, colour mode, width, height, aspect ratio, mean and spread of the
grey levels, and the share of near-black and near-white pixels. It prints the per-class summary and fits a
multinomial logistic regression (numpy, on standardised features) on train, scored on test: if that scores well,
the classes differ by source and a CNN can learn the source instead of the disease.

With --checkpoint it also probes the trained model (class "normal" only): it re-maps the grey levels of each test
image linearly to the mean and spread of the other classes' train images (and the cancer test images to the normal
train images') and reports how often the decision follows the grey levels rather than the anatomy.
"""

import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

import ingest
import metrics

FEATURES = ["png", "jpeg", "mode_L", "mode_RGB", "mode_RGBA", "width", "height", "aspect",
            "grey_mean", "grey_std", "dark_share", "bright_share"]


def features(path):
    """Return the FEATURES vector of one file."""
    with Image.open(path) as im:
        fmt, mode, (w, h) = im.format, im.mode, im.size
        im.load()
        from preprocess import load_grey  # local: keeps this module importable without the data
        g = load_grey(path).astype(np.float64)
    return [fmt == "PNG", fmt == "JPEG", mode == "L", mode == "RGB", mode == "RGBA", w, h, w / h,
            g.mean(), g.std(), (g < 10).mean(), (g > 245).mean()]


def fit_logreg(x, y, k, epochs=3000, lr=0.5, l2=1e-3):
    """Fit a multinomial logistic regression by gradient descent; returns (W, b)."""
    n, d = x.shape
    w = np.zeros((d, k))
    b = np.zeros(k)
    onehot = np.eye(k)[y]
    for _ in range(epochs):
        p = metrics.softmax(x @ w + b)
        g = (p - onehot) / n
        w -= lr * (x.T @ g + l2 * w)
        b -= lr * g.sum(axis=0)
    return w, b


def restyle(x_u8, mean, std):
    """Map each uint8 image linearly so its grey mean and spread become mean and std (clipped to 0..255)."""
    out = []
    for a in np.asarray(x_u8, dtype=np.float64):
        out.append(np.clip((a - a.mean()) / (a.std() + 1e-9) * std + mean, 0, 255))
    return np.rint(np.stack(out)).astype(np.uint8)


def intensity_probe(ckpt, work, target="normal"):
    """Return how the model's decisions on test change when only the grey-level statistics are swapped.

    ckpt is a loaded checkpoint (checkpoint.load). It reads the test split, so only evaluate.py calls it for a
    release (the card's figures), never a training decision.
    """
    import torch

    import checkpoint as ckpt_mod
    import preprocess

    ck = ckpt
    p = ck["params"]
    net = ckpt_mod.build_net(ck)
    k = [c["id"] for c in p["classes"]].index(target)
    tr, te = np.load(os.path.join(work, "train.npz")), np.load(os.path.join(work, "test.npz"))
    ref_t = tr["x"][tr["y"] == k].astype(np.float64)
    ref_o = tr["x"][tr["y"] != k].astype(np.float64)

    def decide(x):
        with torch.no_grad():
            lo = net(torch.from_numpy(preprocess.normalise(x, float(p["mean"]), float(p["std"]),
                                                           p["input"]["channels"])))[0].double().numpy()
        return lo.argmax(axis=1) == k  # a temperature or Platt scaling leaves the arg-max of 4 classes alone

    xt, xo = te["x"][te["y"] == k], te["x"][te["y"] != k]
    return {
        "target": target,
        "test_target_n": int(len(xt)),
        "test_other_n": int(len(xo)),
        "target_called_target": float(decide(xt).mean()) if len(xt) else None,
        "target_called_target_after_other_grey_levels": float(decide(restyle(xt, ref_o.mean(), ref_o.std())).mean())
        if len(xt) else None,
        "other_called_target": float(decide(xo).mean()),
        "other_called_target_after_target_grey_levels": float(decide(restyle(xo, ref_t.mean(), ref_t.std())).mean()),
        "train_grey_mean_std": {"target": [float(ref_t.mean()), float(ref_t.std())],
                                "other": [float(ref_o.mean()), float(ref_o.std())]},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="")
    ap.add_argument("--checkpoint", default="", help="also probe the model trained in this folder (reads test: see intensity_probe)")
    ap.add_argument("--params", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "params.yaml"))
    args = ap.parse_args(argv)
    params = ingest.load_params(args.params, args.model)
    class_ids = [c["id"] for c in params["classes"]]
    sets = {}
    for split in ("train", "valid", "test"):
        rows, labels = [], []
        with open(os.path.join(args.work, f"{split}_files.txt")) as f:
            for line in f:
                rel, cid = line.rstrip("\n").split("\t")
                rows.append(features(os.path.join(args.data, rel)))
                labels.append(class_ids.index(cid))
        sets[split] = (np.array(rows, dtype=np.float64), np.array(labels))

    report = {"features": FEATURES, "per_class": {}}
    xall = np.concatenate([sets[s][0] for s in sets])
    yall = np.concatenate([sets[s][1] for s in sets])
    for c, cid in enumerate(class_ids):
        m = xall[yall == c]
        report["per_class"][cid] = {name: [round(float(m[:, j].mean()), 4), round(float(m[:, j].std()), 4)]
                                    for j, name in enumerate(FEATURES)}
    mu, sd = sets["train"][0].mean(axis=0), sets["train"][0].std(axis=0) + 1e-9
    std = {s: ((sets[s][0] - mu) / sd, sets[s][1]) for s in sets}
    w, b = fit_logreg(std["train"][0], std["train"][1], len(class_ids))
    for s in ("train", "test"):
        prob = metrics.softmax(std[s][0] @ w + b)
        summ = metrics.summary(std[s][1], prob, class_ids)
        report[f"logreg_{s}"] = {"n": summ["n"], "accuracy": round(summ["accuracy"], 4),
                                 "macro_f1": round(summ["macro_f1"], 4), "confusion": summ["confusion"],
                                 "per_class_auc": {k2: round(v["auc"], 4) for k2, v in summ["per_class"].items()}}
    if args.checkpoint:
        import checkpoint

        report["intensity_probe"] = intensity_probe(checkpoint.load(args.checkpoint), args.work)
    print(json.dumps(report, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
