"""The classifiers: a convolutional trunk, then a 1x1 class map whose spatial mean is the logits.

Global average pooling followed by a linear layer equals a 1x1 convolution with the same weights followed by the
spatial mean (both are linear), so computing the class map first and pooling it gives logits that are exactly the
mean of the class activation map: CAM_k(h, w) = b_k + sum_c W_kc F_c(h, w) and logit_k = mean_hw CAM_k. For the
same reason the pooled features f_c = mean_hw F_c satisfy logits = W f + b; the network returns them as a third
output ("features" in the ONNX export) for the out-of-distribution gate, which fits its statistics on them.

Two trunks, chosen by params.yaml's model.arch:
  plain  (the 1.x models): stacks of 3x3 conv + BatchNorm + ReLU with 2x2 max-pools between stages;
  resnet (2.x): a ResNet-18-style network of BasicBlocks, usually at half width (32-64-128-256), whose last stage
         keeps stride 1 when model.cam_stride is 16 so the class map stays fine enough for saliency.
"""

from torch import nn


def conv_bn_relu(cin, cout, stride=1):
    """A 3x3 convolution without bias, BatchNorm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CamHead(nn.Module):
    """The exact CAM head: a 1x1 class map, its spatial mean as logits, and the pooled features."""

    def __init__(self, cin, num_classes):
        super().__init__()
        self.classifier = nn.Conv2d(cin, num_classes, 1, bias=True)

    def forward(self, fmap):
        cam = self.classifier(fmap)
        return cam.mean(dim=(2, 3)), cam, fmap.mean(dim=(2, 3))


class CamNet(nn.Module):
    """The 1.x plain CNN with an exact class-activation-map head.

    forward(x) returns (logits [N, K], cam [N, K, h, w], features [N, C]); with a stem stride of 2 and three 2x2
    max-pools the map is 1/16 of the input (14x14 for 224x224).
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
        self.head = CamHead(cin, num_classes)

    @property
    def classifier(self):
        """The 1x1 class-map convolution (W, b of logits = W features + b)."""
        return self.head.classifier

    def forward(self, x):
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions with an identity (or 1x1 projection) shortcut.

    The second BatchNorm starts at zero scale, so every block starts as the identity: deep residual nets train
    faster and more stably from scratch that way (Goyal et al. 2017).
    """

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        nn.init.zeros_(self.bn2.weight)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResCamNet(nn.Module):
    """A ResNet-18-style trunk with the exact CAM head.

    Stem: a 7x7 stride-2 convolution and a 3x3 stride-2 max-pool (1/4). Stages: blocks[i] BasicBlocks of widths[i]
    channels; stages after the first halve the map, except the last when cam_stride is 16 (its map then stays at
    1/16 of the input: 12x12 at 192 px instead of 6x6).
    """

    def __init__(self, in_channels, num_classes, widths=(32, 64, 128, 256), blocks=(2, 2, 2, 2), cam_stride=32):
        super().__init__()
        if cam_stride not in (16, 32) or len(widths) != 4 or len(blocks) != 4:
            raise ValueError("ResCamNet needs 4 stages and cam_stride 16 or 32")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages = []
        cin = widths[0]
        for s, (w, n) in enumerate(zip(widths, blocks)):
            stride = 1 if s == 0 or (s == 3 and cam_stride == 16) else 2
            layers = []
            for b in range(n):
                layers.append(BasicBlock(cin, w, stride if b == 0 else 1))
                cin = w
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.head = CamHead(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m is not self.head.classifier:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @property
    def classifier(self):
        """The 1x1 class-map convolution (W, b of logits = W features + b)."""
        return self.head.classifier

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


def build(params):
    """Build the network a params.yaml section describes."""
    m = params["model"]
    ch, k = params["input"]["channels"], len(params["classes"])
    arch = m.get("arch", "plain")
    if arch == "plain":
        return CamNet(ch, k, tuple(m["widths"]), m["convs_per_stage"], m["stem_stride"])
    if arch == "resnet":
        return ResCamNet(ch, k, tuple(m["widths"]), tuple(m.get("blocks", (2, 2, 2, 2))), m.get("cam_stride", 32))
    raise ValueError(f"model.arch {arch!r} is not one of plain, resnet")
