"""Source-confound check: can a trivial classifier tell the classes apart from file and intensity statistics alone?

Usage: confound.py --model ID --work WORK_DIR --data DATA_ROOT [--out confound.json]

For every kept file (WORK_DIR/{train,valid,test}_files.txt) it records what says "where the picture came from"
rather than "what the anatomy shows": file format, colour mode, width, height, aspect ratio, mean and spread of the
grey levels, and the share of near-black and near-white pixels. It prints the per-class summary and fits a
multinomial logistic regression (numpy, on standardised features) on train, scored on test: if that scores well,
the classes differ by source and a CNN can learn the source instead of the disease.
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="")
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
    print(json.dumps(report, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
