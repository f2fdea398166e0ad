// AVX-512 micro-kernel: a 12 x 32 tile of C in 24 zmm accumulators. Each k step loads two
// vectors of B and broadcasts twelve values of A: 24 FMAs keep both 512-bit FMA ports busy for
// 12 cycles while the 14 loads fit the two load ports, and 24 + 2 + 1 of the 32 zmm registers
// are live, so nothing spills.
#include <immintrin.h>

#include "cpu/isa/gemm_kernels.h"

namespace fastcnn::cpu::avx512 {

namespace {

constexpr int MR = 12, NR = 32;

void kernel(int64_t depth, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  __m512 acc0[MR], acc1[MR];
  for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
#pragma GCC unroll 4
  for (int64_t p = 0; p < depth; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    for (int i = 0; i < MR; ++i) {
      const __m512 a_value = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(a_value, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(a_value, b1, acc1[i]);
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; ++i) {
    float* row = c + i * ldc;
    if (accumulate) {
      acc0[i] = _mm512_add_ps(acc0[i], _mm512_loadu_ps(row));
      acc1[i] = _mm512_add_ps(acc1[i], _mm512_loadu_ps(row + 16));
    }
    _mm512_storeu_ps(row, acc0[i]);
    _mm512_storeu_ps(row + 16, acc1[i]);
  }
}

}  // namespace

const GemmKernel<float> sgemm = {MR, NR, kernel};

}  // namespace fastcnn::cpu::avx512
