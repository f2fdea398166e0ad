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
