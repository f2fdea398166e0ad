#include "core/buffer_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <sys/mman.h>

namespace fastcnn {

namespace {

// numpy's PyDataMem_Handler, version 1 (numpy/ndarraytypes.h), mirrored here so that building
// needs no numpy headers; its layout is part of numpy's stable ABI.
struct DataAllocator {
  void* context;
  void* (*malloc)(void* context, size_t size);
  void* (*calloc)(void* context, size_t count, size_t element_size);
  void* (*realloc)(void* context, void* data, size_t size);
  void (*free)(void* context, void* data, size_t size);
};
struct DataHandler {
  char name[127];
  uint8_t version;
  DataAllocator allocator;
};

// Slots of numpy's C-API table (numpy/_core/code_generators/numpy_api.py; fixed for good).
constexpr int kFeatureVersionSlot = 211;  // PyArray_GetNDArrayCFeatureVersion
constexpr int kSetHandlerSlot = 304;      // PyDataMem_SetHandler
constexpr unsigned kHandlerFeatureVersion = 0xf;  // NPY_1_22_API_VERSION

constexpr size_t kPage = 4096;
// Every block starts with a page holding its capacity (realloc and the cache need it, numpy's
// free passes only the size it asked for); the data starts on the next page. Page-aligned data,
// not merely 64-byte aligned: with the data 64 bytes into a page, an output and an input NumPy
// placed 16 bytes into a page are 48 bytes apart modulo 4 KiB, so a load falsely matches a
// store 12 elements back (4K aliasing) and a ReLU ran ~30% slower (bench/run.py, relu fwd+bwd).
constexpr size_t kHeader = kPage;
// An idle buffer serves a request up to 1/8 smaller than itself: the same shapes recur every
// step, and a tighter fit would keep more buffers of near-equal size.
constexpr size_t kSlackDivisor = 8;
// Live and idle bytes together stay within 1 + 1/kHeadroomDivisor times the high-water mark of
// live bytes. Measured on training steps at batch 64: with no headroom, the gradients a backward
// pass allocates while the activations are still live evict buffers the next step needs again
// (resnet_cifar20: ~5600 faults a step left of ~12600); a quarter removes every fault there and
// keeps the process's peak within ~10% (resnet_cifar20) and ~21% (mobilenet_v2) of the
// uncached one. Small working sets get at least kMinimumHeadroom: batch-1 inference frees each
// output right after the next op read it, so its high-water mark is a few outputs, and with only
// a quarter above it every output size missed, evicted and mapped afresh (mobilenet_v2 at 32 px:
// ~340 page faults and 12% of the time per image).
constexpr size_t kHeadroomDivisor = 4;
constexpr size_t kMinimumHeadroom = size_t(16) << 20;

size_t& capacity_of(void* block) { return *static_cast<size_t*>(block); }

// Blocks are mapped from the kernel directly, not taken from malloc: an evicted block goes
// back to the system at once instead of staying resident as a hole in malloc's heap, and the
// cache's frees do not move glibc's dynamic mmap threshold for the rest of the process.
void* map_block(size_t capacity) {
  void* block = mmap(nullptr, kHeader + capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) return nullptr;
#if defined(MADV_HUGEPAGE)
  // As numpy's own allocator does for arrays of 4 MiB and more: fewer TLB misses on streams.
  if (capacity >= (size_t(4) << 20)) madvise(block, kHeader + capacity, MADV_HUGEPAGE);
#endif
  capacity_of(block) = capacity;
  return block;
}

void unmap_block(void* block) { munmap(block, kHeader + capacity_of(block)); }

class BufferCache {
 public:
  void* take(size_t bytes) {
    const size_t capacity = (std::max(bytes, size_t(1)) + kPage - 1) / kPage * kPage;
    std::vector<void*> released;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // The smallest fit, and of equal fits the one freed last: its lines are the likeliest to
      // be in cache still (taking the oldest, a loop of 8 MiB ReLUs cycled through every idle
      // buffer of that size and wrote each from memory; torch's allocator hands back the block
      // just freed).
      auto best = idle_.rend();
      for (auto it = idle_.rbegin(); it != idle_.rend(); ++it)
        if (it->first >= capacity && it->first - capacity <= capacity / kSlackDivisor &&
            (best == idle_.rend() || it->first < best->first))
          best = it;
      if (best != idle_.rend()) {
        void* block = best->second;
        idle_bytes_ -= best->first;
        note_live(best->first);
        idle_.erase(std::next(best).base());
        return block;
      }
      // A miss: make room first (core/buffer_cache.h's bound). Oldest first: the buffers the
      // current work has not asked for again.
      const size_t bound = high_water_ + std::max(high_water_ / kHeadroomDivisor, kMinimumHeadroom);
      while (!idle_.empty() && live_bytes_ + idle_bytes_ + capacity > bound) {
        idle_bytes_ -= idle_.front().first;
        released.push_back(idle_.front().second);
        idle_.erase(idle_.begin());
      }
      note_live(capacity);
    }
    for (void* b : released) unmap_block(b);
    void* block = map_block(capacity);
    if (block == nullptr) {
      std::lock_guard<std::mutex> lock(mutex_);
      live_bytes_ -= capacity;
    }
    return block;
  }

  void give(void* block) {
    std::vector<void*> released;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const size_t capacity = capacity_of(block);
      live_bytes_ -= capacity;
      if (capacity < kCachedBytes) {
        released.push_back(block);
      } else {
        idle_.emplace_back(capacity, block);
        idle_bytes_ += capacity;
      }
    }
    for (void* b : released) unmap_block(b);
  }

  size_t release() {
    std::vector<std::pair<size_t, void*>> released;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      released.swap(idle_);
      idle_bytes_ = 0;
    }
    size_t bytes = 0;
    for (const auto& entry : released) {
      bytes += entry.first;
      unmap_block(entry.second);
    }
    return bytes;
  }

  py::tuple stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return py::make_tuple(live_bytes_, idle_bytes_, high_water_);
  }

 private:
  void note_live(size_t capacity) {
    live_bytes_ += capacity;
    high_water_ = std::max(high_water_, live_bytes_);
  }

  std::mutex mutex_;
  std::vector<std::pair<size_t, void*>> idle_;  // (capacity, block), oldest first
  size_t live_bytes_ = 0, idle_bytes_ = 0, high_water_ = 0;
};

// Never destroyed: arrays holding its buffers may outlive the module at interpreter exit.
BufferCache& cache() {
  static BufferCache* instance = new BufferCache;
  return *instance;
}

void* block_of(void* data) { return static_cast<char*>(data) - kHeader; }

void* cache_malloc(void*, size_t size) {
  void* block = cache().take(size);
  return block ? static_cast<char*>(block) + kHeader : nullptr;
}

void* cache_calloc(void* context, size_t count, size_t element_size) {
  size_t size;
  if (__builtin_mul_overflow(count, element_size, &size)) return nullptr;
  void* data = cache_malloc(context, size);
  if (data) std::memset(data, 0, size);
  return data;
}

void cache_free(void*, void* data, size_t) {
  if (data) cache().give(block_of(data));
}

void* cache_realloc(void* context, void* data, size_t size) {
  void* moved = cache_malloc(context, size);
  if (moved && data) {
    std::memcpy(moved, data, std::min(size, capacity_of(block_of(data))));
    cache_free(context, data, 0);
  }
  return moved;
}

DataHandler handler = {"fastcnn_buffer_cache", 1, {nullptr, cache_malloc, cache_calloc, cache_realloc, cache_free}};

using SetHandler = PyObject* (*)(PyObject*);

struct Installed {
  SetHandler set_handler = nullptr;
  PyObject* capsule = nullptr;  // a permanent reference: numpy keeps one per array it allocates
};

// numpy's PyDataMem_SetHandler and our handler's capsule, or nulls when the cache is off or
// numpy predates handlers. Found once, with the GIL held.
Installed find_handler() {
  Installed installed;
  const char* setting = std::getenv("FASTCNN_BUFFER_CACHE");
  if (setting && std::string(setting) == "0") return installed;
  const py::module_ numpy = py::module_::import("numpy");
  const bool numpy2 = numpy.attr("__version__").cast<std::string>().rfind("1.", 0) != 0;
  const py::object table = py::module_::import(numpy2 ? "numpy._core.multiarray" : "numpy.core.multiarray")
                               .attr("_ARRAY_API");
  void** api = static_cast<void**>(PyCapsule_GetPointer(table.ptr(), nullptr));
  if (api == nullptr) throw py::error_already_set();
  const auto feature_version = reinterpret_cast<unsigned (*)()>(api[kFeatureVersionSlot]);
  if (feature_version() < kHandlerFeatureVersion) return installed;
  installed.set_handler = reinterpret_cast<SetHandler>(api[kSetHandlerSlot]);
  installed.capsule = PyCapsule_New(&handler, "mem_handler", nullptr);
  if (installed.capsule == nullptr) throw py::error_already_set();
  return installed;
}

const Installed& installed() {
  static const Installed instance = find_handler();
  return instance;
}

}  // namespace

CachedAllocation::CachedAllocation() {
  const Installed& cache_handler = installed();
  if (!cache_handler.capsule) return;
  previous_handler_ = cache_handler.set_handler(cache_handler.capsule);
  if (previous_handler_ == nullptr) throw py::error_already_set();
}

CachedAllocation::~CachedAllocation() {
  if (!previous_handler_) return;
  PyObject* ours = installed().set_handler(previous_handler_);
  if (ours == nullptr) PyErr_Clear();
  Py_XDECREF(ours);
  Py_DECREF(previous_handler_);
}

size_t release_buffer_cache() { return cache().release(); }

py::tuple buffer_cache_stats() { return cache().stats(); }

}  // namespace fastcnn
