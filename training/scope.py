"""Scope stage: out-of-distribution statistics for one exported model, bound to its model.onnx by sha256.

Usage: scope.py --model ID --work WORK_DIR --data DATA_ROOT --out MODEL_DIR [--negatives LIST] [--test]

A model answers only images like the ones it was trained on. The classifiers' own confidence cannot tell
(out-of-scope images are *more* confident than real ones), while a Mahalanobis distance on the pooled features
can (Lee et al. 2018, "A simple unified framework for detecting out-of-distribution samples"). This stage

1. scores the model's train and valid lists (WORK_DIR/{train,valid}_files.txt from the ingest stage) with the
   application's Go engine (training/goscore -features), so the features are the ones the app computes;
2. fits on TRAIN the class means mu_k and one shared (tied) covariance: the pooled within-class covariance, shrunk
   towards a multiple of the identity by the Ledoit-Wolf formula (no tuning); P is its inverse. The fit takes every
   train image and --copies copies of it under the model's own training augmentation (params.yaml's augment
   section, training/augment.py: rotation, zoom in and out with a black border, translation, resampling, blur,
   exposure, noise - what the model was trained to answer), written under WORK_DIR/scope_augmented/ and scored by
   the same engine. Fitted on clean images alone, the statistics refused a third of the valid films zoomed out to
   0.88 with a black border (393 of 593 accepted) while their model still answered them; --copies 0 fits on the
   clean images alone. The valid images' perturbed copies (training/perturb.py's fixed set) are then measured
   against the threshold, never used to choose it;
3. scores d2(f) = min_k (f - mu_k)^T P (f - mu_k) and chooses the threshold on VALID only: the smallest d2 that
   accepts at least `accept` (default 99.5 %) of the valid images;
4. writes MODEL_DIR/scope.yaml (method, threshold and how it was chosen, the model's sha256, the stats file's
   sha256) and MODEL_DIR/scope.bin (the means and P; format below). inference.Model.LoadScope reads them and
   refuses statistics whose model_sha256 is not the model's.

With --negatives LIST (a goscore list of out-of-scope images: path<TAB>family) it also reports how many are
refused and the AUROC of d2 (in-scope valid vs negatives); with --test it adds the acceptance on the model's
de-duplicated test list (models/ID/test_files.txt) — a measurement for the card, never an input to the fit.

scope.bin, little-endian: the 8 bytes "TTSCOPE1", uint32 K (centres), uint32 C (feature width), K*C float32 means
(centre by centre), C*C float32 P (row-major, symmetric). Scores are computed in float64 from these float32 values
both here and in Go.
"""

import argparse
import datetime
import hashlib
import json
import os
import struct
import subprocess
import sys

import numpy as np
import yaml
from PIL import Image

from perturb import KINDS, perturb

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MAGIC = b"TTSCOPE1"
METHOD = "mahalanobis-tied"


def ledoit_wolf(xc):
    """Return (shrunk covariance, shrinkage) of centred rows xc [n, p]: (1-a) S + a (tr S / p) I, Ledoit-Wolf a."""
    n, p = xc.shape
    s = xc.T @ xc / n
    mu = np.trace(s) / p
    d2 = np.sum((s - mu * np.eye(p)) ** 2)
    if d2 <= 0:
        return s, 0.0
    # b2 = (1/n^2) sum_i ||x_i x_i^T - S||_F^2 with ||x x^T - S||^2 = |x|^4 - 2 x^T S x + ||S||^2.
    sq = np.sum(xc ** 2, axis=1)
    xsx = np.einsum("ij,jk,ik->i", xc, s, xc)
    b2 = np.sum(sq ** 2 - 2 * xsx + np.sum(s ** 2)) / n ** 2
    a = float(min(b2, d2) / d2)
    return (1 - a) * s + a * mu * np.eye(p), a


def fit(features, labels, k):
    """Fit class means [k, C] and the precision [C, C] of the shrunk pooled within-class covariance.

    Classes without a train example get no centre (their row is NaN and is left out when scoring)."""
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if f.ndim != 2 or len(f) != len(y) or len(f) < 2:
        raise ValueError("fit needs [n, C] features with one label each, n >= 2")
    means = np.full((k, f.shape[1]), np.nan)
    xc = np.empty_like(f)
    for c in range(k):
        sel = y == c
        if sel.any():
            means[c] = f[sel].mean(axis=0)
            xc[sel] = f[sel] - means[c]
    cov, shrink = ledoit_wolf(xc)
    prec = np.linalg.inv(cov)
    prec = (prec + prec.T) / 2
    return means.astype(np.float32), prec.astype(np.float32), shrink


def d2(features, means, prec):
    """Return (min over centres of the squared Mahalanobis distance, index of the nearest centre) per row."""
    f = np.asarray(features, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    p = np.asarray(prec, dtype=np.float64)
    ok = ~np.isnan(m).any(axis=1)
    best = np.full(len(f), np.inf)
    arg = np.full(len(f), -1)
    for c in np.flatnonzero(ok):
        diff = f - m[c]
        v = np.einsum("ij,jk,ik->i", diff, p, diff)
        better = v < best
        best[better], arg[better] = v[better], c
    return best, arg


def choose_threshold(valid_d2, accept):
    """Return a threshold accepting at least the share `accept` of valid (d2 <= threshold is in scope): midway
    between the last valid distance that must be accepted and the next one, or, when every valid image must be
    accepted, just above the largest (by 1e-6 relative), so that the float rounding of another implementation
    (Go's) cannot refuse the image the threshold was placed at."""
    v = np.sort(np.asarray(valid_d2, dtype=np.float64))
    if len(v) == 0:
        raise ValueError("the valid split is empty")
    need = max(int(np.ceil(accept * len(v) - 1e-9)), 1)
    if need < len(v) and v[need] > v[need - 1]:
        return float((v[need - 1] + v[need]) / 2)
    return float(v[need - 1] * (1 + 1e-6) + 1e-9)


def auroc(pos, neg):
    """Mann-Whitney AUROC that a negative scores higher than a positive (ties count half)."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sv = allv[order]
    i = 0
    while i < len(sv):
        j = i
        while j + 1 < len(sv) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    rneg = ranks[len(pos):].sum()
    return float((rneg - len(neg) * (len(neg) + 1) / 2) / (len(pos) * len(neg)))


def write_stats(path, means, prec):
    """Write scope.bin (see the module doc) and return its sha256."""
    means = np.ascontiguousarray(means, dtype="<f4")
    prec = np.ascontiguousarray(prec, dtype="<f4")
    k, c = means.shape
    if prec.shape != (c, c):
        raise ValueError(f"precision {prec.shape} does not match {c} features")
    data = MAGIC + struct.pack("<II", k, c) + means.tobytes() + prec.tobytes()
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def read_stats(path):
    """Read scope.bin back into (means [K, C], precision [C, C]) float32 arrays."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC or len(data) < 16:
        raise ValueError(f"{path} is not a scope statistics file")
    k, c = struct.unpack("<II", data[8:16])
    want = 16 + 4 * (k * c + c * c)
    if len(data) != want:
        raise ValueError(f"{path} holds {len(data)} bytes, want {want} for {k} centres of {c} features")
    means = np.frombuffer(data, dtype="<f4", count=k * c, offset=16).reshape(k, c)
    prec = np.frombuffer(data, dtype="<f4", count=c * c, offset=16 + 4 * k * c).reshape(c, c)
    return means, prec


def sha256_file(path):
    """Return the hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_scope(out_dir, manifest, means, prec, shrink, threshold, rule, extra=None):
    """Write scope.yaml and scope.bin into out_dir for the model described by manifest (a model.yaml dict)."""
    stats_sha = write_stats(os.path.join(out_dir, "scope.bin"), means, prec)
    nan_rows = np.isnan(means).any(axis=1)
    spec = {
        "method": METHOD,
        "model_id": manifest["id"],
        "model_version": manifest["version"],
        "model_sha256": manifest["sha256"],
        "features": manifest["outputs"]["features"],
        "dim": int(means.shape[1]),
        "centres": [c["id"] if not bad else None for c, bad in zip(manifest["classes"], nan_rows)],
        "stats": "scope.bin",
        "stats_sha256": stats_sha,
        "shrinkage": round(float(shrink), 6),
        "threshold": float(threshold),
        "threshold_rule": rule,
    }
    if extra:
        spec.update(extra)
    with open(os.path.join(out_dir, "scope.yaml"), "w") as f:
        f.write(f"# Out-of-scope statistics written by training/scope.py on {datetime.date.today().isoformat()}; "
                f"regenerate with `make scope MODEL={manifest['id']}`.\n"
                f"# d2 = min over centres k of (f - mu_k)^T P (f - mu_k) on the pooled features f; d2 > threshold "
                f"is out of scope.\n")
        yaml.safe_dump(spec, f, sort_keys=False, allow_unicode=True, width=120)
    return spec


# --- scoring through the Go engine ----------------------------------------------------------------------------

def goscore(models_dir, model_id, data_root, list_path, *flags):
    """Run training/goscore (the application's engine) on a list and return its JSON output; flags are extra
    goscore flags (-features, -scope, -timing N)."""
    cmd = ["go", "run", "./training/goscore", "-models", os.path.abspath(models_dir), "-id", model_id,
           "-data", os.path.abspath(data_root), "-list", os.path.abspath(list_path), "-threads", "1", *flags]
    lib = os.environ.get("TUMORTRACER_ORT_LIB") or os.path.join(REPO, "lib", "libonnxruntime.so.1")
    if os.path.exists(lib):
        cmd += ["-ort-lib", lib]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"go scoring failed: {res.stderr.strip()}")
    return json.loads(res.stdout)


def go_features(models_dir, model_id, data_root, list_path):
    """Return (rels, logits [n, K], features [n, C]) for a goscore list, computed by the application's engine."""
    out = goscore(models_dir, model_id, data_root, list_path, "-features")
    return out["rel"], np.array(out["logits"], dtype=np.float64), np.array(out["features"], dtype=np.float64)


def go_scope(model_dir, data_root, list_path):
    """Return (d2, in_scope) of a list as the application computes them: inference.Model.LoadScope and
    Scope.Score on the Go engine's features (training/goscore -scope)."""
    model_dir = os.path.abspath(model_dir)
    out = goscore(os.path.dirname(model_dir), os.path.basename(model_dir), data_root, list_path, "-scope")["scope"]
    return np.array(out["d2"], dtype=np.float64), np.array(out["in_scope"], dtype=bool)


def read_list(path, class_ids=None):
    """Read a "path<TAB>label" list into (paths, labels); labels become class indices when class_ids is given."""
    rels, labels = [], []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("app_path\t"):  # the header of the gate's heldout.tsv
                continue
            rel, lab = line.split("\t")[:2]
            rels.append(rel)
            labels.append(class_ids.index(lab) if class_ids is not None else lab)
    return rels, labels


def copies_list(work, folder, data_root, rels, labels, names, make):
    """Write, for every listed image i (grey, as the file's luma), the copies make(grey, i) returns - one per name
    in names - under work/<folder>/ as PNG, once, and return the goscore list of them (absolute paths) with each
    copy's label and name. A copy is named by its index, its file's path and its name, on which alone it depends,
    so copies written for another list are never taken."""
    out_list = os.path.join(work, f"{folder}.txt")
    paths, out_labels, out_names = [], [], []
    for i, (rel, lab) in enumerate(zip(rels, labels)):
        tag = hashlib.sha256(rel.encode()).hexdigest()[:12]
        files = [os.path.abspath(os.path.join(work, folder, f"{i:05d}-{tag}-{n}.png")) for n in names]
        if not all(os.path.exists(p) for p in files):
            with Image.open(os.path.join(data_root, rel)) as im:
                grey = np.asarray(im.convert("L"))
            os.makedirs(os.path.dirname(files[0]), exist_ok=True)
            for p, img in zip(files, make(grey, i)):
                Image.fromarray(img).save(p, compress_level=1)
        paths += files
        out_labels += [lab] * len(names)
        out_names += list(names)
    with open(out_list, "w") as f:
        f.writelines(f"{p}\t{lab}\n" for p, lab in zip(paths, out_labels))
    return out_list, out_labels, out_names


def perturbed_list(work, data_root, rels, labels):
    """copies_list of perturb.py's fixed copies, one per kind (work/scope_perturbed/)."""
    return copies_list(work, "scope_perturbed", data_root, rels, labels, KINDS,
                       lambda grey, i: [perturb(grey, k, i) for k in KINDS])


def augmented_list(work, data_root, rels, labels, aug, copies, seed=0):
    """copies_list of `copies` copies under the training augmentation aug (params.yaml's augment section; work/
    scope_augmented/). Image i's draws come from a generator seeded by (seed, i), so a copy depends on nothing else."""
    import torch

    from augment import augment

    def make(grey, i):
        x = torch.from_numpy(grey.astype(np.float32) / 255.0).view(1, 1, *grey.shape)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + i)
        return [np.rint(augment(x, aug, gen)[0, 0].numpy() * 255.0).astype(np.uint8) for _ in range(copies)]

    return copies_list(work, "scope_augmented", data_root, rels, labels, [str(c) for c in range(copies)], make)


def score_list(model_dir, data_root, list_path, means, prec):
    """Return (rels, d2) of a list scored through the Go engine."""
    rels, _, feats = go_features(os.path.dirname(model_dir), os.path.basename(model_dir), data_root, list_path)
    return rels, d2(feats, means, prec)[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model id (for messages)")
    ap.add_argument("--work", required=True, help="work folder with train_files.txt and valid_files.txt")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True, help="model folder with model.yaml and model.onnx")
    ap.add_argument("--accept", type=float, default=0.995, help="share of in-scope valid images to accept")
    ap.add_argument("--negatives", default="", help="list of out-of-scope images (absolute path<TAB>family)")
    ap.add_argument("--test", action="store_true", help="also measure acceptance on the model's test_files.txt")
    ap.add_argument("--copies", type=int, default=6,
                    help="augmented copies of every train image in the fit (0: the clean images alone)")
    ap.add_argument("--params", default=os.path.join(HERE, "params.yaml"), help="params.yaml (the augment section)")
    args = ap.parse_args(argv)

    model_dir = os.path.abspath(args.out)
    with open(os.path.join(model_dir, "model.yaml")) as f:
        man = yaml.safe_load(f)
    if not man.get("outputs", {}).get("features"):
        print(f"scope: {args.model}'s model.yaml declares no outputs.features; export the pooled features first",
              file=sys.stderr)
        return 1
    sha = sha256_file(os.path.join(model_dir, "model.onnx"))
    if sha != man["sha256"]:
        print(f"scope: model.onnx sha256 {sha} is not the card's {man['sha256']}", file=sys.stderr)
        return 1
    class_ids = [c["id"] for c in man["classes"]]
    lists = {s: os.path.join(args.work, f"{s}_files.txt") for s in ("train", "valid")}
    for s, p in lists.items():
        if not os.path.exists(p):
            print(f"scope: {p} is missing; run the ingest stage first", file=sys.stderr)
            return 1

    models_dir, mid = os.path.dirname(model_dir), os.path.basename(model_dir)
    tr_rels, tr_y = read_list(lists["train"], class_ids)
    _, _, ftr = go_features(models_dir, mid, args.data, lists["train"])
    fit_f, fit_y = ftr, list(tr_y)
    if args.copies > 0:
        with open(args.params) as f:
            aug = yaml.safe_load(f)[man["id"]]["augment"]
        aug_list, aug_y, _ = augmented_list(args.work, args.data, tr_rels, [class_ids[y] for y in tr_y], aug,
                                            args.copies)
        _, _, faug = go_features(models_dir, mid, "/", aug_list)
        fit_f = np.concatenate([ftr, faug])
        fit_y += [class_ids.index(lab) for lab in aug_y]
    means, prec, shrink = fit(fit_f, fit_y, len(class_ids))
    dtr = d2(ftr, means, prec)[0]
    va_rels, va_y = read_list(lists["valid"], class_ids)
    _, _, fva = go_features(models_dir, mid, args.data, lists["valid"])
    dva = d2(fva, means, prec)[0]
    threshold = choose_threshold(dva, args.accept)
    rule = (f"accepts at least {args.accept * 100:g} % of the valid split ({int((dva <= threshold).sum())} of "
            f"{len(dva)}): midway between the last accepted and the first refused valid distance (just above the "
            f"largest when all are accepted); chosen on valid only")
    pct = lambda v, q: round(float(np.percentile(v, q)), 3)  # noqa: E731
    extra = {
        "fit": {"split": "train", "n": len(ftr), "features_from": "the application's Go engine (training/goscore)",
                "augmented_copies": ({"per_image": args.copies, "n": len(fit_f) - len(ftr),
                                      "from": "the model's training augmentation (params.yaml augment, training/augment.py)"}
                                     if args.copies > 0 else "none"),
                "d2_median": pct(dtr, 50), "d2_p99": pct(dtr, 99)},
        "valid": {"n": len(dva), "accepted": int((dva <= threshold).sum()), "d2_median": pct(dva, 50),
                  "d2_max": round(float(dva.max()), 3)},
    }
    # The valid images' perturbed copies: measured after the threshold was fixed on the clean ones.
    vp_list, _, vp_kinds = perturbed_list(args.work, args.data, va_rels, [class_ids[y] for y in va_y])
    _, _, fvp = go_features(models_dir, mid, "/", vp_list)
    dvp, vp_kinds = d2(fvp, means, prec)[0], np.array(vp_kinds)
    extra["valid_perturbed"] = {
        k: {"n": int((vp_kinds == k).sum()), "accepted": int((dvp[vp_kinds == k] <= threshold).sum())} for k in KINDS}
    extra["valid_perturbed"]["note"] = "each valid image's copies (training/perturb.py); measured, not used to choose"
    report = {"model": args.model, "threshold": threshold, "shrinkage": shrink, "n_train": len(ftr),
              "n_fit": len(fit_f),
              "n_valid": len(dva), "train_d2_median": float(np.median(dtr)), "valid_d2_median": float(np.median(dva))}
    dte = None
    if args.test:
        test_list = os.path.join(model_dir, "test_files.txt")
        _, dte = score_list(model_dir, args.data, test_list, means, prec)
        extra["test"] = {"n": len(dte), "accepted": int((dte <= threshold).sum()),
                         "acceptance": round(float((dte <= threshold).mean()), 4),
                         "note": "measured after the threshold was fixed; never used to choose it"}
        report["test_acceptance"] = float((dte <= threshold).mean())
    if args.negatives:
        neg_rels, fams = read_list(args.negatives)
        neg_list = os.path.join(args.work, "scope_negatives.txt")
        with open(neg_list, "w") as f:
            f.writelines(f"{r}\t{fam}\n" for r, fam in zip(neg_rels, fams))
        _, dneg = score_list(model_dir, "/", neg_list, means, prec)
        fams = np.array(fams)
        per = {}
        for fam in sorted(set(fams)):
            sel = fams == fam
            per[str(fam)] = {"n": int(sel.sum()), "refused": int((dneg[sel] > threshold).sum()),
                             "auroc_vs_valid": round(auroc(dva, dneg[sel]), 4)}
            if dte is not None:
                per[str(fam)]["auroc_vs_test"] = round(auroc(dte, dneg[sel]), 4)
        extra["negatives"] = {"list": os.path.basename(args.negatives), "n": len(dneg),
                              "refused": int((dneg > threshold).sum()),
                              "auroc_vs_valid": round(auroc(dva, dneg), 4), "per_family": per}
        report["negatives_auroc"] = auroc(dva, dneg)
        if dte is not None:
            extra["negatives"]["auroc_vs_test"] = round(auroc(dte, dneg), 4)
            report["negatives_auroc_vs_test"] = auroc(dte, dneg)
        report["negatives_refused"] = float((dneg > threshold).mean())
        with open(os.path.join(args.work, "scope_negatives.json"), "w") as f:
            json.dump({"rel": neg_rels, "family": fams.tolist(), "d2": dneg.tolist(), "valid_d2": dva.tolist()}, f)
    write_scope(model_dir, man, means, prec, shrink, threshold, rule, extra)
    # The application must read these files back and score as this fit did: check it on the valid split.
    go_d2, go_in = go_scope(model_dir, args.data, lists["valid"])
    rel_diff = float(np.max(np.abs(go_d2 - dva) / np.maximum(1.0, np.abs(dva))))
    report["go_valid_d2_max_rel_diff"] = rel_diff
    if rel_diff > 1e-4 or np.any(go_in != (dva <= threshold)):  # the threshold lies between valid distances
        for name in ("scope.yaml", "scope.bin"):
            os.remove(os.path.join(model_dir, name))
        print(f"scope: the Go scorer disagrees with the fit (max relative d2 difference {rel_diff:.2e}); "
              f"statistics removed", file=sys.stderr)
        return 1
    with open(os.path.join(args.work, "scope.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
