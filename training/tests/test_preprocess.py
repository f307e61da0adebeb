"""Tests of the numpy port of the shared preprocessing contract."""

import hashlib
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

import preprocess
import prerequisites

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def synthetic():
    """The 37x23 grey and RGB patterns whose Go outputs are recorded below."""
    y, x = np.mgrid[0:23, 0:37]
    v = ((x * 37 + y * 91 + (x * y) % 17) % 256).astype(np.uint8)
    rgb = np.stack([v, 255 - v, ((v.astype(int) * 3) % 256).astype(np.uint8)], -1)
    return v, rgb


# MD5 of the uint8 outputs of `go run ./training/goprep -width W -height H syn.png synrgb.png` (inference.Preprocess:
# Luma + imaging v1.6.2 Resize Linear) for the two patterns above, concatenated.
GO_MD5 = {
    (16, 11): "608bc41b4a283bd4d8a748e486755735",
    (50, 41): "32ec42374a958bedcef8d2ee822c4a98",
    (37, 50): "e20f0a4fbdbdfa4eaf3bb5061e47562b",
    (13, 23): "2ce242422db5428accd3488977e8b84f",
}


class LumaTest(unittest.TestCase):
    def test_pil_formula(self):
        px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [1, 2, 3]]], dtype=np.uint8)
        # (19595 R + 38470 G + 7471 B + 32768) >> 16, worked by hand.
        np.testing.assert_array_equal(preprocess.luma(px), [[76, 150, 29, 255, 2]])

    def test_rejects_grey(self):
        with self.assertRaises(ValueError):
            preprocess.luma(np.zeros((3, 3), dtype=np.uint8))


class ResizeTest(unittest.TestCase):
    def test_matches_go(self):
        grey, rgb = synthetic()
        for (w, h), want in GO_MD5.items():
            got = np.concatenate([preprocess.resize_linear(grey, w, h).ravel(),
                                  preprocess.resize_linear(preprocess.luma(rgb), w, h).ravel()])
            self.assertEqual(hashlib.md5(got.tobytes()).hexdigest(), want, f"{w}x{h}")

    def test_known_values(self):
        grey, _ = synthetic()
        # First values of Go's output rows, read from goprep.
        np.testing.assert_array_equal(preprocess.resize_linear(grey, 16, 11)[0, :5], [92, 136, 128, 106, 141])
        np.testing.assert_array_equal(preprocess.resize_linear(grey, 37, 50)[0, :5], [0, 37, 74, 111, 148])

    def test_stack_equals_one_by_one(self):
        grey, rgb = synthetic()
        stack = np.stack([grey, preprocess.luma(rgb)])
        got = preprocess.resize_linear(stack, 16, 11)
        for i in range(2):
            np.testing.assert_array_equal(got[i], preprocess.resize_linear(stack[i], 16, 11))

    def test_same_size_is_identity(self):
        grey, _ = synthetic()
        np.testing.assert_array_equal(preprocess.resize_linear(grey, 37, 23), grey)

    def test_constant_stays_constant(self):
        flat = np.full((30, 20), 173, dtype=np.uint8)
        out = preprocess.resize_linear(flat, 7, 45)
        self.assertEqual(out.shape, (45, 7))
        self.assertTrue((out == 173).all())

    def test_bad_sizes(self):
        with self.assertRaises(ValueError):
            preprocess.resize_linear(np.zeros((0, 4), dtype=np.uint8), 2, 2)
        with self.assertRaises(ValueError):
            preprocess.resize_linear(np.zeros((4, 4), dtype=np.uint8), 0, 2)


class NormaliseTest(unittest.TestCase):
    def test_values_and_channels(self):
        g = np.array([[0, 255], [128, 64]], dtype=np.uint8)
        x = preprocess.normalise(g, 0.5, 0.25, channels=3)
        self.assertEqual(x.shape, (1, 3, 2, 2))
        self.assertEqual(x.dtype, np.float32)
        self.assertAlmostEqual(float(x[0, 0, 0, 0]), -2.0, places=6)
        self.assertAlmostEqual(float(x[0, 2, 0, 1]), 2.0, places=6)
        self.assertAlmostEqual(float(x[0, 1, 1, 0]), (128 / 255 - 0.5) / 0.25, places=6)


@prerequisites.skip_unless(shutil.which("go"), "go is not installed; the Go parity test needs it")
class GoParityTest(unittest.TestCase):
    """Runs the Go side (training/goprep) on PNG files written here and requires identical pixels."""

    def test_png_bit_exact(self):
        from PIL import Image
        grey, rgb = synthetic()
        rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 90, dtype=np.uint8)], -1)
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for name, arr, mode in (("g.png", grey, "L"), ("c.png", rgb, "RGB"), ("a.png", rgba, "RGBA")):
                paths.append(os.path.join(d, name))
                Image.fromarray(arr, mode).save(paths[-1])
            for w, h in ((16, 11), (50, 41)):
                out = subprocess.run(["go", "run", "./training/goprep", "-width", str(w), "-height", str(h)] + paths,
                                     cwd=REPO, capture_output=True, check=True).stdout
                go = np.frombuffer(out, dtype=np.uint8).reshape(len(paths), h, w)
                for i, p in enumerate(paths):
                    np.testing.assert_array_equal(preprocess.preprocess_file(p, w, h), go[i], err_msg=f"{p} {w}x{h}")


if __name__ == "__main__":
    unittest.main()
