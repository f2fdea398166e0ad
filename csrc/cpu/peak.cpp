// Machine peak microbenchmarks. Both report the best of repeated windows rather than the mean:
// on a machine shared with other processes the best window is the closest to what the hardware
// can do, which is the denominator bench/ wants for "% of peak".
#include "cpu/peak.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "cpu/isa/choose.h"
#include "cpu/isa/peak.h"

namespace fastcnn::cpu {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One window: every thread runs `iterations` rounds; returns FLOP/s for the window.
double fma_window(const FmaBurst& burst, int64_t iterations, volatile float& sink) {
  const Clock::time_point start = Clock::now();
  int64_t threads = 0;
  float sum = 0.0f;
#pragma omp parallel reduction(+ : threads, sum)
  {
    sum += burst.run(iterations);
    threads += 1;
  }
  const double elapsed = seconds_since(start);
  sink = sum;
  return static_cast<double>(threads * iterations * burst.flops_per_iteration) / elapsed;
}

}  // namespace

double measure_fma_peak(double seconds) {
  const FmaBurst& burst = FASTCNN_PICK_ISA(generic::fma_burst, avx2::fma_burst, avx512::fma_burst);
  volatile float sink = 0.0f;
  // Grow the window until it lasts a twentieth of the budget (at least a millisecond), so
  // thread start-up is negligible; the growing doubles as warm-up for the vector units' clocks.
  const double window = std::max(seconds / 20.0, 1e-3);
  int64_t iterations = 1024;
  const Clock::time_point start = Clock::now();
  for (;;) {
    const Clock::time_point window_start = Clock::now();
    fma_window(burst, iterations, sink);
    if (seconds_since(window_start) >= window || seconds_since(start) >= seconds / 2) break;
    iterations *= 2;
  }
  double best = 0.0;
  do {
    best = std::max(best, fma_window(burst, iterations, sink));
  } while (seconds_since(start) < seconds);
  return best / 1e9;
}

double measure_stream_bandwidth(int64_t bytes, double seconds) {
  const int64_t count = bytes / (3 * static_cast<int64_t>(sizeof(float)));
  std::unique_ptr<float[]> a(new float[count]), b(new float[count]), c(new float[count]);
  // First touch with the triad's own static schedule, so each thread's pages sit on its node.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    a[i] = 0.0f;
    b[i] = 1.0f;
    c[i] = 2.0f;
  }
  const float scale = 3.0f;
  const double moved = 3.0 * static_cast<double>(count) * sizeof(float);
  double best = 0.0;
  const Clock::time_point start = Clock::now();
  int passes = 0;
  // At least three passes: the first one warms the TLB and caches and rarely is the best.
  while (passes < 3 || seconds_since(start) < seconds) {
    const Clock::time_point pass_start = Clock::now();
    float* out = a.get();
    const float* x = b.get();
    const float* y = c.get();
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < count; ++i) out[i] = x[i] + scale * y[i];
    best = std::max(best, moved / seconds_since(pass_start));
    ++passes;
  }
  return best / 1e9;
}

}  // namespace fastcnn::cpu
