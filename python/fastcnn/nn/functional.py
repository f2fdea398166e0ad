"""fastcnn.nn.functional: torch.nn.functional's names, argument order and layouts (NCHW, OIHW).

Each function checks what only Python knows (Tensor types, dtypes, argument forms), normalises
arguments (ints to pairs, 'same' padding) and applies one op from fastcnn.ops; shape rules and
the backstop checks are in C++ (csrc/ops). Sections follow the op families.
"""
from __future__ import annotations

import math
import warnings

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
    if float_only and value.data.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be float32 or float64, got {value.dtype} ({name} {tuple(value.shape)})")
    return value


def check_same_dtype(op: str, **tensors):
    """Every given tensor must be a float Tensor of one dtype."""
    first_name = first_dtype = None
    for name, t in tensors.items():
        if t is None:
            continue
        if not isinstance(t, Tensor) or t.data.dtype.kind != "f":  # the common case skips the call
            check_tensor(op, name, t)
        if first_dtype is None:
            first_name, first_dtype = name, t.data.dtype
        elif t.data.dtype != first_dtype:
            raise TypeError(f"{op}: {name} has dtype {t.dtype} but {first_name} has {first_dtype} "
                            f"({_describe(**tensors)})")


def pair(op: str, name: str, value):
    """An int or a pair of ints -> a pair of ints."""
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int:
        return value  # what modules store: the common case, checked first
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
    # The arrays' own shape tuples: Tensor.shape builds a Size each time, and this runs per call.
    in_shape, weight_shape = input.data.shape, weight.data.shape
    if len(weight_shape) != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features) ({_describe(weight=weight)})")
    if not in_shape or in_shape[-1] != weight_shape[1]:
        raise ValueError(f"linear: input has {in_shape[-1] if in_shape else 0} features but weight expects "
                         f"{weight_shape[1]} ({_describe(input=input, weight=weight)})")
    if bias is not None and bias.data.shape != (weight_shape[0],):
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


def _unbatched(op, input, run):
    """torch's convolutions also take one unbatched (C, H, W) image: run it as a batch of one."""
    if input.ndim == 4:
        return run(input)
    if input.ndim != 3:
        raise ValueError(f"{op}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got {input.ndim}-D "
                         f"(input {tuple(input.shape)})")
    return run(input.unsqueeze(0)).squeeze(0)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    check_same_dtype("conv2d", input=input, weight=weight, bias=bias)
    stride, dilation = pair("conv2d", "stride", stride), pair("conv2d", "dilation", dilation)
    padding = _conv_padding("conv2d", padding, tuple(weight.shape[-2:]), stride, dilation)
    groups = _check_groups("conv2d", groups)
    return _unbatched("conv2d", input,
                      lambda x: ops.Conv2d.apply(x, weight, bias, stride, padding, dilation, groups))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    op = "conv_transpose2d"
    check_same_dtype(op, input=input, weight=weight, bias=bias)
    geometry = (pair(op, "stride", stride), pair(op, "padding", padding), pair(op, "output_padding", output_padding),
                pair(op, "dilation", dilation), _check_groups(op, groups))
    return _unbatched(op, input, lambda x: ops.ConvTranspose2d.apply(x, weight, bias, *geometry))


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
    return batch_norm_act(input, running_mean, running_var, weight, bias, training, momentum, eps)


def batch_norm_act(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5,
                   residual=None, activation="none"):
    """activation(batch_norm(...) + residual) in one kernel pass, forward and backward (fastcnn's
    fusion of what follows a batch norm in residual networks; activation "none", "relu", "relu6")."""
    op = "batch_norm"
    check_same_dtype(op, input=input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias,
                     residual=residual)
    if input.ndim < 2:
        raise ValueError(f"{op}: input must be at least 2-D (N, C, *), got {input.ndim}-D (input {tuple(input.shape)})")
    if training and input.numel() // input.shape[1] <= 1:
        raise ValueError(f"{op}: Expected more than 1 value per channel when training, got input size "
                         f"{tuple(input.shape)}")
    return ops.BatchNorm.apply(input, weight, bias, residual,
                               running_mean=None if running_mean is None else running_mean.data,
                               running_var=None if running_var is None else running_var.data,
                               training=bool(training), momentum=float(momentum), eps=float(eps),
                               activation=activation)


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
def _softmax_dim(op, input, dim):
    """torch's rule: dim is required in spirit; when it is None, torch's legacy choice (0 for
    0-, 1- and 3-D inputs, else 1) applies with a warning."""
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1
        warnings.warn(f"{op}: implicit dimension choice has been deprecated; pass dim explicitly (chose dim={dim})",
                      UserWarning, stacklevel=3)
    return ops.normalize_dim(dim, input.shape, op)


def _softmax(function_class, input, dim, dtype):
    op = function_class.op_name
    check_tensor(op, "input", input)
    if dtype is not None:
        input = input.type(dtype)
        check_tensor(op, "dtype", input)
    return function_class.apply(input, _softmax_dim(op, input, dim))


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(ops.Softmax, input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(ops.LogSoftmax, input, dim, dtype)


def _check_reduction(op, reduction):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _check_labels(op, target):
    check_tensor(op, "target", target, float_only=False)
    if target.dtype != np.int64:
        raise TypeError(f"{op}: target must hold int64 class indices, got {target.dtype} "
                        f"(target {tuple(target.shape)})")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    check_same_dtype("nll_loss", input=input, weight=weight)
    _check_labels("nll_loss", target)
    _check_reduction("nll_loss", reduction)
    return ops.NllLoss.apply(input, target, weight, ignore_index=int(ignore_index), reduction=reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """log_softmax over the class dim (1, or 0 for a 1-D input), then nll_loss with torch's label
    smoothing; a float target of the input's shape holds class probabilities instead of labels."""
    check_same_dtype("cross_entropy", input=input, weight=weight)
    check_tensor("cross_entropy", "target", target, float_only=False)
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    class_dim = 1 if input.ndim >= 2 else 0
    log_probs = log_softmax(input, class_dim)
    if target.dtype.kind == "f":
        return _cross_entropy_probabilities(log_probs, target, weight, reduction, label_smoothing, class_dim)
    _check_labels("cross_entropy", target)
    return ops.NllLoss.apply(log_probs, target, weight, ignore_index=int(ignore_index), reduction=reduction,
                             label_smoothing=float(label_smoothing))


def _cross_entropy_probabilities(log_probs, target, weight, reduction, label_smoothing, class_dim):
    """torch's soft-target rule: loss = -sum_c w_c q_c log p_c with q = (1 - e) target + e / C;
    'mean' divides by the number of positions (not by the weights)."""
    check_same_dtype("cross_entropy", input=log_probs, target=target)
    if tuple(target.shape) != tuple(log_probs.shape):
        raise ValueError(f"cross_entropy: class-probability target must have the input's shape "
                         f"({_describe(input=log_probs, target=target)})")
    classes = log_probs.shape[class_dim]
    if label_smoothing > 0:
        target = target * (1.0 - label_smoothing) + label_smoothing / classes
    terms = log_probs * target
    if weight is not None:
        terms = terms * weight.reshape((classes,) + (1,) * (log_probs.ndim - class_dim - 1))
    losses = -terms.sum(class_dim)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    check_same_dtype("mse_loss", input=input, target=target)
    _check_reduction("mse_loss", reduction)
    if tuple(input.shape) != tuple(target.shape):
        # As torch: broadcast, with a warning, since a (N, 1) vs (N,) mix-up is a common bug.
        try:
            shape = np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
        except ValueError:
            raise ValueError(f"mse_loss: target does not broadcast with the input "
                             f"({_describe(input=input, target=target)})") from None
        warnings.warn(f"mse_loss: using a target size ({tuple(target.shape)}) that is different to the input size "
                      f"({tuple(input.shape)}); they are broadcast to {shape}, which is likely not what you want",
                      UserWarning, stacklevel=2)
        input, target = input.expand(*shape), target.expand(*shape)
    return ops.MseLoss.apply(input, target, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    op = "binary_cross_entropy_with_logits"
    check_same_dtype(op, input=input, target=target, weight=weight, pos_weight=pos_weight)
    _check_reduction(op, reduction)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: target must have the input's shape ({_describe(input=input, target=target)})")

    for name, value in (("weight", weight), ("pos_weight", pos_weight)):
        if value is not None and not _broadcasts_to(tuple(value.shape), tuple(input.shape)):
            raise ValueError(f"{op}: {name} does not broadcast to the input "
                             f"({_describe(input=input, **{name: value})})")
    return ops.BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight, reduction=reduction)


def _broadcasts_to(shape, target_shape) -> bool:
    try:
        return np.broadcast_shapes(shape, target_shape) == target_shape
    except ValueError:
        return False


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(Q K^T * scale + mask) V over (..., L, E) query, (..., S, E) key and (..., S, Ev)
    value, batch dims broadcasting; scale defaults to 1 / sqrt(E). A bool attn_mask marks the
    pairs that take part (True), a float one is added to the scores; both broadcast to (..., L, S).
    Runs on the fused attention kernel, which never holds the (..., L, S) scores. Dropout on the
    weights and batch dims that differ between query, key and value take the path composed from
    our GEMM (matmul) and softmax kernel. On both paths a query with no visible key gets 0 and
    passes no gradient, as torch."""
    op = "scaled_dot_product_attention"
    check_same_dtype(op, query=query, key=key, value=value)
    shapes = _describe(query=query, key=key, value=value)
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise ValueError(f"{op}: query, key and value must be at least 2-D (..., L, E) ({shapes})")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{op}: query has embedding size {query.shape[-1]} but key has {key.shape[-1]} ({shapes})")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{op}: key has {key.shape[-2]} positions but value has {value.shape[-2]} ({shapes})")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1], got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: pass either attn_mask or is_causal=True, not both ({shapes})")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores_shape = tuple(query.shape[:-1]) + (key.shape[-2],)
    fused = (dropout_p == 0.0 and tuple(query.shape[:-2]) == tuple(key.shape[:-2]) == tuple(value.shape[:-2])
             and min(query.numel(), key.numel(), value.numel()) > 0)
    if fused:
        bias = None if attn_mask is None else _attention_bias(op, attn_mask, scores_shape, query.dtype)
        return ops.ScaledDotProductAttention.apply(query, key, value, bias, scale=scale, is_causal=is_causal)
    scores = _matmul(query, key.transpose(-2, -1)) * scale
    if is_causal:
        attn_mask = Tensor._wrap(np.tril(np.ones((query.shape[-2], key.shape[-2]), dtype=bool)))
    visible_rows = None
    if attn_mask is not None:
        bias = _attention_bias(op, attn_mask, tuple(scores.shape), scores.dtype)
        # A query with no visible key (a bias row all -inf) gets 0, as on the fused path and in
        # torch, not softmax's NaN: its row takes a finite bias and its weights are zeroed after
        # the softmax, so no gradient flows through it either.
        hidden = np.isneginf(bias.data).all(axis=-1, keepdims=True)
        if hidden.any():
            bias = ops.Where.apply(Tensor._wrap(hidden), Tensor._wrap(np.zeros((), bias.dtype)), bias)
            visible_rows = Tensor._wrap(np.logical_not(hidden).astype(scores.dtype))
        scores = scores + bias
    weights = softmax(scores, -1)
    if visible_rows is not None:
        weights = weights * visible_rows
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return _matmul(weights, value)


def _attention_bias(op, attn_mask, scores_shape, dtype):
    """The additive form of attn_mask for scores of scores_shape: a bool mask becomes 0 where True
    and -inf where False."""
    check_tensor(op, "attn_mask", attn_mask, float_only=False)
    if not _broadcasts_to(tuple(attn_mask.shape), scores_shape):
        raise ValueError(f"{op}: attn_mask does not broadcast to the attention scores (..., L, S) "
                         f"(attn_mask {tuple(attn_mask.shape)}, scores {scores_shape})")
    if attn_mask.dtype == np.bool_:
        return Tensor._wrap(np.where(attn_mask.data, 0.0, -np.inf).astype(dtype))
    if attn_mask.dtype != dtype:
        raise TypeError(f"{op}: attn_mask must be bool or {dtype}, got {attn_mask.dtype}")
    return attn_mask


# --- recurrent, non-local and graph (csrc/cpu/recurrent.cpp) ----------------------------------------
def check_feature_map(op: str, input, channels: int):
    """input must be a float (B, channels, H, W) Tensor."""
    check_tensor(op, "input", input)
    if input.ndim != 4 or input.shape[1] != channels:
        raise ValueError(f"{op}: input must be (B, {channels}, H, W), got {tuple(input.shape)}")


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
    hidden, cell = ops.Unbind.apply(ops.ConvLSTMGates.apply(gates, cell, peephole), dim=0)
    return hidden, cell


# --- capsules (csrc/cpu/capsule.cpp) ----------------------------------------------------------------
def squash(x, dim=-1, eps=1e-8):
    """Capsule non-linearity (Sabour et al. 2017): |s|^2 / (1 + |s|^2) * s / |s| over `dim`.

    |s| is computed as sqrt(|s|^2 + eps), so short vectors shrink to 0 smoothly and the gradient
    at s = 0 is exactly 0 instead of NaN.
    """
    check_tensor("squash", "input", x)
    return ops.Squash.apply(x, dim=ops.normalize_dim(dim, x.shape, "squash"), eps=float(eps))


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
    _check_labels("margin_loss", target)
    _check_reduction("margin_loss", reduction)
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
