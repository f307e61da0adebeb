"""Exact and near-duplicate detection for the ingest stage.

Exact duplicates are files whose decoded grey pixels are identical (an MD5 of the array and its shape), which also
catches the same picture saved as RGB, RGBA or JPEG-in-a-.png. Near duplicates are found with a difference hash
(dHash): the grey image shrunk to (size+1) x size with PIL's box filter, one bit per horizontal neighbour
comparison. Two images are near duplicates when the Hamming distance of their hashes is at most a threshold chosen
per data set in params.yaml (the README explains how the thresholds were chosen by looking at pairs).
"""

import hashlib

import numpy as np
from PIL import Image


def content_hash(grey):
    """Return a hex MD5 of a grey uint8 array's shape and pixels."""
    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    h = hashlib.md5()
    h.update(np.asarray(grey.shape, dtype=np.int64).tobytes())
    h.update(grey.tobytes())
    return h.hexdigest()


def dhash(grey, size=16):
    """Return the difference hash of a grey uint8 array as a bool vector of size*size bits."""
    im = Image.fromarray(np.asarray(grey, dtype=np.uint8), mode="L")
    small = np.asarray(im.resize((size + 1, size), Image.BOX), dtype=np.int16)
    return (small[:, 1:] > small[:, :-1]).reshape(-1)


def hamming_matrix(a, b):
    """Return the pairwise Hamming distances between two stacks of bool hashes, shape (len(a), len(b))."""
    a = np.asarray(a, dtype=np.uint8)
    b = np.asarray(b, dtype=np.uint8)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError("hamming_matrix needs two (n, bits) stacks of the same width")
    # |x - y| summed over bits = x.(1-y) + (1-x).y, done as two matrix products in float32 (BLAS; exact for
    # integers below 2**24) and returned as integers.
    af = a.astype(np.float32)
    bf = b.astype(np.float32)
    return np.rint(af @ (1 - bf).T + (1 - af) @ bf.T).astype(np.int64)


class UnionFind:
    """A disjoint-set forest over 0..n-1 used to group duplicates transitively."""

    def __init__(self, n):
        self.parent = list(range(n))

    def find(self, i):
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i, j):
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)

    def groups(self):
        out = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return out


def duplicate_groups(exact, hashes, threshold):
    """Group items that share an exact hash or whose dHash distance is <= threshold; returns lists of indices."""
    n = len(exact)
    uf = UnionFind(n)
    first = {}
    for i, e in enumerate(exact):
        if e in first:
            uf.union(first[e], i)
        else:
            first[e] = i
    if threshold >= 0 and n > 1:
        d = hamming_matrix(hashes, hashes)
        ii, jj = np.nonzero(np.triu(d <= threshold, k=1))
        for i, j in zip(ii.tolist(), jj.tolist()):
            uf.union(i, j)
    return sorted(uf.groups().values())


def resolve(items, groups):
    """Decide which items to keep given duplicate groups.

    items is a list of dicts with "split" (train, valid or test) and "cls". Rules, in order:
    a group whose members carry more than one class is dropped entirely (the label is ambiguous);
    a valid or test item whose group has a member in an earlier split (train before valid before test) is dropped,
    so nothing the model was fit or tuned on reappears in evaluation;
    the remaining members of a group within one split collapse to the first one (sorted by path).
    Returns (keep: list of bool, reasons: dict reason -> count).
    """
    order = {"train": 0, "valid": 1, "test": 2}
    keep = [True] * len(items)
    reasons = {"cross-class": 0, "leak-from-train": 0, "leak-from-valid": 0, "within-split": 0}
    for g in groups:
        if len(g) == 1:
            continue
        classes = {items[i]["cls"] for i in g}
        if len(classes) > 1:
            for i in g:
                keep[i] = False
                reasons["cross-class"] += 1
            continue
        first_split = min(order[items[i]["split"]] for i in g)
        kept_in_split = set()
        for i in sorted(g, key=lambda k: (order[items[k]["split"]], items[k]["path"])):
            s = order[items[i]["split"]]
            if s > first_split:
                keep[i] = False
                reasons["leak-from-train" if first_split == 0 else "leak-from-valid"] += 1
            elif s in kept_in_split:
                keep[i] = False
                reasons["within-split"] += 1
            else:
                kept_in_split.add(s)
    return keep, reasons
