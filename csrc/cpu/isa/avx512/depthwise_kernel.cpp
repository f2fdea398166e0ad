// AVX-512 depthwise row kernel: 32 outputs at a time in two registers, every tap accumulated
// before the one store (9 loads + 9 FMAs per 16 outputs for a 3x3 kernel); the tail uses masks.
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

}  // namespace fastcnn::cpu::avx512
