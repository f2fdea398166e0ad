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
//   stride 1  — implicit GEMM: im2col rows are windows of the padded input, read in place.
//   depthwise — groups = C: direct kernels (conv_depthwise.cpp).
// Images run one per thread when there are enough of them (the GEMMs then run serially);
// otherwise the images run in turn and each GEMM, im2col and packing step is itself parallel.
#include "cpu/conv.h"

#include <algorithm>
#include <cstring>

#include "core/workspace.h"
#include "cpu/gemm.h"
#include "cpu/conv_depthwise.h"
#include "cpu/conv_geometry.h"

namespace fastcnn::cpu {

using namespace conv_detail;

namespace {

// dst[q - q_begin] = row[q*stride + offset] for q in [q_begin, q_end) inside `columns`, else 0.
template <typename T>
void copy_row_segment(const T* row, int64_t q_begin, int64_t q_end, ColumnRange columns, int64_t stride,
                      int64_t offset, T* dst) {
  const int64_t begin = std::clamp(columns.begin, q_begin, q_end), end = std::clamp(columns.end, begin, q_end);
  // Plain loops, not std::copy / fill: the segments are short (at most one panel) and a libc
  // call per segment costs more than the copy.
  for (int64_t q = q_begin; q < begin; ++q) dst[q - q_begin] = T(0);
  if (stride == 1) {
    const T* in = row + begin + offset;
    T* out = dst + (begin - q_begin);
    for (int64_t i = 0; i < end - begin; ++i) out[i] = in[i];
  } else {
    for (int64_t q = begin; q < end; ++q) dst[q - q_begin] = row[q * stride + offset];
  }
  for (int64_t q = end; q < q_end; ++q) dst[q - q_begin] = T(0);
}

// Columns [n0, n1) of col[(c*R*S + tap)][p*Q + q] = in[c][h][w] (0 in the padding) for `channels`
// channels. Row-major (rows of n1 - n0) when nr is 0, else gemm.h's packed-B layout with panels
// of nr columns, so the forward GEMM reads the block without another copy. Blocks of columns
// keep the result in L2 for the GEMM that consumes it.
template <typename T>
void im2col(const ConvShape& g, const T* in, int64_t channels, int64_t n0, int64_t n1, int64_t nr, T* col) {
  const int64_t H = g.in_height, W = g.in_width, Q = g.out_width, sw = g.stride_width;
  const int64_t taps = g.kernel_height * g.kernel_width, depth = channels * taps, width = n1 - n0;
  if (nr > 0 && width % nr != 0) {
    T* last_panel = col + (width / nr) * nr * depth;  // lanes past n1 must be 0, not stale data
    std::fill(last_panel, last_panel + nr * depth, T(0));
  }
#pragma omp parallel for schedule(static) if (!in_parallel_region() && depth * width > kParallelWork)
  for (int64_t c = 0; c < channels; ++c) {
    const T* src = in + c * H * W;
    for_each_tap_row(g, n0 / Q, (n1 - 1) / Q + 1,
                     [&](int64_t tap, int64_t p, int64_t h, ColumnRange columns, int64_t offset) {
      const int64_t k = c * taps + tap;
      const T* row = src + std::max<int64_t>(h, 0) * W;
      const int64_t q_begin = std::max(n0 - p * Q, int64_t(0)), q_end = std::min(n1 - p * Q, Q);
      const int64_t n = p * Q + q_begin - n0;
      if (nr == 0) {
        copy_row_segment(row, q_begin, q_end, columns, sw, offset, col + k * width + n);
        return;
      }
      // Split the row where it crosses into the next panel (one division per row, not per run).
      int64_t lane = n % nr;
      T* dst = col + (n / nr) * nr * depth + k * nr;
      for (int64_t q = q_begin; q < q_end; dst += nr * depth) {
        const int64_t run = std::min(q_end - q, nr - lane);
        copy_row_segment(row, q, q + run, columns, sw, offset, dst + lane);
        q += run;
        lane = 0;
      }
    });
  }
}

// The adjoint of im2col on a row-major block of columns [n0, n1): in[c][h][w] += col[...] for
// every column entry that read (c, h, w).
template <typename T>
void col2im(const ConvShape& g, const T* col, int64_t channels, int64_t n0, int64_t n1, T* in) {
  const int64_t H = g.in_height, W = g.in_width, Q = g.out_width, sw = g.stride_width;
  const int64_t taps = g.kernel_height * g.kernel_width, width = n1 - n0;
#pragma omp parallel for schedule(static) if (!in_parallel_region() && channels * taps * width > kParallelWork)
  for (int64_t c = 0; c < channels; ++c) {
    T* dst = in + c * H * W;
    for_each_tap_row(g, n0 / Q, (n1 - 1) / Q + 1,
                     [&](int64_t tap, int64_t p, int64_t h, ColumnRange columns, int64_t offset) {
      const T* src = col + (c * taps + tap) * width;
      const int64_t q_begin = std::max(n0 - p * Q, int64_t(0)), q_end = std::min(n1 - p * Q, Q);
      const int64_t begin = std::clamp(columns.begin, q_begin, q_end), end = std::clamp(columns.end, begin, q_end);
      for (int64_t q = begin; q < end; ++q) dst[h * W + q * sw + offset] += src[p * Q + q - n0];
    });
  }
}

// --- stride 1: implicit GEMM ------------------------------------------------------------------
// With the input zero-padded to Hp x Wp (Hp = P + dh*(R-1), Wp = Q + dw*(S-1)) and the output
// computed on the padded-width grid n = p*Wp + q (columns q >= Q are dropped afterwards), im2col
// row (c, r, s) is the contiguous window padded[c*Hp*Wp + r*dh*Wp + s*dw + n]. gemm_rows reads
// those windows in place, so the only copies are the padded input and the output rows: 1/(R*S)
// of the im2col traffic.

// out = conv(in) for a stride-1 geometry, the weights of each group packed as gemm.h's A.
template <typename T>
void implicit_conv(const ConvShape& g, const T* input, const T* packed_weight, int64_t weight_panels, T* output) {
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t H = g.in_height, W = g.in_width, P = g.out_height, Q = g.out_width;
  const int64_t R = g.kernel_height, S = g.kernel_width, dh = g.dilation_height, dw = g.dilation_width;
  const int64_t Hp = P + dh * (R - 1), Wp = Q + dw * (S - 1), grid = P * Wp, depth = C * R * S;
  const int64_t padded_size = padded_window_size<T>(g, C);
  static thread_local Workspace<int64_t> offset_space;
  int64_t* offsets = offset_space.get(depth);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t s = 0; s < S; ++s) offsets[(c * R + r) * S + s] = (c * Hp + r * dh) * Wp + s * dw;
  for_each_image(g.batch, [&](int64_t n) {
    static thread_local Workspace<T> padded_space, grid_space;
    T* padded = padded_space.get(padded_size);
    T* result = grid_space.get(K * grid);
    for (int64_t group = 0; group < G; ++group) {
      pad_for_windows(g, input + (n * G + group) * C * H * W, C, padded_size, padded);
      gemm_rows<T>(K, grid, depth, packed_weight + group * weight_panels, padded, offsets, result, grid, false);
      T* out = output + (n * G + group) * K * P * Q;
      for (int64_t kp = 0; kp < K * P; ++kp)
        std::copy(result + kp * Wp, result + kp * Wp + Q, out + kp * Q);
    }
  });
}

// For stride 1 the input gradient is itself a stride-1 convolution: of grad_output, padded by
// d*(R-1) - pad, with the kernel flipped and its channel axes swapped,
//   grad_in[c][h][w] = sum_{k, r', s'} W[k][c][R-1-r'][S-1-s'] grad_out[k][h - (dh*(R-1) - pad_top) + r'*dh][...],
// so it runs on implicit_conv too.
template <typename T>
void implicit_backward_input(const ConvShape& g, const T* grad_output, const T* weight, T* grad_input) {
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t R = g.kernel_height, S = g.kernel_width, taps = R * S, depth = K * taps;
  ConvShape adjoint = g;
  adjoint.in_channels = g.out_channels;
  adjoint.in_height = g.out_height;
  adjoint.in_width = g.out_width;
  adjoint.out_channels = g.in_channels;
  adjoint.out_height = g.in_height;
  adjoint.out_width = g.in_width;
  adjoint.pad_top = g.dilation_height * (R - 1) - g.pad_top;
  adjoint.pad_left = g.dilation_width * (S - 1) - g.pad_left;
  static thread_local Workspace<T> flipped_space, weight_space;
  T* flipped = flipped_space.get(C * depth);
  const int64_t weight_panels = packed_a_size<T>(C, depth);
  T* packed_weight = weight_space.get(G * weight_panels);
  for (int64_t group = 0; group < G; ++group) {
    const T* w = weight + group * K * C * taps;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t tap = 0; tap < taps; ++tap) flipped[(c * K + k) * taps + tap] = w[(k * C + c) * taps + taps - 1 - tap];
    pack_a<T>(false, C, depth, T(1), flipped, depth, packed_weight + group * weight_panels);
  }
  implicit_conv(adjoint, grad_output, packed_weight, weight_panels, grad_input);
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
  if (is_depthwise(g)) return depthwise_conv2d_forward(g, input, weight, bias, output);
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t HW = g.in_height * g.in_width, PQ = g.out_height * g.out_width;
  const int64_t depth = C * g.kernel_height * g.kernel_width;
  const int64_t block = std::min(PQ, gemm_block_columns<T>(depth)), nr = gemm_kernel<T>().nr;
  const bool pointwise = is_pointwise(g);
  // The weights are packed once per call and shared by every image.
  static thread_local Workspace<T> weight_space;
  const int64_t weight_panels = packed_a_size<T>(K, depth);
  T* packed_weight = weight_space.get(G * weight_panels);
  for (int64_t group = 0; group < G; ++group)
    pack_a<T>(false, K, depth, T(1), weight + group * K * depth, depth, packed_weight + group * weight_panels);
  if (is_implicit(g)) {
    implicit_conv(g, input, packed_weight, weight_panels, output);
    if (bias != nullptr) conv_bias_forward<T>(g.batch, G * K, PQ, bias, output);
    return;
  }
  for_each_image(g.batch, [&](int64_t n) {
    static thread_local Workspace<T> columns_space;
    T* packed_columns = columns_space.get(packed_b_size<T>(depth, block));
    for (int64_t group = 0; group < G; ++group) {
      const T* in = input + (n * G + group) * C * HW;
      for (int64_t n0 = 0; n0 < PQ; n0 += block) {
        const int64_t n1 = std::min(PQ, n0 + block);
        if (pointwise) pack_b<T>(false, depth, n1 - n0, in + n0, PQ, packed_columns);
        else im2col(g, in, C, n0, n1, nr, packed_columns);
        gemm_packed<T>(K, n1 - n0, depth, packed_weight + group * weight_panels, packed_columns,
                       output + (n * G + group) * K * PQ + n0, PQ, false);
      }
    }
    if (bias != nullptr) conv_bias_forward<T>(1, G * K, PQ, bias, output + n * G * K * PQ);
  });
}

template <typename T>
void conv2d_backward_input(const ConvShape& g, const T* grad_output, const T* weight, T* grad_input) {
  if (is_depthwise(g)) return depthwise_conv2d_backward_input(g, grad_output, weight, grad_input);
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t HW = g.in_height * g.in_width, PQ = g.out_height * g.out_width;
  const int64_t depth = C * g.kernel_height * g.kernel_width;
  const int64_t block = std::min(PQ, gemm_block_columns<T>(std::max(depth, K)));
  const bool pointwise = is_pointwise(g);
  if (is_implicit(g)) return implicit_backward_input(g, grad_output, weight, grad_input);
  // W^T per group, packed once per call.
  static thread_local Workspace<T> weight_space;
  const int64_t weight_panels = packed_a_size<T>(depth, K);
  T* packed_weight = weight_space.get(G * weight_panels);
  for (int64_t group = 0; group < G; ++group)
    pack_a<T>(true, depth, K, T(1), weight + group * K * depth, depth, packed_weight + group * weight_panels);
  for_each_image(g.batch, [&](int64_t n) {
    static thread_local Workspace<T> col_space, grad_space;
    T* packed_grad = grad_space.get(packed_b_size<T>(K, block));
    T* col = col_space.get(depth * block);
    for (int64_t group = 0; group < G; ++group) {
      const T* grad = grad_output + (n * G + group) * K * PQ;
      T* grad_in = grad_input + (n * G + group) * C * HW;
      if (!pointwise) std::fill(grad_in, grad_in + C * HW, T(0));
      for (int64_t n0 = 0; n0 < PQ; n0 += block) {
        const int64_t n1 = std::min(PQ, n0 + block);
        pack_b<T>(false, K, n1 - n0, grad + n0, PQ, packed_grad);
        // grad_col = W^T grad_out; for 1x1 convolutions that already is the input gradient.
        if (pointwise) {
          gemm_packed<T>(depth, n1 - n0, K, packed_weight + group * weight_panels, packed_grad, grad_in + n0, PQ,
                         false);
        } else {
          gemm_packed<T>(depth, n1 - n0, K, packed_weight + group * weight_panels, packed_grad, col, n1 - n0, false);
          col2im(g, col, C, n0, n1, grad_in);
        }
      }
    }
  });
}

template <typename T>
void conv2d_backward_weight(const ConvShape& g, const T* grad_output, const T* input, T* grad_weight,
                            T* grad_bias) {
  const int64_t N = g.batch, G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t HW = g.in_height * g.in_width, PQ = g.out_height * g.out_width;
  const int64_t depth = C * g.kernel_height * g.kernel_width, weight_size = G * K * depth;
  // Blocks of output positions whose im2col block stays in L2.
  const int64_t block = std::min(PQ, gemm_block_columns<T>(depth));
  if (grad_bias != nullptr) conv_bias_backward<T>(N, G * K, PQ, grad_output, grad_bias);
  if (is_depthwise(g)) return depthwise_conv2d_backward_weight(g, grad_output, input, grad_weight);
  // grad_W[group] += grad_out[n, group] (K x PQ) col[n, group]^T (PQ x depth), summed over
  // images: dot products along the output positions (gemm_dots), with col's rows read from the
  // input planes (1x1), the padded input (stride 1) or im2col blocks.
  const bool pointwise = is_pointwise(g), implicit = is_implicit(g);
  const int64_t P = g.out_height, Q = g.out_width;
  const int64_t R = g.kernel_height, S = g.kernel_width, dh = g.dilation_height, dw = g.dilation_width;
  const int64_t Hp = P + dh * (R - 1), Wp = Q + dw * (S - 1), grid = P * Wp;
  static thread_local Workspace<int64_t> offset_space;
  int64_t* offsets = offset_space.get(depth);
  for (int64_t k = 0; k < depth; ++k) {
    const int64_t c = k / (R * S), r = k / S % R, s = k % S;
    offsets[k] = pointwise ? k * HW : (c * Hp + r * dh) * Wp + s * dw;
  }
  auto accumulate_image = [&](int64_t n, T* grad_w) {
    static thread_local Workspace<T> col_space, grad_space;
    static thread_local Workspace<int64_t> row_space;
    for (int64_t group = 0; group < G; ++group) {
      const T* in = input + (n * G + group) * C * HW;
      const T* grad = grad_output + (n * G + group) * K * PQ;
      T* grad_w_group = grad_w + group * K * depth;
      if (pointwise) {
        gemm_dots<T>(K, depth, PQ, grad, PQ, in, offsets, grad_w_group, depth, true);
      } else if (implicit) {
        // grad_out on the padded-width grid, zero in the dropped columns.
        const int64_t padded_size = padded_window_size<T>(g, C);
        T* padded = col_space.get(padded_size);
        T* grad_grid = grad_space.get(K * grid);
        pad_for_windows(g, in, C, padded_size, padded);
        pad_planes(grad, K * P, 1, Q, 1, Wp, 0, 0, grad_grid);
        gemm_dots<T>(K, depth, grid, grad_grid, grid, padded, offsets, grad_w_group, depth, true);
      } else {
        T* col = col_space.get(depth * block);
        for (int64_t n0 = 0; n0 < PQ; n0 += block) {
          const int64_t n1 = std::min(PQ, n0 + block);
          im2col(g, in, C, n0, n1, 0, col);
          int64_t* rows = row_space.get(depth);
          for (int64_t k = 0; k < depth; ++k) rows[k] = k * (n1 - n0);
          gemm_dots<T>(K, depth, n1 - n0, grad + n0, PQ, col, rows, grad_w_group, depth, true);
        }
      }
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
