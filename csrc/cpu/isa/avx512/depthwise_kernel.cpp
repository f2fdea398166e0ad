// AVX-512 depthwise kernels. Row: 32 outputs at a time in two registers, every tap accumulated
// before the one store (9 loads + 9 FMAs per 16 outputs for a 3x3 kernel). Dots: four taps at a
// time, 32 values of a per step in two registers per tap (8 independent FMA chains). Tails use masks.
#include <immintrin.h>

#include "cpu/isa/depthwise_kernels.h"

namespace fastcnn::cpu::avx512 {

void depthwise_row(int64_t count, int64_t taps, const float* const* rows, const float* weights, float init,
                   float* out) {
  int64_t q = 0;
  for (; q + 32 <= count; q += 32) {
    __m512 acc0 = _mm512_set1_ps(init), acc1 = acc0;
    for (int64_t t = 0; t < taps; ++t) {
      const __m512 w = _mm512_set1_ps(weights[t]);
      acc0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(rows[t] + q), acc0);
      acc1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(rows[t] + q + 16), acc1);
    }
    _mm512_storeu_ps(out + q, acc0);
    _mm512_storeu_ps(out + q + 16, acc1);
  }
  for (; q < count; q += 16) {
    const __mmask16 mask = count - q >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (count - q)) - 1);
    __m512 acc = _mm512_set1_ps(init);
    for (int64_t t = 0; t < taps; ++t)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(weights[t]), _mm512_maskz_loadu_ps(mask, rows[t] + q), acc);
    _mm512_mask_storeu_ps(out + q, mask, acc);
  }
}

namespace {

// out[t] += sum_j a[j] * b[offsets[t] + j] for the Taps taps starting at offsets.
template <int Taps>
void dots_group(int64_t length, const float* a, const float* b, const int64_t* offsets, float* out) {
  const float* rows[Taps];
  __m512 acc0[Taps], acc1[Taps];
  for (int t = 0; t < Taps; ++t) {
    rows[t] = b + offsets[t];
    acc0[t] = acc1[t] = _mm512_setzero_ps();
  }
  int64_t j = 0;
  for (; j + 32 <= length; j += 32) {
    const __m512 a0 = _mm512_loadu_ps(a + j), a1 = _mm512_loadu_ps(a + j + 16);
    for (int t = 0; t < Taps; ++t) {
      acc0[t] = _mm512_fmadd_ps(a0, _mm512_loadu_ps(rows[t] + j), acc0[t]);
      acc1[t] = _mm512_fmadd_ps(a1, _mm512_loadu_ps(rows[t] + j + 16), acc1[t]);
    }
  }
  for (; j < length; j += 16) {
    const __mmask16 mask = length - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (length - j)) - 1);
    const __m512 a0 = _mm512_maskz_loadu_ps(mask, a + j);
    for (int t = 0; t < Taps; ++t) acc0[t] = _mm512_fmadd_ps(a0, _mm512_maskz_loadu_ps(mask, rows[t] + j), acc0[t]);
  }
  for (int t = 0; t < Taps; ++t) out[t] += _mm512_reduce_add_ps(_mm512_add_ps(acc0[t], acc1[t]));
}

}  // namespace

void depthwise_dots(int64_t length, int64_t taps, const float* a, const float* b, const int64_t* offsets,
                    float* out) {
  int64_t t = 0;
  for (; t + 4 <= taps; t += 4) dots_group<4>(length, a, b, offsets + t, out + t);
  for (; t < taps; ++t) dots_group<1>(length, a, b, offsets + t, out + t);
}

}  // namespace fastcnn::cpu::avx512
