#!/usr/bin/python3
"""Reference pixel values for dicomio's tests: pydicom's Dataset.pixel_array for each file.

Usage: pydicom_ref.py FILE...              (one JSON object per line on stdout)
       pydicom_ref.py --pil-luma FILE...   PNG/JPEG: {"path", "luma_sha256", "shape"} of PIL's convert("L")

Each line: {"path", "ok", "error", "dtype", "shape", "sha256"} where dtype is NumPy's dtype.str ("<u2", ">i2",
"|u1" ...), shape the array's shape and sha256 the hex digest of arr.tobytes() (C order, the dtype's byte order).
Monochrome files also get "modality_sha256": the digest of apply_modality_lut(arr, ds) as little-endian
float32 (modality units, e.g. HU). Little endian PALETTE COLOR files also get "rgb_sha256": the digest of apply_color_lut(arr, ds) as
little-endian uint16.
Only pydicom's NumPy handler is used, so this covers uncompressed transfer syntaxes; written for pydicom 2.3
(Debian 12's python3-pydicom).
"""
import hashlib
import json
import sys
import warnings


def in_range(ds, arr):
    """Whether every stored value fits Bits Stored, so that masking it changes nothing."""
    bits = ds.get("BitsStored", ds.BitsAllocated)
    if ds.get("PixelRepresentation", 0) == 1:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    return arr.size == 0 or (arr.min() >= lo and arr.max() <= hi)


def main(paths):
    import pydicom
    from pydicom.pixel_data_handlers import numpy_handler
    from pydicom.pixel_data_handlers.util import apply_color_lut, apply_modality_lut

    pydicom.config.pixel_data_handlers = [numpy_handler]
    warnings.simplefilter("ignore")
    for path in paths:
        rec = {"path": path, "ok": False}
        try:
            ds = pydicom.dcmread(path, force=True)
            arr = ds.pixel_array
            rec.update(ok=True, dtype=arr.dtype.str, shape=list(arr.shape),
                       sha256=hashlib.sha256(arr.tobytes()).hexdigest())
            # pydicom 2.3 neither masks values to Bits Stored (the DICOM value is those bits only) nor reads
            # rescale from Enhanced objects' functional groups, so such files give no modality reference.
            if ds.get("PhotometricInterpretation") in ("MONOCHROME1", "MONOCHROME2") and in_range(ds, arr) \
                    and not ("SharedFunctionalGroupsSequence" in ds and "RescaleSlope" not in ds):
                hu = apply_modality_lut(arr, ds).astype("<f4")
                rec["modality_sha256"] = hashlib.sha256(hu.tobytes()).hexdigest()
            # pydicom 2.3 reads big endian OW palette data as if little endian (256 becomes 1), so only
            # little endian palettes serve as references.
            if ds.get("PhotometricInterpretation") == "PALETTE COLOR" and ds.is_little_endian:
                rgb = apply_color_lut(arr, ds).astype("<u2")
                rec["rgb_sha256"] = hashlib.sha256(rgb.tobytes()).hexdigest()
        except Exception as exc:  # the record says why; the Go test decides what that means
            rec["error"] = "%s: %s" % (type(exc).__name__, exc)
        print(json.dumps(rec), flush=True)


def pil_luma(paths):
    import numpy as np
    from PIL import Image

    for path in paths:
        rec = {"path": path}
        try:
            with Image.open(path) as im:
                luma = np.asarray(im.convert("L"), dtype=np.uint8)
            rec.update(shape=list(luma.shape), luma_sha256=hashlib.sha256(luma.tobytes()).hexdigest())
        except Exception as exc:
            rec["error"] = "%s: %s" % (type(exc).__name__, exc)
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--pil-luma"]:
        pil_luma(sys.argv[2:])
    else:
        main(sys.argv[1:])
