"""Tests of the hand-written MLflow file-store layout, the committed run record and its reader."""

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
                emeta = yaml.safe_load(f)
            self.assertEqual(emeta["name"], "cxr-pneumonia")
            with open(os.path.join(run.dir, "meta.yaml")) as f:
                meta = yaml.safe_load(f)
            self.assertEqual((meta["status"], meta["run_id"]), (3, run.run_id))
            # relative locations: a store outside the repository is relative to its own parent
            self.assertFalse(os.path.isabs(meta["artifact_uri"]) or "file:" in meta["artifact_uri"])
            self.assertEqual(os.path.normpath(os.path.join(os.path.dirname(d), meta["artifact_uri"])),
                             os.path.join(run.dir, "artifacts"))
            self.assertFalse(os.path.isabs(emeta["artifact_location"]))
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


class RecordTest(unittest.TestCase):
    def test_record_is_compact_relative_and_readable(self):
        with tempfile.TemporaryDirectory() as d:
            scratch, repo = os.path.join(d, "scratch"), os.path.join(d, "repo")
            store = os.path.join(repo, "training", "runs")
            train = tracking.Run(scratch, "ct-lung", "ct-lung-train", "c1")
            train.log_params({"train": {"epochs": 2}})
            for step, v in enumerate((1.2, 0.9)):
                train.log_metric("valid_nll", v, step)
            small, big = os.path.join(d, "train.json"), os.path.join(d, "model.pt")
            with open(small, "w") as f:
                f.write("{}")
            with open(big, "wb") as f:
                f.write(b"\0" * (tracking.RECORD_MAX_ARTIFACT_BYTES + 1))
            train.log_artifact(small)
            train.log_artifact(big)
            train.end(True)
            ev = [tracking.Run(scratch, "ct-lung", "ct-lung-evaluate", "c1") for _ in range(2)]
            for r in ev:
                r.set_tag("train_run_id", train.run_id)
                r.log_metric("test_accuracy", 0.8)
                r.end(True)
            tracking.record(train.dir, store, "ct-lung", base=repo)
            for r in ev:  # re-scoring a release replaces its evaluate record
                tracking.record(r.dir, store, "ct-lung", base=repo, replace_tag=("train_run_id", train.run_id))
            got = tracking.read_store(store, base=repo)
            runs = got["ct-lung"]
            self.assertEqual(sorted(runs), sorted([train.run_id, ev[1].run_id]))
            t = runs[train.run_id]
            self.assertEqual(t["artifacts"], ["train.json"])  # the checkpoint-sized file stayed out
            self.assertEqual([v for _, v, _ in t["metrics"]["valid_nll"]], [1.2, 0.9])
            self.assertEqual(t["params"]["train.epochs"], "2")
            self.assertEqual(t["meta"]["artifact_uri"],
                             os.path.join("training", "runs", tracking.experiment_id("ct-lung"), train.run_id,
                                          "artifacts"))
            self.assertEqual(tracking.find_run(store, ev[1].run_id),
                             os.path.join(store, tracking.experiment_id("ct-lung"), ev[1].run_id))

    def test_reader_rejects_a_mislabelled_run(self):
        with tempfile.TemporaryDirectory() as d:
            run = tracking.Run(d, "x", "x-train", "c")
            meta = os.path.join(run.dir, "meta.yaml")
            with open(meta) as f:
                m = yaml.safe_load(f)
            m["run_id"] = "other"
            with open(meta, "w") as f:
                yaml.safe_dump(m, f)
            with self.assertRaises(ValueError):
                tracking.read_store(d, base=os.path.dirname(d))

    def test_recipe_digest_changes_with_the_source(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "a.py"), "w") as f:
                f.write("x = 1\n")
            first = tracking.recipe_digest(d)
            with open(os.path.join(d, "notes.txt"), "w") as f:
                f.write("not part of the recipe")
            self.assertEqual(tracking.recipe_digest(d), first)
            with open(os.path.join(d, "a.py"), "w") as f:
                f.write("x = 2\n")
            self.assertNotEqual(tracking.recipe_digest(d), first)


if __name__ == "__main__":
    unittest.main()
