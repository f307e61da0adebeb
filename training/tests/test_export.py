"""Tests of the networks' exact CAM head, the ONNX export and the protobuf reader that checks its signature."""

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


def res_params(k=2, size=64, cam_stride=16):
    return {"input": {"channels": 1, "height": size, "width": size}, "classes": [{"id": str(i)} for i in range(k)],
            "model": {"arch": "resnet", "widths": [4, 8, 8, 16], "blocks": [1, 1, 1, 1], "cam_stride": cam_stride}}


def randomise_bn(net):
    """Give every BatchNorm non-trivial statistics and scales, so eval mode is not an identity."""
    g = torch.Generator().manual_seed(5)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)


class CamNetTest(unittest.TestCase):
    def test_logits_are_the_mean_of_the_cam(self):
        torch.manual_seed(0)
        net = camnet.build(params())
        net.eval()
        logits, cam, feats = net(torch.randn(5, 1, 32, 32))
        self.assertEqual(tuple(cam.shape), (5, 3, 8, 8))
        self.assertEqual(tuple(feats.shape), (5, 8))
        np.testing.assert_allclose(logits.detach().numpy(), cam.mean(dim=(2, 3)).detach().numpy(), atol=1e-6)

    def test_resnet_cam_grid_and_features_give_the_logits(self):
        for stride, grid in ((16, 4), (32, 2)):
            torch.manual_seed(1)
            net = camnet.build(res_params(cam_stride=stride))
            randomise_bn(net)
            net.eval()
            with torch.no_grad():
                logits, cam, feats = net(torch.randn(3, 1, 64, 64))
            self.assertEqual(tuple(cam.shape), (3, 2, grid, grid))
            self.assertEqual(tuple(feats.shape), (3, 16))
            np.testing.assert_allclose(logits.numpy(), cam.mean(dim=(2, 3)).numpy(), atol=1e-5)
            w = net.classifier.weight[:, :, 0, 0]
            np.testing.assert_allclose(logits.numpy(), (feats @ w.T + net.classifier.bias).detach().numpy(), atol=1e-5)

    def test_unknown_arch_is_an_error(self):
        p = res_params()
        p["model"]["arch"] = "vit"
        with self.assertRaises(ValueError):
            camnet.build(p)


class ExportTest(unittest.TestCase):
    def test_signature_meets_contract(self):
        p = res_params(k=4, size=48)
        with tempfile.TemporaryDirectory() as d:
            sig = export.export(camnet.build(p), p, os.path.join(d, "model.onnx"))
        self.assertEqual(sig["opset"], 17)
        self.assertEqual(sig["inputs"], [("image", 1, ["N", 1, 48, 48])])
        self.assertEqual([o[0] for o in sig["outputs"]], ["logits", "cam", "features"])
        self.assertEqual(sig["outputs"][0][2], ["N", 4])
        self.assertEqual(sig["outputs"][1][2], ["N", 4, 3, 3])
        self.assertEqual(sig["outputs"][2][2], ["N", 16])

    def test_check_signature_reports_problems(self):
        sig = {"opset": 11, "inputs": [("x", 1, [1, 1, 8, 8])], "outputs": [("out", 1, [1, 2])]}
        problems = export.check_signature(sig, 1, 8, 8, 2)
        self.assertEqual(len(problems), 4)  # opset, input name, fixed batch, output names
        sig = {"opset": 17, "inputs": [("image", 1, ["N", 1, 8, 8])],
               "outputs": [("logits", 1, ["N", 2]), ("cam", 1, ["N", 2, 1, 1]), ("features", 1, ["N", 7])]}
        self.assertEqual(export.check_signature(sig, 1, 8, 8, 2, 8), ["features dims ['N', 7], want [N, 8]"])
        self.assertEqual(export.check_signature(sig, 1, 8, 8, 2, 7), [])


if __name__ == "__main__":
    unittest.main()
