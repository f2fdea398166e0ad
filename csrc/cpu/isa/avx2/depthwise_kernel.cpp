// AVX2 depthwise row kernel: 16 outputs at a time in two registers, every tap accumulated before
// the one store; the tail runs through a zero-padded stack buffer.
#include <immintrin.h>

#include <algorithm>

#include "cpu/isa/depthwise_kernels.h"

namespace fastcnn::cpu::avx2 {

void depthwise_row(int64_t count, int64_t taps, const float* const* rows, const float* weights, float init,
                   float* out) {
  int64_t q = 0;
  for (; q + 16 <= count; q += 16) {
    __m256 acc0 = _mm256_set1_ps(init), acc1 = acc0;
    for (int64_t t = 0; t < taps; ++t) {
      const __m256 w = _mm256_broadcast_ss(weights + t);
      acc0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(rows[t] + q), acc0);
      acc1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(rows[t] + q + 8), acc1);
    }
    _mm256_storeu_ps(out + q, acc0);
    _mm256_storeu_ps(out + q + 8, acc1);
  }
  for (; q < count; ++q) {
    float sum = init;
    for (int64_t t = 0; t < taps; ++t) sum += weights[t] * rows[t][q];
    out[q] = sum;
  }
}

}  // namespace fastcnn::cpu::avx2
