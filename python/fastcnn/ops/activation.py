"""Pointwise activations on the C++ kernels (csrc/cpu/activation.cpp)."""
from __future__ import annotations

from ..tensor import Function
from ._registry import kernels, register


class _Activation(Function):
    """forward: kernels.activation_forward(name, x); backward recomputes f'(x) from the input.

    relu and relu6 save their output instead (`saves_output`): their derivative reads the same
    from y as from x (y > 0 iff x > 0; 0 < y < 6 iff 0 < x < 6), and the next layer saves that
    same array, so the input (usually a batch norm's output) is freed after the forward, as
    torch's in-place ReLU allows, without the in-place write.
    """

    saves_output = False

    @classmethod
    def forward(cls, ctx, x, parameter=0.0):
        output = kernels(x).activation_forward(cls.op_name, x, parameter)
        ctx.save_for_backward(output if cls.saves_output else x)
        ctx.parameter = parameter
        return output

    @classmethod
    def backward(cls, ctx, grad):
        (x,) = ctx.saved
        return kernels(x).activation_backward(cls.op_name, grad, x, ctx.parameter)


def _define(name, saves_output=False):
    attributes = {"__doc__": f"{name} activation", "saves_output": saves_output}
    return register(name)(type(name.title().replace("_", ""), (_Activation,), attributes))


Relu = _define("relu", saves_output=True)
Relu6 = _define("relu6", saves_output=True)
LeakyRelu = _define("leaky_relu")
Sigmoid = _define("sigmoid")
Tanh = _define("tanh")
Gelu = _define("gelu")
GeluTanh = _define("gelu_tanh")
Silu = _define("silu")
