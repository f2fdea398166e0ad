#pragma once
// General matrix multiply, the core of matmul, linear and the im2col convolutions:
//   C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C
// Row-major; op(X) is X or X^T; lda/ldb/ldc are the row strides of A, B, C as stored.
//
// The building blocks are public so that convolutions can pack their operands themselves (the
// weights once per call, im2col columns straight into B's packed layout):
//   packed A: panels of mr rows; panel r holds op(A)[r*mr + i][k] at r*mr*K + k*mr + i.
//   packed B: panels of nr columns; panel q holds op(B)[k][q*nr + j] at q*nr*K + k*nr + j.
// Both are zero-padded to whole panels. mr and nr come from the active micro-kernel.
#include <cstdint>

#include "cpu/isa/gemm_kernels.h"

namespace fastcnn::cpu {

// The micro-kernel for T chosen once from fastcnn::active_isa().
template <typename T>
const GemmKernel<T>& gemm_kernel();

// Elements of the packed buffers (multiples of a whole panel).
template <typename T>
int64_t packed_a_size(int64_t M, int64_t K);
template <typename T>
int64_t packed_b_size(int64_t K, int64_t N);

// Pack op(A) scaled by alpha / op(B). Parallel over panels unless already inside a parallel region.
template <typename T>
void pack_a(bool transpose, int64_t M, int64_t K, T alpha, const T* A, int64_t lda, T* packed);
template <typename T>
void pack_b(bool transpose, int64_t K, int64_t N, const T* B, int64_t ldb, T* packed);

// C = packed_a * packed_b (+ C when accumulate). Parallel over tiles of C unless already inside
// a parallel region (the convolutions run one image per thread and call it serially).
template <typename T>
void gemm_packed(int64_t M, int64_t N, int64_t K, const T* packed_a, const T* packed_b, T* C, int64_t ldc,
                 bool accumulate);

template <typename T>
void gemm(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// `batch` independent GEMMs; A, B, C advance by stride_a, stride_b, stride_c elements per item
// (stride 0 broadcasts an operand). Parallel over the batch or within each product.
template <typename T>
void gemm_batched(int64_t batch, bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C,
                  int64_t ldc, int64_t stride_c);

}  // namespace fastcnn::cpu
