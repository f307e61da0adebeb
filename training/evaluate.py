"""Evaluate stage: score a release on the de-duplicated test list and write its model card. The only test reader.

Usage: evaluate.py --model ID --work WORK_DIR --data DATA_ROOT --out MODEL_DIR [--scorer go|torch]
                   [--previous auto|none|DIR] [--record]

Re-reads every file named in WORK_DIR/test_files.txt from DATA_ROOT (decode, grey, Linear resize: the shared
preprocessing contract, not the ingest cache) and scores it with the exported MODEL_DIR/model.onnx through the
application's Go engine (training/goscore), so the card says what the application does. It applies the calibration
and threshold chosen on valid and writes MODEL_DIR/{model.yaml, test_files.txt, roc.png, confusion.png,
reliability.png}. On the card, beside the usual figures:

  intervals        95 % bootstrap intervals (2000 resamples within each class) of every headline figure
  ece              for the decision the application makes: the confidence it shows (the decided class's
                   probability, after the threshold for a binary model) against how often that decision is right;
                   reliability.png draws it for test and valid
  at_seed_recall   (binary) accuracy, precision, specificity where test sensitivity reaches the seed model's recall:
                   a like-for-like comparison, read off test, never used by the application
  subtype          (ct-lung) macro-F1 over the cancer classes on the cancer slices, "normal" answers counting wrong
  robustness       points of accuracy lost on perturbed copies (perturb.py) of the valid and test files
  previous         the previous release (from git, --previous auto) scored here on the same list: its figures, the
                   paired bootstrap interval of each difference and whether its figure lies inside the new interval
  cross_validation the grouped CV of cv.py (WORK_DIR/cv.json), when it was run
  test_looks       every time test was looked at during development (cards.yaml)

With --record the train run and this evaluate run are copied into the committed record store training/runs/.
"""

import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from PIL import Image  # noqa: E402

import checkpoint  # noqa: E402
import confound  # noqa: E402
import ingest  # noqa: E402
import metrics  # noqa: E402
import perturb  # noqa: E402
import preprocess  # noqa: E402
import tracking  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
N_BOOT = 2000


def sha256_file(path):
    """Return the hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_list(path, class_ids):
    """Read a "relative/path<TAB>class-id" list into (paths, labels)."""
    rels, labels = [], []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            rel, cid = line.split("\t")
            if cid not in class_ids:
                raise ValueError(f"{path}: class {cid!r} is not one of {class_ids}")
            rels.append(rel)
            labels.append(class_ids.index(cid))
    return rels, np.array(labels, dtype=np.int64)


def write_list(path, rels, y, class_ids):
    with open(path, "w") as f:
        for r, c in zip(rels, y):
            f.write(f"{r}\t{class_ids[c]}\n")


def score_files(net, params, data_root, rels, batch=64):
    """Return the PyTorch logits of the files (relative to data_root) after the contract's preprocessing."""
    h, w = params["input"]["height"], params["input"]["width"]
    mean, std, ch = float(params["mean"]), float(params["std"]), int(params["input"]["channels"])
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(rels), batch):
            grey = np.stack([preprocess.preprocess_file(os.path.join(data_root, r), w, h) for r in rels[i:i + batch]])
            x = torch.from_numpy(preprocess.normalise(grey, mean, std, ch))
            out.append(net(x)[0].double().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(params["classes"])))


def go_scores(models_dir, model_id, data_root, list_path, timing=0, threads=2, features=0):
    """Score a file list with the application's Go inference engine; returns (rels, logits, timing, features).

    timing and features are None unless asked for (goscore -timing, -features-check).
    """
    cmd = ["go", "run", "./training/goscore", "-models", os.path.abspath(models_dir), "-id", model_id,
           "-data", os.path.abspath(data_root), "-list", os.path.abspath(list_path), "-threads", str(threads)]
    if timing:
        cmd += ["-timing", str(timing)]
    if features:
        cmd += ["-features-check", str(features)]
    lib = os.environ.get("TUMORTRACER_ORT_LIB") or os.path.join(REPO, "lib", "libonnxruntime.so.1")
    if os.path.exists(lib):
        cmd += ["-ort-lib", lib]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"go scoring failed: {res.stderr.strip()}")
    out = json.loads(res.stdout)
    return out["rel"], np.array(out["logits"], dtype=np.float64), out.get("timing"), out.get("features_check")


def features_check(raw, net, engine_logits):
    """Check on the ONNX graph's own outputs that logits = W features + b (W, b: the exported class map).

    raw is goscore's {"logits", "features"} for the first images; engine_logits the engine's logits of the same
    images. Returns the largest absolute deviations, which the card records.
    """
    w = net.classifier.weight.detach().double().numpy()[:, :, 0, 0]
    b = net.classifier.bias.detach().double().numpy()
    f = np.array(raw["features"], dtype=np.float64)
    z = np.array(raw["logits"], dtype=np.float64)
    return {"images": int(len(f)), "features": int(f.shape[1]),
            "max_abs_logits_minus_w_features_b": float(np.abs(f @ w.T + b - z).max()),
            "max_abs_graph_minus_engine_logits": float(np.abs(z - engine_logits[:len(z)]).max())}


def write_perturbed(data_root, rels, scratch, kinds=perturb.KINDS):
    """Write each file's perturbed copies as grey PNGs under scratch/<kind>/; returns {kind: relative paths}."""
    out = {k: [] for k in kinds}
    for i, rel in enumerate(rels):
        grey = preprocess.load_grey(os.path.join(data_root, rel))
        for k in kinds:
            r = os.path.join(k, os.path.splitext(rel)[0] + ".png")
            os.makedirs(os.path.dirname(os.path.join(scratch, r)), exist_ok=True)
            Image.fromarray(perturb.perturb(grey, k, i), "L").save(os.path.join(scratch, r))
            out[k].append(r)
    return out


def figures(y, prob, class_ids, pos, threshold):
    """The card's figures of one set of calibrated probabilities: summary, precision, decision ECE, reliability."""
    figs = metrics.summary(y, prob, class_ids, positive=pos, threshold=threshold)
    dec = metrics.decide(prob, pos, threshold)
    figs["ece"], figs["reliability"] = metrics.decision_ece(y, prob, dec)
    if pos is not None:
        tp = int(np.sum((dec == pos) & (y == pos)))
        figs["precision"] = tp / max(int(np.sum(dec == pos)), 1)
        figs["ece_p_positive"] = binary_ece(y == pos, prob[:, pos])
    else:
        cancer = [i for i, c in enumerate(class_ids) if c != "normal"]
        if len(cancer) < len(class_ids):
            figs["subtype_macro_f1"] = metrics.subtype_macro_f1(y, dec, cancer)
    figs["decision"] = dec
    return figs


def binary_ece(is_pos, p_pos, bins=10):
    """ECE of p(positive) itself: per bin, |mean p(positive) - share of positives|, weighted by the bin's size."""
    is_pos = np.asarray(is_pos, dtype=np.float64)
    p = np.asarray(p_pos, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for b in range(bins):
        m = (p > edges[b]) & (p <= edges[b + 1]) if b > 0 else (p >= edges[0]) & (p <= edges[1])
        if m.any():
            total += m.mean() * abs(is_pos[m].mean() - p[m].mean())
    return float(total)


HEADLINE = ("accuracy", "macro_f1", "auc", "sensitivity", "specificity", "precision", "ece", "subtype_macro_f1")


def bootstrap(y, prob, class_ids, pos, threshold, prev_prob=None, prev_threshold=None, seed=0):
    """Intervals of the headline figures, and (with a previous model) of the paired differences new - previous.

    Every statistic is computed on the same resamples: one pass computes all figures of both models per resample.
    """
    rng = np.random.default_rng(seed)
    groups = [np.nonzero(y == c)[0] for c in np.unique(y)]
    new_vals, diff_vals, prev_vals = {}, {}, {}
    for _ in range(N_BOOT):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        try:
            fn = figures(y[idx], prob[idx], class_ids, pos, threshold)
            fp = figures(y[idx], prev_prob[idx], class_ids, pos, prev_threshold) if prev_prob is not None else None
        except ValueError:
            continue
        for k in HEADLINE:
            if k in fn:
                new_vals.setdefault(k, []).append(fn[k])
                if fp is not None and k in fp:
                    prev_vals.setdefault(k, []).append(fp[k])
                    diff_vals.setdefault(k, []).append(fn[k] - fp[k])
    q = lambda v: [round(float(np.nanquantile(v, 0.025)), 4), round(float(np.nanquantile(v, 0.975)), 4)]  # noqa
    return ({k: q(v) for k, v in new_vals.items()}, {k: q(v) for k, v in prev_vals.items()},
            {k: q(v) for k, v in diff_vals.items()})


def plot_roc(y, prob, class_names, positive, op, path, seed_point=None):
    """Save the ROC curve(s): binary with the operating point (and the seed's), else one-vs-rest per class."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4), dpi=120)
    classes = [positive] if positive is not None else range(len(class_names))
    for c in classes:
        try:
            fpr, tpr, _ = metrics.roc_curve(y == c, prob[:, c])
        except ValueError:
            continue
        ax.plot(fpr, tpr, lw=1.6, label=f"{class_names[c]} (AUC {metrics.auc(y == c, prob[:, c]):.3f})")
    if op is not None:
        ax.plot([1 - op[1]], [op[0]], "o", color="black", label=f"threshold {op[2]:.3f}")
    if seed_point is not None:
        ax.plot([1 - seed_point[1]], [seed_point[0]], "x", color="red", label="at the seed's recall")
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=1)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(f"ROC on de-duplicated test (n={len(y)})", fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_confusion(cm, class_names, path):
    """Save the confusion matrix (rows = truth, columns = prediction) with counts."""
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(cm), 1.3 + 1.0 * len(cm)), dpi=120)
    ax.imshow(cm, cmap="Blues")
    for i in range(len(cm)):
        for j in range(len(cm)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=9)
    short = [n if len(n) <= 12 else n[:11] + "." for n in class_names]
    ax.set_xticks(range(len(cm)))
    ax.set_xticklabels(short, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(cm)))
    ax.set_yticklabels(short, fontsize=8)
    ax.set_xlabel("prediction")
    ax.set_ylabel("truth")
    ax.set_title(f"Confusion, de-duplicated test (n={int(cm.sum())})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_reliability(tables, path, what):
    """Save the reliability diagram: per confidence bin, how often the shown decision was right (test and valid)."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4), dpi=120)
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=1, label="perfect calibration")
    styles = {"test": ("o-", "tab:blue"), "valid": ("s--", "tab:orange")}
    for name, (table, ece, n) in tables.items():
        pts = [(r[3], r[4], r[2]) for r in table if r[2]]
        if not pts:
            continue
        conf, acc, cnt = zip(*pts)
        fmt, col = styles.get(name, ("^-", "tab:green"))
        ax.plot(conf, acc, fmt, color=col, lw=1.4, ms=4, label=f"{name} (n={n}, ECE {ece:.3f})")
        if name == "test":
            for c, a, k in pts:
                ax.annotate(str(k), (c, a), textcoords="offset points", xytext=(3, -9), fontsize=6, color=col)
    ax.set_xlabel(f"confidence shown ({what})")
    ax.set_ylabel("share of decisions that were right")
    ax.set_title("Reliability of the application's decision (10 bins)", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def removed_text(ing):
    """Describe, with counts, what the ingest stage removed and why."""
    r = ing["removed"]
    before = sum(sum(v.values()) for v in ing["files_before"].values())
    after = sum(sum(v.values()) for v in ing["files_after"].values())
    text = (f"{before} files in, {after} kept. Exact duplicates (identical decoded grey pixels) and near duplicates "
            f"({ing['dhash_bits']}-bit dHash, Hamming <= {ing['near_dup_hamming']}) were grouped first: "
            f"{r['cross-class']} files in groups spanning two classes dropped (ambiguous label); "
            f"{r['leak-from-train']} valid/test files duplicating a train file and {r['leak-from-valid']} test files "
            f"duplicating a valid file removed; {r['within-split']} repeats within a split collapsed to one.")
    if ing.get("unreadable"):
        text += f" {len(ing['unreadable'])} unreadable files skipped."
    if ing.get("valid_carved_from_train"):
        text += (f" No valid split ships with the data: {ing['valid_carved_from_train']} train files (a stratified "
                 f"share of patients, by the patient id in the file name) became valid.")
    return text


def previous_release(model_id, version, dest):
    """Extract from git the newest committed models/<id>/ whose version differs from version; returns its folder.

    Returns None when git has no such release (a first version, or no git).
    """
    try:
        log = subprocess.run(["git", "log", "--format=%H", "--", f"models/{model_id}/model.yaml"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    for commit in log:
        show = lambda name: subprocess.run(["git", "show", f"{commit}:models/{model_id}/{name}"], cwd=REPO,  # noqa
                                           capture_output=True)
        card = show("model.yaml")
        if card.returncode != 0:
            continue
        m = yaml.safe_load(card.stdout)
        if str(m.get("version")) == str(version):
            continue
        folder = os.path.join(dest, model_id)
        os.makedirs(folder, exist_ok=True)
        for name in ("model.yaml", "model.onnx"):
            data = show(name)
            if data.returncode != 0:
                return None
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data.stdout)
        return folder, commit
    return None


def r4(v):
    return None if v is None else round(float(v), 4)


def card_figures(figs, class_ids):
    """The Go schema's evaluation figures, rounded."""
    return {
        "n": figs["n"], "accuracy": r4(figs["accuracy"]), "macro_f1": r4(figs["macro_f1"]), "auc": r4(figs["auc"]),
        "sensitivity": r4(figs["sensitivity"]), "specificity": r4(figs["specificity"]), "ece": r4(figs["ece"]),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--params", default=os.path.join(HERE, "params.yaml"))
    ap.add_argument("--cards", default=os.path.join(HERE, "cards.yaml"))
    ap.add_argument("--mlruns", default=os.path.join(HERE, "mlruns"))
    ap.add_argument("--records", default=os.path.join(HERE, "runs"), help="the committed record store (--record)")
    ap.add_argument("--scorer", choices=["go", "torch"], default="go",
                    help="go: ONNX Runtime through the application's engine (the card's figures); torch: the weights")
    ap.add_argument("--timing", type=int, default=50, help="single-image runs to time with the go scorer")
    ap.add_argument("--previous", default="auto", help="auto (from git), none, or a folder with the previous "
                                                       "release's model.yaml and model.onnx")
    ap.add_argument("--no-robustness", action="store_true", help="skip the perturbed copies (smoke test)")
    ap.add_argument("--record", action="store_true", help="copy the runs into the committed record store")
    args = ap.parse_args(argv)

    onnx_path = os.path.join(args.out, "model.onnx")
    card_path = os.path.join(args.out, "model.yaml")
    if not os.path.exists(onnx_path):
        print(f"evaluate: {onnx_path} is missing; run the export stage first", file=sys.stderr)
        return 1
    params = ingest.load_params(args.params, args.model)
    params.update(ingest.load_params(args.cards, args.model))
    torch.set_num_threads(int(params["train"].get("threads", 2)))
    class_ids = [c["id"] for c in params["classes"]]
    names = [c["name"] for c in params["classes"]]
    pos = class_ids.index(params["positive_class"]) if params.get("positive_class") else None
    try:
        ckpt = checkpoint.load(args.work)
    except ValueError as e:
        print(f"evaluate: {e}", file=sys.stderr)
        return 1
    info = ckpt["info"]
    # The card's wording may change after training; the numbers that shape the model must not.
    for key in ("input", "model", "mean", "std", "classes"):
        if params[key] != ckpt["params"][key]:
            print(f"evaluate: params.yaml {key} differs from the trained model's; retrain first", file=sys.stderr)
            return 1
    net = checkpoint.build_net(ckpt)
    temperature = checkpoint.fold_calibration(net, info["calibration"], pos)
    threshold = info["threshold"]
    with open(os.path.join(args.work, "ingest.json")) as f:
        ing = json.load(f)
    list_path = os.path.join(args.work, "test_files.txt")
    rels, y = read_list(list_path, class_ids)
    vrels, vy = read_list(os.path.join(args.work, "valid_files.txt"), class_ids)
    sha = sha256_file(onnx_path)
    os.makedirs(args.out, exist_ok=True)
    shutil.copy(list_path, os.path.join(args.out, "test_files.txt"))
    scratch = tempfile.mkdtemp(prefix=f"tt-eval-{args.model}-")

    raw_features = {}

    def score(model_dir, model_id, root, rel_list, labels, timing=0, features=0):
        lp = os.path.join(scratch, f"list-{len(os.listdir(scratch))}.txt")
        write_list(lp, rel_list, labels, class_ids)
        if args.scorer == "torch":
            return score_files(net, params, root, rel_list), None
        got, logits, tm, feats = go_scores(os.path.dirname(model_dir), model_id, root, lp, timing, features=features)
        if got != list(rel_list):
            raise RuntimeError("the go scorer returned a different file order")
        if feats:
            raw_features["valid"] = (feats, logits)
        return logits, tm

    # The Go engine loads only a valid card: write a provisional one with the real calibration first.
    provisional = build_card(params, info, ing, None, sha, "provisional", temperature)
    write_card(card_path, provisional, args.model)
    model_dir = os.path.abspath(args.out)
    logits, timing = score(model_dir, os.path.basename(model_dir), args.data, rels, y, args.timing)
    prob = metrics.softmax(logits, temperature)
    figs = figures(y, prob, class_ids, pos, threshold)

    torch_logits = score_files(net, params, args.data, rels)
    parity = None
    if args.scorer == "go":
        tfigs = figures(y, metrics.softmax(torch_logits, temperature), class_ids, pos, threshold)
        parity = {"max_abs_logit_diff": float(np.abs(torch_logits - logits).max()),
                  "decisions_differing": int(np.sum(tfigs["decision"] != figs["decision"])),
                  "torch_accuracy": tfigs["accuracy"], "go_accuracy": figs["accuracy"]}

    # valid, scored the same way, for the reliability diagram and the valid robustness
    vlogits, _ = score(model_dir, os.path.basename(model_dir), args.data, vrels, vy, features=16)
    if "valid" in raw_features and parity is not None:
        parity["features_check"] = features_check(raw_features["valid"][0], net, raw_features["valid"][1])
    vprob = metrics.softmax(vlogits, temperature)
    vfigs = figures(vy, vprob, class_ids, pos, threshold)

    previous = None
    prev = None
    if args.previous == "auto":
        prev = previous_release(args.model, params["version"], os.path.join(scratch, "previous"))
    elif args.previous != "none":
        prev = (os.path.join(os.path.abspath(args.previous), ""), "given")
    prev_prob = prev_threshold = None
    if prev is not None and args.scorer == "go":
        prev_dir, prev_commit = prev[0].rstrip("/"), prev[1]
        with open(os.path.join(prev_dir, "model.yaml")) as f:
            prev_card = yaml.safe_load(f)
        plog, _ = score(prev_dir, os.path.basename(prev_dir), args.data, rels, y)
        prev_prob = metrics.softmax(plog, prev_card["outputs"]["temperature"])
        prev_threshold = prev_card.get("threshold") if pos is not None else None
        pfigs = figures(y, prev_prob, class_ids, pos, prev_threshold)
        previous = {"version": prev_card["version"], "sha256": prev_card["sha256"], "commit": prev_commit,
                    "figures": {k: r4(pfigs[k]) for k in HEADLINE if k in pfigs}}

    intervals, prev_intervals, diff_intervals = bootstrap(y, prob, class_ids, pos, threshold, prev_prob,
                                                          prev_threshold)
    robustness = None
    if not args.no_robustness:
        robustness = {}
        for split, rl, labels, base_figs in (("test", rels, y, figs), ("valid", vrels, vy, vfigs)):
            pdir = os.path.join(scratch, f"perturbed-{split}")
            copies = write_perturbed(args.data, rl, pdir)
            allrels = sum((copies[k] for k in perturb.KINDS), [])
            plog, _ = score(model_dir, os.path.basename(model_dir), pdir, allrels,
                            np.concatenate([labels] * len(perturb.KINDS)))
            per = {}
            for j, k in enumerate(perturb.KINDS):
                pp = metrics.softmax(plog[j * len(rl):(j + 1) * len(rl)], temperature)
                per[k] = metrics.decide(pp, pos, threshold) == labels
            robustness[split] = perturb.robustness(base_figs["decision"] == labels, per)
            if split == "test" and prev_prob is not None:
                plog_prev, _ = score(prev_dir, os.path.basename(prev_dir), pdir, allrels,
                                     np.concatenate([labels] * len(perturb.KINDS)))
                per_prev = {}
                for j, k in enumerate(perturb.KINDS):
                    pp = metrics.softmax(plog_prev[j * len(rl):(j + 1) * len(rl)], prev_card["outputs"]["temperature"])
                    per_prev[k] = metrics.decide(pp, pos, prev_threshold) == labels
                pdec = metrics.decide(prev_prob, pos, prev_threshold)
                previous["robustness_test"] = perturb.robustness(pdec == labels, per_prev)
    if previous is not None:
        previous["intervals"] = prev_intervals
        previous["difference"] = {k: r4(figs[k] - pfigs[k]) for k in HEADLINE if k in figs and k in pfigs}
        previous["difference_interval"] = diff_intervals
        previous["inside_new_interval"] = {k: bool(intervals[k][0] <= pfigs[k] <= intervals[k][1])
                                           for k in previous["difference"] if k in intervals}

    extra = {"intervals": intervals, "figs": figs, "vfigs": vfigs, "robustness": robustness, "previous": previous,
             "timing": timing, "parity": parity}
    if pos is not None:
        cmp_ = params.get("compare", {})
        if cmp_.get("recall"):
            t_at, at = metrics.threshold_at_recall(y == pos, prob[:, pos], cmp_["recall"])
            seed = cmp_.get("seed", {})
            extra["at_seed_recall"] = {
                "recall": cmp_["recall"], "threshold_read_off_test": round(t_at, 6),
                **{k: r4(v) for k, v in at.items()},
                "seed": seed,
                "floor_met": bool(at["accuracy"] >= seed.get("accuracy", 0) + 0.01 and
                                  at["precision"] >= seed.get("precision", 0) + 0.01),
                "note": "descriptive: the threshold is read off test to match the seed's published recall; the "
                        "application uses the valid-chosen threshold"}
            if prev_prob is not None:
                _, pat = metrics.threshold_at_recall(y == pos, prev_prob[:, pos], cmp_["recall"])
                previous["at_seed_recall"] = {k: r4(v) for k, v in pat.items()}
    if "normal" in class_ids and pos is None:
        probe = confound.intensity_probe({**ckpt, "state_dict": net.state_dict()}, args.work)
        extra["confound_probe"] = probe
    cv_path = os.path.join(args.work, "cv.json")
    if os.path.exists(cv_path):
        with open(cv_path) as f:
            extra["cv"] = json.load(f)
    seeds_path = os.path.join(args.work, "seeds.json")
    if os.path.exists(seeds_path):
        with open(seeds_path) as f:
            extra["seeds"] = json.load(f)

    op = (figs["sensitivity"], figs["specificity"], threshold) if pos is not None else None
    sp = (extra["at_seed_recall"]["sensitivity"], extra["at_seed_recall"]["specificity"]) \
        if "at_seed_recall" in extra else None
    plot_roc(y, prob, names, pos, op, os.path.join(args.out, "roc.png"), sp)
    plot_confusion(figs["confusion"], names, os.path.join(args.out, "confusion.png"))
    what = "p of the decided class, after the threshold" if pos is not None else "p of the arg-max class"
    plot_reliability({"test": (figs["reliability"], figs["ece"], figs["n"]),
                      "valid": (vfigs["reliability"], vfigs["ece"], vfigs["n"])},
                     os.path.join(args.out, "reliability.png"), what)
    desc = (f"{params['data']}/test, de-duplicated against train and valid "
            f"({sum(ing['files_after']['test'].values())} of {sum(ing['files_before']['test'].values())} files "
            f"kept); scored by {'ONNX Runtime via the Go engine' if args.scorer == 'go' else 'PyTorch'}")
    m = build_card(params, info, ing, extra, sha, desc, temperature)
    write_card(card_path, m, args.model)

    report = {"scorer": args.scorer, "timing": timing, "parity": parity,
              **{k: figs[k] for k in ("n", "accuracy", "macro_f1", "auc", "sensitivity", "specificity", "ece",
                                       "confusion")},
              "intervals": intervals, "robustness": robustness, "previous": previous,
              "at_seed_recall": extra.get("at_seed_recall")}
    with open(os.path.join(args.work, "evaluate.json"), "w") as f:
        json.dump({**report, "rel": rels, "logits": logits.tolist()}, f)

    run = tracking.Run(args.mlruns, args.model, f"{args.model}-evaluate", tracking.git_commit(HERE))
    run.set_tag("train_run_id", info["run_id"])
    run.set_tag("scorer", args.scorer)
    run.set_tag("model_sha256", sha)
    run.log_params({"version": params["version"], "test_list_sha256": sha256_file(list_path)})
    for key in HEADLINE:
        if key in figs:
            run.log_metric(f"test_{key}", figs[key])
            if key in intervals:
                run.log_metric(f"test_{key}_ci_low", intervals[key][0])
                run.log_metric(f"test_{key}_ci_high", intervals[key][1])
    if robustness:
        run.log_metric("test_robustness_mean_points_lost", robustness["test"]["mean_points_lost"])
        run.log_metric("valid_robustness_mean_points_lost", robustness["valid"]["mean_points_lost"])
    if timing:
        run.log_metric("cpu_forward_ms_per_image", timing["median_forward_ms"])
    if parity:
        run.log_metric("torch_onnx_max_abs_logit_diff", parity["max_abs_logit_diff"])
    for name in ("model.yaml", "roc.png", "confusion.png", "reliability.png", "test_files.txt"):
        run.log_artifact(os.path.join(args.out, name))
    run.end(True)
    if args.record:
        train_dir = tracking.find_run(args.mlruns, info["run_id"])
        if train_dir is None:
            print(f"evaluate: train run {info['run_id']} is not in {args.mlruns}; only the evaluate run is "
                  "recorded", file=sys.stderr)
        else:
            tracking.record(train_dir, args.records, args.model)
        tracking.record(run.dir, args.records, args.model, replace_tag=("train_run_id", info["run_id"]))
    shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({k: v for k, v in report.items() if k not in ("confusion",)}, default=str))
    return 0


def card_head(model_id, task, params, temperature):
    """Return the first fields of a model.yaml, in the Go schema's order: identity, input, preprocessing, outputs
    (export.py's logits, cam and features) and classes. The classifiers' cards and the gate's start with it."""
    return {
        "id": model_id,
        "version": params["version"],
        "title": params["title"],
        "task": task,
        "modalities": params["modalities"],
        "input": {"name": "image", "layout": "NCHW", "channels": params["input"]["channels"],
                  "height": params["input"]["height"], "width": params["input"]["width"]},
        "preprocessing": {"grayscale": "pil-luma", "resize": "linear", "mean": [float(params["mean"])],
                          "std": [float(params["std"])], "voi": params["voi"]},
        "outputs": {"logits": "logits", "cam": "cam", "features": "features", "kind": "logits",
                    "temperature": round(float(temperature), 6)},
        "classes": [{"id": c["id"], "name": c["name"]} for c in params["classes"]],
    }


def build_card(params, info, ing, extra, sha, dataset_desc, temperature):
    """Return the model.yaml dict: the Go schema's fields first, in its order, then the 2.x additions."""
    class_ids = [c["id"] for c in params["classes"]]
    binary = params.get("positive_class") is not None
    m = card_head(info["model"], "classification", params, temperature)
    if binary:
        m["positive_class"] = params["positive_class"]
        m["threshold"] = round(float(info["threshold"]), 6)
    if extra is None:
        ev = {"dataset": dataset_desc, "data_root": "../shared/data", "n": 0, "accuracy": 0, "macro_f1": 0, "auc": 0,
              "sensitivity": 0, "specificity": 0, "ece": 0, "threshold": 0.0, "files": "test_files.txt"}
    else:
        figs = extra["figs"]
        ev = {"dataset": dataset_desc, "data_root": "../shared/data", **card_figures(figs, class_ids),
              "threshold": round(float(info["threshold"]), 6) if binary else 0.0,
              "per_class": {cid: {k: r4(v) for k, v in figs["per_class"][cid].items()} for cid in class_ids},
              "confusion": figs["confusion"], "files": "test_files.txt"}
        if binary:
            ev["precision"] = r4(figs["precision"])
        ev["intervals"] = extra["intervals"]
        ev["interval_method"] = (f"95 % percentile bootstrap, {N_BOOT} resamples drawn within each class (class "
                                 "counts fixed as in the test list)")
        ev["ece_definition"] = ("expected calibration error of the decision the application shows: confidence = "
                                "the decided class's probability" + (" after the threshold rule" if binary else "") +
                                ", 10 equal-width bins; reliability.png")
        if binary:
            ev["ece_p_positive"] = r4(figs["ece_p_positive"])
        ev["calibration"] = {**{k: (round(v, 6) if isinstance(v, float) else v)
                                for k, v in info["calibration"].items()},
                             "chosen_by": "lowest 5-fold cross-validated NLL on valid",
                             "cv_nll": {k: round(v, 5) for k, v in info["calibration_cv_nll"].items()},
                             "valid_ece": r4(extra["vfigs"]["ece"]),
                             "note": "a Platt scaling is folded into the class map's weights (temperature 1)"
                             if info["calibration"]["method"] == "platt" else "the temperature above"}
        if "subtype_macro_f1" in figs:
            cancer = [i for i, c in enumerate(class_ids) if c != "normal"]
            ev["subtype"] = {"classes": [class_ids[i] for i in cancer],
                             "n": int(sum(sum(figs["confusion"][i]) for i in cancer)),
                             "macro_f1": r4(figs["subtype_macro_f1"]),
                             "interval": extra["intervals"].get("subtype_macro_f1"),
                             "rule": "macro-F1 over the cancer classes on the cancer slices; a 'normal' answer "
                                     "counts as a miss"}
        if "at_seed_recall" in extra:
            ev["at_seed_recall"] = extra["at_seed_recall"]
        if extra.get("robustness"):
            ev["robustness"] = {
                "definition": "accuracy points lost on perturbed copies (training/perturb.py: rotate, rescale, "
                              "exposure, resample, noise, combined), scored through the Go engine; goal <= 3",
                **{s: {"clean_accuracy": r4(v["clean_accuracy"]), "mean_points_lost": v["mean_points_lost"],
                       "worst": v["worst"], "points_lost": v["points_lost"]} for s, v in extra["robustness"].items()}}
        if extra.get("cv"):
            cv = extra["cv"]
            ev["cross_validation"] = {
                "folds": cv["folds"], "folds_done": cv["folds_done"], "groups": cv["groups"],
                "group_rule": f"dHash clusters at Hamming <= {cv['group_hamming']} over de-duplicated train+valid",
                "out_of_fold": {k: r4(v) if isinstance(v, float) else v for k, v in cv["out_of_fold"].items()},
                "per_fold_mean": {k: r4(v) for k, v in cv["per_fold_mean"].items()},
                "per_fold_sd": {k: r4(v) for k, v in cv["per_fold_sd"].items()},
                "device": cv["device"], "note": cv["note"] + "; valid shares patients with train, so optimistic"}
        if extra.get("confound_probe"):
            ev["confound_probe"] = {k: (r4(v) if isinstance(v, float) else v)
                                    for k, v in extra["confound_probe"].items() if k != "train_grey_mean_std"}
        if extra.get("previous"):
            ev["previous"] = extra["previous"]
        if extra.get("timing"):
            t = extra["timing"]
            ev["cpu_time"] = {"median_forward_ms": t["median_forward_ms"],
                              "median_preprocess_ms": t["median_preprocess_ms"], "threads": t["threads"],
                              "images": t["images"], "batch": 1,
                              "how": "training/goscore -timing: one image per run through inference.Engine, CPU"}
        if extra.get("parity"):
            ev["torch_onnx_parity"] = {k: (r4(v) if isinstance(v, float) and k != "max_abs_logit_diff" else v)
                                       for k, v in extra["parity"].items()}
            if "features_check" in ev["torch_onnx_parity"]:
                ev["torch_onnx_parity"]["features_check"]["how"] = (
                    "goscore -features-check: 16 valid images through ONNX Runtime, outputs logits and features; W, b = "
                    "the class map's weights as exported")
    ev["test_looks"] = params.get("test_looks", [])
    m["evaluation"] = ev
    env = info.get("environment", {})
    seeds = extra.get("seeds") if extra else None
    if env.get("device", "cpu").startswith("cuda"):
        origin = (f"GPU run ({env.get('gpu', 'CUDA')}, torch {env.get('torch')}, CUDA {env.get('cuda')}), "
                  f"seed {info['seed']}" + (f" kept of {sorted(int(s) for s in seeds['seeds'])} by valid "
                                            f"select_score" if seeds else "") +
                  "; exported and evaluated here on CPU with torch " + str(torch.__version__))
    else:
        origin = f"CPU run here ({env.get('threads')} threads, torch {env.get('torch')}), seed {info['seed']}"
    m["training"] = {
        "data": f"{params['data']} train split (valid for epoch choice, calibration and threshold): "
                f"{info['n_train']} train / {info['n_valid']} valid images after de-duplication",
        "licence": params["licence"],
        "removed": removed_text(ing),
        "recipe_commit": info["recipe_commit"],
        "params": {"input": params["input"], "model": params["model"], "train": params["train"],
                   "augment": params["augment"], "best_epoch": info["best_epoch"], "seed": info["seed"],
                   "train_seconds": info["train_seconds"], "torch": str(env.get("torch", ""))},
        "run_id": info["run_id"],
        "weights_from": origin,
        "environment": env,
        "recipe_sha256": info.get("recipe_sha256", ""),
        "data_fingerprint": {k: v for k, v in (info.get("data_fingerprint") or {}).items()},
        "valid": {"accuracy": r4(info["valid"]["accuracy"]), "auc": r4(info["valid"]["auc"]),
                  "macro_f1": r4(info["valid"]["macro_f1"]), "decision_ece": r4(info["valid"]["decision_ece"]),
                  "robustness_mean_points_lost_train_size": info["valid_robustness"]["mean_points_lost"]},
    }
    if seeds:
        m["training"]["seeds"] = {int(s): {"select_score": r4(v["select_score"]), "valid_accuracy":
                                           r4(v["valid"]["accuracy"]), "valid_auc": r4(v["valid"]["auc"])}
                                  for s, v in seeds["seeds"].items()}
    m["intended_use"] = ("Research use only - not for diagnosis. Demonstrates a viewer's classifier plumbing on "
                         "public teaching data; outputs must not inform any clinical decision.")
    m["limitations"] = params["limitations"]
    if params.get("population"):
        m["population"] = params["population"]  # checked from DICOM tags before the model answers (cards.yaml)
    if params.get("series"):
        m["series"] = params["series"]  # the series aggregation rule, stated on the card (training/cards.yaml)
    m["sha256"] = sha
    return m


def write_card(path, m, model_id):
    """Write model.yaml with a header naming its generator."""
    with open(path, "w") as f:
        f.write(f"# Model card written by training/evaluate.py on {datetime.date.today().isoformat()}; "
                f"regenerate with `make evaluate MODEL={model_id}`.\n")
        yaml.safe_dump(json.loads(json.dumps(m, default=_plain)), f, sort_keys=False, allow_unicode=True, width=120)


def _plain(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"cannot write {type(v)} into a card")


if __name__ == "__main__":
    sys.exit(main())
