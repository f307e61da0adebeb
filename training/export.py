"""Export stage: write the trained network as ONNX (opset 17, dynamic batch) with outputs logits, cam and features.

Usage: export.py --work WORK_DIR --out MODEL_DIR

Reads WORK_DIR/model.pt (or its portable copy, checkpoint.py), folds the calibration chosen on valid into the class
map when it is a Platt scaling, writes MODEL_DIR/model.onnx and checks the exported graph's inputs and outputs by
parsing the ONNX protobuf (no onnx package needed): input "image" [N, C, H, W] float32 with a symbolic N; outputs
"logits" [N, K], "cam" [N, K, h, w] and "features" [N, F], the global average pool of the last feature map, so that
logits = W features + b with W, b the 1x1 class map's weights (the gate fits its statistics on features).
"""

import argparse
import os
import sys

import torch

import checkpoint

OPSET = 17


# --- a minimal protobuf reader, enough to list a model's graph inputs and outputs ---------------------------------

def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """Yield (field number, wire type, value) of one protobuf message; value is bytes for length-delimited."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")
        yield num, wt, v


def _value_info(buf):
    """Decode a ValueInfoProto into (name, elem_type, [dims as int or str])."""
    name, elem, dims = "", 0, []
    for num, _, v in _fields(buf):
        if num == 1:
            name = v.decode()
        elif num == 2:  # TypeProto
            for n2, _, v2 in _fields(v):
                if n2 == 1:  # tensor_type
                    for n3, _, v3 in _fields(v2):
                        if n3 == 1:
                            elem = v3
                        elif n3 == 2:  # TensorShapeProto
                            for n4, _, v4 in _fields(v3):
                                if n4 == 1:
                                    d = None
                                    for n5, _, v5 in _fields(v4):
                                        d = v5 if n5 == 1 else v5.decode()
                                    dims.append(d)
    return name, elem, dims


def graph_signature(path):
    """Return {"opset": int, "inputs": [...], "outputs": [...]} read from an ONNX file's protobuf."""
    with open(path, "rb") as f:
        buf = f.read()
    sig = {"opset": None, "inputs": [], "outputs": []}
    for num, _, v in _fields(buf):
        if num == 8:  # opset_import
            domain, version = "", None
            for n2, _, v2 in _fields(v):
                if n2 == 1:
                    domain = v2.decode()
                elif n2 == 2:
                    version = v2
            if domain in ("", "ai.onnx"):
                sig["opset"] = version
        elif num == 7:  # graph
            inits = set()
            for n2, _, v2 in _fields(v):
                if n2 == 5:  # initializer TensorProto: name is field 8
                    for n3, _, v3 in _fields(v2):
                        if n3 == 8:
                            inits.add(v3.decode())
            for n2, _, v2 in _fields(v):
                if n2 == 11:
                    vi = _value_info(v2)
                    if vi[0] not in inits:
                        sig["inputs"].append(vi)
                elif n2 == 12:
                    sig["outputs"].append(_value_info(v2))
    return sig


def check_signature(sig, channels, height, width, classes, features=None):
    """Return a list of problems with an exported graph's signature (empty when it meets the contract)."""
    problems = []
    if sig["opset"] is None or not 14 <= sig["opset"] <= 17:
        problems.append(f"opset {sig['opset']} is outside 14-17")
    if len(sig["inputs"]) != 1:
        problems.append(f"want one input, have {len(sig['inputs'])}")
    else:
        name, elem, dims = sig["inputs"][0]
        if name != "image" or elem != 1:
            problems.append(f"input is {name!r} of type {elem}, want 'image' float32")
        if len(dims) != 4 or not isinstance(dims[0], str) or dims[1:] != [channels, height, width]:
            problems.append(f"input dims {dims}, want [N, {channels}, {height}, {width}] with a symbolic N")
    names = [o[0] for o in sig["outputs"]]
    want = ["logits", "cam"] + (["features"] if features is not None else [])
    if names != want:
        problems.append(f"outputs {names}, want {want}")
    else:
        if features is not None and sig["outputs"][2][2][1:] != [features]:
            problems.append(f"features dims {sig['outputs'][2][2]}, want [N, {features}]")
        if sig["outputs"][0][2][1:] != [classes]:
            problems.append(f"logits dims {sig['outputs'][0][2]}, want [N, {classes}]")
        if len(sig["outputs"][1][2]) != 4 or sig["outputs"][1][2][1] != classes:
            problems.append(f"cam dims {sig['outputs'][1][2]}, want [N, {classes}, h, w]")
    return problems


def export(net, params, path):
    """Export net in eval mode to path and return the graph signature, raising ValueError if it is off-contract."""
    net.eval()
    c, h, w = params["input"]["channels"], params["input"]["height"], params["input"]["width"]
    dummy = torch.zeros(2, c, h, w)
    nfeat = int(net.classifier.weight.shape[1])
    torch.onnx.export(net, dummy, path, input_names=["image"], output_names=["logits", "cam", "features"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}, "cam": {0: "N"}, "features": {0: "N"}},
                      opset_version=OPSET, do_constant_folding=True)
    sig = graph_signature(path)
    problems = check_signature(sig, c, h, w, len(params["classes"]), nfeat)
    if problems:
        raise ValueError("exported graph is off-contract: " + "; ".join(problems))
    return sig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    try:
        ckpt = checkpoint.load(args.work)
    except ValueError as e:
        print(f"export: {e}", file=sys.stderr)
        return 1
    params = ckpt["params"]
    net = checkpoint.build_net(ckpt)
    cls = [c["id"] for c in params["classes"]]
    pos = cls.index(params["positive_class"]) if params.get("positive_class") else None
    temperature = checkpoint.fold_calibration(net, ckpt["info"]["calibration"], pos)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model.onnx")
    try:
        sig = export(net, params, path)
    except ValueError as e:
        print(f"export: {e}", file=sys.stderr)
        return 1
    print(f"export: wrote {path} (opset {sig['opset']}, inputs {sig['inputs']}, outputs {sig['outputs']}; "
          f"calibration {ckpt['info']['calibration']['method']}, card temperature {temperature:.6f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
