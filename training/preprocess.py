"""Preprocessing shared with the Go side, bit for bit.

The contract (see the project's shared design): the 8-bit display image is turned grey with PIL's "L" luma
formula, resized with an exact numpy port of github.com/disintegration/imaging v1.6.2's Resize(img, W, H,
imaging.Linear), then normalised as (v/255 - mean)/std and replicated to C channels.

The port reproduces imaging's float64 arithmetic operation by operation (the premultiplied-alpha accumulation,
the normalised weights, the `int64(x + 0.5)` clamp), so the uint8 result equals Go's, not merely approximates it.
"""

import math

import numpy as np
from PIL import Image


def luma(rgb):
    """Return PIL's "L" grey of an (H, W, 3) uint8 array: (19595 R + 38470 G + 7471 B + 0x8000) >> 16."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
        raise ValueError("luma needs an (h, w, 3+) uint8 array")
    r = rgb[:, :, 0].astype(np.uint32)
    g = rgb[:, :, 1].astype(np.uint32)
    b = rgb[:, :, 2].astype(np.uint32)
    return ((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16).astype(np.uint8)


def load_grey(path):
    """Decode an image file into the contract's 8-bit grey array (alpha ignored, palettes expanded)."""
    with Image.open(path) as im:
        im.load()
        if im.mode == "L":
            return np.asarray(im, dtype=np.uint8).copy()
        if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            raise ValueError(f"{path}: {im.mode} images are not 8-bit display images")
        if im.mode == "LA":
            return np.asarray(im, dtype=np.uint8)[:, :, 0].copy()
        rgb = np.asarray(im.convert("RGB"), dtype=np.uint8) if im.mode not in ("RGB", "RGBA") else np.asarray(im)
        return luma(rgb)


def _linear_kernel(x):
    x = abs(x)
    if x < 1.0:
        return 1.0 - x
    return 0.0


def precompute_weights(dst_size, src_size):
    """Port of imaging.precomputeWeights for the Linear filter (support 1): a list of (indices, weights)."""
    du = float(src_size) / float(dst_size)
    scale = du if du >= 1.0 else 1.0
    ru = math.ceil(scale * 1.0)
    out = []
    for v in range(dst_size):
        fu = (float(v) + 0.5) * du - 0.5
        begin = max(int(math.ceil(fu - ru)), 0)
        end = min(int(math.floor(fu + ru)), src_size - 1)
        idx, wts = [], []
        total = 0.0
        for u in range(begin, end + 1):
            w = _linear_kernel((float(u) - fu) / scale)
            if w != 0:
                total += w
                idx.append(u)
                wts.append(w)
        if total != 0:
            wts = [w / total for w in wts]
        out.append((idx, wts))
    return out


def _clamp(x):
    """imaging's clamp: int64(x + 0.5) (truncation toward zero), limited to 0..255."""
    return np.clip(np.trunc(x + 0.5), 0, 255).astype(np.uint8)


def _resize_axis(grey, dst, axis):
    """One pass of imaging's resizeHorizontal (axis=1) or resizeVertical (axis=0) on an opaque grey image."""
    src = grey.shape[axis]
    weights = precompute_weights(dst, src)
    g = np.moveaxis(grey, axis, 0).astype(np.float64)
    out = np.zeros((dst,) + g.shape[1:], dtype=np.uint8)
    for x, (idx, wts) in enumerate(weights):
        r = np.zeros(g.shape[1:], dtype=np.float64)
        a = 0.0
        for u, w in zip(idx, wts):
            aw = 255.0 * w  # float64(s[3]) * w.weight with opaque alpha
            r = r + g[u] * aw
            a += aw
        if a != 0:
            out[x] = _clamp(r * (1.0 / a))
    return np.moveaxis(out, 0, axis)


def resize_linear(grey, width, height):
    """Port of imaging.Resize(img, width, height, imaging.Linear) for an opaque 8-bit grey image.

    grey is (h, w), or (n, h, w) to resize a stack of same-sized images at once (each exactly as alone).
    """
    grey = np.asarray(grey, dtype=np.uint8)
    if grey.ndim not in (2, 3) or grey.shape[-2] <= 0 or grey.shape[-1] <= 0:
        raise ValueError("resize_linear needs a non-empty (h, w) or (n, h, w) array")
    if width <= 0 or height <= 0:
        raise ValueError("resize_linear needs a positive target size")
    src_h, src_w = grey.shape[-2:]
    out = grey
    if src_w != width:
        out = _resize_axis(out, width, axis=grey.ndim - 1)
    if src_h != height:
        out = _resize_axis(out, height, axis=grey.ndim - 2)
    return out.copy()


def normalise(grey_u8, mean, std, channels=1):
    """Map (N, H, W) or (H, W) uint8 to float32 NCHW: x = (v/255 - mean)/std, replicated to channels."""
    g = np.asarray(grey_u8)
    if g.ndim == 2:
        g = g[None]
    x = (g.astype(np.float32) / np.float32(255.0) - np.float32(mean)) / np.float32(std)
    x = x[:, None, :, :]
    if channels > 1:
        x = np.repeat(x, channels, axis=1)
    return x.astype(np.float32)


def preprocess_file(path, width, height):
    """Decode, grey and resize one file: the uint8 (height, width) array the model's normalisation starts from."""
    return resize_linear(load_grey(path), width, height)
