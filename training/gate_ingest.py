"""Ingest stage of the gate: chest films and slices from the classifiers' ingest lists plus the negatives, cached
as uint8 tensors at the gate's input size, in the layout train.py reads.

Usage: gate_ingest.py --data DATA_ROOT --out WORK_DIR [--work-root training/work] [--params params.yaml]

Reads the chest models' de-duplicated split lists (WORK_ROOT/<id>/{train,valid,test}_files.txt, from ingest.py)
and WORK_DIR/negatives/negatives.tsv (from gate_negatives.py). Negatives are grouped by exact pixels and dHash
(as the classifiers' ingest does); for train-tier families a seeded share of the groups of each family becomes
valid (chest-derived images keep the split of the chest image they came from); held-out families are kept out of
both, minus any image that duplicates a train-tier one, and collapse to one image per duplicate group.

Writes into WORK_DIR: {train,valid}.npz (x uint8 [N,H,W], y, rel), {train,valid}_files.txt ("path<TAB>class",
absolute paths), test_files.txt (the chest test lists and the held-out DICOM files, relative to DATA_ROOT: the
card's evaluation list), heldout.tsv (every held-out negative kept: app_path, family, source), files.tsv (every
negative with its group and decision) and ingest.json (counts).
"""

import argparse
import json
import os
import sys

import numpy as np

import dedup
import ingest
import preprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def read_negatives(path):
    """Return the rows of negatives.tsv as dicts."""
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        return [dict(zip(head, line.rstrip("\n").split("\t"))) for line in f if line.strip()]


def read_lines(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def group_ids(exact, hashes, threshold, min_bits=16, block=1024):
    """Return a group id per item: items sharing exact pixels or within `threshold` dHash bits, transitively.

    Same grouping as dedup.duplicate_groups, computed in blocks so that thousands of items fit in memory, with one
    difference: a hash with fewer than min_bits set bits (a blank or nearly flat image: almost no neighbour is
    brighter than the last) matches only exact copies, else every flat image of every family chains into one group.
    """
    n = len(exact)
    uf = dedup.UnionFind(n)
    first = {}
    for i, e in enumerate(exact):
        if e in first:
            uf.union(first[e], i)
        else:
            first[e] = i
    hashes = np.asarray(hashes)
    flat = hashes.sum(axis=1) < min_bits
    for s in range(0, n, block):
        d = dedup.hamming_matrix(hashes[s:s + block], hashes)
        d[flat[s:s + block]] = threshold + 1
        d[:, flat] = threshold + 1
        ii, jj = np.nonzero(d <= threshold)
        for i, j in zip(ii.tolist(), jj.tolist()):
            if s + i < j:
                uf.union(s + i, j)
    out = np.zeros(n, dtype=np.int64)
    for gid, members in enumerate(sorted(uf.groups().values())):
        out[members] = gid
    return out


def split_negatives(rows, groups, valid_share, seed):
    """Assign train/valid/heldout/drop to each negative; returns (splits, reasons)."""
    splits = [None] * len(rows)
    reasons = {"heldout-duplicates-train-tier": 0, "heldout-within-group": 0}
    train_groups = {g for r, g in zip(rows, groups) if r["tier"] == "train"}
    rng = np.random.default_rng(seed)
    for fam in sorted({r["family"] for r in rows if r["tier"] == "train"}):
        idx = [i for i, r in enumerate(rows) if r["family"] == fam]
        # Large groups (one picture in many sizes or frames, families of similar icons) stay in train: valid is
        # drawn from the small groups, so a share of groups is also roughly that share of images.
        size = np.bincount(groups)
        gs = sorted({int(groups[i]) for i in idx if rows[i]["origin"] == "-" and size[groups[i]] <= 20})
        valid_groups = set(rng.permutation(gs)[:int(round(valid_share * len(gs)))].tolist())
        for i in idx:
            o = rows[i]["origin"]
            splits[i] = o if o in ("train", "valid") else ("valid" if groups[i] in valid_groups else "train")
    # A group split between train and valid would leak: such valid members follow the group to train.
    tgroups = {groups[i] for i, s in enumerate(splits) if s == "train"}
    for i, s in enumerate(splits):
        if s == "valid" and groups[i] in tgroups:
            splits[i] = "train"
    seen = set()
    for i in sorted(range(len(rows)), key=lambda i: rows[i]["app_path"]):
        r = rows[i]
        if r["tier"] != "heldout":
            continue
        if groups[i] in train_groups:
            splits[i] = "drop"
            reasons["heldout-duplicates-train-tier"] += 1
        elif groups[i] in seen:
            splits[i] = "drop"
            reasons["heldout-within-group"] += 1
        else:
            splits[i] = "heldout"
            seen.add(groups[i])
    return splits, reasons


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work-root", default=os.path.join(HERE, "work"))
    ap.add_argument("--params", default=os.path.join(HERE, "params.yaml"))
    args = ap.parse_args(argv)

    p = ingest.load_params(args.params, "gate")
    ing = p["ingest"]
    h, w = p["input"]["height"], p["input"]["width"]
    class_ids = [c["id"] for c in p["classes"]]
    other = [c["id"] for c in p["classes"] if c["id"] not in p["routes"]]
    if len(other) != 1:
        print(f"gate_ingest: want exactly one class without a route, have {other}", file=sys.stderr)
        return 1
    other_k = class_ids.index(other[0])
    data = os.path.abspath(args.data)
    rng = np.random.default_rng(p["train"]["seed"])

    # Chest images: the classifiers' de-duplicated split lists.
    items = {"train": [], "valid": []}
    test_lines = []
    counts = {"train": {}, "valid": {}, "test": {}}
    for k, c in enumerate(p["classes"]):
        if "from" not in c:
            continue
        work = os.path.join(args.work_root, c["from"])
        for split in ("train", "valid", "test"):
            lp = os.path.join(work, f"{split}_files.txt")
            if not os.path.exists(lp):
                print(f"gate_ingest: {lp} is missing; run `make train MODEL={c['from']}` up to its ingest stage",
                      file=sys.stderr)
                return 1
            rels = [r[0] for r in read_lines(lp)]
            if split == "train" and c["id"] in ing.get("max_train", {}) and len(rels) > ing["max_train"][c["id"]]:
                rels = sorted(rng.permutation(rels)[:ing["max_train"][c["id"]]].tolist())
            counts[split][c["id"]] = len(rels)
            if split == "test":
                test_lines += [(r, c["id"]) for r in rels]
            else:
                items[split] += [(os.path.join(data, r), os.path.join(data, r), k) for r in rels]

    # Negatives: group, split, keep held-out families apart.
    neg_dir = os.path.join(args.out, "negatives")
    rows = read_negatives(os.path.join(neg_dir, "negatives.tsv"))
    greys, exact, hashes = [], [], []
    for r in rows:
        g = preprocess.load_grey(r["gate_png"])
        greys.append(preprocess.resize_linear(g, w, h))
        exact.append(dedup.content_hash(g))
        hashes.append(dedup.dhash(g, ing["dhash_size"]))
    groups = group_ids(exact, hashes, ing["near_dup_hamming"])
    splits, reasons = split_negatives(rows, groups, ing["valid_share"], p["train"]["seed"])
    neg_counts = {}
    for r, s in zip(rows, splits):
        neg_counts.setdefault(r["family"], {"tier": r["tier"], "train": 0, "valid": 0, "heldout": 0, "drop": 0})
        neg_counts[r["family"]][s] += 1
    for split in ("train", "valid"):
        counts[split][other[0]] = sum(1 for s in splits if s == split)

    os.makedirs(args.out, exist_ok=True)
    for split in ("train", "valid"):
        chest = items[split]
        x = np.zeros((len(chest), h, w), dtype=np.uint8)
        for j, (_, png, _) in enumerate(chest):
            x[j] = preprocess.preprocess_file(png, w, h)
        neg_idx = [i for i, s in enumerate(splits) if s == split]
        x = np.concatenate([x, np.stack([greys[i] for i in neg_idx])]) if neg_idx else x
        y = np.array([k for _, _, k in chest] + [other_k] * len(neg_idx), dtype=np.int64)
        rel = np.array([a for a, _, _ in chest] + [rows[i]["app_path"] for i in neg_idx])
        np.savez(os.path.join(args.out, f"{split}.npz"), x=x, y=y, rel=rel)
        with open(os.path.join(args.out, f"{split}_files.txt"), "w") as f:
            for a, k in zip(rel, y):
                f.write(f"{a}\t{class_ids[k]}\n")

    held = [i for i, s in enumerate(splits) if s == "heldout"]
    with open(os.path.join(args.out, "heldout.tsv"), "w") as f:
        f.write("app_path\tfamily\tsource\n")
        for i in held:
            f.write(f"{rows[i]['app_path']}\t{rows[i]['family']}\t{rows[i]['source']}\n")
    # The card's evaluation list must be readable from the data root alone: the chest test lists and the held-out
    # negatives that live there (the DICOM corpus).
    held_dicom = sorted({os.path.relpath(rows[i]["app_path"], data) for i in held
                         if os.path.abspath(rows[i]["app_path"]).startswith(data + os.sep)})
    with open(os.path.join(args.out, "test_files.txt"), "w") as f:
        for rel, cid in test_lines + [(r, other[0]) for r in held_dicom]:
            f.write(f"{rel}\t{cid}\n")
    counts["test"][other[0]] = len(held_dicom)
    with open(os.path.join(args.out, "files.tsv"), "w") as f:
        f.write("app_path\tfamily\ttier\tgroup\tsplit\n")
        for r, g, s in zip(rows, groups, splits):
            f.write(f"{r['app_path']}\t{r['family']}\t{r['tier']}\t{g}\t{s}\n")
    summary = {"model": "gate", "data": data, "files_after": counts, "negatives": neg_counts, "removed": reasons,
               "near_dup_hamming": ing["near_dup_hamming"], "dhash_bits": ing["dhash_size"] ** 2,
               "heldout_images": len(held), "heldout_in_test_files": len(held_dicom)}
    with open(os.path.join(args.out, "ingest.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps({"files_after": counts, "removed": reasons}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
