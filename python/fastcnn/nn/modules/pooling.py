"""Pooling modules, as torch.nn's; stride defaults to kernel_size. At the end, the seed's advanced
pooling: global average pooling and spatial pyramid pooling, adaptive pools flattened so that any
input size gives a fixed-length vector."""
from __future__ import annotations

from ... import functions
from .. import functional as F
from .blocks import check_feature_map
from .module import Module


class _Pool2d(Module):
    def __init__(self, kernel_size, stride, padding, ceil_mode):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode


class MaxPool2d(_Pool2d):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation = dilation
        self.return_indices = return_indices

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Averages into an output_size grid (an int, a pair, or None entries meaning 'keep this size')."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(AdaptiveAvgPool2d):
    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class GlobalAvgPool2d(Module):
    """(B, C, H, W) -> (B, C): the mean of each channel over all positions (Lin et al. 2014)."""

    def forward(self, input):
        check_feature_map("GlobalAvgPool2d", input)
        return F.adaptive_avg_pool2d(input, 1).flatten(1)


class SpatialPyramidPooling(Module):
    """(B, C, H, W) -> (B, C * sum(level * level)) for any H, W (He et al. 2014).

    Each level l pools the map adaptively into an l x l grid (max or average); the grids are
    flattened channel-major, as torch's adaptive pools followed by flatten(1), and concatenated from
    the first level to the last. A level larger than the map would pool empty bins, so it raises
    ValueError.
    """

    def __init__(self, levels=(1, 2, 4), mode: str = "max"):
        super().__init__()
        levels = tuple(levels)
        if not levels or not all(isinstance(level, int) and level >= 1 for level in levels):
            raise ValueError(f"SpatialPyramidPooling: levels must be positive ints, got {levels!r}")
        if mode not in ("max", "avg"):
            raise ValueError(f"SpatialPyramidPooling: mode must be 'max' or 'avg', got {mode!r}")
        self.levels = levels
        self.mode = mode

    def output_features(self, channels: int) -> int:
        """The length of the pooled vector for a map with `channels` channels."""
        return channels * sum(level * level for level in self.levels)

    def forward(self, input):
        check_feature_map("SpatialPyramidPooling", input)
        height, width = input.shape[2], input.shape[3]
        if max(self.levels) > min(height, width):
            raise ValueError(f"SpatialPyramidPooling: level {max(self.levels)} is larger than the "
                             f"{height}x{width} feature map (input {tuple(input.shape)}, levels {self.levels})")
        pool = F.adaptive_max_pool2d if self.mode == "max" else F.adaptive_avg_pool2d
        return functions.cat([pool(input, level).flatten(1) for level in self.levels], dim=1)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, mode={self.mode!r}"
