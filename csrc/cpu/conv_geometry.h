#pragma once
// Shared by the convolution kernels (conv.cpp, conv_depthwise.cpp): the geometry of the taps
// (which output positions read which input pixels), the choice of algorithm, the padded copies
// the stride-1 paths read from, and the per-image threading. Letters as in conv.cpp.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "core/runtime.h"
#include "core/workspace.h"
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

// The weight gradient reads the input transposed to pixel-major order, by GEMMs of S*C columns
// (conv.cpp, pixel_major_backward_weight), unless those are too few to fill the micro-kernel's
// tiles (the 3-channel first layer) or the input planes already are the im2col rows (1x1 stride 1,
// whose weight gradient, a few output channels deep, would not pay for the transpose).
inline bool weight_gradient_by_pixels(const ConvShape& g) {
  const int64_t taps_per_gemm = g.dilation_width == 1 ? g.kernel_width : 1;
  return !is_pointwise(g) && g.in_channels / g.groups * taps_per_gemm >= 16;
}

// The convolution that carries grad_output back to the input: the channel and plane roles of
// input and output swapped, the rest of g (kernel, stride, padding, dilation, groups) kept for
// the caller to adjust.
inline ConvShape input_gradient_shape(const ConvShape& g) {
  ConvShape back = g;
  back.in_channels = g.out_channels;
  back.in_height = g.out_height;
  back.in_width = g.out_width;
  back.out_channels = g.in_channels;
  back.out_height = g.in_height;
  back.out_width = g.in_width;
  return back;
}

// Runs body(n) for every image: one image per thread when there are at least as many images as
// threads, else in turn (the kernels inside then use the threads). Images are handed out one at
// a time: on a shared machine a thread that loses its core for a while does fewer of them
// instead of holding up the others at the end of a static split.
template <typename Body>
inline void for_each_image(int64_t N, Body&& body) {
  parallel_for<Schedule::dynamic>(N, N > 1 && N >= get_num_threads() && !in_parallel_region(), body);
}

// Per-thread sums for the weight gradients: accumulate(item, sums) runs for items [0, count),
// split statically over the threads, each adding into its own zeroed sums of `size` values; then
// store(sum_of, threads) runs, sum_of(i) being value i summed over the threads in a fixed order
// (deterministic for a given thread count).
template <typename T, typename Accumulate, typename Store>
inline void sum_over_threads(int64_t count, int64_t size, Accumulate&& accumulate, Store&& store) {
  const int threads = in_parallel_region() ? 1 : int(std::min<int64_t>(get_num_threads(), count));
  static thread_local Workspace<T> partial_space;
  T* partials = partial_space.get(threads * size);
  if (threads == 1) {  // no team of one (core/parallel.h, parallel_for)
    std::fill(partials, partials + size, T(0));
    for (int64_t item = 0; item < count; ++item) accumulate(item, partials);
  } else {
#pragma omp parallel num_threads(threads)
    {
      T* mine = partials + thread_index() * size;
      std::fill(mine, mine + size, T(0));
#pragma omp for schedule(static)
      for (int64_t item = 0; item < count; ++item) accumulate(item, mine);
    }
  }
  store([partials, threads, size](int64_t i) {
    T sum = 0;
    for (int t = 0; t < threads; ++t) sum += partials[t * size + i];
    return sum;
  }, threads);
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
  if (Wp < 64) {
    // Narrow rows: the planes zeroed at once and the rows' insides copied over, one call a row
    // instead of three (the padding's fills are a few values each; 8 px planes took 7% of a
    // Winograd forward in these calls).
    std::fill(padded, padded + channels * Hp * Wp, T(0));
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t hp = std::max<int64_t>(pad_top, 0); hp < std::min(Hp, H + pad_top); ++hp) {
        const T* src = in + (c * H + hp - pad_top) * W - pad_left;
        std::copy(src + begin, src + end, padded + (c * Hp + hp) * Wp + begin);
      }
    return;
  }
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
// The input is copied once into planes (c, a, b), each holding
//   plane[i][j] = in[c][sh*i + a - pad_top][sw*j + b - pad_left]   (0 outside the input)
// for i < Hph = P + (R-1)*dh / sh, so that every im2col row (c, r, s) is one contiguous window
// of a plane, read on the output grid n = p*Wpl + q (Wpl the planes' width). Rows are split into
// their stride phases: a = (r*dh) % sh, the window starting at plane row (r*dh) / sh. Columns are
// split one of two ways:
//   phases — b = (s*dw) % sw, Wpl = Wph = Q + (S-1)*dw / sw, the window starting at column
//            (s*dw) / sw; grid columns q >= Q are computed and dropped. With stride 1 the copy
//            is just the zero-padded input.
//   taps   — b = s*dw, one plane per kernel column, Wpl = Q, the window starting at column 0: the
//            grid is the output plane itself, nothing dropped, for an S times larger copy.
// Only the planes some tap reads are stored (at most R x S row phase-column pairs, so a large
// stride cannot blow up the copy).
struct Windows {
  bool column_taps;
  std::vector<int64_t> row_phases, col_starts;  // the a and b read by some tap, ascending
  int64_t phase_height, phase_width;            // Hph, Wpl
  int64_t grid;                                 // P * Wpl
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
inline Windows window_layout(const ConvShape& g, int64_t channels, bool column_taps = false) {
  Windows w;
  w.column_taps = column_taps;
  w.row_phases = used_phases(g.kernel_height, g.dilation_height, g.stride_height);
  if (column_taps)
    for (int64_t s = 0; s < g.kernel_width; ++s) w.col_starts.push_back(s * g.dilation_width);
  else
    w.col_starts = used_phases(g.kernel_width, g.dilation_width, g.stride_width);
  const int64_t slack = column_taps ? 0 : (g.kernel_width - 1) * g.dilation_width / g.stride_width;
  w.phase_height = g.out_height + (g.kernel_height - 1) * g.dilation_height / g.stride_height;
  w.phase_width = g.out_width + slack;
  w.grid = g.out_height * w.phase_width;
  const int64_t planes = channels * int64_t(w.row_phases.size() * w.col_starts.size());
  w.size = planes * w.phase_height * w.phase_width + slack + gemm_kernel<T>().nr;
  return w;
}

// Column taps unless their S times larger copy outgrows half of L2 (core/runtime.h's
// cache_sizes), from where the GEMM reads it: then the dropped columns ((S-1)*dw / sw of every
// Wph; 3% of a 56 px plane, 20% of an 8 px one) cost less than the copy's trips to L3. Measured
// on a 2 MiB L2 (3x3, one thread): 32 px planes of 16 to 64 channels 5-11% faster by taps
// (0.8 MB), 28 px of 128 channels (1.3 MB) 4% and 56 px of 64 channels (2.5 MB) 11% slower.
template <typename T>
inline bool windows_by_column_taps(const ConvShape& g) {
  return g.kernel_width > 1 &&
         window_layout<T>(g, g.in_channels / g.groups, true).size * int64_t(sizeof(T)) <= cache_sizes().l2 / 2;
}

// How the forward GEMM reads its windows: the copy of all C channels of a group at once, or,
// where column taps would outgrow half of L2 for all channels but not for a block of them, by
// blocks of channels, each copied right before the GEMM multiplies its share of the depth (so
// the copy is read from L2 while it is hot), with equal blocks of at most one GEMM depth block.
// Where blocks would be shorter than half a depth block, the C tiles' loads and stores for each
// cost more than the phases' dropped columns: those keep the phases. Measured on Zen 3 (512 KiB
// L2, one thread, 3x3): 256 channels of 14 px (12.5% of the FMAs dropped) 4-6% faster by blocks
// of 52 channels, 128 channels of 28 px (7% dropped) 2.5% slower by blocks of 26.
struct WindowPlan {
  bool column_taps;
  int64_t channel_block;
};

template <typename T>
inline WindowPlan window_plan(const ConvShape& g) {
  const int64_t C = g.in_channels / g.groups;
  if (g.kernel_width == 1 || windows_by_column_taps<T>(g)) return {g.kernel_width > 1, C};
  const int64_t per_channel = window_layout<T>(g, 1, true).size * int64_t(sizeof(T));
  const int64_t taps = g.kernel_height * g.kernel_width;
  const int64_t fits = std::min(cache_sizes().l2 / 2 / per_channel, gemm_block_depth<T>() / taps);
  if (fits * taps < gemm_block_depth<T>() / 2) return {false, C};
  const int64_t blocks = (C + fits - 1) / fits;
  return {true, (C + blocks - 1) / blocks};
}

// Where im2col row (c, r, s) starts in the copy.
inline int64_t window_offset(const ConvShape& g, const Windows& w, int64_t c, int64_t r, int64_t s) {
  const int64_t row = r * g.dilation_height, col = s * g.dilation_width;
  auto index = [](const std::vector<int64_t>& starts, int64_t start) {
    return int64_t(std::lower_bound(starts.begin(), starts.end(), start) - starts.begin());
  };
  const int64_t b = w.column_taps ? col : col % g.stride_width, column = w.column_taps ? 0 : col / g.stride_width;
  const int64_t plane = (c * int64_t(w.row_phases.size()) + index(w.row_phases, row % g.stride_height)) *
                            int64_t(w.col_starts.size()) + index(w.col_starts, b);
  return (plane * w.phase_height + row / g.stride_height) * w.phase_width + column;
}

// dst[j] = src[j * stride] for j in columns; kStride > 0 fixes the stride at compile time, which
// lets the compiler vectorize the gather with permutes (stride 2 is most strided convolutions).
template <int64_t kStride, typename T>
inline void gather_columns(const T* src, int64_t stride, ColumnRange columns, T* dst) {
  const int64_t step = kStride > 0 ? kStride : stride;
  for (int64_t j = columns.begin; j < columns.end; ++j) dst[j] = src[j * step];
}

// Each plane's columns inside the input are found once, so no element is bounds-tested (a test
// per element cost more than the GEMM on 16 px planes). When the planes' rows are as wide as the
// input's and unstrided, a plane's rows inside the input are one contiguous run of it: one copy
// per plane, then the few columns that fall in the padding are zeroed (per-row copies of a
// small plane cost as much as the GEMM's FMAs).
template <typename T>
inline void copy_windows(const ConvShape& g, const Windows& w, const T* in, int64_t channels, T* out) {
  const int64_t H = g.in_height, W = g.in_width, sh = g.stride_height, sw = g.stride_width;
  const int64_t Hph = w.phase_height, Wpl = w.phase_width, plane_size = Hph * Wpl;
  const int64_t row_count = int64_t(w.row_phases.size()), col_count = int64_t(w.col_starts.size());
  const bool contiguous = sw == 1 && sh == 1 && Wpl == W;
  // Each plane (phase pair)'s geometry, the same for every channel.
  struct Plane {
    int64_t a, offset, first, lo, hi;
    ColumnRange inside, rows;
  };
  std::vector<Plane> planes;
  for (int64_t a_index = 0; a_index < row_count; ++a_index)
    for (int64_t b_index = 0; b_index < col_count; ++b_index) {
      Plane plane;
      plane.a = w.row_phases[a_index];
      plane.offset = w.col_starts[b_index] - g.pad_left;
      plane.inside = valid_columns(plane.offset, sw, W, Wpl);
      // Rows i of the plane inside the input: sh*i + a - pad_top in [0, H).
      plane.rows = valid_columns(plane.a - g.pad_top, sh, H, Hph);
      // The contiguous case: plane values [lo, hi) are input values [lo + first, hi + first).
      plane.first = (plane.rows.begin + plane.a - g.pad_top) * W + plane.offset - plane.rows.begin * Wpl;
      plane.lo = std::max(plane.rows.begin * Wpl, -plane.first);
      plane.hi = std::max(plane.lo, std::min(plane.rows.end * Wpl, H * W - plane.first));
      planes.push_back(plane);
    }
  const int64_t count = int64_t(planes.size());
  // Channels in parallel where the copy is worth a team: a batch-1 convolution's GEMM runs on
  // every thread, and its copy alone on one left the others waiting (32 channels of 32 px, 3x3:
  // a quarter of the call). Inside an image-parallel loop this runs on the calling thread.
  parallel_for(channels, worth_parallel(channels * count * plane_size), [&](int64_t c) {
    const T* src = in + c * H * W;
    for (int64_t index = 0; index < count; ++index) {
      const Plane& plane = planes[index];
      const ColumnRange inside = plane.inside, rows = plane.rows;
      T* dst = out + (c * count + index) * plane_size;
      if (contiguous) {
        std::fill(dst, dst + plane.lo, T(0));
        std::copy(src + plane.first + plane.lo, src + plane.first + plane.hi, dst + plane.lo);
        std::fill(dst + plane.hi, dst + plane_size, T(0));
      } else {
        std::fill(dst, dst + rows.begin * Wpl, T(0));
        std::fill(dst + rows.end * Wpl, dst + plane_size, T(0));
        for (int64_t i = rows.begin; i < rows.end; ++i) {
          T* row = dst + i * Wpl;
          const T* line = src + (sh * i + plane.a - g.pad_top) * W + plane.offset;
          if (sw == 1)
            gather_columns<1>(line, sw, inside, row);
          else if (sw == 2)
            gather_columns<2>(line, sw, inside, row);
          else
            gather_columns<0>(line, sw, inside, row);
        }
      }
      // The columns in the padding, one at a time: they are a column or two, whose per-row
      // runs would each be a call to memset.
      auto zero_column = [&](int64_t j) {
        for (int64_t i = rows.begin; i < rows.end; ++i) dst[i * Wpl + j] = T(0);
      };
      for (int64_t j = 0; j < inside.begin; ++j) zero_column(j);
      for (int64_t j = inside.end; j < Wpl; ++j) zero_column(j);
    }
  });
  std::fill(out + channels * count * plane_size, out + w.size, T(0));
}

}  // namespace fastcnn::cpu::conv_detail
