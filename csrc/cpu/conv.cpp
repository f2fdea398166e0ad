// 2-D convolution, forward and backward. Letters inside the kernels:
//   N batch, C input channels, H x W input plane, K output channels, R x S kernel taps,
//   P x Q output plane, G groups (C / G input and K / G output channels per group).
// Formulas (seed, "Convolutional Layer", with stride, padding and dilation; cross-correlation
// as torch): with h = p*stride_h - pad_top + r*dilation_h and w = q*stride_w - pad_left + s*dilation_w,
//   out[n][k][p][q] = bias[k] + sum_{c, r, s} in[n][c][h][w] * weight[k][c][r][s]
//   d out[n][k][p][q] / d in[n][c][h][w]      = weight[k][c][r][s]
//   d out[n][k][p][q] / d weight[k][c][r][s]  = in[n][c][h][w]
//   d out[n][k][p][q] / d bias[k]             = 1
// (c runs over the C / G channels of k's group; taps that land in the padding read zero.)
//
// Algorithms:
//   general   — per image and group, im2col columns col[(c, r, s)][(p, q)] and one packed GEMM:
//               out = W col;  grad_col = W^T grad_out, then col2im;  grad_W += grad_out col^T.
//   pointwise — 1x1, stride 1, no padding: the input plane already is col, so no im2col/col2im.
//   depthwise — groups = C: direct loops over the taps; as a GEMM its depth would be only R*S.
// Images run one per thread when there are enough of them (the GEMMs then run serially);
// otherwise the images run in turn and each GEMM, im2col and packing step is itself parallel.
#include "cpu/conv.h"

#include <algorithm>
#include <cstring>

#include "core/runtime.h"
#include "core/workspace.h"
#include "cpu/gemm.h"

namespace fastcnn::cpu {

namespace {

// Below this many elements a loop runs on one thread.
constexpr int64_t kParallelWork = 1 << 15;

// Output columns q whose input column q*stride + offset lies inside [0, W): [begin, end).
struct ColumnRange {
  int64_t begin, end;
};

ColumnRange valid_columns(int64_t offset, int64_t stride, int64_t W, int64_t Q) {
  const int64_t begin = std::min(Q, offset < 0 ? (-offset + stride - 1) / stride : 0);
  const int64_t end = W - 1 - offset >= 0 ? std::min(Q, (W - 1 - offset) / stride + 1) : 0;
  return {begin, std::max(begin, end)};
}

// Calls fn(tap, p, h, columns, offset) for every kernel tap (tap = r*S + s) and output row p:
// h is the input row the tap reads (-1 in the padding, with an empty column range), and
// output column q of the row reads input column q*stride_w + offset for q in columns.
// Every algorithm below walks the taps through this one function.
template <typename Fn>
void for_each_tap_row(const ConvShape& g, Fn&& fn) {
  const int64_t H = g.in_height, W = g.in_width, P = g.out_height, Q = g.out_width;
  for (int64_t r = 0; r < g.kernel_height; ++r)
    for (int64_t s = 0; s < g.kernel_width; ++s) {
      const int64_t tap = r * g.kernel_width + s;
      const int64_t offset = s * g.dilation_width - g.pad_left;
      const ColumnRange columns = valid_columns(offset, g.stride_width, W, Q);
      for (int64_t p = 0; p < P; ++p) {
        const int64_t h = p * g.stride_height - g.pad_top + r * g.dilation_height;
        const bool inside = h >= 0 && h < H;
        fn(tap, p, inside ? h : int64_t(-1), inside ? columns : ColumnRange{0, 0}, offset);
      }
    }
}

bool is_depthwise(const ConvShape& g) { return g.groups > 1 && g.groups == g.in_channels; }

bool is_pointwise(const ConvShape& g) {
  return g.kernel_height == 1 && g.kernel_width == 1 && g.stride_height == 1 && g.stride_width == 1 &&
         g.pad_top == 0 && g.pad_left == 0 && g.out_height == g.in_height && g.out_width == g.in_width;
}

// col[(c*R*S + tap)][p*Q + q] = in[c][h][w] (0 in the padding), for `channels` channels.
template <typename T>
void im2col(const ConvShape& g, const T* in, int64_t channels, T* col) {
  const int64_t H = g.in_height, W = g.in_width, Q = g.out_width, sw = g.stride_width;
  const int64_t taps = g.kernel_height * g.kernel_width, plane = g.out_height * Q;
#pragma omp parallel for schedule(static) if (!in_parallel_region() && channels * taps * plane > kParallelWork)
  for (int64_t c = 0; c < channels; ++c) {
    const T* src = in + c * H * W;
    T* dst_channel = col + c * taps * plane;
    for_each_tap_row(g, [&](int64_t tap, int64_t p, int64_t h, ColumnRange columns, int64_t offset) {
      T* dst = dst_channel + tap * plane + p * Q;
      std::fill(dst, dst + columns.begin, T(0));
      if (sw == 1) {
        std::copy(src + h * W + columns.begin + offset, src + h * W + columns.end + offset, dst + columns.begin);
      } else {
        for (int64_t q = columns.begin; q < columns.end; ++q) dst[q] = src[h * W + q * sw + offset];
      }
      std::fill(dst + columns.end, dst + Q, T(0));
    });
  }
}

// The adjoint of im2col: in[c][h][w] += col[...] for every column entry that read (c, h, w).
template <typename T>
void col2im(const ConvShape& g, const T* col, int64_t channels, T* in) {
  const int64_t H = g.in_height, W = g.in_width, Q = g.out_width, sw = g.stride_width;
  const int64_t taps = g.kernel_height * g.kernel_width, plane = g.out_height * Q;
#pragma omp parallel for schedule(static) if (!in_parallel_region() && channels * taps * plane > kParallelWork)
  for (int64_t c = 0; c < channels; ++c) {
    T* dst = in + c * H * W;
    std::fill(dst, dst + H * W, T(0));
    const T* src_channel = col + c * taps * plane;
    for_each_tap_row(g, [&](int64_t tap, int64_t p, int64_t h, ColumnRange columns, int64_t offset) {
      const T* src = src_channel + tap * plane + p * Q;
      for (int64_t q = columns.begin; q < columns.end; ++q) dst[h * W + q * sw + offset] += src[q];
    });
  }
}

// Runs body(n) for every image: one image per thread when there are at least as many images as
// threads, else in turn (the kernels inside then use the threads).
template <typename Body>
void for_each_image(int64_t N, Body&& body) {
  const bool per_thread = N > 1 && N >= get_num_threads() && !in_parallel_region();
#pragma omp parallel for schedule(static) if (per_thread)
  for (int64_t n = 0; n < N; ++n) body(n);
}

// --- depthwise: direct loops, one (image, channel) plane per iteration ---------------------------
// Output channel k reads input channel k / M, where M = K / C is the channel multiplier.

template <typename T>
void depthwise_forward(const ConvShape& g, const T* input, const T* weight, const T* bias, T* output) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, M = K / C;
  const int64_t HW = g.in_height * g.in_width, W = g.in_width, Q = g.out_width, PQ = g.out_height * Q;
  const int64_t taps = g.kernel_height * g.kernel_width, sw = g.stride_width;
#pragma omp parallel for schedule(static) if (!in_parallel_region() && N * K * PQ * taps > kParallelWork)
  for (int64_t nk = 0; nk < N * K; ++nk) {
    const int64_t n = nk / K, k = nk % K;
    const T* src = input + (n * C + k / M) * HW;
    const T* w = weight + k * taps;
    T* dst = output + nk * PQ;
    std::fill(dst, dst + PQ, bias != nullptr ? bias[k] : T(0));
    for_each_tap_row(g, [&](int64_t tap, int64_t p, int64_t h, ColumnRange columns, int64_t offset) {
      if (h < 0) return;
      const T value = w[tap];
      T* row = dst + p * Q;
      const T* in_row = src + h * W + offset;
      if (sw == 1) {
        for (int64_t q = columns.begin; q < columns.end; ++q) row[q] += value * in_row[q];
      } else {
        for (int64_t q = columns.begin; q < columns.end; ++q) row[q] += value * in_row[q * sw];
      }
    });
  }
}

template <typename T>
void depthwise_backward_input(const ConvShape& g, const T* grad_output, const T* weight, T* grad_input) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, M = K / C;
  const int64_t HW = g.in_height * g.in_width, W = g.in_width, Q = g.out_width, PQ = g.out_height * Q;
  const int64_t taps = g.kernel_height * g.kernel_width, sw = g.stride_width;
#pragma omp parallel for schedule(static) if (!in_parallel_region() && N * K * PQ * taps > kParallelWork)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const int64_t n = nc / C, c = nc % C;
    T* dst = grad_input + nc * HW;
    std::fill(dst, dst + HW, T(0));
    for (int64_t k = c * M; k < (c + 1) * M; ++k) {
      const T* src = grad_output + (n * K + k) * PQ;
      const T* w = weight + k * taps;
      for_each_tap_row(g, [&](int64_t tap, int64_t p, int64_t h, ColumnRange columns, int64_t offset) {
        const T value = w[tap];
        const T* row = src + p * Q;
        for (int64_t q = columns.begin; q < columns.end; ++q) dst[h * W + q * sw + offset] += value * row[q];
      });
    }
  }
}

template <typename T>
void depthwise_backward_weight(const ConvShape& g, const T* grad_output, const T* input, T* grad_weight) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, M = K / C;
  const int64_t HW = g.in_height * g.in_width, W = g.in_width, Q = g.out_width, PQ = g.out_height * Q;
  const int64_t taps = g.kernel_height * g.kernel_width, sw = g.stride_width;
#pragma omp parallel for schedule(static) if (!in_parallel_region() && N * K * PQ * taps > kParallelWork)
  for (int64_t k = 0; k < K; ++k) {
    T* w = grad_weight + k * taps;
    std::fill(w, w + taps, T(0));
    for (int64_t n = 0; n < N; ++n) {
      const T* src = input + (n * C + k / M) * HW;
      const T* grad = grad_output + (n * K + k) * PQ;
      for_each_tap_row(g, [&](int64_t tap, int64_t p, int64_t h, ColumnRange columns, int64_t offset) {
        const T* row = grad + p * Q;
        T sum = 0;
        for (int64_t q = columns.begin; q < columns.end; ++q) sum += row[q] * src[h * W + q * sw + offset];
        w[tap] += sum;
      });
    }
  }
}

}  // namespace

template <typename T>
void conv_bias_forward(int64_t batch, int64_t channels, int64_t plane, const T* bias, T* output) {
#pragma omp parallel for schedule(static) if (!in_parallel_region() && batch * channels * plane > kParallelWork)
  for (int64_t nc = 0; nc < batch * channels; ++nc) {
    const T value = bias[nc % channels];
    T* dst = output + nc * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] += value;
  }
}

template <typename T>
void conv_bias_backward(int64_t batch, int64_t channels, int64_t plane, const T* grad_output, T* grad_bias) {
#pragma omp parallel for schedule(static) if (!in_parallel_region() && batch * channels * plane > kParallelWork)
  for (int64_t c = 0; c < channels; ++c) {
    T total = 0;
    for (int64_t n = 0; n < batch; ++n) {
      const T* src = grad_output + (n * channels + c) * plane;
      T sum = 0;
      for (int64_t i = 0; i < plane; ++i) sum += src[i];
      total += sum;
    }
    grad_bias[c] = total;
  }
}

template <typename T>
void conv2d_forward(const ConvShape& g, const T* input, const T* weight, const T* bias, T* output) {
  if (is_depthwise(g)) return depthwise_forward(g, input, weight, bias, output);
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t HW = g.in_height * g.in_width, PQ = g.out_height * g.out_width;
  const int64_t depth = C * g.kernel_height * g.kernel_width;
  const bool pointwise = is_pointwise(g);
  // The weights are packed once per call and shared by every image.
  static thread_local Workspace<T> weight_space;
  const int64_t weight_panels = packed_a_size<T>(K, depth);
  T* packed_weight = weight_space.get(G * weight_panels);
  for (int64_t group = 0; group < G; ++group)
    pack_a<T>(false, K, depth, T(1), weight + group * K * depth, depth, packed_weight + group * weight_panels);
  for_each_image(g.batch, [&](int64_t n) {
    static thread_local Workspace<T> col_space, b_space;
    T* packed_columns = b_space.get(packed_b_size<T>(depth, PQ));
    for (int64_t group = 0; group < G; ++group) {
      const T* columns = input + (n * G + group) * C * HW;
      if (!pointwise) {
        T* col = col_space.get(depth * PQ);
        im2col(g, columns, C, col);
        columns = col;
      }
      pack_b<T>(false, depth, PQ, columns, PQ, packed_columns);
      gemm_packed<T>(K, PQ, depth, packed_weight + group * weight_panels, packed_columns,
                     output + (n * G + group) * K * PQ, PQ, false);
    }
    if (bias != nullptr) conv_bias_forward<T>(1, G * K, PQ, bias, output + n * G * K * PQ);
  });
}

template <typename T>
void conv2d_backward_input(const ConvShape& g, const T* grad_output, const T* weight, T* grad_input) {
  if (is_depthwise(g)) return depthwise_backward_input(g, grad_output, weight, grad_input);
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t HW = g.in_height * g.in_width, PQ = g.out_height * g.out_width;
  const int64_t depth = C * g.kernel_height * g.kernel_width;
  const bool pointwise = is_pointwise(g);
  // W^T per group, packed once per call.
  static thread_local Workspace<T> weight_space;
  const int64_t weight_panels = packed_a_size<T>(depth, K);
  T* packed_weight = weight_space.get(G * weight_panels);
  for (int64_t group = 0; group < G; ++group)
    pack_a<T>(true, depth, K, T(1), weight + group * K * depth, depth, packed_weight + group * weight_panels);
  for_each_image(g.batch, [&](int64_t n) {
    static thread_local Workspace<T> col_space, b_space;
    T* packed_grad = b_space.get(packed_b_size<T>(K, PQ));
    for (int64_t group = 0; group < G; ++group) {
      pack_b<T>(false, K, PQ, grad_output + (n * G + group) * K * PQ, PQ, packed_grad);
      T* grad_in = grad_input + (n * G + group) * C * HW;
      T* col = pointwise ? grad_in : col_space.get(depth * PQ);
      gemm_packed<T>(depth, PQ, K, packed_weight + group * weight_panels, packed_grad, col, PQ, false);
      if (!pointwise) col2im(g, col, C, grad_in);
    }
  });
}

template <typename T>
void conv2d_backward_weight(const ConvShape& g, const T* grad_output, const T* input, T* grad_weight,
                            T* grad_bias) {
  const int64_t N = g.batch, G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t HW = g.in_height * g.in_width, PQ = g.out_height * g.out_width;
  const int64_t depth = C * g.kernel_height * g.kernel_width, weight_size = G * K * depth;
  if (grad_bias != nullptr) conv_bias_backward<T>(N, G * K, PQ, grad_output, grad_bias);
  if (is_depthwise(g)) return depthwise_backward_weight(g, grad_output, input, grad_weight);
  const bool pointwise = is_pointwise(g);
  // grad_W[group] += grad_out[n, group] (K x PQ) col[n, group]^T (PQ x depth), summed over images.
  auto accumulate_image = [&](int64_t n, T* grad_w) {
    static thread_local Workspace<T> col_space, a_space, b_space;
    T* packed_grad = a_space.get(packed_a_size<T>(K, PQ));
    T* packed_columns = b_space.get(packed_b_size<T>(PQ, depth));
    for (int64_t group = 0; group < G; ++group) {
      const T* columns = input + (n * G + group) * C * HW;
      if (!pointwise) {
        T* col = col_space.get(depth * PQ);
        im2col(g, columns, C, col);
        columns = col;
      }
      pack_a<T>(false, K, PQ, T(1), grad_output + (n * G + group) * K * PQ, PQ, packed_grad);
      pack_b<T>(true, PQ, depth, columns, PQ, packed_columns);
      gemm_packed<T>(K, depth, PQ, packed_grad, packed_columns, grad_w + group * K * depth, depth, true);
    }
  };
  std::fill(grad_weight, grad_weight + weight_size, T(0));
  const int threads = in_parallel_region() ? 1 : int(std::min<int64_t>(get_num_threads(), N));
  if (threads == 1) {
    for (int64_t n = 0; n < N; ++n) accumulate_image(n, grad_weight);
    return;
  }
  // One image per thread into a private sum, then a fixed-order reduction: deterministic for a
  // given thread count.
  static thread_local Workspace<T> partial_space;
  T* partials = partial_space.get(threads * weight_size);
#pragma omp parallel num_threads(threads)
  {
    T* mine = partials + thread_index() * weight_size;
    std::fill(mine, mine + weight_size, T(0));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) accumulate_image(n, mine);
  }
#pragma omp parallel for schedule(static) if (weight_size * threads > kParallelWork)
  for (int64_t i = 0; i < weight_size; ++i) {
    T sum = 0;
    for (int t = 0; t < threads; ++t) sum += partials[t * weight_size + i];
    grad_weight[i] = sum;
  }
}

#define FASTCNN_INSTANTIATE_CONV(T)                                                                       \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*);                   \
  template void conv2d_backward_input<T>(const ConvShape&, const T*, const T*, T*);                      \
  template void conv2d_backward_weight<T>(const ConvShape&, const T*, const T*, T*, T*);                 \
  template void conv_bias_forward<T>(int64_t, int64_t, int64_t, const T*, T*);                           \
  template void conv_bias_backward<T>(int64_t, int64_t, int64_t, const T*, T*);
FASTCNN_INSTANTIATE_CONV(float)
FASTCNN_INSTANTIATE_CONV(double)
#undef FASTCNN_INSTANTIATE_CONV

}  // namespace fastcnn::cpu
