// Portable micro-kernel: plain loops over a small register tile that any compiler vectorises
// with the baseline ISA (SSE2 on x86-64, NEON on aarch64). Also the float64 path everywhere.
#include "cpu/isa/gemm_kernels.h"

namespace fastcnn::cpu::generic {

namespace {

template <typename T, int MR, int NR>
void kernel(int64_t depth, const T* a, const T* b, T* c, int64_t ldc, bool accumulate) {
  T tile[MR][NR] = {};
  for (int64_t p = 0; p < depth; ++p) {
    for (int i = 0; i < MR; ++i) {
      const T a_value = a[p * MR + i];
      for (int j = 0; j < NR; ++j) tile[i][j] += a_value * b[p * NR + j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
}

}  // namespace

// 4 x 16 floats and 4 x 8 doubles: 16 SSE registers of accumulators.
const GemmKernel<float> sgemm = {4, 16, kernel<float, 4, 16>};
const GemmKernel<double> dgemm = {4, 8, kernel<double, 4, 8>};

}  // namespace fastcnn::cpu::generic
