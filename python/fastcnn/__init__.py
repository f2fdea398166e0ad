"""fastcnn: CNN layers on hand-written C++ kernels, with autograd and a training stack.

The public surface mirrors torch: fastcnn.tensor, fastcnn.nn, fastcnn.nn.functional,
fastcnn.optim. See README.md for the op list.
"""
import os

# libgomp's idle workers busy-wait 300000 spins (milliseconds) after each parallel region. On a
# machine shared with other processes, those spinning threads hold the cores the next region's
# workers need, and each small region then stalls for a scheduler tick (~4 ms): batch-1
# inference ran 20-80x slower on 2 threads than on 1 (digits_cnn 7 ms vs 0.13 ms). 3000 spins
# (tens of microseconds) still catches back-to-back regions: a 2M-element ReLU on 2 threads is
# as fast as with the default, while with 1000 spins it loses 20% to wake-ups. libgomp reads
# this once when it loads (with our _C below, unless another library loaded it first), and a
# wait policy the user chose wins.
if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "3000"

from ._version import __version__  # noqa: E402 - after the libgomp setting above
from . import _C  # noqa: E402
from .tensor import (Function, Size, Tensor, bool_, enable_grad, float32, float64, inference_mode, int32, int64,
                     is_grad_enabled, no_grad, set_grad_enabled)
from .functions import (abs, add, amax, amin, arange, argmax, argmin, as_tensor, cat, chunk, clamp, concat, div, empty,
                        exp, expand, eye, flatten, from_numpy, full, full_like, linspace, log, matmul, max, maximum,
                        mean, min, minimum, mul, neg, ones, ones_like, permute, pow, reshape, select, split, sqrt,
                        squeeze, stack, std, sub, sum, tensor, transpose, unbind, unsqueeze, var, where, zeros,
                        zeros_like)
from .random import manual_seed, rand, rand_like, randint, randn, randn_like, randperm
from .serialization import load, save
from . import ops, nn, optim, data, models

_KERNEL_SETS = ("generic", "avx2", "avx512")  # lowest to highest


def _check_forced_isa() -> None:
    """FASTCNN_ISA can only lower the kernel set (a higher one would crash on this CPU), and the
    native side ignores a name it does not know: say so rather than run another set silently."""
    import warnings

    forced, active = os.environ.get("FASTCNN_ISA", ""), _C.cpu_isa()
    if not forced or forced == active:
        return
    if forced not in _KERNEL_SETS:
        warnings.warn(f"FASTCNN_ISA={forced!r} is not a kernel set (one of {', '.join(_KERNEL_SETS)}): "
                      f"running {active}", RuntimeWarning, stacklevel=3)
    elif _KERNEL_SETS.index(forced) > _KERNEL_SETS.index(active):
        warnings.warn(f"FASTCNN_ISA={forced!r}: this CPU lacks it, running {active}", RuntimeWarning, stacklevel=3)


_check_forced_isa()

float = float32
double = float64
long = int64
bool = bool_


def set_num_threads(threads: int) -> None:
    """Sets the number of OpenMP threads the kernels use."""
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"set_num_threads: threads must be a positive int, got {threads!r}")
    _C.set_num_threads(threads)


def get_num_threads() -> int:
    return _C.get_num_threads()


def empty_cache() -> int:
    """Frees the idle buffers fastcnn keeps to reuse for large op outputs (csrc/core/buffer_cache.h)
    and returns the bytes released: torch.cuda.empty_cache's counterpart for host memory. The
    cache is bounded by the most memory ever live at once; FASTCNN_BUFFER_CACHE=0 turns it off."""
    return _C.release_buffer_cache()


def config() -> dict:
    """How this build of fastcnn was made and what it runs on."""
    return {
        "version": __version__,
        "openmp": _C.openmp_enabled(),
        "num_threads": _C.get_num_threads(),
        "cpu_isa": _C.cpu_isa(),
        "cpu_cache_sizes": _C.cpu_cache_sizes(),
        "cuda_compiled": _C.cuda_compiled,
        "cuda_available": False,
    }
