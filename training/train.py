"""Train stage: fit the CamNet on the cached train tensors, select the epoch and calibrate on valid.

Usage: train.py --model ID --work WORK_DIR [--params params.yaml] [--epochs N] [--mlruns DIR]

Reads WORK_DIR/{train,valid}.npz from the ingest stage; writes WORK_DIR/model.pt (the selected weights with the
temperature and, for binary models, the operating threshold) and WORK_DIR/train.json. Valid picks the epoch (lowest
NLL), the temperature (NLL-optimal) and the threshold; the test split is never read here.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import ingest
import metrics
import model as camnet
import tracking

HERE = os.path.dirname(os.path.abspath(__file__))


def load_split(work, split):
    """Return (x uint8 [N,H,W], y int64 [N]) of a cached split."""
    d = np.load(os.path.join(work, f"{split}.npz"))
    return d["x"], d["y"]


def to_input(x_u8, mean, std, channels):
    """Normalise a uint8 [N,H,W] torch tensor as the shared contract says: (v/255 - mean)/std, NCHW."""
    x = (x_u8.float() / 255.0 - mean) / std
    x = x.unsqueeze(1)
    if channels > 1:
        x = x.expand(-1, channels, -1, -1)
    return x


def augment(x01, aug, gen):
    """Randomly rotate/scale/translate and jitter brightness/contrast a batch in [0,1] grey, [N,1,H,W].

    No flips: a mirrored chest puts the heart on the wrong side. Padding is black, like the film border.
    """
    n = x01.shape[0]
    ang = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(aug["rotate_deg"])
    lo, hi = aug["scale"]
    sc = lo + torch.rand(n, generator=gen) * (hi - lo)
    tx = (torch.rand(n, generator=gen) * 2 - 1) * aug["translate"] * 2
    ty = (torch.rand(n, generator=gen) * 2 - 1) * aug["translate"] * 2
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x01.shape), align_corners=False)
    out = F.grid_sample(x01, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    clo, chi = aug["contrast"]
    c = (clo + torch.rand(n, 1, 1, 1, generator=gen) * (chi - clo))
    b = (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * aug["brightness"]
    out = (out - 0.5) * c + 0.5 + b
    return out.clamp(0.0, 1.0)


def predict_logits(net, x_u8, mean, std, channels, batch=64):
    """Return the logits of a uint8 [N,H,W] array as float64 numpy, in eval mode."""
    net.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x_u8), batch):
            xb = to_input(torch.from_numpy(x_u8[i:i + batch]), mean, std, channels)
            outs.append(net(xb)[0].double().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0))


def class_weights(y, k, rule):
    """Return loss weights per class: "balanced" = n / (k * n_c), anything else = ones."""
    if rule != "balanced":
        return torch.ones(k)
    counts = np.bincount(y, minlength=k).astype(np.float64)
    counts[counts == 0] = 1
    return torch.tensor(len(y) / (k * counts), dtype=torch.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--params", default=os.path.join(HERE, "params.yaml"))
    ap.add_argument("--epochs", type=int, default=0, help="override params (smoke test)")
    ap.add_argument("--mlruns", default=os.path.join(HERE, "mlruns"))
    args = ap.parse_args(argv)

    p = ingest.load_params(args.params, args.model)
    tp, aug = p["train"], p["augment"]
    epochs = args.epochs or tp["epochs"]
    torch.manual_seed(tp["seed"])
    np.random.seed(tp["seed"])
    torch.set_num_threads(int(tp.get("threads", 2)))
    gen = torch.Generator().manual_seed(tp["seed"])

    xtr, ytr = load_split(args.work, "train")
    xva, yva = load_split(args.work, "valid")
    if len(xtr) == 0 or len(xva) == 0:
        print("train: the train or valid split is empty; run the ingest stage first", file=sys.stderr)
        return 1
    k = len(p["classes"])
    class_ids = [c["id"] for c in p["classes"]]
    pos = class_ids.index(p["positive_class"]) if p.get("positive_class") else None
    mean, std, ch = float(p["mean"]), float(p["std"]), int(p["input"]["channels"])

    net = camnet.build(p)
    opt = torch.optim.AdamW(net.parameters(), lr=tp["lr"], weight_decay=tp["weight_decay"])
    bs = tp["batch_size"]
    steps = max(1, math.ceil(len(xtr) / bs))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tp["lr"], total_steps=epochs * steps, pct_start=0.25)
    cw = class_weights(ytr, k, tp["class_weights"])

    commit = tracking.git_commit(HERE)
    run = tracking.Run(args.mlruns, args.model, f"{args.model}-train", commit)
    run.log_params(p)
    run.log_params({"train.epochs_run": epochs, "data.n_train": len(xtr), "data.n_valid": len(xva)})

    xtr_t = torch.from_numpy(xtr)
    ytr_t = torch.from_numpy(ytr)
    best = {"nll": float("inf")}
    t0 = time.time()
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen)
        tot, seen = 0.0, 0
        for s in range(steps):
            idx = perm[s * bs:(s + 1) * bs]
            if len(idx) < 2:
                continue
            x01 = xtr_t[idx].float().div(255.0).unsqueeze(1)
            x01 = augment(x01, aug, gen)
            xb = (x01 - mean) / std
            if ch > 1:
                xb = xb.expand(-1, ch, -1, -1)
            logits, _ = net(xb)
            loss = F.cross_entropy(logits, ytr_t[idx], weight=cw, label_smoothing=tp.get("label_smoothing", 0.0))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
            seen += len(idx)
        lv = predict_logits(net, xva, mean, std, ch)
        v_nll = metrics.nll(yva, lv)
        v = metrics.summary(yva, metrics.softmax(lv), class_ids, positive=pos, threshold=0.5 if pos is not None else None)
        elapsed = time.time() - t0
        for key, val in (("train_loss", tot / max(seen, 1)), ("valid_nll", v_nll), ("valid_accuracy", v["accuracy"]),
                         ("valid_macro_f1", v["macro_f1"]), ("valid_auc", v["auc"]), ("seconds", elapsed)):
            run.log_metric(key, val, ep)
        print(f"epoch {ep + 1}/{epochs} loss {tot / max(seen, 1):.4f} valid nll {v_nll:.4f} acc {v['accuracy']:.4f} "
              f"f1 {v['macro_f1']:.4f} auc {v['auc']:.4f} ({elapsed:.0f}s)", flush=True)
        if v_nll < best["nll"]:
            best = {"nll": v_nll, "epoch": ep + 1, "state": {kk: vv.clone() for kk, vv in net.state_dict().items()}}
    train_seconds = time.time() - t0

    net.load_state_dict(best["state"])
    lv = predict_logits(net, xva, mean, std, ch)
    temperature = metrics.fit_temperature(yva, lv)
    pv = metrics.softmax(lv, temperature)
    threshold = None
    if pos is not None:
        rule = p["threshold"]
        threshold = metrics.max_threshold_with_sensitivity(yva == pos, pv[:, pos], rule["min_sensitivity"])
    vsum = metrics.summary(yva, pv, class_ids, positive=pos, threshold=threshold)
    info = {
        "model": args.model, "run_id": run.run_id, "run_dir": run.dir, "recipe_commit": commit,
        "best_epoch": best["epoch"], "epochs": epochs, "train_seconds": round(train_seconds, 1),
        "temperature": temperature, "threshold": threshold, "valid": vsum,
        "valid_nll_before_temperature": metrics.nll(yva, lv), "valid_nll_after_temperature": metrics.nll(yva, lv, temperature),
        "n_train": int(len(xtr)), "n_valid": int(len(xva)), "torch": str(torch.__version__),
    }
    torch.save({"state_dict": net.state_dict(), "info": info, "params": p}, os.path.join(args.work, "model.pt"))
    with open(os.path.join(args.work, "train.json"), "w") as f:
        json.dump(info, f, indent=2)
    for key in ("temperature", "best_epoch", "train_seconds"):
        run.log_metric(key, info[key])
    if threshold is not None:
        run.log_metric("threshold", threshold)
    for key in ("accuracy", "macro_f1", "auc", "ece", "sensitivity", "specificity"):
        run.log_metric(f"valid_calibrated_{key}", vsum[key])
    run.log_artifact(os.path.join(args.work, "train.json"))
    run.end(True)
    print(json.dumps({k2: info[k2] for k2 in ("best_epoch", "train_seconds", "temperature", "threshold")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
