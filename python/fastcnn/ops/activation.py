"""Pointwise activations on the C++ kernels (csrc/cpu/activation.cpp)."""
from __future__ import annotations

from ..tensor import Function
from ._registry import kernels, register


class _Activation(Function):
    """forward: kernels.activation_forward(name, x); backward recomputes f'(x) from the input."""

    @classmethod
    def forward(cls, ctx, x, parameter=0.0):
        ctx.save_for_backward(x)
        ctx.parameter = parameter
        return kernels(x).activation_forward(cls.op_name, x, parameter)

    @classmethod
    def backward(cls, ctx, grad):
        (x,) = ctx.saved
        return kernels(x).activation_backward(cls.op_name, grad, x, ctx.parameter)


def _define(name):
    return register(name)(type(name.title().replace("_", ""), (_Activation,), {"__doc__": f"{name} activation"}))


Relu = _define("relu")
Relu6 = _define("relu6")
LeakyRelu = _define("leaky_relu")
Sigmoid = _define("sigmoid")
Tanh = _define("tanh")
Gelu = _define("gelu")
GeluTanh = _define("gelu_tanh")
Silu = _define("silu")
