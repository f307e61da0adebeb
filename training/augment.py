"""Training augmentation for real films and slices, on batches of grey images already on the training device.

Per image, with parameters drawn from a CPU generator (so a seed gives the same draws on CPU and GPU): rotation,
scale (a zoom in is a crop, a zoom out leaves a black border) and translation in one bilinear resampling; then,
each with its own probability, down-and-up resampling (area down, bilinear up) and a Gaussian blur; then gamma,
contrast about mid-grey and brightness; then additive Gaussian noise. Never a left-right flip: a mirrored chest
puts the heart on the wrong side, and the CT folders name the tumour's side.

Works unchanged on torch 1.13 (CPU) and 2.x (CUDA): only affine_grid, grid_sample, interpolate, conv2d.
"""

import math

import torch
import torch.nn.functional as F


def _uniform(gen, n, lo, hi):
    return lo + torch.rand(n, generator=gen) * (hi - lo)


def gaussian_blur(x, sigma):
    """Blur each image of x [N,1,H,W] with its own Gaussian sd sigma [N] (pixels; 0 leaves it unchanged)."""
    n, _, h, w = x.shape
    radius = max(1, int(math.ceil(3.0 * float(sigma.max()))))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    s = sigma.to(x.device, x.dtype).clamp(min=1e-3).view(n, 1)
    k = torch.exp(-0.5 * (t.view(1, -1) / s) ** 2)
    k = k / k.sum(dim=1, keepdim=True)  # sigma ~0 gives a delta: exp(-huge) everywhere but the centre
    y = x.reshape(1, n, h, w)
    y = F.pad(y, (radius, radius, 0, 0), mode="reflect" if w > radius else "replicate")
    y = F.conv2d(y, k.view(n, 1, 1, -1), groups=n)
    y = F.pad(y, (0, 0, radius, radius), mode="reflect" if h > radius else "replicate")
    y = F.conv2d(y, k.view(n, 1, -1, 1), groups=n)
    return y.reshape(n, 1, h, w)


def resample(x, factor):
    """Shrink x [N,1,H,W] to factor x its size (area average) and bring it back bilinearly: lost detail."""
    _, _, h, w = x.shape
    small = F.interpolate(x, size=(max(1, round(h * factor)), max(1, round(w * factor))), mode="area")
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def augment(x01, aug, gen):
    """Return an augmented copy of a batch x01 [N,1,H,W] in [0,1] grey; aug is params.yaml's augment section.

    gen is a CPU torch.Generator: every random number is drawn from it on the CPU, then moved to x01's device.
    """
    n = x01.shape[0]
    dev = x01.device
    if aug.get("hflip"):
        raise ValueError("augment: hflip is not allowed for chest images")
    ang = _uniform(gen, n, -1.0, 1.0) * math.radians(aug["rotate_deg"])
    lo, hi = aug["scale"]
    zoom = _uniform(gen, n, lo, hi)
    tx = _uniform(gen, n, -1.0, 1.0) * aug["translate"] * 2
    ty = _uniform(gen, n, -1.0, 1.0) * aug["translate"] * 2
    cos, sin = torch.cos(ang) / zoom, torch.sin(ang) / zoom
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(dev, x01.dtype)
    grid = F.affine_grid(theta, list(x01.shape), align_corners=False)
    out = F.grid_sample(x01, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    rs = aug.get("resample")
    if rs and rs["p"] > 0:
        pick = torch.rand(n, generator=gen) < rs["p"]
        factor = float(_uniform(gen, 1, *rs["factor"]))  # one factor per batch, applied to the picked images
        if bool(pick.any()):
            m = pick.to(dev).view(n, 1, 1, 1)
            out = torch.where(m, resample(out, factor), out)
    bl = aug.get("blur")
    if bl and bl["p"] > 0:
        sigma = _uniform(gen, n, *bl["sigma"]) * (torch.rand(n, generator=gen) < bl["p"]).float()
        if bool((sigma > 0).any()):
            out = gaussian_blur(out, sigma)

    glo, ghi = aug.get("gamma", [1.0, 1.0])
    # gamma drawn log-uniformly, so darker and brighter exposures are equally likely
    gamma = torch.exp(_uniform(gen, n, math.log(glo), math.log(ghi))).to(dev, x01.dtype).view(n, 1, 1, 1)
    out = out.clamp(min=0.0, max=1.0) ** gamma
    clo, chi = aug["contrast"]
    c = _uniform(gen, n, clo, chi).to(dev, x01.dtype).view(n, 1, 1, 1)
    b = (_uniform(gen, n, -1.0, 1.0) * aug["brightness"]).to(dev, x01.dtype).view(n, 1, 1, 1)
    out = (out - 0.5) * c + 0.5 + b

    nz = aug.get("noise")
    if nz and nz["p"] > 0:
        sd = _uniform(gen, n, *nz["sd"]) * (torch.rand(n, generator=gen) < nz["p"]).float()
        noise = torch.randn(out.shape, generator=gen).to(dev, x01.dtype)
        out = out + noise * sd.to(dev, x01.dtype).view(n, 1, 1, 1)
    return out.clamp(0.0, 1.0)
