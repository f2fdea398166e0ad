"""The buffer cache behind large op outputs (csrc/core/buffer_cache.h): arrays from it are
ordinary NumPy arrays that own their data, freed buffers serve the next array of their size,
and the cache can be emptied or turned off."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastcnn
from fastcnn import _C

LARGE = (4, 16, 32, 32)  # 256 KiB of float32: the smallest cached size


def handler_name(array):
    core = getattr(np, "_core", None) or np.core
    return core.multiarray.get_handler_name(array)


def relu(x):
    return _C.activation_forward("relu", x, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cached_output_is_an_ordinary_owning_array(dtype):
    x = np.random.default_rng(0).standard_normal(LARGE).astype(dtype)
    out = relu(x)
    assert handler_name(out) == "fastcnn_buffer_cache"
    assert out.flags.owndata and out.base is None and out.flags.writeable and out.flags.c_contiguous
    assert out.ctypes.data % 64 == 0
    np.testing.assert_array_equal(out, np.maximum(x, 0))


def test_small_outputs_and_numpy_arrays_keep_numpy_allocator():
    assert handler_name(relu(np.ones((3, 5), np.float32))) != "fastcnn_buffer_cache"
    relu(np.ones(LARGE, np.float32))
    assert handler_name(np.empty(LARGE, np.float32)) != "fastcnn_buffer_cache"


def test_freed_buffer_serves_the_next_array_of_its_size():
    x = np.ones(LARGE, np.float32)
    _C.release_buffer_cache()
    first = relu(x)
    address = first.ctypes.data
    live, idle, _ = _C.buffer_cache_stats()
    del first
    assert _C.buffer_cache_stats()[:2] == (live - x.nbytes, idle + x.nbytes)
    second = relu(x)
    assert second.ctypes.data == address
    assert _C.buffer_cache_stats()[:2] == (live, idle)
    del second
    assert fastcnn.empty_cache() >= x.nbytes
    assert _C.buffer_cache_stats()[1] == 0


def test_a_small_working_set_of_several_sizes_stays_cached():
    """Batch-1 inference frees each output at once, so its high-water mark is one output; the
    buffers of every size it cycles through must all stay idle for the next image. A fresh
    process, so that no earlier test has raised the high-water mark."""
    script = ("import numpy as np; from fastcnn import _C\n"
              "inputs = [np.ones((n, 16, 32, 32), np.float32) for n in (4, 5, 6, 7)]\n"
              "def one_pass():\n"
              "    return [_C.activation_forward('relu', x, 0.0).ctypes.data for x in inputs]\n"
              "one_pass()\n"
              "print(_C.buffer_cache_stats()[1] == sum(x.nbytes for x in inputs))")
    env = {k: v for k, v in os.environ.items() if k != "FASTCNN_BUFFER_CACHE"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_resize_of_a_cached_array_keeps_its_values():
    x = np.arange(np.prod(LARGE), dtype=np.float32).reshape(LARGE)
    out = relu(x)
    out.resize((2 * x.size,), refcheck=False)
    np.testing.assert_array_equal(out[:x.size], x.ravel())


def test_environment_variable_turns_the_cache_off():
    script = ("import numpy as np; from fastcnn import _C; "
              "out = _C.activation_forward('relu', np.ones((4, 16, 32, 32), np.float32), 0.0); "
              "print(_C.buffer_cache_stats(), out.flags.owndata)")
    env = dict(os.environ, FASTCNN_BUFFER_CACHE="0")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "(0, 0, 0) True"
