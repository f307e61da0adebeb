"""Tests of the gate's recipe: negatives, grouping and splits, and the interval."""

import unittest

import numpy as np

import dedup
import gate_evaluate
import gate_ingest
import gate_negatives


class SyntheticTest(unittest.TestCase):
    def test_every_kind_draws_a_usable_image(self):
        for kind in ("blank", "constant", "noise", "checkerboard", "stripes", "gradient", "shapes", "text"):
            for seed in range(3):
                img = gate_negatives.synth(kind, np.random.default_rng(seed))
                self.assertIn(img.mode, ("L", "RGB"), kind)
                self.assertGreaterEqual(min(img.size), 64, kind)
                self.assertLessEqual(max(img.size), 1350, kind)

    def test_seeded(self):
        a = np.asarray(gate_negatives.synth("shapes", np.random.default_rng(7)))
        b = np.asarray(gate_negatives.synth("shapes", np.random.default_rng(7)))
        np.testing.assert_array_equal(a, b)

    def test_kinds_look_as_named(self):
        rng = np.random.default_rng(4)
        blank = np.asarray(gate_negatives.synth("blank", rng))
        self.assertEqual(len(np.unique(blank)), 1)
        board = np.asarray(gate_negatives.synth("checkerboard", np.random.default_rng(5)).convert("L"))
        self.assertLessEqual(len(np.unique(board)), 2)  # two grey levels (or two colours' lumas)
        page = np.asarray(gate_negatives.text_page(np.random.default_rng(6)).convert("L"))
        paper = np.bincount(page.ravel(), minlength=256).argmax()
        self.assertGreater((page == paper).mean(), 0.6)  # mostly paper
        self.assertGreater((np.abs(page.astype(int) - paper) > 100).mean(), 0.005)  # and some ink

    def test_crop_is_not_a_whole_image(self):
        g = np.zeros((400, 300), dtype=np.uint8)
        for seed in range(20):
            c = gate_negatives.crop(np.random.default_rng(seed), g, 0.15, 0.5)
            self.assertLessEqual(c.shape[0], 200)
            self.assertLessEqual(c.shape[1], 150)
            self.assertGreaterEqual(min(c.shape), 8)


def row(path, family, tier, origin="-"):
    return {"app_path": path, "gate_png": path, "family": family, "tier": tier, "origin": origin, "source": "t"}


class GroupingTest(unittest.TestCase):
    def test_flat_images_match_only_exact_copies(self):
        flat = np.zeros(256, dtype=bool)
        busy = np.random.default_rng(0).random(256) > 0.5
        near = busy.copy()
        near[:3] = ~near[:3]
        g = gate_ingest.group_ids(["a", "b", "c", "d", "a"], [flat, flat, busy, near, flat], threshold=8)
        self.assertNotEqual(g[0], g[1])  # two different blank images are not duplicates
        self.assertEqual(g[0], g[4])  # exact copies are
        self.assertEqual(g[2], g[3])  # 3 bits apart

    def test_matches_dedup_on_busy_images(self):
        rng = np.random.default_rng(1)
        hashes = rng.random((50, 256)) > 0.5
        hashes[10] = hashes[3]
        hashes[20, :] = hashes[10]
        hashes[20, :5] = ~hashes[20, :5]
        exact = [str(i) for i in range(50)]
        ours = gate_ingest.group_ids(exact, hashes, 8, block=7)
        theirs = dedup.duplicate_groups(exact, hashes, 8)
        self.assertEqual(sorted(sorted(np.flatnonzero(ours == g).tolist()) for g in set(ours)), sorted(theirs))

    def test_split(self):
        rows = [row(f"/t/{i}", "fam", "train") for i in range(40)]
        rows += [row("/d/v", "derived", "train", "valid"), row("/d/t", "derived", "train", "train")]
        rows += [row("/h/a", "held", "heldout"), row("/h/b", "held", "heldout"), row("/h/c", "held", "heldout")]
        groups = np.arange(len(rows))  # rows 42, 43, 44 are /h/a, /h/b, /h/c
        groups[43] = groups[0]  # /h/b duplicates a train-tier image
        groups[44] = groups[42]  # /h/a and /h/c are one picture
        splits, reasons = gate_ingest.split_negatives(rows, groups, 0.25, seed=1)
        self.assertEqual(splits[40], "valid")  # derived images keep their chest image's split
        self.assertEqual(splits[41], "train")
        self.assertEqual(splits[43], "drop")  # /h/b duplicates a train image
        self.assertEqual(splits[42:45].count("heldout"), 1)  # /h/a and /h/c are one picture: kept once
        self.assertEqual(reasons, {"heldout-duplicates-train-tier": 1, "heldout-within-group": 1})
        self.assertEqual(splits[:40].count("valid"), 10)  # a quarter of the family's groups
        self.assertNotIn(None, splits)


class WilsonTest(unittest.TestCase):
    def test_interval(self):
        lo, hi = gate_evaluate.wilson(95, 100)
        self.assertAlmostEqual(lo, 0.8882, places=3)  # the textbook Wilson interval of 95/100
        self.assertAlmostEqual(hi, 0.9785, places=3)
        lo, hi = gate_evaluate.wilson(10, 10)
        self.assertEqual(hi, 1.0)
        self.assertAlmostEqual(lo, 0.7225, places=3)


if __name__ == "__main__":
    unittest.main()
