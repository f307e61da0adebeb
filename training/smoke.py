"""Smoke test of the whole recipe: a handful of images, one epoch, export, evaluate, load the result in Go.

Usage: smoke.py [--data DATA_ROOT] [--synthetic] [--keep]

Runs in a scratch folder (never training/work or training/mlruns), for both model ids: with DATA_ROOT holding the
data set, a few real images per split and class (ingest --limit); otherwise (or with --synthetic) a small data set
of drawn chest-like images laid out like the real one. Then it checks the exported ONNX graph's signature, scores
the test list with the Go engine (evaluate --scorer go) and lists the model with `go run . models --models DIR
--json`. With Go installed it then runs the gate's stages (a few negatives of three families, one epoch, export,
evaluation) and the scope stage on each classifier exported above (every export carries the pooled features), and
evaluates the gate again with those statistics. Exits non-zero on the first failure. Without the data set or go it
says so and carries on, except when the CI variable is set: then it fails (prerequisites.py), because CI always has
both.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import yaml
from PIL import Image, ImageDraw

import export
import ingest
import prerequisites
import scope
import tracking

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PY = sys.executable


def draw_chest(rng, size, sick):
    """Draw a crude chest radiograph: dark lungs in a bright body, with bright blobs when sick."""
    w, h = size
    im = Image.new("L", (w, h), int(rng.integers(20, 40)))
    d = ImageDraw.Draw(im)
    d.ellipse([w * 0.08, h * 0.05, w * 0.92, h * 0.98], fill=int(rng.integers(150, 190)))
    for x0 in (0.15, 0.55):
        d.ellipse([w * x0, h * 0.15, w * (x0 + 0.3), h * 0.85], fill=int(rng.integers(40, 70)))
    if sick:
        for _ in range(int(rng.integers(2, 5))):
            cx, cy, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.3, 0.8) * h, rng.uniform(0.05, 0.12) * w
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=int(rng.integers(120, 170)))
    arr = np.asarray(im, dtype=np.float64) + rng.normal(0, 6, (h, w))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")


def synthesise(root, model_id, params, seed=0):
    """Write a small data set shaped like the real one for model_id under root."""
    rng = np.random.default_rng(seed)
    base = os.path.join(root, params["data"])
    splits = ("train", "test") if "valid_from_train" in params["ingest"] else ("train", "valid", "test")
    per = {"train": 12, "valid": 4, "test": 4}
    for split in splits:
        for k, c in enumerate(params["classes"]):
            folder = os.path.join(base, split, c["folders"][0])
            os.makedirs(folder, exist_ok=True)
            for i in range(per[split]):
                sick = c["id"] != "normal"
                img = draw_chest(rng, (int(rng.integers(180, 300)), int(rng.integers(180, 300))), sick)
                if params["data"] == "chest-xray":
                    name = f"person{split}{k}{i}_bacteria_{i}.jpeg" if sick else f"IM-{split}{k}{i:02d}-0001.jpeg"
                    img.convert("RGB").save(os.path.join(folder, name), quality=92)
                else:
                    img.convert("RGBA").save(os.path.join(folder, f"{split}{k}{i}.png"))


def lacking(reason):
    """The sentence for an absent prerequisite, or (under CI) the smoke test's failure."""
    try:
        return prerequisites.missing(reason)
    except prerequisites.PrerequisiteMissing as e:
        raise SystemExit(f"smoke: {e}")


def step(name, cmd, cwd):
    """Run one stage, failing the smoke test with its output when it fails."""
    t = time.time()
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-3000:] + res.stderr[-3000:])
        raise SystemExit(f"smoke: {name} failed (exit {res.returncode})")
    print(f"smoke: {name} ok ({time.time() - t:.1f}s)", flush=True)
    return res.stdout


def smoke_gate(scratch, data, mlruns, classifiers):
    """The gate's stages and the scope stage on the smoke classifiers (which the caller has trained)."""
    with open(os.path.join(HERE, "params.yaml")) as f:
        allp = yaml.safe_load(f)
    g = allp["gate"]
    g["train"]["threads"] = 1
    g["ingest"]["max_train"] = {"chest-radiograph": 12}
    have_dicom = os.path.isdir(os.path.join(data, "dicom"))
    fams = {"synthetic": dict(g["negatives"]["families"]["synthetic"], per_kind=2),
            "chest-derived": dict(g["negatives"]["families"]["chest-derived"], kinds={"crop": 3, "mosaic": 1,
                                                                                     "window": 2}),
            "synthetic-heldout": dict(g["negatives"]["families"]["synthetic"], per_kind=1, tier="heldout")}
    if have_dicom:
        fams["dicom-other"] = dict(g["negatives"]["families"]["dicom-other"], max_frames=1)
        fams["dicom-mr"] = g["negatives"]["families"]["dicom-mr"]
    else:
        g["evaluate"]["dicom_chest"] = []
    g["negatives"]["families"] = fams
    params = os.path.join(scratch, "params.yaml")
    with open(params, "w") as f:
        yaml.safe_dump(allp, f)
    work_root = os.path.join(scratch, "work")
    work = os.path.join(work_root, "gate")
    out = os.path.join(scratch, "models", "gate")
    step("gate negatives", [PY, "gate_negatives.py", "--data", data, "--out", os.path.join(work, "negatives"),
                            "--work-root", work_root, "--params", params, "--limit", "3"], HERE)
    step("gate ingest", [PY, "gate_ingest.py", "--data", data, "--out", work, "--work-root", work_root,
                         "--params", params], HERE)
    step("gate train", [PY, "train.py", "--model", "gate", "--work", work, "--epochs", "1", "--params", params,
                        "--mlruns", mlruns], HERE)
    step("gate export", [PY, "export.py", "--work", work, "--out", out], HERE)
    cards = os.path.join(HERE, "cards.yaml")
    step("gate evaluate", [PY, "gate_evaluate.py", "--work", work, "--data", data, "--out", out, "--models-dir",
                           os.path.join(scratch, "models"), "--params", params, "--cards", cards, "--timing", "2",
                           "--mlruns", mlruns], HERE)
    with open(os.path.join(out, "model.yaml")) as f:
        card = yaml.safe_load(f)
    if card["task"] != "gate" or card["evaluation"]["n"] < 1 or not card["gate_evaluation"]["heldout_families"]:
        raise SystemExit(f"smoke: the gate's card lacks its figures: {card['evaluation']}")

    # The scope stage on each classifier as exported above (export.py gives every model its pooled features), then
    # the gate's evaluation again, now with the classifiers' out-of-scope statistics.
    models_dir = os.path.join(scratch, "models")
    for model_id in classifiers:
        mdir = os.path.join(models_dir, model_id)
        res = json.loads(step(f"{model_id} scope", [PY, "scope.py", "--model", model_id, "--work",
                                                    os.path.join(work_root, model_id), "--data", data, "--out", mdir,
                                                    "--test", "--negatives", os.path.join(work, "heldout.tsv")],
                              HERE).strip().splitlines()[-1])
        with open(os.path.join(mdir, "scope.yaml")) as f:
            spec = yaml.safe_load(f)
        if spec["model_sha256"] != scope.sha256_file(os.path.join(mdir, "model.onnx")) or res["go_valid_d2_max_rel_diff"] > 1e-4:
            raise SystemExit(f"smoke: {model_id}: scope.yaml is not bound to its model or Go disagrees: {res}")
    step("gate evaluate with the scopes", [PY, "gate_evaluate.py", "--work", work, "--data", data, "--out", out,
                                           "--models-dir", models_dir, "--params", params, "--cards", cards,
                                           "--timing", "2", "--mlruns", mlruns], HERE)
    with open(os.path.join(out, "model.yaml")) as f:
        ge = yaml.safe_load(f)["gate_evaluation"]
    if sorted(ge["scopes"]) != sorted(classifiers) or ge["refusal_all_heldout"]["combined"] is None:
        raise SystemExit(f"smoke: the gate's evaluation did not use the classifiers' scopes: {ge['scopes']}")

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(REPO, "..", "shared", "data"))
    ap.add_argument("--synthetic", action="store_true", help="draw images even when the data set is present")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--models", nargs="*", default=["cxr-pneumonia", "ct-lung"])
    ap.add_argument("--no-gate", action="store_true", help="leave out the gate's and the scope stage's smoke")
    args = ap.parse_args(argv)

    have_go = shutil.which("go") is not None
    if not have_go:
        print("smoke: " + lacking("go is not installed: scoring with torch, and the Go engine is not checked"))
    scratch = tempfile.mkdtemp(prefix="tumortracer-smoke-")
    try:
        for model_id in args.models:
            params = ingest.load_params(os.path.join(HERE, "params.yaml"), model_id)
            data = os.path.abspath(args.data)
            limit = ["--limit", "6"]
            if args.synthetic or not os.path.isdir(os.path.join(data, params["data"])):
                if not args.synthetic:
                    print(f"smoke: {model_id}: " + lacking(f"{os.path.join(data, params['data'])} not found "
                                                            "(give --data DATA_ROOT)"))
                data = os.path.join(scratch, "data")
                synthesise(data, model_id, params)
                limit = []
                print(f"smoke: {model_id}: drew a synthetic data set in {data}")
            work = os.path.join(scratch, "work", model_id)
            pack = os.path.join(scratch, "gpu-pack", model_id)
            gpu_out = os.path.join(scratch, "gpu-out", model_id)
            out = os.path.join(scratch, "models", model_id)
            mlruns = os.path.join(scratch, "mlruns")
            records = os.path.join(scratch, "runs")
            step(f"{model_id} ingest", [PY, "ingest.py", "--model", model_id, "--data", data, "--out", work] + limit,
                 HERE)
            # The GPU path, on the CPU: pack -> seeds.py (two seeds side by side, and for ct-lung the grouped CV) ->
            # import -> export -> evaluate. train.py runs inside seeds.py.
            step(f"{model_id} gpu-pack", [PY, "datapack.py", "--model", model_id, "--work", work, "--data", data,
                                          "--out", pack], HERE)
            cv = ["--cv", "--cv-folds", "2", "--cv-parallel", "1"] if "cv" in params else []
            step(f"{model_id} seeds (train)", [PY, "seeds.py", "--model", model_id, "--work", pack, "--out", gpu_out,
                                               "--device", "cpu", "--seeds", "1", "2", "--parallel", "2",
                                               "--threads", "1", "--epochs", "1",
                                               "--scratch", os.path.join(scratch, "seeds-" + model_id)] + cv, HERE)
            if len([f for f in os.listdir(gpu_out)]) > 8:
                raise SystemExit(f"smoke: {model_id}: the GPU run would bring back more than 8 files")
            step(f"{model_id} gpu-import", [PY, "gpuimport.py", "--model", model_id, "--from", gpu_out, "--work",
                                            work, "--mlruns", mlruns], HERE)
            step(f"{model_id} export", [PY, "export.py", "--work", work, "--out", out], HERE)
            sig = export.graph_signature(os.path.join(out, "model.onnx"))
            problems = export.check_signature(sig, params["input"]["channels"], params["input"]["height"],
                                              params["input"]["width"], len(params["classes"]),
                                              params["model"]["widths"][-1])
            if problems:
                raise SystemExit(f"smoke: {model_id}: exported graph is off-contract: {problems}")
            scorer = "go" if have_go else "torch"
            res = json.loads(step(f"{model_id} evaluate ({scorer})",
                                  [PY, "evaluate.py", "--model", model_id, "--work", work, "--data", data, "--out",
                                   out, "--scorer", scorer, "--timing", "3", "--mlruns", mlruns, "--previous", "auto",
                                   "--record", "--records", records], HERE)
                             .strip().splitlines()[-1])
            if res["n"] < 1:
                raise SystemExit(f"smoke: {model_id}: evaluation scored no files")
            if res.get("parity") and res["parity"]["max_abs_logit_diff"] > 1e-3:
                raise SystemExit(f"smoke: {model_id}: ONNX Runtime and PyTorch disagree: {res['parity']}")
            fc = (res.get("parity") or {}).get("features_check")
            if have_go and (fc is None or fc["max_abs_logits_minus_w_features_b"] > 1e-3):
                raise SystemExit(f"smoke: {model_id}: the ONNX features do not give the logits: {fc}")
            if res["robustness"]["test"]["clean_accuracy"] != res["accuracy"]:
                raise SystemExit(f"smoke: {model_id}: the robustness check's clean accuracy is not the card's")
            step(f"{model_id} metrics-diff", [PY, "metricsdiff.py", os.path.join(out, "model.yaml")], HERE)
            store = tracking.read_store(records)
            runs = store.get(model_id, {})
            names = sorted(r["tags"].get("mlflow.runName", "") for r in runs.values())
            if names != [f"{model_id}-evaluate", f"{model_id}-train"] or any(
                    r["artifacts"] is None or os.path.isabs(r["meta"]["artifact_uri"]) for r in runs.values()):
                raise SystemExit(f"smoke: {model_id}: the run record is incomplete or not relative: {names}")
            runs = [d for d, _, files in os.walk(mlruns) if "meta.yaml" in files]
            if len(runs) < 2:
                raise SystemExit("smoke: the MLflow file store has no runs")
        listed_ids = list(args.models)
        if have_go and not args.no_gate and set(args.models) >= {"cxr-pneumonia", "ct-lung"}:
            smoke_gate(scratch, data, mlruns, args.models)
            listed_ids.append("gate")
        if have_go:
            listed = json.loads(step("go run . models --json", ["go", "run", ".", "models", "--models",
                                                                os.path.join(scratch, "models"), "--json"], REPO))
            found = {m["id"]: m for m in listed if m.get("source", "") != "bundled"}
            for model_id in listed_ids:
                if model_id not in found:
                    raise SystemExit(f"smoke: `tumortracer models` did not list the smoke {model_id}")
        else:
            print("smoke: go is not installed; checked the ONNX signature only")
        print("smoke: all stages passed")
        return 0
    finally:
        if args.keep:
            print(f"smoke: scratch folder kept at {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
