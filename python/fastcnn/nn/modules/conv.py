"""Conv2d and ConvTranspose2d, as torch.nn's: parameter names, shapes, defaults and initialisation.

Weights are OIHW for Conv2d, (in_channels, out_channels / groups, kH, kW) for ConvTranspose2d.
"""
from __future__ import annotations

from .. import functional as F
from .linear import new_parameter, reset_weight_and_bias
from .module import Module


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: argument checks, parameters, init and repr."""

    def __init__(self, name, in_channels, out_channels, kernel_size, stride, padding, dilation, transposed,
                 output_padding, groups, bias, padding_mode, device, dtype):
        super().__init__()
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}")
        if in_channels % groups != 0:
            raise ValueError(f"{name}: in_channels must be divisible by groups (in_channels={in_channels}, groups={groups})")
        if out_channels % groups != 0:
            raise ValueError(f"{name}: out_channels must be divisible by groups "
                             f"(out_channels={out_channels}, groups={groups})")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode {padding_mode!r} is not supported; fastcnn pads with 'zeros'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = F.pair(name, "kernel_size", kernel_size)
        self.stride = F.pair(name, "stride", stride)
        self.dilation = F.pair(name, "dilation", dilation)
        self.transposed = transposed
        self.output_padding = F.pair(name, "output_padding", output_padding)
        self.groups = groups
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if transposed or padding not in ("same", "valid"):
                raise ValueError(f"{name}: invalid padding string {padding!r}" +
                                 ("" if transposed else ", should be one of ('same', 'valid')"))
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions "
                                 f"(stride={self.stride})")
            self.padding = padding
        else:
            self.padding = F.pair(name, "padding", padding)
        weight_shape = ((in_channels, out_channels // groups) if transposed else
                        (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = new_parameter(*weight_shape, dtype=dtype, device=device)
        if bias:
            self.bias = new_parameter(out_channels, dtype=dtype, device=device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__("Conv2d", in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0,
                         groups, bias, padding_mode, device, dtype)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__("ConvTranspose2d", in_channels, out_channels, kernel_size, stride, padding, dilation, True,
                         output_padding, groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size):
        """The output_padding that makes the output output_size (H, W), or (N, C, H, W), as torch."""
        if output_size is None:
            return self.output_padding
        output_size = tuple(output_size)[-2:] if len(output_size) in (3, 4) else tuple(output_size)
        if len(output_size) != 2:
            raise ValueError(f"ConvTranspose2d: output_size must have 2 or 4 elements, got {output_size}")
        padding = []
        for axis, size in enumerate(output_size):
            smallest = ((input.shape[axis - 2] - 1) * self.stride[axis] - 2 * self.padding[axis]
                        + self.dilation[axis] * (self.kernel_size[axis] - 1) + 1)
            largest = smallest + self.stride[axis] - 1
            if not smallest <= size <= largest:
                raise ValueError(f"ConvTranspose2d: requested an output size of {output_size}, but valid sizes range "
                                 f"from {smallest} to {largest} in dim {axis} (input {tuple(input.shape)})")
            padding.append(size - smallest)
        return tuple(padding)

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)
