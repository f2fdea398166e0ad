"""The op registry and the one place where an op's kernels are chosen by device.

Every differentiable op is a `Function` subclass registered here under its public name; its
forward and backward call `kernels(array)`, which returns the native module for the array's
device (today the CPU build of `fastcnn._C`; a CUDA build will slot in here without touching
the ops, autograd or modules).
"""
from __future__ import annotations

from .. import _C

REGISTRY: dict = {}


def register(name: str):
    """Class decorator: records a Function under the op name users know it by."""

    def decorate(function_class):
        if name in REGISTRY:
            raise RuntimeError(f"op '{name}' is registered twice")
        REGISTRY[name] = function_class
        function_class.op_name = name
        return function_class

    return decorate


def kernels(*arrays):
    """The native kernel module for the arrays' device."""
    return _C
