"""The seed's advanced pooling: global average pooling and spatial pyramid pooling.

Both are adaptive pools (csrc/cpu/pool.cpp) flattened, so they accept any input size.
"""
from __future__ import annotations

from ... import functions
from .. import functional as F
from .module import Module
from .blocks import check_feature_map


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
