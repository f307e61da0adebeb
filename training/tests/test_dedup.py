"""Tests of duplicate detection and the keep/drop rules."""

import unittest

import numpy as np

import dedup


class HashTest(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(1)
        self.a = (rng.random((64, 80)) * 255).astype(np.uint8)
        self.b = (rng.random((64, 80)) * 255).astype(np.uint8)

    def test_content_hash(self):
        self.assertEqual(dedup.content_hash(self.a), dedup.content_hash(self.a.copy()))
        self.assertNotEqual(dedup.content_hash(self.a), dedup.content_hash(self.b))
        # Same bytes, different shape: different images.
        self.assertNotEqual(dedup.content_hash(self.a), dedup.content_hash(self.a.reshape(80, 64)))

    def test_dhash_near_and_far(self):
        smooth = np.add.outer(np.arange(64), np.arange(80) * 2).astype(np.uint8)
        marked = smooth.copy()
        marked[10, 5:30] = 255  # a thin drawn line, like the markers on the CT normals
        d_near = dedup.hamming_matrix([dedup.dhash(smooth)], [dedup.dhash(marked)])[0, 0]
        d_far = dedup.hamming_matrix([dedup.dhash(smooth)], [dedup.dhash(self.b)])[0, 0]
        self.assertLess(d_near, 10)
        self.assertGreater(d_far, 80)

    def test_hamming_matrix(self):
        a = np.array([[1, 0, 1, 1], [0, 0, 0, 0]], dtype=bool)
        np.testing.assert_array_equal(dedup.hamming_matrix(a, a), [[0, 3], [3, 0]])


class ResolveTest(unittest.TestCase):
    def items(self, spec):
        return [{"path": f"f{i}", "split": s, "cls": c} for i, (s, c) in enumerate(spec)]

    def test_rules(self):
        items = self.items([
            ("train", "a"), ("test", "a"),                 # 0-1: test copy of train -> drop 1
            ("train", "a"), ("train", "b"),                # 2-3: cross-class -> drop both
            ("valid", "b"), ("test", "b"),                 # 4-5: test copy of valid -> drop 5
            ("test", "a"), ("test", "a"), ("test", "a"),   # 6-8: within test -> keep 6 only
            ("train", "b"),                                # 9: unique
        ])
        groups = [[0, 1], [2, 3], [4, 5], [6, 7, 8], [9]]
        keep, reasons = dedup.resolve(items, groups)
        self.assertEqual(keep, [True, False, False, False, True, False, True, False, False, True])
        self.assertEqual(reasons, {"cross-class": 2, "leak-from-train": 1, "leak-from-valid": 1, "within-split": 2})

    def test_groups_transitive(self):
        exact = ["x", "y", "x", "z"]
        hashes = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 0]], dtype=bool)
        self.assertEqual(dedup.duplicate_groups(exact, hashes, 1), [[0, 2], [1, 3]])
        self.assertEqual(dedup.duplicate_groups(exact, hashes, 0), [[0, 2], [1], [3]])


if __name__ == "__main__":
    unittest.main()
