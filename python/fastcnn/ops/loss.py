"""Losses on the C++ kernels (csrc/cpu/loss.cpp); the formulas and their derivatives are in
that file's header. cross_entropy is log_softmax (ops/softmax.py) followed by NllLoss."""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._registry import kernels, register


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
    """weight and pos_weight arrive broadcast to the input's shape and get no gradient."""

    @staticmethod
    def forward(ctx, input, target, weight=None, pos_weight=None, reduction="mean"):
        ctx.save_for_backward(input, target, weight, pos_weight)
        ctx.reduction = reduction
        return kernels(input).bce_with_logits_forward(input, target, weight, pos_weight, reduction)

    @staticmethod
    def backward(ctx, grad):
        input, target, weight, pos_weight = ctx.saved
        grad = np.asarray(grad, dtype=input.dtype, order="C")
        grad_input, grad_target = kernels(input).bce_with_logits_backward(grad, input, target, weight, pos_weight,
                                                                          ctx.reduction)
        return grad_input, grad_target, None, None
