"""Plain NumPy references written straight from the formulas in the seed
(../shared/seed/innovative-layers.md): loops and sums over the index sets the formulas name,
deliberately independent of the kernels' algorithms. Each family adds its section."""
from __future__ import annotations

import math

import numpy as np


# --- activation ----------------------------------------------------------------------------------
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


_erf = np.vectorize(math.erf)

ACTIVATIONS = {
    # name: (f(x), f'(x))
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(x.dtype)),
    "relu6": (lambda x: np.minimum(np.maximum(x, 0), 6), lambda x: ((x > 0) & (x < 6)).astype(x.dtype)),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), lambda x: np.where(x > 0, 1.0, 0.01)),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x))),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "gelu": (lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
             lambda x: 0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)),
    "silu": (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
}


# --- softmax, losses and attention ----------------------------------------------------------------
def softmax(x, dim, log=False):
    """softmax_i = exp(x_i - m) / sum_j exp(x_j - m) along dim (log: its logarithm); a 0-d x is
    one element, as in torch."""
    if x.ndim == 0:
        return softmax(x.reshape(1), 0, log).reshape(())
    shifted = x - x.max(axis=dim, keepdims=True)
    total = np.exp(shifted).sum(axis=dim, keepdims=True)
    return shifted - np.log(total) if log else np.exp(shifted) / total


def softmax_grad(x, grad_output, dim, log=False):
    """dL/dx through the full Jacobian of each slice along dim: d softmax_i / d x_j = y_i (delta_ij - y_j),
    d log_softmax_i / d x_j = delta_ij - y_j."""
    if x.ndim == 0:
        return softmax_grad(x.reshape(1), grad_output.reshape(1), 0, log).reshape(())
    y = np.moveaxis(softmax(x, dim), dim, -1)
    g = np.moveaxis(grad_output, dim, -1)
    eye = np.eye(y.shape[-1])
    jacobian = eye - y[..., None, :] if log else y[..., :, None] * (eye - y[..., None, :])
    return np.moveaxis(np.einsum("...i,...ij->...j", g, jacobian), -1, dim)


def _reduce(losses, reduction, denominator):
    if reduction == "none":
        return losses
    return losses.sum() / denominator if reduction == "mean" else losses.sum()


def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """loss_p = -(1 - e) w_t lp_t - (e / C) sum_c w_c lp_c per position p of an (N, C, ...) input;
    'mean' divides by the summed w_t of the non-ignored positions."""
    classes = log_probs.shape[1]
    weight = np.ones(classes) if weight is None else weight
    lp = np.moveaxis(log_probs, 1, -1).reshape(-1, classes)
    labels = target.reshape(-1)
    losses, total_weight = np.zeros(len(labels)), 0.0
    for p, t in enumerate(labels):
        if t == ignore_index:
            continue
        smooth = sum(weight[c] * lp[p, c] for c in range(classes))
        losses[p] = -(1 - label_smoothing) * weight[t] * lp[p, t] - label_smoothing / classes * smooth
        total_weight += weight[t]
    return _reduce(losses.reshape(target.shape), reduction, total_weight)


def cross_entropy(logits, target, **options):
    return nll_loss(softmax(logits, 1, log=True), target, **options)


def cross_entropy_probabilities(logits, target, weight=None, reduction="mean", label_smoothing=0.0):
    """loss = -sum_c w_c q_c log p_c, q = (1 - e) target + e / C; 'mean' averages over positions."""
    classes = logits.shape[1]
    q = target * (1 - label_smoothing) + label_smoothing / classes
    w = (np.ones(classes) if weight is None else weight).reshape((classes,) + (1,) * (logits.ndim - 2))
    losses = -(w * q * softmax(logits, 1, log=True)).sum(axis=1)
    return _reduce(losses, reduction, losses.size)


def mse_loss(x, target, reduction="mean"):
    return _reduce((x - target) ** 2, reduction, x.size)


def bce_with_logits(x, target, weight=None, pos_weight=None, reduction="mean"):
    """loss = -w [q t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))]."""
    sigmoid = 1 / (1 + np.exp(-x))
    q = 1.0 if pos_weight is None else pos_weight
    losses = -(q * target * np.log(sigmoid) + (1 - target) * np.log(1 - sigmoid))
    return _reduce(losses if weight is None else weight * losses, reduction, x.size)


def attention(query, key, value, mask=None, scale=None):
    """softmax(Q K^T scale + bias) V; a bool mask keeps the True pairs."""
    scale = 1 / np.sqrt(query.shape[-1]) if scale is None else scale
    scores = query @ np.swapaxes(key, -1, -2) * scale
    if mask is not None:
        scores = scores + (np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask)
    return softmax(scores, -1) @ value
