"""Ingest stage: list, de-duplicate, split and cache one data set as uint8 tensors.

Usage: ingest.py --model ID --data DATA_ROOT --out WORK_DIR [--params params.yaml] [--limit N]

Writes into WORK_DIR: files.tsv (every file with its split, class, hashes and the decision), {train,valid,test}.npz
(uint8 images after grey + Linear resize, labels, paths), ingest.json (counts), test_files.txt and the other
final lists ("path relative to the data root<TAB>class-id").
"""

import argparse
import hashlib
import json
import os
import re
import sys

import numpy as np
import yaml

import dedup
import preprocess

SPLITS = ("train", "valid", "test")
IMAGE_EXT = (".png", ".jpg", ".jpeg")


def load_params(path, model_id):
    """Return the params.yaml section of one model, or raise ValueError naming the known ids."""
    with open(path) as f:
        allp = yaml.safe_load(f)
    if model_id not in allp:
        raise ValueError(f"unknown model {model_id!r}; params.yaml defines {sorted(allp)}")
    return allp[model_id]


def folder_map(params):
    """Map each data-set folder name to its class index."""
    out = {}
    for k, c in enumerate(params["classes"]):
        for f in c["folders"]:
            out[f] = k
    return out


def list_files(data_root, params):
    """Return items (dicts with path, rel, split, label) for every image of the model's data set."""
    base = os.path.join(data_root, params["data"])
    fmap = folder_map(params)
    items = []
    for split in SPLITS:
        sdir = os.path.join(base, split)
        if not os.path.isdir(sdir):
            continue
        for folder in sorted(os.listdir(sdir)):
            fdir = os.path.join(sdir, folder)
            if not os.path.isdir(fdir):
                continue
            if folder not in fmap:
                raise ValueError(f"folder {fdir} maps to no class; add it to params.yaml")
            for name in sorted(os.listdir(fdir)):
                if not name.lower().endswith(IMAGE_EXT):
                    continue
                path = os.path.join(fdir, name)
                items.append({
                    "path": path,
                    "rel": os.path.relpath(path, data_root),
                    "split": split,
                    "label": fmap[folder],
                    "cls": params["classes"][fmap[folder]]["id"],
                })
    return items


_PATIENT_PATTERNS = [
    re.compile(r"^(person\d+)_"),          # PNEUMONIA: person123_bacteria_456.jpeg
    re.compile(r"^(NORMAL2-IM-\d+)-"),     # NORMAL: NORMAL2-IM-1427-0001.jpeg
    re.compile(r"^(IM-\d+)-"),             # NORMAL: IM-0115-0001.jpeg
]


def patient_id(name):
    """Return the Kermany patient id in a file name, or the file name itself when it carries none."""
    for pat in _PATIENT_PATTERNS:
        m = pat.match(name)
        if m:
            return m.group(1)
    return name


def carve_valid(items, keep, share, seed):
    """Move a stratified share of train PATIENTS (per class) to valid, in place; returns the moved count."""
    rng = np.random.default_rng(seed)
    moved = 0
    labels = sorted({it["label"] for it in items})
    for lab in labels:
        patients = sorted({patient_id(os.path.basename(it["path"])) for it, k in zip(items, keep)
                           if k and it["split"] == "train" and it["label"] == lab})
        n = int(round(share * len(patients)))
        chosen = set(rng.permutation(patients)[:n].tolist()) if n else set()
        for it, k in zip(items, keep):
            if k and it["split"] == "train" and it["label"] == lab and \
                    patient_id(os.path.basename(it["path"])) in chosen:
                it["split"] = "valid"
                moved += 1
    return moved


def limit_items(items, per_class, seed):
    """Keep at most per_class files per (split, class), chosen at random: the smoke test's handful."""
    rng = np.random.default_rng(seed)
    out = []
    for split in SPLITS:
        for lab in sorted({it["label"] for it in items}):
            group = [it for it in items if it["split"] == split and it["label"] == lab]
            idx = sorted(rng.permutation(len(group))[:per_class].tolist())
            out.extend(group[i] for i in idx)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--params", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "params.yaml"))
    ap.add_argument("--limit", type=int, default=0, help="at most N files per split and class (smoke test)")
    args = ap.parse_args(argv)

    params = load_params(args.params, args.model)
    items = list_files(args.data, params)
    if not items:
        print(f"ingest: no images under {os.path.join(args.data, params['data'])}", file=sys.stderr)
        return 1
    seed = params["train"]["seed"]
    if args.limit:
        items = limit_items(items, args.limit, seed)
    h, w = params["input"]["height"], params["input"]["width"]
    ing = params["ingest"]

    greys, exact, hashes, unreadable = [], [], [], []
    for it in items:
        try:
            g = preprocess.load_grey(it["path"])
        except (OSError, ValueError) as e:
            unreadable.append(f"{it['rel']}: {e}")
            g = None
        greys.append(g)
        exact.append(dedup.content_hash(g) if g is not None else "unreadable:" + it["rel"])
        hashes.append(dedup.dhash(g, ing["dhash_size"]) if g is not None
                      else np.zeros(ing["dhash_size"] ** 2, dtype=bool))

    groups = dedup.duplicate_groups(exact, np.array(hashes), ing["near_dup_hamming"])
    keep, reasons = dedup.resolve(items, groups)
    for i, g in enumerate(greys):
        if g is None:
            keep[i] = False
    counts_before = count(items, [True] * len(items), params)

    moved = 0
    if "valid_from_train" in ing and not any(it["split"] == "valid" for it in items):
        moved = carve_valid(items, keep, ing["valid_from_train"], seed)

    os.makedirs(args.out, exist_ok=True)
    shas = [file_sha256(it["path"]) for it in items]
    with open(os.path.join(args.out, "files.tsv"), "w") as f:
        f.write("rel\tsplit\tclass\tkept\texact\tdhash\tsha256\n")
        for it, k, e, hh, sh in zip(items, keep, exact, hashes, shas):
            f.write(f"{it['rel']}\t{it['split']}\t{it['cls']}\t{int(k)}\t{e}\t{np.packbits(hh).tobytes().hex()}"
                    f"\t{sh}\n")

    for split in SPLITS:
        idx = [i for i, it in enumerate(items) if keep[i] and it["split"] == split]
        x = np.zeros((len(idx), h, w), dtype=np.uint8)
        by_shape = {}
        for j, i in enumerate(idx):
            by_shape.setdefault(greys[i].shape, []).append(j)
        for js in by_shape.values():  # same-sized images are resized as one stack: same result, far fewer calls
            x[js] = preprocess.resize_linear(np.stack([greys[idx[j]] for j in js]), w, h)
        y = np.array([items[i]["label"] for i in idx], dtype=np.int64)
        rel = np.array([items[i]["rel"] for i in idx])
        np.savez(os.path.join(args.out, f"{split}.npz"), x=x, y=y, rel=rel)
        with open(os.path.join(args.out, f"{split}_files.txt"), "w") as f:
            for i in idx:
                f.write(f"{items[i]['rel']}\t{items[i]['cls']}\n")

    summary = {
        "model": args.model,
        "data": os.path.abspath(args.data),
        "limit": args.limit,
        "near_dup_hamming": ing["near_dup_hamming"],
        "dhash_bits": ing["dhash_size"] ** 2,
        "files_before": counts_before,
        "files_after": count(items, keep, params),
        "removed": reasons,
        "unreadable": unreadable,
        "valid_carved_from_train": moved,
        "duplicate_groups": sum(1 for g in groups if len(g) > 1),
        "fingerprint": fingerprint(items, keep, shas),
        "input": {"height": h, "width": w},
    }
    with open(os.path.join(args.out, "ingest.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps({k: summary[k] for k in ("files_before", "files_after", "removed")}, indent=1))
    return 0


def file_sha256(path):
    """Return the hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(items, keep, shas):
    """Return the data fingerprint: a SHA-256 per split and over all, of the kept files after de-duplication.

    Each is the SHA-256 of the sorted lines "<split> <file sha256>" (one per kept file; "all" joins every split),
    so it changes when a file's bytes change or a file moves between splits, and not when files are renamed.
    """
    lines = {s: sorted(f"{s} {shas[i]}" for i, it in enumerate(items) if keep[i] and it["split"] == s)
             for s in SPLITS}
    digest = lambda ls: hashlib.sha256("\n".join(ls).encode()).hexdigest()  # noqa: E731
    out = {s: digest(ls) for s, ls in lines.items()}
    out["all"] = digest(sorted(sum(lines.values(), [])))
    out["rule"] = "sha256 of the sorted lines '<split> <sha256 of the file>' of the kept files"
    return out


def count(items, keep, params):
    """Return {split: {class-id: n}} over the kept items."""
    out = {}
    for it, k in zip(items, keep):
        if not k:
            continue
        out.setdefault(it["split"], {c["id"]: 0 for c in params["classes"]})
        out[it["split"]][it["cls"]] += 1
    return out


if __name__ == "__main__":
    sys.exit(main())
