"""Inverted dropout on the C++ kernels (csrc/cpu/dropout.cpp).

The mask is a pure function of a seed drawn from fastcnn.random, so the backward recomputes it
from the seed and nothing the size of the input is kept for it.
"""
from __future__ import annotations

from ..tensor import Function
from ._registry import kernels, register


@register("dropout")
class Dropout(Function):
    """channelwise: dropout2d, whole (H, W) planes kept or zeroed together."""

    @staticmethod
    def forward(ctx, x, p, seed, channelwise=False):
        ctx.arguments = (p, seed, channelwise)
        return kernels(x).dropout_forward(x, p, seed, channelwise)

    @staticmethod
    def backward(ctx, grad):
        return kernels(grad).dropout_backward(grad, *ctx.arguments)
