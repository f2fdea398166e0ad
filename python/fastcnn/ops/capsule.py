"""Capsule ops on the C++ kernels (csrc/cpu/capsule.cpp): squash, dynamic routing, margin loss.

All are fused because their composite forms misbehave: squash built from norms divides by |s|
and turns a zero capsule's gradient into NaN, routing built from matmul and softmax spends its
time on tiny products and layout copies, and the margin loss would take a one-hot tensor and
eight elementwise ops per call. The derivatives are in the kernel file's header comment.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._registry import kernels, register


@register("squash")
class Squash(Function):
    """v = |s|^2 / (1 + |s|^2) * s / sqrt(|s|^2 + eps) over one dim; backward recomputes from s."""

    @staticmethod
    def forward(ctx, x, dim=-1, eps=1e-8):
        # The kernel needs a real dim: a 0-d x, which any dim names as a 1-D vector (normalize_dim),
        # runs as one capsule of shape (1,) and its result is given back 0-d.
        ctx.shape = x.shape
        x = np.asarray(x, order="C").reshape(x.shape or (1,))
        ctx.save_for_backward(x)
        ctx.dim, ctx.eps = dim, eps
        return kernels(x).squash_forward(x, dim, eps).reshape(ctx.shape)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        grad = np.asarray(grad, order="C").reshape(x.shape)
        return kernels(x).squash_backward(grad, x, ctx.dim, ctx.eps).reshape(ctx.shape)


def routing_coupling(predictions: np.ndarray, iterations: int) -> np.ndarray:
    """Coupling coefficients c (B, I, J) after routing predictions (B, I, J, D) by agreement.

    Not a Function: the routing is detached (c is a constant for autograd, see the kernel), so
    this is a plain array computation that records nothing.
    """
    return kernels(predictions).routing_coupling(np.asarray(predictions, order="C"), iterations)


@register("routing_weighted_sum")
class RoutingWeightedSum(Function):
    """s_j = sum_i c_ij u_hat_j|i: predictions (B, I, J, D) Tensor, coupling (B, I, J) constant
    array -> (B, J, D); the gradient wrt the predictions is c_ij * grad s_j."""

    @staticmethod
    def forward(ctx, predictions, coupling):
        predictions = np.asarray(predictions, order="C")
        ctx.save_for_backward(predictions, coupling)
        return kernels(predictions).routing_weighted_sum_forward(predictions, coupling)

    @staticmethod
    def backward(ctx, grad):
        predictions, coupling = ctx.saved
        return kernels(grad).routing_weighted_sum_backward(np.asarray(grad, order="C"), predictions, coupling), None


@register("margin_loss")
class MarginLoss(Function):
    """Per-sample margin losses (N,) from capsule lengths (N, K) and int64 targets (N,);
    the reduction is left to the caller (sum/mean ops)."""

    @staticmethod
    def forward(ctx, lengths, target, m_plus=0.9, m_minus=0.1, lam=0.5):
        ctx.save_for_backward(lengths, target)
        ctx.margins = (m_plus, m_minus, lam)
        return kernels(lengths).margin_loss_forward(lengths, target, m_plus, m_minus, lam)

    @staticmethod
    def backward(ctx, grad):
        lengths, target = ctx.saved
        return kernels(lengths).margin_loss_backward(np.asarray(grad, order="C"), lengths, target, *ctx.margins), None
