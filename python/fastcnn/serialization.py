"""fastcnn.save and fastcnn.load: state dicts (nested dicts, lists, tensors, arrays and plain
values) in a NumPy .npz file, written atomically.

Each array is stored under its path in the tree ("conv1.weight", "state/0/exp_avg"), so
`np.load(path)` reads a model checkpoint by parameter name; the "__fastcnn__" entry holds the
tree itself as JSON so `load` rebuilds dicts, lists, ints and None exactly. Nothing is pickled,
so loading an untrusted file cannot run code.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np

from .tensor import Tensor

_STRUCTURE_KEY = "__fastcnn__"


def to_numpy(value) -> np.ndarray:
    """A fastcnn Tensor, NumPy array, torch tensor (duck-typed: detach/cpu/numpy) or number as an array."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        return np.asarray(value.detach().cpu().numpy())
    return np.asarray(value)


def _encode(obj, path: str, arrays: dict):
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"save: dict keys must be str or int, got {type(key).__name__} at '{path}'")
        return {"dict": [[key, _encode(value, f"{path}/{key}" if path else str(key), arrays)]
                         for key, value in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_encode(value, f"{path}/{i}", arrays) for i, value in enumerate(obj)]
        return {"tuple" if isinstance(obj, tuple) else "list": items}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, np.generic):
        return {"value": obj.item()}
    if isinstance(obj, (Tensor, np.ndarray)) or hasattr(obj, "numpy"):
        name, suffix = path or "array", 1
        while name in arrays or name == _STRUCTURE_KEY:
            name, suffix = f"{path}#{suffix}", suffix + 1
        arrays[name] = to_numpy(obj)
        return {"tensor" if not isinstance(obj, np.ndarray) else "ndarray": name}
    raise TypeError(f"save: cannot store an object of type {type(obj).__name__} at '{path}'")


def _decode(node, arrays):
    (kind, payload), = node.items()
    if kind == "dict":
        return OrderedDict((key, _decode(value, arrays)) for key, value in payload)
    if kind in ("list", "tuple"):
        items = [_decode(value, arrays) for value in payload]
        return items if kind == "list" else tuple(items)
    if kind == "value":
        return payload
    if kind == "tensor":
        return Tensor._wrap(arrays[payload])
    if kind == "ndarray":
        return arrays[payload]
    raise ValueError(f"unknown entry kind {kind!r}")


def save(obj, path, overwrite: bool = True) -> None:
    """Writes obj to path atomically: a temporary file in the same folder, then os.replace, so a
    crash never leaves a half-written checkpoint. With overwrite=False an existing file is kept."""
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save: {path} already exists; refusing to overwrite it")
    arrays = {}
    structure = _encode(obj, "", arrays)
    arrays[_STRUCTURE_KEY] = np.frombuffer(json.dumps(structure).encode("utf-8"), dtype=np.uint8)
    descriptor, temporary = tempfile.mkstemp(prefix=".fastcnn-", suffix=".tmp",
                                             dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def load(path):
    """Reads what save wrote (tensors come back as fastcnn Tensors). A plain .npz of named arrays
    loads as an OrderedDict of Tensors."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no checkpoint file at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        if _STRUCTURE_KEY not in arrays:
            return OrderedDict((name, Tensor._wrap(array)) for name, array in arrays.items())
        structure = json.loads(arrays.pop(_STRUCTURE_KEY).tobytes().decode("utf-8"))
        return _decode(structure, arrays)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise ValueError(f"load: {path} is not a readable fastcnn checkpoint ({type(error).__name__}: {error})") from None
