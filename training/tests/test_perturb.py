"""Tests of the deterministic perturbation set of the robustness check."""

import unittest

import numpy as np

import perturb


def film(h=60, w=80):
    rng = np.random.default_rng(0)
    g = np.full((h, w), 40, dtype=np.uint8)
    g[10:50, 10:35] = 180
    return np.clip(g + rng.integers(0, 20, (h, w)), 0, 255).astype(np.uint8)


class PerturbTest(unittest.TestCase):
    def test_every_kind_is_deterministic_same_size_and_changes_the_image(self):
        g = film()
        for k in perturb.KINDS:
            a, b = perturb.perturb(g, k, 3), perturb.perturb(g, k, 3)
            self.assertEqual(a.shape, g.shape, k)
            self.assertEqual(a.dtype, np.uint8, k)
            self.assertTrue(np.array_equal(a, b), k)
            self.assertGreater(np.abs(a.astype(int) - g).mean(), 0.5, k)

    def test_directions_alternate_with_the_index(self):
        g = film()
        dark, bright = perturb.perturb(g, "exposure", 0), perturb.perturb(g, "exposure", 1)
        # gamma 0.7 brightens the mid-tones, 1.45 darkens them
        self.assertGreater(dark.mean(), g.mean())
        self.assertLess(bright.mean(), g.mean())
        # a zoom out (index 0) leaves a black border, a zoom in (index 1) does not
        self.assertEqual(perturb.perturb(g, "rescale", 0)[:, :2].max(), 0)
        self.assertGreater(perturb.perturb(g, "rescale", 1)[:, :2].min(), 0)

    def test_unknown_kind_and_bad_input(self):
        with self.assertRaises(ValueError):
            perturb.perturb(film(), "flip", 0)
        with self.assertRaises(ValueError):
            perturb.perturb(np.zeros((2, 3, 3), np.uint8), "rotate", 0)

    def test_stack_and_robustness_summary(self):
        x = np.stack([film(), film()])
        out = perturb.perturb_stack(x, ("rotate", "noise"))
        self.assertEqual(set(out), {"rotate", "noise"})
        self.assertTrue(np.array_equal(out["rotate"][1], perturb.perturb(x[1], "rotate", 1)))
        r = perturb.robustness(np.array([True, True, True, False]),
                               {"a": np.array([True, True, False, False]), "b": np.array([True, True, True, True])})
        self.assertEqual(r["points_lost"], {"a": 25.0, "b": -25.0})
        self.assertEqual(r["mean_points_lost"], 0.0)
        self.assertEqual(r["worst"], "a")


if __name__ == "__main__":
    unittest.main()
