"""MobileNetV2 (Sandler et al. 2018) with torchvision's layout, plus stems for small inputs."""
from __future__ import annotations

import math

from .. import nn
from ..nn.modules.blocks import check_feature_map
from ..nn.modules.mobilenet import conv_bn_relu6

# torchvision's inverted-residual settings: expand ratio t, output channels c, repeats n, stride s.
INVERTED_RESIDUAL_SETTING = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]


def make_divisible(value: float, divisor: int = 8) -> int:
    """Rounds a channel count to the nearest multiple of divisor without losing more than 10%
    (torchvision's _make_divisible), so width_mult keeps channel counts kernel-friendly."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def stem_and_stage_strides(input_size: int):
    """The stem's stride and each settings row's stride for an input of input_size pixels.

    ImageNet sizes downsample 32x (stem and four stages). For input_size <= 32 (CIFAR) the stem
    and the first stride-2 stage run at stride 1, so a 32x32 image ends as 4x4 instead of 1x1. For
    input_size <= 16 (the 8x8 digits) the next stride-2 stage keeps stride 1 as well: two
    downsamplings remain, an 8x8 image ends as 2x2 and the depthwise 3x3 convolutions still see
    neighbours.
    """
    stage_strides = [row[3] for row in INVERTED_RESIDUAL_SETTING]
    kept_at_one = 0 if input_size > 32 else 1 if input_size > 16 else 2
    stride_two_rows = [index for index, stride in enumerate(stage_strides) if stride == 2]
    for index in stride_two_rows[:kept_at_one]:
        stage_strides[index] = 1
    return (2 if input_size > 32 else 1), stage_strides


class MobileNetV2(nn.Module):
    """features (stem, 17 inverted residuals, 1x1 conv to last_channel) -> global average pool ->
    classifier (Dropout(0.2), Linear), with torchvision's names and initialisation."""

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, in_channels: int = 3,
                 input_size: int = 224, dropout: float = 0.2):
        super().__init__()
        if not width_mult > 0:
            raise ValueError(f"mobilenet_v2: width_mult must be positive, got {width_mult!r}")
        if not isinstance(input_size, int) or input_size < 1:
            raise ValueError(f"mobilenet_v2: input_size must be a positive int, got {input_size!r}")
        self.in_channels = in_channels
        stem_stride, stage_strides = stem_and_stage_strides(input_size)
        channels = make_divisible(32 * width_mult)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult))
        layers = [conv_bn_relu6(in_channels, channels, stride=stem_stride)]
        for (expand_ratio, width, repeats, _), stride in zip(INVERTED_RESIDUAL_SETTING, stage_strides):
            out_channels = make_divisible(width * width_mult)
            for repeat in range(repeats):
                layers.append(nn.InvertedResidual(channels, out_channels, stride if repeat == 0 else 1, expand_ratio))
                channels = out_channels
        layers.append(conv_bn_relu6(channels, self.last_channel, kernel_size=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.last_channel, num_classes))
        self._initialise()

    def _initialise(self):
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, input):
        check_feature_map("mobilenet_v2", input, self.in_channels)
        features = nn.functional.adaptive_avg_pool2d(self.features(input), 1).flatten(1)
        return self.classifier(features)


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, in_channels: int = 3,
                 input_size: int = 224) -> MobileNetV2:
    """MobileNetV2 for input_size x input_size images; see stem_and_stage_strides for how the
    strides shrink for CIFAR-size (<= 32) and digit-size (<= 16) inputs."""
    return MobileNetV2(num_classes=num_classes, width_mult=width_mult, in_channels=in_channels,
                       input_size=input_size)
