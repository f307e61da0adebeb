#!/usr/bin/python3
"""Reference data for the dicomio/codec tests, produced with pydicom (python3-pydicom 2.3 from apt).

  codec_reference.py frames IN.dcm OUTDIR
      Writes OUTDIR/meta.json (transfer syntax and image description) and OUTDIR/frame_NNNN.bin, the encapsulated
      Pixel Data of each frame with its fragments joined, as a DICOM reader hands them to a codec (no frames for
      an uncompressed file).

  codec_reference.py pixels IN.dcm OUT.bin
      IN.dcm must be uncompressed (the output of dcmdjpeg, dcmdrle, dcmdjpls or gdcmconv --raw). Writes
      pydicom's pixel_array for every frame, little-endian, samples interleaved, and prints a JSON line with its
      dtype, shape and the file's photometric interpretation.

The Go tests call this script; it is kept here so anyone can reproduce the reference values by hand.
"""
import json
import os
import sys

import numpy as np
import pydicom
from pydicom.encaps import generate_pixel_data_frame


NATIVE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")


def meta(ds):
    return {
        "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
        "samples_per_pixel": int(ds.get("SamplesPerPixel", 1)),
        "bits_allocated": int(ds.BitsAllocated),
        "bits_stored": int(ds.get("BitsStored", ds.BitsAllocated)),
        "pixel_representation": int(ds.get("PixelRepresentation", 0)),
        "photometric": str(ds.get("PhotometricInterpretation", "")),
        "planar_configuration": int(ds.get("PlanarConfiguration", 0) or 0),
        "frames": int(ds.get("NumberOfFrames", 1) or 1),
    }


def frames(src, outdir):
    ds = pydicom.dcmread(src, force=True)
    m = meta(ds)
    os.makedirs(outdir, exist_ok=True)
    n = 0
    if m["transfer_syntax"] in NATIVE:
        m["frames_written"] = 0
        with open(os.path.join(outdir, "meta.json"), "w") as f:
            json.dump(m, f)
        return
    for i, frame in enumerate(generate_pixel_data_frame(ds.PixelData, m["frames"])):
        with open(os.path.join(outdir, "frame_%04d.bin" % i), "wb") as f:
            f.write(frame)
        n += 1
    m["frames_written"] = n
    with open(os.path.join(outdir, "meta.json"), "w") as f:
        json.dump(m, f)


def pixels(src, out):
    ds = pydicom.dcmread(src, force=True)
    arr = ds.pixel_array
    arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<")))
    with open(out, "wb") as f:
        f.write(arr.tobytes())
    m = meta(ds)
    m.update({"dtype": str(arr.dtype), "shape": list(arr.shape)})
    print(json.dumps(m))


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("frames", "pixels"):
        sys.stderr.write(__doc__)
        return 2
    if sys.argv[1] == "frames":
        frames(sys.argv[2], sys.argv[3])
    else:
        pixels(sys.argv[2], sys.argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
