// AVX-512 micro-kernel: an 8 x 48 tile of C in 24 zmm accumulators. Each k step loads three
// vectors of B and broadcasts eight values of A: 24 FMAs keep both 512-bit FMA ports busy for
// 12 cycles while the 11 loads fit the two load ports, and 24 + 3 + 1 of the 32 zmm registers
// are live, so nothing spills. Eight rows divide the channel counts of CNNs (16, 24, 32, 64 ...),
// so the row edge rarely wastes work.
#include <immintrin.h>

#include <algorithm>

#include "cpu/isa/gemm_kernels.h"

namespace fastcnn::cpu::avx512 {

namespace {

constexpr int MR = 8, NR = 48;

// next_b(p) is the start of B's row p: the packed panel or a row of the input. NV <= 3 vectors
// of each row are used: fewer than three only for the last, narrower column panel of C.
template <int NV, typename A, typename NextB>
inline void tile(int64_t depth, const A& a, NextB next_b, float* c, int64_t ldc, bool accumulate, int rows,
                 int cols, const float* row_bias) {
  // The C tile is read only after the k loop: fetching it now hides the miss behind the FMAs.
  for (int i = 0; i < rows; ++i)
    for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16 * v), _MM_HINT_T0);
  __m512 acc[NV][MR];
  for (int v = 0; v < NV; ++v)
    for (int i = 0; i < MR; ++i) acc[v][i] = _mm512_setzero_ps();
  auto step = [&](int64_t p) {
    const float* b = next_b(p);
    __m512 b_value[NV];
    for (int v = 0; v < NV; ++v) b_value[v] = _mm512_loadu_ps(b + 16 * v);
    for (int i = 0; i < MR; ++i) {
      const __m512 a_value = _mm512_set1_ps(a.at(p, i));
      for (int v = 0; v < NV; ++v) acc[v][i] = _mm512_fmadd_ps(a_value, b_value[v], acc[v][i]);
    }
  };
  // Four steps per iteration, written out: the release build's link-time optimisation drops
  // `#pragma GCC unroll`, and at one step per iteration the row GEMMs of the convolutions ran
  // 7-15% slower (measured on 64 x 64 x 576 ... 256 x 196 x 2304, one thread).
  int64_t p = 0;
  for (; p + 4 <= depth; p += 4)
    for (int u = 0; u < 4; ++u) step(p + u);
  for (; p < depth; ++p) step(p);
  // The last vector holds columns 16 (NV - 1) .. cols - 1: masked, so that edge tiles go
  // straight to C.
  const __mmask16 last = static_cast<__mmask16>((1u << (cols - 16 * (NV - 1))) - 1);
  for (int i = 0; i < rows; ++i)
    for (int v = 0; v < NV; ++v) {
      float* dst = c + i * ldc + 16 * v;
      const __mmask16 mask = v + 1 < NV ? __mmask16(0xffff) : last;
      __m512 sum = row_bias != nullptr ? _mm512_add_ps(acc[v][i], _mm512_set1_ps(row_bias[i])) : acc[v][i];
      if (accumulate) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, dst));
      _mm512_mask_storeu_ps(dst, mask, sum);
    }
}

// Runs the tile with as many vectors as the needed columns take.
template <typename A, typename NextB>
inline void tile_for(int rows, int cols, int64_t depth, const A& a, NextB next_b, float* c, int64_t ldc,
                     bool accumulate, const float* row_bias) {
  if (cols <= 16) return tile<1>(depth, a, next_b, c, ldc, accumulate, rows, cols, row_bias);
  if (cols <= 32) return tile<2>(depth, a, next_b, c, ldc, accumulate, rows, cols, row_bias);
  tile<3>(depth, a, next_b, c, ldc, accumulate, rows, cols, row_bias);
}

template <typename NextB>
inline void tile_for_a(int64_t a_stride, int rows, int cols, int64_t depth, const float* a, NextB next_b, float* c,
                       int64_t ldc, bool accumulate, const float* row_bias) {
  if (a_stride == 0) return tile_for(rows, cols, depth, PackedA<float, MR>{a}, next_b, c, ldc, accumulate, row_bias);
  tile_for(rows, cols, depth, StridedA<float, MR>(a, a_stride, rows), next_b, c, ldc, accumulate, row_bias);
}

void kernel(int64_t depth, const float* a, int64_t a_stride, const float* b, float* c, int64_t ldc, bool accumulate,
            int rows, int cols, const float* row_bias) {
  // The packed panel streams from L2 (cpu/gemm.cpp) in order, which the hardware prefetchers
  // follow: software prefetches of it measured 3-7% slower, their three loads a step taking
  // slots from the eleven of the tile.
  tile_for_a(a_stride, rows, cols, depth, a, [b](int64_t p) { return b + p * NR; }, c, ldc, accumulate, row_bias);
}

void kernel_rows(int64_t depth, const float* a, int64_t a_stride, const float* b, const int64_t* b_offsets, float* c,
                 int64_t ldc, bool accumulate, int rows, int cols, const float* row_bias) {
  tile_for_a(a_stride, rows, cols, depth, a, [b, b_offsets](int64_t p) { return b + b_offsets[p]; }, c, ldc,
             accumulate, row_bias);
}

// Dot products: a 4 x 6 tile in 24 accumulators; each 16-wide step loads 4 + 6 vectors for 24
// FMAs, and the tail uses masked loads.
constexpr int DM = 4, DN = 6;

template <bool kMasked>
inline void dot_step(const float* const* a_row, const float* const* b_row, int64_t p, __mmask16 mask,
                     __m512 (&acc)[DM][DN]) {
  __m512 a_value[DM];
  for (int i = 0; i < DM; ++i)
    a_value[i] = kMasked ? _mm512_maskz_loadu_ps(mask, a_row[i] + p) : _mm512_loadu_ps(a_row[i] + p);
  for (int j = 0; j < DN; ++j) {
    const __m512 b_value = kMasked ? _mm512_maskz_loadu_ps(mask, b_row[j] + p) : _mm512_loadu_ps(b_row[j] + p);
    for (int i = 0; i < DM; ++i) acc[i][j] = _mm512_fmadd_ps(a_value[i], b_value, acc[i][j]);
  }
}

void dots(int64_t length, int rows, int cols, const float* a, int64_t lda, const float* b, const int64_t* b_offsets,
          float* c, int64_t ldc, bool accumulate) {
  const float* a_row[DM];
  const float* b_row[DN];
  dot_tile_rows<float, DM, DN>(rows, cols, a, lda, b, b_offsets, a_row, b_row);
  __m512 acc[DM][DN];
  for (int i = 0; i < DM; ++i)
    for (int j = 0; j < DN; ++j) acc[i][j] = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 16 <= length; p += 16) dot_step<false>(a_row, b_row, p, 0, acc);
  if (p < length) dot_step<true>(a_row, b_row, p, static_cast<__mmask16>((1u << (length - p)) - 1), acc);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      const float sum = _mm512_reduce_add_ps(acc[i][j]);
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
    }
}

// In-register 16 x 16 transpose: r[i] holds row i on entry and column i on return. Three
// rounds of unpacks within 128-bit lanes and two of lane shuffles: 64 shuffles for 256 values,
// against a load and a store per value for a scalar transpose.
inline void transpose16(__m512 (&r)[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 4; ++i) {
      t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0x88);
      t[8 * h + 4 + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
  }
}

// In-register 8 x 16 transpose for A's 8-lane panels: r[j] holds depths 0..15 of line j on entry;
// on return r[i] holds depths 2i and 2i + 1 of the eight lines, which are 16 consecutive values
// of the panel. 32 shuffles for 128 values, half of what a 16 x 16 transpose of eight lines and
// eight zero rows spends.
inline void transpose8x16(__m512 (&r)[8]) {
  __m512 t[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[h][m]: lines 4h..4h+3 at depth 4L + m in 128-bit lane L.
  __m512 u[2][4];
  for (int h = 0; h < 2; ++h) {
    const __m512d a = _mm512_castps_pd(t[4 * h]), b = _mm512_castps_pd(t[4 * h + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * h + 1]), d = _mm512_castps_pd(t[4 * h + 3]);
    u[h][0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    u[h][1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    u[h][2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    u[h][3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  // Depths 2i, 2i + 1 sit at m = 2i % 4, 2i % 4 + 1 of lane L = i / 2.
  for (int m = 0; m < 4; m += 2) {
    const __m512 low0 = _mm512_shuffle_f32x4(u[0][m], u[1][m], 0x44);
    const __m512 low1 = _mm512_shuffle_f32x4(u[0][m + 1], u[1][m + 1], 0x44);
    const __m512 high0 = _mm512_shuffle_f32x4(u[0][m], u[1][m], 0xee);
    const __m512 high1 = _mm512_shuffle_f32x4(u[0][m + 1], u[1][m + 1], 0xee);
    r[m / 2] = _mm512_shuffle_f32x4(low0, low1, 0x88);
    r[m / 2 + 2] = _mm512_shuffle_f32x4(low0, low1, 0xdd);
    r[m / 2 + 4] = _mm512_shuffle_f32x4(high0, high1, 0x88);
    r[m / 2 + 6] = _mm512_shuffle_f32x4(high0, high1, 0xdd);
  }
}

// An 8-lane panel (A's) in blocks of 16 depths: eight loads, one 8 x 16 transpose, eight stores
// of whole vectors (masked only at the depth edge).
void pack_lines8(int64_t depth, const float* const* lines, int count, float* panel) {
  for (int64_t k0 = 0; k0 < depth; k0 += 16) {
    const int rows = int(std::min<int64_t>(16, depth - k0));
    const __mmask16 row_mask = static_cast<__mmask16>((1u << rows) - 1);
    __m512 r[8];
    for (int j = 0; j < 8; ++j) r[j] = j < count ? _mm512_maskz_loadu_ps(row_mask, lines[j] + k0) : _mm512_setzero_ps();
    transpose8x16(r);
    for (int i = 0; 2 * i < rows; ++i) {
      const __mmask16 mask = 2 * i + 1 < rows ? __mmask16(0xffff) : __mmask16(0x00ff);
      _mm512_mask_storeu_ps(panel + (k0 + 2 * i) * 8, mask, r[i]);
    }
  }
}

// The panel in blocks of 16 depths x 16 lanes, each loaded as 16 vectors (masked at the depth
// edge), transposed in registers and stored as 16 rows of the panel (masked to its width).
void pack_lines(int64_t depth, const float* const* lines, int count, int width, float* panel) {
  if (width == 8) return pack_lines8(depth, lines, count, panel);
  for (int64_t k0 = 0; k0 < depth; k0 += 16) {
    const int rows = int(std::min<int64_t>(16, depth - k0));
    const __mmask16 row_mask = static_cast<__mmask16>((1u << rows) - 1);
    for (int j0 = 0; j0 < count; j0 += 16) {
      const int lanes = std::min(16, width - j0);
      const __mmask16 lane_mask = static_cast<__mmask16>((1u << lanes) - 1);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = j0 + i < count ? _mm512_maskz_loadu_ps(row_mask, lines[j0 + i] + k0) : _mm512_setzero_ps();
      transpose16(r);
      for (int k = 0; k < rows; ++k) _mm512_mask_storeu_ps(panel + (k0 + k) * width + j0, lane_mask, r[k]);
    }
  }
}

}  // namespace

const GemmKernel<float> sgemm = {MR, NR, kernel, kernel_rows, 16, DM, DN, dots, pack_lines};

}  // namespace fastcnn::cpu::avx512
