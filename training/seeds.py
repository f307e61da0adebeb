"""Train one model with several seeds side by side, keep the one valid prefers, and gather what comes back.

Usage: seeds.py --model ID --work DIR --out OUT [--device cuda] [--seeds 1 2 3 4] [--parallel 4] [--deadline S]
                [--cv]

The GPU entry point (training/GPU_RUN.md): DIR is a data pack (datapack.py), decoded once into a scratch folder;
each seed is a train.py process on the same device (a small network leaves a large GPU idle between kernels, so
processes side by side use it better than one). Seeds still running at --deadline seconds are stopped and left out.
The seed with the lowest selection score (train.py: valid NLL of clean and perturbed copies) is kept; the
choice reads valid only. With --cv the grouped cross-validation (cv.py) runs too, after the seeds.

OUT receives at most 8 files: model.pt, weights.npz, train.json (the kept seed), seeds.json (every seed's valid
figures), run.tar (the kept seed's MLflow run; `make gpu-import` unpacks it into training/mlruns), cv.json (--cv)
and log.txt.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import numpy as np

import datapack
import ingest

HERE = os.path.dirname(os.path.abspath(__file__))


def materialise(pack, scratch, params):
    """Decode the pack's splits once into scratch as plain ingest-style .npz files; returns scratch."""
    h, w = params["input"]["height"], params["input"]["width"]
    for split in ("train", "valid"):
        x, y, rel = datapack.load_split(pack, split, h, w)
        np.savez(os.path.join(scratch, f"{split}.npz"), x=x, y=y, rel=rel)
    for name in ("ingest.json", "files.tsv"):
        shutil.copy(os.path.join(pack, name), os.path.join(scratch, name))
    return scratch


def progress(path):
    """Return (epochs done, epochs in all) from a train.py/cv.py log, or None before the first epoch."""
    try:
        with open(path) as f:
            found = re.findall(r"epoch (\d+)/(\d+)", f.read())
    except OSError:
        return None
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def run_parallel(cmds, parallel, deadline, log):
    """Run commands (name, argv, log path), at most `parallel` at a time, so that they end by the deadline.

    Once every running command has logged two epochs, each one's end is projected from its pace since its first
    logged epoch (start-up excluded; times 1.15, as the second half of the epochs also scores the perturbed
    copies); while the latest projected end lies past the deadline and more than one is running, the last started is
    stopped (the others then share the GPU and speed up). Commands not started by the deadline are skipped. The
    last one running is never stopped: the caller's own time limit is the backstop. Returns {name: exit code, or
    None when stopped or skipped}.
    """
    t0 = time.time()
    pending, running, done, first = list(cmds), {}, {}, {}
    while pending or running:
        while pending and len(running) < parallel and not (deadline and time.time() - t0 > deadline):
            name, argv, path = pending.pop(0)
            running[name] = (subprocess.Popen(argv, cwd=HERE, stdout=open(path, "w"), stderr=subprocess.STDOUT),
                             time.time(), path)
            log(f"runner: started {name}")
        if deadline and time.time() - t0 > deadline:
            for name, _, _ in pending:
                done[name] = None
                log(f"runner: {name} skipped at the {deadline:.0f}s deadline")
            pending = []
        for name, (proc, start, _) in list(running.items()):
            rc = proc.poll()
            if rc is not None:
                done[name] = rc
                del running[name]
                log(f"runner: {name} finished with exit {rc} after {time.time() - start:.0f}s")
        if deadline and len(running) > 1:
            now, ends = time.time(), {}
            for name, (_, _, path) in running.items():
                pg = progress(path)
                if pg is not None and name not in first:
                    first[name] = (now, pg[0])
                if pg is None or pg[0] <= first[name][1]:
                    ends = {}
                    break
                pace = (now - first[name][0]) / (pg[0] - first[name][1])
                ends[name] = now + 1.15 * pace * (pg[1] - pg[0]) - t0
            if ends and max(ends.values()) > deadline:
                victim = list(running)[-1]
                proc = running.pop(victim)[0]
                proc.kill()
                proc.wait()
                done[victim] = None
                first.clear()  # the others speed up: measure their pace afresh
                log(f"runner: stopped {victim}: projected ends {', '.join(f'{k} {v:.0f}s' for k, v in ends.items())} "
                    f"overrun the {deadline:.0f}s deadline")
        time.sleep(1)
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True, help="data pack or ingest folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--params", default=os.path.join(HERE, "params.yaml"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads per process")
    ap.add_argument("--deadline", type=float, default=0, help="seconds after which running seeds are stopped")
    ap.add_argument("--epochs", type=int, default=0, help="override params (a dry run)")
    ap.add_argument("--cv", action="store_true", help="also run the grouped cross-validation (cv.py)")
    ap.add_argument("--cv-deadline", type=float, default=0)
    ap.add_argument("--cv-folds", type=int, default=0, help="override params' cv.folds")
    ap.add_argument("--cv-parallel", type=int, default=0, help="folds side by side (default: all)")
    ap.add_argument("--scratch", default="")
    args = ap.parse_args(argv)

    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, "log.txt"), "a")

    def log(msg):
        line = f"[{time.time() - t0:6.1f}s] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    params = ingest.load_params(args.params, args.model)
    scratch = args.scratch or tempfile.mkdtemp(prefix=f"tt-{args.model}-")
    data = os.path.join(scratch, "data")
    os.makedirs(data, exist_ok=True)
    materialise(args.work, data, params)
    log(f"seeds: decoded the pack into {data}")
    if os.path.exists(os.path.join(args.work, "pack.json")):
        commit = json.load(open(os.path.join(args.work, "pack.json"))).get("recipe_commit")
        if commit:
            os.environ.setdefault("TUMORTRACER_RECIPE_COMMIT", commit)

    cmds = []
    for s in args.seeds:
        d = os.path.join(scratch, f"seed-{s}")
        os.makedirs(d, exist_ok=True)
        argv_s = [sys.executable, "train.py", "--model", args.model, "--work", data, "--out", d, "--device",
                  args.device, "--seed", str(s), "--threads", str(args.threads), "--mlruns",
                  os.path.join(d, "mlruns"), "--params", args.params]
        if args.epochs:
            argv_s += ["--epochs", str(args.epochs)]
        cmds.append((f"seed-{s}", argv_s, os.path.join(d, "log.txt")))
    codes = run_parallel(cmds, args.parallel, args.deadline, log)

    results = {}
    for s in args.seeds:
        d = os.path.join(scratch, f"seed-{s}")
        with open(os.path.join(d, "log.txt")) as f:
            logf.write(f"----- seed {s} -----\n" + f.read())
        if codes.get(f"seed-{s}") == 0 and os.path.exists(os.path.join(d, "train.json")):
            info = json.load(open(os.path.join(d, "train.json")))
            results[s] = {"select_score": info["select_score"], "best_epoch": info["best_epoch"],
                          "train_seconds": info["train_seconds"], "valid": {k: info["valid"][k] for k in (
                              "accuracy", "macro_f1", "auc", "sensitivity", "specificity", "ece", "decision_ece")},
                          "valid_robustness_mean_points_lost": info["valid_robustness"]["mean_points_lost"],
                          "threshold": info["threshold"], "calibration": info["calibration"]}
    if not results:
        log("seeds: no seed finished; nothing to keep")
        return 1
    kept = min(results, key=lambda s: results[s]["select_score"])
    d = os.path.join(scratch, f"seed-{kept}")
    for name in ("model.pt", "weights.npz", "train.json"):
        if os.path.exists(os.path.join(d, name)):
            shutil.copy(os.path.join(d, name), os.path.join(args.out, name))
    with tarfile.open(os.path.join(args.out, "run.tar"), "w") as tar:
        tar.add(os.path.join(d, "mlruns"), arcname="mlruns")
    summary = {"kept_seed": kept, "rule": "lowest select_score (valid only)", "seeds": results,
               "stopped_or_failed": [s for s in args.seeds if s not in results], "wall_seconds": None}
    log(f"seeds: kept seed {kept} of {sorted(results)}")

    if args.cv:
        folds = args.cv_folds or int(params.get("cv", {}).get("folds", 5))
        cv_argv = [sys.executable, "cv.py", "--model", args.model, "--work", data, "--out",
                   os.path.join(args.out, "cv.json"), "--device", args.device, "--folds", str(folds),
                   "--parallel", str(args.cv_parallel or folds), "--threads", str(args.threads),
                   "--params", args.params, "--scratch", os.path.join(scratch, "cv")]
        if args.epochs:
            cv_argv += ["--epochs", str(args.epochs)]
        if args.cv_deadline:
            cv_argv += ["--deadline", str(args.cv_deadline)]
        rc = subprocess.run(cv_argv, cwd=HERE, stdout=logf, stderr=subprocess.STDOUT).returncode
        log(f"seeds: cross-validation finished with exit {rc}")
    summary["wall_seconds"] = round(time.time() - t0, 1)
    with open(os.path.join(args.out, "seeds.json"), "w") as f:
        json.dump(summary, f, indent=1)
    log(f"seeds: done in {summary['wall_seconds']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
