"""Evaluate stage of the gate: score it through the application's Go engine and write models/gate/model.yaml.

Usage: gate_evaluate.py --work WORK_DIR --data DATA_ROOT --out MODEL_DIR [--models-dir models] [--timing N]

Every figure comes from ONNX Runtime via the Go engine (training/goscore), on files opened as the application
opens them (DICOM rendered with the gate's VOI windows). Measured, never tuned on:

* routing: the chest test lists (de-duplicated, from the classifiers' ingest) must be sent to their model;
* refusal: every held-out negative family (never trained or tuned on) must be called "other";
* DICOM chest files of ../shared/data/dicom (params gate.evaluate.dicom_chest; the gate never saw DICOM chests);
* the whole decision with the routed model's out-of-scope check, where MODELS_DIR/<route>/scope.yaml exists:
  accepted = routed to the right model and d2 <= that model's threshold; refused = "other" or d2 above it;
* the whole decision as the application makes it (whole_decision): `tumortracer classify` without --model, built
  from this checkout and given the gate and the routed model folders, on every in-scope test image and every
  held-out negative: the gate, the tag and population checks and, where a routed model has scope.yaml, its
  out-of-scope statistics; each record's status and model are counted (the thresholds it used are listed);
* cost: median preprocessing and forward time per image of the gate and of each routed model (one thread).

The card's evaluation block (accuracy, macro sensitivity/specificity/AUC, confusion) is computed over test_files.txt
(the chest test lists, the DICOM chest files and the held-out DICOM negatives: every file under the data root), the
same way pipeline's TestCardFiguresReproduce recomputes it; the per-family figures are in gate_evaluation.
"""

import argparse
import collections
import datetime
import json
import math
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

import evaluate  # noqa: E402
import ingest  # noqa: E402
import metrics  # noqa: E402
import scope  # noqa: E402
import tracking  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def wilson(k, n, z=1.96):
    """Return the Wilson score interval (lo, hi) of k successes in n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def temperature_of(info):
    """The temperature train.py chose on valid: info["temperature"], or the calibration record
    ({"method": "temperature", "temperature": T}) of the 2.0 train.py. The gate uses temperature scaling only."""
    if "temperature" in info:
        return float(info["temperature"])
    cal = info.get("calibration") or {}
    if cal.get("method") != "temperature":
        raise ValueError(f"the gate needs temperature scaling, train.py chose {cal}")
    return float(cal["temperature"])


def rate(k, n):
    lo, hi = wilson(k, n)
    return {"n": int(n), "k": int(k), "rate": round(k / n, 4) if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


def manifest(params, info, sha, figs, extra):
    """The gate's model.yaml in the shared schema's order (task gate, routes)."""
    r4 = lambda v: round(float(v), 4)  # noqa: E731
    m = evaluate.card_head("gate", "gate", params, temperature_of(info))
    m.update({
        "routes": dict(params["routes"]),
        "evaluation": {
            "dataset": extra.get("dataset", "provisional"),
            "data_root": "../shared/data",
            "n": figs["n"], "accuracy": r4(figs["accuracy"]), "macro_f1": r4(figs["macro_f1"]),
            "auc": r4(figs["auc"]), "sensitivity": r4(figs["sensitivity"]), "specificity": r4(figs["specificity"]),
            "ece": r4(figs["ece"]), "threshold": 0.0,
            "per_class": {c: {k: r4(v) for k, v in figs["per_class"][c].items()} for c in figs["per_class"]},
            "confusion": figs["confusion"],
            "files": "test_files.txt",
        },
        "training": {
            "data": extra.get("training_data", ""),
            "licence": params["licence"],
            "removed": extra.get("removed", ""),
            "recipe_commit": info["recipe_commit"],
            "params": {"input": params["input"], "model": params["model"], "train": params["train"],
                       "augment": params["augment"], "best_epoch": info["best_epoch"],
                       "train_seconds": info["train_seconds"],
                       "torch": str(info.get("torch") or info.get("environment", {}).get("torch", ""))},
            "run_id": info["run_id"],
        },
        "intended_use": ("Research use only - not for diagnosis. Decides which bundled classifier may answer an "
                         "image (chest radiograph -> cxr-pneumonia, chest CT slice -> ct-lung) and refuses the "
                         "rest; it makes no finding itself."),
        "limitations": params["limitations"],
        "sha256": sha,
    })
    if "gate_evaluation" in extra:
        m["gate_evaluation"] = extra["gate_evaluation"]
    return m


def write_card(path, m):
    with open(path, "w") as f:
        f.write(f"# Model card written by training/gate_evaluate.py on {datetime.date.today().isoformat()}; "
                f"regenerate with `make evaluate MODEL=gate`.\n")
        yaml.safe_dump(m, f, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)


def write_list(path, rels, labels):
    with open(path, "w") as f:
        for r, l in zip(rels, labels):
            f.write(f"{r}\t{l}\n")


def go(model_dir, data_root, list_path, features=False, timing=0):
    """Score a list with the Go engine: (rels, logits, features or None, timing or None)."""
    flags = (["-features"] if features else []) + (["-timing", str(timing)] if timing else [])
    out = scope.goscore(os.path.dirname(model_dir), os.path.basename(model_dir), data_root, list_path, *flags)
    feats = np.array(out["features"], dtype=np.float64) if features else None
    return out["rel"], np.array(out["logits"], dtype=np.float64), feats, out.get("timing")


def classify_app(work, gate_dir, model_dirs, paths):
    """Run `tumortracer classify --format json` (no --model: the application's whole decision) built from this
    checkout on paths, with the gate and model folders given as --models, and return its records by path."""
    binary = os.path.join(os.path.abspath(work), "tumortracer-eval")
    subprocess.run(["go", "build", "-o", binary, "."], cwd=REPO, check=True)
    cmd = [binary, "classify", "--format", "json", "--device", "cpu", "--models", gate_dir]
    for d in model_dirs:
        cmd += ["--models", d]
    lib = os.environ.get("TUMORTRACER_ORT_LIB") or os.path.join(REPO, "lib", "libonnxruntime.so.1")
    if os.path.exists(lib):
        cmd += ["--ort-lib", lib]
    res = subprocess.run(cmd + ["--"] + paths, capture_output=True, text=True)
    if res.returncode not in (0, 1):
        raise RuntimeError(f"classify failed ({res.returncode}): {res.stderr.strip()}")
    recs = {}
    for line in res.stdout.splitlines():
        r = json.loads(line)
        recs[r["path"]] = r
    missing = [p for p in paths if p not in recs]
    if missing:
        raise RuntimeError(f"classify wrote no record for {len(missing)} inputs, e.g. {missing[0]}")
    return recs, res.stderr.strip().splitlines()[-1]


def refusal_kind(r, routes):
    """Which check refused a record: the gate (its class has no route), the model's scope statistics, or the tags
    (localizer, Modality, population)."""
    if r["seen_as"] not in routes:
        return "gate"
    if r["scope_score"] is not None and "outside what" in r["reason"]:
        return "scope"
    return "tags"


def whole_decision(args, params, out, evals, data):
    """The application's decision on every evaluation image (classify_app), summarised per group."""
    routes = params["routes"]
    models_dir = os.path.abspath(args.models_dir)
    model_dirs = [os.path.join(models_dir, mid) for mid in sorted(set(routes.values()))]
    paths = [os.path.join(e["root"], e["path"]) for e in evals]
    recs, summary = classify_app(args.work, out, model_dirs, paths)
    in_scope, out_scope = {}, {}
    for fam in sorted({e["family"] for e in evals}):
        es = [(e, recs[os.path.join(e["root"], e["path"])]) for e in evals if e["family"] == fam]
        n = len(es)
        ok = [r for _, r in es if r["status"] == "ok"]
        refused = [r for _, r in es if r["status"] == "refused"]
        by = dict(collections.Counter(refusal_kind(r, routes) for r in refused))
        errors = sum(r["status"] == "error" for _, r in es)
        if es[0][0]["truth"] in routes:
            right = sum(r["status"] == "ok" and r["model"] == routes[e["truth"]] for e, r in es)
            in_scope[fam] = {"accepted": rate(len(ok), n), "routed_right": rate(right, n), "refused_by": by,
                             "errors": int(errors),
                             "refused_examples": sorted({r["reason"].split(". --")[0] for r in refused})[:3]}
        else:
            out_scope[fam] = {"refused": rate(len(refused), n), "refused_by": by, "errors": int(errors),
                              "answered_by": dict(collections.Counter(r["model"] for r in ok))}
    neg = [recs[os.path.join(e["root"], e["path"])] for e in evals if e["truth"] not in routes]
    pos = [(e, recs[os.path.join(e["root"], e["path"])]) for e in evals if e["truth"] in routes]
    tests = [(e, r) for e, r in pos if e["family"].endswith("/test")]
    return {
        "how": ("tumortracer classify --format json --device cpu without --model, built from this checkout, given "
                "the gate's folder and the routed models' folders ("
                + ", ".join(os.path.relpath(d, REPO) for d in model_dirs) + ") with --models: "
                "the gate, the tag and population checks and each model's out-of-scope statistics where it has "
                "scope.yaml"),
        "classify_summary": summary,
        "in_scope": in_scope,
        "in_scope_test_sets": {
            "accepted": rate(sum(r["status"] == "ok" for _, r in tests), len(tests)),
            "routed_right": rate(sum(r["status"] == "ok" and r["model"] == routes[e["truth"]] for e, r in tests),
                                 len(tests))},
        "out_of_scope": out_scope,
        "out_of_scope_all": {"refused": rate(sum(r["status"] == "refused" for r in neg), len(neg)),
                             "refused_by": dict(collections.Counter(refusal_kind(r, routes) for r in neg
                                                                    if r["status"] == "refused"))},
    }


def thresholds(params, T, models_dir):
    """Every threshold the decision uses and how it was chosen."""
    out = [{"what": "gate class", "value": "the most probable class; no threshold",
            "chosen": f"temperature {T:.4f} fitted on the gate's valid split (NLL); argmax is unaffected by it"}]
    for mid in sorted(set(params["routes"].values())):
        mdir = os.path.join(os.path.abspath(models_dir), mid)
        with open(os.path.join(mdir, "model.yaml")) as f:
            card = yaml.safe_load(f)
        sp = os.path.join(mdir, "scope.yaml")
        if os.path.exists(sp):
            with open(sp) as f:
                spec = yaml.safe_load(f)
            out.append({"what": f"{mid} {card['version']} out-of-scope squared Mahalanobis distance",
                        "value": round(float(spec["threshold"]), 3), "chosen": spec["threshold_rule"]})
        else:
            out.append({"what": f"{mid} {card['version']} out-of-scope distance",
                        "value": None, "chosen": "no scope.yaml beside the model: no distance check"})
        pop = card.get("population")
        if pop:
            limits = {k: pop[k] for k in ("age_years", "views", "body_parts", "planes") if k in pop}
            out.append({"what": f"{mid} population (DICOM tags only)", "value": limits,
                        "chosen": "from the training data's description (training/cards.yaml), not fitted; "
                                  "PatientAge 000Y and ages above 110 years count as absent (de-identification)"})
        else:
            out.append({"what": f"{mid} population", "value": None, "chosen": "none declared: no population check"})
    return out


def plot_refusal(rows, path):
    """Bar chart: share refused per held-out family (gate alone, and gate + scope where measured), 95 % CI."""
    fig, ax = plt.subplots(figsize=(6.4, 0.4 * len(rows) + 1.2), dpi=120)
    ys = np.arange(len(rows))
    series = [("gate", "gate alone", "#4c72b0")]
    if any(r.get("combined") for r in rows):
        series.append(("combined", "gate + the routed model's scope check", "#dd8452"))
    for j, (key, label, col) in enumerate(series):
        off = (j - (len(series) - 1) / 2) * 0.36
        vals = [r[key]["rate"] if r.get(key) else np.nan for r in rows]
        lo = [r[key]["rate"] - r[key]["ci95"][0] if r.get(key) else 0 for r in rows]
        hi = [r[key]["ci95"][1] - r[key]["rate"] if r.get(key) else 0 for r in rows]
        ax.barh(ys + off, vals, height=0.34, color=col, label=label, xerr=[lo, hi], capsize=2)
    ax.set_yticks(ys, [f"{r['family']} (n={r['gate']['n']})" for r in rows], fontsize=7)
    ax.axvline(0.95, color="grey", ls=":", lw=1)
    ax.set_xlim(0.5, 1.005)
    ax.set_xlabel("share refused (95 % Wilson interval; axis from 0.5); dotted: the 0.95 goal")
    ax.set_title("Held-out out-of-scope families", fontsize=9, pad=22)
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models-dir", default=os.path.join(REPO, "models"),
                    help="folder holding the routed models (and their scope.yaml)")
    ap.add_argument("--params", default=os.path.join(HERE, "params.yaml"))
    ap.add_argument("--cards", default=os.path.join(HERE, "cards.yaml"))
    ap.add_argument("--mlruns", default=os.path.join(HERE, "mlruns"))
    ap.add_argument("--timing", type=int, default=50)
    args = ap.parse_args(argv)

    params = ingest.load_params(args.params, "gate")
    params.update(ingest.load_params(args.cards, "gate"))
    data = os.path.abspath(args.data)
    out = os.path.abspath(args.out)
    onnx_path = os.path.join(out, "model.onnx")
    ckpt = torch.load(os.path.join(args.work, "model.pt"))
    info = ckpt["info"]
    class_ids = [c["id"] for c in params["classes"]]
    other = [c for c in class_ids if c not in params["routes"]][0]
    with open(os.path.join(args.work, "ingest.json")) as f:
        ing = json.load(f)
    sha = scope.sha256_file(onnx_path)
    empty = {"n": 0, "accuracy": 0, "macro_f1": 0, "auc": 0, "sensitivity": 0, "specificity": 0, "ece": 0,
             "per_class": {c: {"sensitivity": 0, "specificity": 0, "auc": 0} for c in class_ids},
             "confusion": [[0] * len(class_ids) for _ in class_ids]}
    write_card(os.path.join(out, "model.yaml"), manifest(params, info, sha, empty, {}))  # Go loads only valid cards
    T = temperature_of(info)

    # 1. The card's list: chest test lists + DICOM chest files + held-out DICOM negatives (all under the data root).
    test_rels, test_y = evaluate.read_list(os.path.join(args.work, "test_files.txt"), class_ids)
    dicom_chest = params["evaluate"]["dicom_chest"]
    card_rels = test_rels + [d["path"] for d in dicom_chest]
    card_y = np.concatenate([test_y, [class_ids.index(d["class"]) for d in dicom_chest]]).astype(np.int64)
    card_list = os.path.join(out, "test_files.txt")
    write_list(card_list, card_rels, [class_ids[k] for k in card_y])
    rels, logits, _, timing = go(out, data, card_list, timing=args.timing)
    if rels != card_rels:
        print("gate_evaluate: the go scorer returned a different file order", file=sys.stderr)
        return 1
    prob = metrics.softmax(logits, T)
    pred = prob.argmax(axis=1)
    figs = metrics.summary(card_y, prob, class_ids)

    # 2. Held-out negatives outside the data root (packages, documents, screenshots), scored from their paths.
    held = [line.rstrip("\n").split("\t") for line in open(os.path.join(args.work, "heldout.tsv"))][1:]
    ext = [(p, fam) for p, fam, _ in held if not p.startswith(data + os.sep)]
    ext_list = os.path.join(args.work, "heldout_external.txt")
    write_list(ext_list, [p for p, _ in ext], [f for _, f in ext])
    _, ext_logits, _, _ = go(out, "/", ext_list)
    ext_pred = metrics.softmax(ext_logits, T).argmax(axis=1)

    # Where each evaluation image stands: (path relative to its root, root, truth, gate's class, family).
    fam_of = {os.path.relpath(p, data): fam for p, fam, _ in held if p.startswith(data + os.sep)}
    evals = []
    dicom_set = {d["path"] for d in dicom_chest}
    for r, y, pk in zip(card_rels, card_y, pred):
        fam = fam_of.get(r) or ("dicom-chest" if r in dicom_set else r.split("/")[0] + "/test")
        evals.append({"path": r, "root": data, "truth": class_ids[y], "gate": class_ids[pk], "family": fam})
    for (p, fam), pk in zip(ext, ext_pred):
        evals.append({"path": p, "root": "/", "truth": other, "gate": class_ids[pk], "family": fam})

    # 3. The routed models' out-of-scope check on what the gate sent them.
    scopes = {}
    for cls, mid in params["routes"].items():
        mdir = os.path.join(os.path.abspath(args.models_dir), mid)
        if not os.path.exists(os.path.join(mdir, "scope.yaml")):
            print(f"gate_evaluate: {mid} has no scope.yaml; the combined figures leave its check out", flush=True)
            continue
        with open(os.path.join(mdir, "scope.yaml")) as f:
            spec = yaml.safe_load(f)
        if spec["model_sha256"] != scope.sha256_file(os.path.join(mdir, "model.onnx")):
            print(f"gate_evaluate: {mid}'s scope.yaml belongs to other weights; run `make scope MODEL={mid}`",
                  file=sys.stderr)
            return 1
        means, prec = scope.read_stats(os.path.join(mdir, spec["stats"]))
        routed = [e for e in evals if e["gate"] == cls]
        for root in (data, "/"):
            part = [e for e in routed if e["root"] == root]
            if not part:
                continue
            lp = os.path.join(args.work, f"routed_{mid}.txt")
            write_list(lp, [e["path"] for e in part], [e["truth"] for e in part])
            _, _, feats, _ = go(mdir, root, lp, features=True)
            d2, _ = scope.d2(feats, means, prec)
            for e, v in zip(part, d2):
                e["d2"], e["in_scope"] = float(v), bool(v <= spec["threshold"])
        scopes[mid] = {"threshold": spec["threshold"], "model_sha256": spec["model_sha256"],
                       "rule": spec["threshold_rule"]}

    # Cost: the routed models' forward time measured the same way, in the same run (the machine's load varies).
    costs = {"gate": timing}
    for mid in params["routes"].values():
        mdir = os.path.join(os.path.abspath(args.models_dir), mid)
        if os.path.exists(os.path.join(mdir, "test_files.txt")):
            costs[mid] = go(mdir, data, os.path.join(mdir, "test_files.txt"), timing=args.timing)[3]

    def accepted(e):
        """The whole decision: routed, and (where the routed model has statistics) within its scope."""
        if e["gate"] == other:
            return False
        mid = params["routes"][e["gate"]]
        return e.get("in_scope", True) if mid in scopes else True

    # 4. Figures per group.
    routing = {}
    for fam in sorted({e["family"] for e in evals if e["truth"] != other}):
        es = [e for e in evals if e["family"] == fam]
        right = sum(e["gate"] == e["truth"] for e in es)
        routing[fam] = {"gate": rate(right, len(es)),
                        "combined": rate(sum(e["gate"] == e["truth"] and accepted(e) for e in es), len(es))
                        if scopes else None,
                        "sent_to": {c: sum(e["gate"] == c for e in es) for c in class_ids}}
    refusal = []
    for fam in sorted({e["family"] for e in evals if e["truth"] == other}):
        es = [e for e in evals if e["family"] == fam]
        refusal.append({"family": fam, "gate": rate(sum(e["gate"] == other for e in es), len(es)),
                        "combined": rate(sum(not accepted(e) for e in es), len(es)) if scopes else None,
                        "sent_to": {c: sum(e["gate"] == c for e in es) for c in class_ids}})
    allneg = [e for e in evals if e["truth"] == other]
    total_refusal = {"gate": rate(sum(e["gate"] == other for e in allneg), len(allneg)),
                     "combined": rate(sum(not accepted(e) for e in allneg), len(allneg)) if scopes else None}
    whole = whole_decision(args, params, out, evals, data)
    plot_refusal(refusal, os.path.join(out, "refusal.png"))
    evaluate.plot_confusion(figs["confusion"], [c["name"] for c in params["classes"]],
                            os.path.join(out, "confusion.png"))

    fams = ing["negatives"]
    held_names = sorted(f for f, v in fams.items() if v["tier"] == "heldout")
    gate_eval = {
        "routing_on_test": routing,
        "refusal_on_heldout_families": {r["family"]: {k: v for k, v in r.items() if k != "family"} for r in refusal},
        "refusal_all_heldout": total_refusal,
        "heldout_families": held_names,
        "train_families": sorted(f for f, v in fams.items() if v["tier"] == "train"),
        "decision": (f"the most probable of {', '.join(class_ids)} (softmax with temperature {T:.4f}, fitted on "
                     f"valid); {other} is refused. No threshold: the routed model's out-of-scope check "
                     f"(scope.yaml, Mahalanobis distance on its pooled features) is the second test."),
        "scopes": scopes,
        "whole_decision": whole,
        "thresholds": thresholds(params, T, args.models_dir),
        "cost_ms_per_image": costs,
        "scored_by": "ONNX Runtime through the application's Go engine (training/goscore), CPU, one thread",
    }
    negs = ing["negatives"]
    extra = {
        "dataset": (f"chest-ct/test and chest-xray/test as de-duplicated by the classifiers' ingest "
                    f"({ing['files_after']['test'].get('chest-ct', 0)} + "
                    f"{ing['files_after']['test'].get('chest-radiograph', 0)}), {len(dicom_chest)} DICOM chest "
                    f"files and {ing['files_after']['test'].get(other, 0)} held-out DICOM negatives; scored by "
                    f"ONNX Runtime via the Go engine"),
        "training_data": (f"{sum(ing['files_after']['train'].values())} train / "
                          f"{sum(ing['files_after']['valid'].values())} valid images: "
                          + "; ".join(f"{c} {ing['files_after']['train'].get(c, 0)}/"
                                      f"{ing['files_after']['valid'].get(c, 0)}" for c in class_ids)
                          + ". Negatives from families " + ", ".join(gate_eval["train_families"])
                          + " (training/gate_negatives.py; held out: " + ", ".join(held_names) + ")"),
        "removed": (f"negatives grouped by exact pixels and {ing['dhash_bits']}-bit dHash (Hamming <= "
                    f"{ing['near_dup_hamming']}): {ing['removed']['heldout-duplicates-train-tier']} held-out images "
                    f"duplicating a train-family image dropped, {ing['removed']['heldout-within-group']} held-out "
                    f"repeats collapsed; {sum(v['heldout'] for v in negs.values())} held-out images kept"),
        "gate_evaluation": gate_eval,
    }
    m = manifest(params, info, sha, figs, extra)
    write_card(os.path.join(out, "model.yaml"), m)
    with open(os.path.join(args.work, "evaluate.json"), "w") as f:
        json.dump({"figures": figs, "gate_evaluation": gate_eval, "evals": evals}, f)

    run = tracking.Run(args.mlruns, "gate", "gate-evaluate", tracking.git_commit(HERE))
    run.set_tag("train_run_id", info["run_id"])
    for key in ("accuracy", "macro_f1", "auc", "sensitivity", "specificity", "ece"):
        run.log_metric(f"test_{key}", figs[key])
    run.log_metric("heldout_refusal_gate", total_refusal["gate"]["rate"])
    if total_refusal["combined"]:
        run.log_metric("heldout_refusal_combined", total_refusal["combined"]["rate"])
    if timing:
        run.log_metric("cpu_forward_ms_per_image", timing["median_forward_ms"])
    for name in ("model.yaml", "confusion.png", "refusal.png", "test_files.txt"):
        run.log_artifact(os.path.join(out, name))
    run.end(True)
    print(json.dumps({"routing": {k: v["gate"]["rate"] for k, v in routing.items()},
                      "refusal": {r["family"]: r["gate"]["rate"] for r in refusal},
                      "refusal_all": total_refusal, "timing": timing,
                      "whole_decision": {"in_scope": {k: (v["accepted"]["rate"], v["routed_right"]["rate"])
                                                      for k, v in whole["in_scope"].items()},
                                         "out_of_scope": {k: v["refused"]["rate"] for k, v in whole["out_of_scope"].items()},
                                         "out_of_scope_all": whole["out_of_scope_all"]["refused"]}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
