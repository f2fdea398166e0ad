"""Module and Parameter: the base of every layer, as torch.nn.Module.

A Module keeps three ordered registries, filled by plain attribute assignment (`__setattr__`):
parameters (trainable leaves), buffers (state such as running means, saved in the state_dict but
not trained) and sub-modules. Everything else (parameter walks, state_dict, train/eval, dtype
conversion) is a traversal of those registries, so names come out exactly as torch's
("features.0.weight", "bn.running_mean") and a torch state_dict loads directly.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple

import numpy as np

from ...serialization import to_numpy
from ...tensor import Tensor, _as_dtype, _check_device, _to_array


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable; requires_grad is True by default.

    Built from a Tensor it shares that tensor's storage, as torch.nn.Parameter does.
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            array = np.zeros(0, dtype=np.float32)
        elif isinstance(data, Tensor):
            array = data.data
        else:
            array = _to_array(data)
        # Tensor.__init__ would copy the array; a Parameter wraps it instead.
        self.data = array
        self.grad = None
        self.grad_fn = None
        self._hooks = []
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        result = Parameter(self.data.copy(), self.requires_grad)
        memo[id(self)] = result
        return result


def zero_gradients(params, set_to_none: bool = True) -> None:
    """Drops (or zero-fills) the .grad of every tensor in params: Module and Optimizer zero_grad."""
    for param in params:
        if param.grad is None:
            continue
        if set_to_none:
            param.grad = None
        else:
            param.grad.data[...] = 0


class RemovableHandle:
    """Returned by register_forward_hook; `remove()` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self):
        self._hooks.pop(self.id, None)


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of all layers; subclasses assign parameters and sub-modules in __init__ and
    define forward()."""

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} is missing the required forward() method")

    def __call__(self, *args, **kwargs):
        if not self._forward_pre_hooks and not self._forward_hooks:
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            replaced = hook(self, args)
            if replaced is not None:
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, args, output)
            if replaced is not None:
                output = replaced
        return output

    def register_forward_hook(self, hook) -> RemovableHandle:
        """hook(module, args, output) runs after forward; a non-None return replaces the output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """hook(module, args) runs before forward; a non-None return replaces the arguments."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # --- registration ---------------------------------------------------------------------
    def _check_name(self, kind: str, name: str):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if "." in name or name == "":
            raise KeyError(f"{kind} name can't contain \".\" or be empty, got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._check_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(fastcnn.nn.Parameter or None required)")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        self._check_name("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(fastcnn.Tensor or None required)")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        self._check_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    def _forget(self, name: str):
        """Drops name from every registry and the instance dict, so it lives in one place."""
        self.__dict__.pop(name, None)
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(fastcnn.nn.Parameter or None expected)")
            self._parameters[name] = None
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(fastcnn.nn.Module or None expected)")
            self._modules[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(fastcnn.Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only called when normal lookup fails: the registries hold parameters, buffers, modules.
        # Every forward reads its weights through here, hence the unrolled lookups.
        registries = self.__dict__
        if "_modules" in registries:
            parameters = registries["_parameters"]
            if name in parameters:
                return parameters[name]
            buffers = registries["_buffers"]
            if name in buffers:
                return buffers[name]
            modules = registries["_modules"]
            if name in modules:
                return modules[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # --- traversal --------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def get_submodule(self, target: str) -> Module:
        module = self
        for name in target.split(".") if target else []:
            if name not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no submodule '{name}' (looking up '{target}')")
            module = module._modules[name]
        return module

    # --- modes and bulk operations --------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a bool, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_gradients(self.parameters(), set_to_none)

    def apply(self, fn) -> Module:
        """Calls fn on every sub-module (children first) and then on self, as torch."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def to(self, *args, **kwargs) -> Module:
        """Accepts a device ('cpu') and/or a float dtype; floating parameters, their gradients and
        floating buffers are converted in place, as torch.nn.Module.to."""
        dtype = kwargs.get("dtype")
        for arg in args + ((kwargs["device"],) if "device" in kwargs else ()):
            if isinstance(arg, str) or arg is None:
                _check_device(arg)
            else:
                dtype = arg
        dtype = _as_dtype(dtype)
        if dtype is None:
            return self
        if dtype.kind != "f":
            raise TypeError(f"to: nn.Module.to only accepts floating point dtypes, got {dtype}")
        for tensor in itertools.chain(self.parameters(), self.buffers()):
            if tensor.data.dtype.kind == "f":
                tensor.data = tensor.data.astype(dtype)
                if tensor.grad is not None:
                    tensor.grad.data = tensor.grad.data.astype(dtype)
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def cpu(self) -> Module:
        return self

    # --- state_dict -----------------------------------------------------------------------------
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """Parameters and persistent buffers by dotted name; values share storage with the module
        (detached unless keep_vars), as torch."""
        destination = OrderedDict() if destination is None else destination
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copies values into the existing parameters and buffers (cast to their dtype).

        Values may be fastcnn Tensors, NumPy arrays or torch tensors. Shape mismatches always
        raise; missing and unexpected keys raise when strict, and are returned either way as
        (missing_keys, unexpected_keys).
        """
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        errors = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = to_numpy(state_dict[key])
            if value.shape != target.data.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape {value.shape} from checkpoint, "
                              f"the shape in current model is {target.data.shape}.")
                continue
            if assign:
                target.data = np.array(value, dtype=target.data.dtype, copy=True)
            else:
                target.data[...] = value
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        return _IncompatibleKeys(missing, unexpected)

    # --- printing -------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self):
        lines = self.extra_repr().split("\n") if self.extra_repr() else []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        if not self._modules:
            return f"{self._get_name()}({self.extra_repr()})"
        return f"{self._get_name()}(\n  " + "\n  ".join(lines) + "\n)"
