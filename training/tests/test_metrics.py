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


class CalibrationTest(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        d = rng.normal(0, 2, 4000)
        # true p(positive) = sigmoid(0.5 d - 1): both a scale and a shift for Platt to recover
        self.y = (rng.random(4000) < 1 / (1 + np.exp(-(0.5 * d - 1.0)))).astype(int)
        self.logits = np.stack([np.zeros_like(d), d], 1)

    def test_platt_recovers_scale_and_shift(self):
        a, b = metrics.fit_platt(self.y, self.logits, positive=1)
        self.assertAlmostEqual(a, 0.5, delta=0.06)
        self.assertAlmostEqual(b, -1.0, delta=0.12)

    def test_calibrated_logits_match_the_record(self):
        cal = {"method": "platt", "a": 0.5, "b": -1.0}
        z = metrics.calibrated_logits(self.logits[:5], cal, positive=1)
        p = metrics.softmax(z)[:, 1]
        np.testing.assert_allclose(p, 1 / (1 + np.exp(-(0.5 * self.logits[:5, 1] - 1.0))), atol=1e-12)
        t = metrics.calibrated_logits(self.logits[:5], {"method": "temperature", "temperature": 2.0})
        np.testing.assert_allclose(t, self.logits[:5] / 2.0)

    def test_choice_prefers_platt_when_a_shift_is_needed(self):
        cal, scores = metrics.choose_calibration(self.y, self.logits, ["temperature", "platt"], positive=1)
        self.assertEqual(cal["method"], "platt")
        self.assertLess(scores["platt"], scores["temperature"])


class DecisionTest(unittest.TestCase):
    def test_decision_ece_uses_the_shown_confidence(self):
        # threshold 0.3 on class 1: p1 = 0.4 is decided positive with confidence 0.4
        prob = np.array([[0.6, 0.4], [0.6, 0.4], [0.9, 0.1], [0.2, 0.8]])
        y = np.array([1, 0, 0, 1])
        dec = metrics.decide(prob, positive=1, threshold=0.3)
        self.assertEqual(dec.tolist(), [1, 1, 0, 1])
        ece, table = metrics.decision_ece(y, prob, dec, bins=10)
        # bins: 0.4 -> 2 decisions, 1 right (|0.5-0.4| * 2/4); 0.8 -> right (|1-0.8| * 1/4); 0.9 -> right (0.1/4)
        self.assertAlmostEqual(ece, 0.1 * 0.5 + 0.2 * 0.25 + 0.1 * 0.25)
        self.assertEqual([r[2] for r in table], [0, 0, 0, 2, 0, 0, 0, 1, 1, 0])

    def test_threshold_at_recall(self):
        y = np.array([1, 1, 1, 0, 0, 1, 0])
        s = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.6, 0.1])
        t, fig = metrics.threshold_at_recall(y, s, 0.75)
        self.assertEqual(t, 0.6)  # 3 of 4 positives at >= 0.6
        self.assertAlmostEqual(fig["sensitivity"], 0.75)
        self.assertAlmostEqual(fig["precision"], 0.75)
        self.assertAlmostEqual(fig["specificity"], 2 / 3)

    def test_subtype_macro_f1_counts_normal_as_a_miss(self):
        y = np.array([0, 0, 1, 1, 2, 2, 3])
        pred = np.array([0, 3, 1, 0, 2, 2, 0])
        # class 0: tp 1, fp 1 (a class-1 slice), fn 1 (called normal) -> 0.5; class 1: tp 1, fn 1 -> 2/3;
        # class 2: 1.0; the normal slice called class 0 is not scored
        self.assertAlmostEqual(metrics.subtype_macro_f1(y, pred, [0, 1, 2]), (0.5 + 2 / 3 + 1.0) / 3)
