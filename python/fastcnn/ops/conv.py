"""conv2d and conv_transpose2d on the C++ kernels (csrc/cpu/conv.cpp, conv_transpose.cpp).

Both ops save their input and weight; backward asks the kernels for the input gradient and for
the weight (and bias) gradients only when autograd needs them. The two differ only in their
geometry arguments and in which kernel entry points they call (`<op_name>_forward`, ...).
"""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._registry import kernels, register


class _Convolution(Function):
    """forward(x, weight, bias, *geometry); the geometry is passed through to the kernels."""

    @classmethod
    def forward(cls, ctx, x, weight, bias, *geometry):
        x, weight = np.asarray(x, order="C"), np.asarray(weight, order="C")
        ctx.save_for_backward(x, weight)
        ctx.geometry = geometry
        bias = None if bias is None else np.asarray(bias, order="C")
        return getattr(kernels(x), cls.op_name + "_forward")(x, weight, bias, *geometry)

    @classmethod
    def backward(cls, ctx, grad):
        x, weight = ctx.saved
        grad = np.asarray(grad, order="C")
        kernel = kernels(grad)
        needs_bias = ctx.inputs[2] is not None and ctx.needs_input_grad[2]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = getattr(kernel, cls.op_name + "_backward_input")(grad, x, weight, *ctx.geometry)
        if ctx.needs_input_grad[1] or needs_bias:
            grad_w, grad_b = getattr(kernel, cls.op_name + "_backward_weight")(grad, x, weight, *ctx.geometry,
                                                                              needs_bias)
        return (grad_x, grad_w, grad_b) + (None,) * len(ctx.geometry)


@register("conv2d")
class Conv2d(_Convolution):
    """out = conv(x, weight) + bias. Geometry: stride pair, padding (top, bottom, left, right),
    dilation pair, groups."""


@register("conv_transpose2d")
class ConvTranspose2d(_Convolution):
    """The adjoint of conv2d with respect to its input; weight (C_in, C_out / groups, kH, kW).
    Geometry: stride, padding, output_padding, dilation pairs, groups."""
