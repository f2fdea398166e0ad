"""PyTorch twins of the fastcnn.models the benchmarks time, built from stock torch.nn layers.

Same function names and arguments as fastcnn.models, so a model case resolves its model by
name on either library. The architectures follow the papers; when fastcnn.models settles a
detail differently (a stage's stride, the shortcut kind, dropout), change it here so both sides
run the same network. seednet's twin writes the layers torch lacks (SAGAN self-attention, spatial
pyramid pooling, squash, capsules with dynamic routing) from stock torch ops, as a torch user would.
"""
from __future__ import annotations

import math

import torch
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


# --- seednet: the seed's example architecture (fastcnn/models/seednet.py) ------------------------
def _conv_bn(in_channels: int, out_channels: int, dilation: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
              nn.BatchNorm2d(out_channels)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


def _squash(s, dim=-1, eps=1e-8):
    squared = (s * s).sum(dim, keepdim=True)
    return squared / (1 + squared) * s / torch.sqrt(squared + eps)


class _SelfAttention2d(nn.Module):
    """SAGAN self-attention over the H*W positions, one head: gamma * attention + input."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        inner = max(1, channels // reduction)
        self.query, self.key = nn.Conv2d(channels, inner, 1), nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        batch, channels = x.shape[:2]
        query, key = self.query(x).flatten(2).transpose(1, 2), self.key(x).flatten(2).transpose(1, 2)
        value = self.value(x).flatten(2).transpose(1, 2)
        attended = nn.functional.scaled_dot_product_attention(query.unsqueeze(1), key.unsqueeze(1),
                                                              value.unsqueeze(1)).squeeze(1)
        return self.gamma * attended.transpose(1, 2).reshape(x.shape) + x


class _RoutingCapsules(nn.Module):
    """Capsules with dynamic routing (Sabour et al. 2017), the routing detached as in fastcnn."""

    def __init__(self, in_capsules: int, in_dim: int, out_capsules: int, out_dim: int, iterations: int = 3):
        super().__init__()
        self.iterations = iterations
        bound = out_capsules * math.sqrt(3.0 / (out_dim * in_capsules))
        self.weight = nn.Parameter(torch.empty(in_capsules, out_capsules, out_dim, in_dim).uniform_(-bound, bound))

    def forward(self, u):
        predictions = torch.einsum("ijdk,bik->bijd", self.weight, u)  # (B, I, J, D)
        with torch.no_grad():
            detached = predictions.detach()
            logits = torch.zeros(predictions.shape[:3], dtype=u.dtype)
            for iteration in range(self.iterations):
                coupling = logits.softmax(dim=2)
                if iteration + 1 < self.iterations:
                    v = _squash((coupling.unsqueeze(-1) * detached).sum(1))
                    logits = logits + (detached * v.unsqueeze(1)).sum(-1)
        return _squash((coupling.unsqueeze(-1) * predictions).sum(1))


class _SeedNet(nn.Module):
    """fastcnn.models.seednet at its defaults: width 32, 32 primary capsules of 8 from pyramid levels
    (1, 2, 4), 16 class capsules of 8 after 3 routing iterations, dropout 0.5."""

    levels = (1, 2, 4)

    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        width, capsules, dim = 32, 32, 8
        self.stem = _conv_bn(in_channels, width)
        self.residual = nn.Sequential(_conv_bn(width, width), _conv_bn(width, width, relu=False))
        self.attention = _SelfAttention2d(width)
        self.atrous = _conv_bn(width, width, dilation=2)
        self.primary = nn.Linear(width * sum(level * level for level in self.levels), capsules * dim)
        self.capsules = _RoutingCapsules(capsules, dim, 16, 8, iterations=3)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(16 * 8, num_classes)

    def forward(self, x):
        stem = self.stem(x)
        features = self.atrous(self.attention(nn.functional.relu(stem + self.residual(stem))))
        pooled = torch.cat([nn.functional.adaptive_avg_pool2d(features, level).flatten(1) for level in self.levels], 1)
        primary = self.primary(pooled).reshape(x.shape[0], 32, 8)
        return self.fc(self.dropout(self.capsules(_squash(primary)).flatten(1)))


def seednet(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    return _SeedNet(num_classes, in_channels)
