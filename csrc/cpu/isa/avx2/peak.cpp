// AVX2 FMA burst: 12 ymm accumulators. Two FMA pipes x 4-5 cycle latency need 8-10 chains in
// flight; 12 plus the two operands fit the 16 registers without spilling.
#include <immintrin.h>

#include "cpu/isa/peak.h"

namespace fastcnn::cpu::isa {

namespace {

constexpr int kAccumulators = 12;

float run(int64_t iterations) {
  __m256 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  // acc <- acc * 0.999999 + 1e-7 converges to 0.1: no overflow and no denormals, however long it runs.
  const __m256 scale = _mm256_set1_ps(0.999999f), shift = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm256_fmadd_ps(acc[i], scale, shift);
  }
  for (int i = 1; i < kAccumulators; ++i) acc[0] = _mm256_add_ps(acc[0], acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc[0]);
  float sum = 0.0f;
  for (float lane : lanes) sum += lane;
  return sum;
}

}  // namespace

FmaBurst fma_burst_avx2() { return {run, kAccumulators * 8 * 2}; }

}  // namespace fastcnn::cpu::isa
