"""Train stage: fit the network on the cached train images, pick the epoch and calibrate on valid.

Usage: train.py --model ID --work DIR [--out DIR] [--device cpu|cuda] [--seed N] [--epochs N] [--mlruns DIR]

Reads DIR/{train,valid}.npz (an ingest folder, or a GPU data pack: datapack.py); writes OUT/model.pt (the selected
weights with the calibration and, for binary models, the operating threshold), OUT/train.json and, with --device
cuda, OUT/weights.npz (checkpoint.py); logs an MLflow run. OUT defaults to DIR.

Valid decides everything that is decided: the epoch (lowest mean of the valid NLL and the NLL on the valid images'
perturbed copies, perturb.py, among the second half of the epochs), the calibration (temperature or Platt, by
cross-validated NLL on valid) and the threshold. The test split is never read here.

The same code runs on PyTorch 1.13 (CPU, the default) and 2.x (CUDA): random draws come from CPU generators, the
learning rate is set by hand each step, and nothing newer than 1.13's API is used.
"""

import argparse
import copy
import json
import math
import os
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import augment as aug_mod
import checkpoint
import datapack
import ingest
import metrics
import model as camnet
import perturb
import tracking

HERE = os.path.dirname(os.path.abspath(__file__))


def to_input(x01, mean, std, channels):
    """Normalise a [N,1,H,W] batch in [0,1] as the shared contract says: (v - mean)/std, C channels."""
    x = (x01 - mean) / std
    if channels > 1:
        x = x.expand(-1, channels, -1, -1)
    return x


def predict_logits(net, x_u8, mean, std, channels, device="cpu", batch=128):
    """Return the logits of a uint8 [N,H,W] array as float64 numpy, in eval mode."""
    net.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x_u8), batch):
            xb = torch.from_numpy(np.ascontiguousarray(x_u8[i:i + batch])).to(device).float().div(255.0).unsqueeze(1)
            outs.append(net(to_input(xb, mean, std, channels))[0].double().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0))


def class_weights(y, k, rule):
    """Return loss weights per class: "balanced" = n / (k * n_c), anything else = ones."""
    if rule != "balanced":
        return torch.ones(k)
    counts = np.bincount(y, minlength=k).astype(np.float64)
    counts[counts == 0] = 1
    return torch.tensor(len(y) / (k * counts), dtype=torch.float32)


def lr_at(step, total, warmup, peak, schedule):
    """The learning rate of a step: linear warm-up, then cosine to zero (or one-cycle's shape, or constant)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if schedule == "constant":
        return peak
    if schedule in ("cosine", "onecycle"):
        t = (step - warmup) / max(1, total - warmup)
        return peak * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))
    raise ValueError(f"unknown schedule {schedule!r}")


class WeightAverage:
    """An exponential moving average of the weights and BatchNorm statistics, updated after every step.

    The decay follows a half-life in epochs, so it means the same for 15 and 144 steps per epoch; early on the
    average warms up (decay min(d, (1+t)/(10+t))) so the random initial weights do not linger.
    """

    def __init__(self, net, decay):
        self.decay = decay
        self.steps = 0
        self.state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    def update(self, net):
        self.steps += 1
        d = min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))
        with torch.no_grad():
            for k, v in net.state_dict().items():
                if v.dtype.is_floating_point:
                    self.state[k].mul_(d).add_(v.detach(), alpha=1.0 - d)
                else:
                    self.state[k].copy_(v)


def param_groups(net, weight_decay):
    """AdamW groups: decay on convolution weights only, not on BatchNorm scales or biases."""
    decay, no_decay = [], []
    for _, p in net.named_parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def environment(device, threads):
    """Where the run ran: torch version, device (and GPU name), threads, Python, machine."""
    env = {"torch": str(torch.__version__), "device": str(device), "threads": int(threads),
           "python": platform.python_version(), "machine": platform.machine()}
    if str(device).startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cuda"] = str(torch.version.cuda)
    return env


def fit(p, xtr, ytr, xva, yva, device="cpu", seed=1, epochs=None, run=None, select=True, log=print):
    """Train one network; return the selected (or last) averaged weights, the epoch and the per-epoch history.

    xtr/xva: uint8 [N,H,W]; select=False skips the perturbed copies and keeps the last epoch's averaged weights
    (the grouped cross-validation folds have no valid images of their own to select with).
    """
    tp, aug = p["train"], p["augment"]
    epochs = epochs or tp["epochs"]
    torch.manual_seed(seed)
    np.random.seed(seed)
    gen = torch.Generator().manual_seed(seed)
    k = len(p["classes"])
    class_ids = [c["id"] for c in p["classes"]]
    pos = class_ids.index(p["positive_class"]) if p.get("positive_class") else None
    mean, std, ch = float(p["mean"]), float(p["std"]), int(p["input"]["channels"])

    net = camnet.build(p).to(device)
    opt = torch.optim.AdamW(param_groups(net, tp["weight_decay"]), lr=tp["lr"])
    bs = tp["batch_size"]
    steps = max(1, len(xtr) // bs)
    total, warmup = epochs * steps, int(round(tp.get("warmup_epochs", 0) * steps))
    avg = WeightAverage(net, 0.5 ** (1.0 / (tp.get("ema_half_life_epochs", 1.0) * steps)))
    eval_net = copy.deepcopy(net)
    cw = class_weights(ytr, k, tp["class_weights"]).to(device)
    xtr_t = torch.from_numpy(xtr).to(device)
    ytr_t = torch.from_numpy(ytr).to(device)
    select_from = int(math.floor(tp.get("select_from", 0.5) * epochs)) if select else epochs
    xva_pert = perturb.perturb_stack(xva) if select else None

    best, history, step = {"score": float("inf")}, [], 0
    t0 = time.time()
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen)
        tot, seen = 0.0, 0
        for s in range(steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, tp["lr"], tp["schedule"])
            idx = perm[s * bs:(s + 1) * bs].to(device)
            x01 = aug_mod.augment(xtr_t[idx].float().div(255.0).unsqueeze(1), aug, gen)
            logits = net(to_input(x01, mean, std, ch))[0]
            loss = F.cross_entropy(logits, ytr_t[idx], weight=cw, label_smoothing=tp.get("label_smoothing", 0.0))
            opt.zero_grad()
            loss.backward()
            opt.step()
            avg.update(net)
            step += 1
            tot += float(loss) * len(idx)
            seen += len(idx)
        eval_net.load_state_dict(avg.state)
        rec = {"epoch": ep + 1, "train_loss": tot / max(seen, 1), "lr": opt.param_groups[0]["lr"]}
        if len(xva):
            lv = predict_logits(eval_net, xva, mean, std, ch, device)
            v = metrics.summary(yva, metrics.softmax(lv), class_ids, positive=pos,
                                threshold=0.5 if pos is not None else None)
            rec.update({"valid_nll": metrics.nll(yva, lv), "valid_accuracy": v["accuracy"],
                        "valid_macro_f1": v["macro_f1"], "valid_auc": v["auc"]})
            if ep >= select_from:
                nlls, accs = [], []
                for kind, xp in xva_pert.items():
                    lp = predict_logits(eval_net, xp, mean, std, ch, device)
                    nlls.append(metrics.nll(yva, lp))
                    accs.append(float(np.mean(lp.argmax(1) == yva)))
                rec["valid_perturbed_nll"] = float(np.mean(nlls))
                rec["valid_perturbed_accuracy"] = float(np.mean(accs))
                rec["select_score"] = 0.5 * rec["valid_nll"] + 0.5 * rec["valid_perturbed_nll"]
        rec["seconds"] = time.time() - t0
        history.append(rec)
        if run is not None:
            for key, val in rec.items():
                if key != "epoch":
                    run.log_metric(key, val, ep)
        log(f"epoch {ep + 1}/{epochs} " + " ".join(f"{kk} {vv:.4f}" for kk, vv in rec.items()
                                                   if kk not in ("epoch", "seconds", "lr")) +
            f" ({rec['seconds']:.0f}s)")
        if "select_score" in rec and rec["select_score"] < best["score"]:
            best = {"score": rec["select_score"], "epoch": ep + 1,
                    "state": {kk: vv.detach().cpu().clone() for kk, vv in avg.state.items()}}
    if "state" not in best:  # no selection: the last epoch's averaged weights
        best = {"score": None, "epoch": epochs, "state": {kk: vv.detach().cpu().clone() for kk, vv in avg.state.items()}}
    return {"state": best["state"], "best_epoch": best["epoch"], "select_score": best["score"], "history": history,
            "epochs": epochs, "train_seconds": round(time.time() - t0, 1), "steps_per_epoch": steps}


def calibrate_and_summarise(p, net, xva, yva, device="cpu"):
    """Choose the calibration and the threshold on valid; return them with the valid figures and robustness."""
    class_ids = [c["id"] for c in p["classes"]]
    pos = class_ids.index(p["positive_class"]) if p.get("positive_class") else None
    mean, std, ch = float(p["mean"]), float(p["std"]), int(p["input"]["channels"])
    lv = predict_logits(net, xva, mean, std, ch, device)
    methods = p.get("calibrate", {}).get("methods", ["temperature"])
    if pos is None:
        methods = [m for m in methods if m != "platt"] or ["temperature"]
    cal, cal_scores = metrics.choose_calibration(yva, lv, methods, positive=pos)
    pv = metrics.softmax(metrics.calibrated_logits(lv, cal, pos))
    threshold = None
    if pos is not None:
        threshold = metrics.max_threshold_with_sensitivity(yva == pos, pv[:, pos], p["threshold"]["min_sensitivity"])
    vsum = metrics.summary(yva, pv, class_ids, positive=pos, threshold=threshold)
    dec = metrics.decide(pv, pos, threshold)
    vsum["decision_ece"], _ = metrics.decision_ece(yva, pv, dec)
    pert = {}
    for kind, xp in perturb.perturb_stack(xva).items():
        pp = metrics.softmax(metrics.calibrated_logits(predict_logits(net, xp, mean, std, ch, device), cal, pos))
        pert[kind] = metrics.decide(pp, pos, threshold) == yva
    robust = perturb.robustness(dec == yva, pert)
    return {"calibration": cal, "calibration_cv_nll": cal_scores, "threshold": threshold, "valid": vsum,
            "valid_nll_before_calibration": metrics.nll(yva, lv),
            "valid_nll_after_calibration": metrics.nll(yva, metrics.calibrated_logits(lv, cal, pos)),
            "valid_robustness": robust}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True, help="ingest folder or GPU data pack with train.npz and valid.npz")
    ap.add_argument("--out", default="", help="where model.pt and train.json go (default: --work)")
    ap.add_argument("--params", default=os.path.join(HERE, "params.yaml"))
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--seed", type=int, default=0, help="override params' seed")
    ap.add_argument("--epochs", type=int, default=0, help="override params' epochs (smoke test)")
    ap.add_argument("--threads", type=int, default=0, help="override params' CPU threads")
    ap.add_argument("--mlruns", default=os.path.join(HERE, "mlruns"))
    args = ap.parse_args(argv)

    p = ingest.load_params(args.params, args.model)
    tp = p["train"]
    out = args.out or args.work
    os.makedirs(out, exist_ok=True)
    device = args.device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            print("train: --device cuda but PyTorch sees no GPU", file=sys.stderr)
            return 1
        torch.backends.cudnn.benchmark = True
    threads = args.threads or int(tp.get("threads", 2))
    torch.set_num_threads(threads)
    seed = args.seed or int(tp["seed"])

    h, w = p["input"]["height"], p["input"]["width"]
    xtr, ytr, _ = datapack.load_split(args.work, "train", h, w)
    xva, yva, _ = datapack.load_split(args.work, "valid", h, w)
    if len(xtr) == 0 or len(xva) == 0:
        print("train: the train or valid split is empty; run the ingest stage first", file=sys.stderr)
        return 1
    if xtr.shape[1:] != (h, w):
        print(f"train: the cache is {xtr.shape[1:]}, params.yaml wants {(h, w)}; re-run the ingest stage",
              file=sys.stderr)
        return 1
    with open(os.path.join(args.work, "ingest.json")) as f:
        ing = json.load(f)

    commit = tracking.git_commit(HERE)
    recipe_sha256 = tracking.recipe_digest()  # the source as the run starts (edits during a long run do not count)
    run = tracking.Run(args.mlruns, args.model, f"{args.model}-train", commit)
    env = environment(device, threads)
    run.log_params(p)
    run.log_params({"train.seed_run": seed, "train.epochs_run": args.epochs or tp["epochs"], "data.n_train": len(xtr),
                    "data.n_valid": len(xva), "data.fingerprint": ing.get("fingerprint", {}).get("all", "")})
    run.log_params({"env": env})
    run.set_tag("recipe_sha256", recipe_sha256)

    res = fit(p, xtr, ytr, xva, yva, device, seed, args.epochs or None, run,
              log=lambda s: print(s, flush=True))
    net = camnet.build(p).to(device)
    net.load_state_dict(res["state"])
    cal = calibrate_and_summarise(p, net, xva, yva, device)
    info = {
        "model": args.model, "version": p["version"], "run_id": run.run_id, "recipe_commit": commit,
        "recipe_sha256": recipe_sha256,
        "seed": seed, "best_epoch": res["best_epoch"], "epochs": res["epochs"], "select_score": res["select_score"],
        "steps_per_epoch": res["steps_per_epoch"], "train_seconds": res["train_seconds"],
        "calibration": cal["calibration"], "calibration_cv_nll": cal["calibration_cv_nll"],
        "threshold": cal["threshold"], "valid": cal["valid"], "valid_robustness": cal["valid_robustness"],
        "valid_nll_before_calibration": cal["valid_nll_before_calibration"],
        "valid_nll_after_calibration": cal["valid_nll_after_calibration"],
        "n_train": int(len(xtr)), "n_valid": int(len(xva)), "environment": env,
        "data_fingerprint": ing.get("fingerprint"), "history": res["history"],
    }
    checkpoint.save(out, res["state"], info, p, portable=device != "cpu")
    stale = os.path.join(out, "seeds.json")  # an imported GPU run's seed summary describes other weights
    if os.path.exists(stale):
        os.remove(stale)
    run.log_metric("best_epoch", res["best_epoch"])
    run.log_metric("train_seconds", res["train_seconds"])
    if cal["threshold"] is not None:
        run.log_metric("threshold", cal["threshold"])
    for key in ("accuracy", "macro_f1", "auc", "ece", "decision_ece", "sensitivity", "specificity"):
        run.log_metric(f"valid_calibrated_{key}", cal["valid"][key])
    run.log_metric("valid_robustness_mean_points_lost", cal["valid_robustness"]["mean_points_lost"])
    run.set_tag("calibration", json.dumps(cal["calibration"]))
    run.log_artifact(os.path.join(out, "train.json"))
    run.end(True)
    print(json.dumps({k2: info[k2] for k2 in ("seed", "best_epoch", "train_seconds", "calibration", "threshold")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
