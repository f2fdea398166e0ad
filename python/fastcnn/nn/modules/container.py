"""Containers: Sequential, ModuleList and ModuleDict, as torch.nn's."""
from __future__ import annotations

import operator
from collections import OrderedDict

from .fusion import run_sequence
from .module import Module


def _normalise_index(index: int, length: int, container: str) -> int:
    index = operator.index(index)
    if not -length <= index < length:
        raise IndexError(f"{container}: index {index} is out of range for {length} modules")
    return index % length


class Sequential(Module):
    """Applies its modules in order; built from modules or from one OrderedDict of named modules."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[_normalise_index(index, len(self), "Sequential")]

    def __setitem__(self, index, module):
        key = list(self._modules)[_normalise_index(index, len(self), "Sequential")]
        setattr(self, key, module)

    def __delitem__(self, index):
        keys = list(self._modules)
        for key in (keys[index] if isinstance(index, slice) else [keys[_normalise_index(index, len(self), "Sequential")]]):
            del self._modules[key]
        # Re-number so that indices and state_dict names stay 0..n-1, as torch does.
        items = list(self._modules.values())
        self._modules.clear()
        for position, module in enumerate(items):
            self._modules[str(position)] = module

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> Sequential:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for position, item in enumerate(items):
            self.add_module(str(position), item)
        return self

    def forward(self, input):
        # Applies the modules in order; [conv,] batch norm[, relu] runs are fused (fusion.py).
        return run_sequence(self._modules.values(), input)


class ModuleList(Module):
    """A list of modules whose parameters are registered (named 0, 1, ...)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[str(_normalise_index(index, len(self), "ModuleList"))]

    def __setitem__(self, index, module):
        self.add_module(str(_normalise_index(index, len(self), "ModuleList")), module)

    def __delitem__(self, index):
        items = list(self._modules.values())
        del items[index if isinstance(index, slice) else _normalise_index(index, len(self), "ModuleList")]
        self._modules.clear()
        self.extend(items)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        self.extend(items)


class ModuleDict(Module):
    """An ordered dict of modules whose parameters are registered under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module):
        self.add_module(key, module)

    def __delitem__(self, key: str):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key: str) -> Module:
        module = self._modules[key]
        del self[key]
        return module

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, module in pairs:
            self[key] = module
