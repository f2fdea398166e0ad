"""2-D pooling on the C++ kernels (csrc/cpu/pool.cpp): max, average and their adaptive forms.

Max pooling keeps the argmax of every window (int64, flat into H*W as torch) and its backward
scatters the gradient there; average pooling's backward spreads each gradient over its window
with the forward's divisor, so only the input's shape is saved.
"""
from __future__ import annotations

from ..tensor import Function
from ._registry import kernels, register


@register("max_pool2d")
class MaxPool2d(Function):
    """indices_sink: a list that receives the indices array (return_indices); with_indices is
    false only when no backward and no caller needs them."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode, with_indices, indices_sink=None):
        output, indices = kernels(x).max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode,
                                                        with_indices)
        ctx.save_for_backward(indices)
        ctx.input_shape = x.shape
        if indices_sink is not None:
            indices_sink.append(indices)
        return output

    @staticmethod
    def backward(ctx, grad):
        (indices,) = ctx.saved
        return kernels(grad).max_pool2d_backward(grad, indices, ctx.input_shape)


@register("adaptive_max_pool2d")
class AdaptiveMaxPool2d(MaxPool2d):
    """Windows from the adaptive rule; the backward is max_pool2d's scatter to the argmax."""

    @staticmethod
    def forward(ctx, x, output_size, with_indices, indices_sink=None):
        output, indices = kernels(x).adaptive_max_pool2d_forward(x, output_size, with_indices)
        ctx.save_for_backward(indices)
        ctx.input_shape = x.shape
        if indices_sink is not None:
            indices_sink.append(indices)
        return output


@register("avg_pool2d")
class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        ctx.arguments = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        ctx.input_shape = x.shape
        return kernels(x).avg_pool2d_forward(x, *ctx.arguments)

    @staticmethod
    def backward(ctx, grad):
        return kernels(grad).avg_pool2d_backward(grad, ctx.input_shape, *ctx.arguments)


@register("adaptive_avg_pool2d")
class AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, output_size):
        ctx.input_shape = x.shape
        return kernels(x).adaptive_avg_pool2d_forward(x, output_size)

    @staticmethod
    def backward(ctx, grad):
        return kernels(grad).adaptive_avg_pool2d_backward(grad, ctx.input_shape)
