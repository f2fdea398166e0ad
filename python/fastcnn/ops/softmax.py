"""softmax and log_softmax on the fused C++ kernel (csrc/cpu/softmax.cpp).

Both backward passes need only the forward's output y:
  softmax:     dL/dx = y * (g - sum(g * y))
  log_softmax: dL/dx = g - exp(y) * sum(g)
"""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._registry import kernels, register


class _Softmax(Function):
    log = False

    @classmethod
    def forward(cls, ctx, x, dim):
        y = kernels(x).softmax_forward(x, dim, cls.log)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @classmethod
    def backward(cls, ctx, grad):
        (y,) = ctx.saved
        return kernels(y).softmax_backward(np.asarray(grad, dtype=y.dtype, order="C"), y, ctx.dim, cls.log)


@register("softmax")
class Softmax(_Softmax):
    log = False


@register("log_softmax")
class LogSoftmax(_Softmax):
    log = True
