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


# --- attention on feature maps (SelfAttention2d) -----------------------------------------------------
def self_attention_2d(x, query_weight, query_bias, key_weight, key_bias, value_weight, value_bias, gamma, heads):
    """SAGAN self-attention written per position: q_i = Wq x_i + bq (1x1 convolution), likewise k
    and v; each head h attends with its slice of channels,
    a_h(i, j) = softmax_j(q_i,h . k_j,h / sqrt(d)), o_i,h = sum_j a_h(i, j) v_j,h;
    output = gamma * o + x. Returns (output, attention weights (B, heads, HW, HW))."""
    batch, channels, height, width = x.shape
    positions = x.reshape(batch, channels, height * width)
    query = np.einsum("oc,bcp->bop", query_weight, positions) + query_bias[None, :, None]
    key = np.einsum("oc,bcp->bop", key_weight, positions) + key_bias[None, :, None]
    value = np.einsum("oc,bcp->bop", value_weight, positions) + value_bias[None, :, None]
    head_dim, value_dim = query.shape[1] // heads, channels // heads
    output = np.zeros_like(positions)
    weights = np.zeros((batch, heads, height * width, height * width))
    for b in range(batch):
        for h in range(heads):
            q = query[b, h * head_dim:(h + 1) * head_dim]
            k = key[b, h * head_dim:(h + 1) * head_dim]
            v = value[b, h * value_dim:(h + 1) * value_dim]
            for i in range(height * width):
                scores = np.array([np.dot(q[:, i], k[:, j]) for j in range(height * width)]) / math.sqrt(head_dim)
                probabilities = np.exp(scores - scores.max())
                probabilities /= probabilities.sum()
                weights[b, h, i] = probabilities
                output[b, h * value_dim:(h + 1) * value_dim, i] = v @ probabilities
    return gamma * output.reshape(x.shape) + x, weights
