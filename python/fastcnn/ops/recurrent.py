"""ConvLSTM gate math on the fused C++ kernel (csrc/cpu/recurrent.cpp); the formulas, forward
and backward, are in that file's header."""
from __future__ import annotations

from ..tensor import Function
from ._registry import kernels, register


@register("convlstm_gates")
class ConvLSTMGates(Function):
    """(gates, cell[, peephole]) -> state = stack(H', C'), shape (2, N, K, H, W).

    One node per cell step instead of ~20 pointwise ones; the backward recomputes the gate
    activations from the saved inputs rather than keeping them alive across the sequence."""

    @staticmethod
    def forward(ctx, gates, cell, peephole=None):
        ctx.save_for_backward(gates, cell, peephole)
        return kernels(gates).convlstm_gates_forward(gates, cell, peephole)

    @staticmethod
    def backward(ctx, grad):
        gates, cell, peephole = ctx.saved
        return kernels(grad).convlstm_gates_backward(gates, cell, peephole, grad)
