"""Losses on the C++ kernels (csrc/cpu/loss.cpp); the formulas and their derivatives are in
that file's header. cross_entropy is log_softmax (ops/softmax.py) followed by NllLoss."""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._registry import kernels, register
from .elementwise import unbroadcast


@register("nll_loss")
class NllLoss(Function):
    """Negative log-likelihood of int64 labels over log-probabilities, with torch's label
    smoothing and class weighting; the gradient flows to the log-probabilities only."""

    @staticmethod
    def forward(ctx, log_probs, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        loss, total_weight = kernels(log_probs).nll_loss_forward(log_probs, target, weight, ignore_index, reduction,
                                                                 label_smoothing)
        ctx.save_for_backward(log_probs, target, weight)
        ctx.options = (ignore_index, reduction, label_smoothing, total_weight)
        return loss

    @staticmethod
    def backward(ctx, grad):
        log_probs, target, weight = ctx.saved
        grad = np.asarray(grad, dtype=log_probs.dtype, order="C")
        return kernels(grad).nll_loss_backward(grad, log_probs, target, weight, *ctx.options), None, None


@register("mse_loss")
class MseLoss(Function):
    @staticmethod
    def forward(ctx, input, target, reduction="mean"):
        ctx.save_for_backward(input, target)
        ctx.reduction = reduction
        return kernels(input).mse_loss_forward(input, target, reduction)

    @staticmethod
    def backward(ctx, grad):
        input, target = ctx.saved
        grad_input = kernels(input).mse_loss_backward(np.asarray(grad, dtype=input.dtype, order="C"), input, target,
                                                      ctx.reduction)
        return grad_input, -grad_input


@register("binary_cross_entropy_with_logits")
class BinaryCrossEntropyWithLogits(Function):
    """weight v and pos_weight q broadcast to the input's shape here, the shape the kernel takes,
    and their gradients are summed back to their own shapes. With u = (1 - t) x + (1 + (q - 1) t)
    softplus(-x) the unweighted loss (loss = v u):
      dloss/dv = u,   dloss/dq = v t softplus(-x)
    u is the forward kernel's run without the weight; softplus(-x) is NumPy's logaddexp, since
    only this backward needs it."""

    @staticmethod
    def forward(ctx, input, target, weight=None, pos_weight=None, reduction="mean"):
        ctx.shapes = tuple(None if value is None else value.shape for value in (weight, pos_weight))
        weight, pos_weight = (None if value is None else np.asarray(np.broadcast_to(value, input.shape), order="C")
                              for value in (weight, pos_weight))
        ctx.save_for_backward(input, target, weight, pos_weight)
        ctx.reduction = reduction
        return kernels(input).bce_with_logits_forward(input, target, weight, pos_weight, reduction)

    @staticmethod
    def backward(ctx, grad):
        input, target, weight, pos_weight = ctx.saved
        grad = np.asarray(grad, dtype=input.dtype, order="C")
        grad_input, grad_target = kernels(input).bce_with_logits_backward(grad, input, target, weight, pos_weight,
                                                                          ctx.reduction)
        # Each element's share of the upstream gradient: a scalar unless reduction is 'none'.
        grad_losses = grad / max(input.size, 1) if ctx.reduction == "mean" else grad
        grad_weight = grad_pos_weight = None
        if weight is not None and ctx.needs_input_grad[2]:
            unweighted = kernels(input).bce_with_logits_forward(input, target, None, pos_weight, "none")
            grad_weight = unbroadcast(grad_losses * unweighted, ctx.shapes[0])
        if pos_weight is not None and ctx.needs_input_grad[3]:
            grad_pos_weight = grad_losses * target * np.logaddexp(0, -input)
            if weight is not None:
                grad_pos_weight *= weight
            grad_pos_weight = unbroadcast(grad_pos_weight, ctx.shapes[1])
        return grad_input, grad_target, grad_weight, grad_pos_weight
