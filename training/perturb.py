"""The perturbed-copy robustness check: a fixed, deterministic set of the changes real films and slices go through.

Each image gets one copy per perturbation kind below. Every parameter is fixed; where a direction alternates (a
rotation to the left or right, a zoom in or out, a darker or brighter exposure) it alternates with the image's
index in its list, so the set is the same on every run and machine, and half the images go each way. Sizes are
relative to the image (a blur of 0.4 % of the short side), so the same definition applies to a 224 px training
cache and to a 512 px original file.

  rotate    +-8 degrees about the centre, bilinear, black corners (a film placed askew on the scanner)
  rescale   zoom 0.88 (black border) or 1.12 (cropped) about the centre, then shifted by 3 % (framing)
  exposure  gamma 0.70 or 1.45, then contrast x0.85 or x1.15 about mid-grey (under/over-exposure, other windows)
  resample  down to 45 % of the size and back up bilinearly, then a Gaussian blur of 0.4 % of the short side
            (a low-resolution export or a re-photographed film)
  noise     additive Gaussian noise, sd 6 grey levels (quantum mottle; seeded by the image index)
  combined  all of them, milder: +-5 degrees, zoom 0.94/1.06, gamma 0.8/1.25, 60 % resample, noise sd 4

The training stage scores the valid cache's copies every epoch (on the training-size images), and the evaluate
stage scores the copies of the original valid and test files through the application's engine, for the card.
"""

import numpy as np
from PIL import Image, ImageFilter

KINDS = ("rotate", "rescale", "exposure", "resample", "noise", "combined")


def _rotate(g, deg):
    im = Image.fromarray(g)
    return np.asarray(im.rotate(deg, resample=Image.BILINEAR, fillcolor=0), dtype=np.uint8)


def _rescale(g, zoom, shift):
    h, w = g.shape
    # The output pixel (x, y) samples the input at centre + (x - centre - shift*w)/zoom.
    cx, cy = w / 2.0, h / 2.0
    dx, dy = shift * w, shift * h
    a = 1.0 / zoom
    coeffs = (a, 0.0, cx - a * (cx + dx), 0.0, a, cy - a * (cy + dy))
    im = Image.fromarray(g)
    return np.asarray(im.transform((w, h), Image.AFFINE, coeffs, resample=Image.BILINEAR, fillcolor=0),
                      dtype=np.uint8)


def _exposure(g, gamma, contrast):
    v = (g.astype(np.float64) / 255.0) ** gamma
    v = (v - 0.5) * contrast + 0.5
    return np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8)


def _resample(g, factor, blur_frac):
    h, w = g.shape
    im = Image.fromarray(g)
    small = im.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.BILINEAR)
    back = small.resize((w, h), Image.BILINEAR)
    if blur_frac > 0:
        back = back.filter(ImageFilter.GaussianBlur(radius=blur_frac * min(h, w)))
    return np.asarray(back, dtype=np.uint8)


def _noise(g, sd, seed):
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(g.astype(np.float64) + rng.normal(0.0, sd, g.shape)), 0, 255).astype(np.uint8)


def perturb(grey, kind, index):
    """Return the kind's perturbed copy of a grey uint8 (h, w) image, the index-th of its list (same size)."""
    g = np.ascontiguousarray(grey, dtype=np.uint8)
    if g.ndim != 2 or g.size == 0:
        raise ValueError("perturb needs a non-empty (h, w) uint8 image")
    sign = 1 if index % 2 == 0 else -1
    if kind == "rotate":
        return _rotate(g, 8.0 * sign)
    if kind == "rescale":
        return _rescale(g, 0.88 if sign > 0 else 1.12, 0.03 * sign)
    if kind == "exposure":
        return _exposure(g, 0.70 if sign > 0 else 1.45, 0.85 if sign > 0 else 1.15)
    if kind == "resample":
        return _resample(g, 0.45, 0.004)
    if kind == "noise":
        return _noise(g, 6.0, 1000 + index)
    if kind == "combined":
        out = _rotate(g, -5.0 * sign)
        out = _rescale(out, 1.06 if sign > 0 else 0.94, -0.02 * sign)
        out = _exposure(out, 1.25 if sign > 0 else 0.80, 1.0)
        out = _resample(out, 0.60, 0.0)
        return _noise(out, 4.0, 2000 + index)
    raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(KINDS)}")


def perturb_stack(x, kinds=KINDS):
    """Return {kind: perturbed copy of every image} for a uint8 (n, h, w) stack; index = position in the stack."""
    x = np.asarray(x, dtype=np.uint8)
    return {k: np.stack([perturb(x[i], k, i) for i in range(len(x))]) if len(x) else x.copy() for k in kinds}


def robustness(clean_correct, perturbed_correct):
    """Summarise accuracy lost under perturbation, in accuracy points (0-100).

    clean_correct: bool (n,) of the clean decisions; perturbed_correct: {kind: bool (n,)}. Returns the clean and
    per-kind accuracies, each kind's loss, the mean loss over kinds and the worst kind.
    """
    clean = float(np.mean(clean_correct)) if len(clean_correct) else 0.0
    per = {k: float(np.mean(v)) for k, v in perturbed_correct.items()}
    loss = {k: round(100.0 * (clean - a), 2) for k, a in per.items()}
    worst = max(loss, key=loss.get) if loss else None
    return {"clean_accuracy": clean, "accuracy": per, "points_lost": loss,
            "mean_points_lost": round(float(np.mean(list(loss.values()))), 2) if loss else 0.0,
            "worst": worst}
