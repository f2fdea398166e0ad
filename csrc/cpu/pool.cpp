// 2-D pooling. Letters inside the kernels: H, W input plane size; OH, OW output plane size;
// kH, kW kernel; sH, sW stride; pH, pW padding; dH, dW dilation. Formulas (seed, "Pooling Layer"):
//   max:  out(i, j) = max_{m, n} in(i sH - pH + m dH, j sW - pW + n dW)
//         d out(i, j) / d in(a, b) = 1 at the window's argmax (first one in scan order), else 0
//   avg:  out(i, j) = 1/D(i, j) sum_{m, n} in(i sH - pH + m, j sW - pW + n)
//         d out(i, j) / d in(a, b) = 1/D(i, j) for every (a, b) in the window
// where D is kH kW clipped to the padded input (count_include_pad), the number of real input
// elements in the window (not count_include_pad), or divisor_override. Taps outside the input
// are skipped, which equals padding with -inf (max) or 0 (avg).
//
// Every kernel runs over planes in parallel. Inside a plane the loops are ordered
// (output row, kernel row, kernel column, output column): the innermost loop walks one input row
// with stride sW and one output row with stride 1, with the column range clipped to the input
// beforehand, so it has no branches and vectorises.
#include "cpu/pool.h"
#include "core/parallel.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace fastcnn::cpu {

namespace {

template <typename Body>
void for_each_plane(int64_t planes, int64_t work_per_plane, Body body) {
  const bool parallel = planes > 1 && worth_parallel(planes * work_per_plane);
  parallel_for(planes, parallel, body);
}

// Output columns [begin, end) whose tap at input column ow * stride + offset lies in [0, W).
struct ColumnRange {
  int64_t begin, end;
};

inline ColumnRange column_range(int64_t offset, int64_t stride, int64_t W, int64_t OW) {
  const int64_t begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t end = W - 1 - offset < 0 ? 0 : std::min(OW, (W - 1 - offset) / stride + 1);
  return {begin, std::max(begin, end)};
}

// First valid input row (or column) of each output row's window, -1 when none: a window that
// holds only -inf keeps this index, as torch's, so every index the forward writes is in bounds.
std::vector<int64_t> first_taps(int64_t out_size, int64_t in_size, int64_t kernel, int64_t stride, int64_t pad,
                                int64_t dilation) {
  std::vector<int64_t> first(out_size, -1);
  for (int64_t o = 0; o < out_size; ++o)
    for (int64_t k = 0; k < kernel; ++k) {
      const int64_t i = o * stride - pad + k * dilation;
      if (i >= 0 && i < in_size) {
        first[o] = i;
        break;
      }
    }
  return first;
}

// Index: the type the argmax of one output row is tracked in, int32_t whenever the plane allows,
// so the selects run at the float lanes' width; each finished row is widened into `indices`.
template <typename T, bool kIndices, typename Index>
void max_pool_plane(const PoolGeometry& g, const int64_t* first_row, const int64_t* first_col, const T* in, T* out,
                    int64_t* indices, Index* index_row) {
  const int64_t H = g.height, W = g.width, OH = g.out_height, OW = g.out_width, sW = g.stride_w;
  for (int64_t oh = 0; oh < OH; ++oh) {
    T* out_row = out + oh * OW;
    std::fill(out_row, out_row + OW, -std::numeric_limits<T>::infinity());
    if (kIndices)
      for (int64_t ow = 0; ow < OW; ++ow)
        index_row[ow] = (first_row[oh] < 0 || first_col[ow] < 0) ? Index(-1) : Index(first_row[oh] * W + first_col[ow]);
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
      if (ih < 0 || ih >= H) continue;
      const T* in_row = in + ih * W;
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const int64_t offset = kw * g.dilation_w - g.pad_w;
        const ColumnRange range = column_range(offset, sW, W, OW);
        const Index base = Index(ih * W + offset), step = Index(sW);
        // NaN wins, as in torch; ties keep the first maximum in scan order. Selects, not
        // branches: on real data the comparison is unpredictable.
        for (int64_t ow = range.begin; ow < range.end; ++ow) {
          const T v = in_row[ow * sW + offset];
          const bool take = (v > out_row[ow]) | (v != v);
          if (kIndices) {
            const Index keep_old = Index(take) - 1;  // all ones when the old maximum stays
            index_row[ow] = (index_row[ow] & keep_old) | (Index(base + Index(ow) * step) & ~keep_old);
          }
          out_row[ow] = take ? v : out_row[ow];
        }
      }
    }
    if (kIndices) std::copy(index_row, index_row + OW, indices + oh * OW);
  }
}

// 1 / D(oh, ow) for every output cell (0 for a window without input elements), shared by all
// planes and by forward and backward.
template <typename T>
std::vector<T> avg_pool_scales(const PoolGeometry& g, bool count_include_pad, int64_t divisor_override) {
  std::vector<T> scales(g.out_height * g.out_width);
  for (int64_t oh = 0; oh < g.out_height; ++oh) {
    const int64_t h0 = oh * g.stride_h - g.pad_h;
    const int64_t h1 = std::min(h0 + g.kernel_h, g.height + g.pad_h);
    const int64_t rows = std::min(h1, g.height) - std::max(h0, int64_t(0));
    for (int64_t ow = 0; ow < g.out_width; ++ow) {
      const int64_t w0 = ow * g.stride_w - g.pad_w;
      const int64_t w1 = std::min(w0 + g.kernel_w, g.width + g.pad_w);
      const int64_t cols = std::min(w1, g.width) - std::max(w0, int64_t(0));
      int64_t divisor = divisor_override > 0 ? divisor_override
                        : count_include_pad  ? (h1 - h0) * (w1 - w0)
                                             : rows * cols;
      scales[oh * g.out_width + ow] = (rows > 0 && cols > 0) ? T(1) / T(divisor) : T(0);
    }
  }
  return scales;
}

inline int64_t adaptive_start(int64_t o, int64_t in_size, int64_t out_size) { return (o * in_size) / out_size; }
inline int64_t adaptive_end(int64_t o, int64_t in_size, int64_t out_size) {
  return ((o + 1) * in_size + out_size - 1) / out_size;
}

}  // namespace

namespace {

// The common 2x2, stride 2 pool without padding whose windows all lie inside the input: each
// output row reads two input rows, with none of the general loop's per-tap range and row
// bookkeeping, which dominates on small planes (an 8x8 map at batch 1 took 10 us). Planes are
// contiguous, so all of them run as one sequence of output rows. Same scan order, NaN and tie
// rules as max_pool_plane.
bool is_pairwise(const PoolGeometry& g) {
  return g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 && g.pad_w == 0 &&
         g.dilation_h == 1 && g.dilation_w == 1 && g.out_height == g.height / 2 && g.out_width == g.width / 2;
}

// Output rows [row_begin, row_end) of max_pool_pairwise.
template <typename T>
void max_pool_pair_rows(const PoolGeometry& g, const T* input, T* output, int64_t* indices, int64_t row_begin,
                        int64_t row_end) {
  const int64_t W = g.width, OH = g.out_height, OW = g.out_width;
  // The winning tap (0-3) of each output, widened into `indices` after the row: int32 selects
  // run at the float lanes' width, where int64 ones in the same loop kept it scalar (9x slower).
  std::vector<int32_t> taps(indices ? OW : 0);
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t plane = row / OH, oh = row % OH;
    const T* top = input + (plane * g.height + 2 * oh) * W;
    const T* bottom = top + W;
    T* out = output + row * OW;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const T v[4] = {top[2 * ow], top[2 * ow + 1], bottom[2 * ow], bottom[2 * ow + 1]};
      T best = v[0];
      int32_t tap = 0;
      for (int32_t t = 1; t < 4; ++t) {
        const bool take = (v[t] > best) | (v[t] != v[t]);
        best = take ? v[t] : best;
        tap = take ? t : tap;
      }
      out[ow] = best;
      if (indices) taps[ow] = tap;
    }
    if (!indices) continue;
    int64_t* index = indices + row * OW;
    for (int64_t ow = 0; ow < OW; ++ow) index[ow] = (2 * oh + taps[ow] / 2) * W + 2 * ow + taps[ow] % 2;
  }
}

// The rows in one contiguous share per thread (parallel_for: no thread team when not worth one).
template <typename T>
void max_pool_pairwise(const PoolGeometry& g, const T* input, T* output, int64_t* indices) {
  const int64_t rows = g.planes * g.out_height;
  const bool parallel = rows > 1 && worth_parallel(rows * 2 * g.width);
  const int64_t shares = parallel ? std::min<int64_t>(rows, get_num_threads()) : 1;
  parallel_for(shares, parallel, [&](int64_t share) {
    max_pool_pair_rows(g, input, output, indices, share * rows / shares, (share + 1) * rows / shares);
  });
}

// Every window lies inside the input, so all share one scale (1/4, or 1/divisor_override). The
// sum's order is the general loop's (row by row, left to right), so both paths agree bit for bit.
template <typename T>
void avg_pool_pairwise(const PoolGeometry& g, T scale, const T* input, T* output) {
  const int64_t W = g.width, OH = g.out_height, OW = g.out_width, rows = g.planes * OH;
  parallel_for(rows, rows > 1 && worth_parallel(rows * 2 * W), [&](int64_t row) {
    const T* top = input + ((row / OH) * g.height + 2 * (row % OH)) * W;
    const T* bottom = top + W;
    T* out = output + row * OW;
    for (int64_t ow = 0; ow < OW; ++ow)
      out[ow] = (((top[2 * ow] + top[2 * ow + 1]) + bottom[2 * ow]) + bottom[2 * ow + 1]) * scale;
  });
}

}  // namespace

template <typename T>
void max_pool2d_forward(const PoolGeometry& g, const T* input, T* output, int64_t* indices) {
  if (is_pairwise(g)) return max_pool_pairwise(g, input, output, indices);
  const int64_t in_plane = g.height * g.width, out_plane = g.out_height * g.out_width;
  const std::vector<int64_t> first_row =
      first_taps(g.out_height, g.height, g.kernel_h, g.stride_h, g.pad_h, g.dilation_h);
  const std::vector<int64_t> first_col =
      first_taps(g.out_width, g.width, g.kernel_w, g.stride_w, g.pad_w, g.dilation_w);
  const bool narrow = in_plane <= std::numeric_limits<int32_t>::max();
  for_each_plane(g.planes, in_plane, [&](int64_t p) {
    const T* in = input + p * in_plane;
    T* out = output + p * out_plane;
    if (!indices) {
      max_pool_plane<T, false, int32_t>(g, first_row.data(), first_col.data(), in, out, nullptr, nullptr);
    } else if (narrow) {
      std::vector<int32_t> index_row(g.out_width);
      max_pool_plane<T, true>(g, first_row.data(), first_col.data(), in, out, indices + p * out_plane,
                              index_row.data());
    } else {
      std::vector<int64_t> index_row(g.out_width);
      max_pool_plane<T, true>(g, first_row.data(), first_col.data(), in, out, indices + p * out_plane,
                              index_row.data());
    }
  });
}

template <typename T>
void max_pool2d_backward_input(int64_t planes, int64_t input_plane, int64_t output_plane, const T* grad_output,
                               const int64_t* indices, T* grad_input) {
  for_each_plane(planes, input_plane, [&](int64_t p) {
    T* grad_in = grad_input + p * input_plane;
    const T* grad_out = grad_output + p * output_plane;
    const int64_t* index = indices + p * output_plane;
    std::fill(grad_in, grad_in + input_plane, T(0));
    for (int64_t o = 0; o < output_plane; ++o)
      if (index[o] >= 0 && index[o] < input_plane) grad_in[index[o]] += grad_out[o];
  });
}

template <typename T>
void avg_pool2d_forward(const PoolGeometry& g, bool count_include_pad, int64_t divisor_override, const T* input,
                        T* output) {
  const std::vector<T> scales = avg_pool_scales<T>(g, count_include_pad, divisor_override);
  if (is_pairwise(g) && !scales.empty()) return avg_pool_pairwise(g, scales[0], input, output);
  const int64_t H = g.height, W = g.width, OH = g.out_height, OW = g.out_width, sW = g.stride_w;
  for_each_plane(g.planes, H * W, [&](int64_t p) {
    const T* in = input + p * H * W;
    T* out = output + p * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      T* out_row = out + oh * OW;
      std::fill(out_row, out_row + OW, T(0));
      for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
        const int64_t ih = oh * g.stride_h - g.pad_h + kh;
        if (ih < 0 || ih >= H) continue;
        const T* in_row = in + ih * W;
        for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
          const int64_t offset = kw - g.pad_w;
          const ColumnRange range = column_range(offset, sW, W, OW);
          for (int64_t ow = range.begin; ow < range.end; ++ow) out_row[ow] += in_row[ow * sW + offset];
        }
      }
      const T* scale_row = scales.data() + oh * OW;
      for (int64_t ow = 0; ow < OW; ++ow) out_row[ow] *= scale_row[ow];
    }
  });
}

template <typename T>
void avg_pool2d_backward_input(const PoolGeometry& g, bool count_include_pad, int64_t divisor_override,
                               const T* grad_output, T* grad_input) {
  const std::vector<T> scales = avg_pool_scales<T>(g, count_include_pad, divisor_override);
  const int64_t H = g.height, W = g.width, OH = g.out_height, OW = g.out_width, sW = g.stride_w;
  // Windows that tile the plane exactly (kernel = stride, no padding, no remainder): each input
  // element lies in one window, so it is written once, without zero-filling the plane first.
  const bool tiling = g.kernel_h == g.stride_h && g.kernel_w == sW && g.pad_h == 0 && g.pad_w == 0 &&
                      OH * g.kernel_h == H && OW * g.kernel_w == W;
  if (tiling) {
    const int64_t kH = g.kernel_h, kW = g.kernel_w;
    for_each_plane(g.planes, H * W, [&](int64_t p) {
      const T* grad_out = grad_output + p * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const T* grad_row = grad_out + oh * OW;
        const T* scale_row = scales.data() + oh * OW;
        T* first_row = grad_input + p * H * W + oh * kH * W;
        if (kW == 2) {
          // The common 2x2 case as its own loop: a constant stride lets it vectorise.
          for (int64_t ow = 0; ow < OW; ++ow) {
            const T share = grad_row[ow] * scale_row[ow];
            first_row[2 * ow] = share;
            first_row[2 * ow + 1] = share;
          }
        } else {
          for (int64_t ow = 0; ow < OW; ++ow) {
            const T share = grad_row[ow] * scale_row[ow];
            for (int64_t kw = 0; kw < kW; ++kw) first_row[ow * kW + kw] = share;
          }
        }
        // The window's other rows get the same shares: copied, not recomputed.
        for (int64_t kh = 1; kh < kH; ++kh) std::copy(first_row, first_row + W, first_row + kh * W);
      }
    });
    return;
  }
  for_each_plane(g.planes, H * W, [&](int64_t p) {
    T* grad_in = grad_input + p * H * W;
    const T* grad_out = grad_output + p * OH * OW;
    std::fill(grad_in, grad_in + H * W, T(0));
    for (int64_t oh = 0; oh < OH; ++oh) {
      const T* grad_row = grad_out + oh * OW;
      const T* scale_row = scales.data() + oh * OW;
      for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
        const int64_t ih = oh * g.stride_h - g.pad_h + kh;
        if (ih < 0 || ih >= H) continue;
        T* grad_in_row = grad_in + ih * W;
        for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
          const int64_t offset = kw - g.pad_w;
          const ColumnRange range = column_range(offset, sW, W, OW);
          for (int64_t ow = range.begin; ow < range.end; ++ow)
            grad_in_row[ow * sW + offset] += grad_row[ow] * scale_row[ow];
        }
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool2d_forward(const PoolGeometry& g, const T* input, T* output) {
  const int64_t H = g.height, W = g.width, OH = g.out_height, OW = g.out_width;
  for_each_plane(g.planes, H * W, [&](int64_t p) {
    const T* in = input + p * H * W;
    T* out = output + p * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
        T sum = 0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) sum += in[ih * W + iw];
        out[oh * OW + ow] = sum / T((h1 - h0) * (w1 - w0));
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool2d_backward_input(const PoolGeometry& g, const T* grad_output, T* grad_input) {
  const int64_t H = g.height, W = g.width, OH = g.out_height, OW = g.out_width;
  for_each_plane(g.planes, H * W, [&](int64_t p) {
    T* grad_in = grad_input + p * H * W;
    const T* grad_out = grad_output + p * OH * OW;
    std::fill(grad_in, grad_in + H * W, T(0));
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
        const T share = grad_out[oh * OW + ow] / T((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) grad_in[ih * W + iw] += share;
      }
    }
  });
}

template <typename T>
void adaptive_max_pool2d_forward(const PoolGeometry& g, const T* input, T* output, int64_t* indices) {
  const int64_t H = g.height, W = g.width, OH = g.out_height, OW = g.out_width;
  for_each_plane(g.planes, H * W, [&](int64_t p) {
    const T* in = input + p * H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
        // Adaptive windows are never empty: start from their first element.
        int64_t best = h0 * W + w0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) {
            const T v = in[ih * W + iw];
            if (v > in[best] || v != v) best = ih * W + iw;
          }
        output[p * OH * OW + oh * OW + ow] = in[best];
        if (indices) indices[p * OH * OW + oh * OW + ow] = best;
      }
    }
  });
}

#define FASTCNN_INSTANTIATE_POOL(T)                                                                                \
  template void max_pool2d_forward<T>(const PoolGeometry&, const T*, T*, int64_t*);                                \
  template void max_pool2d_backward_input<T>(int64_t, int64_t, int64_t, const T*, const int64_t*, T*);             \
  template void avg_pool2d_forward<T>(const PoolGeometry&, bool, int64_t, const T*, T*);                           \
  template void avg_pool2d_backward_input<T>(const PoolGeometry&, bool, int64_t, const T*, T*);                    \
  template void adaptive_avg_pool2d_forward<T>(const PoolGeometry&, const T*, T*);                                 \
  template void adaptive_avg_pool2d_backward_input<T>(const PoolGeometry&, const T*, T*);                          \
  template void adaptive_max_pool2d_forward<T>(const PoolGeometry&, const T*, T*, int64_t*);

FASTCNN_INSTANTIATE_POOL(float)
FASTCNN_INSTANTIATE_POOL(double)
#undef FASTCNN_INSTANTIATE_POOL

}  // namespace fastcnn::cpu
