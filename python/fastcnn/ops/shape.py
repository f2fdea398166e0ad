"""Views and data movement: reshape, permute, expand, cat, stack, split, unbind, indexing, padding.

Results are made contiguous with np.asarray(..., order="C"), not np.ascontiguousarray, which
returns at least 1-D: x[0] of a 1-D x would come out of shape (1,) instead of ().
"""
from __future__ import annotations

import math

import numpy as np

from ..tensor import Function
from ._registry import register


def normalize_dim(dim, shape, op: str, *, new_dim: bool = False, scalar_ok: bool = True) -> int:
    """dim as an index into shape, by torch's rule: -ndim <= dim < ndim, a 0-d tensor counting
    as 1-D unless scalar_ok is False (select, unbind need a real dim), and new_dim (unsqueeze,
    stack: a position for a new dim) also allowing ndim. Every op that takes a dim checks it
    here: taking it modulo ndim instead would silently pick another dim."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {dim!r} (input {tuple(shape)})")
    ndim = len(shape)
    if ndim == 0 and not scalar_ok:
        raise IndexError(f"{op}: dimension specified as {dim} but tensor has no dimensions (input ())")
    positions = ndim + 1 if new_dim else max(ndim, 1)
    if not -positions <= dim < positions:
        raise IndexError(f"{op}: dimension out of range (expected to be in range of [{-positions}, {positions - 1}], "
                         f"but got {dim}) (input {tuple(shape)})")
    return int(dim) % positions


def normalize_dims(dim, shape, op: str):
    """None -> all dims; an int or a sequence of them -> a sorted tuple of non-negative dims
    (empty for a 0-d tensor), each checked by normalize_dim. An empty sequence means all dims,
    as in torch."""
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        return tuple(range(len(shape)))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    normalized = [normalize_dim(d, shape, op) for d in dims]
    for position, d in enumerate(normalized):
        if d in normalized[:position]:
            raise ValueError(f"{op}: dim {d} appears multiple times in the list of dims {dims} (input {tuple(shape)})")
    return tuple(sorted(normalized)) if shape else ()


def _resolve_shape(shape, size, op, input_shape):
    # math.prod on Python ints: exact, and ~10x cheaper than np.prod on the batch-1 inference path.
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise ValueError(f"{op}: only one dimension can be -1, got {shape}")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if known == 0 or size % known:
            raise ValueError(f"{op}: shape {shape} is invalid for input of size {size} (input {input_shape})")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if math.prod(shape) != size:
        raise ValueError(f"{op}: shape {shape} is invalid for input of size {size} (input {input_shape})")
    return shape


@register("reshape")
class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(_resolve_shape(shape, a.size, "reshape", a.shape))

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


@register("permute")
class Permute(Function):
    """Kernels want C-contiguous data, so the permuted result is materialised once here."""

    @staticmethod
    def forward(ctx, a, dims):
        given, dims = dims, tuple(normalize_dim(d, a.shape, "permute") for d in dims)
        if sorted(dims) != list(range(a.ndim)):
            raise ValueError(f"permute: dims {given} are not a permutation of {a.ndim} dims (input {a.shape})")
        ctx.inverse = tuple(np.argsort(dims))
        return np.asarray(a.transpose(dims), order="C")

    @staticmethod
    def backward(ctx, grad):
        return np.asarray(grad.transpose(ctx.inverse), order="C")


@register("expand")
class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        shape = tuple(a.shape[i - (len(shape) - a.ndim)] if s == -1 else s for i, s in enumerate(shape))
        try:
            out = np.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(f"expand: input of shape {a.shape} cannot be expanded to {shape}") from None
        ctx.shape = a.shape
        return np.asarray(out, order="C")

    @staticmethod
    def backward(ctx, grad):
        from .elementwise import unbroadcast
        return unbroadcast(grad, ctx.shape)


@register("cat")
class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        if not arrays:
            raise ValueError("cat: expected a non-empty sequence of tensors")
        for position, a in enumerate(arrays):
            if a.ndim == 0:  # no dim to join along, as in torch (stack gives 0-d tensors one)
                raise ValueError(f"cat: zero-dimensional tensor (at position {position}) cannot be concatenated "
                                 f"(tensors {tuple(array.shape for array in arrays)})")
        ndim = arrays[0].ndim
        dim = normalize_dim(dim, arrays[0].shape, "cat")
        for i, a in enumerate(arrays):
            if a.ndim != ndim or any(a.shape[d] != arrays[0].shape[d] for d in range(ndim) if d != dim):
                raise ValueError(f"cat: tensor {i} has shape {a.shape} but tensor 0 has {arrays[0].shape} "
                                 f"(all dims but dim={dim} must match)")
        ctx.dim = dim
        ctx.splits = np.cumsum([a.shape[dim] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        return (None,) + tuple(np.asarray(g, order="C") for g in np.split(grad, ctx.splits, axis=ctx.dim))


@register("stack")
class Stack(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        if not arrays:
            raise ValueError("stack: expected a non-empty sequence of tensors")
        for i, a in enumerate(arrays):
            if a.shape != arrays[0].shape:
                raise ValueError(f"stack: tensor {i} has shape {a.shape} but tensor 0 has {arrays[0].shape}")
        ctx.dim = normalize_dim(dim, arrays[0].shape, "stack", new_dim=True)
        return np.stack(arrays, axis=ctx.dim)

    @staticmethod
    def backward(ctx, grad):
        return (None,) + tuple(np.asarray(np.take(grad, i, axis=ctx.dim), order="C") for i in range(grad.shape[ctx.dim]))


@register("split")
class Split(Function):
    """a cut along dim into consecutive pieces of the given sizes, as a tuple of arrays. The
    backward concatenates the pieces' gradients (zeros for a piece that got none) into the one
    gradient of a, where indexing each piece would allocate an input-sized gradient per piece."""

    @staticmethod
    def forward(ctx, a, sizes, dim=0):
        ctx.dim = normalize_dim(dim, a.shape, "split", scalar_ok=False)
        if sum(sizes) != a.shape[ctx.dim] or min(sizes) < 0:
            raise ValueError(f"split: sections {list(sizes)} are not sizes that add up to {a.shape[ctx.dim]} "
                             f"(dim {ctx.dim}, input {a.shape})")
        pieces = np.split(a, np.cumsum(sizes)[:-1], axis=ctx.dim)
        ctx.shapes = [piece.shape for piece in pieces]
        return tuple(np.asarray(piece, order="C") for piece in pieces)

    @staticmethod
    def backward(ctx, grads):
        dtype = next(grad.dtype for grad in grads if grad is not None)
        return np.concatenate([np.zeros(shape, dtype) if grad is None else grad
                               for grad, shape in zip(grads, ctx.shapes)], axis=ctx.dim)


@register("unbind")
class Unbind(Function):
    """The slices of a along dim, that dim removed, as a tuple of arrays (torch.unbind). The
    backward stacks the slices' gradients (zeros for a slice that got none) into the one
    gradient of a: a loop over time steps (ConvLSTM) writes its input's gradient once, where
    indexing every step would allocate an input-sized gradient per step."""

    @staticmethod
    def forward(ctx, a, dim=0):
        ctx.dim = normalize_dim(dim, a.shape, "unbind", scalar_ok=False)
        ctx.slice_shape = a.shape[:ctx.dim] + a.shape[ctx.dim + 1:]
        return tuple(np.asarray(piece, order="C") for piece in np.moveaxis(a, ctx.dim, 0))

    @staticmethod
    def backward(ctx, grads):
        dtype = next(grad.dtype for grad in grads if grad is not None)
        zeros = np.zeros(ctx.slice_shape, dtype) if any(grad is None for grad in grads) else None
        return np.stack([zeros if grad is None else grad for grad in grads], axis=ctx.dim)


@register("index")
class Index(Function):
    """a[key] for basic and advanced keys; the backward scatters with np.add.at so repeated
    indices accumulate."""

    @staticmethod
    def forward(ctx, a, key):
        ctx.shape, ctx.dtype, ctx.key = a.shape, a.dtype, key
        try:
            return np.asarray(a[key], order="C")
        except IndexError as error:
            raise IndexError(f"index: {error} (input {a.shape})") from None

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros(ctx.shape, dtype=grad.dtype)
        if _is_basic_key(ctx.key):
            out[ctx.key] = grad  # a basic key selects each element at most once: no accumulation needed
        else:
            np.add.at(out, ctx.key, grad)
        return out


def _is_basic_key(key) -> bool:
    parts = key if isinstance(key, tuple) else (key,)
    return all(part is None or part is Ellipsis or isinstance(part, (int, np.integer, slice)) for part in parts)


@register("pad")
class Pad(Function):
    """Constant padding; `pad` lists (before, after) pairs from the last dim backwards, as F.pad."""

    @staticmethod
    def forward(ctx, a, pad, value=0.0):
        if len(pad) % 2 or len(pad) // 2 > a.ndim:
            raise ValueError(f"pad: padding {tuple(pad)} must have an even length of at most {2 * a.ndim} (input {a.shape})")
        widths = [(0, 0)] * a.ndim
        for i in range(len(pad) // 2):
            widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
        if any(w < 0 for pair in widths for w in pair):
            raise ValueError(f"pad: negative padding {tuple(pad)} is not supported (input {a.shape})")
        ctx.slices = tuple(slice(before, before + n) for (before, _), n in zip(widths, a.shape))
        return np.pad(a, widths, constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        return np.asarray(grad[ctx.slices], order="C")
