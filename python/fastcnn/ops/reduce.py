"""Reductions over dims (sum, mean, max/min, var), each forward beside its backward.

Gradients are made contiguous with np.asarray(..., order="C"): np.ascontiguousarray would turn
the gradient of a 0-d input into shape (1,).
"""
from __future__ import annotations

import math

import numpy as np

from ..tensor import Function
from ._registry import register
from .shape import normalize_dims


def _expand_back(grad, input_shape, dims, keepdim):
    """Re-inserts reduced dims (when keepdim was False) so grad broadcasts over the input."""
    if not keepdim:
        grad = np.expand_dims(grad, dims) if dims else grad
    return np.broadcast_to(grad, input_shape)


def check_extremum_dims(op, shape, dim, dims, no_dim_error=ValueError):
    """max, min, amax, amin, argmax and argmin have no value for an empty set, so, as in torch, an
    empty input reduced over non-empty dims gives an empty result, while an empty reduced dim is an
    IndexError and an empty input with no dim given (None or ()) is no_dim_error (torch: IndexError
    for argmax/argmin, RuntimeError, here ValueError, for the others). dims: dim normalized."""
    if math.prod(shape) != 0:
        return
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        raise no_dim_error(f"{op}: input is empty and no dim is given to reduce over (input {tuple(shape)})")
    for d in dims:
        if shape[d] == 0:
            raise IndexError(f"{op}: expected reduction dim {d} to have non-zero size (input {tuple(shape)})")


@register("sum")
class Sum(Function):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        ctx.dims = normalize_dims(dim, a.shape, "sum")
        ctx.shape, ctx.keepdim = a.shape, keepdim
        return np.asarray(a.sum(axis=ctx.dims, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        return np.asarray(_expand_back(grad, ctx.shape, ctx.dims, ctx.keepdim), order="C")


@register("mean")
class Mean(Function):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        if a.dtype.kind != "f":
            raise TypeError(f"mean: input must be a float tensor, got {a.dtype} (input {a.shape})")
        ctx.dims = normalize_dims(dim, a.shape, "mean")
        ctx.shape, ctx.keepdim = a.shape, keepdim
        ctx.count = int(np.prod([a.shape[d] for d in ctx.dims], dtype=np.int64))
        return np.asarray(a.mean(axis=ctx.dims, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        return np.asarray(_expand_back(grad / ctx.count, ctx.shape, ctx.dims, ctx.keepdim), order="C")


class _Extremum(Function):
    """max/min values over dims; the gradient is shared evenly among tied extrema."""

    reducer = None

    @classmethod
    def forward(cls, ctx, a, dim=None, keepdim=False):
        ctx.dims = normalize_dims(dim, a.shape, cls.op_name)
        check_extremum_dims(cls.op_name, a.shape, dim, ctx.dims)
        ctx.keepdim = keepdim
        out = cls.reducer(a, axis=ctx.dims, keepdims=True)
        ctx.save_for_backward(a, out)
        return np.asarray(out if keepdim else out.reshape([n for i, n in enumerate(a.shape) if i not in ctx.dims]))

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved
        mask = a == out
        count = mask.sum(axis=ctx.dims, keepdims=True)
        grad = _expand_back(grad, out.shape, ctx.dims, ctx.keepdim) if not ctx.keepdim else grad
        return np.where(mask, grad / count, 0).astype(a.dtype, copy=False)


@register("max")
class Max(_Extremum):
    reducer = staticmethod(np.max)


@register("min")
class Min(_Extremum):
    reducer = staticmethod(np.min)


@register("amax")
class Amax(Max):
    """max without indices (torch.amax): max's forward and backward under its own name, which its errors give."""


@register("amin")
class Amin(Min):
    """min without indices (torch.amin): min's forward and backward under its own name, which its errors give."""


@register("var")
class Var(Function):
    """var = sum((a - mean)^2) / (n - correction); d/da = 2 (a - mean) / (n - correction)."""

    @staticmethod
    def forward(ctx, a, dim=None, correction=1, keepdim=False):
        if a.dtype.kind != "f":
            raise TypeError(f"var: input must be a float tensor, got {a.dtype} (input {a.shape})")
        ctx.dims = normalize_dims(dim, a.shape, "var")
        count = int(np.prod([a.shape[d] for d in ctx.dims], dtype=np.int64))
        ctx.divisor = max(count - correction, 0)
        centered = a - a.mean(axis=ctx.dims, keepdims=True)
        ctx.save_for_backward(centered)
        ctx.keepdim = keepdim
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray((centered * centered).sum(axis=ctx.dims, keepdims=keepdim) / a.dtype.type(ctx.divisor))

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved
        grad = _expand_back(grad, centered.shape, ctx.dims, ctx.keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad * centered * (2 / centered.dtype.type(ctx.divisor))
