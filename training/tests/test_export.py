"""Tests of the ONNX export and of the protobuf reader that checks its signature."""

import os
import tempfile
import unittest

import numpy as np
import torch

import export
import model as camnet


def params(k=3, size=32):
    return {"input": {"channels": 1, "height": size, "width": size}, "classes": [{"id": str(i)} for i in range(k)],
            "model": {"widths": [4, 8], "convs_per_stage": 1, "stem_stride": 2}}


class CamNetTest(unittest.TestCase):
    def test_logits_are_the_mean_of_the_cam(self):
        torch.manual_seed(0)
        net = camnet.build(params())
        net.eval()
        logits, cam = net(torch.randn(5, 1, 32, 32))
        self.assertEqual(tuple(cam.shape), (5, 3, 8, 8))
        np.testing.assert_allclose(logits.detach().numpy(), cam.mean(dim=(2, 3)).detach().numpy(), atol=1e-6)


class ExportTest(unittest.TestCase):
    def test_signature_meets_contract(self):
        p = params(k=4, size=48)
        with tempfile.TemporaryDirectory() as d:
            sig = export.export(camnet.build(p), p, os.path.join(d, "model.onnx"))
        self.assertEqual(sig["opset"], 17)
        self.assertEqual(sig["inputs"], [("image", 1, ["N", 1, 48, 48])])
        self.assertEqual([o[0] for o in sig["outputs"]], ["logits", "cam"])
        self.assertEqual(sig["outputs"][0][2], ["N", 4])
        self.assertEqual(sig["outputs"][1][2], ["N", 4, 12, 12])

    def test_check_signature_reports_problems(self):
        sig = {"opset": 11, "inputs": [("x", 1, [1, 1, 8, 8])], "outputs": [("out", 1, [1, 2])]}
        problems = export.check_signature(sig, 1, 8, 8, 2)
        self.assertEqual(len(problems), 4)  # opset, input name, fixed batch, output names


if __name__ == "__main__":
    unittest.main()
