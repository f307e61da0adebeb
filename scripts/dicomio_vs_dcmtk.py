#!/usr/bin/python3
"""Time tumortracer's info/render beside DCMTK's dcmdump/dcm2pnm on the dicomio benchmark files.

Usage: dicomio_vs_dcmtk.py [RUNS]   (env: TUMORTRACER_BIN, default bin/tumortracer; TUMORTRACER_DATA, default
../shared/data). Commands run interleaved, so load from other processes hits all of them alike; prints the median
and minimum wall time of each. Needs dcmtk (dcmdump, dcm2pnm).
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("TUMORTRACER_BIN", "bin/tumortracer")
DATA = os.path.join(os.environ.get("TUMORTRACER_DATA", "../shared/data"), "dicom")
FILES = {
    "CT 512x512": "pydicom-data/693_UNCI.dcm",
    "CR 1841x1955": "derived-dcmtk-gdcm/rg1_chest_cr_from_j2ki_raw_gdcm.dcm",
}


def main(runs):
    out = tempfile.mkdtemp()
    for name, rel in FILES.items():
        f = os.path.join(DATA, rel)
        cmds = [
            ("dcmdump FILE", ["dcmdump", f]),
            ("tumortracer info FILE", [BIN, "info", f]),
            ("dcm2pnm FILE out.pgm", ["dcm2pnm", f, os.path.join(out, "d.pgm")]),
            ("dcm2pnm +on FILE out.png", ["dcm2pnm", "+on", f, os.path.join(out, "d.png")]),
            ("tumortracer render -o out.png FILE", [BIN, "render", "-o", os.path.join(out, "t.png"), f]),
            ("tumortracer version (start-up only)", [BIN, "version"]),
        ]
        times = {k: [] for k, _ in cmds}
        for _ in range(runs):
            for k, c in cmds:
                t = time.perf_counter()
                subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                times[k].append((time.perf_counter() - t) * 1000)
        for k, _ in cmds:
            v = times[k]
            print(f"{name:14s} {k:38s} median {statistics.median(v):7.1f} ms  min {min(v):7.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 11)
