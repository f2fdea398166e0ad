"""Composite blocks: the residual connection and the depthwise-separable convolution.

Both only compose existing modules (Conv2d, BatchNorm2d), so their gradients come from the
convolution and normalisation kernels; no new op is needed.
"""
from __future__ import annotations

from .. import functional as F
from .container import Sequential
from .conv import Conv2d
from .module import Module
from .norm import BatchNorm2d


def check_feature_map(layer: str, input, channels: int | None = None):
    """ValueError unless input is a float (B, C, H, W) Tensor, with C == channels when given."""
    F.check_tensor(layer, "input", input)
    if input.ndim != 4:
        raise ValueError(f"{layer}: input must be 4-D (batch, channels, height, width) (input {tuple(input.shape)})")
    if channels is not None and input.shape[1] != channels:
        raise ValueError(f"{layer}: input has {input.shape[1]} channels but the layer expects {channels} "
                         f"(input {tuple(input.shape)})")
    return input


def conv1x1_bn(in_channels: int, out_channels: int, stride: int = 1) -> Sequential:
    """The projection shortcut of He et al. 2016 (option B): a strided 1x1 convolution without bias
    followed by batch norm, as torchvision's `downsample`."""
    return Sequential(Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), BatchNorm2d(out_channels))


class Residual(Module):
    """output = input + fn(input), or projection(input) + fn(input) when a projection is given.

    The seed's residual layer (He et al. 2016). When fn changes the shape (channels or stride) the
    identity cannot be added: pass `projection`, a module mapping the input to fn's output shape,
    or build the block with `Residual.with_projection(fn, in_channels, out_channels, stride)`, which
    uses a 1x1 convolution + batch norm. Without a projection a shape change raises ValueError
    rather than broadcasting silently.
    """

    def __init__(self, fn: Module, projection: Module | None = None):
        super().__init__()
        self.fn = fn
        self.projection = projection

    @classmethod
    def with_projection(cls, fn: Module, in_channels: int, out_channels: int, stride: int = 1) -> "Residual":
        return cls(fn, conv1x1_bn(in_channels, out_channels, stride))

    def forward(self, input):
        output = self.fn(input)
        shortcut = input if self.projection is None else self.projection(input)
        if tuple(shortcut.shape) != tuple(output.shape):
            hint = "" if self.projection is not None else "; pass a projection (see Residual.with_projection)"
            raise ValueError(f"Residual: fn maps input {tuple(input.shape)} to {tuple(output.shape)}, "
                             f"which does not match the shortcut {tuple(shortcut.shape)}{hint}")
        return shortcut + output


class SeparableConv2d(Module):
    """Depthwise-separable convolution: a depthwise convolution (groups = in_channels, producing
    in_channels * depth_multiplier maps) followed by a pointwise 1x1 convolution.

    The submodules are named `depthwise` and `pointwise`, so the weights of a torch model built from
    two nn.Conv2d with those names load unchanged through load_state_dict.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 depth_multiplier: int = 1, bias: bool = True):
        super().__init__()
        if not isinstance(depth_multiplier, int) or depth_multiplier < 1:
            raise ValueError(f"SeparableConv2d: depth_multiplier must be a positive int, got {depth_multiplier!r}")
        hidden = in_channels * depth_multiplier
        self.depthwise = Conv2d(in_channels, hidden, kernel_size, stride=stride, padding=padding,
                                dilation=dilation, groups=in_channels, bias=bias)
        self.pointwise = Conv2d(hidden, out_channels, 1, bias=bias)

    def forward(self, input):
        return self.pointwise(self.depthwise(input))
