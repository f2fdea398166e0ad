"""Batch normalisation on the C++ kernels (csrc/cpu/norm.cpp).

The running statistics travel as keyword arrays, not graph inputs: the kernel updates them in
place during a training forward, and autograd never sees that update.
"""
from __future__ import annotations

from ..tensor import Function
from ._registry import kernels, register


@register("batch_norm")
class BatchNorm(Function):
    """forward(x, weight, bias) with weight and bias optional (None); backward computes the
    input, weight and bias gradients in one fused kernel from the saved mean and invstd."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, training=False, momentum=0.1, eps=1e-5):
        output, mean, invstd = kernels(x).batch_norm_forward(x, running_mean, running_var, weight, bias, training,
                                                             momentum, eps)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.training = training
        return output

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd = ctx.saved
        need_input, need_weight, need_bias = ctx.needs_input_grad
        return kernels(grad).batch_norm_backward(grad, x, mean, invstd, weight, ctx.training, need_input,
                                                 need_weight, need_bias)
