#pragma once
// General matrix multiply, the core of matmul, linear and the im2col convolutions:
//   C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C
// Row-major; op(X) is X or X^T; lda/ldb/ldc are the row strides of A, B, C as stored.
#include <cstdint>

namespace fastcnn::cpu {

template <typename T>
void gemm(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// `batch` independent GEMMs; A, B, C advance by stride_a, stride_b, stride_c elements per item
// (stride 0 broadcasts an operand). Parallel over the batch and within each product.
template <typename T>
void gemm_batched(int64_t batch, bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C,
                  int64_t ldc, int64_t stride_c);

}  // namespace fastcnn::cpu
