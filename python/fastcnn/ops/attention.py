"""Fused scaled-dot-product attention on the C++ kernel (csrc/cpu/attention.cpp).

The forward keeps only the output and each query's log-sum-exp of the scores, never the
(..., L, S) probabilities; the backward recomputes them block by block from those:
  dV = P^T dO,  dS = P (dO V^T - rowsum(dO O)),  dQ = scale dS K,  dK = scale dS^T Q,  dmask = dS
"""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._registry import kernels, register
from .elementwise import unbroadcast


def _batched(x: np.ndarray) -> np.ndarray:
    """(..., R, C) -> a contiguous (B, R, C), B the product of the batch dims."""
    return np.asarray(x, order="C").reshape((-1,) + x.shape[-2:])


def _batched_mask(mask, batch_shape, queries: int, keys: int):
    """An additive mask broadcasting to (*batch_shape, L, S) as the kernel takes it: (M, L, S),
    batch item n using mask n // (B // M). When the mask's batch dims are the leading batch dims
    followed by ones (one mask for all items, one per item, one per item's heads) only its L and S
    dims are broadcast; any other mask is spelled out for every item."""
    if mask is None:
        return None
    dims = len(batch_shape)
    padded = (1,) * (dims + 2 - mask.ndim) + tuple(mask.shape)
    kept = dims
    while kept > 0 and padded[kept - 1] == 1:
        kept -= 1
    if padded[:kept] != tuple(batch_shape[:kept]):
        kept = dims
    target = tuple(batch_shape[:kept]) + (1,) * (dims - kept) + (queries, keys)
    return _batched(np.broadcast_to(mask.reshape(padded), target))


@register("scaled_dot_product_attention")
class ScaledDotProductAttention(Function):
    """softmax(query key^T * scale + mask) value for query (..., L, E), key (..., S, E) and value
    (..., S, Ev) with the same batch dims; mask None or additive, broadcasting to (..., L, S)."""

    @staticmethod
    def forward(ctx, query, key, value, mask=None, scale=1.0, is_causal=False):
        batch_shape, queries, keys = query.shape[:-2], query.shape[-2], key.shape[-2]
        arrays = (_batched(query), _batched(key), _batched(value), _batched_mask(mask, batch_shape, queries, keys))
        output, log_sum_exp = kernels(query).scaled_dot_product_attention_forward(*arrays, scale, is_causal)
        ctx.save_for_backward(*arrays, output, log_sum_exp)
        ctx.arguments = (scale, is_causal)
        ctx.shapes = (query.shape, key.shape, value.shape, None if mask is None else mask.shape)
        return output.reshape(batch_shape + output.shape[-2:])

    @staticmethod
    def backward(ctx, grad):
        query, key, value, mask, output, log_sum_exp = ctx.saved
        mask_grad = mask is not None and ctx.needs_input_grad[3]
        grads = kernels(grad).scaled_dot_product_attention_backward(
            _batched(np.asarray(grad, dtype=output.dtype)), query, key, value, mask, output, log_sum_exp,
            *ctx.arguments, mask_grad)
        query_shape, key_shape, value_shape, mask_shape = ctx.shapes
        grad_mask = None
        if mask_grad:
            grad_mask = unbroadcast(grads[3].reshape(query_shape[:-2] + grads[3].shape[-2:]), mask_shape)
        return (grads[0].reshape(query_shape), grads[1].reshape(key_shape), grads[2].reshape(value_shape),
                grad_mask)
