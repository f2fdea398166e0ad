"""PyTorch twins of the fastcnn.models the benchmarks time, built from stock torch.nn layers.

Same function names and arguments as fastcnn.models, so a model case resolves its model by
name on either library. The architectures follow the papers; when fastcnn.models settles a
detail differently (a stage's stride, the shortcut kind, dropout), change it here so both sides
run the same network. seednet has no twin: torch has no capsule routing layer.
"""
from __future__ import annotations

from torch import nn


# --- resnet_cifar: He et al. 2016, section 4.2 ----------------------------------------------------
class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus the shortcut. When the shape changes (stride 2, wider stage)
    the shortcut is a 1x1 convolution with BN (the paper's option B), not option A's zero
    padding: it is what torchvision does and what a fused conv kernel can serve."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet_cifar(depth: int = 20, num_classes: int = 10) -> nn.Module:
    """3 stages of (depth - 2) / 6 blocks with 16, 32, 64 channels on 32, 16, 8 pixels."""
    if (depth - 2) % 6 != 0:
        raise ValueError(f"resnet_cifar: depth must be 6n + 2, got {depth}")
    blocks_per_stage = (depth - 2) // 6
    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    in_channels = 16
    for stage, channels in enumerate((16, 32, 64)):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(BasicBlock(in_channels, channels, stride))
            in_channels = channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)


# --- mobilenet_v2: Sandler et al. 2018 ------------------------------------------------------------
# (expand ratio t, output channels c, repeats n, first stride s), the paper's table 2.
MOBILENET_V2_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)]


class InvertedResidual(nn.Module):
    """1x1 expansion, BN, ReLU6, 3x3 depthwise, BN, ReLU6, linear 1x1 projection, BN; residual
    when the stride is 1 and the channels match."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_channels * expand_ratio
        layers = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(), nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.body = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        return x + self.body(x) if self.use_residual else self.body(x)


def _make_divisible(channels: float, divisor: int = 8) -> int:
    """Channel counts rounded to a multiple of 8, never more than 10% below the request (the paper's code)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, in_channels: int = 3,
                 input_size: int = 224) -> nn.Module:
    """The ImageNet network with fastcnn.models.mobilenet_v2's strides for small inputs: for 32
    pixels or less the stem and the first stride-2 stage keep stride 1 (a 32x32 image ends as
    4x4), for 16 or less the next stride-2 stage too."""
    stem_stride = 1 if input_size <= 32 else 2
    kept_at_one = 0 if input_size > 32 else 1 if input_size > 16 else 2
    channels = _make_divisible(32 * width_mult)
    last_channels = _make_divisible(1280 * max(1.0, width_mult))
    layers = [nn.Conv2d(in_channels, channels, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU6()]
    for expand_ratio, out_channels, repeats, first_stride in MOBILENET_V2_STAGES:
        if first_stride == 2 and kept_at_one > 0:
            first_stride, kept_at_one = 1, kept_at_one - 1
        out_channels = _make_divisible(out_channels * width_mult)
        for repeat in range(repeats):
            layers.append(InvertedResidual(channels, out_channels, first_stride if repeat == 0 else 1, expand_ratio))
            channels = out_channels
    layers += [nn.Conv2d(channels, last_channels, 1, bias=False), nn.BatchNorm2d(last_channels), nn.ReLU6(),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(last_channels, num_classes)]
    return nn.Sequential(*layers)


# --- digits_cnn: the small CNN of `python -m fastcnn train` (1x8x8 digits) ------------------------
def digits_cnn(num_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(64 * 4 * 4, num_classes))
