"""matmul and linear on our GEMM (csrc/cpu/gemm.cpp, entry point `bmm`).

For C = A B:  dL/dA = dL/dC B^T,  dL/dB = A^T dL/dC — the same batched GEMM with transposes.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._registry import kernels, register
from .elementwise import unbroadcast


def _as_batched(x: np.ndarray, batch_shape) -> np.ndarray:
    """x (..., R, C) -> (B, R, C) over batch_shape; an operand with no batch of its own keeps
    batch 1, which the kernel broadcasts without copying."""
    if x.shape[:-2] == tuple(batch_shape):
        return x.reshape((-1,) + x.shape[-2:])
    if int(np.prod(x.shape[:-2], dtype=np.int64)) == 1:
        return x.reshape((1,) + x.shape[-2:])
    return np.asarray(np.broadcast_to(x, tuple(batch_shape) + x.shape[-2:]), order="C").reshape((-1,) + x.shape[-2:])


@register("matmul")
class Matmul(Function):
    """torch.matmul semantics: 1-D operands are promoted and the added dim removed; batch
    dims broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both arguments must be at least 1-D (input {a.shape}, other {b.shape})")
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        if a2.shape[-1] != b2.shape[-2]:
            raise ValueError(f"matmul: inner dimensions differ: {a2.shape[-1]} vs {b2.shape[-2]} "
                             f"(input {a.shape}, other {b.shape})")
        try:
            batch_shape = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions do not broadcast (input {a.shape}, other {b.shape})") from None
        out = kernels(a).bmm(_as_batched(a2, batch_shape), _as_batched(b2, batch_shape), False, False)
        out = out.reshape(tuple(batch_shape) + (a2.shape[-2], b2.shape[-1]))
        ctx.save_for_backward(a, b)
        ctx.shapes = (a2.shape, b2.shape, batch_shape, out.shape)
        if a.ndim == 1:
            out = out.squeeze(-2)
        if b.ndim == 1:
            out = out.squeeze(-1)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        a_shape, b_shape, batch_shape, out_shape = ctx.shapes
        grad = _as_batched(np.asarray(grad.reshape(out_shape), order="C"), batch_shape)
        a3, b3 = _as_batched(a.reshape(a_shape), batch_shape), _as_batched(b.reshape(b_shape), batch_shape)
        kernel = kernels(grad)
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = kernel.bmm(grad, b3, False, True).reshape(tuple(batch_shape) + a_shape[-2:])
            grad_a = unbroadcast(grad_a, a_shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            grad_b = kernel.bmm(a3, grad, True, False).reshape(tuple(batch_shape) + b_shape[-2:])
            grad_b = unbroadcast(grad_b, b_shape).reshape(b.shape)
        return grad_a, grad_b


@register("linear")
class Linear(Function):
    """y = x W^T + b over the last dim of x; W is (out_features, in_features) as torch.
    dL/dx = g W, dL/dW = g^T x, dL/db = sum of g over rows."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        rows = x.reshape(1, -1, x.shape[-1])
        out = kernels(x).bmm(rows, weight[None], False, True)
        if bias is not None:
            out += bias
        ctx.save_for_backward(rows, weight)
        ctx.input_shape = x.shape
        return out.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        rows, weight = ctx.saved
        grad_rows = np.asarray(grad, order="C").reshape(1, -1, weight.shape[0])
        kernel = kernels(grad_rows)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = kernel.bmm(grad_rows, weight[None], False, False).reshape(ctx.input_shape)
        if ctx.needs_input_grad[1]:
            grad_w = kernel.bmm(grad_rows, rows, True, False)[0]
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            grad_b = grad_rows[0].sum(axis=0)
        return grad_x, grad_w, grad_b
