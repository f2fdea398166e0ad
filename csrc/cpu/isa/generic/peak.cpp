// Portable multiply-add burst: plain C++ the compiler vectorises for the baseline ISA (SSE2 on
// x86-64, NEON on aarch64). 32 independent lanes hide the add latency on either.
#include "cpu/isa/peak.h"

namespace fastcnn::cpu::generic {

namespace {

constexpr int kLanes = 32;

float run(int64_t iterations) {
  float acc[kLanes];
  for (int i = 0; i < kLanes; ++i) acc[i] = 0.001f * static_cast<float>(i);
  // acc <- acc * 0.999999 + 1e-7 converges to 0.1: no overflow and no denormals, however long it runs.
  for (int64_t it = 0; it < iterations; ++it) {
#pragma omp simd
    for (int i = 0; i < kLanes; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
  }
  float sum = 0.0f;
  for (float lane : acc) sum += lane;
  return sum;
}

}  // namespace

extern const FmaBurst fma_burst = {run, kLanes * 2};

}  // namespace fastcnn::cpu::generic
