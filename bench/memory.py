"""Peak resident memory of one training step, for one backend and one model, in a fresh process.

Run by run.py as `python bench/memory.py BACKEND MODEL`; prints one JSON line. A separate
process per backend keeps the other library's allocations (and torch's import) out of the
numbers. The model, optimizer and batch are created and one step is run first (it creates
Adam's state and every lazily made cache), the memory it freed is handed back to the system
(malloc_trim, which otherwise keeps it resident and hides the next step's needs), then the
kernel's peak-RSS counter is reset and a second step is measured: "step" is that peak minus the
resident size just before it, i.e. what a steady-state step itself adds.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import resource
import sys

from backends import make_backend
from cases import MODELS_BY_NAME

STATUS = "/proc/self/status"


def _status_kib(field: str) -> int:
    with open(STATUS) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _release_free_memory() -> None:
    gc.collect()
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


def measure(backend_name: str, model_name: str) -> dict:
    backend = make_backend(backend_name)
    step = MODELS_BY_NAME[model_name].training_step(backend)
    step()
    if backend_name == "fastcnn":
        # Its buffer cache (csrc/core/buffer_cache.h) keeps the first step's buffers for the
        # next; emptied like the heap, so the step's own allocations are counted in full.
        backend.lib._C.release_buffer_cache()
    _release_free_memory()
    reset = _reset_peak()
    before = _status_kib("VmRSS")
    step()
    # Without a reset, ru_maxrss still holds the first step's peak, which is an upper bound.
    peak = _status_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"backend": backend_name, "model": model_name, "rss_before_mib": before / 1024,
            "peak_mib": peak / 1024, "step_mib": (peak - before) / 1024, "peak_reset": reset}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], sys.argv[2])))
