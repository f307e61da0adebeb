"""Tests of the checkpoint files and of folding the valid-chosen calibration into the exported weights."""

import os
import tempfile
import unittest

import numpy as np
import torch

import checkpoint
import metrics
import model as camnet

P = {"input": {"channels": 1, "height": 32, "width": 32}, "classes": [{"id": "a"}, {"id": "b"}],
     "model": {"arch": "resnet", "widths": [4, 8, 8, 8], "blocks": [1, 1, 1, 1], "cam_stride": 16}}


class CheckpointTest(unittest.TestCase):
    def test_portable_copy_is_used_when_model_pt_is_unreadable(self):
        torch.manual_seed(0)
        net = camnet.build(P)
        info = {"seed": 3, "calibration": {"method": "temperature", "temperature": 1.5}}
        x = torch.randn(2, 1, 32, 32)
        with tempfile.TemporaryDirectory() as d:
            checkpoint.save(d, net.state_dict(), info, P, portable=True)
            a = checkpoint.build_net(checkpoint.load(d))
            with open(os.path.join(d, "model.pt"), "wb") as f:
                f.write(b"written by a PyTorch this one cannot read")
            ck = checkpoint.load(d)
            b = checkpoint.build_net(ck)
            self.assertEqual(ck["info"]["seed"], 3)
            with torch.no_grad():
                self.assertTrue(torch.equal(a(x)[0], b(x)[0]))
            os.remove(os.path.join(d, "weights.npz"))
            with self.assertRaises(ValueError):
                checkpoint.load(d)

    def test_folded_platt_equals_the_calibrated_logits(self):
        torch.manual_seed(1)
        net = camnet.build(P).eval()
        x = torch.randn(4, 1, 32, 32)
        with torch.no_grad():
            raw, cam, _ = net(x)
        cal = {"method": "platt", "a": 0.7, "b": -0.4}
        t = checkpoint.fold_calibration(net, cal, positive=1)
        self.assertEqual(t, 1.0)
        with torch.no_grad():
            folded, fcam, _ = net(x)
        np.testing.assert_allclose(folded.numpy(), metrics.calibrated_logits(raw.numpy(), cal, 1), atol=1e-5)
        np.testing.assert_allclose(folded.numpy(), fcam.mean(dim=(2, 3)).numpy(), atol=1e-5)
        self.assertEqual(checkpoint.fold_calibration(net, {"method": "temperature", "temperature": 2.5}), 2.5)


if __name__ == "__main__":
    unittest.main()
