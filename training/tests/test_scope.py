"""Tests of the out-of-scope statistics: shrinkage, fit, distance, threshold, AUROC and the files Go reads."""

import hashlib
import os
import tempfile
import unittest

import numpy as np
import yaml

import scope


def ledoit_wolf_loop(x):
    """The Ledoit-Wolf (2004) shrinkage written out term by term, for comparison."""
    n, p = x.shape
    s = sum(np.outer(r, r) for r in x) / n
    mu = np.trace(s) / p
    d2 = np.linalg.norm(s - mu * np.eye(p), "fro") ** 2
    b2 = sum(np.linalg.norm(np.outer(r, r) - s, "fro") ** 2 for r in x) / n ** 2
    a = min(b2, d2) / d2
    return (1 - a) * s + a * mu * np.eye(p), a


class ShrinkageTest(unittest.TestCase):
    def test_matches_the_formula(self):
        x = np.random.default_rng(0).normal(size=(30, 6)) * np.array([1, 2, 3, 1, 1, 5])
        x -= x.mean(axis=0)
        got, a = scope.ledoit_wolf(x)
        want, wa = ledoit_wolf_loop(x)
        self.assertAlmostEqual(a, wa, places=12)
        np.testing.assert_allclose(got, want, rtol=1e-12)

    def test_shrinks_more_when_samples_are_few(self):
        rng = np.random.default_rng(1)
        _, few = scope.ledoit_wolf(rng.normal(size=(10, 40)))
        _, many = scope.ledoit_wolf(rng.normal(size=(5000, 5)) * np.array([1, 2, 3, 4, 5]))
        self.assertGreater(few, 0.5)
        self.assertLess(many, 0.05)


class FitTest(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(2)
        self.f = np.concatenate([rng.normal(0, 1, (200, 4)), rng.normal(10, 1, (200, 4))])
        self.y = np.array([0] * 200 + [1] * 200)

    def test_means_and_tied_precision(self):
        means, prec, shrink = scope.fit(self.f, self.y, 3)
        np.testing.assert_allclose(means[0], self.f[:200].mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(means[1], self.f[200:].mean(0), rtol=1e-5)
        self.assertTrue(np.isnan(means[2]).all())  # no train example: no centre
        xc = np.concatenate([self.f[:200] - self.f[:200].mean(0), self.f[200:] - self.f[200:].mean(0)])
        cov, a = scope.ledoit_wolf(xc)
        self.assertAlmostEqual(shrink, a)
        np.testing.assert_allclose(prec, np.linalg.inv(cov), rtol=1e-4)

    def test_distance_to_the_nearest_centre(self):
        means, prec, _ = scope.fit(self.f, self.y, 3)
        d, k = scope.d2(np.stack([means[0], means[1], means[1] + 3]), means, prec)
        self.assertAlmostEqual(d[0], 0, places=9)
        self.assertEqual(k.tolist(), [0, 1, 1])
        diff = np.full(4, 3.0)
        self.assertAlmostEqual(d[2], diff @ prec.astype(np.float64) @ diff, places=6)
        far, _ = scope.d2(np.full((1, 4), 100.0), means, prec)
        self.assertGreater(far[0], 1000)


class ThresholdTest(unittest.TestCase):
    def test_threshold_between_valid_distances(self):
        v = np.arange(1, 201, dtype=float)[::-1]
        self.assertEqual(scope.choose_threshold(v, 0.995), 199.5)  # 199 of 200 accepted = 99.5 %
        t = scope.choose_threshold(v[:62], 0.995)  # 62 images: all must be accepted
        self.assertGreater(t, 200.0)
        self.assertLess(t, 200.001)
        self.assertEqual(scope.choose_threshold([5.0, 1.0, 3.0, 2.0], 0.5), 2.5)
        tied = scope.choose_threshold([1.0, 2.0, 2.0, 3.0], 0.5)  # the 2nd and 3rd are equal: both accepted
        self.assertTrue(2.0 < tied < 2.001)
        with self.assertRaises(ValueError):
            scope.choose_threshold([], 0.995)

    def test_auroc(self):
        self.assertEqual(scope.auroc([1, 2], [3, 4]), 1.0)
        self.assertEqual(scope.auroc([3, 4], [1, 2]), 0.0)
        # negatives 2 and 4 against positives 1 and 3: pairs won 1+1+0+1 = 3 of 4
        self.assertEqual(scope.auroc([1, 3], [2, 4]), 0.75)
        self.assertEqual(scope.auroc([1, 2], [2, 3]), 0.875)  # 1 + 0.5 (the tie) + 2 of 4


class FilesTest(unittest.TestCase):
    def test_round_trip_and_binding(self):
        rng = np.random.default_rng(3)
        means = rng.normal(size=(2, 5)).astype(np.float32)
        a = rng.normal(size=(5, 5))
        prec = (a @ a.T + np.eye(5)).astype(np.float32)
        man = {"id": "m", "version": "1.0.0", "sha256": "ab" * 32, "outputs": {"features": "features"},
               "classes": [{"id": "x"}, {"id": "y"}]}
        with tempfile.TemporaryDirectory() as d:
            spec = scope.write_scope(d, man, means, prec, 0.1, 12.5, "rule", {"valid": {"n": 3}})
            m2, p2 = scope.read_stats(os.path.join(d, "scope.bin"))
            np.testing.assert_array_equal(m2, means)
            np.testing.assert_array_equal(p2, prec)
            with open(os.path.join(d, "scope.bin"), "rb") as f:
                data = f.read()
            self.assertEqual(data[:8], b"TTSCOPE1")
            self.assertEqual(len(data), 16 + 4 * (2 * 5 + 5 * 5))
            with open(os.path.join(d, "scope.yaml")) as f:
                y = yaml.safe_load(f)
            self.assertEqual(y, spec)
            self.assertEqual(y["model_sha256"], "ab" * 32)
            self.assertEqual(y["stats_sha256"], hashlib.sha256(data).hexdigest())
            self.assertEqual((y["dim"], y["centres"], y["threshold"], y["method"]), (5, ["x", "y"], 12.5,
                                                                                     "mahalanobis-tied"))
            with open(os.path.join(d, "scope.bin"), "r+b") as f:
                f.write(b"NOTSCOPE")
            with self.assertRaises(ValueError):
                scope.read_stats(os.path.join(d, "scope.bin"))


if __name__ == "__main__":
    unittest.main()


class PerturbedListTest(unittest.TestCase):
    def test_copies_named_by_index_and_file(self):
        from PIL import Image
        from perturb import KINDS
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "data")
            os.makedirs(data)
            rng = np.random.default_rng(3)
            for name in ("a.png", "b.png"):
                Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8)).save(os.path.join(data, name))
            work = os.path.join(d, "work")
            lst, labels, kinds = scope.perturbed_list(work, data, ["a.png", "b.png"], ["x", "y"])
            self.assertEqual(labels, ["x"] * len(KINDS) + ["y"] * len(KINDS))
            self.assertEqual(kinds, list(KINDS) * 2)
            paths, _ = scope.read_list(lst)
            self.assertEqual(len(set(paths)), 2 * len(KINDS))
            for p in paths:
                with Image.open(p) as im:
                    self.assertEqual(im.size, (24, 20))
            # Another list with the files the other way round names its copies apart: nothing is reused wrongly.
            lst2, _, _ = scope.perturbed_list(work, data, ["b.png", "a.png"], ["y", "x"])
            self.assertFalse(set(paths) & set(scope.read_list(lst2)[0]))


class AugmentedListTest(unittest.TestCase):
    def test_copies_are_deterministic_and_named_by_file(self):
        from PIL import Image
        with open(os.path.join(os.path.dirname(scope.__file__), "params.yaml")) as f:
            aug = yaml.safe_load(f)["cxr-pneumonia"]["augment"]
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "data")
            os.makedirs(data)
            Image.fromarray(np.random.default_rng(4).integers(0, 256, (32, 40), dtype=np.uint8)).save(
                os.path.join(data, "a.png"))
            lst, labels, _ = scope.augmented_list(os.path.join(d, "w1"), data, ["a.png"], ["x"], aug, 3)
            again, _, _ = scope.augmented_list(os.path.join(d, "w2"), data, ["a.png"], ["x"], aug, 3)
            self.assertEqual(labels, ["x"] * 3)
            first, second = scope.read_list(lst)[0], scope.read_list(again)[0]
            pix = [np.asarray(Image.open(p)) for p in first]
            self.assertEqual(pix[0].shape, (32, 40))
            self.assertFalse(np.array_equal(pix[0], pix[1]), "each copy draws its own augmentation")
            for p, q in zip(first, second):
                self.assertTrue(np.array_equal(np.asarray(Image.open(p)), np.asarray(Image.open(q))))
