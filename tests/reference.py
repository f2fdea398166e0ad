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


# --- convolution ---------------------------------------------------------------------------------
# Output(i, j, k) = sum_m sum_n sum_c Input(i*s + m*d, j*s + n*d, c) Filter(m, n, c, k) + Bias(k)
# over the zero-padded input (seed, "Convolutional Layer" with stride s and dilation d), c running
# over the channels of k's group. The derivatives are the seed's: d/dInput = Filter at the tap
# that read it, d/dFilter = the Input it read, d/dBias = 1.
def _window(i, j, stride, dilation, kernel):
    return (slice(i * stride[0], i * stride[0] + dilation[0] * (kernel[0] - 1) + 1, dilation[0]),
            slice(j * stride[1], j * stride[1] + dilation[1] * (kernel[1] - 1) + 1, dilation[1]))


def conv2d(x, weight, bias, grad_output=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Returns the output and, given grad_output, (grad_input, grad_weight, grad_bias).
    padding is (top, bottom, left, right)."""
    top, bottom, left, right = padding
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    channels_out, channels_per_group, kernel = weight.shape[0], weight.shape[1], weight.shape[2:]
    out_per_group = channels_out // groups
    P = (padded.shape[2] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    Q = (padded.shape[3] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    output = np.zeros((x.shape[0], channels_out, P, Q))
    grad_padded, grad_weight = np.zeros_like(padded), np.zeros_like(weight)
    for i in range(P):
        for j in range(Q):
            rows, cols = _window(i, j, stride, dilation, kernel)
            for k in range(channels_out):
                c = slice(k // out_per_group * channels_per_group, (k // out_per_group + 1) * channels_per_group)
                patch = padded[:, c, rows, cols]
                output[:, k, i, j] = (patch * weight[k]).sum(axis=(1, 2, 3)) + (bias[k] if bias is not None else 0)
                if grad_output is not None:
                    g = grad_output[:, k, i, j][:, None, None, None]
                    grad_padded[:, c, rows, cols] += g * weight[k]
                    grad_weight[k] += (g * patch).sum(axis=0)
    if grad_output is None:
        return output
    grad_input = grad_padded[:, :, top:top + x.shape[2], left:left + x.shape[3]]
    return output, (grad_input, grad_weight, grad_output.sum(axis=(0, 2, 3)))


# Transposed convolution: every input pixel (i, j) of channel c scatters Input(i, j, c) Filter(c, m, n, k)
# to output (i*s + m*d - padding, j*s + n*d - padding, k); output_padding adds rows / columns at the
# bottom / right. The derivatives follow from the same sum.
def conv_transpose2d(x, weight, bias, grad_output=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                     dilation=(1, 1), groups=1):
    channels_in, out_per_group, kernel = weight.shape[0], weight.shape[1], weight.shape[2:]
    in_per_group = channels_in // groups
    H, W = x.shape[2:]
    full = [(size - 1) * s + d * (k - 1) + 1 + extra
            for size, s, d, k, extra in zip((H, W), stride, dilation, kernel, output_padding)]
    P, Q = full[0] - 2 * padding[0], full[1] - 2 * padding[1]
    crop = (slice(None), slice(None), slice(padding[0], padding[0] + P), slice(padding[1], padding[1] + Q))
    padded = np.zeros((x.shape[0], out_per_group * groups, full[0], full[1]))
    grad_padded = None
    if grad_output is not None:
        grad_padded = np.zeros_like(padded)
        grad_padded[crop] = grad_output
    grad_input, grad_weight = np.zeros_like(x), np.zeros_like(weight)
    for i in range(H):
        for j in range(W):
            rows, cols = _window(i, j, stride, dilation, kernel)
            for c in range(channels_in):
                k = slice(c // in_per_group * out_per_group, (c // in_per_group + 1) * out_per_group)
                padded[:, k, rows, cols] += x[:, c, i, j][:, None, None, None] * weight[c]
                if grad_padded is not None:
                    g = grad_padded[:, k, rows, cols]
                    grad_input[:, c, i, j] = (g * weight[c]).sum(axis=(1, 2, 3))
                    grad_weight[c] += (x[:, c, i, j][:, None, None, None] * g).sum(axis=0)
    output = padded[crop] + (bias[None, :, None, None] if bias is not None else 0)
    if grad_output is None:
        return output
    return output, (grad_input, grad_weight, grad_output.sum(axis=(0, 2, 3)))


# --- linear algebra ------------------------------------------------------------------------------
# C[i][j] = sum_k A[i][k] B[k][j], written as the sum over k (independent of the GEMM's blocking).
def matmul_2d(a, b):
    return sum(np.outer(a[:, k], b[k, :]) for k in range(a.shape[1])) if a.shape[1] else np.zeros((a.shape[0], b.shape[1]))
