#pragma once
// When a loop is worth an OpenMP thread team.
//
// Forking and joining a team costs ~1 us on an idle machine (measured on the 2-core bench
// machine: an empty `omp parallel` region 0.5-0.7 us; a ReLU over n floats breaks even at
// n ~ 16K, where the serial loop takes ~4 us). On a loaded machine it costs far more: a worker
// that the OS has descheduled stalls the join for a whole time slice (milliseconds), which is
// why tiny maps ran 5-7x slower on 2 threads than on 1. So a loop goes parallel only when its
// serial time would be ~20 us or more, where the fork is a few percent even at its worst common
// case and a stall is amortised over real work.
//
// Work is counted in units of one element of a vectorised streaming pass (~0.25-0.3 ns on one
// core): a ReLU counts its elements, a loop whose element costs more (an exp, a tap of a
// convolution, a hash) multiplies its element count by that cost in such units. Every kernel
// family writes its loops as parallel_for(count, worth_parallel(work), body) (below) or, where
// it needs a region of its own, as
//   #pragma omp parallel for schedule(static) if (worth_parallel(work))
#include <algorithm>
#include <cstdint>

#include "core/runtime.h"

namespace fastcnn {

// ~20 us of serial work (see above); the measurements are in the commit that set it.
inline constexpr int64_t kParallelWork = int64_t(1) << 16;

// Per-element costs, in units, of the common element kinds (measured against a ReLU's element).
inline constexpr int64_t kTranscendentalCost = 8;  // one libm exp / tanh / erf / log per element
// A GEMM's multiply-adds per unit. The micro-kernel retires ~30 multiply-adds per streaming
// element's time, but a parallel GEMM or convolution also forks for its packing and copy steps
// and splits small products unevenly. On Zen 3 (AVX2) batch-1 3x3 convolutions of 2.4 M
// multiply-adds took 80-105 us on 2 threads against 30-45 us on one (at 32 per unit), so this
// was 256. On Zen 4 (AVX-512, 2 threads; us at 256 -> 16 per unit) the batch-1 pointwise
// convolutions of MobileNetV2 gain from the second core: 160->960 at 4 px 47 -> 31, 96->576 at
// 8 px 67 -> 43, 320->1280 at 4 px 120 -> 73, 64->384 at 8 px 31 -> 23 (960->160 at 4 px loses,
// 50 -> 57), 3x3 convolutions of 2.4 M multiply-adds range from 50 -> 54 (16 channels, 32 px)
// to 48 -> 41 (64 channels, 8 px), and the whole MobileNetV2 batch-1 inference runs 3.37 -> 2.73
// ms (ResNet-20 1.06 -> 1.04 ms). Products of 1 M multiply-adds and up go parallel.
inline constexpr int64_t kMultiplyAddsPerUnit = 16;

// False with one thread (a team of one is pure overhead) and inside an active parallel region, so
// a kernel called from a parallel loop runs on the calling thread instead of nesting a team.
inline bool worth_parallel(int64_t work) {
  return work >= kParallelWork && get_num_threads() > 1 && !in_parallel_region();
}

// worth_parallel for a loop of `multiply_adds` GEMM multiply-adds.
inline bool worth_parallel_gemm(int64_t multiply_adds) { return worth_parallel(multiply_adds / kMultiplyAddsPerUnit); }

// How parallel_for hands out iterations: equal contiguous chunks, one at a time as threads come
// free, or round robin (iteration i to thread i % threads).
enum class Schedule { chunks, dynamic, round_robin };

// Runs body(i) for i in [0, count): split over a team when `parallel` (which the caller derives
// from worth_parallel, so it is false inside a parallel region) and there are two threads or more,
// else as a plain loop on the calling thread. The plain loop matters: a region whose `if` clause
// is false is still a team of one entered through libgomp, ~1 us of futex calls (a third of a tiny
// batch-1 convolution's call), and each kernel nested in it entered another.
template <Schedule kSchedule = Schedule::chunks, typename Body>
inline void parallel_for(int64_t count, bool parallel, Body&& body) {
  if (!parallel || count <= 1 || get_num_threads() < 2) {
    for (int64_t i = 0; i < count; ++i) body(i);
    return;
  }
  if constexpr (kSchedule == Schedule::dynamic) {
#pragma omp parallel for schedule(dynamic)
    for (int64_t i = 0; i < count; ++i) body(i);
  } else if constexpr (kSchedule == Schedule::round_robin) {
#pragma omp parallel for schedule(static, 1)
    for (int64_t i = 0; i < count; ++i) body(i);
  } else {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) body(i);
  }
}

// Runs body(begin, end) on [0, size) elements of type T: one contiguous range per thread, cut at
// 64-byte lines (so that no two threads write one line), when `work` is worth a team; else the
// whole range on the calling thread. The element maps call one vectorised kernel per range this
// way (a per-element loop body would hide the kernel's loop from the vectoriser).
template <typename T, typename Body>
inline void for_each_range(int64_t size, int64_t work, Body&& body) {
  if (!worth_parallel(work)) {
    body(int64_t(0), size);
    return;
  }
  constexpr int64_t line = 64 / sizeof(T) > 0 ? 64 / sizeof(T) : 1;
  const int64_t threads = get_num_threads();
  const int64_t share = ((size + line - 1) / line + threads - 1) / threads * line;
  // One range per iteration of a static loop, so every range runs whatever team size the
  // runtime grants.
  parallel_for((size + share - 1) / share, true, [&](int64_t range) {
    const int64_t begin = range * share;
    body(begin, std::min(size, begin + share));
  });
}

}  // namespace fastcnn
