"""fastcnn.nn.functional: torch.nn.functional's names, argument order and layouts (NCHW, OIHW).

Each function checks what only Python knows (Tensor types, dtypes, argument forms), normalises
arguments (ints to pairs, 'same' padding) and applies one op from fastcnn.ops; shape rules and
the backstop checks are in C++ (csrc/ops). Sections follow the op families.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..random import next_seed
from ..tensor import Tensor, is_grad_enabled


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
def _pool_input(op, input):
    check_tensor(op, "input", input)
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got {input.ndim}-D "
                         f"(input {tuple(input.shape)})")


def _pool_stride(op, kernel_size, stride):
    """torch's rule: stride None (or an empty list) means stride = kernel_size."""
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return kernel_size
    return pair(op, "stride", stride)


def _needs_indices(input, return_indices):
    # The argmax is only worth writing when a backward or the caller will read it.
    return bool(return_indices) or (is_grad_enabled() and input.requires_grad)


def _with_indices(output, sink, return_indices):
    return (output, Tensor._wrap(sink[0])) if return_indices else output


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    op = "max_pool2d"
    _pool_input(op, input)
    kernel_size = pair(op, "kernel_size", kernel_size)
    sink = []
    output = ops.MaxPool2d.apply(input, kernel_size, _pool_stride(op, kernel_size, stride),
                                 pair(op, "padding", padding), pair(op, "dilation", dilation), bool(ceil_mode),
                                 _needs_indices(input, return_indices), indices_sink=sink)
    return _with_indices(output, sink, return_indices)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    op = "avg_pool2d"
    _pool_input(op, input)
    kernel_size = pair(op, "kernel_size", kernel_size)
    if divisor_override is not None and (not isinstance(divisor_override, (int, np.integer)) or divisor_override <= 0):
        raise ValueError(f"{op}: divisor_override must be a positive int or None, got {divisor_override!r}")
    return ops.AvgPool2d.apply(input, kernel_size, _pool_stride(op, kernel_size, stride), pair(op, "padding", padding),
                               bool(ceil_mode), bool(count_include_pad),
                               None if divisor_override is None else int(divisor_override))


def _adaptive_size(op, input, output_size):
    """An int or a pair whose entries may be None (keep that input dim), as torch."""
    sizes = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    if len(sizes) != 2:
        raise TypeError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    resolved = tuple(input.shape[-2 + i] if size is None else size for i, size in enumerate(sizes))
    return pair(op, "output_size", resolved)


def adaptive_avg_pool2d(input, output_size):
    op = "adaptive_avg_pool2d"
    _pool_input(op, input)
    return ops.AdaptiveAvgPool2d.apply(input, _adaptive_size(op, input, output_size))


def adaptive_max_pool2d(input, output_size, return_indices=False):
    op = "adaptive_max_pool2d"
    _pool_input(op, input)
    sink = []
    output = ops.AdaptiveMaxPool2d.apply(input, _adaptive_size(op, input, output_size),
                                         _needs_indices(input, return_indices), indices_sink=sink)
    return _with_indices(output, sink, return_indices)



# --- normalisation and dropout (csrc/cpu/norm.cpp, dropout.cpp) -------------------------------------
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    op = "batch_norm"
    check_same_dtype(op, input=input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    if input.ndim < 2:
        raise ValueError(f"{op}: input must be at least 2-D (N, C, *), got {input.ndim}-D (input {tuple(input.shape)})")
    if training and input.numel() // input.shape[1] <= 1:
        raise ValueError(f"{op}: Expected more than 1 value per channel when training, got input size "
                         f"{tuple(input.shape)}")
    return ops.BatchNorm.apply(input, weight, bias, running_mean=None if running_mean is None else running_mean.data,
                               running_var=None if running_var is None else running_var.data,
                               training=bool(training), momentum=float(momentum), eps=float(eps))


def _dropout(op, input, p, training, channelwise):
    check_tensor(op, "input", input)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0 <= p <= 1:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p!r}")
    if channelwise and input.ndim not in (3, 4):
        raise ValueError(f"{op}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got {input.ndim}-D "
                         f"(input {tuple(input.shape)})")
    if not training or p == 0:
        return input
    return ops.Dropout.apply(input, float(p), next_seed(), channelwise)


def dropout(input, p=0.5, training=True, inplace=False):
    return _dropout("dropout", input, p, training, channelwise=False)


def dropout2d(input, p=0.5, training=True, inplace=False):
    return _dropout("dropout2d", input, p, training, channelwise=True)


# --- softmax, losses and attention (csrc/cpu/softmax.cpp, loss.cpp) ---------------------------------
