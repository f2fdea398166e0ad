#pragma once
// Shared by the convolution kernels (conv.cpp, conv_depthwise.cpp): the geometry of the taps
// (which output positions read which input pixels), the choice of algorithm, the padded copies
// the stride-1 paths read from, and the per-image threading. Letters as in conv.cpp.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "core/runtime.h"
#include "cpu/conv.h"
#include "cpu/gemm.h"

namespace fastcnn::cpu::conv_detail {

// Output columns q whose input column q*stride + offset lies inside [0, W): [begin, end).
struct ColumnRange {
  int64_t begin, end;
};

inline ColumnRange valid_columns(int64_t offset, int64_t stride, int64_t W, int64_t Q) {
  const int64_t begin = std::min(Q, offset < 0 ? (-offset + stride - 1) / stride : 0);
  const int64_t end = W - 1 - offset >= 0 ? std::min(Q, (W - 1 - offset) / stride + 1) : 0;
  return {begin, std::max(begin, end)};
}

// Calls fn(tap, p, h, columns, offset) for every kernel tap (tap = r*S + s) and output row p
// in [p_begin, p_end): h is the input row the tap reads (-1 in the padding, with an empty column
// range), and output column q of the row reads input column q*stride_w + offset for q in
// columns. The strided depthwise loops walk the taps through it.
template <typename Fn>
inline void for_each_tap_row(const ConvShape& g, int64_t p_begin, int64_t p_end, Fn&& fn) {
  const int64_t H = g.in_height, W = g.in_width, Q = g.out_width;
  for (int64_t r = 0; r < g.kernel_height; ++r)
    for (int64_t s = 0; s < g.kernel_width; ++s) {
      const int64_t tap = r * g.kernel_width + s;
      const int64_t offset = s * g.dilation_width - g.pad_left;
      const ColumnRange columns = valid_columns(offset, g.stride_width, W, Q);
      for (int64_t p = p_begin; p < p_end; ++p) {
        const int64_t h = p * g.stride_height - g.pad_top + r * g.dilation_height;
        const bool inside = h >= 0 && h < H;
        fn(tap, p, inside ? h : int64_t(-1), inside ? columns : ColumnRange{0, 0}, offset);
      }
    }
}

inline bool is_depthwise(const ConvShape& g) { return g.groups > 1 && g.groups == g.in_channels; }

inline bool is_pointwise(const ConvShape& g) {
  return g.kernel_height == 1 && g.kernel_width == 1 && g.stride_height == 1 && g.stride_width == 1 &&
         g.pad_top == 0 && g.pad_left == 0 && g.out_height == g.in_height && g.out_width == g.in_width;
}

inline bool is_stride1(const ConvShape& g) { return g.stride_height == 1 && g.stride_width == 1; }

// Every convolution but 1x1 stride 1 (whose input already is col) reads im2col rows in place.
inline bool is_implicit(const ConvShape& g) { return !is_pointwise(g); }

// Runs body(n) for every image: one image per thread when there are at least as many images as
// threads, else in turn (the kernels inside then use the threads). Images are handed out one at
// a time: on a shared machine a thread that loses its core for a while does fewer of them
// instead of holding up the others at the end of a static split.
template <typename Body>
inline void for_each_image(int64_t N, Body&& body) {
  const bool per_thread = N > 1 && N >= get_num_threads() && !in_parallel_region();
#pragma omp parallel for schedule(dynamic) if (per_thread)
  for (int64_t n = 0; n < N; ++n) body(n);
}

// --- padded copies --------------------------------------------------------------------------------
// The implicit-GEMM and stride-1 depthwise kernels read the input zero-padded to Hp x Wp, where
// every tap's window is in bounds, so no inner loop checks bounds.

// padded[c][hp][wp] = in[c][hp - pad_top][wp - pad_left] inside the input, else 0. Negative pads
// crop; rows or columns past Hp / Wp are not needed.
template <typename T>
inline void pad_planes(const T* in, int64_t channels, int64_t H, int64_t W, int64_t Hp, int64_t Wp, int64_t pad_top,
                int64_t pad_left, T* padded) {
  const int64_t begin = std::clamp<int64_t>(pad_left, 0, Wp), end = std::clamp<int64_t>(W + pad_left, begin, Wp);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t hp = 0; hp < Hp; ++hp) {
      T* dst = padded + (c * Hp + hp) * Wp;
      const int64_t h = hp - pad_top;
      if (h < 0 || h >= H) {
        std::fill(dst, dst + Wp, T(0));
        continue;
      }
      const T* src = in + (c * H + h) * W - pad_left;
      std::fill(dst, dst + begin, T(0));
      std::copy(src + begin, src + end, dst + begin);
      std::fill(dst + end, dst + Wp, T(0));
    }
}

// --- windows: im2col rows read in place (implicit GEMM) --------------------------------------------
// The input is copied once, split into its stride phases: phase plane (c, a, b) holds
//   plane[i][j] = in[c][sh*i + a - pad_top][sw*j + b - pad_left]   (0 outside the input)
// for i < Hph = P + (R-1)*dh / sh and j < Wph = Q + (S-1)*dw / sw. On the output grid
// n = p*Wph + q, im2col row (c, r, s) is then the contiguous window that starts at row
// (r*dh) / sh, column (s*dw) / sw of phase plane (c, (r*dh) % sh, (s*dw) % sw); columns q >= Q
// of the grid are computed and dropped. Only the phases some tap reads are stored (at most
// R x S of them, so a large stride cannot blow up the copy). With stride 1 the copy is just the
// zero-padded input.
struct Windows {
  std::vector<int64_t> row_phases, col_phases;  // the phases a read by some tap, ascending
  int64_t phase_height, phase_width;
  int64_t grid;  // P * Wph
  int64_t size;  // elements of the copy, with zeroed slack for the last window and the kernel's
                 // over-read of up to nr - 1 values
};

inline std::vector<int64_t> used_phases(int64_t taps, int64_t dilation, int64_t stride) {
  std::vector<int64_t> phases;
  for (int64_t t = 0; t < taps; ++t) phases.push_back(t * dilation % stride);
  std::sort(phases.begin(), phases.end());
  phases.erase(std::unique(phases.begin(), phases.end()), phases.end());
  return phases;
}

template <typename T>
inline Windows window_layout(const ConvShape& g, int64_t channels) {
  Windows w;
  w.row_phases = used_phases(g.kernel_height, g.dilation_height, g.stride_height);
  w.col_phases = used_phases(g.kernel_width, g.dilation_width, g.stride_width);
  w.phase_height = g.out_height + (g.kernel_height - 1) * g.dilation_height / g.stride_height;
  w.phase_width = g.out_width + (g.kernel_width - 1) * g.dilation_width / g.stride_width;
  w.grid = g.out_height * w.phase_width;
  const int64_t planes = channels * int64_t(w.row_phases.size() * w.col_phases.size());
  w.size = planes * w.phase_height * w.phase_width + (g.kernel_width - 1) * g.dilation_width / g.stride_width +
           gemm_kernel<T>().nr;
  return w;
}

// Where im2col row (c, r, s) starts in the copy.
inline int64_t window_offset(const ConvShape& g, const Windows& w, int64_t c, int64_t r, int64_t s) {
  const int64_t row = r * g.dilation_height, col = s * g.dilation_width;
  auto index = [](const std::vector<int64_t>& phases, int64_t phase) {
    return int64_t(std::lower_bound(phases.begin(), phases.end(), phase) - phases.begin());
  };
  const int64_t plane = (c * int64_t(w.row_phases.size()) + index(w.row_phases, row % g.stride_height)) *
                            int64_t(w.col_phases.size()) + index(w.col_phases, col % g.stride_width);
  return (plane * w.phase_height + row / g.stride_height) * w.phase_width + col / g.stride_width;
}

// dst[j] = src[j * stride] for j in columns; kStride > 0 fixes the stride at compile time, which
// lets the compiler vectorize the gather with permutes (stride 2 is most strided convolutions).
template <int64_t kStride, typename T>
inline void gather_columns(const T* src, int64_t stride, ColumnRange columns, T* dst) {
  const int64_t step = kStride > 0 ? kStride : stride;
  for (int64_t j = columns.begin; j < columns.end; ++j) dst[j] = src[j * step];
}

template <typename T>
inline void copy_windows(const ConvShape& g, const Windows& w, const T* in, int64_t channels, T* out) {
  const int64_t H = g.in_height, W = g.in_width, sh = g.stride_height, sw = g.stride_width;
  const int64_t Hph = w.phase_height, Wph = w.phase_width;
  const int64_t row_count = int64_t(w.row_phases.size()), col_count = int64_t(w.col_phases.size());
  const int64_t planes = channels * row_count * col_count;
  if (sh == 1 && sw == 1) {
    pad_planes(in, channels, H, W, Hph, Wph, g.pad_top, g.pad_left, out);
  } else {
    // Row by row, the phase's columns inside the input found once per plane: the copy is a
    // strided gather with no bounds test per element (one per element cost more than the GEMM
    // on 16 px planes).
    for (int64_t plane = 0; plane < planes; ++plane) {
      const int64_t c = plane / (row_count * col_count);
      const int64_t a = w.row_phases[plane / col_count % row_count], b = w.col_phases[plane % col_count];
      const ColumnRange inside = valid_columns(b - g.pad_left, sw, W, Wph);
      for (int64_t i = 0; i < Hph; ++i) {
        T* dst = out + (plane * Hph + i) * Wph;
        const int64_t h = sh * i + a - g.pad_top;
        const ColumnRange columns = h >= 0 && h < H ? inside : ColumnRange{0, 0};
        const T* src = in + (c * H + h) * W + b - g.pad_left;
        for (int64_t j = 0; j < columns.begin; ++j) dst[j] = T(0);
        if (sw == 2)
          gather_columns<2>(src, sw, columns, dst);
        else
          gather_columns<0>(src, sw, columns, dst);
        for (int64_t j = columns.end; j < Wph; ++j) dst[j] = T(0);
      }
    }
  }
  std::fill(out + planes * Hph * Wph, out + w.size, T(0));
}

}  // namespace fastcnn::cpu::conv_detail
