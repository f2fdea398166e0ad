"""Tensor and the reverse-mode autograd engine.

A Tensor holds a NumPy array (its storage on the CPU) and, when it was produced by a
differentiable op, the `Function` node that made it (`grad_fn`). `Tensor.backward` walks those
nodes in reverse topological order; each node's `backward` turns the gradient of its output into
gradients of its inputs. Op implementations live in `fastcnn.ops`: forward and backward of one op
side by side, calling the C++ kernels in `fastcnn._C` for everything heavy.
"""
from __future__ import annotations

import contextlib
import threading
import weakref

import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
bool_ = np.dtype(np.bool_)

_FLOAT_DTYPES = (float32, float64)

class _State(threading.local):
    """Per-thread autograd mode; the class attribute is every new thread's default."""
    grad_enabled = True


_state = _State()


def is_grad_enabled() -> bool:
    return _state.grad_enabled


class no_grad(contextlib.ContextDecorator):
    """Context manager (and decorator) in which ops record no graph, as torch.no_grad."""

    def __enter__(self):
        self._previous = is_grad_enabled()
        _state.grad_enabled = False

    def __exit__(self, *exc):
        _state.grad_enabled = self._previous
        return False


class enable_grad(no_grad):
    def __enter__(self):
        self._previous = is_grad_enabled()
        _state.grad_enabled = True


class inference_mode(no_grad):
    """As torch.inference_mode(mode=True): no graph is recorded while mode is true (fastcnn has
    no separate inference tensors, so it is no_grad); inference_mode(False) changes nothing."""

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)

    def __enter__(self):
        self._previous = is_grad_enabled()
        if self.mode:
            _state.grad_enabled = False


class set_grad_enabled(no_grad):
    """As torch.set_grad_enabled(mode): switches autograd on or off when called, and used as a
    context manager puts the previous mode back on exit."""

    def __init__(self, mode: bool):
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {type(mode).__name__}")
        self._previous = is_grad_enabled()
        _state.grad_enabled = bool(mode)

    def __enter__(self):
        pass


def _as_dtype(dtype):
    if dtype is None:
        return None
    if isinstance(dtype, str):
        dtype = {"float": float32, "double": float64, "long": int64, "int": int32, "bool": bool_}.get(dtype, dtype)
    return np.dtype(dtype)


def _to_array(data, dtype=None) -> np.ndarray:
    """Converts user data into a fresh, owned, C-contiguous, writeable array of a fastcnn dtype.

    As torch.tensor: Python floats become float32, a float64 NumPy array stays float64, integers
    become int64. Copying also takes care of non-contiguous and read-only NumPy inputs.
    """
    dtype = _as_dtype(dtype)
    if isinstance(data, Tensor):
        data = data.data
    if dtype is None:
        dtype = _default_dtype(data)
    return np.array(data, dtype=dtype, copy=True, order="C")


def _default_dtype(data) -> np.dtype:
    """torch.tensor's dtype for data: one conversion, one copy, whatever the source."""
    source = data.dtype if isinstance(data, (np.ndarray, np.generic)) else np.asarray(data).dtype
    if source.kind == "f":
        return float64 if source == float64 and isinstance(data, (np.ndarray, np.generic)) else float32
    if source.kind in "iu":
        return int64
    if source.kind == "b":
        return bool_
    raise TypeError(f"tensor: unsupported data of dtype {source}")


class Function:
    """One node of the autograd graph and the base class of every differentiable op.

    Subclasses define `forward(ctx, *args)` on NumPy arrays (Tensor arguments arrive as their
    arrays) and `backward(ctx, grad_output)` returning one gradient (array or None) per
    positional argument of forward. `apply` wraps the result in a Tensor and records the node
    when any Tensor input requires grad.

    A forward that returns a tuple of arrays makes an op with several outputs (unbind, split):
    `apply` returns a tuple of Tensors, each made by an `_Output` node of its own, and the op's
    backward runs once, on a tuple holding each output's gradient (None where none reached it).
    """

    __slots__ = ("inputs", "needs_input_grad", "saved", "__dict__")

    @staticmethod
    def forward(ctx, *args):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        # Every op of every forward passes here, so it does the least it can: under no_grad (and
        # when no input requires grad) it only unwraps, runs forward and wraps.
        ctx = cls()
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        output = cls.forward(ctx, *arrays, **kwargs)
        if _state.grad_enabled:
            for a in args:
                if isinstance(a, Tensor) and a.requires_grad:
                    return ctx._record(args, output)
        if isinstance(output, tuple):
            return tuple(Tensor._wrap(array) for array in output)
        return Tensor._wrap(output)

    def _record(self, args, output):
        """Makes this node the grad_fn of output's Tensor(s), with an edge to each input that
        requires grad."""
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        self.inputs = tuple(_edge(a) if need else None for a, need in zip(args, needs))
        self.needs_input_grad = needs
        if isinstance(output, tuple):
            self.output_count = len(output)
            return tuple(_Output(self, index).make(array) for index, array in enumerate(output))
        result = Tensor._wrap(output, requires_grad=True)
        result.grad_fn = self
        return result

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @property
    def saved_tensors(self):
        return self.saved

    @property
    def name(self) -> str:
        return type(self).__name__


class _Output(Function):
    """The node of one output of an op with several. The engine files the gradient summed here
    in the op's tuple of output gradients instead of adding it to the op's gradient, so the op's
    backward runs once for all its outputs: an unbind writes its input's gradient once, not once
    per slice as indexing every slice would."""

    def __init__(self, op: Function, index: int):
        self.inputs = (op,)
        self.needs_input_grad = (True,)
        self.index = index
        self.producer_name = op.name

    def make(self, array) -> "Tensor":
        result = Tensor._wrap(array, requires_grad=True)
        result.grad_fn = self
        return result

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output

    @property
    def name(self) -> str:
        return self.producer_name


def _edge(tensor: "Tensor"):
    """What a node keeps of an input that requires grad: a leaf itself (its .grad accumulates),
    an interior tensor only its grad_fn. Holding the interior Tensor would keep its array alive
    until the backward, whether or not any op saved it (a ReLU's input after it saves its output)."""
    return tensor if tensor.grad_fn is None else tensor.grad_fn


def _topological_order(root: "Tensor"):
    """Nodes reachable from root's grad_fn, each after every node that consumes its output."""
    order, visited = [], set()
    stack = [(root.grad_fn, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in getattr(node, "inputs", ()):
            if isinstance(parent, Function) and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


def _exclusive(array) -> bool:
    """Whether array owns its writable buffer (no view of, nor viewed as, another array's)."""
    return isinstance(array, np.ndarray) and array.base is None and array.flags.owndata and array.flags.writeable


def _fits(total: np.ndarray, addend) -> bool:
    """Whether total + addend has total's shape and dtype, so the sum can overwrite total."""
    return (np.broadcast_shapes(total.shape, np.shape(addend)) == total.shape
            and np.result_type(total, addend) == total.dtype)


def _accumulate_leaf(tensor: "Tensor", grad: np.ndarray, fresh: bool = False):
    """fresh: grad is a new array nothing else refers to, so the leaf may keep it uncopied."""
    grad = np.asarray(grad, dtype=tensor.data.dtype)
    if grad.shape != tensor.data.shape:
        grad = np.broadcast_to(grad, tensor.data.shape)
    if tensor.grad is None:
        tensor.grad = Tensor._wrap(grad if fresh and _exclusive(grad) else np.array(grad, copy=True))
    else:
        tensor.grad.data = tensor.grad.data + grad
    for hook in tensor._hooks:
        hook(tensor.grad)


def backward(root: "Tensor", gradient=None, retain_graph: bool = False):
    """Accumulates d(root)/d(leaf) into every leaf's `.grad`, as torch.autograd.backward."""
    if not root.requires_grad:
        raise RuntimeError("backward: tensor does not require grad and has no grad_fn")
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs, got shape {root.shape}")
        gradient = np.ones_like(root.data)
    else:
        gradient = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient, dtype=root.data.dtype)
        if gradient.shape != root.data.shape:
            raise ValueError(f"backward: gradient has shape {gradient.shape} but tensor has shape {root.shape}")
    if root.grad_fn is None:
        _accumulate_leaf(root, gradient)
        return
    from .ops.elementwise import add, add_into  # the ops import this module
    grads = {id(root.grad_fn): gradient}
    # Arrays already handed somewhere (the caller's gradient, a gradient a backward returned for
    # two inputs): a leaf must copy these. Any other kernel result becomes the leaf's .grad as is,
    # sparing a copy of every large leaf gradient.
    handed_out = {id(gradient)}
    # Keys of `grads` whose array only `grads` refers to: a second gradient is added into it in
    # place instead of into a fresh array.
    owned = set()
    with no_grad():
        for node in _topological_order(root):
            if not hasattr(node, "inputs"):
                raise RuntimeError("backward: trying to backward through the graph a second time; "
                                   "pass retain_graph=True to the first call")
            grad_output = grads.pop(id(node), None)
            if grad_output is None:
                continue
            for hook in getattr(node, "output_hooks", ()):
                replaced = hook(Tensor._wrap(grad_output))
                if replaced is not None:
                    grad_output = replaced.data if isinstance(replaced, Tensor) else np.asarray(replaced)
                    handed_out.add(id(grad_output))
            if isinstance(grad_output, list):  # the outputs' gradients of an op with several
                grad_output = tuple(grad_output)
            input_grads = node.backward(node, grad_output)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            for edge, needed, grad in zip(node.inputs, node.needs_input_grad, input_grads):
                if edge is None or not needed or grad is None:
                    continue
                fresh = id(grad) not in handed_out
                handed_out.add(id(grad))
                if isinstance(edge, Tensor):
                    _accumulate_leaf(edge, grad, fresh)
                    continue
                key = id(edge)
                if isinstance(node, _Output):
                    grads.setdefault(key, [None] * edge.output_count)[node.index] = grad
                elif key not in grads:
                    grads[key] = grad
                    if fresh and _exclusive(grad) and sum(g is grad for g in input_grads) == 1:
                        owned.add(key)
                elif key in owned and _fits(grads[key], grad):
                    add_into(grads[key], grad)
                else:
                    grads[key] = add(grads[key], grad)
                    if _exclusive(grads[key]):
                        owned.add(key)
            if not retain_graph:
                # Drop the node's saved arrays now, not when the whole backward ends, so the
                # activations are freed layer by layer while the gradients are being made.
                del node.inputs
                node.saved = ()


class Tensor:
    """An n-dimensional array with autograd, mirroring torch.Tensor's common surface."""

    __array_priority__ = 1000  # so `ndarray op Tensor` defers to Tensor's reflected operators

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _to_array(data, dtype)
        self.grad = None
        self.grad_fn = None
        self._hooks = []
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: np.ndarray, requires_grad: bool = False) -> "Tensor":
        """Wraps an array the caller owns (no copy)."""
        tensor = cls.__new__(cls)
        tensor.data = array if isinstance(array, np.ndarray) else np.asarray(array)
        tensor.grad = None
        tensor.grad_fn = None
        tensor._hooks = []
        tensor.requires_grad = requires_grad
        return tensor

    # --- properties -------------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim=None):
        if dim is None:
            return self.shape
        from . import ops
        return self.data.shape[ops.normalize_dim(dim, self.data.shape, "size", scalar_ok=False)]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def is_floating_point(self) -> bool:
        return self.data.dtype in _FLOAT_DTYPES

    # --- autograd ---------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.data.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"requires_grad_: only float32/float64 tensors can require gradients, got {self.dtype}")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_: cannot turn off requires_grad of a non-leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph: bool = False):
        backward(self, gradient, retain_graph)

    def register_hook(self, hook):
        """On a leaf, calls hook(grad) whenever a gradient is accumulated into its .grad. On an
        interior tensor, calls hook(grad) with its gradient once the backward has summed it,
        and a returned tensor replaces that gradient (as torch)."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            self._hooks.append(hook)
        else:
            self.grad_fn.output_hooks = getattr(self.grad_fn, "output_hooks", []) + [hook]
        return hook

    def detach(self) -> "Tensor":
        return Tensor._wrap(self.data)

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self.requires_grad = False
        return self

    def retain_grad(self):
        """Keeps this interior tensor's gradient in .grad during backward (leaves always do)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: can't retain_grad on a tensor that has requires_grad=False")
        if self.grad_fn is None or getattr(self, "retains_grad", False):
            return
        self.retains_grad = True
        # A weak reference: the graph must not keep the tensor's array alive.
        target = weakref.ref(self)

        def keep(grad):
            tensor = target()
            if tensor is not None:
                tensor.grad = (Tensor._wrap(np.array(grad.data, copy=True)) if tensor.grad is None
                               else Tensor._wrap(tensor.grad.data + grad.data))
        self.register_hook(keep)

    # --- conversion -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; use tensor.detach().numpy()")
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to Python scalars, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError("bool: the truth value of a tensor with more than one element is ambiguous")
        return bool(self.data.reshape(()).item())

    def to(self, *args, **kwargs) -> "Tensor":
        """Accepts a device ('cpu') and/or a dtype, as torch.Tensor.to."""
        dtype = kwargs.get("dtype")
        for arg in args + tuple(v for k, v in kwargs.items() if k == "device"):
            if isinstance(arg, str) or arg is None:
                _check_device(arg)
            else:
                dtype = arg
        return self if dtype is None else self.type(dtype)

    def cpu(self) -> "Tensor":
        return self

    def type(self, dtype) -> "Tensor":
        from . import ops
        dtype = _as_dtype(dtype)
        if dtype == self.data.dtype:
            return self
        return ops.Cast.apply(self, dtype=dtype)

    def float(self) -> "Tensor":
        return self.type(float32)

    def double(self) -> "Tensor":
        return self.type(float64)

    def long(self) -> "Tensor":
        return self.type(int64)

    def int(self) -> "Tensor":
        return self.type(int32)

    def bool(self) -> "Tensor":
        return self.type(bool_)

    def contiguous(self) -> "Tensor":
        return self

    def clone(self) -> "Tensor":
        from . import ops
        return ops.Clone.apply(self)

    # --- in-place (no graph: for initialisation and optimisers) ------------------------------
    def _check_inplace(self, op):
        if self.requires_grad and self.is_leaf and is_grad_enabled():
            raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place operation; "
                               "wrap it in fastcnn.no_grad()")

    def zero_(self) -> "Tensor":
        self._check_inplace("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value) -> "Tensor":
        self._check_inplace("fill_")
        self.data[...] = value
        return self

    def copy_(self, source) -> "Tensor":
        self._check_inplace("copy_")
        source = source.data if isinstance(source, Tensor) else np.asarray(source)
        if np.broadcast_shapes(source.shape, self.data.shape) != self.data.shape:
            raise ValueError(f"copy_: source of shape {source.shape} does not broadcast to {self.shape}")
        self.data[...] = source
        return self

    def __setitem__(self, index, value):
        self._check_inplace("__setitem__")
        if self.grad_fn is not None and is_grad_enabled():
            raise RuntimeError("__setitem__: in-place assignment into a tensor that is part of a graph is not supported")
        self.data[_index_key(index)] = value.data if isinstance(value, Tensor) else value

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype not in (float32, int64, bool_):
            extra += f", dtype={self.data.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn=<{self.grad_fn.name}Backward>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __hash__(self):
        return id(self)


class Size(tuple):
    """torch.Size: a tuple of dimensions."""

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))

    def __repr__(self):
        return f"fastcnn.Size({list(self)})"


def _check_device(device):
    name = str(device) if device is not None else "cpu"
    if name == "cpu" or name.startswith("cpu:"):
        return
    if name.startswith("cuda"):
        raise RuntimeError(f"to: device '{name}' is not available: fastcnn was built without CUDA "
                           "or no GPU is present (see fastcnn.config())")
    raise ValueError(f"to: unknown device '{name}'")


def _index_key(index):
    """Turns Tensors inside an index expression into arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray([i.data if isinstance(i, Tensor) else i for i in index])
    return index
