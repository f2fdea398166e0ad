#pragma once
// The Winograd F(2x2, 3x3) tile transforms (cpu/conv_winograd.cpp has the formulas) and those of
// F(2x2, 2x2) (cpu/conv_winograd_phases.cpp), written
// once with the vector helpers of vector_lanes.h and compiled once per kernel set:
// csrc/cpu/isa/<isa>/winograd.cpp defines FASTCNN_VECTOR_BYTES and includes this file under its
// ISA's flags. A vector holds kLanes neighbouring tiles; the tiles' input columns 2 jj + s and
// output columns 2 jj + x interleave, which two-vector shuffles take apart and put back.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "cpu/isa/vector_lanes.h"
#include "cpu/isa/winograd_table.h"

namespace fastcnn::cpu::isa {
namespace {

template <typename T>
using Index = typename Lanes<T>::Bits;

// Lane i of a two-vector shuffle's mask picks lane mask[i] of the concatenation (a, b). The
// masks are constant expressions, so each shuffle compiles to the ISA's fixed permutes.
template <typename T, size_t... I>
constexpr Index<T> even_mask(std::index_sequence<I...>) {
  return Index<T>{int(2 * I)...};
}
template <typename T, size_t... I>
constexpr Index<T> interleave_mask(size_t first, std::index_sequence<I...>) {
  return Index<T>{int(first + I / 2 + (I % 2) * sizeof...(I))...};
}
template <typename T>
constexpr auto kLaneSequence = std::make_index_sequence<size_t(kLanes<T>)>();

// Lanes 0, 2, 4, ... (even) or 1, 3, 5, ... (odd) of (a, b).
template <typename T>
inline Vec<T> even(Vec<T> a, Vec<T> b) {
  constexpr Index<T> mask = even_mask<T>(kLaneSequence<T>);
  return __builtin_shuffle(a, b, mask);
}
template <typename T>
inline Vec<T> odd(Vec<T> a, Vec<T> b) {
  constexpr Index<T> mask = even_mask<T>(kLaneSequence<T>) + 1;
  return __builtin_shuffle(a, b, mask);
}

// a0 b0 a1 b1 ... : the first (low) or second (high) half of a and b interleaved.
template <typename T>
inline Vec<T> interleave_low(Vec<T> a, Vec<T> b) {
  constexpr Index<T> mask = interleave_mask<T>(0, kLaneSequence<T>);
  return __builtin_shuffle(a, b, mask);
}
template <typename T>
inline Vec<T> interleave_high(Vec<T> a, Vec<T> b) {
  constexpr Index<T> mask = interleave_mask<T>(size_t(kLanes<T>) / 2, kLaneSequence<T>);
  return __builtin_shuffle(a, b, mask);
}

// Stores a vector of tiles' two output columns, y0 at their even and y1 at their odd pixels:
// the first `left` values from out on.
template <typename T>
inline void store_pairs(T* out, Vec<T> y0, Vec<T> y1, int64_t left) {
  constexpr int64_t N = kLanes<T>;
  store(out, interleave_low<T>(y0, y1), std::min(N, left));
  if (left > N) store(out + N, interleave_high<T>(y0, y1), left - N);
}

// dy[y][x] over the N tiles from tile j: row y (top, bottom) at 2 jj + x.
template <typename T>
inline void load_pairs(const T* top, const T* bottom, int64_t j, Vec<T> (&dy)[2][2]) {
  constexpr int64_t N = kLanes<T>;
  const Vec<T> a = load(top + 2 * j, N, T(0)), b = load(top + 2 * j + N, N, T(0));
  const Vec<T> c = load(bottom + 2 * j, N, T(0)), e = load(bottom + 2 * j + N, N, T(0));
  dy[0][0] = even<T>(a, b);
  dy[0][1] = odd<T>(a, b);
  dy[1][0] = even<T>(c, e);
  dy[1][1] = odd<T>(c, e);
}

template <typename T>
void input_tiles(const T* rows, const T* shifted, int64_t stride, int64_t L, T* v, int64_t plane) {
  constexpr int64_t N = kLanes<T>;
  for (int64_t j = 0; j < L; j += N) {  // whole vectors: the caller leaves room past L
    // t = B^T d: column s of the patch, over the N tiles, is d[r][s] = row r at 2 jj + s, columns
    // 2 and 3 read from the shifted rows at 2 jj + s - 2.
    Vec<T> t[4][4];
    Vec<T> d[4][4];
    for (int r = 0; r < 4; ++r) {
      const T* row = rows + r * stride + 2 * j;
      const T* row2 = shifted + r * stride + 2 * j;
      const Vec<T> a = load(row, N, T(0)), b = load(row + N, N, T(0));
      const Vec<T> a2 = load(row2, N, T(0)), b2 = load(row2 + N, N, T(0));
      d[r][0] = even<T>(a, b);
      d[r][1] = odd<T>(a, b);
      d[r][2] = even<T>(a2, b2);
      d[r][3] = odd<T>(a2, b2);
    }
    for (int s = 0; s < 4; ++s) {
      t[0][s] = d[0][s] - d[2][s];
      t[1][s] = d[1][s] + d[2][s];
      t[2][s] = d[2][s] - d[1][s];
      t[3][s] = d[1][s] - d[3][s];
    }
    for (int a = 0; a < 4; ++a) {
      T* dst = v + a * 4 * plane + j;
      store(dst, t[a][0] - t[a][2], N);
      store(dst + plane, t[a][1] + t[a][2], N);
      store(dst + 2 * plane, t[a][2] - t[a][1], N);
      store(dst + 3 * plane, t[a][1] - t[a][3], N);
    }
  }
}

template <typename T>
void output_tiles(const T* m, int64_t plane, int64_t L, T bias, int64_t columns, T* top, T* bottom) {
  constexpr int64_t N = kLanes<T>;
  const Vec<T> shift = splat(bias);
  for (int64_t j = 0; j < L; j += N) {
    // A last part vector is moved back over tiles already done (the same values again), so that
    // its stores are whole ones unless the run is shorter than a vector.
    if (j + N > L && L >= N) j = L - N;
    // r = A^T M, column b of the 4x4, then (A^T M) A; M is read in whole vectors (the caller
    // leaves them readable).
    Vec<T> r0[4], r1[4];
    for (int b = 0; b < 4; ++b) {
      const Vec<T> m0 = load(m + b * plane + j, N, T(0)), m1 = load(m + (4 + b) * plane + j, N, T(0));
      const Vec<T> m2 = load(m + (8 + b) * plane + j, N, T(0)), m3 = load(m + (12 + b) * plane + j, N, T(0));
      r0[b] = m0 + m1 + m2;
      r1[b] = m1 - m2 - m3;
    }
    const int64_t left = std::min(2 * N, columns - 2 * j);  // output columns of these tiles
    auto put = [&](T* out, const Vec<T>* r) {
      store_pairs<T>(out + 2 * j, r[0] + r[1] + r[2] + shift, r[1] - r[2] - r[3] + shift, left);
    };
    put(top, r0);
    if (bottom != nullptr) put(bottom, r1);
  }
}

template <typename T>
void gradient_tiles(const T* top, const T* bottom, int64_t L, T* d, int64_t plane) {
  constexpr int64_t N = kLanes<T>;
  for (int64_t j = 0; j < L; j += N) {  // whole vectors: the caller leaves room past L
    Vec<T> dy[2][2];
    load_pairs<T>(top, bottom, j, dy);
    // A dy, A = [1 0; 1 1; 1 -1; 0 -1]: row r of the 4x2, then (A dy) A^T row by row.
    Vec<T> r[4][2];
    for (int x = 0; x < 2; ++x) {
      r[0][x] = dy[0][x];
      r[1][x] = dy[0][x] + dy[1][x];
      r[2][x] = dy[0][x] - dy[1][x];
      r[3][x] = -dy[1][x];
    }
    for (int row = 0; row < 4; ++row) {
      T* dst = d + row * 4 * plane + j;
      store(dst, r[row][0], N);
      store(dst + plane, r[row][0] + r[row][1], N);
      store(dst + 2 * plane, r[row][0] - r[row][1], N);
      store(dst + 3 * plane, -r[row][1], N);
    }
  }
}

// F(2x2, 2x2): V = B^T d B with B^T = [1 -1 0; 0 1 0; 0 -1 1] over 3x3 patches whose columns
// 2 jj, 2 jj + 1 come apart from the row as in input_tiles and 2 jj + 2 from the row read 2 on.
template <typename T>
void input_tiles_2x2(const T* rows, int64_t stride, int64_t L, T* v, int64_t plane) {
  constexpr int64_t N = kLanes<T>;
  for (int64_t j = 0; j < L; j += N) {  // whole vectors: the caller leaves room past L
    Vec<T> d[3][3];
    for (int r = 0; r < 3; ++r) {
      const T* row = rows + r * stride + 2 * j;
      const Vec<T> a = load(row, N, T(0)), b = load(row + N, N, T(0));
      const Vec<T> a2 = load(row + 2, N, T(0)), b2 = load(row + 2 + N, N, T(0));
      d[r][0] = even<T>(a, b);
      d[r][1] = odd<T>(a, b);
      d[r][2] = even<T>(a2, b2);
    }
    for (int a = 0; a < 3; ++a) {
      Vec<T> t[3];  // row a of B^T d
      for (int s = 0; s < 3; ++s) t[s] = a == 0 ? d[0][s] - d[1][s] : a == 1 ? d[1][s] : d[2][s] - d[1][s];
      T* dst = v + a * 3 * plane + j;
      store(dst, t[0] - t[1], N);
      store(dst + plane, t[1], N);
      store(dst + 2 * plane, t[2] - t[1], N);
    }
  }
}

// F(2x2, 2x2): Y = A^T M A + bias with A^T = [1 1 0; 0 1 1], stored as output_tiles stores.
template <typename T>
void output_tiles_2x2(const T* m, int64_t plane, int64_t L, T bias, int64_t columns, T* top, T* bottom) {
  constexpr int64_t N = kLanes<T>;
  const Vec<T> shift = splat(bias);
  for (int64_t j = 0; j < L; j += N) {
    if (j + N > L && L >= N) j = L - N;  // as in output_tiles
    Vec<T> r0[3], r1[3];
    for (int b = 0; b < 3; ++b) {
      const Vec<T> m0 = load(m + b * plane + j, N, T(0)), m1 = load(m + (3 + b) * plane + j, N, T(0));
      const Vec<T> m2 = load(m + (6 + b) * plane + j, N, T(0));
      r0[b] = m0 + m1;
      r1[b] = m1 + m2;
    }
    const int64_t left = std::min(2 * N, columns - 2 * j);
    auto put = [&](T* out, const Vec<T>* r) {
      store_pairs<T>(out + 2 * j, r[0] + r[1] + shift, r[1] + r[2] + shift, left);
    };
    put(top, r0);
    if (bottom != nullptr) put(bottom, r1);
  }
}

// F(2x2, 2x2)'s adjoint of output_tiles_2x2: A dy A^T with A = [1 0; 1 1; 0 1].
template <typename T>
void gradient_tiles_2x2(const T* top, const T* bottom, int64_t L, T* d, int64_t plane) {
  constexpr int64_t N = kLanes<T>;
  for (int64_t j = 0; j < L; j += N) {  // whole vectors: the caller leaves room past L
    Vec<T> dy[2][2];
    load_pairs<T>(top, bottom, j, dy);
    Vec<T> r[3][2];  // A dy
    for (int x = 0; x < 2; ++x) {
      r[0][x] = dy[0][x];
      r[1][x] = dy[0][x] + dy[1][x];
      r[2][x] = dy[1][x];
    }
    for (int row = 0; row < 3; ++row) {
      T* dst = d + row * 3 * plane + j;
      store(dst, r[row][0], N);
      store(dst + plane, r[row][0] + r[row][1], N);
      store(dst + 2 * plane, r[row][1], N);
    }
  }
}

WinogradTable winograd_table() {
  return {{input_tiles<float>, output_tiles<float>, gradient_tiles<float>, input_tiles_2x2<float>,
           output_tiles_2x2<float>, gradient_tiles_2x2<float>},
          {input_tiles<double>, output_tiles<double>, gradient_tiles<double>, input_tiles_2x2<double>,
           output_tiles_2x2<double>, gradient_tiles_2x2<double>}};
}

}  // namespace
}  // namespace fastcnn::cpu::isa
