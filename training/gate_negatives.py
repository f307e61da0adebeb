"""Negatives for the gate: "other" images assembled from what this machine can reach, reproducibly.

Usage: gate_negatives.py --data DATA_ROOT --out WORK_DIR/negatives [--params params.yaml] [--limit N]

Every family named in params.yaml (gate.negatives.families) is built here, by name, into OUT/images/<family>/,
and listed in OUT/negatives.tsv with the columns

    app_path   the file a person would open in the application (the DICOM file itself, the package's PNG/JPEG,
               or the PNG written here) - what the Go engine scores, rendered with each model's own VOI window
    gate_png   the 8-bit image the gate is trained on: app_path for PNG/JPEG; for DICOM the frame rendered by the
               application's code with the gate's VOI windows (training/gorender)
    family     the source family (the unit held out for validation)
    tier       train (the gate learns from it) or heldout (measured only, never trained or tuned on)
    origin     train or valid for images derived from the chest data sets' splits, else "-"
    source     the generator, Debian package or DICOM file it came from

and OUT/negatives.json records the Debian packages (with versions) and counts. Nothing here reads a chest
test split. The data set folders are only read; every written file lives under OUT (training/work/, ignored).
"""

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import yaml
from PIL import Image, ImageDraw, ImageFont

import ingest
import preprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FONT_DIR = "/usr/share/fonts/truetype/dejavu"
IMAGE_EXT = (".png", ".jpg", ".jpeg")


class Writer:
    """Collects the rows of negatives.tsv and writes images under OUT/images/<family>/."""

    def __init__(self, out):
        self.out = out
        self.rows = []

    def path(self, family, name):
        d = os.path.join(self.out, "images", family)
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, name)

    def save(self, family, name, img, tier, source, origin="-"):
        """Save a PIL image as PNG and list it (app_path = gate_png = the PNG)."""
        p = self.path(family, name if name.endswith(".png") else name + ".png")
        img.save(p, optimize=False, compress_level=1)
        self.add(p, p, family, tier, source, origin)

    def add(self, app_path, gate_png, family, tier, source, origin="-"):
        self.rows.append((os.path.abspath(app_path), os.path.abspath(gate_png), family, tier, origin, source))

    def write(self):
        with open(os.path.join(self.out, "negatives.tsv"), "w") as f:
            f.write("app_path\tgate_png\tfamily\ttier\torigin\tsource\n")
            for r in self.rows:
                f.write("\t".join(r) + "\n")


# --- synthetic images -----------------------------------------------------------------------------------------

WORDS = ("the of and to in is for on that with as by this be are from at or an it not which have was can "
         "patient report image result method data table figure section page value system model analysis "
         "study sample test error function number process control level total given first second").split()


def rand_size(rng, lo=64, hi=768):
    w = int(rng.integers(lo, hi + 1))
    h = int(np.clip(w * rng.uniform(0.6, 1.6), lo, hi))
    return w, h


def colourise(rng, grey):
    """Return grey (H, W) float in [0, 1] as an 8-bit L or RGB image (half of them tinted)."""
    g = np.clip(grey, 0, 1)
    if rng.random() < 0.5:
        return Image.fromarray((g * 255).astype(np.uint8), "L")
    lo, hi = rng.random(3), rng.random(3)
    rgb = lo[None, None, :] + (hi - lo)[None, None, :] * g[:, :, None]
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")


def smooth_noise(rng, w, h):
    """A low-pass random field: noise on a coarse grid, bilinearly enlarged."""
    cw, ch = max(2, w // int(rng.integers(4, 64))), max(2, h // int(rng.integers(4, 64)))
    coarse = Image.fromarray((rng.random((ch, cw)) * 255).astype(np.uint8), "L")
    return np.asarray(coarse.resize((w, h), Image.BILINEAR), dtype=np.float64) / 255


def synth(kind, rng):
    """Return one synthetic image of the given kind."""
    w, h = rand_size(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    if kind == "blank":
        v = rng.choice([0, 255])
        return Image.new("L", (w, h), int(v))
    if kind == "constant":
        if rng.random() < 0.5:
            return Image.new("L", (w, h), int(rng.integers(1, 255)))
        return Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 256, 3)))
    if kind == "noise":
        k = rng.integers(0, 4)
        if k == 0:
            g = rng.random((h, w))
        elif k == 1:
            g = rng.normal(rng.uniform(0.3, 0.7), rng.uniform(0.05, 0.3), (h, w))
        elif k == 2:
            g = np.full((h, w), rng.uniform(0.2, 0.8))
            m = rng.random((h, w))
            g[m < 0.05] = 0
            g[m > 0.95] = 1
        else:
            g = smooth_noise(rng, w, h)
        if rng.random() < 0.3:
            return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8), "RGB")
        return colourise(rng, g)
    if kind == "checkerboard":
        c = rng.integers(2, max(3, min(w, h) // 2))
        ang = rng.uniform(0, np.pi / 2) if rng.random() < 0.3 else 0.0
        u = xx * np.cos(ang) + yy * np.sin(ang)
        v = -xx * np.sin(ang) + yy * np.cos(ang)
        g = ((np.floor(u / c) + np.floor(v / c)) % 2).astype(np.float64)
        a, b = sorted(rng.random(2))
        return colourise(rng, a + (b - a) * g if rng.random() < 0.5 else g)
    if kind == "stripes":
        period = rng.uniform(2, max(3, min(w, h) / 3))
        ang = rng.uniform(0, np.pi)
        u = xx * np.cos(ang) + yy * np.sin(ang)
        g = (np.sin(2 * np.pi * u / period) > 0).astype(np.float64) if rng.random() < 0.5 else \
            0.5 + 0.5 * np.sin(2 * np.pi * u / period)
        return colourise(rng, g)
    if kind == "gradient":
        if rng.random() < 0.6:
            ang = rng.uniform(0, 2 * np.pi)
            u = xx * np.cos(ang) + yy * np.sin(ang)
            g = (u - u.min()) / max(u.max() - u.min(), 1e-9)
        else:
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = np.hypot(xx - cx, yy - cy)
            g = r / r.max()
            if rng.random() < 0.5:
                g = 1 - g
        g = g ** rng.uniform(0.4, 2.5)
        return colourise(rng, g)
    if kind == "shapes":
        bg = tuple(int(c) for c in rng.integers(0, 256, 3))
        img = Image.new("RGB", (w, h), bg)
        d = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(1, 25))):
            col = tuple(int(c) for c in rng.integers(0, 256, 3))
            x0, y0 = rng.uniform(-0.1, 1.0) * w, rng.uniform(-0.1, 1.0) * h
            x1, y1 = x0 + rng.uniform(0.02, 0.6) * w, y0 + rng.uniform(0.02, 0.6) * h
            s = rng.integers(0, 4)
            if s == 0:
                d.ellipse([x0, y0, x1, y1], fill=col if rng.random() < 0.7 else None, outline=col,
                          width=int(rng.integers(1, 6)))
            elif s == 1:
                d.rectangle([x0, y0, x1, y1], fill=col if rng.random() < 0.7 else None, outline=col,
                            width=int(rng.integers(1, 6)))
            elif s == 2:
                pts = [(float(rng.uniform(0, w)), float(rng.uniform(0, h))) for _ in range(int(rng.integers(3, 7)))]
                d.polygon(pts, fill=col)
            else:
                d.line([x0, y0, x1, y1], fill=col, width=int(rng.integers(1, 10)))
        return img.convert("L") if rng.random() < 0.4 else img
    if kind == "text":
        return text_page(rng)
    raise ValueError(f"unknown synthetic kind {kind!r}")


def text_page(rng):
    """A page of text: random words in a DejaVu font, dark on light (sometimes inverted), with a few rules."""
    w = int(rng.integers(300, 900))
    h = int(w * rng.uniform(1.0, 1.5)) if rng.random() < 0.7 else int(w * rng.uniform(0.5, 1.0))
    fonts = sorted(f for f in os.listdir(FONT_DIR) if f.endswith(".ttf"))
    font = ImageFont.truetype(os.path.join(FONT_DIR, fonts[int(rng.integers(len(fonts)))]), int(rng.integers(9, 28)))
    ink, paper = (int(rng.integers(0, 70)), int(rng.integers(200, 256)))
    if rng.random() < 0.15:
        ink, paper = paper, ink
    img = Image.new("L", (w, h), paper)
    d = ImageDraw.Draw(img)
    margin = int(rng.integers(10, 60))
    y = margin
    size = font.size
    while y < h - margin - size:
        if rng.random() < 0.08:
            d.line([margin, y + size // 2, w - margin, y + size // 2], fill=ink, width=1)
        else:
            words = " ".join(rng.choice(WORDS, int(rng.integers(3, 18))))
            if rng.random() < 0.1:
                words = words.upper()
            d.text((margin + int(rng.integers(0, 30)), y), words, fill=ink, font=font)
        y += int(size * rng.uniform(1.2, 2.2))
    if rng.random() < 0.4:
        return img.convert("RGB")
    return img


def build_synthetic(wr, fam, spec, rng, limit):
    n = limit or spec["per_kind"]
    for kind in spec["kinds"]:
        for i in range(n):
            wr.save(fam, f"{kind}_{i:04d}", synth(kind, rng), spec["tier"], f"synthetic:{kind}")


# --- images derived from the chest data sets (train and valid splits only) -------------------------------------

def read_split_list(work, split):
    p = os.path.join(work, f"{split}_files.txt")
    if not os.path.exists(p):
        raise FileNotFoundError(f"{p} is missing: run the ingest stage of the chest models first")
    with open(p) as f:
        return [line.split("\t")[0] for line in f if line.strip()]


def crop(rng, g, lo, hi):
    """A crop whose sides are between lo and hi of the image's (aspect 0.75-1.33)."""
    h, w = g.shape
    fw = rng.uniform(lo, hi)
    fh = float(np.clip(fw * rng.uniform(0.75, 1.33), lo, hi))
    cw, ch = max(8, int(w * fw)), max(8, int(h * fh))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return g[y:y + ch, x:x + cw]


def build_chest_derived(wr, fam, spec, rng, data, works, limit):
    """Crops that are not a whole film or slice, mosaics of several, extreme windows of CT slices, and negatives
    (inverted greys: a MONOCHROME1 film exported without its inversion, a slice under an inverted palette), which
    the classifiers never learnt: the 1.0.0 gate called 21 of 60 inverted valid CT slices a CT slice."""
    for origin in ("train", "valid"):
        share = 1.0 if origin == "train" else spec["valid_share"]
        for mid, work in works.items():
            rels = read_split_list(work, origin)
            for kind, n in spec["kinds"].items():
                if kind == "window" and mid != "ct-lung":
                    continue
                n = limit or max(1, int(round(n * share)))
                for i in range(n):
                    if kind == "mosaic":
                        k = int(rng.choice([2, 3]))
                        tiles = [preprocess.load_grey(os.path.join(data, rels[int(rng.integers(len(rels)))]))
                                 for _ in range(k * k)]
                        side = int(rng.integers(128, 320))
                        tiles = [Image.fromarray(t).resize((side, side), Image.BILINEAR) for t in tiles]
                        img = Image.new("L", (side * k, side * k))
                        for j, t in enumerate(tiles):
                            img.paste(t, ((j % k) * side, (j // k) * side))
                    else:
                        rel = rels[int(rng.integers(len(rels)))]
                        g = preprocess.load_grey(os.path.join(data, rel))
                        if kind == "crop":
                            img = Image.fromarray(crop(rng, g, spec["crop_side"][0], spec["crop_side"][1]))
                        elif kind == "invert":
                            img = Image.fromarray(255 - g)
                        else:  # a bone- or brain-like narrow window applied to the exported slice
                            lo = rng.uniform(150, 235) if rng.random() < 0.5 else rng.uniform(0, 60)
                            width = rng.uniform(8, 40)
                            v = np.clip((g.astype(np.float64) - lo) / width, 0, 1)
                            img = Image.fromarray((v * 255).astype(np.uint8))
                    wr.save(fam, f"{mid}_{origin}_{kind}_{i:04d}", img, spec["tier"], f"{mid}:{origin}:{kind}",
                            origin)


# --- the DICOM corpus ------------------------------------------------------------------------------------------

def dicom_inventory(data):
    """Return rows of dicom/INVENTORY.tsv with a pixel-bearing status of ok."""
    rows = []
    with open(os.path.join(data, "dicom", "INVENTORY.tsv")) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            r = dict(zip(head, line.rstrip("\n").split("\t")))
            if r.get("status") == "ok" and r.get("cols x rows"):
                rows.append(r)
    return rows


def gorender(jobs, voi_model_dir, all_frames):
    """Render DICOM files with the application's code; returns report rows (src, frame, dst, modality, ...)."""
    cmd = ["go", "run", "./training/gorender", "-model", voi_model_dir, "-frames", "all" if all_frames else "middle"]
    res = subprocess.run(cmd, cwd=REPO, input="".join(f"{s}\t{d}\n" for s, d in jobs), capture_output=True,
                         text=True)
    if res.returncode != 0:
        raise RuntimeError(f"gorender failed: {res.stderr.strip()}")
    return [line.split("\t") for line in res.stdout.splitlines() if line]


def build_dicom(wr, fam, spec, data, voi_dir, limit):
    """Non-chest files of the DICOM corpus whose modality is in spec["modalities"], minus spec["exclude"]."""
    rows = dicom_inventory(data)
    jobs = []
    for r in rows:
        if r["modality"] not in spec["modalities"]:
            continue
        rel = os.path.join("dicom", r["set"], r["file"])
        if any(x in rel for x in spec.get("exclude", [])):
            continue
        if spec.get("include") and not any(x in rel for x in spec["include"]):
            continue
        dst = wr.path(fam, rel.replace("/", "__") + ".png")
        jobs.append((os.path.join(data, rel), dst))
    if limit:
        jobs = jobs[:limit]
    rep = gorender(jobs, voi_dir, spec.get("all_frames", False))
    max_frames = spec.get("max_frames", 1)
    per_file = {}
    for r in rep:
        if r[1] == "-1":
            continue
        per_file.setdefault(r[0], []).append(r)
    for src, frames in sorted(per_file.items()):
        if len(frames) > max_frames:  # evenly spaced frames of a long series
            idx = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
            frames = [frames[i] for i in sorted(set(idx))]
        for r in frames:
            wr.add(src, r[2], fam, spec["tier"], f"dicom:{os.path.relpath(src, data)}:frame{r[1]}:{r[3] or '-'}")


# --- Debian packages -------------------------------------------------------------------------------------------

def package_files(pkg):
    res = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"Debian package {pkg} is not installed (apt-get install {pkg})")
    return sorted(p for p in res.stdout.splitlines() if os.path.isfile(p))


def package_version(pkg):
    res = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
    return res.stdout.strip() if res.returncode == 0 else None


def raster(path, max_side=1600):
    """Open a package image (PNG/JPEG/WebP/GIF/TIFF, or SVG through rsvg-convert) as an 8-bit PIL image, at most
    max_side on its longer side; None when it cannot be read or is smaller than 8 px."""
    try:
        if path.lower().endswith(".svg"):
            res = subprocess.run(["rsvg-convert", "-w", "512", path], capture_output=True, timeout=60)
            if res.returncode != 0:
                return None
            with tempfile.NamedTemporaryFile(suffix=".png") as t:
                t.write(res.stdout)
                t.flush()
                img = Image.open(t.name)
                img.load()
        else:
            img = Image.open(path)
            img.load()
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    if img.mode in ("I;16", "I;16B", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        lo, hi = np.percentile(a, [0.5, 99.5])
        img = Image.fromarray((np.clip((a - lo) / max(hi - lo, 1e-9), 0, 1) * 255).astype(np.uint8))
    elif img.mode not in ("L", "RGB", "RGBA", "LA"):
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if min(img.size) < 8:
        return None
    if max(img.size) > max_side:
        s = max_side / max(img.size)
        img = img.resize((max(8, int(img.width * s)), max(8, int(img.height * s))), Image.BILINEAR)
    return img


def keep_as_is(path, max_side=1600):
    """Whether a package file can be handed to the application unchanged (PNG/JPEG of a moderate size)."""
    if not path.lower().endswith(IMAGE_EXT):
        return False
    try:
        with Image.open(path) as im:
            return max(im.size) <= max_side and min(im.size) >= 8 and im.mode in ("L", "RGB", "RGBA", "P", "LA")
    except OSError:
        return False


def build_package(wr, fam, spec, rng, limit):
    """Images shipped by Debian packages: spec["packages"] with path filters; SVG/WebP/TIFF/large ones converted."""
    cands = []
    for pkg in spec["packages"]:
        for p in package_files(pkg):
            low = p.lower()
            if not low.endswith(tuple(spec.get("ext", [".png", ".jpg", ".jpeg", ".webp", ".svg", ".gif", ".tif"]))):
                continue
            if spec.get("include") and not any(s in p for s in spec["include"]):
                continue
            if any(s in p for s in spec.get("exclude", [])):
                continue
            cands.append((pkg, p))
    if spec.get("one_per_folder"):  # wallpapers ship one picture at many resolutions: keep the largest <= 2600 px
        best = {}
        for pkg, p in cands:
            key = p.split("/contents/")[0] if "/contents/" in p else os.path.dirname(p)
            try:
                with Image.open(p) as im:
                    px = im.width * im.height if max(im.size) <= 2600 else 0
            except OSError:
                continue
            if key not in best or px > best[key][0]:
                best[key] = (px, pkg, p)
        cands = [(pkg, p) for _, pkg, p in sorted(best.values(), key=lambda t: t[2])]
    if spec.get("one_per_name"):  # icon themes: the largest rendering of each icon name
        best = {}
        for pkg, p in cands:
            name = os.path.splitext(os.path.basename(p))[0]
            try:
                with Image.open(p) as im:
                    px = im.width * im.height
            except OSError:
                px = 10 ** 6 if p.endswith(".svg") else 0
            if name not in best or px > best[name][0]:
                best[name] = (px, pkg, p)
        cands = [(pkg, p) for _, pkg, p in sorted(best.values(), key=lambda t: t[2])]
    cap = limit or spec.get("max", 0)
    if cap and len(cands) > cap:
        idx = sorted(rng.permutation(len(cands))[:cap].tolist())
        cands = [cands[i] for i in idx]
    for i, (pkg, p) in enumerate(cands):
        if keep_as_is(p):
            wr.add(p, p, fam, spec["tier"], f"{pkg}:{p}")
            continue
        img = raster(p)
        if img is not None:
            wr.save(fam, f"{i:04d}_{os.path.basename(p)}", img, spec["tier"], f"{pkg}:{p}")


def volume_slices(vol, rng, n):
    """n slices of a 3-D (or 4-D: first volume) array along random axes, windowed to their 1-99.5 percentiles."""
    vol = np.asarray(vol, dtype=np.float64)
    while vol.ndim > 3:
        vol = vol[..., 0]
    out = []
    for _ in range(n):
        ax = int(rng.integers(3))
        k = int(rng.integers(int(vol.shape[ax] * 0.2), max(int(vol.shape[ax] * 0.8), int(vol.shape[ax] * 0.2) + 1)))
        s = np.take(vol, k, axis=ax)
        lo, hi = np.percentile(s, [1, 99.5])
        if hi <= lo:
            continue
        g = np.clip((s - lo) / (hi - lo), 0, 1)
        out.append(Image.fromarray((np.rot90(g) * 255).astype(np.uint8)))
    return out


def build_science(wr, fam, spec, rng, limit):
    """Non-image data turned into pictures: MR volumes (nibabel's test data), an MR slice and terrain maps
    (matplotlib's sample data), faces (scikit-image's lfw subset)."""
    n = 0
    for item in spec["items"]:
        kind, path = item["kind"], item["path"]
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} is missing (install {item['package']})")
        imgs = []
        if kind == "nifti":
            import nibabel  # noqa: E402  (python3-nibabel, only needed here)
            imgs = volume_slices(np.asanyarray(nibabel.load(path).dataobj), rng, item.get("slices", 10))
        elif kind == "ima-gz":  # matplotlib's s1045.ima.gz: a 256x256 big-endian uint16 MR slice
            with gzip.open(path) as f:
                a = np.frombuffer(f.read(), dtype=">u2").reshape(256, 256).astype(np.float64)
            imgs = [Image.fromarray((np.clip(a / np.percentile(a, 99.5), 0, 1) * 255).astype(np.uint8))]
        elif kind == "npz-grid":
            with np.load(path) as z:
                for key in z.files:
                    a = np.asarray(z[key], dtype=np.float64)
                    if a.ndim == 2 and min(a.shape) >= 16:
                        lo, hi = np.nanmin(a), np.nanmax(a)
                        imgs.append(Image.fromarray((np.nan_to_num((a - lo) / max(hi - lo, 1e-9)) * 255)
                                                    .astype(np.uint8)))
        elif kind == "npy-faces":
            a = np.load(path)
            idx = rng.permutation(len(a))[:item.get("max", 50)]
            imgs = [Image.fromarray((np.clip(a[i], 0, 1) * 255).astype(np.uint8)) for i in idx]
        else:
            raise ValueError(f"unknown kind {kind!r}")
        for j, img in enumerate(imgs[:limit or None]):
            wr.save(fam, f"{n:04d}_{os.path.basename(path)}_{j}", img, spec["tier"], f"{item['package']}:{path}")
        n += 1


# --- rendered documents and screenshots --------------------------------------------------------------------------

def build_documents(wr, fam, spec, rng, limit):
    """First pages of manual pages typeset by groff and rasterised by Ghostscript."""
    pages = []
    for sec in spec["sections"]:
        d = os.path.join("/usr/share/man", sec)
        pages += sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".gz"))
    idx = sorted(rng.permutation(len(pages))[:limit or spec["max"]].tolist())
    with tempfile.TemporaryDirectory() as tmp:
        for i in idx:
            p = pages[i]
            try:
                with gzip.open(p) as f:
                    src = f.read()
            except OSError:
                continue
            ps = subprocess.run(["groff", "-man", "-Tps"], input=src, capture_output=True, timeout=60)
            if ps.returncode != 0 or not ps.stdout:
                continue
            dpi = int(rng.integers(40, 110))
            out = os.path.join(tmp, "p.png")
            gs = subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dFirstPage=1", "-dLastPage=1",
                                 "-sDEVICE=pnggray" if rng.random() < 0.6 else "-sDEVICE=png16m", f"-r{dpi}",
                                 f"-sOutputFile={out}", "-"], input=ps.stdout, capture_output=True, timeout=60)
            if gs.returncode != 0 or not os.path.exists(out):
                continue
            img = Image.open(out)
            img.load()
            # The page cut to its printed part plus a margin, as a scanned or photographed page usually is.
            ink = np.asarray(img.convert("L")) < 200
            if not ink.any():
                continue
            ys, xs = np.nonzero(ink)
            m = int(rng.integers(4, 40))
            img = img.crop((max(0, xs.min() - m), max(0, ys.min() - m), min(img.width, xs.max() + m),
                            min(img.height, ys.max() + m)))
            wr.save(fam, f"{os.path.basename(p)}", img, spec["tier"], f"groff+ghostscript:{p}")
            os.remove(out)


def build_screenshots(wr, fam, spec, rng, limit):
    """Screenshots of X11 programs (x11-apps) on a virtual screen (Xvfb), grabbed with xwd."""
    display = f":{int(rng.integers(90, 200))}"
    env = dict(os.environ, DISPLAY=display)
    done = 0
    for i in range(limit or spec["count"]):
        w, h = int(rng.integers(480, 1400)), int(rng.integers(360, 1000))
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{w}x{h}x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        apps = []
        try:
            time.sleep(0.8)
            for _ in range(int(rng.integers(1, 4))):
                prog = spec["programs"][int(rng.integers(len(spec["programs"])))]
                geo = f"{int(rng.integers(150, w))}x{int(rng.integers(100, h))}+{int(rng.integers(0, w // 2))}+" \
                      f"{int(rng.integers(0, h // 2))}"
                args = prog.split() + ["-geometry", geo]
                if prog == "xedit":
                    docs = sorted(os.listdir("/usr/share/common-licenses"))
                    args.append(os.path.join("/usr/share/common-licenses", docs[int(rng.integers(len(docs)))]))
                if prog == "xmessage":
                    args = ["xmessage", "-geometry", geo, " ".join(rng.choice(WORDS, 12))]
                apps.append(subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(1.2)
            with tempfile.NamedTemporaryFile(suffix=".xwd") as t:
                grab = subprocess.run(["xwd", "-root", "-silent", "-out", t.name], env=env, capture_output=True,
                                      timeout=30)
                if grab.returncode == 0:
                    png = wr.path(fam, f"screen_{i:03d}.png")
                    conv = subprocess.run(["convert", f"xwd:{t.name}", png], capture_output=True, timeout=60)
                    if conv.returncode == 0:
                        wr.add(png, png, fam, spec["tier"], "xvfb+x11-apps:" + ",".join(a.args[0] for a in apps))
                        done += 1
        finally:
            for a in apps:  # only the processes started here, by their handle
                a.terminate()
                a.wait(timeout=10)
            xvfb.terminate()
            xvfb.wait(timeout=10)
    if done == 0:
        raise RuntimeError("no screenshot could be taken (needs xvfb, x11-apps, x11-apps' xwd and imagemagick)")


# --------------------------------------------------------------------------------------------------------------

BUILDERS = {
    "synthetic": lambda wr, fam, spec, rng, a: build_synthetic(wr, fam, spec, rng, a.limit),
    "chest-derived": lambda wr, fam, spec, rng, a: build_chest_derived(
        wr, fam, spec, rng, a.data, {m: os.path.join(a.work_root, m) for m in spec["from"]}, a.limit),
    "dicom": lambda wr, fam, spec, rng, a: build_dicom(wr, fam, spec, a.data, a.voi_dir, a.limit),
    "package": lambda wr, fam, spec, rng, a: build_package(wr, fam, spec, rng, a.limit),
    "science": lambda wr, fam, spec, rng, a: build_science(wr, fam, spec, rng, a.limit),
    "documents": lambda wr, fam, spec, rng, a: build_documents(wr, fam, spec, rng, a.limit),
    "screenshots": lambda wr, fam, spec, rng, a: build_screenshots(wr, fam, spec, rng, a.limit),
}


def write_voi_manifest(out, params):
    """The gorender tool reads VOI windows from a model.yaml: write the gate's (only its voi matters)."""
    d = os.path.join(out, "voi")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.yaml"), "w") as f:
        yaml.safe_dump({"id": "gate-voi", "preprocessing": {"voi": params["voi"]}}, f)
    return d


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work-root", default=os.path.join(HERE, "work"),
                    help="folder holding the chest models' ingest work folders (<id>/train_files.txt ...)")
    ap.add_argument("--params", default=os.path.join(HERE, "params.yaml"))
    ap.add_argument("--limit", type=int, default=0, help="at most N images per family part (smoke test)")
    ap.add_argument("--only", default="", help="build only these comma-separated families (development)")
    args = ap.parse_args(argv)

    args.out = os.path.abspath(args.out)  # gorender runs in the repository root
    params = ingest.load_params(args.params, "gate")
    neg = params["negatives"]
    if os.path.isdir(args.out) and not args.only:
        shutil.rmtree(args.out)
    os.makedirs(args.out, exist_ok=True)
    args.voi_dir = os.path.abspath(write_voi_manifest(args.out, params))
    wr = Writer(args.out)
    only = set(filter(None, args.only.split(",")))
    old = os.path.join(args.out, "negatives.tsv")
    if only and os.path.exists(old):  # rebuild some families, keep the others' rows
        with open(old) as f:
            f.readline()
            wr.rows = [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip()]
        wr.rows = [r for r in wr.rows if r[2] not in only]
    t0 = time.time()
    for k, (fam, spec) in enumerate(neg["families"].items()):
        if only and fam not in only:
            continue
        rng = np.random.default_rng([neg["seed"], k])
        before = len(wr.rows)
        BUILDERS[spec["builder"]](wr, fam, spec, rng, args)
        print(f"{fam}: {len(wr.rows) - before} images ({time.time() - t0:.0f}s)", flush=True)
    wr.write()
    pkgs = sorted({p for spec in neg["families"].values() for p in spec.get("debian", [])})
    summary = {
        "debian_packages": {p: package_version(p) for p in pkgs},
        "families": {fam: {"tier": spec["tier"], "builder": spec["builder"], "about": spec.get("about", ""),
                           "images": sum(1 for r in wr.rows if r[2] == fam)}
                     for fam, spec in neg["families"].items()},
        "images": len(wr.rows),
    }
    with open(os.path.join(args.out, "negatives.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps({k: v["images"] for k, v in summary["families"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
