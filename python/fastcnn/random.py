"""The global random state behind fastcnn.manual_seed, random factories, initialisers and dropout."""
from __future__ import annotations

import numpy as np

from .tensor import Tensor, _as_dtype, float32

_generator = np.random.default_rng(0)


def manual_seed(seed: int):
    """Seeds every random draw fastcnn makes (init, dropout, shuffling), for reproducible runs."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    return _generator


def next_seed() -> int:
    """A fresh 63-bit seed for a native kernel's counter-based generator (dropout)."""
    return int(_generator.integers(0, 2**63 - 1))


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def _wrap(values, dtype, requires_grad):
    result = Tensor._wrap(values.astype(_as_dtype(dtype) or float32, copy=False))
    return result.requires_grad_(True) if requires_grad else result


def randn(*size, dtype=None, requires_grad=False):
    return _wrap(_generator.standard_normal(_shape(size)), dtype, requires_grad)


def rand(*size, dtype=None, requires_grad=False):
    return _wrap(_generator.random(_shape(size)), dtype, requires_grad)


def randint(low, high=None, size=(), dtype=None):
    if high is None:
        low, high = 0, low
    return Tensor._wrap(_generator.integers(low, high, size=_shape((size,))).astype(_as_dtype(dtype) or np.int64))


def randperm(n, dtype=None):
    return Tensor._wrap(_generator.permutation(n).astype(_as_dtype(dtype) or np.int64))


def randn_like(input, dtype=None):
    return randn(input.shape, dtype=dtype or input.dtype)


def rand_like(input, dtype=None):
    return rand(input.shape, dtype=dtype or input.dtype)
