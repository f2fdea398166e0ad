// AVX2 + FMA micro-kernel: a 6 x 16 tile of C in 12 ymm accumulators; each k step loads two
// vectors of B and broadcasts six values of A (12 FMAs per 2 loads + 6 broadcasts), leaving 3
// of the 16 ymm registers for operands.
#include <immintrin.h>

#include "cpu/isa/gemm_kernels.h"

namespace fastcnn::cpu::avx2 {

namespace {

constexpr int MR = 6, NR = 16;

void kernel(int64_t depth, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  __m256 acc0[MR], acc1[MR];
  for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t p = 0; p < depth; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    for (int i = 0; i < MR; ++i) {
      const __m256 a_value = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(a_value, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(a_value, b1, acc1[i]);
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; ++i) {
    float* row = c + i * ldc;
    if (accumulate) {
      acc0[i] = _mm256_add_ps(acc0[i], _mm256_loadu_ps(row));
      acc1[i] = _mm256_add_ps(acc1[i], _mm256_loadu_ps(row + 8));
    }
    _mm256_storeu_ps(row, acc0[i]);
    _mm256_storeu_ps(row + 8, acc1[i]);
  }
}

}  // namespace

const GemmKernel<float> sgemm = {MR, NR, kernel};

}  // namespace fastcnn::cpu::avx2
