// Packed, cache-blocked GEMM (the Goto / BLIS scheme, mirrored for row-major C).
//
// op(A) and op(B) are first copied into panels (cpu/gemm.h) so the micro-kernel reads both
// operands sequentially; the micro-kernel (cpu/isa/<isa>/gemm_kernel.cpp) keeps an mr x nr
// tile of C in registers. Around it, three loops block for the caches:
//   for each depth block of KC              (C tiles are loaded/stored once per KC steps)
//     for each mr-row panel of A            A micro-panel, mr x KC, stays in L1 ...
//       for each nr-column panel of B       ... while the B block, KC x NB, streams from L2,
//                                           and the C tile walks along its rows (prefetchable).
// Block sizes from the per-core cache sizes read at start-up (core/runtime.h): the A micro-panel
// takes at most half of L1 (KC = L1 / 2 / (mr * sizeof(T)), capped at 512; a longer depth is cut
// into equal blocks of at most that), the B block half of L2 (NB = L2 / 2 / (KC * sizeof(T));
// Sapphire Rapids' 2 MiB L2: 480 columns = 10 panels of 48 at KC = 512; Zen 3's 512 KiB: 160
// columns = 10 panels of 16 at KC = 384); the other halves hold the streaming B micro-panel and C.
// Threads share the work as independent tiles of C (row chunks x column blocks), so no barrier
// sits inside the product.
//
// Beside the packed product: gemm_rows reads B's rows in place through offsets (implicit-GEMM
// convolutions) and gemm_dots multiplies two operands that share their contiguous axis as dot
// products (weight gradients), packing only when the dot products are too short to pay for
// their final reductions.
#include "cpu/gemm.h"

#include <algorithm>
#include <cstring>

#include "core/parallel.h"
#include "core/runtime.h"
#include "core/workspace.h"
#include "cpu/isa/choose.h"

namespace fastcnn::cpu {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

template <>
const GemmKernel<float>& gemm_kernel<float>() {
  static const GemmKernel<float>& kernel = FASTCNN_PICK_ISA(generic::sgemm, avx2::sgemm, avx512::sgemm);
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
bool worth_packing_a(int64_t columns) {
  return columns >= 16 * gemm_kernel<T>().nr;
}

template <typename T>
int64_t gemm_block_columns(int64_t K) {
  const int64_t nr = gemm_kernel<T>().nr;
  return std::max<int64_t>(1, cache_sizes().l2 / 2 / (std::max<int64_t>(K, 1) * nr * int64_t(sizeof(T)))) * nr;
}

template <typename T>
int64_t gemm_block_depth() {
  return std::min<int64_t>(512, cache_sizes().l1_data / 2 / (gemm_kernel<T>().mr * int64_t(sizeof(T))));
}

namespace {

// What a packing routine packs: A's rows into mr-wide panels (split as a_panel_row says) or B's
// columns into nr-wide ones.
enum class Panels { a_rows, b_columns };

// Calls fill(dst, first, size) for every panel of `width` rows (columns) out of `count`, in
// parallel; a partial panel is zeroed first, so its padding lanes hold 0.
template <typename T, typename Fill>
void for_each_panel(Panels kind, int64_t count, int64_t width, int64_t depth, T* packed, Fill&& fill,
                    bool parallel = true) {
  const int64_t panels = ceil_div(count, width);
  auto first_of = [&](int64_t panel) {
    return kind == Panels::a_rows ? a_panel_row<T>(count, panel) : std::min(count, panel * width);
  };
  parallel_for(panels, parallel && worth_parallel(count * depth), [&](int64_t panel) {
    T* dst = packed + panel * width * depth;
    const int64_t first = first_of(panel), size = first_of(panel + 1) - first;
    if (size < width) std::fill(dst, dst + width * depth, T(0));
    fill(dst, first, size);
  });
}

// Packs `count` lines into panels of `width` lanes (nr for B, mr for A): panel[k][j] is value k
// of line first + j, a transpose of contiguous runs, done per panel by the active kernel set's
// pack_lines (in registers where the ISA has the shuffles for it). With period > 0 only the
// first `kept` of every `period` values of a line are packed (K of them in all).
template <typename T, typename LineOf>
void pack_transposed(Panels kind, int64_t K, int64_t count, int64_t width, LineOf line_of, T* packed, int64_t kept = 0,
                     int64_t period = 0, bool parallel = true) {
  const GemmKernel<T>& kernel = gemm_kernel<T>();
  if (period == 0) kept = period = std::max<int64_t>(K, 1);
  for_each_panel(kind, count, width, K, packed, [&](T* dst, int64_t first, int64_t lines_in_panel) {
    const T* lines[64];  // at least the largest mr and nr
    for (int64_t k = 0; k < K; k += kept) {
      for (int64_t j = 0; j < lines_in_panel; ++j) lines[j] = line_of(first + j) + k / kept * period;
      kernel.pack_lines(std::min(kept, K - k), lines, int(lines_in_panel), int(width), dst + k * width);
    }
  }, parallel);
}

// pack_b, on the calling thread only when parallel is false.
template <typename T>
void pack_b_lines(bool transpose, int64_t K, int64_t N, const T* B, int64_t ldb, T* packed, bool parallel) {
  const int64_t nr = gemm_kernel<T>().nr;
  if (transpose)
    return pack_transposed<T>(Panels::b_columns, K, N, nr, [B, ldb](int64_t j) { return B + j * ldb; }, packed, 0, 0,
                              parallel);
  // Row by row, each row split over every panel: B is read in order (panel by panel it would
  // be read in nr-wide strips of K rows, a new page per row).
  const int64_t panels = ceil_div(N, nr);
  parallel_for(K, parallel && worth_parallel(K * N), [&](int64_t k) {
    for (int64_t panel = 0; panel < panels; ++panel) {
      T* dst = packed + (panel * K + k) * nr;
      const int64_t cols = std::min(nr, N - panel * nr);
      std::memcpy(dst, B + k * ldb + panel * nr, cols * sizeof(T));
      std::fill(dst + cols, dst + nr, T(0));
    }
  });
}

}  // namespace

template <typename T>
void pack_a(bool transpose, int64_t M, int64_t K, T alpha, const T* A, int64_t lda, T* packed) {
  const GemmKernel<T>& kernel = gemm_kernel<T>();
  const int64_t mr = kernel.mr;
  if (!transpose && alpha == T(1))  // rows of A are contiguous runs
    return pack_transposed<T>(Panels::a_rows, K, M, mr, [A, lda](int64_t i) { return A + i * lda; }, packed);
  for_each_panel(Panels::a_rows, M, mr, K, packed, [&](T* dst, int64_t row0, int64_t rows) {
    // k outer either way: dst is written in order; op(A) = A^T reads one contiguous run of
    // rows per k, op(A) = A reads the mr source rows as mr sequential streams.
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < rows; ++i)
        dst[k * mr + i] = alpha * (transpose ? A[k * lda + row0 + i] : A[(row0 + i) * lda + k]);
  });
}

template <typename T>
void pack_b(bool transpose, int64_t K, int64_t N, const T* B, int64_t ldb, T* packed) {
  pack_b_lines<T>(transpose, K, N, B, ldb, packed, true);
}

namespace {

// Equal depth blocks of at most KC: 576 = 288 + 288 rather than 512 + 64, whose short block
// pays a C tile load and store for few FMAs.
template <typename T>
int64_t depth_block(int64_t K) {
  const int64_t kc_max = gemm_block_depth<T>();
  return ceil_div(K, ceil_div(K, kc_max));
}

// NB in panels: the most nr-wide panels of depth kc_block that fit in half of L2.
template <typename T>
int64_t block_panels_max(int64_t kc_block) {
  return std::max<int64_t>(1, cache_sizes().l2 / 2 / (kc_block * gemm_kernel<T>().nr * int64_t(sizeof(T))));
}

// The two inner loops: row panels [row_begin, row_end) of packed A (panels of panel_depth) times
// column panels [col_begin, col_end) of B, depths [depth0, depth0 + depth); add: accumulate into
// C; row_bias: M values added to C's rows (null for none; given for one depth block only).
// movable: tiles may start at any column (B read in place), so a narrow last panel is merged
// with the one before it (GemmKernel::narrow).
template <typename T, typename Micro>
void multiply_panels(int64_t M, int64_t N, int64_t panel_depth, const T* a_operand, int64_t a_stride, Micro& micro,
                     T* C, int64_t ldc, bool add, const T* row_bias, int64_t depth0, int64_t depth, int64_t row_begin,
                     int64_t row_end, int64_t col_begin, int64_t col_end, bool movable = false) {
  const GemmKernel<T>& kernel = gemm_kernel<T>();
  const int64_t mr = kernel.mr, nr = kernel.nr;
  const int64_t last = ceil_div(N, nr) - 1;
  const bool merge = movable && N - last * nr <= kernel.narrow && col_begin < last && col_end == last + 1;
  for (int64_t row_panel = row_begin; row_panel < row_end; ++row_panel) {
    const int64_t row = a_panel_row<T>(M, row_panel);
    const int rows = int(a_panel_row<T>(M, row_panel + 1) - row);
    const T* a = a_stride == 0 ? a_operand + (row_panel * panel_depth + depth0) * mr : a_operand + row * a_stride + depth0;
    const T* bias = row_bias != nullptr ? row_bias + row : nullptr;
    auto run = [&](int64_t col, int64_t cols) {
      micro(depth, a, col, depth0, C + row * ldc + col, ldc, add, rows, int(cols), bias);
    };
    for (int64_t col_panel = col_begin; col_panel < (merge ? last - 1 : col_end); ++col_panel)
      run(col_panel * nr, std::min(nr, N - col_panel * nr));
    if (merge) {
      const int64_t col = (last - 1) * nr, first = nr - kernel.narrow;
      run(col, first);
      run(col + first, N - col - first);
    }
  }
}

// The blocked loops shared by gemm_packed and gemm_rows; micro(depth, a, col, depth0, c, ldc, add,
// rows, cols, row_bias) runs the micro-kernel on the B columns starting at `col`, depths [depth0,
// depth0 + depth), of which the first rows x cols of the tile are needed; `col` may be any column
// when movable (gemm_rows), a multiple of nr otherwise (packed B). row_bias (M values, or null)
// goes with the first depth block.
template <typename T, typename Micro>
void gemm_blocked(int64_t M, int64_t N, int64_t K, const T* a_operand, int64_t a_stride, int64_t a_panel_depth,
                  Micro&& micro, T* C, int64_t ldc, bool accumulate, const T* row_bias, bool movable) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i) {
      const T bias = row_bias != nullptr ? row_bias[i] : T(0);
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = (accumulate ? C[i * ldc + j] : T(0)) + bias;
    }
    return;
  }
  const GemmKernel<T>& kernel = gemm_kernel<T>();
  const int64_t mr = kernel.mr, nr = kernel.nr;
  const int64_t kc_block = depth_block<T>(K), nb_panels = block_panels_max<T>(kc_block);

  // Tasks: column blocks of at most NB x row chunks, enough of them (8 per thread) to balance
  // load, of near-equal size (22 panels split 8 + 8 + 6, not 10 + 10 + 2) and handed out one at
  // a time, so neither a short block nor a thread that loses its core leaves the other waiting.
  const bool parallel = worth_parallel_gemm(M * N * K);
  const int threads = parallel ? get_num_threads() : 1;
  const int64_t col_panels = ceil_div(N, nr), row_panels = ceil_div(M, mr);
  const int64_t block_panels = ceil_div(col_panels, ceil_div(col_panels, nb_panels));
  const int64_t col_blocks = ceil_div(col_panels, block_panels);
  const int64_t row_chunks = std::min(row_panels, std::max<int64_t>(1, ceil_div(8 * threads, col_blocks)));
  const int64_t chunk_panels = ceil_div(row_panels, row_chunks);
  const int64_t tasks = col_blocks * ceil_div(row_panels, chunk_panels);

  parallel_for<Schedule::dynamic>(tasks, parallel, [&](int64_t task) {
    const int64_t col_begin = (task % col_blocks) * block_panels;
    const int64_t col_end = std::min(col_panels, col_begin + block_panels);
    const int64_t row_begin = (task / col_blocks) * chunk_panels;
    const int64_t row_end = std::min(row_panels, row_begin + chunk_panels);
    for (int64_t depth0 = 0; depth0 < K; depth0 += kc_block) {
      const int64_t depth = std::min(kc_block, K - depth0);
      const bool add = accumulate || depth0 > 0;
      multiply_panels<T>(M, N, a_panel_depth, a_operand, a_stride, micro, C, ldc, add, depth0 == 0 ? row_bias : nullptr,
                         depth0, depth, row_begin, row_end, col_begin, col_end, movable);
    }
  });
}

}  // namespace

template <typename T>
void gemm_packed(int64_t M, int64_t N, int64_t K, const T* a, const T* packed_b, T* C, int64_t ldc, bool accumulate,
                 int64_t a_stride, const T* row_bias) {
  const GemmKernel<T>& kernel = gemm_kernel<T>();
  const int64_t nr = kernel.nr;
  gemm_blocked<T>(M, N, K, a, a_stride, K, [&](int64_t depth, const T* a_tile, int64_t col, int64_t depth0, T* c,
                                               int64_t ldc_, bool add, int rows, int cols, const T* bias) {
    kernel.run(depth, a_tile, a_stride, packed_b + col * K + depth0 * nr, c, ldc_, add, rows, cols, bias);
  }, C, ldc, accumulate, row_bias, false);
}

template <typename T>
void gemm_rows(int64_t M, int64_t N, int64_t K, const T* a, const T* b, const int64_t* b_offsets, T* C, int64_t ldc,
               bool accumulate, int64_t a_stride, int64_t a_panel_depth, const T* row_bias) {
  const GemmKernel<T>& kernel = gemm_kernel<T>();
  const int64_t panel_depth = a_panel_depth > 0 ? a_panel_depth : K;
  gemm_blocked<T>(M, N, K, a, a_stride, panel_depth, [&](int64_t depth, const T* a_tile, int64_t col, int64_t depth0,
                                                         T* c, int64_t ldc_, bool add, int rows, int cols,
                                                         const T* bias) {
    kernel.run_rows(depth, a_tile, a_stride, b + col, b_offsets + depth0, c, ldc_, add, rows, cols, bias);
  }, C, ldc, accumulate, row_bias, true);
}

template <typename T>
void gemm_dots(int64_t M, int64_t N, int64_t L, const T* a, int64_t lda, const T* b, const int64_t* b_offsets, T* C,
               int64_t ldc, bool accumulate, int64_t kept, int64_t period) {
  if (M <= 0 || N <= 0) return;
  const GemmKernel<T>& kernel = gemm_kernel<T>();
  const int64_t dm = kernel.dm, dn = kernel.dn;
  // Depth chunks sized so that the dn rows of B stay in half of L1 while every row tile of A
  // streams past them (1024 floats for the AVX-512 kernel); long chunks also amortise the
  // horizontal reductions that end each tile's dot products.
  const int64_t max_chunk = std::max<int64_t>(64, cache_sizes().l1_data / 2 / (dn * int64_t(sizeof(T))) / 16 * 16);
  if (L < max_chunk && M >= kernel.mr) {
    // Short dot products would spend as long in their final reductions as in the FMAs: pack
    // both operands (transposing B's rows) and take the register-blocked product instead, on
    // the kept positions only (the zeros of A multiply nothing). B is packed by blocks of
    // columns that stay in L2 and multiplied right away: packing all of it first would send
    // N x depth values out to memory and back. A is read in place unless it has positions to
    // skip or enough columns to pay for its packing (worth_packing_a).
    static thread_local Workspace<T> a_space, b_space;
    const int64_t depth = period > 0 ? L / period * kept + std::min(kept, L % period) : L;
    const int64_t block = std::min(N, gemm_block_columns<T>(depth));
    const bool pack = period > 0 || worth_packing_a<T>(N);
    const T* a_operand = a;
    if (pack) {
      T* packed_a = a_space.get(packed_a_size<T>(M, depth));
      pack_transposed<T>(Panels::a_rows, depth, M, kernel.mr, [a, lda](int64_t i) { return a + i * lda; }, packed_a,
                         kept, period);
      a_operand = packed_a;
    }
    T* packed_b = b_space.get(packed_b_size<T>(depth, block));
    for (int64_t col = 0; col < N; col += block) {
      const int64_t cols = std::min(block, N - col);
      pack_transposed<T>(Panels::b_columns, depth, cols, kernel.nr,
                         [b, b_offsets, col](int64_t j) { return b + b_offsets[col + j]; }, packed_b, kept, period);
      gemm_packed<T>(M, cols, depth, a_operand, packed_b, C + col, ldc, accumulate, pack ? 0 : lda);
    }
    return;
  }
  // Dot products read B once, in place: with fewer rows of A than a panel (a linear layer at
  // batch 1), packing would write and read all of B again to use each value fewer than mr times
  // (MobileNetV2's 1280 -> 1000 classifier: 5 MB packed per image).
  // Equal chunks (in whole vectors of 16): a short last chunk would pay a full set of
  // reductions for a few FMAs.
  const int64_t chunk = ceil_div(ceil_div(L, ceil_div(L, max_chunk)), 16) * 16;
  const int64_t row_tiles = ceil_div(M, dm), col_tiles = ceil_div(N, dn);
  const bool parallel = worth_parallel_gemm(M * N * L);
  // Threads own column tiles, so each runs the chunk loop on its own without barriers.
  parallel_for(col_tiles, parallel, [&](int64_t col_tile) {
    const int64_t col = col_tile * dn;
    const int cols = int(std::min(dn, N - col));
    for (int64_t depth0 = 0; depth0 < std::max<int64_t>(L, 1); depth0 += chunk) {
      const int64_t length = std::min(chunk, L - depth0);
      for (int64_t row_tile = 0; row_tile < row_tiles; ++row_tile) {
        const int64_t row = row_tile * dm;
        kernel.dots(length, int(std::min(dm, M - row)), cols, a + row * lda + depth0, lda, b + depth0,
                    b_offsets + col, C + row * ldc + col, ldc, accumulate || depth0 > 0);
      }
    }
  });
}

template <typename T>
void gemm(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (beta != T(0) && beta != T(1))
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] *= beta;
  const GemmKernel<T>& kernel = gemm_kernel<T>();
  if (!transpose_a && transpose_b && alpha == T(1) && M < kernel.mr) {
    // Fewer rows than one A panel times a transposed B (a linear layer at batch 1): dot products
    // along the depth both keep contiguous. Packing B would write N x K values (zero-padded to
    // whole panels) to read each of them fewer than mr times.
    static thread_local Workspace<int64_t> offset_space;
    int64_t* offsets = offset_space.get(N);
    for (int64_t j = 0; j < N; ++j) offsets[j] = j * ldb;
    return gemm_dots<T>(M, N, K, A, lda, B, offsets, C, ldc, beta != T(0));
  }
  static thread_local Workspace<T> a_space;
  T* packed_a = a_space.get(packed_a_size<T>(M, K));
  pack_a<T>(transpose_a, M, K, alpha, A, lda, packed_a);
  if (K <= 0) return gemm_packed<T>(M, N, K, packed_a, packed_a, C, ldc, beta != T(0));
  const int64_t nr = kernel.nr;
  const bool accumulate = beta != T(0);
  const int threads = worth_parallel_gemm(M * N * K) ? get_num_threads() : 1;
  const int64_t kc_block = depth_block<T>(K), nb_panels = block_panels_max<T>(kc_block);
  // Each thread owns a share of the columns and packs their B itself, one block of at most NB
  // columns and one depth block at a time, right before multiplying it: the packed block is
  // written into the thread's L2 and read from there, never sent out to memory and back, and
  // every thread packs at once. The shares are equal and cut at multiples of 16 columns, so that
  // only a narrow edge panel loses speed (1024 columns on 2 threads: 10 panels of 48 and one of
  // 32 each, not 11 against 10 and one of 16).
  const int64_t shares = N >= threads * nr ? threads : 1;
  parallel_for<Schedule::round_robin>(shares, shares > 1, [&](int64_t share) {
    static thread_local Workspace<T> block_space;
    const int64_t share_begin = share * N / shares / 16 * 16;
    const int64_t share_end = share + 1 == shares ? N : (share + 1) * N / shares / 16 * 16;
    const int64_t share_panels = ceil_div(share_end - share_begin, nr);
    const int64_t block_panels = ceil_div(share_panels, ceil_div(share_panels, nb_panels));
    T* packed = block_space.get(block_panels * nr * kc_block);
    for (int64_t col0 = share_begin; col0 < share_end; col0 += block_panels * nr) {
      const int64_t cols = std::min(block_panels * nr, share_end - col0);
      for (int64_t depth0 = 0; depth0 < K; depth0 += kc_block) {
        const int64_t depth = std::min(kc_block, K - depth0);
        pack_b_lines<T>(transpose_b, depth, cols, B + (transpose_b ? col0 * ldb + depth0 : depth0 * ldb + col0), ldb,
                        packed, false);
        auto micro = [&](int64_t depth_, const T* a, int64_t col, int64_t, T* c, int64_t ldc_, bool add, int rows,
                         int cols_, const T*) {
          kernel.run(depth_, a, 0, packed + col * depth_, c, ldc_, add, rows, cols_, nullptr);
        };
        multiply_panels<T>(M, cols, K, packed_a, 0, micro, C + col0, ldc, accumulate || depth0 > 0,
                           static_cast<const T*>(nullptr), depth0, depth, 0, ceil_div(M, kernel.mr), 0,
                           ceil_div(cols, nr));
      }
    }
  });
}

template <typename T>
void gemm_batched(int64_t batch, bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C,
                  int64_t ldc, int64_t stride_c) {
  // Many small products: one per thread. Few large ones: each product uses every thread.
  const bool per_item = batch >= get_num_threads() && batch > 1;
  parallel_for(batch, per_item && worth_parallel_gemm(batch * M * N * K), [&](int64_t item) {
    gemm<T>(transpose_a, transpose_b, M, N, K, alpha, A + item * stride_a, lda, B + item * stride_b, ldb, beta,
            C + item * stride_c, ldc);
  });
}

#define FASTCNN_INSTANTIATE_GEMM(T)                                                                                 \
  template int64_t packed_a_size<T>(int64_t, int64_t);                                                             \
  template int64_t packed_b_size<T>(int64_t, int64_t);                                                             \
  template int64_t gemm_block_columns<T>(int64_t);                                                                 \
  template bool worth_packing_a<T>(int64_t);                                                                        \
  template void pack_a<T>(bool, int64_t, int64_t, T, const T*, int64_t, T*);                                       \
  template void pack_b<T>(bool, int64_t, int64_t, const T*, int64_t, T*);                                          \
  template void gemm_packed<T>(int64_t, int64_t, int64_t, const T*, const T*, T*, int64_t, bool, int64_t,         \
                               const T*);                                                                          \
  template void gemm_rows<T>(int64_t, int64_t, int64_t, const T*, const T*, const int64_t*, T*, int64_t, bool,      \
                             int64_t, int64_t, const T*);                                                          \
  template int64_t gemm_block_depth<T>();                                                                          \
  template void gemm_dots<T>(int64_t, int64_t, int64_t, const T*, int64_t, const T*, const int64_t*, T*, int64_t,   \
                             bool, int64_t, int64_t);                                                              \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*,     \
                        int64_t);                                                                                  \
  template void gemm_batched<T>(int64_t, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, int64_t,     \
                                const T*, int64_t, int64_t, T, T*, int64_t, int64_t);
FASTCNN_INSTANTIATE_GEMM(float)
FASTCNN_INSTANTIATE_GEMM(double)
#undef FASTCNN_INSTANTIATE_GEMM

}  // namespace fastcnn::cpu
