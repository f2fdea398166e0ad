// AVX-512 FMA burst: 16 zmm accumulators. Two FMA pipes x 4-cycle latency need 8 chains in
// flight; 16 leave margin and still fit the 32 registers with the two operands.
#include <immintrin.h>

#include "cpu/isa/peak.h"

namespace fastcnn::cpu::isa {

namespace {

constexpr int kAccumulators = 16;

float run(int64_t iterations) {
  __m512 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  // acc <- acc * 0.999999 + 1e-7 converges to 0.1: no overflow and no denormals, however long it runs.
  const __m512 scale = _mm512_set1_ps(0.999999f), shift = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_fmadd_ps(acc[i], scale, shift);
  }
  for (int i = 1; i < kAccumulators; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  return _mm512_reduce_add_ps(acc[0]);
}

}  // namespace

FmaBurst fma_burst_avx512() { return {run, kAccumulators * 16 * 2}; }

}  // namespace fastcnn::cpu::isa
