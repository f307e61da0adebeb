"""Tests of the hand-written MLflow file-store layout."""

import os
import tempfile
import unittest

import yaml

import tracking


class RunTest(unittest.TestCase):
    def test_layout(self):
        with tempfile.TemporaryDirectory() as d:
            run = tracking.Run(d, "cxr-pneumonia", "cxr-train", "abc123")
            run.log_params({"train": {"lr": 0.003, "epochs": 6}, "widths": [1, 2]})
            run.log_metric("valid_auc", 0.5, 0)
            run.log_metric("valid_auc", 0.75, 1)
            run.end(True)
            exp = os.path.dirname(run.dir)
            with open(os.path.join(exp, "meta.yaml")) as f:
                self.assertEqual(yaml.safe_load(f)["name"], "cxr-pneumonia")
            with open(os.path.join(run.dir, "meta.yaml")) as f:
                meta = yaml.safe_load(f)
            self.assertEqual((meta["status"], meta["run_id"]), (3, run.run_id))
            with open(os.path.join(run.dir, "params", "train.lr")) as f:
                self.assertEqual(f.read(), "0.003")
            with open(os.path.join(run.dir, "params", "widths")) as f:
                self.assertEqual(f.read(), "[1, 2]")
            with open(os.path.join(run.dir, "metrics", "valid_auc")) as f:
                lines = [line.split() for line in f.read().splitlines()]
            self.assertEqual([(v, s) for _, v, s in lines], [("0.5", "0"), ("0.75", "1")])
            self.assertTrue(all(t.isdigit() and len(t) == 13 for t, _, _ in lines))
            with open(os.path.join(run.dir, "tags", "mlflow.source.git.commit")) as f:
                self.assertEqual(f.read(), "abc123")


if __name__ == "__main__":
    unittest.main()
