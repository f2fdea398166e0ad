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

// Row panels of A, packed or read in place: panel q holds rows [a_panel_row<T>(M, q),
// a_panel_row<T>(M, q + 1)), at most mr of them (zero-padded to mr when packed). All hold mr
// rows but the last two where the last would be less than half full (M % mr = 1 or 2 with the
// AVX2 kernel's mr = 6: 32, 128 or 320 channels): those share their rows evenly, since a kernel
// that computes only the needed rows runs a two-row tile at half its speed (its loads bound it)
// and a four-row tile at full speed.
template <typename T>
inline int64_t a_panel_row(int64_t M, int64_t panel) {
  const int64_t mr = gemm_kernel<T>().mr, panels = (M + mr - 1) / mr, rest = M % mr;
  if (panel >= panels) return M;
  if (panel + 1 < panels || panels < 2 || rest == 0 || 2 * rest >= mr) return panel * mr;
  return (panel - 1) * mr + (mr + rest + 1) / 2;
}

// Elements of the packed buffers (multiples of a whole panel).
template <typename T>
int64_t packed_a_size(int64_t M, int64_t K);
template <typename T>
int64_t packed_b_size(int64_t K, int64_t N);

// How many columns of B to pack at a time so that the packed K x columns block stays in L2
// while gemm_packed consumes it (a multiple of nr). Callers that build B themselves (the im2col
// convolutions) go block by block.
template <typename T>
int64_t gemm_block_columns(int64_t K);

// The longest depth block KC (an A micro-panel in half of L1): longer depths are cut into equal
// blocks of at most this, the C tiles loaded and stored once per block.
template <typename T>
int64_t gemm_block_depth();

// Pack op(A) scaled by alpha / op(B). Parallel over panels unless already inside a parallel region.
template <typename T>
void pack_a(bool transpose, int64_t M, int64_t K, T alpha, const T* A, int64_t lda, T* packed);
template <typename T>
void pack_b(bool transpose, int64_t K, int64_t N, const T* B, int64_t ldb, T* packed);

// C = A * packed_b (+ C when accumulate) (+ row_bias[i] on row i when row_bias is not null, added
// as the tiles are stored: a convolution's bias without another pass over its output). A is
// gemm.h's packed A when a_stride is 0; otherwise it is read in place, row i at a + i * a_stride
// (see worth_packing_a). Parallel over tiles of C unless already inside a parallel region (the
// convolutions run one image per thread and call it serially).
template <typename T>
void gemm_packed(int64_t M, int64_t N, int64_t K, const T* a, const T* packed_b, T* C, int64_t ldc, bool accumulate,
                 int64_t a_stride = 0, const T* row_bias = nullptr);

// C = A * B (+ C when accumulate) (+ row_bias as in gemm_packed), A as in gemm_packed, where row
// k of B is the N values starting at b + b_offsets[k]; up to nr - 1 values past the end of each
// row are read (and ignored), so the caller keeps them readable. The stride-1 convolutions read
// im2col rows from the input this way. a_panel_depth > 0: A is a depth range of a packed A of
// that depth (a points at the range's first depth of panel 0), for products over a part of the
// depth at a time.
template <typename T>
void gemm_rows(int64_t M, int64_t N, int64_t K, const T* a, const T* b, const int64_t* b_offsets, T* C, int64_t ldc,
               bool accumulate, int64_t a_stride = 0, int64_t a_panel_depth = 0, const T* row_bias = nullptr);

// Whether an A operand (row-major, contiguous rows) that will multiply `columns` columns of B in
// all is worth packing. The micro-kernels read A in place within ~5% of their speed on packed
// panels (Zen 3), while packing reads and writes all of A once more (~1 cycle a value): that
// pays for itself only from ~16 column panels on. Below that (batch-1 inference on small
// planes, where the weights' repacking took twice the time of the products) A is read in place.
template <typename T>
bool worth_packing_a(int64_t columns);

// C = A B^T (+ C when accumulate) with the depth L contiguous in both: row i of A at a + i*lda,
// row j of B at b + b_offsets[j]. No packing; the convolutions' weight gradients use it with
// B's rows taken from im2col blocks, the input planes (1x1) or the padded input (stride 1).
// period > 0 says that A holds zeros at every position p with p % period >= kept (the dropped
// columns of a convolution's grid), which may then be skipped.
template <typename T>
void gemm_dots(int64_t M, int64_t N, int64_t L, const T* a, int64_t lda, const T* b, const int64_t* b_offsets, T* C,
               int64_t ldc, bool accumulate, int64_t kept = 0, int64_t period = 0);

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
