"""The Optimizer base class, as torch.optim.Optimizer: parameter groups with per-group
hyper-parameters, per-parameter state, zero_grad and a state_dict that names parameters by their
position across groups (so it can be loaded into a fresh optimizer over a fresh model).

Subclasses update `param.data` in place with whole-array NumPy operations.
"""
from __future__ import annotations

import copy
import itertools

import numpy as np

from ..nn.modules.module import zero_gradients
from ..serialization import to_numpy
from ..tensor import Tensor, enable_grad


def check_non_negative(**values) -> None:
    """torch's hyper-parameter checks: learning rates, momenta, epsilons and decays are >= 0."""
    for name, value in values.items():
        if not value >= 0.0:
            raise ValueError(f"Invalid {name.replace('_', ' ') if name != 'weight_decay' else name} value: {value}")


def _ordered(params) -> list:
    if isinstance(params, set):
        raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                        "tensors in sets will change between runs; use a list instead")
    return list(params)


class Optimizer:
    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        groups = _ordered(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else _ordered(params)
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(param).__name__}")
            if not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or existing & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_gradients((param for group in self.param_groups for param in group["params"]), set_to_none)

    def step(self, closure=None):
        """Runs closure (which recomputes the loss) if given, updates every parameter with a
        gradient, and returns the closure's loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, param.grad.data, self.state.setdefault(param, {}), group)
        return loss

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}, as torch."""
        index_of, groups = {}, []
        counter = itertools.count()
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = []
            for param in group["params"]:
                index_of.setdefault(id(param), next(counter))
                packed["params"].append(index_of[id(param)])
            groups.append(packed)
        state = {index_of[id(param)]: value for param, value in self.state.items() if id(param) in index_of}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restores hyper-parameters and state; tensors are copied and cast to each parameter's dtype."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups but the optimizer has "
                             f"{len(self.param_groups)}")
        for saved, group in zip(saved_groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 f"optimizer's group ({len(saved['params'])} vs {len(group['params'])} parameters)")
        param_of = {index: param for saved, group in zip(saved_groups, self.param_groups)
                    for index, param in zip(saved["params"], group["params"])}
        self.state = {}
        for index, values in state_dict["state"].items():
            # Keys come back as strings from JSON-like stores; they are positions either way.
            param = param_of[int(index)]
            self.state[param] = {key: self._cast_state(key, value, param) for key, value in values.items()}
        self.param_groups = [dict(copy.deepcopy({k: v for k, v in saved.items() if k != "params"}),
                                  params=group["params"]) for saved, group in zip(saved_groups, self.param_groups)]

    @staticmethod
    def _cast_state(key: str, value, param: Tensor):
        if value is None or isinstance(value, (bool, int, float)):
            return value
        array = to_numpy(value)
        if key == "step":
            return float(array)
        dtype = param.data.dtype if array.dtype.kind == "f" else array.dtype
        return Tensor._wrap(np.array(array, dtype=dtype, copy=True))

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"
