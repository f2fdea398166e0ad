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
def _conv_padding(op: str, padding, kernel_size, stride, dilation):
    """padding as (top, bottom, left, right): an int, a pair, 'valid' or 'same' (stride 1 only;
    when the dilated kernel's extent is even, torch puts the extra row / column at the bottom / right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {stride})")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel_size)]
        return (totals[0] // 2, totals[0] - totals[0] // 2, totals[1] // 2, totals[1] - totals[1] // 2)
    top, left = pair(op, "padding", padding)
    return (top, top, left, left)


def _check_groups(op: str, groups):
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    return int(groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    check_same_dtype("conv2d", input=input, weight=weight, bias=bias)
    stride, dilation = pair("conv2d", "stride", stride), pair("conv2d", "dilation", dilation)
    padding = _conv_padding("conv2d", padding, tuple(weight.shape[-2:]), stride, dilation)
    return ops.Conv2d.apply(input, weight, bias, stride=stride, padding=padding, dilation=dilation,
                            groups=_check_groups("conv2d", groups))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    op = "conv_transpose2d"
    check_same_dtype(op, input=input, weight=weight, bias=bias)
    return ops.ConvTranspose2d.apply(input, weight, bias, stride=pair(op, "stride", stride),
                                     padding=pair(op, "padding", padding),
                                     output_padding=pair(op, "output_padding", output_padding),
                                     dilation=pair(op, "dilation", dilation), groups=_check_groups(op, groups))


# --- pooling (csrc/cpu/pool.cpp) ---------------------------------------------------------------------


# --- normalisation and dropout (csrc/cpu/norm.cpp, dropout.cpp) -------------------------------------


# --- softmax, losses and attention (csrc/cpu/softmax.cpp, loss.cpp) ---------------------------------
