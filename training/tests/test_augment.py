"""Tests of the training augmentation: no mirror images, determinism per seed, and each operation's effect."""

import unittest

import torch

import augment

AUG = {"rotate_deg": 10, "scale": [0.85, 1.15], "translate": 0.06, "gamma": [0.7, 1.5], "contrast": [0.75, 1.3],
       "brightness": 0.08, "blur": {"p": 0.5, "sigma": [0.3, 1.2]}, "resample": {"p": 0.5, "factor": [0.4, 0.9]},
       "noise": {"p": 0.5, "sd": [0.0, 0.03]}, "hflip": False}


def left_bright(n=4, size=32):
    """Images bright on the left third only: a left-right flip would move the brightness to the right."""
    x = torch.zeros(n, 1, size, size)
    x[..., : size // 3] = 0.9
    return x


class AugmentTest(unittest.TestCase):
    def test_same_seed_same_batch_and_in_range(self):
        x = torch.rand(6, 1, 40, 40)
        a = augment.augment(x, AUG, torch.Generator().manual_seed(3))
        b = augment.augment(x, AUG, torch.Generator().manual_seed(3))
        c = augment.augment(x, AUG, torch.Generator().manual_seed(4))
        self.assertTrue(torch.equal(a, b))
        self.assertFalse(torch.equal(a, c))
        self.assertEqual(a.shape, x.shape)
        self.assertGreaterEqual(float(a.min()), 0.0)
        self.assertLessEqual(float(a.max()), 1.0)

    def test_never_mirrors(self):
        g = torch.Generator().manual_seed(0)
        for _ in range(20):
            out = augment.augment(left_bright(), AUG, g)
            left, right = out[..., :10].mean(dim=(1, 2, 3)), out[..., -10:].mean(dim=(1, 2, 3))
            self.assertTrue(bool((left > right).all()), "a bright left side ended up on the right")

    def test_hflip_is_refused(self):
        with self.assertRaises(ValueError):
            augment.augment(torch.rand(2, 1, 8, 8), {**AUG, "hflip": True}, torch.Generator())

    def test_blur_keeps_mean_and_zero_sigma_is_identity(self):
        x = torch.rand(3, 1, 24, 24, generator=torch.Generator().manual_seed(0))
        same = augment.gaussian_blur(x, torch.zeros(3))
        self.assertTrue(torch.allclose(same, x, atol=1e-6))
        blurred = augment.gaussian_blur(x, torch.tensor([0.0, 1.0, 2.0]))
        self.assertTrue(torch.allclose(blurred[0], x[0], atol=1e-6))
        self.assertLess(float(blurred[2].std()), float(blurred[1].std()))
        self.assertLess(float(blurred[1].std()), float(x[1].std()))
        # The reflected border weighs edge pixels twice, so the mean moves a little (up to ~0.005 on 24x24, sd 2).
        self.assertAlmostEqual(float(blurred[2].mean()), float(x[2].mean()), delta=0.01)

    def test_resample_loses_detail_keeps_constant(self):
        const = torch.full((1, 1, 20, 20), 0.4)
        self.assertTrue(torch.allclose(augment.resample(const, 0.5), const, atol=1e-6))
        checker = (torch.arange(20).view(1, -1) + torch.arange(20).view(-1, 1)) % 2
        x = checker.float().view(1, 1, 20, 20)
        self.assertLess(float(augment.resample(x, 0.5).std()), 0.1 * float(x.std()))


if __name__ == "__main__":
    unittest.main()
