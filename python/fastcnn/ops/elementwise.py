"""Elementwise arithmetic with NumPy broadcasting, each forward beside its backward.

These are memory-bound one-liners that NumPy runs as vectorised C loops. Same-shape float
add, sub and mul (a residual block's addition over a whole activation) go to our kernel
(csrc/cpu/elementwise.cpp), which splits the loop across the threads where NumPy uses one; the
heavy, fusable ops (activations, convolutions, pooling, normalisation) are in our kernels.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._registry import kernels, register

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Below the kernels' parallel threshold (kParallelWork in csrc/core/parallel.h) our kernel runs
# the same single-threaded loop as NumPy behind 1-2 us more of call overhead.
_KERNEL_MIN_SIZE = 1 << 16


def unbroadcast(grad: np.ndarray, shape) -> np.ndarray:
    """Sums grad over the dimensions broadcasting added or stretched, back to `shape`."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def _shape(x):
    return x.shape if type(x) is np.ndarray else np.shape(x)


def _kernel_fits(a, b) -> bool:
    """Whether a and b are large aligned C-contiguous float arrays of one shape and dtype."""
    return (type(a) is np.ndarray and type(b) is np.ndarray and a.shape == b.shape and a.dtype == b.dtype
            and a.size >= _KERNEL_MIN_SIZE and a.dtype in _KERNEL_DTYPES
            and a.flags.c_contiguous and b.flags.c_contiguous and a.flags.aligned and b.flags.aligned)


def _binary(name: str, ufunc, a, b):
    """a op b: our parallel kernel where _kernel_fits, else the NumPy ufunc with its broadcasting
    and type promotion."""
    if _kernel_fits(a, b):
        return kernels(a).binary_forward(name, a, b)
    return ufunc(a, b)


def add_into(total: np.ndarray, addend) -> None:
    """total += addend in place, total's shape and dtype kept (the autograd engine's sum of a
    tensor's gradients from its several uses, such as a residual block's input): our parallel
    kernel where _kernel_fits, else NumPy's."""
    if _kernel_fits(total, addend) and total.flags.writeable:
        kernels(total).add_into(total, addend)
    else:
        np.add(total, addend, out=total)


def add(a, b):
    """a + b with broadcasting, on our kernel where _kernel_fits (no autograd)."""
    return _binary("add", np.add, a, b)


@register("add")
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return _binary("add", np.add, a, b)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shapes[0]), unbroadcast(grad, ctx.shapes[1])


@register("sub")
class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return _binary("sub", np.subtract, a, b)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shapes[0]), unbroadcast(-grad, ctx.shapes[1])


@register("mul")
class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("mul", np.multiply, a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(_binary("mul", np.multiply, grad, b), _shape(a))
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(_binary("mul", np.multiply, grad, a), _shape(b))
        return grad_a, grad_b


@register("div")
class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.divide(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        grad_a = unbroadcast(grad / b, _shape(a)) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(-grad * a / (b * b), _shape(b)) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


@register("neg")
class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, grad):
        return -grad


@register("pow")
class Pow(Function):
    """a ** b; d/da = b a^(b-1), d/db = a^b log a."""

    @staticmethod
    def forward(ctx, a, b):
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(grad * b * np.power(a, np.subtract(b, 1)), _shape(a))
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
            grad_b = unbroadcast(grad * out * log_a, _shape(b))
        return grad_a, grad_b


@register("exp")
class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved[0]


@register("log")
class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        return grad / ctx.saved[0]


@register("sqrt")
class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad / (2 * ctx.saved[0])


@register("abs")
class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        return grad * np.sign(ctx.saved[0])


@register("clamp")
class Clamp(Function):
    """Gradient flows where min <= a <= max (torch's convention at the bounds)."""

    @staticmethod
    def forward(ctx, a, min=None, max=None):
        ctx.save_for_backward(a)
        ctx.bounds = (min, max)
        return np.clip(a, min, max).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        low, high = ctx.bounds
        mask = np.ones(a.shape, dtype=bool)
        if low is not None:
            mask &= a >= low
        if high is not None:
            mask &= a <= high
        return grad * mask


@register("maximum")
class Maximum(Function):
    """Elementwise max; ties split the gradient evenly, as torch."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        share_a = (a > b) + 0.5 * (a == b)
        return unbroadcast(grad * share_a, _shape(a)), unbroadcast(grad * (1 - share_a), _shape(b))


@register("where")
class Where(Function):
    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.condition = condition
        ctx.shapes = (_shape(a), _shape(b))
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        zero = np.zeros((), dtype=grad.dtype)
        return (None, unbroadcast(np.where(ctx.condition, grad, zero), ctx.shapes[0]),
                unbroadcast(np.where(ctx.condition, zero, grad), ctx.shapes[1]))


@register("cast")
class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype) if ctx.dtype.kind == "f" else None


@register("clone")
class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad
