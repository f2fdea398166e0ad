"""The two libraries bench/ compares, behind the few calls the cases need.

Both expose torch's names (nn.functional, optim, no_grad, Tensor.backward), so a case is
written once and run on either; only tensor creation and the model zoo differ.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent


class Backend:
    def __init__(self, name: str, lib, models_module: str):
        self.name = name
        self.lib = lib
        self.F = lib.nn.functional
        self.optim = lib.optim
        self._models_module = models_module

    def tensor(self, array: np.ndarray, requires_grad: bool = False):
        raise NotImplementedError

    def labels(self, array: np.ndarray):
        raise NotImplementedError

    def models(self):
        """The model zoo, imported on first use: a missing one makes only the model cases unavailable."""
        return importlib.import_module(self._models_module)

    def set_num_threads(self, threads: int) -> None:
        self.lib.set_num_threads(threads)


class FastcnnBackend(Backend):
    def __init__(self, fastcnn):
        super().__init__("fastcnn", fastcnn, "fastcnn.models")

    def tensor(self, array, requires_grad=False):
        return self.lib.tensor(array, requires_grad=requires_grad)

    def labels(self, array):
        return self.lib.tensor(array, dtype=self.lib.int64)


class TorchBackend(Backend):
    def __init__(self, torch):
        if str(BENCH_DIR) not in sys.path:
            sys.path.insert(0, str(BENCH_DIR))
        super().__init__("torch", torch, "torch_models")

    def tensor(self, array, requires_grad=False):
        return self.lib.from_numpy(np.array(array)).requires_grad_(requires_grad)

    def labels(self, array):
        return self.lib.from_numpy(np.asarray(array, dtype=np.int64))


def import_fastcnn():
    """fastcnn as installed, else the development tree next to bench/ (python/, built in place)."""
    try:
        return importlib.import_module("fastcnn")
    except ImportError:
        sys.path.insert(0, str(BENCH_DIR.parent / "python"))
        return importlib.import_module("fastcnn")


def make_backend(name: str) -> Backend | None:
    """The named backend, or None when its library is not installed (torch is optional)."""
    if name == "fastcnn":
        return FastcnnBackend(import_fastcnn())
    try:
        return TorchBackend(importlib.import_module("torch"))
    except ImportError:
        return None
