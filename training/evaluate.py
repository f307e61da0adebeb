"""Evaluate stage: score the trained model on the de-duplicated test list and write the model card.

Usage: evaluate.py --model ID --work WORK_DIR --data DATA_ROOT --out MODEL_DIR [--scorer go|torch]

Re-reads every file named in WORK_DIR/test_files.txt from DATA_ROOT (decode, grey, Linear resize: the shared
preprocessing contract, not the ingest cache), runs the weights in WORK_DIR/model.pt whose ONNX export sits in
MODEL_DIR/model.onnx, applies the temperature and threshold chosen on valid, and writes MODEL_DIR/{model.yaml,
test_files.txt, roc.png, confusion.png}. The test split is read only here.
"""

import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

import ingest  # noqa: E402
import metrics  # noqa: E402
import model as camnet  # noqa: E402
import preprocess  # noqa: E402
import tracking  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


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


def score_files(net, params, data_root, rels, batch=64):
    """Return the logits of the files (relative to data_root) after the contract's preprocessing."""
    h, w = params["input"]["height"], params["input"]["width"]
    mean, std, ch = float(params["mean"]), float(params["std"]), int(params["input"]["channels"])
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(rels), batch):
            grey = np.stack([preprocess.preprocess_file(os.path.join(data_root, r), w, h) for r in rels[i:i + batch]])
            x = torch.from_numpy(preprocess.normalise(grey, mean, std, ch))
            out.append(net(x)[0].double().numpy())
    return np.concatenate(out)


def plot_roc(y, prob, class_names, positive, op, path):
    """Save the ROC curve(s): binary with the operating point, else one-vs-rest per class."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4), dpi=120)
    classes = [positive] if positive is not None else range(len(class_names))
    for c in classes:
        fpr, tpr, _ = metrics.roc_curve(y == c, prob[:, c])
        ax.plot(fpr, tpr, lw=1.6, label=f"{class_names[c]} (AUC {metrics.auc(y == c, prob[:, c]):.3f})")
    if op is not None:
        ax.plot([1 - op[1]], [op[0]], "o", color="black", label=f"threshold {op[2]:.3f}")
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
    ax.set_xticks(range(len(cm)), short, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(cm)), short, fontsize=8)
    ax.set_xlabel("prediction")
    ax.set_ylabel("truth")
    ax.set_title(f"Confusion, de-duplicated test (n={int(cm.sum())})", fontsize=9)
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


def card(params, info, ing, figs, sha, dataset_desc):
    """Return the model.yaml dict in the shared schema's order."""
    class_ids = [c["id"] for c in params["classes"]]
    binary = params.get("positive_class") is not None
    m = {
        "id": info["model"],
        "version": params["version"],
        "title": params["title"],
        "task": "classification",
        "modalities": params["modalities"],
        "input": {"name": "image", "layout": "NCHW", "channels": params["input"]["channels"],
                  "height": params["input"]["height"], "width": params["input"]["width"]},
        "preprocessing": {"grayscale": "pil-luma", "resize": "linear", "mean": [float(params["mean"])],
                          "std": [float(params["std"])], "voi": params["voi"]},
        "outputs": {"logits": "logits", "cam": "cam", "kind": "logits",
                    "temperature": round(float(info["temperature"]), 6)},
        "classes": [{"id": c["id"], "name": c["name"]} for c in params["classes"]],
    }
    if binary:
        m["positive_class"] = params["positive_class"]
        m["threshold"] = round(float(info["threshold"]), 6)
    r4 = lambda v: round(float(v), 4)  # noqa: E731
    m["evaluation"] = {
        "dataset": dataset_desc,
        "data_root": "../shared/data",
        "n": figs["n"],
        "accuracy": r4(figs["accuracy"]),
        "macro_f1": r4(figs["macro_f1"]),
        "auc": r4(figs["auc"]),
        "sensitivity": r4(figs["sensitivity"]),
        "specificity": r4(figs["specificity"]),
        "ece": r4(figs["ece"]),
        "threshold": round(float(info["threshold"]), 6) if binary else 0.0,
        "per_class": {cid: {k: r4(v) for k, v in figs["per_class"][cid].items()} for cid in class_ids},
        "confusion": figs["confusion"],
        "files": "test_files.txt",
    }
    m["training"] = {
        "data": f"{params['data']} train split (valid for epoch choice, temperature and threshold): "
                f"{info['n_train']} train / {info['n_valid']} valid images after de-duplication",
        "licence": params["licence"],
        "removed": removed_text(ing),
        "recipe_commit": info["recipe_commit"],
        "params": {"input": params["input"], "model": params["model"], "train": params["train"],
                   "augment": params["augment"], "best_epoch": info["best_epoch"],
                   "train_seconds": info["train_seconds"], "torch": str(info["torch"])},
        "run_id": info["run_id"],
    }
    m["intended_use"] = ("Research use only - not for diagnosis. Demonstrates a viewer's classifier plumbing on "
                         "public teaching data; outputs must not inform any clinical decision.")
    m["limitations"] = params["limitations"]
    if params.get("population"):
        m["population"] = params["population"]  # checked from DICOM tags before the model answers (cards.yaml)
    if params.get("series"):
        m["series"] = params["series"]  # the series aggregation rule, stated on the card (training/cards.yaml)
    m["sha256"] = sha
    return m


def go_scores(repo, models_dir, model_id, data_root, list_path, timing=0):
    """Score a file list with the application's Go inference engine; returns (rels, logits, timing or None)."""
    cmd = ["go", "run", "./training/goscore", "-models", os.path.abspath(models_dir), "-id", model_id,
           "-data", os.path.abspath(data_root), "-list", os.path.abspath(list_path), "-threads", "1"]
    if timing:
        cmd += ["-timing", str(timing)]
    lib = os.environ.get("TUMORTRACER_ORT_LIB") or os.path.join(repo, "lib", "libonnxruntime.so.1")
    if os.path.exists(lib):
        cmd += ["-ort-lib", lib]
    res = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"go scoring failed: {res.stderr.strip()}")
    out = json.loads(res.stdout)
    return out["rel"], np.array(out["logits"], dtype=np.float64), out.get("timing")


def write_card(path, m, model_id):
    """Write model.yaml with a header naming its generator."""
    with open(path, "w") as f:
        f.write(f"# Model card written by training/evaluate.py on {datetime.date.today().isoformat()}; "
                f"regenerate with `make evaluate MODEL={model_id}`.\n")
        yaml.safe_dump(m, f, sort_keys=False, allow_unicode=True, width=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--params", default=os.path.join(HERE, "params.yaml"))
    ap.add_argument("--cards", default=os.path.join(HERE, "cards.yaml"))
    ap.add_argument("--mlruns", default=os.path.join(HERE, "mlruns"))
    ap.add_argument("--scorer", choices=["go", "torch"], default="go",
                    help="go: ONNX Runtime through the application's engine (the card's figures); torch: the weights")
    ap.add_argument("--timing", type=int, default=50, help="single-image runs to time with the go scorer")
    args = ap.parse_args(argv)

    onnx_path = os.path.join(args.out, "model.onnx")
    card_path = os.path.join(args.out, "model.yaml")
    if not os.path.exists(onnx_path):
        print(f"evaluate: {onnx_path} is missing; run the export stage first", file=sys.stderr)
        return 1
    params = ingest.load_params(args.params, args.model)
    params.update(ingest.load_params(args.cards, args.model))
    torch.set_num_threads(int(params["train"].get("threads", 1)))
    class_ids = [c["id"] for c in params["classes"]]
    names = [c["name"] for c in params["classes"]]
    pos = class_ids.index(params["positive_class"]) if params.get("positive_class") else None
    ckpt_path = os.path.join(args.work, "model.pt")
    net = None
    if os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path)
        info = ckpt["info"]
        # The card's wording may change after training; the numbers that shape the model must not.
        for key in ("input", "model", "mean", "std", "classes"):
            if params[key] != ckpt["params"][key]:
                print(f"evaluate: params.yaml {key} differs from the trained model's; retrain first", file=sys.stderr)
                return 1
        net = camnet.build(params)
        net.load_state_dict(ckpt["state_dict"])
        with open(os.path.join(args.work, "ingest.json")) as f:
            ing = json.load(f)
        list_path = os.path.join(args.work, "test_files.txt")
        old = None
    elif os.path.exists(card_path):
        # Re-scoring a released model without its training work: temperature, threshold and provenance come
        # from the card itself.
        with open(card_path) as f:
            old = yaml.safe_load(f)
        info = {"model": args.model, "temperature": old["outputs"]["temperature"], "threshold": old.get("threshold"),
                "run_id": old["training"].get("run_id", ""), "recipe_commit": old["training"].get("recipe_commit", "")}
        ing = None
        list_path = os.path.join(args.out, old["evaluation"]["files"])
        if args.scorer == "torch":
            print("evaluate: no trained weights in the work folder; use --scorer go", file=sys.stderr)
            return 1
    else:
        print(f"evaluate: neither {ckpt_path} nor {card_path} exists; train first", file=sys.stderr)
        return 1

    rels, y = read_list(list_path, class_ids)
    sha = sha256_file(onnx_path)
    empty = {"n": 0, "accuracy": 0, "macro_f1": 0, "auc": 0, "sensitivity": 0, "specificity": 0, "ece": 0,
             "per_class": {c: {"sensitivity": 0, "specificity": 0, "auc": 0} for c in class_ids},
             "confusion": [[0] * len(class_ids) for _ in class_ids]}
    os.makedirs(args.out, exist_ok=True)
    if list_path != os.path.join(args.out, "test_files.txt"):
        shutil.copy(list_path, os.path.join(args.out, "test_files.txt"))

    timing = None
    torch_logits = score_files(net, params, args.data, rels) if net is not None else None
    if args.scorer == "go":
        if ing is not None:  # the Go engine loads only a valid card: write one with the real temperature first
            write_card(card_path, card(params, info, ing, empty, sha, "provisional"), args.model)
        model_dir = os.path.abspath(args.out)
        go_rels, logits, timing = go_scores(os.path.dirname(HERE), os.path.dirname(model_dir),
                                            os.path.basename(model_dir), args.data, list_path, args.timing)
        if go_rels != rels:
            print("evaluate: the go scorer returned a different file order", file=sys.stderr)
            return 1
    else:
        logits = torch_logits
    prob = metrics.softmax(logits, info["temperature"])
    figs = metrics.summary(y, prob, class_ids, positive=pos, threshold=info["threshold"])
    parity = None
    if torch_logits is not None and args.scorer == "go":
        tprob = metrics.softmax(torch_logits, info["temperature"])
        tfigs = metrics.summary(y, tprob, class_ids, positive=pos, threshold=info["threshold"])
        parity = {"max_abs_logit_diff": float(np.abs(torch_logits - logits).max()),
                  "max_abs_prob_diff": float(np.abs(tprob - prob).max()),
                  "decisions_differing": int(sum(a != b for a, b in zip(
                      np.asarray(tfigs["confusion"]).ravel(), np.asarray(figs["confusion"]).ravel()))),
                  "torch_accuracy": tfigs["accuracy"], "go_accuracy": figs["accuracy"]}

    op = (figs["sensitivity"], figs["specificity"], info["threshold"]) if pos is not None else None
    plot_roc(y, prob, names, pos, op, os.path.join(args.out, "roc.png"))
    plot_confusion(figs["confusion"], names, os.path.join(args.out, "confusion.png"))
    if ing is not None:
        desc = (f"{params['data']}/test, de-duplicated against train and valid "
                f"({sum(ing['files_after']['test'].values())} of {sum(ing['files_before']['test'].values())} files "
                f"kept); scored by {'ONNX Runtime via the Go engine' if args.scorer == 'go' else 'PyTorch'}")
        m = card(params, info, ing, figs, sha, desc)
    else:
        m = dict(old)
        r4 = lambda v: round(float(v), 4)  # noqa: E731
        m["evaluation"].update({k: r4(figs[k]) for k in ("accuracy", "macro_f1", "auc", "sensitivity",
                                                          "specificity", "ece")})
        m["evaluation"]["n"] = figs["n"]
        m["evaluation"]["per_class"] = {c: {k: r4(v) for k, v in figs["per_class"][c].items()} for c in class_ids}
        m["evaluation"]["confusion"] = figs["confusion"]
        m["sha256"] = sha
    write_card(card_path, m, args.model)
    report = {"scorer": args.scorer, "timing": timing, "parity": parity,
              **{k: figs[k] for k in ("n", "accuracy", "macro_f1", "auc", "sensitivity", "specificity", "ece",
                                       "confusion")}}
    with open(os.path.join(args.work if os.path.isdir(args.work) else args.out, "evaluate.json"), "w") as f:
        json.dump({**report, "rel": rels, "logits": logits.tolist()}, f)

    run = tracking.Run(args.mlruns, args.model, f"{args.model}-evaluate", tracking.git_commit(HERE))
    run.set_tag("train_run_id", info["run_id"])
    run.set_tag("scorer", args.scorer)
    for key in ("accuracy", "macro_f1", "auc", "sensitivity", "specificity", "ece"):
        run.log_metric(f"test_{key}", figs[key])
    if timing:
        run.log_metric("cpu_forward_ms_per_image", timing["median_forward_ms"])
    if parity:
        run.log_metric("torch_onnx_max_abs_logit_diff", parity["max_abs_logit_diff"])
    for name in ("model.yaml", "roc.png", "confusion.png", "test_files.txt"):
        run.log_artifact(os.path.join(args.out, name))
    run.end(True)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
