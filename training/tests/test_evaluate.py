"""Tests of the evaluate stage's figures, bootstrap comparison and of metrics-diff's table."""

import unittest

import numpy as np

import evaluate
import metricsdiff


class FiguresTest(unittest.TestCase):
    def test_binary_decision_precision_and_ece(self):
        y = np.array([0, 0, 1, 1])
        prob = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]])
        f = evaluate.figures(y, prob, ["normal", "pneumonia"], 1, 0.5)
        self.assertEqual(f["decision"].tolist(), [0, 1, 1, 0])
        self.assertAlmostEqual(f["precision"], 0.5)
        self.assertAlmostEqual(f["accuracy"], 0.5)
        # p(positive) 0.1 (neg), 0.6 (neg), 0.7 (pos), 0.4 (pos): bins 0.0-0.1, 0.5-0.6, 0.6-0.7, 0.3-0.4
        self.assertAlmostEqual(f["ece_p_positive"], (0.1 + 0.6 + 0.3 + 0.6) / 4)

    def test_subtype_figure_for_a_model_with_a_normal_class(self):
        ids = ["a", "b", "normal"]
        y = np.array([0, 1, 2, 0])
        prob = np.eye(3)[[0, 2, 2, 1]] * 0.9 + 0.1 / 3
        f = evaluate.figures(y, prob, ids, None, None)
        # cancer slices: a->a, b->normal (a miss), a->b: F1(a) = 2/3, F1(b) = 0
        self.assertAlmostEqual(f["subtype_macro_f1"], (2 / 3 + 0) / 2)


class BootstrapTest(unittest.TestCase):
    def test_same_model_gives_zero_differences_and_intervals_around_the_figure(self):
        rng = np.random.default_rng(1)
        y = np.array([0] * 40 + [1] * 60)
        p1 = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.25, 100), 0.01, 0.99)
        prob = np.stack([1 - p1, p1], 1)
        old = evaluate.N_BOOT
        evaluate.N_BOOT = 200
        try:
            new, prev, diff = evaluate.bootstrap(y, prob, ["n", "p"], 1, 0.5, prob, 0.5)
        finally:
            evaluate.N_BOOT = old
        figs = evaluate.figures(y, prob, ["n", "p"], 1, 0.5)
        for k in ("accuracy", "auc", "sensitivity", "precision"):
            self.assertEqual(diff[k], [0.0, 0.0], k)
            self.assertEqual(new[k], prev[k], k)
            self.assertLessEqual(new[k][0], figs[k] + 1e-9, k)
            self.assertGreaterEqual(new[k][1], figs[k] - 1e-9, k)
            self.assertLess(new[k][0], new[k][1], k)


class MetricsDiffTest(unittest.TestCase):
    def test_table_lists_previous_new_and_interval(self):
        card = {"id": "m", "version": "2.0.0", "evaluation": {
            "files": "test_files.txt", "n": 10, "accuracy": 0.9, "auc": 0.95, "ece": 0.05,
            "intervals": {"accuracy": [0.8, 0.97], "auc": [0.9, 0.99], "ece": [0.02, 0.09]},
            "previous": {"version": "1.0.0", "sha256": "ab" * 32, "figures": {"accuracy": 0.85, "auc": 0.96, "ece": 0.1},
                         "difference": {"accuracy": 0.05, "auc": -0.01, "ece": -0.05},
                         "difference_interval": {"accuracy": [0.01, 0.09], "auc": [-0.03, 0.01], "ece": [-0.08, -0.01]},
                         "inside_new_interval": {"accuracy": True, "auc": True, "ece": False}}}}
        lines = metricsdiff.table(card)
        self.assertIn("vs 1.0.0", lines[0])
        acc = next(line for line in lines if line.startswith("accuracy"))
        self.assertEqual(acc.split()[1:4], ["0.8500", "0.9000", "[0.8000,"])
        self.assertTrue(acc.rstrip().endswith("yes"))
        self.assertTrue(next(line for line in lines if line.startswith("ece")).rstrip().endswith("no"))


if __name__ == "__main__":
    unittest.main()
