"""torch-level functions (fastcnn.cat, fastcnn.exp, ...) and the Tensor methods built on them.

Each function normalises its arguments and applies one op from `fastcnn.ops`; the table at the
bottom attaches them to Tensor as methods and operators, so `a + b`, `a.sum(1)` and
`fastcnn.sum(a, 1)` are the same code.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from . import ops
from .tensor import Tensor, _as_dtype, _index_key, float32


def _tensor_arg(value, like: Tensor | None = None):
    """A Tensor stays; a Python or NumPy scalar/array becomes a constant (float scalars keep the
    other operand's dtype, as torch's type promotion does)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float, bool)) and like is not None and like.dtype.kind == "f":
        return like.dtype.type(value)
    return value if np.isscalar(value) else np.asarray(value)


def _binary(function_class, a, b):
    if not isinstance(a, Tensor):
        reference = b if isinstance(b, Tensor) else None
        a = _tensor_arg(a, reference)
        if not isinstance(a, Tensor):
            a = Tensor._wrap(np.asarray(a))
    return function_class.apply(a, _tensor_arg(b, a))


def add(input, other, alpha=1):
    return _binary(ops.Add, input, other if alpha == 1 else other * alpha)


def sub(input, other, alpha=1):
    return _binary(ops.Sub, input, other if alpha == 1 else other * alpha)


def mul(input, other):
    return _binary(ops.Mul, input, other)


def div(input, other):
    return _binary(ops.Div, input, other)


def pow(input, exponent):
    return _binary(ops.Pow, input, exponent)


def maximum(input, other):
    return _binary(ops.Maximum, input, other)


def minimum(input, other):
    return -maximum(-input, -other)


def neg(input):
    return ops.Neg.apply(input)


def exp(input):
    return ops.Exp.apply(input)


def log(input):
    return ops.Log.apply(input)


def sqrt(input):
    return ops.Sqrt.apply(input)


def abs(input):
    return ops.Abs.apply(input)


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return ops.Clamp.apply(input, min=min, max=max)


def where(condition, input, other):
    condition = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {condition.dtype}")
    like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else None
    return ops.Where.apply(Tensor._wrap(condition), _tensor_arg(input, like), _tensor_arg(other, like))


def sum(input, dim=None, keepdim=False):
    return ops.Sum.apply(input, dim=dim, keepdim=keepdim)


def mean(input, dim=None, keepdim=False):
    return ops.Mean.apply(input, dim=dim, keepdim=keepdim)


def var(input, dim=None, unbiased=True, keepdim=False, correction=None):
    correction = (1 if unbiased else 0) if correction is None else correction
    return ops.Var.apply(input, dim=dim, correction=correction, keepdim=keepdim)


def std(input, dim=None, unbiased=True, keepdim=False, correction=None):
    ops.normalize_dims(dim, input.shape, "std")  # so that a bad dim names std, not var
    return sqrt(var(input, dim, unbiased, keepdim, correction))


def _extremum(function_class, arg_function, input, dim, keepdim):
    values = function_class.apply(input, dim=dim, keepdim=keepdim)
    if dim is None:
        return values
    return MinMaxResult((values, _arg_extremum(function_class.op_name, arg_function, input, dim, keepdim)))


class MinMaxResult(tuple):
    """(values, indices), as torch.return_types.max."""

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])


def max(input, dim=None, keepdim=False):
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    return _extremum(ops.Max, np.argmax, input, dim, keepdim)


def min(input, dim=None, keepdim=False):
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    return _extremum(ops.Min, np.argmin, input, dim, keepdim)


def amax(input, dim=None, keepdim=False):
    return ops.Amax.apply(input, dim=dim, keepdim=keepdim)


def amin(input, dim=None, keepdim=False):
    return ops.Amin.apply(input, dim=dim, keepdim=keepdim)


def _arg_extremum(op, arg_function, input, dim, keepdim):
    # NumPy's keepdims keeps what torch keeps: the result of a 0-d input stays 0-d, and with dim
    # None every dim stays, of size 1.
    if dim is not None:
        dim = ops.normalize_dim(dim, input.shape, op)
    ops.check_extremum_dims(op, input.shape, dim, () if dim is None else (dim,), no_dim_error=IndexError)
    return Tensor._wrap(np.asarray(arg_function(input.data, axis=dim, keepdims=keepdim), dtype=np.int64))


def argmax(input, dim=None, keepdim=False):
    return _arg_extremum("argmax", np.argmax, input, dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return _arg_extremum("argmin", np.argmin, input, dim, keepdim)


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(input, *shape):
    return ops.Reshape.apply(input, shape=_shape_args(shape))


def flatten(input, start_dim=0, end_dim=-1):
    dims = input.data.shape
    start, end = ops.normalize_dim(start_dim, dims, "flatten"), ops.normalize_dim(end_dim, dims, "flatten")
    if not dims:
        return reshape(input, 1)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (input {dims})")
    return reshape(input, dims[:start] + (math.prod(dims[start:end + 1]),) + dims[end + 1:])


def permute(input, *dims):
    return ops.Permute.apply(input, dims=_shape_args(dims))


def transpose(input, dim0, dim1):
    dim0, dim1 = ops.normalize_dim(dim0, input.shape, "transpose"), ops.normalize_dim(dim1, input.shape, "transpose")
    if input.ndim == 0:  # a new tensor in the graph, as torch's view is
        return reshape(input, ())
    dims = list(range(input.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(input, dims)


def unsqueeze(input, dim):
    dim = ops.normalize_dim(dim, input.shape, "unsqueeze", new_dim=True)
    return reshape(input, input.shape[:dim] + (1,) + input.shape[dim:])


def squeeze(input, dim=None):
    """input without its dims of size 1: all of them, or those among dim, an int or (torch 2.x) a
    tuple of ints, where an empty tuple names none. Always a new tensor in the graph, as torch's
    view, even when nothing is squeezed."""
    shape = input.data.shape
    if dim is None:
        return reshape(input, tuple(n for n in shape if n != 1))
    if isinstance(dim, (tuple, list)):
        dims = ops.normalize_dims(dim, shape, "squeeze") if dim else ()
    else:
        dims = (ops.normalize_dim(dim, shape, "squeeze"),)
    kept = tuple(n for d, n in enumerate(shape) if n != 1 or d not in dims)
    return reshape(input, kept)


def cat(tensors, dim=0):
    return ops.Cat.apply(dim, *tensors)


concat = cat


def stack(tensors, dim=0):
    return ops.Stack.apply(dim, *tensors)


def split(input, split_size_or_sections, dim=0):
    """Pieces of split_size_or_sections along dim (the last one shorter when the size does not
    divide), or pieces of the listed sizes: one op, whose backward writes one gradient."""
    dim = ops.normalize_dim(dim, input.shape, "split", scalar_ok=False)
    size = input.shape[dim]
    if isinstance(split_size_or_sections, (int, np.integer)):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        step = int(split_size_or_sections)
        sizes = tuple(builtins.min(step, size - begin) for begin in range(0, size, step)) or (0,)
    else:
        sizes = tuple(int(s) for s in split_size_or_sections)
    return ops.Split.apply(input, sizes=sizes, dim=dim)


def chunk(input, chunks, dim=0):
    dim = ops.normalize_dim(dim, input.shape, "chunk", scalar_ok=False)
    size = input.shape[dim]
    return split(input, -(-size // chunks) if size else [0] * chunks, dim)


def unbind(input, dim=0):
    """The slices along dim, that dim removed: one op, whose backward writes one gradient."""
    return ops.Unbind.apply(input, dim=dim)


def select(input, dim, index):
    key = [slice(None)] * input.ndim
    key[ops.normalize_dim(dim, input.shape, "select", scalar_ok=False)] = index
    return input[tuple(key)]


def expand(input, *shape):
    return ops.Expand.apply(input, shape=_shape_args(shape))


def _getitem(input, key):
    return ops.Index.apply(input, key=_index_key(key))


def matmul(input, other):
    from .nn import functional as F
    return F._matmul(input, other)


# --- factories -------------------------------------------------------------------------------
def tensor(data, dtype=None, requires_grad=False):
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(data, dtype=None):
    if isinstance(data, Tensor) and (dtype is None or _as_dtype(dtype) == data.dtype):
        return data
    return Tensor(data, dtype=dtype)


def from_numpy(array):
    return Tensor(array)


def _factory(fill, size, dtype, requires_grad):
    result = Tensor._wrap(fill(_shape_args(size), _as_dtype(dtype) or float32))
    return result.requires_grad_(True) if requires_grad else result


def zeros(*size, dtype=None, requires_grad=False):
    return _factory(np.zeros, size, dtype, requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return _factory(np.ones, size, dtype, requires_grad)


def empty(*size, dtype=None, requires_grad=False):
    return _factory(np.zeros, size, dtype, requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    return _factory(lambda shape, dt: np.full(shape, fill_value, dt), (size,), dtype, requires_grad)


def zeros_like(input, dtype=None, requires_grad=False):
    return zeros(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def ones_like(input, dtype=None, requires_grad=False):
    return ones(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None):
    return full(input.shape, fill_value, dtype=dtype or input.dtype)


def arange(start, end=None, step=1, dtype=None):
    if end is None:
        start, end = 0, start
    values = np.arange(start, end, step)
    return Tensor(values, dtype=dtype) if dtype is not None or values.dtype.kind != "f" else Tensor(values.astype(float32))


def linspace(start, end, steps, dtype=None):
    return Tensor(np.linspace(start, end, steps), dtype=dtype or float32)


def eye(n, m=None, dtype=None):
    return Tensor._wrap(np.eye(n, m, dtype=_as_dtype(dtype) or float32))


# --- Tensor methods and operators ------------------------------------------------------------
def _reflected(function):
    return lambda self, other: function(other, self)


def _view(self, *shape):
    return reshape(self, *shape)


TENSOR_METHODS = {
    "__add__": add, "__radd__": _reflected(add), "__sub__": sub, "__rsub__": _reflected(sub),
    "__mul__": mul, "__rmul__": _reflected(mul), "__truediv__": div, "__rtruediv__": _reflected(div),
    "__pow__": pow, "__rpow__": _reflected(pow), "__neg__": neg, "__matmul__": matmul,
    "__rmatmul__": _reflected(matmul), "__getitem__": _getitem, "__abs__": abs,
    "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "neg": neg, "exp": exp, "log": log,
    "sqrt": sqrt, "abs": abs, "clamp": clamp, "clip": clamp, "maximum": maximum, "minimum": minimum,
    "sum": sum, "mean": mean, "var": var, "std": std, "max": max, "min": min, "amax": amax, "amin": amin,
    "argmax": argmax, "argmin": argmin, "reshape": reshape, "view": _view, "flatten": flatten,
    "permute": permute, "transpose": transpose, "unsqueeze": unsqueeze, "squeeze": squeeze,
    "split": split, "chunk": chunk, "unbind": unbind, "select": select, "expand": expand, "matmul": matmul,
}


def _comparison(ufunc):
    def compare(self, other):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(np.asarray(ufunc(self.data, other)))
    return compare


for _name, _ufunc in {"__eq__": np.equal, "__ne__": np.not_equal, "__lt__": np.less, "__le__": np.less_equal,
                      "__gt__": np.greater, "__ge__": np.greater_equal, "eq": np.equal, "ne": np.not_equal,
                      "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                      "__and__": np.logical_and, "__or__": np.logical_or}.items():
    TENSOR_METHODS[_name] = _comparison(_ufunc)
TENSOR_METHODS["__invert__"] = lambda self: Tensor._wrap(np.logical_not(self.data))
TENSOR_METHODS["__hash__"] = Tensor.__hash__

for _name, _function in TENSOR_METHODS.items():
    setattr(Tensor, _name, _function)
