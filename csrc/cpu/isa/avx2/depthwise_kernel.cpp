// AVX2 depthwise kernels. Row: 16 outputs at a time in two registers, every tap accumulated
// before the one store. Dots: four taps at a time, 16 values of a per step in two registers per
// tap (8 independent FMA chains). Tails run scalar.
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

namespace {

// out[t] += sum_j a[j] * b[offsets[t] + j] for the Taps taps starting at offsets.
template <int Taps>
void dots_group(int64_t length, const float* a, const float* b, const int64_t* offsets, float* out) {
  const float* rows[Taps];
  __m256 acc0[Taps], acc1[Taps];
  for (int t = 0; t < Taps; ++t) {
    rows[t] = b + offsets[t];
    acc0[t] = acc1[t] = _mm256_setzero_ps();
  }
  int64_t j = 0;
  for (; j + 16 <= length; j += 16) {
    const __m256 a0 = _mm256_loadu_ps(a + j), a1 = _mm256_loadu_ps(a + j + 8);
    for (int t = 0; t < Taps; ++t) {
      acc0[t] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(rows[t] + j), acc0[t]);
      acc1[t] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(rows[t] + j + 8), acc1[t]);
    }
  }
  for (int t = 0; t < Taps; ++t) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, _mm256_add_ps(acc0[t], acc1[t]));
    float sum = 0;
    for (int lane = 0; lane < 8; ++lane) sum += lanes[lane];
    for (int64_t tail = j; tail < length; ++tail) sum += a[tail] * rows[t][tail];
    out[t] += sum;
  }
}

}  // namespace

void depthwise_dots(int64_t length, int64_t taps, const float* a, const float* b, const int64_t* offsets,
                    float* out) {
  int64_t t = 0;
  for (; t + 4 <= taps; t += 4) dots_group<4>(length, a, b, offsets + t, out + t);
  for (; t < taps; ++t) dots_group<1>(length, a, b, offsets + t, out + t);
}

}  // namespace fastcnn::cpu::avx2
