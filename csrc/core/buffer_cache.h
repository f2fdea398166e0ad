#pragma once
// A cache of the large buffers behind the arrays the op layer returns.
//
// Why: a training step allocates every activation and gradient afresh (several MiB each) and
// frees them in the backward pass. glibc hands such blocks back to the kernel (munmap, or a
// trim of the heap's top) and maps them again on the next step, so every page of every output
// is faulted in and zeroed anew: ~12600 minor faults and ~30 ms of system time in a ~125 ms
// resnet_cifar20 training step at batch 64. Reusing the freed buffers of the same sizes removes them.
//
// How: numpy lets a library allocate an array's data through a handler of its own (NEP 49,
// numpy >= 1.22). new_array (core/check.h) switches numpy to the cache's handler while it creates
// an array of at least kCachedBytes, so the array still owns its data (flags.owndata, base None)
// and numpy's deallocation hands the buffer back here. Smaller arrays, and every array numpy
// creates itself, keep numpy's own allocator.
//
// Bound: live and idle buffers together stay within a quarter (at least 16 MiB) above the most
// bytes that were live at once (a request the idle buffers cannot serve first frees the oldest of them), so in a
// repeated step the cache holds what the next step takes again, and a one-off large computation
// leaves at most its own size behind. Buffers are mapped from the system directly, so freeing
// one returns its memory at once. release_buffer_cache() frees every idle buffer;
// FASTCNN_BUFFER_CACHE=0 turns the cache off (e.g. for memory checkers that should see every
// allocation).
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>

namespace fastcnn {

namespace py = pybind11;

// Arrays below this size come from numpy's allocator: glibc serves them from its free lists
// without new page faults, and they are a small share of the traffic.
inline constexpr size_t kCachedBytes = size_t(256) << 10;

// While alive, numpy allocates array data through the buffer cache (a no-op when the cache is
// off). Hold the GIL.
class CachedAllocation {
 public:
  CachedAllocation();
  ~CachedAllocation();
  CachedAllocation(const CachedAllocation&) = delete;
  CachedAllocation& operator=(const CachedAllocation&) = delete;

 private:
  PyObject* previous_handler_ = nullptr;
};

// Frees the idle buffers; returns the bytes released.
size_t release_buffer_cache();
// (live bytes, idle bytes, high-water mark of live bytes) of the cache.
py::tuple buffer_cache_stats();

}  // namespace fastcnn
