"""Tests of bringing a GPU run back: the data must match, and stale files of an earlier run must go."""

import json
import os
import tempfile
import unittest

import torch

import checkpoint
import gpuimport
import model as camnet

P = {"input": {"channels": 1, "height": 32, "width": 32}, "classes": [{"id": "a"}, {"id": "b"}],
     "model": {"arch": "resnet", "widths": [4, 8, 8, 8], "blocks": [1, 1, 1, 1], "cam_stride": 16}}


def gpu_run(folder, fingerprint):
    """Write what gpu_run.sh returns (without model.pt, as the lead's first call did)."""
    os.makedirs(folder)
    info = {"model": "m", "seed": 4, "best_epoch": 15, "train_seconds": 150.0, "run_id": "r1",
            "environment": {"device": "cuda", "gpu": "NVIDIA H200"}, "data_fingerprint": {"all": fingerprint},
            "calibration": {"method": "temperature", "temperature": 1.0}}
    checkpoint.save(folder, camnet.build(P).state_dict(), info, P, portable=True)
    os.remove(os.path.join(folder, "model.pt"))
    with open(os.path.join(folder, "seeds.json"), "w") as f:
        json.dump({"kept_seed": 4}, f)


class ImportTest(unittest.TestCase):
    def test_refuses_other_data_and_replaces_stale_files(self):
        with tempfile.TemporaryDirectory() as d:
            work, src, mlruns = (os.path.join(d, n) for n in ("work", "src", "mlruns"))
            os.makedirs(work)
            with open(os.path.join(work, "ingest.json"), "w") as f:
                json.dump({"fingerprint": {"all": "abc"}}, f)
            gpu_run(src, "other")
            self.assertEqual(gpuimport.main(["--model", "m", "--from", src, "--work", work, "--mlruns", mlruns]), 1)
            self.assertFalse(os.path.exists(os.path.join(work, "train.json")))

            src = os.path.join(d, "src2")
            gpu_run(src, "abc")
            torch.save({"stale": True}, os.path.join(work, "model.pt"))  # an earlier CPU run's weights
            self.assertEqual(gpuimport.main(["--model", "m", "--from", src, "--work", work, "--mlruns", mlruns]), 0)
            self.assertFalse(os.path.exists(os.path.join(work, "model.pt")))
            ck = checkpoint.load(work)
            self.assertEqual(ck["info"]["seed"], 4)
            self.assertTrue(os.path.exists(os.path.join(work, "seeds.json")))


if __name__ == "__main__":
    unittest.main()
