"""The trained model on disk: model.pt, plus weights.npz and train.json as a torch-version-proof copy.

model.pt is torch.save({"state_dict", "info", "params"}) with CPU tensors and plain Python values only. A GPU run
(PyTorch 2.x) also writes weights.npz (each tensor as a NumPy array, no pickles) and train.json (info with params),
so the export and evaluate stages here (PyTorch 1.13) can rebuild the model even if they cannot read a newer
model.pt. load() prefers model.pt and falls back to the pair.

The calibration chosen on valid is part of the model: fold_calibration() writes a Platt scaling into the class-map
weights (the exported logits then need temperature 1), or leaves a temperature for the model card.
"""

import json
import os

import numpy as np
import torch

import model as camnet


def save(folder, net_state, info, params, portable=False):
    """Write model.pt (and, when portable, weights.npz) and train.json into folder."""
    state = {k: v.detach().cpu() for k, v in net_state.items()}
    torch.save({"state_dict": state, "info": info, "params": params}, os.path.join(folder, "model.pt"))
    npz = os.path.join(folder, "weights.npz")
    if portable:
        np.savez(npz, **{k: v.numpy() for k, v in state.items()})
    elif os.path.exists(npz):
        os.remove(npz)  # an earlier run's portable copy must not outlive its model.pt
    with open(os.path.join(folder, "train.json"), "w") as f:
        json.dump({**info, "params": params}, f, indent=1)


def load(folder):
    """Return {"state_dict", "info", "params"} from folder's model.pt, or from weights.npz + train.json."""
    pt = os.path.join(folder, "model.pt")
    npz, tj = os.path.join(folder, "weights.npz"), os.path.join(folder, "train.json")
    err = None
    if os.path.exists(pt):
        try:
            return torch.load(pt, map_location="cpu")
        except Exception as e:  # noqa: BLE001 - any unreadable pickle falls back to the portable copy
            err = e
    if os.path.exists(npz) and os.path.exists(tj):
        with open(tj) as f:
            info = json.load(f)
        params = info.pop("params")
        with np.load(npz) as d:
            state = {k: torch.from_numpy(d[k].copy()) for k in d.files}
        return {"state_dict": state, "info": info, "params": params}
    if err is not None:
        raise ValueError(f"{pt} is unreadable ({err}) and there is no weights.npz + train.json beside it")
    raise ValueError(f"no model.pt (or weights.npz + train.json) in {folder}; run the train stage first")


def build_net(ckpt):
    """Return the network of a loaded checkpoint, in eval mode, with its trained weights."""
    net = camnet.build(ckpt["params"])
    net.load_state_dict(ckpt["state_dict"])
    net.eval()
    return net


def fold_calibration(net, cal, positive=None):
    """Fold the calibration into net (in place) and return the temperature the model card must carry.

    Temperature: nothing changes in the weights; the card's temperature is T. Platt (binary, margin a d + b): the
    class map's weights and bias are scaled by a and the bias gets +b/2 on the positive class and -b/2 on the
    other, so the exported logits are already calibrated (temperature 1), still equal W' features + b' exactly, and
    the CAM changes only by a positive scale and a constant per class.
    """
    if cal["method"] == "temperature":
        return float(cal["temperature"])
    if cal["method"] != "platt":
        raise ValueError(f"unknown calibration method {cal['method']!r}")
    conv = net.classifier
    with torch.no_grad():
        conv.weight.mul_(float(cal["a"]))
        conv.bias.mul_(float(cal["a"]))
        conv.bias[positive] += float(cal["b"]) / 2.0
        conv.bias[1 - positive] -= float(cal["b"]) / 2.0
    return 1.0
