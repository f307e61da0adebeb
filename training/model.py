"""The classifier: stacks of 3x3 conv + BatchNorm + ReLU, then a 1x1 class map whose spatial mean is the logits.

Global average pooling followed by a linear layer equals a 1x1 convolution with the same weights followed by the
spatial mean (both are linear), so computing the class map first and pooling it gives logits that are exactly the
mean of the class activation map: CAM_k(h, w) = b_k + sum_c W_kc F_c(h, w) and logit_k = mean_hw CAM_k.
"""

import torch
from torch import nn


def conv_bn_relu(cin, cout, stride=1):
    """A 3x3 convolution without bias, BatchNorm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CamNet(nn.Module):
    """A small from-scratch CNN with an exact class-activation-map head.

    forward(x) returns (logits [N, K], cam [N, K, h, w]); with a stem stride of 2 and three 2x2 max-pools the map
    is 1/16 of the input (14x14 for 224x224).
    """

    def __init__(self, in_channels, num_classes, widths=(16, 32, 64, 128), convs_per_stage=2, stem_stride=2):
        super().__init__()
        layers = []
        cin = in_channels
        for s, w in enumerate(widths):
            if s > 0:
                layers.append(nn.MaxPool2d(2))
            for k in range(convs_per_stage):
                layers.append(conv_bn_relu(cin, w, stride=stem_stride if (s == 0 and k == 0) else 1))
                cin = w
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(cin, num_classes, 1, bias=True)

    def forward(self, x):
        cam = self.classifier(self.features(x))
        logits = cam.mean(dim=(2, 3))
        return logits, cam


def build(params):
    """Build the CamNet a params.yaml section describes."""
    m = params["model"]
    return CamNet(params["input"]["channels"], len(params["classes"]), tuple(m["widths"]),
                  m["convs_per_stage"], m["stem_stride"])
