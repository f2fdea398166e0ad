// Packed, cache-blocked GEMM (the Goto / BLIS scheme).
//
// op(A) and op(B) are first copied into panels (cpu/gemm.h) so the micro-kernel reads both
// operands sequentially; the micro-kernel (cpu/isa/<isa>/gemm_kernel.cpp) keeps an mr x nr
// tile of C in registers. Around it, three loops block for the caches:
//   for each depth block of KC            (C tiles are loaded/stored once per KC steps)
//     for each nr-column panel of B       B micro-panel, KC x nr, stays in L1 ...
//       for each mr-row panel of A        ... while the A block, MC x KC, streams from L2.
// Block sizes from the cache sizes of the target (Sapphire Rapids: 48 KiB L1d and 2 MiB L2 per
// core): the B micro-panel takes half of L1 (KC = 24 KiB / (nr * sizeof(T)), 192 floats for the
// AVX-512 kernel), the A block half of L2 (MC = 1 MiB / (KC * sizeof(T)), ~1350 rows); the other
// halves hold the streaming operand and C. Threads share the work as independent tiles of C
// (row blocks x column chunks), so no barrier sits inside the product.
#include "cpu/gemm.h"

#include <algorithm>
#include <cstring>

#include "core/runtime.h"
#include "core/workspace.h"

namespace fastcnn::cpu {

namespace {

constexpr int64_t kL1Bytes = 48 * 1024;
constexpr int64_t kL2Bytes = 2 * 1024 * 1024;
// Below this many multiply-adds a product runs on one thread: the fork costs more than it saves.
constexpr int64_t kParallelWork = 1 << 16;

const GemmKernel<float>& select_sgemm() {
#if defined(FASTCNN_X86)
  switch (active_isa()) {
    case Isa::avx512: return avx512::sgemm;
    case Isa::avx2: return avx2::sgemm;
    default: break;
  }
#endif
  return generic::sgemm;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

template <>
const GemmKernel<float>& gemm_kernel<float>() {
  static const GemmKernel<float>& kernel = select_sgemm();
  return kernel;
}

template <>
const GemmKernel<double>& gemm_kernel<double>() {
  return generic::dgemm;
}

template <typename T>
int64_t packed_a_size(int64_t M, int64_t K) {
  const int64_t mr = gemm_kernel<T>().mr;
  return ceil_div(M, mr) * mr * K;
}

template <typename T>
int64_t packed_b_size(int64_t K, int64_t N) {
  const int64_t nr = gemm_kernel<T>().nr;
  return ceil_div(N, nr) * nr * K;
}

template <typename T>
void pack_a(bool transpose, int64_t M, int64_t K, T alpha, const T* A, int64_t lda, T* packed) {
  const int64_t mr = gemm_kernel<T>().mr;
  const int64_t panels = ceil_div(M, mr);
#pragma omp parallel for schedule(static) if (!in_parallel_region() && M * K > kParallelWork)
  for (int64_t panel = 0; panel < panels; ++panel) {
    T* dst = packed + panel * mr * K;
    const int64_t row0 = panel * mr, rows = std::min(mr, M - row0);
    if (rows < mr) std::fill(dst, dst + mr * K, T(0));
    if (transpose) {
      // op(A)[i][k] = A[k][i]: each k contributes a contiguous run of rows.
      for (int64_t k = 0; k < K; ++k)
        for (int64_t i = 0; i < rows; ++i) dst[k * mr + i] = alpha * A[k * lda + row0 + i];
    } else {
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t k = 0; k < K; ++k) dst[k * mr + i] = alpha * A[(row0 + i) * lda + k];
    }
  }
}

template <typename T>
void pack_b(bool transpose, int64_t K, int64_t N, const T* B, int64_t ldb, T* packed) {
  const int64_t nr = gemm_kernel<T>().nr;
  const int64_t panels = ceil_div(N, nr);
#pragma omp parallel for schedule(static) if (!in_parallel_region() && N * K > kParallelWork)
  for (int64_t panel = 0; panel < panels; ++panel) {
    T* dst = packed + panel * nr * K;
    const int64_t col0 = panel * nr, cols = std::min(nr, N - col0);
    if (cols < nr) std::fill(dst, dst + nr * K, T(0));
    if (transpose) {
      for (int64_t j = 0; j < cols; ++j)
        for (int64_t k = 0; k < K; ++k) dst[k * nr + j] = B[(col0 + j) * ldb + k];
    } else {
      for (int64_t k = 0; k < K; ++k) std::memcpy(dst + k * nr, B + k * ldb + col0, cols * sizeof(T));
    }
  }
}

template <typename T>
void gemm_packed(int64_t M, int64_t N, int64_t K, const T* packed_a, const T* packed_b, T* C, int64_t ldc,
                 bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, T(0));
    return;
  }
  const GemmKernel<T>& kernel = gemm_kernel<T>();
  const int64_t mr = kernel.mr, nr = kernel.nr;
  const int64_t kc_block = std::max<int64_t>(16, kL1Bytes / 2 / (nr * int64_t(sizeof(T))));
  const int64_t mc_block = std::max<int64_t>(1, kL2Bytes / 2 / (kc_block * int64_t(sizeof(T))) / mr) * mr;

  // Tasks: row blocks of MC x column chunks, enough of them (4 per thread) to balance load.
  const bool parallel = !in_parallel_region() && M * N * K > kParallelWork;
  const int threads = parallel ? get_num_threads() : 1;
  const int64_t row_blocks = ceil_div(M, mc_block);
  const int64_t col_panels = ceil_div(N, nr);
  const int64_t col_chunks = std::min(col_panels, std::max<int64_t>(1, ceil_div(4 * threads, row_blocks)));
  const int64_t chunk_panels = ceil_div(col_panels, col_chunks);
  const int64_t tasks = row_blocks * ceil_div(col_panels, chunk_panels);

#pragma omp parallel for schedule(static) if (parallel && tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    T tile[16 * 32];  // the largest mr x nr of any kernel: edge tiles are computed here
    const int64_t row_begin = (task % row_blocks) * mc_block, row_end = std::min(M, row_begin + mc_block);
    const int64_t panel_begin = (task / row_blocks) * chunk_panels;
    const int64_t panel_end = std::min(col_panels, panel_begin + chunk_panels);
    for (int64_t depth0 = 0; depth0 < K; depth0 += kc_block) {
      const int64_t depth = std::min(kc_block, K - depth0);
      const bool add = accumulate || depth0 > 0;
      for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
        const int64_t col = panel * nr, cols = std::min(nr, N - col);
        const T* b = packed_b + panel * nr * K + depth0 * nr;
        for (int64_t row = row_begin; row < row_end; row += mr) {
          const int64_t rows = std::min(mr, M - row);
          const T* a = packed_a + (row / mr) * mr * K + depth0 * mr;
          T* c = C + row * ldc + col;
          if (rows == mr && cols == nr) {
            kernel.run(depth, a, b, c, ldc, add);
            continue;
          }
          kernel.run(depth, a, b, tile, nr, false);
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j) c[i * ldc + j] = add ? c[i * ldc + j] + tile[i * nr + j] : tile[i * nr + j];
        }
      }
    }
  }
}

template <typename T>
void gemm(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (beta != T(0) && beta != T(1))
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] *= beta;
  static thread_local Workspace<T> a_space, b_space;
  T* packed_a = a_space.get(packed_a_size<T>(M, K));
  T* packed_b = b_space.get(packed_b_size<T>(K, N));
  pack_a<T>(transpose_a, M, K, alpha, A, lda, packed_a);
  pack_b<T>(transpose_b, K, N, B, ldb, packed_b);
  gemm_packed<T>(M, N, K, packed_a, packed_b, C, ldc, beta != T(0));
}

template <typename T>
void gemm_batched(int64_t batch, bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C,
                  int64_t ldc, int64_t stride_c) {
  // Many small products: one per thread. Few large ones: each product uses every thread.
  const bool per_item = batch >= get_num_threads() && batch > 1;
#pragma omp parallel for schedule(static) if (per_item && !in_parallel_region() && batch * M * N * K > kParallelWork)
  for (int64_t item = 0; item < batch; ++item)
    gemm<T>(transpose_a, transpose_b, M, N, K, alpha, A + item * stride_a, lda, B + item * stride_b, ldb, beta,
            C + item * stride_c, ldc);
}

#define FASTCNN_INSTANTIATE_GEMM(T)                                                                                 \
  template int64_t packed_a_size<T>(int64_t, int64_t);                                                             \
  template int64_t packed_b_size<T>(int64_t, int64_t);                                                             \
  template void pack_a<T>(bool, int64_t, int64_t, T, const T*, int64_t, T*);                                       \
  template void pack_b<T>(bool, int64_t, int64_t, const T*, int64_t, T*);                                          \
  template void gemm_packed<T>(int64_t, int64_t, int64_t, const T*, const T*, T*, int64_t, bool);                  \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*,     \
                        int64_t);                                                                                  \
  template void gemm_batched<T>(int64_t, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, int64_t,     \
                                const T*, int64_t, int64_t, T, T*, int64_t, int64_t);
FASTCNN_INSTANTIATE_GEMM(float)
FASTCNN_INSTANTIATE_GEMM(double)
#undef FASTCNN_INSTANTIATE_GEMM

}  // namespace fastcnn::cpu
