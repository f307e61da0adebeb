"""Export with pooled features: logits, cam and the `features` output the out-of-scope check reads.

Usage: features.py --work WORK_DIR --out MODEL_DIR

The interface agreed for the 2.0 models (issue 11/12): a third ONNX output "features", [N, C] float32, the global
average pool of the last feature map, i.e. the CAM head's input (logits = W features + b). The manifest declares it
as outputs.features. This module wraps a CamNet (anything with .features and a 1x1 .classifier) to add that output
without changing the network, and exports it like export.py does (opset 17, dynamic batch, signature checked by
reading the protobuf). The gate's export stage uses it; so can any CamNet checkpoint (train.py's model.pt).
"""

import argparse
import os
import sys

import torch
from torch import nn

import export
import model as camnet


class PooledFeatures(nn.Module):
    """A CamNet with three outputs: (logits [N,K], cam [N,K,h,w], features [N,C]); logits = mean of the cam."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        if isinstance(getattr(self.net, "head", None), nn.Module):  # the 2.0 model.py's CamHead returns them
            return self.net(x)
        f = self.net.features(x)
        cam = self.net.classifier(f)
        return cam.mean(dim=(2, 3)), cam, f.mean(dim=(2, 3))


def check_signature(sig, channels, height, width, classes, width_features):
    """Return the problems with a three-output graph (export.check_signature's plus the features output)."""
    outs = sig["outputs"]
    problems = export.check_signature(dict(sig, outputs=outs[:2]), channels, height, width, classes)
    if len(outs) != 3 or outs[2][0] != "features":
        problems.append(f"outputs {[o[0] for o in outs]}, want ['logits', 'cam', 'features']")
    elif outs[2][1] != 1 or outs[2][2] != ["N", width_features]:
        problems.append(f"features dims {outs[2][2]} of type {outs[2][1]}, want [N, {width_features}] float32")
    return problems


def export_with_features(net, params, path):
    """Export net (eval mode) with the features output to path; raise ValueError if the graph is off-contract."""
    wrapped = PooledFeatures(net).eval()
    c, h, w = params["input"]["channels"], params["input"]["height"], params["input"]["width"]
    names = ["logits", "cam", "features"]
    torch.onnx.export(wrapped, torch.zeros(2, c, h, w), path, input_names=["image"], output_names=names,
                      dynamic_axes={n: {0: "N"} for n in ["image"] + names}, opset_version=export.OPSET,
                      do_constant_folding=True)
    sig = export.graph_signature(path)
    problems = check_signature(sig, c, h, w, len(params["classes"]), net.classifier.in_channels)
    if problems:
        raise ValueError("exported graph is off-contract: " + "; ".join(problems))
    return sig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    ckpt = torch.load(os.path.join(args.work, "model.pt"))
    net = camnet.build(ckpt["params"])
    net.load_state_dict(ckpt["state_dict"])
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model.onnx")
    try:
        sig = export_with_features(net, ckpt["params"], path)
    except ValueError as e:
        print(f"features: {e}", file=sys.stderr)
        return 1
    print(f"features: wrote {path} (opset {sig['opset']}, outputs {sig['outputs']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
