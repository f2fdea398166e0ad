// AVX2 + FMA micro-kernel: a 6 x 16 tile of C in 12 ymm accumulators; each k step loads two
// vectors of B and broadcasts six values of A (12 FMAs per 2 loads + 6 broadcasts), leaving 3
// of the 16 ymm registers for operands.
#include <immintrin.h>

#include <algorithm>

#include "cpu/isa/gemm_kernels.h"

namespace fastcnn::cpu::avx2 {

namespace {

constexpr int MR = 6, NR = 16;

// One row of the tile: the two accumulators of row i take A's value times the two vectors of B.
inline void fma_row(float a_value, __m256 b0, __m256 b1, __m256& lo, __m256& hi) {
  const __m256 a_broadcast = _mm256_set1_ps(a_value);
  lo = _mm256_fmadd_ps(a_broadcast, b0, lo);
  hi = _mm256_fmadd_ps(a_broadcast, b1, hi);
}

// next_b(p) is the start of B's row p: the packed panel or a row of the input. ROWS <= MR rows
// of the tile are computed and stored: fewer only for the last row panel of C (16 or 32
// channels are 3 or 6 panels of which the last is two thirds or one third full).
template <int ROWS, typename A, typename NextB>
inline void tile(int64_t depth, const A& a, NextB next_b, float* c, int64_t ldc, bool accumulate, int cols,
                 const float* row_bias) {
  // The accumulators are twelve named variables, not arrays: GCC keeps an array that later
  // loops index in memory and stores it back every step (the k loop ran at 55-75% of peak,
  // with spills); named ones stay in registers and the loop runs at the FMA peak. For the same
  // reason the loop is not unrolled: GCC's unrolled copies shuffled the accumulators between
  // registers, and four loop instructions per twelve FMAs cost nothing on two FMA pipes.
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  // Rows 0..2 of depth p into c0*..c2*, or, for a short tile of at most three rows, of an odd
  // depth into the idle rows' registers c3*..c5* (summed after the loop): with one set, a tile
  // of two rows had four FMA chains, which at four cycles each keep one FMA pipe of two busy.
  auto first_rows = [&](int64_t p, __m256 b0, __m256 b1, __m256& r00, __m256& r01, __m256& r10, __m256& r11,
                        __m256& r20, __m256& r21) {
    fma_row(a.at(p, 0), b0, b1, r00, r01);
    if constexpr (ROWS > 1) fma_row(a.at(p, 1), b0, b1, r10, r11);
    if constexpr (ROWS > 2) fma_row(a.at(p, 2), b0, b1, r20, r21);
  };
  int64_t p = 0;
  if constexpr (ROWS <= 3) {
    for (; p + 2 <= depth; p += 2) {
      const float* b = next_b(p);
      first_rows(p, _mm256_loadu_ps(b), _mm256_loadu_ps(b + 8), c00, c01, c10, c11, c20, c21);
      const float* b_odd = next_b(p + 1);
      first_rows(p + 1, _mm256_loadu_ps(b_odd), _mm256_loadu_ps(b_odd + 8), c30, c31, c40, c41, c50, c51);
    }
  }
  for (; p < depth; ++p) {
    const float* b = next_b(p);
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    first_rows(p, b0, b1, c00, c01, c10, c11, c20, c21);
    if constexpr (ROWS > 3) fma_row(a.at(p, 3), b0, b1, c30, c31);
    if constexpr (ROWS > 4) fma_row(a.at(p, 4), b0, b1, c40, c41);
    if constexpr (ROWS > 5) fma_row(a.at(p, 5), b0, b1, c50, c51);
  }
  if constexpr (ROWS <= 3) {
    c00 = _mm256_add_ps(c00, c30), c01 = _mm256_add_ps(c01, c31);
    c10 = _mm256_add_ps(c10, c40), c11 = _mm256_add_ps(c11, c41);
    c20 = _mm256_add_ps(c20, c50), c21 = _mm256_add_ps(c21, c51);
  }
  __m256 acc0[MR] = {c00, c10, c20, c30, c40, c50}, acc1[MR] = {c01, c11, c21, c31, c41, c51};
  if (row_bias != nullptr)
    for (int i = 0; i < ROWS; ++i) {
      const __m256 bias = _mm256_set1_ps(row_bias[i]);
      acc0[i] = _mm256_add_ps(acc0[i], bias);
      acc1[i] = _mm256_add_ps(acc1[i], bias);
    }
  if (cols < NR) {
    // A right-edge tile: lane j of the two vectors is kept where j < cols.
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), limit = _mm256_set1_epi32(cols);
    const __m256i mask0 = _mm256_cmpgt_epi32(limit, lane);
    const __m256i mask1 = _mm256_cmpgt_epi32(limit, _mm256_add_epi32(lane, _mm256_set1_epi32(8)));
    for (int i = 0; i < ROWS; ++i) {
      float* row = c + i * ldc;
      if (accumulate) {
        acc0[i] = _mm256_add_ps(acc0[i], _mm256_maskload_ps(row, mask0));
        acc1[i] = _mm256_add_ps(acc1[i], _mm256_maskload_ps(row + 8, mask1));
      }
      _mm256_maskstore_ps(row, mask0, acc0[i]);
      _mm256_maskstore_ps(row + 8, mask1, acc1[i]);
    }
    return;
  }
  for (int i = 0; i < ROWS; ++i) {
    float* row = c + i * ldc;
    if (accumulate) {
      acc0[i] = _mm256_add_ps(acc0[i], _mm256_loadu_ps(row));
      acc1[i] = _mm256_add_ps(acc1[i], _mm256_loadu_ps(row + 8));
    }
    _mm256_storeu_ps(row, acc0[i]);
    _mm256_storeu_ps(row + 8, acc1[i]);
  }
}

template <typename A, typename NextB>
inline void tile_for(int rows, int64_t depth, const A& a, NextB next_b, float* c, int64_t ldc, bool accumulate,
                     int cols, const float* row_bias) {
  switch (rows) {
    case 1: return tile<1>(depth, a, next_b, c, ldc, accumulate, cols, row_bias);
    case 2: return tile<2>(depth, a, next_b, c, ldc, accumulate, cols, row_bias);
    case 3: return tile<3>(depth, a, next_b, c, ldc, accumulate, cols, row_bias);
    case 4: return tile<4>(depth, a, next_b, c, ldc, accumulate, cols, row_bias);
    case 5: return tile<5>(depth, a, next_b, c, ldc, accumulate, cols, row_bias);
    default: return tile<6>(depth, a, next_b, c, ldc, accumulate, cols, row_bias);
  }
}

template <typename NextB>
inline void tile_for_a(int64_t a_stride, int rows, int64_t depth, const float* a, NextB next_b, float* c,
                       int64_t ldc, bool accumulate, int cols, const float* row_bias) {
  if (a_stride == 0) return tile_for(rows, depth, PackedA<float, MR>{a}, next_b, c, ldc, accumulate, cols, row_bias);
  tile_for(rows, depth, StridedA<float, MR>(a, a_stride, rows), next_b, c, ldc, accumulate, cols, row_bias);
}

void kernel(int64_t depth, const float* a, int64_t a_stride, const float* b, float* c, int64_t ldc, bool accumulate,
            int rows, int cols, const float* row_bias) {
  tile_for_a(a_stride, rows, depth, a, [b](int64_t p) { return b + p * NR; }, c, ldc, accumulate, cols, row_bias);
}

void kernel_rows(int64_t depth, const float* a, int64_t a_stride, const float* b, const int64_t* b_offsets, float* c,
                 int64_t ldc, bool accumulate, int rows, int cols, const float* row_bias) {
  tile_for_a(a_stride, rows, depth, a, [b, b_offsets](int64_t p) { return b + b_offsets[p]; }, c, ldc, accumulate,
             cols, row_bias);
}

// Dot products: a 3 x 3 tile in 9 accumulators (3 + 1 more registers for operands).
constexpr int DM = 3, DN = 3;

void dots(int64_t length, int rows, int cols, const float* a, int64_t lda, const float* b, const int64_t* b_offsets,
          float* c, int64_t ldc, bool accumulate) {
  const float* a_row[DM];
  const float* b_row[DN];
  dot_tile_rows<float, DM, DN>(rows, cols, a, lda, b, b_offsets, a_row, b_row);
  __m256 acc[DM][DN];
  for (int i = 0; i < DM; ++i)
    for (int j = 0; j < DN; ++j) acc[i][j] = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 8 <= length; p += 8) {
    __m256 a_value[DM];
    for (int i = 0; i < DM; ++i) a_value[i] = _mm256_loadu_ps(a_row[i] + p);
    for (int j = 0; j < DN; ++j) {
      const __m256 b_value = _mm256_loadu_ps(b_row[j] + p);
      for (int i = 0; i < DM; ++i) acc[i][j] = _mm256_fmadd_ps(a_value[i], b_value, acc[i][j]);
    }
  }
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, acc[i][j]);
      float sum = 0;
      for (int lane = 0; lane < 8; ++lane) sum += lanes[lane];
      for (int64_t q = p; q < length; ++q) sum += a_row[i][q] * b_row[j][q];
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
    }
}

// Lanes j < n of a vector: the mask of the masked loads and stores.
inline __m256i first_lanes(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// An 8 x 8 transpose in registers: r[i] lane j becomes r[j] lane i.
inline void transpose8(__m256& r0, __m256& r1, __m256& r2, __m256& r3, __m256& r4, __m256& r5, __m256& r6,
                       __m256& r7) {
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  r0 = _mm256_permute2f128_ps(u0, u4, 0x20);
  r1 = _mm256_permute2f128_ps(u1, u5, 0x20);
  r2 = _mm256_permute2f128_ps(u2, u6, 0x20);
  r3 = _mm256_permute2f128_ps(u3, u7, 0x20);
  r4 = _mm256_permute2f128_ps(u0, u4, 0x31);
  r5 = _mm256_permute2f128_ps(u1, u5, 0x31);
  r6 = _mm256_permute2f128_ps(u2, u6, 0x31);
  r7 = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// The panel in blocks of 8 depths x 8 lanes, each loaded as 8 vectors (masked at the depth
// edge), transposed in registers and stored as 8 rows of the panel. The portable loop moved
// one value per load and store: 6% of a ResNet-20 training step went to it (the weight
// gradient's pixel-major copy of the input and its packed output gradient).
void pack_lines(int64_t depth, const float* const* lines, int count, int width, float* panel) {
  for (int64_t k0 = 0; k0 < depth; k0 += 8) {
    const int rows = int(std::min<int64_t>(8, depth - k0));
    const __m256i row_mask = first_lanes(rows);
    for (int j0 = 0; j0 < count; j0 += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) {
        const float* line = j0 + i < count ? lines[j0 + i] + k0 : nullptr;
        r[i] = line == nullptr ? _mm256_setzero_ps()
               : rows == 8     ? _mm256_loadu_ps(line)
                               : _mm256_maskload_ps(line, row_mask);
      }
      transpose8(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
      const int lanes = std::min(8, width - j0);
      float* dst = panel + k0 * width + j0;
      if (lanes == 8) {
        for (int k = 0; k < rows; ++k) _mm256_storeu_ps(dst + k * width, r[k]);
      } else if (width < 8) {
        // Narrow panels (mr = 6): the rows are contiguous, so each whole-vector store runs into
        // the next row, which the next store overwrites; only the last row is masked (masked
        // stores are slow on AMD).
        for (int k = 0; k + 1 < rows; ++k) _mm256_storeu_ps(dst + k * width, r[k]);
        _mm256_maskstore_ps(dst + (rows - 1) * width, first_lanes(lanes), r[rows - 1]);
      } else {
        const __m256i lane_mask = first_lanes(lanes);
        for (int k = 0; k < rows; ++k) _mm256_maskstore_ps(dst + k * width, lane_mask, r[k]);
      }
    }
  }
}

}  // namespace

const GemmKernel<float> sgemm = {MR, NR, kernel, kernel_rows, 0, DM, DN, dots, pack_lines};

}  // namespace fastcnn::cpu::avx2
