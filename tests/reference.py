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


# --- capsules ------------------------------------------------------------------------------------
def squash_reference(s, axis=-1, eps=1e-8):
    """v = |s|^2 / (1 + |s|^2) * s / |s| per capsule vector, |s| = sqrt(sum s^2 + eps)."""
    moved = np.moveaxis(np.asarray(s, dtype=np.float64), axis, -1)
    out = np.empty_like(moved)
    for index in np.ndindex(moved.shape[:-1]):
        vector = moved[index]
        squared = sum(float(c) * float(c) for c in vector)
        out[index] = squared / (1 + squared) * vector / math.sqrt(squared + eps)
    return np.moveaxis(out, -1, axis)


def squash_vjp_reference(s, grad, axis=-1):
    """J^T grad per vector, J = dv/ds from the radial/tangential split of v = phi(n) s/n with
    phi(n) = n^2 / (1 + n^2): J = n/(1+n^2) (I - u u^T) + 2n/(1+n^2)^2 u u^T, u = s/n."""
    moved_s = np.moveaxis(np.asarray(s, dtype=np.float64), axis, -1)
    moved_g = np.moveaxis(np.asarray(grad, dtype=np.float64), axis, -1)
    out = np.zeros_like(moved_s)
    for index in np.ndindex(moved_s.shape[:-1]):
        vector = moved_s[index]
        norm = math.sqrt(float(vector @ vector))
        if norm == 0:
            continue
        unit = vector / norm
        projector = np.outer(unit, unit)
        jacobian = (norm / (1 + norm ** 2) * (np.eye(len(vector)) - projector)
                    + 2 * norm / (1 + norm ** 2) ** 2 * projector)
        out[index] = jacobian.T @ moved_g[index]
    return np.moveaxis(out, -1, axis)


def margin_loss_reference(lengths, target, m_plus=0.9, m_minus=0.1, lam=0.5):
    """Per-sample losses (N,) of Sabour et al. (2017), eq. 4."""
    losses = np.zeros(lengths.shape[0])
    for n in range(lengths.shape[0]):
        for k in range(lengths.shape[1]):
            if k == target[n]:
                losses[n] += max(0.0, m_plus - lengths[n, k]) ** 2
            else:
                losses[n] += lam * max(0.0, lengths[n, k] - m_minus) ** 2
    return losses


def routing_reference(u, weight, iterations):
    """Procedure 1 of Sabour et al. (2017) with explicit loops. u (B, I, D_in), weight (I, J,
    D_out, D_in) -> (v (B, J, D_out), c (B, I, J) of the last iteration)."""
    batch, in_capsules, _ = u.shape
    out_capsules, out_dim = weight.shape[1], weight.shape[2]
    v = np.zeros((batch, out_capsules, out_dim))
    c = np.zeros((batch, in_capsules, out_capsules))
    for n in range(batch):
        u_hat = np.array([[weight[i, j] @ u[n, i] for j in range(out_capsules)] for i in range(in_capsules)])
        logits = np.zeros((in_capsules, out_capsules))
        for iteration in range(iterations):
            for i in range(in_capsules):
                exps = np.exp(logits[i] - logits[i].max())
                c[n, i] = exps / exps.sum()
            for j in range(out_capsules):
                s = sum(c[n, i, j] * u_hat[i, j] for i in range(in_capsules))
                v[n, j] = squash_reference(s)
            if iteration < iterations - 1:
                for i in range(in_capsules):
                    for j in range(out_capsules):
                        logits[i, j] += u_hat[i, j] @ v[n, j]
    return v, c
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
# --- pooling, batch norm ---------------------------------------------------------------------------
def pooled_size(size, kernel, stride, pad, dilation, ceil_mode):
    """Window count along one dim; with ceil_mode the last window must start inside the input or
    the left padding (torch's rule)."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_windows(x, kernel, stride, padding, dilation, ceil_mode):
    """Yields (oh, ow, taps): taps lists the (ih, iw) inside the input of window (oh, ow), in scan order."""
    H, W = x.shape[-2:]
    OH = pooled_size(H, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    OW = pooled_size(W, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    for oh in range(OH):
        for ow in range(OW):
            taps = [(oh * stride[0] - padding[0] + m * dilation[0], ow * stride[1] - padding[1] + n * dilation[1])
                    for m in range(kernel[0]) for n in range(kernel[1])]
            yield oh, ow, OH, OW, [(i, j) for i, j in taps if 0 <= i < H and 0 <= j < W]


def max_pool2d(x, kernel, stride, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
    """out(i, j) = max over the window; also returns the flat argmax (ih * W + iw), first maximum wins."""
    W = x.shape[-1]
    out, indices = None, None
    for oh, ow, OH, OW, taps in _pool_windows(x, kernel, stride, padding, dilation, ceil_mode):
        if out is None:
            out = np.zeros(x.shape[:-2] + (OH, OW), x.dtype)
            indices = np.zeros(out.shape, np.int64)
        values = np.stack([x[..., i, j] for i, j in taps], axis=-1)
        best = values.argmax(axis=-1)
        out[..., oh, ow] = np.take_along_axis(values, best[..., None], -1)[..., 0]
        indices[..., oh, ow] = np.array([i * W + j for i, j in taps])[best]
    return out, indices


def max_pool2d_backward(grad_output, indices, input_shape):
    """d out / d in = 1 at the argmax: each output's gradient lands on its index."""
    planes = int(np.prod(input_shape[:-2]))
    grad = np.zeros((planes, input_shape[-2] * input_shape[-1]))
    flat_grad, flat_indices = grad_output.reshape(planes, -1), indices.reshape(planes, -1)
    for p in range(planes):
        np.add.at(grad[p], flat_indices[p], flat_grad[p])
    return grad.reshape(input_shape)


def _avg_divisor(oh, ow, taps, x_shape, kernel, stride, padding, count_include_pad, divisor_override):
    if divisor_override:
        return divisor_override
    if not count_include_pad:
        return len(taps)
    H, W = x_shape[-2:]
    h0, w0 = oh * stride[0] - padding[0], ow * stride[1] - padding[1]
    return (min(h0 + kernel[0], H + padding[0]) - h0) * (min(w0 + kernel[1], W + padding[1]) - w0)


def avg_pool2d(x, kernel, stride, padding=(0, 0), ceil_mode=False, count_include_pad=True, divisor_override=None):
    """out(i, j) = sum over the window / D; returns (out, d out / d in as an input-shaped function of grad)."""
    windows = list(_pool_windows(x, kernel, stride, padding, (1, 1), ceil_mode))
    OH, OW = windows[0][2], windows[0][3]
    out = np.zeros(x.shape[:-2] + (OH, OW), x.dtype)
    divisors = {}
    for oh, ow, _, _, taps in windows:
        divisors[oh, ow] = _avg_divisor(oh, ow, taps, x.shape, kernel, stride, padding, count_include_pad,
                                        divisor_override)
        out[..., oh, ow] = sum(x[..., i, j] for i, j in taps) / divisors[oh, ow]

    def backward(grad_output):
        grad = np.zeros(x.shape)
        for oh, ow, _, _, taps in windows:
            for i, j in taps:
                grad[..., i, j] += grad_output[..., oh, ow] / divisors[oh, ow]
        return grad

    return out, backward


def _adaptive_windows(size, out_size):
    return [(o * size // out_size, -(-(o + 1) * size // out_size)) for o in range(out_size)]


def adaptive_pool2d(x, output_size, mode):
    """Window (oh, ow) covers rows [floor(oh H / OH), ceil((oh + 1) H / OH)) and the matching
    columns; mode 'avg' or 'max'. Returns (out, backward(grad_output))."""
    H, W = x.shape[-2:]
    rows, cols = _adaptive_windows(H, output_size[0]), _adaptive_windows(W, output_size[1])
    out = np.zeros(x.shape[:-2] + tuple(output_size), x.dtype)
    masks = {}
    for oh, (h0, h1) in enumerate(rows):
        for ow, (w0, w1) in enumerate(cols):
            window = x[..., h0:h1, w0:w1].reshape(x.shape[:-2] + (-1,))
            if mode == "avg":
                out[..., oh, ow] = window.mean(-1)
                masks[oh, ow] = np.full(window.shape, 1.0 / window.shape[-1])
            else:
                best = window.argmax(-1)
                out[..., oh, ow] = np.take_along_axis(window, best[..., None], -1)[..., 0]
                masks[oh, ow] = (np.arange(window.shape[-1]) == best[..., None]).astype(float)

    def backward(grad_output):
        grad = np.zeros(x.shape)
        for oh, (h0, h1) in enumerate(rows):
            for ow, (w0, w1) in enumerate(cols):
                share = masks[oh, ow] * grad_output[..., oh, ow, None]
                grad[..., h0:h1, w0:w1] += share.reshape(x.shape[:-2] + (h1 - h0, w1 - w0))
        return grad

    return out, backward


def batch_norm(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
    """xhat = (x - mu) / sqrt(var + eps), y = gamma xhat + beta, statistics per channel (dim 1).
    Returns (y, new running mean, new running var, backward(dy) -> (dx, dgamma, dbeta))."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
    count = x.size // x.shape[1]
    if training:
        mu, var = x.mean(axis=axes), x.var(axis=axes)
        new_mean = (1 - momentum) * running_mean + momentum * mu
        new_var = (1 - momentum) * running_var + momentum * var * count / (count - 1)
    else:
        mu, var, new_mean, new_var = running_mean, running_var, running_mean, running_var
    gamma = np.ones(x.shape[1]) if weight is None else weight
    beta = np.zeros(x.shape[1]) if bias is None else bias
    invstd = 1 / np.sqrt(var + eps)
    xhat = (x - mu.reshape(shape)) * invstd.reshape(shape)
    y = gamma.reshape(shape) * xhat + beta.reshape(shape)

    def backward(dy):
        dgamma, dbeta = (dy * xhat).sum(axis=axes), dy.sum(axis=axes)
        scale = (gamma * invstd).reshape(shape)
        if not training:
            return scale * dy, dgamma, dbeta
        dx = scale / count * (count * dy - dbeta.reshape(shape) - xhat * dgamma.reshape(shape))
        return dx, dgamma, dbeta

    return y, new_mean, new_var, backward
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


# --- recurrent, non-local and graph ----------------------------------------------------------------
def conv2d_same(x, weight, bias=None):
    """Stride-1 convolution with torch's 'same' padding (the odd extra row / column at the
    bottom / right)."""
    rows, cols = weight.shape[2] - 1, weight.shape[3] - 1
    return conv2d(x, weight, bias, padding=(rows // 2, rows - rows // 2, cols // 2, cols - cols // 2))


def convlstm_cell(x, h, c, weight, bias=None, peephole=None):
    """Shi et al. 2015's gates, each from its own input and hidden convolutions (weight's rows
    hold W_xi|W_hi, W_xf|W_hf, W_xc|W_hc, W_xo|W_ho; its columns X's channels, then H's)."""
    hidden, channels = h.shape[1], x.shape[1]
    w_ci, w_cf, w_co = peephole if peephole is not None else np.zeros((3,) + h.shape[1:])

    def gate(index):
        rows = slice(index * hidden, (index + 1) * hidden)
        b = None if bias is None else bias[rows]
        return conv2d_same(x, weight[rows, :channels], b) + conv2d_same(h, weight[rows, channels:])

    i = _sigmoid(gate(0) + w_ci * c)
    f = _sigmoid(gate(1) + w_cf * c)
    c_next = f * c + i * np.tanh(gate(2))
    o = _sigmoid(gate(3) + w_co * c_next)
    return o * np.tanh(c_next), c_next


def conv1x1(x, weight, bias=None):
    """out[b, o] = sum_c weight[o, c] x[b, c] (+ bias[o])."""
    out = np.einsum("oc,bchw->bohw", weight[:, :, 0, 0], x)
    return out if bias is None else out + bias[None, :, None, None]


def max_pool_2x2(x):
    B, C, H, W = x.shape
    return x[:, :, :H // 2 * 2, :W // 2 * 2].reshape(B, C, H // 2, 2, W // 2, 2).max(axis=(3, 5))


def non_local(x, mode, g_weight, g_bias, w_weight, w_bias, theta=None, phi=None, concat_weight=None,
              sub_sample=False):
    """Wang et al. 2018: y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j), z = W y + x, with the pairwise
    f and normaliser C of each mode, summed over position pairs (i, j) one at a time.
    theta / phi: (weight, bias) pairs of their 1x1 convolutions (unused for 'gaussian')."""
    B, _, H, W = x.shape
    pool = max_pool_2x2 if sub_sample else (lambda a: a)
    g = pool(conv1x1(x, g_weight, g_bias)).reshape(B, g_weight.shape[0], -1)
    if mode == "gaussian":
        th, ph = x.reshape(B, x.shape[1], -1), pool(x).reshape(B, x.shape[1], -1)
    else:
        th = conv1x1(x, *theta).reshape(B, theta[0].shape[0], -1)
        ph = pool(conv1x1(x, *phi)).reshape(B, phi[0].shape[0], -1)
    N, M = th.shape[2], ph.shape[2]
    y = np.zeros((B, g.shape[1], N))
    for b in range(B):
        for i in range(N):
            f = np.zeros(M)
            for j in range(M):
                if mode in ("gaussian", "embedded_gaussian"):
                    f[j] = np.exp(th[b, :, i] @ ph[b, :, j])
                elif mode == "dot":
                    f[j] = th[b, :, i] @ ph[b, :, j]
                else:
                    f[j] = max(concat_weight @ np.concatenate([th[b, :, i], ph[b, :, j]]), 0.0)
            normaliser = f.sum() if mode in ("gaussian", "embedded_gaussian") else M
            y[b, :, i] = (f[None, :] * g[b]).sum(axis=1) / normaliser
    return conv1x1(y.reshape(B, -1, H, W), w_weight, w_bias) + x


def grid_adjacency(h, w, self_loops=True):
    """D^-1/2 (A [+ I]) D^-1/2 of the 4-neighbour h x w grid, built pixel by pixel."""
    n = h * w
    adjacency = np.eye(n) if self_loops else np.zeros((n, n))
    for r in range(h):
        for c in range(w):
            for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                if 0 <= r + dr < h and 0 <= c + dc < w:
                    adjacency[r * w + c, (r + dr) * w + c + dc] = 1
    degree = adjacency.sum(axis=1)
    return np.array([[adjacency[i, j] / np.sqrt(degree[i] * degree[j]) if adjacency[i, j] else 0.0
                      for j in range(n)] for i in range(n)])


def graph_conv(x, adjacency, weight, bias=None):
    """out[i] = sum_j A[i, j] (W x[j]) (+ b), node by node."""
    out = np.zeros(x.shape[:-1] + (weight.shape[0],))
    for i in range(x.shape[-2]):
        for j in range(x.shape[-2]):
            out[..., i, :] += adjacency[..., i, j, None] * (x[..., j, :] @ weight.T)
    return out if bias is None else out + bias


# --- fused attention -------------------------------------------------------------------------------
def attention_grads(query, key, value, grad_output, mask=None, scale=None):
    """(dQ, dK, dV, dmask) of attention(query, key, value, mask, scale) for the output gradient g,
    by the chain rule through each factor of O = P V, P = softmax(S), S = Q K^T scale + mask:
    dV = P^T g, dP = g V^T, dS_ij = P_ij (dP_ij - sum_k P_ik dP_ik), dQ = scale dS K,
    dK = scale dS^T Q, and dmask = dS summed over the dims the mask was broadcast along."""
    scale = 1 / np.sqrt(query.shape[-1]) if scale is None else scale
    scores = query @ np.swapaxes(key, -1, -2) * scale
    if mask is not None:
        scores = scores + (np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask)
    p = softmax(scores, -1)
    grad_p = grad_output @ np.swapaxes(value, -1, -2)
    grad_scores = p * (grad_p - (p * grad_p).sum(axis=-1, keepdims=True))
    grad_mask = None
    if mask is not None and mask.dtype != bool:
        extra = grad_scores.ndim - mask.ndim
        grad_mask = grad_scores.sum(axis=tuple(range(extra)))
        grad_mask = grad_mask.sum(axis=tuple(i for i, n in enumerate(mask.shape) if n == 1), keepdims=True)
    return (grad_scores @ key * scale, np.swapaxes(grad_scores, -1, -2) @ query * scale,
            np.swapaxes(p, -1, -2) @ grad_output, grad_mask)
