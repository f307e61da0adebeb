"""Tests of the numpy metrics against values worked by hand."""

import unittest

import numpy as np

import metrics


class AUCTest(unittest.TestCase):
    def test_perfect_reversed_and_ties(self):
        y = np.array([0, 0, 1, 1])
        self.assertAlmostEqual(metrics.auc(y, [0.1, 0.2, 0.8, 0.9]), 1.0)
        self.assertAlmostEqual(metrics.auc(y, [0.9, 0.8, 0.2, 0.1]), 0.0)
        self.assertAlmostEqual(metrics.auc(y, [0.5, 0.5, 0.5, 0.5]), 0.5)

    def test_hand_example(self):
        # Positives 0.8, 0.4; negatives 0.6, 0.2: pairs ranked right = (0.8>0.6, 0.8>0.2, 0.4>0.2) = 3 of 4.
        self.assertAlmostEqual(metrics.auc([1, 0, 1, 0], [0.8, 0.6, 0.4, 0.2]), 0.75)
        # A tie between a positive and a negative counts one half: 0.5 of 1.
        self.assertAlmostEqual(metrics.auc([1, 0], [0.3, 0.3]), 0.5)

    def test_one_class_is_an_error(self):
        with self.assertRaises(ValueError):
            metrics.auc([1, 1], [0.2, 0.3])


class ConfusionTest(unittest.TestCase):
    def test_rows_are_truth(self):
        cm = metrics.confusion([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], 2)
        np.testing.assert_array_equal(cm, [[1, 1], [1, 2]])
        sens, spec, prec, f1 = metrics.per_class(cm)
        np.testing.assert_allclose(sens, [0.5, 2 / 3])
        np.testing.assert_allclose(spec, [2 / 3, 0.5])
        np.testing.assert_allclose(prec, [0.5, 2 / 3])
        np.testing.assert_allclose(f1, [0.5, 2 / 3])


class ECETest(unittest.TestCase):
    def test_hand_example(self):
        # Two predictions at confidence 0.9 (one right), two at 0.6 (both right):
        # ECE = 0.5*|0.5-0.9| + 0.5*|1.0-0.6| = 0.4.
        p = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
        self.assertAlmostEqual(metrics.ece([0, 1, 1, 1], p), 0.4)

    def test_perfectly_calibrated(self):
        p = np.array([[1.0, 0.0], [0.0, 1.0]])
        self.assertAlmostEqual(metrics.ece([0, 1], p), 0.0)


class TemperatureTest(unittest.TestCase):
    def test_recovers_true_temperature(self):
        rng = np.random.default_rng(0)
        true = rng.normal(size=(4000, 3)) * 2.0
        p = metrics.softmax(true)
        y = np.array([rng.choice(3, p=row) for row in p])
        # Logits scaled by 3 are over-confident; the NLL-optimal temperature undoes the scale.
        t = metrics.fit_temperature(y, true * 3.0)
        self.assertAlmostEqual(t, 3.0, delta=0.25)

    def test_softmax_rows(self):
        p = metrics.softmax(np.array([[0.0, np.log(3.0)], [1000.0, 0.0]]))
        np.testing.assert_allclose(p, [[0.25, 0.75], [1.0, 0.0]], atol=1e-12)
        np.testing.assert_allclose(metrics.softmax(np.array([[0.0, 2.0]]), 2.0), metrics.softmax(np.array([[0.0, 1.0]])))


class ThresholdTest(unittest.TestCase):
    def test_highest_threshold_keeping_sensitivity(self):
        y = np.array([1, 1, 1, 1, 0, 0])
        s = np.array([0.9, 0.8, 0.3, 0.7, 0.5, 0.1])
        # Needs 3 of 4 positives (0.75): the third-highest positive score 0.7.
        self.assertAlmostEqual(metrics.max_threshold_with_sensitivity(y, s, 0.75), 0.7)
        # All four: down to 0.3.
        self.assertAlmostEqual(metrics.max_threshold_with_sensitivity(y, s, 0.95), 0.3)

    def test_summary_binary_uses_threshold(self):
        prob = np.array([[0.6, 0.4], [0.7, 0.3], [0.2, 0.8], [0.9, 0.1]])
        y = np.array([1, 0, 1, 0])
        s = metrics.summary(y, prob, ["normal", "pneumonia"], positive=1, threshold=0.35)
        self.assertEqual(s["confusion"], [[2, 0], [0, 2]])
        self.assertAlmostEqual(s["sensitivity"], 1.0)
        s = metrics.summary(y, prob, ["normal", "pneumonia"], positive=1, threshold=0.5)
        self.assertEqual(s["confusion"], [[2, 0], [1, 1]])
        self.assertAlmostEqual(s["accuracy"], 0.75)


if __name__ == "__main__":
    unittest.main()
