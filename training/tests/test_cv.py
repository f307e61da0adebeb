"""Tests of the grouped cross-validation's fold assignment, the GPU data pack and the parallel runner's pace."""

import os
import sys
import tempfile
import unittest

import numpy as np
from PIL import Image

import cv
import datapack
import seeds


class FoldTest(unittest.TestCase):
    def test_groups_stay_whole_and_classes_spread(self):
        y = np.array([0] * 20 + [1] * 10)
        groups = [[0, 1, 2], [3, 4]] + [[i] for i in range(5, 30)]
        fold_of = cv.assign_folds(groups, y, 2, 5, seed=1)
        for g in groups:
            self.assertEqual(len(set(fold_of[g].tolist())), 1)
        per_fold = [np.bincount(y[fold_of == f], minlength=2) for f in range(5)]
        self.assertTrue(all(c[1] == 2 for c in per_fold), per_fold)  # 10 class-1 images, 2 per fold
        self.assertTrue(all(3 <= c[0] <= 5 for c in per_fold), per_fold)


class PackTest(unittest.TestCase):
    def test_encoded_pack_decodes_to_the_ingest_cache(self):
        rng = np.random.default_rng(0)
        with tempfile.TemporaryDirectory() as d:
            data, work, out = (os.path.join(d, n) for n in ("data", "work", "pack"))
            os.makedirs(os.path.join(data, "s"))
            os.makedirs(work)
            rels, xs = [], []
            for i in range(4):
                g = rng.integers(0, 255, (40, 30), dtype=np.uint8)
                rel = f"s/{i}.png"
                Image.fromarray(g).save(os.path.join(data, rel))
                rels.append(rel)
                xs.append(datapack.preprocess.resize_linear(g, 16, 16))
            for split in ("train", "valid"):
                np.savez(os.path.join(work, f"{split}.npz"), x=np.stack(xs), y=np.arange(4), rel=np.array(rels))
            for name in ("files.tsv", "ingest.json"):
                with open(os.path.join(work, name), "w") as f:
                    f.write("{}")
            meta = datapack.build(work, data, out, {"input": {"height": 16, "width": 16}})
            # 4 PNGs of 40x30 noise are larger than a 16x16 cache: stored resized
            self.assertEqual(meta["layout"]["train"], "uint8 at the input size")
            big = {"input": {"height": 64, "width": 64}}
            for split in ("train", "valid"):  # a 64x64 cache is larger than the files: stored encoded
                np.savez(os.path.join(work, f"{split}.npz"), x=np.zeros((4, 64, 64), np.uint8), y=np.arange(4),
                         rel=np.array(rels))
            meta = datapack.build(work, data, out, big)
            self.assertEqual(meta["layout"]["train"], "encoded files")
            x, y, rel = datapack.load_split(out, "train", 16, 16)
            self.assertTrue(np.array_equal(x, np.stack(xs)))
            self.assertEqual(rel.tolist(), rels)
            with self.assertRaises(ValueError):
                datapack.build(work, data, out, big, budget_mib=0)


class ProgressTest(unittest.TestCase):
    def test_reads_the_last_epoch_line(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "log.txt")
            self.assertIsNone(seeds.progress(p))
            with open(p, "w") as f:
                f.write("decoding\n")
            self.assertIsNone(seeds.progress(p))
            with open(p, "a") as f:
                f.write("epoch 1/20 train_loss 0.5 (3s)\nfold 2: epoch 2/20 train_loss 0.4 (6s)\n")
            self.assertEqual(seeds.progress(p), (2, 20))

    def test_runner_stops_the_command_that_would_overrun(self):
        def script(total, tail):
            lines = [f"print('epoch {e}/{total}', flush=True); time.sleep(1.2)" for e in (1, 2, 3)]
            return "import time; " + "; ".join(lines) + f"; time.sleep({tail})"
        quick, slow = script(4, 0), script(100, 60)
        with tempfile.TemporaryDirectory() as d:
            cmds = [(n, [sys.executable, "-c", c], os.path.join(d, n + ".log")) for n, c in
                    (("quick", quick), ("slow", slow), ("late", "print('never')"))]
            codes = seeds.run_parallel(cmds, 2, 4.0, lambda s: None)
        # slow is stopped (its pace projects 100 epochs far past the deadline) while quick, the last one running,
        # is never stopped; late starts in the freed slot if the deadline has not passed yet
        self.assertEqual((codes["quick"], codes["slow"]), (0, None))
        self.assertIn(codes["late"], (0, None))


if __name__ == "__main__":
    unittest.main()
