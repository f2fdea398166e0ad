"""conv2d and conv_transpose2d on the C++ kernels (csrc/cpu/conv.cpp, conv_transpose.cpp).

Both ops save their input and weight; backward asks the kernels for the input gradient and for
the weight (and bias) gradients only when autograd needs them.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._registry import kernels, register


def _contiguous(array):
    return None if array is None else np.ascontiguousarray(array)


@register("conv2d")
class Conv2d(Function):
    """out = conv(x, weight) + bias. padding is (top, bottom, left, right); stride, dilation pairs."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
        x, weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
        ctx.save_for_backward(x, weight)
        ctx.geometry = (list(stride), list(padding), list(dilation), groups)
        return kernels(x).conv2d_forward(x, weight, _contiguous(bias), *ctx.geometry)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved
        grad = np.ascontiguousarray(grad)
        kernel = kernels(grad)
        needs_bias = len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = kernel.conv2d_backward_input(grad, x, weight, *ctx.geometry)
        if ctx.needs_input_grad[1] or needs_bias:
            grad_w, grad_b = kernel.conv2d_backward_weight(grad, x, weight, *ctx.geometry, needs_bias)
        return grad_x, grad_w, grad_b


@register("conv_transpose2d")
class ConvTranspose2d(Function):
    """The adjoint of conv2d with respect to its input; weight (C_in, C_out / groups, kH, kW)."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1),
                groups=1):
        x, weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
        ctx.save_for_backward(x, weight)
        ctx.geometry = (list(stride), list(padding), list(output_padding), list(dilation), groups)
        return kernels(x).conv_transpose2d_forward(x, weight, _contiguous(bias), *ctx.geometry)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved
        grad = np.ascontiguousarray(grad)
        kernel = kernels(grad)
        needs_bias = len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = kernel.conv_transpose2d_backward_input(grad, x, weight, *ctx.geometry)
        if ctx.needs_input_grad[1] or needs_bias:
            grad_w, grad_b = kernel.conv_transpose2d_backward_weight(grad, x, weight, *ctx.geometry, needs_bias)
        return grad_x, grad_w, grad_b
