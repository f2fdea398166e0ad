// Portable micro-kernel: plain loops over a small register tile that any compiler vectorises
// with the baseline ISA (SSE2 on x86-64, NEON on aarch64). Also the float64 path everywhere.
#include "cpu/isa/gemm_kernels.h"

namespace fastcnn::cpu::generic {

namespace {

// next_b(p) is the start of B's row p: the packed panel or a row of the input.
template <typename T, int MR, int NR, typename A, typename NextB>
inline void tile(int64_t depth, const A& a, NextB next_b, T* c, int64_t ldc, bool accumulate, int rows, int cols,
                 const T* row_bias) {
  T sums[MR][NR] = {};
  for (int64_t p = 0; p < depth; ++p) {
    const T* b = next_b(p);
    for (int i = 0; i < MR; ++i) {
      const T a_value = a.at(p, i);
      for (int j = 0; j < NR; ++j) sums[i][j] += a_value * b[j];
    }
  }
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      const T sum = row_bias != nullptr ? sums[i][j] + row_bias[i] : sums[i][j];
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
    }
}

template <typename T, int MR, int NR, typename NextB>
inline void tile_for_a(int64_t depth, const T* a, int64_t a_stride, NextB next_b, T* c, int64_t ldc, bool accumulate,
                       int rows, int cols, const T* row_bias) {
  if (a_stride == 0)
    return tile<T, MR, NR>(depth, PackedA<T, MR>{a}, next_b, c, ldc, accumulate, rows, cols, row_bias);
  tile<T, MR, NR>(depth, StridedA<T, MR>(a, a_stride, rows), next_b, c, ldc, accumulate, rows, cols, row_bias);
}

template <typename T, int MR, int NR>
void kernel(int64_t depth, const T* a, int64_t a_stride, const T* b, T* c, int64_t ldc, bool accumulate, int rows,
            int cols, const T* row_bias) {
  tile_for_a<T, MR, NR>(depth, a, a_stride, [b](int64_t p) { return b + p * NR; }, c, ldc, accumulate, rows, cols,
                        row_bias);
}

template <typename T, int MR, int NR>
void kernel_rows(int64_t depth, const T* a, int64_t a_stride, const T* b, const int64_t* b_offsets, T* c,
                 int64_t ldc, bool accumulate, int rows, int cols, const T* row_bias) {
  tile_for_a<T, MR, NR>(depth, a, a_stride, [b, b_offsets](int64_t p) { return b + b_offsets[p]; }, c, ldc,
                        accumulate, rows, cols, row_bias);
}

template <typename T, int DM, int DN>
void dots(int64_t length, int rows, int cols, const T* a, int64_t lda, const T* b, const int64_t* b_offsets, T* c,
          int64_t ldc, bool accumulate) {
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      const T* a_row = a + i * lda;
      const T* b_row = b + b_offsets[j];
      T sum = 0;
      for (int64_t p = 0; p < length; ++p) sum += a_row[p] * b_row[p];
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
    }
}

}  // namespace

// 4 x 16 floats and 4 x 8 doubles: 16 SSE registers of accumulators.
const GemmKernel<float> sgemm = {4, 16, kernel<float, 4, 16>, kernel_rows<float, 4, 16>, 0, 4, 4, dots<float, 4, 4>,
                                  pack_lines_portable<float>};
const GemmKernel<double> dgemm = {4, 8, kernel<double, 4, 8>, kernel_rows<double, 4, 8>, 0, 4, 4, dots<double, 4, 4>,
                                   pack_lines_portable<double>};

}  // namespace fastcnn::cpu::generic
