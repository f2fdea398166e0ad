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


# --- capsules (csrc/cpu/capsule.cpp; routing composes matmul, softmax and squash) ---------------
def squash(x, dim=-1, eps=1e-8):
    """Capsule non-linearity (Sabour et al. 2017): |s|^2 / (1 + |s|^2) * s / |s| over `dim`.

    |s| is computed as sqrt(|s|^2 + eps), so short vectors shrink to 0 smoothly and the gradient
    at s = 0 is exactly 0 instead of NaN.
    """
    check_tensor("squash", "input", x)
    return ops.Squash.apply(x, dim=int(dim), eps=float(eps))


def capsule_lengths(x, dim=-1, eps=1e-8):
    """sqrt(|v|^2 + eps) over `dim`: a capsule's length is the probability that its entity is
    present. eps keeps the gradient finite for an all-zero capsule."""
    check_tensor("capsule_lengths", "input", x)
    return ((x * x).sum(dim) + eps).sqrt()


def margin_loss(lengths, target, m_plus=0.9, m_minus=0.1, lam=0.5, reduction="mean"):
    """Margin loss of Sabour et al. (2017), eq. 4, per sample summed over the K classes:
    L = sum_k T_k max(0, m+ - |v_k|)^2 + lam (1 - T_k) max(0, |v_k| - m-)^2.

    lengths (N, K) capsule lengths, target (N,) int64 class indices; reduction over the
    samples: 'mean' | 'sum' | 'none'.
    """
    check_tensor("margin_loss", "lengths", lengths)
    check_tensor("margin_loss", "target", target, float_only=False)
    if target.dtype != np.int64:
        raise TypeError(f"margin_loss: target must hold int64 class indices, got {target.dtype} "
                        f"({_describe(lengths=lengths, target=target)})")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"margin_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    losses = ops.MarginLoss.apply(lengths, target, m_plus=float(m_plus), m_minus=float(m_minus), lam=float(lam))
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def dynamic_routing(predictions, iterations=3):
    """Routing by agreement (Sabour et al. 2017, procedure 1) on prediction vectors u_hat.

    predictions: (B, in_capsules, out_capsules, out_dim), u_hat_j|i for every pair. Returns
    (v (B, out_capsules, out_dim), c (B, in_capsules, out_capsules)): the squashed output
    capsules and the coupling coefficients of the last iteration (softmax over the out capsules of
    logits b that start at 0 and grow by the agreement u_hat_j|i . v_j after every iteration).

    The routing is detached, as in the paper's reference implementations: c is a constant for
    autograd, and the gradient reaches u_hat only through the last weighted sum
    s_j = sum_i c_ij u_hat_j|i. The routing iterations run in one C++ kernel.
    """
    check_tensor("dynamic_routing", "predictions", predictions)
    if predictions.ndim != 4:
        raise ValueError(f"dynamic_routing: predictions must be 4-D (batch, in_capsules, out_capsules, out_dim) "
                         f"({_describe(predictions=predictions)})")
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"dynamic_routing: iterations must be a positive int, got {iterations!r}")
    coupling = ops.routing_coupling(predictions.data, iterations)
    return squash(ops.RoutingWeightedSum.apply(predictions, coupling), dim=-1), Tensor._wrap(coupling)
