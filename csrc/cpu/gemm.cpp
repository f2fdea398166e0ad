// Portable GEMM: each thread owns a block of rows of C and streams B row by row, so the inner
// loop is a contiguous axpy the compiler vectorises. Transposed operands are read through
// strides. (csrc/cpu/isa/ will hold the packed, register-blocked micro-kernels.)
#include "cpu/gemm.h"

#include <algorithm>
#include <vector>

namespace fastcnn::cpu {

namespace {

template <typename T>
void gemm_rows(bool transpose_a, bool transpose_b, int64_t row_begin, int64_t row_end, int64_t N, int64_t K, T alpha,
               const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, T* b_row) {
  for (int64_t i = row_begin; i < row_end; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) std::fill(c, c + N, T(0));
    else if (beta != T(1)) for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    for (int64_t k = 0; k < K; ++k) {
      const T a = alpha * (transpose_a ? A[k * lda + i] : A[i * lda + k]);
      if (a == T(0)) continue;
      const T* b;
      if (transpose_b) {
        for (int64_t j = 0; j < N; ++j) b_row[j] = B[j * ldb + k];
        b = b_row;
      } else {
        b = B + k * ldb;
      }
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
    }
  }
}

}  // namespace

template <typename T>
void gemm(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_batched<T>(1, transpose_a, transpose_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0);
}

template <typename T>
void gemm_batched(int64_t batch, bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C,
                  int64_t ldc, int64_t stride_c) {
  const int64_t work = batch * M;
#pragma omp parallel if (work * N * K > 32768)
  {
    std::vector<T> b_row(transpose_b ? N : 0);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < work; ++item) {
      const int64_t b = item / M, i = item % M;
      gemm_rows<T>(transpose_a, transpose_b, i, i + 1, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb,
                   beta, C + b * stride_c, ldc, b_row.data());
    }
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm_batched<float>(int64_t, bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                  int64_t, const float*, int64_t, int64_t, float, float*, int64_t, int64_t);
template void gemm_batched<double>(int64_t, bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                   int64_t, const double*, int64_t, int64_t, double, double*, int64_t, int64_t);

}  // namespace fastcnn::cpu
