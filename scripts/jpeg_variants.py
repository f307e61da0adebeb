#!/usr/bin/python3
"""JPEG files in the encodings PIL writes, with PIL's own decode of each, for dicomio's exactness tests.

Usage: jpeg_variants.py DIR     writes DIR/*.jpg and prints one JSON object per file on stdout:
       {"path", "mode" ("L" or "RGB"), "shape", "sha256"} where sha256 is the digest of
       numpy.asarray(Image.open(path).convert(mode)).tobytes(), the samples the models' preprocessing starts from.

The picture is synthetic (seeded gradients, edges and noise, no patient); sizes that are and are not whole MCUs.
Written for Debian 12's python3-pil (9.4, libjpeg-turbo 2.1) and python3-numpy.
"""
import hashlib
import json
import os
import sys

import numpy as np
from PIL import Image


def picture(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1)) ^ rng.integers(0, 24, (h, w))
    g = (y * 255 // max(h - 1, 1)) + rng.integers(0, 16, (h, w))
    b = np.where(((x // 5) + (y // 3)) % 2 == 0, rng.integers(0, 256, (h, w)), 128)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


VARIANTS = [
    # name, size, mode, save options
    ("grey-q90", (64, 48), "L", dict(quality=90)),
    ("grey-odd-q50", (37, 29), "L", dict(quality=50)),
    ("rgb444-q75", (64, 48), "RGB", dict(quality=75, subsampling=0)),
    ("rgb422-q75", (64, 48), "RGB", dict(quality=75, subsampling=1)),
    ("rgb420-q75", (64, 48), "RGB", dict(quality=75, subsampling=2)),
    ("rgb420-odd-q90", (37, 29), "RGB", dict(quality=90, subsampling=2)),
    ("rgb422-odd-q90", (33, 17), "RGB", dict(quality=90, subsampling=1)),
    ("rgb420-q100", (224, 224), "RGB", dict(quality=100, subsampling=2)),
    ("rgb420-q5", (224, 224), "RGB", dict(quality=5, subsampling=2)),
    ("rgb420-optimized", (96, 80), "RGB", dict(quality=85, subsampling=2, optimize=True)),
    ("rgb420-progressive", (96, 80), "RGB", dict(quality=85, subsampling=2, progressive=True)),
    ("grey-progressive", (96, 80), "L", dict(quality=85, progressive=True)),
]


def main(out):
    os.makedirs(out, exist_ok=True)
    for i, (name, (w, h), mode, opts) in enumerate(VARIANTS):
        img = Image.fromarray(picture(w, h, i))
        if mode == "L":
            img = img.convert("L")
        path = os.path.join(out, name + ".jpg")
        img.save(path, "JPEG", **opts)
        with Image.open(path) as im:
            arr = np.asarray(im.convert(mode), dtype=np.uint8)
        print(json.dumps({"path": path, "mode": mode, "shape": list(arr.shape),
                          "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
