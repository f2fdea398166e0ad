"""Batch normalisation on the C++ kernels (csrc/cpu/norm.cpp).

The running statistics travel as keyword arrays, not graph inputs: the kernel updates them in
place during a training forward, and autograd never sees that update.
"""
from __future__ import annotations

from ..tensor import Function
from ._registry import kernels, register


@register("batch_norm")
class BatchNorm(Function):
    """forward(x, weight, bias, residual) with weight, bias and residual optional (None):
    activation(batch_norm(x) + residual). backward computes every gradient in one fused kernel from
    the saved mean and invstd (and, with an activation, the output, whose derivative mask it
    applies first)."""

    @staticmethod
    def forward(ctx, x, weight, bias, residual=None, running_mean=None, running_var=None, training=False,
                momentum=0.1, eps=1e-5, activation="none"):
        output, mean, invstd = kernels(x).batch_norm_forward(x, running_mean, running_var, weight, bias, training,
                                                             momentum, eps, residual, activation)
        ctx.save_for_backward(x, weight, mean, invstd, None if activation == "none" else output)
        ctx.training, ctx.activation = training, activation
        return output

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd, output = ctx.saved
        need_input, need_weight, need_bias, need_residual = (ctx.needs_input_grad + (False,))[:4]
        masked = ctx.activation != "none"
        grads = kernels(grad).batch_norm_backward(grad, x, mean, invstd, weight, ctx.training, need_input,
                                                  need_weight, need_bias, output, ctx.activation,
                                                  need_residual and masked)
        # Without an activation the residual's gradient is the incoming one, as an add's.
        return grads[:3] + (grad if need_residual and not masked else grads[3],)
