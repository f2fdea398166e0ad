"""MobileNetV2's inverted residual with linear bottleneck (Sandler et al. 2018)."""
from __future__ import annotations

from .activation import ReLU6
from .container import Sequential
from .conv import Conv2d
from .fusion import run_sequence
from .module import Module
from .norm import BatchNorm2d
from .blocks import check_feature_map


def conv_bn_relu6(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                  groups: int = 1) -> Sequential:
    """Convolution (no bias: batch norm follows), batch norm, ReLU6 - torchvision's
    Conv2dNormActivation, whose Sequential layout (0: conv, 1: norm, 2: activation) it keeps."""
    return Sequential(Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2,
                             groups=groups, bias=False),
                      BatchNorm2d(out_channels), ReLU6())


class InvertedResidual(Module):
    """1x1 expansion to in_channels * expand_ratio channels, BN, ReLU6; 3x3 depthwise convolution
    (stride), BN, ReLU6; linear 1x1 projection to out_channels, BN; plus the input when stride is 1
    and the channels match.

    The expansion is skipped when expand_ratio == 1 (as torchvision: it would be a 1x1 convolution
    to the same width). The layers sit in one Sequential named `conv` with torchvision's indices
    (conv.0 = expansion conv/BN/ReLU6 when present, then the depthwise block, the projection conv
    and its BN), so a torchvision InvertedResidual's state dict loads unchanged.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {stride!r}")
        if not isinstance(expand_ratio, int) or expand_ratio < 1:
            raise ValueError(f"InvertedResidual: expand_ratio must be a positive int, got {expand_ratio!r}")
        hidden = in_channels * expand_ratio
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = [conv_bn_relu6(in_channels, hidden, kernel_size=1)] if expand_ratio != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
                   Conv2d(hidden, out_channels, 1, bias=False), BatchNorm2d(out_channels)]
        self.conv = Sequential(*layers)

    def forward(self, input):
        check_feature_map("InvertedResidual", input, self.in_channels)
        # The residual add rides on the projection's fused batch norm call (fusion.py).
        return run_sequence(self.conv._modules.values(), input, input if self.use_res_connect else None)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"
