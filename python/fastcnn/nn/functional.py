"""fastcnn.nn.functional: torch.nn.functional's names, argument order and layouts (NCHW, OIHW).

Each function checks what only Python knows (Tensor types, dtypes, argument forms), normalises
arguments (ints to pairs, 'same' padding) and applies one op from fastcnn.ops; shape rules and
the backstop checks are in C++ (csrc/ops). Sections follow the op families.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor


# --- argument checks shared by every section ---------------------------------------------------
def _describe(**tensors):
    return ", ".join(f"{name} {tuple(t.shape)}" for name, t in tensors.items() if t is not None)


def check_tensor(op: str, name: str, value, float_only: bool = True):
    """Raises TypeError unless value is a Tensor (of a float dtype when float_only)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")
    if float_only and value.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be float32 or float64, got {value.dtype} ({name} {tuple(value.shape)})")
    return value


def check_same_dtype(op: str, **tensors):
    """Every given tensor must be a float Tensor of one dtype."""
    items = [(name, check_tensor(op, name, t)) for name, t in tensors.items() if t is not None]
    first_name, first = items[0]
    for name, t in items[1:]:
        if t.dtype != first.dtype:
            raise TypeError(f"{op}: {name} has dtype {t.dtype} but {first_name} has {first.dtype} "
                            f"({_describe(**tensors)})")


def pair(op: str, name: str, value):
    """An int or a pair of ints -> a pair of ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value), int(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


# --- activation (csrc/cpu/activation.cpp) --------------------------------------------------------
def _activation(function_class, input, parameter=0.0):
    check_tensor(function_class.op_name, "input", input)
    return function_class.apply(input, parameter=parameter)


def relu(input, inplace=False):
    return _activation(ops.Relu, input)


def relu6(input, inplace=False):
    return _activation(ops.Relu6, input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _activation(ops.LeakyRelu, input, float(negative_slope))


def sigmoid(input):
    return _activation(ops.Sigmoid, input)


def tanh(input):
    return _activation(ops.Tanh, input)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _activation(ops.Gelu if approximate == "none" else ops.GeluTanh, input)


def silu(input, inplace=False):
    return _activation(ops.Silu, input)


# --- linear algebra (csrc/cpu/gemm.cpp) ------------------------------------------------------------
def _matmul(input, other):
    """fastcnn.matmul and the @ operator."""
    check_same_dtype("matmul", input=input, other=other)
    return ops.Matmul.apply(input, other)


def linear(input, weight, bias=None):
    check_same_dtype("linear", input=input, weight=weight, bias=bias)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features) ({_describe(weight=weight)})")
    if input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input has {input.shape[-1] if input.ndim else 0} features but weight expects "
                         f"{weight.shape[1]} ({_describe(input=input, weight=weight)})")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},) ({_describe(weight=weight, bias=bias)})")
    return ops.Linear.apply(input, weight, bias) if bias is not None else ops.Linear.apply(input, weight)



# --- convolution (csrc/cpu/conv.cpp, conv_transpose.cpp) --------------------------------------------


# --- pooling (csrc/cpu/pool.cpp) ---------------------------------------------------------------------


# --- normalisation and dropout (csrc/cpu/norm.cpp, dropout.cpp) -------------------------------------


# --- softmax, losses and attention (csrc/cpu/softmax.cpp, loss.cpp) ---------------------------------


# --- recurrent, non-local and graph (csrc/cpu/recurrent.cpp) ----------------------------------------
def convlstm_cell(input, hidden, cell, weight, bias=None, peephole=None):
    """One ConvLSTM step (Shi et al. 2015): the four gate convolutions as one 'same' convolution
    of cat(input, hidden) with weight (4 * hidden_channels, in_channels + hidden_channels, kH, kW),
    then the fused gate math. peephole: (3, hidden_channels, H, W) Hadamard weights w_ci, w_cf,
    w_co, or None. Returns (h, c), each (B, hidden_channels, H, W)."""
    op = "convlstm_cell"
    check_same_dtype(op, input=input, hidden=hidden, cell=cell, weight=weight, bias=bias, peephole=peephole)
    shapes = _describe(input=input, hidden=hidden, cell=cell, weight=weight)
    if input.ndim != 4 or hidden.ndim != 4 or tuple(hidden.shape) != tuple(cell.shape):
        raise ValueError(f"{op}: input, hidden and cell must be 4-D (B, C, H, W), hidden and cell alike ({shapes})")
    batch, hidden_channels, height, width = hidden.shape
    if (input.shape[0], *input.shape[2:]) != (batch, height, width):
        raise ValueError(f"{op}: input and state differ in batch or spatial size ({shapes})")
    if weight.ndim != 4 or tuple(weight.shape[:2]) != (4 * hidden_channels, input.shape[1] + hidden_channels):
        raise ValueError(f"{op}: weight must be (4 * hidden_channels, in_channels + hidden_channels, kH, kW) "
                         f"({shapes})")
    gates = conv2d(ops.Cat.apply(1, input, hidden), weight, bias, padding="same")
    state = ops.ConvLSTMGates.apply(gates, cell, peephole)
    return state[0], state[1]
