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
// Algorithms (the choices are predicates in conv_geometry.h):
//   implicit GEMM — every convolution but 1x1 stride 1: im2col rows col[(c, r, s)][(p, q)] are
//               windows of one copy of the input split into stride phases, and on small planes
//               into one plane per kernel column, so that the GEMM's grid is the output plane
//               itself (conv_geometry.h); out = W col reads them in place (gemm_rows). The input
//               gradient is the same kind of convolution of grad_out with the flipped kernel,
//               one per stride phase of the input (sub-pixel decomposition), so no stride needs
//               col2im.
//   weight gradient — GEMMs over the output pixels of several images at once, the input read
//               pixel-major (channels contiguous), one per kernel row; where those GEMMs would be
//               too narrow (few input channels) or the input planes already are col (1x1 stride
//               1), dot products with col's rows (gemm_dots).
//   Winograd — 3x3, stride 1, 32 channels or more per group (forward and both gradients), rows
//               not too short (the rules and their measurements are in conv_winograd.h):
//               F(2x2, 3x3), 16 GEMMs over transformed tiles, 2.25 times fewer multiply-adds
//               (conv_winograd.cpp; dilated kernels by output phase); the input gradient too
//               (the flipped kernel's forward) and the weight gradient (the transforms' adjoints
//               around 16 GEMMs).
//   pointwise — 1x1, stride 1, no padding: the input planes already are col.
//   depthwise — groups = C: direct kernels (conv_depthwise.cpp).
// Images run one per thread when there are enough of them (the GEMMs then run serially);
// otherwise the images run in turn and each GEMM and packing step is itself parallel.
#include "cpu/conv.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/workspace.h"
#include "cpu/gemm.h"
#include "cpu/conv_depthwise.h"
#include "cpu/conv_geometry.h"
#include "cpu/conv_winograd.h"
#include "cpu/conv_winograd_phases.h"

namespace fastcnn::cpu {

using namespace conv_detail;

namespace {

// --- implicit GEMM ------------------------------------------------------------------------------
// im2col rows are windows of one copy of the input (conv_geometry.h, "windows"): gemm_rows reads
// them in place, so the copies are the input (once, or S times on small planes) and the output
// rows where the grid drops columns, not the R*S times larger im2col matrix.

// Where implicit_conv writes: output row (k, p) of an image starts at k * channel_stride +
// p * row_stride and its values lie col_stride apart; images (and groups) are K channel strides
// apart. Dense NCHW is {P * Q, Q, 1}; the sub-pixel phases of an input gradient are strided.
struct OutputLayout {
  int64_t channel_stride, row_stride, col_stride;
};

// The offsets of the depth = C * R * S im2col rows in a windows copy (a thread-local buffer).
inline const int64_t* im2col_offsets(const ConvShape& g, const Windows& windows, int64_t C) {
  const int64_t R = g.kernel_height, S = g.kernel_width;
  static thread_local Workspace<int64_t> offset_space;
  int64_t* offsets = offset_space.get(C * R * S);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t s = 0; s < S; ++s) offsets[(c * R + r) * S + s] = window_offset(g, windows, c, r, s);
  return offsets;
}

// The offsets k * plane of `count` planes (a thread-local buffer): a pointwise convolution's
// input planes are its im2col rows.
inline const int64_t* plane_offsets(int64_t count, int64_t plane) {
  static thread_local Workspace<int64_t> offset_space;
  int64_t* offsets = offset_space.get(count);
  for (int64_t k = 0; k < count; ++k) offsets[k] = k * plane;
  return offsets;
}

// Copies one image's K x P x Q outputs off a GEMM result that holds value (k, p, q) at
// result[(k * P + p) * result_p + q], adding bias[k] (bias may be null).
template <typename T>
void store_rows(const T* result, int64_t result_p, int64_t K, int64_t P, int64_t Q, const T* bias, T* out,
                OutputLayout layout) {
  const int64_t step = layout.col_stride;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t p = 0; p < P; ++p) {
      const T* src = result + (k * P + p) * result_p;
      T* dst = out + k * layout.channel_stride + p * layout.row_stride;
      if (bias == nullptr && step == 1)
        std::copy(src, src + Q, dst);
      else if (bias == nullptr)
        for (int64_t q = 0; q < Q; ++q) dst[q * step] = src[q];
      else
        for (int64_t q = 0; q < Q; ++q) dst[q * step] = src[q] + bias[k];
    }
}

// The A operand of a convolution's GEMMs, the weights of each group: packed as gemm.h's A
// (a_stride 0), or read in place with rows a_stride apart where gemm.h's worth_packing_a says
// packing does not pay; group g's start at data + g * group_stride.
template <typename T>
struct WeightOperand {
  const T* data;
  int64_t group_stride, a_stride;
};

// The forward weights (K x C*R*S per group, as stored) as the A operand of products with
// `columns` columns in all: packed into a thread-local buffer when that pays, else in place.
template <typename T>
WeightOperand<T> forward_weights(const T* weight, int64_t groups, int64_t rows, int64_t depth, int64_t columns) {
  if (!worth_packing_a<T>(columns)) return {weight, rows * depth, depth};
  static thread_local Workspace<T> weight_space;
  const int64_t weight_panels = packed_a_size<T>(rows, depth);
  T* packed_weight = weight_space.get(groups * weight_panels);
  for (int64_t group = 0; group < groups; ++group)
    pack_a<T>(false, rows, depth, T(1), weight + group * rows * depth, depth, packed_weight + group * weight_panels);
  return {packed_weight, weight_panels, 0};
}

// The windows implicit_conv copies and the GEMM grid it multiplies on (conv_geometry.h).
template <typename T>
Windows implicit_windows(const ConvShape& g) {
  const WindowPlan plan = window_plan<T>(g);
  return window_layout<T>(g, plan.channel_block, plan.column_taps);
}

// out = conv(in) + bias (bias may be null). The bias is added as the GEMM stores its tiles, or
// while the output rows are copied off the GEMM's result, saving a pass over the output. The
// windows are copied and multiplied one block of channels at a time (conv_geometry.h,
// window_plan), each block a range of the GEMM's depth accumulated into the result. With
// `results` (one image only), the GEMM's results are left there instead (no bias), group g's
// K x grid at results + g * K * grid, rows implicit_windows(g).phase_width apart, for the caller
// to store.
template <typename T>
void implicit_conv(const ConvShape& g, const T* input, const WeightOperand<T>& weights, const T* bias, T* output,
                   OutputLayout layout, T* results = nullptr) {
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t HW = g.in_height * g.in_width, P = g.out_height, Q = g.out_width;
  const int64_t taps = g.kernel_height * g.kernel_width, depth = C * taps;
  const WindowPlan plan = window_plan<T>(g);
  const Windows windows = implicit_windows<T>(g);
  const int64_t grid = windows.grid;
  const int64_t* offsets = im2col_offsets(g, windows, plan.channel_block);
  // A depth range of the weights: packed panels hold mr values per depth.
  const int64_t a_depth_step = weights.a_stride == 0 ? gemm_kernel<T>().mr : 1;
  // A grid without dropped columns is the output's own layout when that is dense: the GEMM
  // writes there directly.
  const bool direct = results == nullptr && grid == P * Q && layout.channel_stride == P * Q &&
                      layout.row_stride == Q && layout.col_stride == 1;
  for_each_image(g.batch, [&](int64_t n) {
    static thread_local Workspace<T> copy_space, grid_space;
    T* copy = copy_space.get(windows.size);
    T* result = direct || results != nullptr ? nullptr : grid_space.get(K * grid);
    for (int64_t group = 0; group < G; ++group) {
      const T* group_bias = bias == nullptr ? bias : bias + group * K;
      T* out = output + (n * G + group) * K * layout.channel_stride;
      if (results != nullptr) result = results + group * K * grid;
      for (int64_t c0 = 0; c0 < C; c0 += plan.channel_block) {
        const int64_t channels = std::min(plan.channel_block, C - c0);
        copy_windows(g, windows, input + ((n * G + group) * C + c0) * HW, channels, copy);
        gemm_rows<T>(K, grid, channels * taps, weights.data + group * weights.group_stride + c0 * taps * a_depth_step,
                     copy, offsets, direct ? out : result, direct ? layout.channel_stride : grid, c0 > 0,
                     weights.a_stride, weights.a_stride == 0 ? depth : 0, direct && c0 == 0 ? group_bias : nullptr);
      }
      if (!direct && results == nullptr) store_rows(result, windows.phase_width, K, P, Q, group_bias, out, layout);
    }
  });
}

// The input gradient as stride-1 convolutions (sub-pixel decomposition). Along one axis, with
// stride st, dilation d and padding pad, input row h = i*st + a (phase a < st) receives
// grad_out row p = (h + pad - r*d) / st from exactly the taps r with r*d = a + pad (mod st):
// r = r0 + j*(st/gcd) for j < taps, and p = i + e - j*(d/gcd) with e = (a + pad - r0*d) / st.
// Flipping j makes phase a a stride-1 convolution of grad_out with dilation d/gcd and padding
// (taps-1)*(d/gcd) - e, the kernel's taps of that phase flipped and its channel axes swapped:
//   grad_in[c][i*st + a][...] = sum_{k, j'} W[k][c][r0 + (taps-1-j')*(st/gcd)][...] grad_out[k][i - pad' + j'*d'][...]
// Each phase runs on implicit_conv and writes its rows straight into grad_in, so there is no
// im2col matrix and no col2im scatter. Stride 1 is one phase: the flipped kernel itself.
struct PhaseAxis {
  int64_t first_tap, taps, tap_step, dilation, pad, size;  // taps == 0 or size == 0: nothing to do
};

inline PhaseAxis phase_axis(int64_t phase, int64_t stride, int64_t dilation, int64_t pad, int64_t kernel,
                            int64_t extent) {
  const int64_t gcd = std::gcd(stride, dilation), tap_step = stride / gcd;
  PhaseAxis axis{0, 0, tap_step, dilation / gcd, 0, phase < extent ? (extent - phase + stride - 1) / stride : 0};
  for (int64_t r = 0; r < std::min(kernel, tap_step); ++r)
    if ((r * dilation - phase - pad) % stride == 0) {
      axis.first_tap = r;
      axis.taps = (kernel - r + tap_step - 1) / tap_step;
      axis.pad = (axis.taps - 1) * axis.dilation - (phase + pad - r * dilation) / stride;
      break;
    }
  return axis;
}

template <typename T>
void phase_backward_input(const ConvShape& g, const T* grad_output, const T* weight, const T* bias, T* grad_input) {
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t H = g.in_height, W = g.in_width, R = g.kernel_height, S = g.kernel_width;
  const int64_t sh = g.stride_height, sw = g.stride_width;
  // The phases (conv_winograd_phases.h: each one's stride-1 convolution, first pixel and taps),
  // and where each one's packed weights start in the one buffer that holds every phase's.
  std::vector<SubPixelPhase> phases;
  std::vector<int64_t> weight_panels, weight_offsets;
  int64_t packed_size = 0;
  bool gaps = false;  // some phase is reached by no tap (stride > kernel extent): its pixels hold the bias or 0
  for (int64_t a = 0; a < std::min(sh, H); ++a)
    for (int64_t b = 0; b < std::min(sw, W); ++b) {
      const PhaseAxis rows = phase_axis(a, sh, g.dilation_height, g.pad_top, R, H);
      const PhaseAxis cols = phase_axis(b, sw, g.dilation_width, g.pad_left, S, W);
      if (rows.taps == 0 || cols.taps == 0) {
        gaps = gaps || (rows.size > 0 && cols.size > 0);
        continue;
      }
      ConvShape phase = input_gradient_shape(g);
      phase.batch = 1;
      phase.out_height = rows.size;
      phase.out_width = cols.size;
      phase.kernel_height = rows.taps;
      phase.kernel_width = cols.taps;
      phase.stride_height = phase.stride_width = 1;
      phase.dilation_height = rows.dilation;
      phase.dilation_width = cols.dilation;
      phase.pad_top = rows.pad;
      phase.pad_left = cols.pad;
      weight_panels.push_back(packed_a_size<T>(C, K * rows.taps * cols.taps));
      weight_offsets.push_back(packed_size);
      packed_size += G * weight_panels.back();
      // The phase's taps, flipped: tap i * cols.taps + j reads kernel tap source[...] (r * S + s).
      phases.push_back(SubPixelPhase{phase, a, b, std::vector<int64_t>(rows.taps * cols.taps)});
      std::vector<int64_t>& source = phases.back().source;
      for (int64_t i = 0; i < rows.taps; ++i)
        for (int64_t j = 0; j < cols.taps; ++j)
          source[i * cols.taps + j] = (rows.first_tap + (rows.taps - 1 - i) * rows.tap_step) * S + cols.first_tap +
                                      (cols.taps - 1 - j) * cols.tap_step;
    }
  if (winograd_phases_apply(g, phases))
    return winograd_phases_backward_input(g, phases, grad_output, weight, bias, grad_input);
  static thread_local Workspace<T> weight_space;
  T* packed_weights = weight_space.get(packed_size);
  const int64_t mr = gemm_kernel<T>().mr;
  for (size_t index = 0; index < phases.size(); ++index) {
    const std::vector<int64_t>& source = phases[index].source;
    const int64_t taps = int64_t(source.size()), depth = K * taps, panels = weight_panels[index] / (mr * depth);
    // The kernel's channel axes swapped and its taps flipped, straight into gemm.h's packed A:
    // panel (group, c0) holds A[c0 + i][(k, tap)] = W[k][c0 + i][source[tap]] at (k * taps + tap)
    // * mr + i, read from the block of mr channels' taps that W holds contiguously for each k.
    parallel_for(G * panels, worth_parallel(G * C * depth), [&](int64_t group_panel) {
      const int64_t group = group_panel / panels, panel = group_panel % panels;
      const int64_t c0 = a_panel_row<T>(C, panel), rows_in = a_panel_row<T>(C, panel + 1) - c0;
      T* dst = packed_weights + weight_offsets[index] + group * weight_panels[index] + panel * mr * depth;
      if (rows_in < mr) std::fill(dst, dst + mr * depth, T(0));
      for (int64_t k = 0; k < K; ++k) {
        const T* src = weight + ((group * K + k) * C + c0) * R * S;
        for (int64_t tap = 0; tap < taps; ++tap)
          for (int64_t i = 0; i < rows_in; ++i) dst[(k * taps + tap) * mr + i] = src[i * R * S + source[tap]];
      }
    });
  }
  // Image by image, every phase in turn: the phases' pixels interleave in the image's gradient,
  // which then stays in cache from one phase to the next (phase by phase over the whole batch,
  // the strided stores of each phase met lines evicted since the last: 10% of a transposed
  // convolution's time). With stride 2 along w, a row phase's two column phases are stored
  // together, their values interleaved in one pass (each phase's every-other-value stores, one
  // value at a time, took 7% of a transposed convolution's forward).
  const int64_t image_in = g.in_channels * H * W, image_out = g.out_channels * g.out_height * g.out_width;
  const OutputLayout layout{H * W, sh * W, sw};
  for_each_image(g.batch, [&](int64_t n) {
    static thread_local Workspace<T> pair_space;
    const T* image = grad_output + n * image_out;
    if (gaps)  // the whole image first, contiguously; the phases with taps then overwrite theirs
      for (int64_t c = 0; c < g.in_channels; ++c) {
        T* plane = grad_input + n * image_in + c * H * W;
        std::fill(plane, plane + H * W, bias != nullptr ? bias[c] : T(0));
      }
    for (size_t index = 0; index < phases.size(); ++index) {
      const SubPixelPhase& phase = phases[index];
      const WeightOperand<T> weights{packed_weights + weight_offsets[index], weight_panels[index], 0};
      T* out = grad_input + n * image_in + phase.a * W + phase.b;
      const bool paired = sw == 2 && phase.b == 0 && index + 1 < phases.size() && phases[index + 1].a == phase.a;
      if (!paired) {
        implicit_conv(phase.shape, image, weights, bias, out, layout);
        continue;
      }
      const SubPixelPhase& odd = phases[++index];
      const Windows even_windows = implicit_windows<T>(phase.shape), odd_windows = implicit_windows<T>(odd.shape);
      T* even_results = pair_space.get(g.in_channels * (even_windows.grid + odd_windows.grid));
      T* odd_results = even_results + g.in_channels * even_windows.grid;
      implicit_conv(phase.shape, image, weights, static_cast<const T*>(nullptr), out, layout, even_results);
      implicit_conv(odd.shape, image, WeightOperand<T>{packed_weights + weight_offsets[index], weight_panels[index], 0},
                    static_cast<const T*>(nullptr), out, layout, odd_results);
      // Channel c's row i: even columns from the first phase, odd from the second (which has
      // one column fewer when W is odd), plus the bias.
      const int64_t rows = phase.shape.out_height, even_q = phase.shape.out_width, odd_q = odd.shape.out_width;
      for (int64_t c = 0; c < g.in_channels; ++c) {
        const T value = bias != nullptr ? bias[c] : T(0);
        for (int64_t i = 0; i < rows; ++i) {
          const T* even = even_results + (c * rows + i) * even_windows.phase_width;
          const T* odd_values = odd_results + (c * rows + i) * odd_windows.phase_width;
          T* dst = out + c * H * W + i * sh * W;
          for (int64_t j = 0; j < odd_q; ++j) {
            dst[2 * j] = even[j] + value;
            dst[2 * j + 1] = odd_values[j] + value;
          }
          if (even_q > odd_q) dst[2 * odd_q] = even[odd_q] + value;
        }
      }
    }
  });
}

// 1x1 stride 1, per image and group: out (rows x PQ) = A (rows x depth) in (depth x PQ) (+ bias,
// groups * rows values, or null), A packed by the caller (a_panels elements per group), the
// planes of `in` packed as B by blocks of columns that stay in L2.
template <typename T>
void pointwise_gemm(int64_t batch, int64_t groups, int64_t rows, int64_t depth, int64_t PQ, const WeightOperand<T>& a,
                    const T* in, const T* bias, T* out) {
  const int64_t block = std::min(PQ, gemm_block_columns<T>(depth));
  for_each_image(batch, [&](int64_t n) {
    static thread_local Workspace<T> columns_space;
    T* packed_columns = columns_space.get(packed_b_size<T>(depth, block));
    for (int64_t group = 0; group < groups; ++group)
      for (int64_t n0 = 0; n0 < PQ; n0 += block) {
        const int64_t n1 = std::min(PQ, n0 + block);
        pack_b<T>(false, depth, n1 - n0, in + (n * groups + group) * depth * PQ + n0, PQ, packed_columns);
        gemm_packed<T>(rows, n1 - n0, depth, a.data + group * a.group_stride, packed_columns,
                       out + (n * groups + group) * rows * PQ + n0, PQ, false, a.a_stride,
                       bias != nullptr ? bias + group * rows : nullptr);
      }
  });
}

}  // namespace

template <typename T>
void conv_bias_forward(int64_t batch, int64_t channels, int64_t plane, const T* bias, T* output) {
  parallel_for(batch * channels, worth_parallel(batch * channels * plane), [&](int64_t nc) {
    const T value = bias[nc % channels];
    T* dst = output + nc * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] += value;
  });
}

// Sum of one channel over `batch` planes of `plane` values, `stride` apart. 16 independent
// partial sums: a single running sum is one serial chain of adds that the compiler may not
// reorder, 16 lanes vectorize into one register.
template <typename T>
T channel_sum(const T* values, int64_t batch, int64_t stride, int64_t plane) {
  constexpr int kLanes = 16;
  T lanes[kLanes] = {};
  T total = 0;
  for (int64_t n = 0; n < batch; ++n) {
    const T* src = values + n * stride;
    int64_t i = 0;
    for (; i + kLanes <= plane; i += kLanes)
      for (int lane = 0; lane < kLanes; ++lane) lanes[lane] += src[i + lane];
    for (; i < plane; ++i) total += src[i];
  }
  for (int lane = 0; lane < kLanes; ++lane) total += lanes[lane];
  return total;
}

template <typename T>
void conv_bias_backward(int64_t batch, int64_t channels, int64_t plane, const T* grad_output, T* grad_bias) {
  parallel_for(channels, worth_parallel(batch * channels * plane),
               [&](int64_t c) { grad_bias[c] = channel_sum(grad_output + c * plane, batch, channels * plane, plane); });
}

template <typename T>
void conv2d_forward(const ConvShape& g, const T* input, const T* weight, const T* bias, T* output) {
  if (is_depthwise(g)) return depthwise_conv2d_forward(g, input, weight, bias, output);
  if (winograd_applies(g)) return winograd_conv2d_forward(g, input, weight, bias, output);
  if (winograd_strided_applies(g)) return winograd_strided_forward(g, input, weight, bias, output);
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t PQ = g.out_height * g.out_width, depth = C * g.kernel_height * g.kernel_width;
  // The weights are packed (when that pays) once per call and shared by every image.
  const WeightOperand<T> weights = forward_weights(weight, G, K, depth, g.batch * PQ);
  if (is_implicit(g)) {
    implicit_conv(g, input, weights, bias, output, OutputLayout{PQ, g.out_width, 1});
    return;
  }
  pointwise_gemm(g.batch, G, K, depth, PQ, weights, input, bias, output);
}

template <typename T>
void conv2d_backward_input(const ConvShape& g, const T* grad_output, const T* weight, T* grad_input,
                           const T* bias) {
  const int64_t HW = g.in_height * g.in_width;
  if (is_depthwise(g) || winograd_applies(g)) {
    if (is_depthwise(g))
      depthwise_conv2d_backward_input(g, grad_output, weight, grad_input);
    else
      winograd_conv2d_backward_input(g, grad_output, weight, grad_input);
    if (bias != nullptr) conv_bias_forward<T>(g.batch, g.in_channels, HW, bias, grad_input);
    return;
  }
  if (!is_pointwise(g)) return phase_backward_input(g, grad_output, weight, bias, grad_input);
  // 1x1 stride 1: grad_in = W^T grad_out per group, W^T packed once per call.
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G, PQ = g.out_height * g.out_width;
  static thread_local Workspace<T> weight_space;
  const int64_t weight_panels = packed_a_size<T>(C, K);
  T* packed_weight = weight_space.get(G * weight_panels);
  for (int64_t group = 0; group < G; ++group)
    pack_a<T>(true, C, K, T(1), weight + group * K * C, C, packed_weight + group * weight_panels);
  pointwise_gemm(g.batch, G, C, K, PQ, WeightOperand<T>{packed_weight, weight_panels, 0}, grad_output, bias,
                 grad_input);
}

// --- weight gradient ------------------------------------------------------------------------------
// grad_W[k][c][r][s] = sum over the output pixels l = (n, p, q) of grad_out[n][k][l] *
// in[n][c][p*sh - pad_top + r*dh][q*sw - pad_left + s*dw]. With X an image's input zero-padded and
// transposed to pixel-major order (X[h][w][c], channels contiguous) this is, for each kernel row
// r, one GEMM whose depth runs over the pixels of several images:
//   acc_r[k][(s, c)] += sum_l grad_out[k][l] * X_n[p*sh + r*dh][q*sw + s*dw][c]
// Unless the kernel is dilated along w, the S taps of a kernel row read S neighbouring pixels, so
// the GEMM's row l of B, (s, c) for every s and c, is one run of S*C values of X read in place
// (gemm_rows); a dilated kernel takes one GEMM of C columns per tap. Only grad_out (the A operand,
// once) and the input (once) are transposed, never the R*S times larger im2col matrix, and the
// depth spans several images of a small plane (about 512 pixels), so each C tile is loaded and
// stored once per 512 multiply-adds rather than once per image.
struct WeightGemms {
  int64_t padded_height, padded_width;  // X: the padded input rows and columns some tap reads
  int64_t row_pitch;                    // elements from one row of X to the next
  int64_t taps_per_gemm, columns;       // kernel columns s per GEMM; its columns, taps_per_gemm * C
  int64_t count;                        // GEMMs: R * S / taps_per_gemm
};

template <typename T>
inline WeightGemms weight_gemms(const ConvShape& g, int64_t C) {
  WeightGemms w;
  w.padded_height = (g.out_height - 1) * g.stride_height + (g.kernel_height - 1) * g.dilation_height + 1;
  w.padded_width = (g.out_width - 1) * g.stride_width + (g.kernel_width - 1) * g.dilation_width + 1;
  w.taps_per_gemm = g.dilation_width == 1 ? g.kernel_width : 1;
  w.columns = w.taps_per_gemm * C;
  w.count = g.kernel_height * g.kernel_width / w.taps_per_gemm;
  // Rows of X an odd number of 64-byte lines apart, padded where need be: a strided kernel's B
  // rows are stride * C values apart along a row (512 bytes for 64 channels), so with an even
  // row pitch as well, every B row of a tile fell into 1/8 of the cache sets. Measured in
  // one-process A/B runs (2 threads): a 3x3 stride-2 weight gradient (64 -> 128 channels, 56 px,
  // N16) 3.6-4.8% faster, the transposed 4x4 stride-2 one 0.5-4%, stride 1 unchanged.
  w.row_pitch = w.padded_width * C;
  const int64_t line = 64 / int64_t(sizeof(T)), lines = (w.row_pitch + line - 1) / line;
  if (lines % 2 == 0) w.row_pitch = (lines + 1) * line;
  return w;
}

// X[hx][wx][c] = in[c][hx - pad_top][wx - pad_left] (0 outside the input), hx < Hx, wx < Wx: each
// input row's run of columns inside X is transposed by the kernel set's pack_lines.
template <typename T>
void pixel_major_copy(const ConvShape& g, const WeightGemms& w, const T* in, int64_t C, T* x) {
  const int64_t H = g.in_height, W = g.in_width, Hx = w.padded_height, Wx = w.padded_width;
  std::fill(x, x + Hx * w.row_pitch, T(0));
  const int64_t w_begin = std::clamp<int64_t>(-g.pad_left, 0, W);
  const int64_t w_end = std::clamp<int64_t>(Wx - g.pad_left, w_begin, W);
  static thread_local Workspace<const T*> line_space;
  const T** lines = line_space.get(C);
  for (int64_t h = std::max<int64_t>(0, -g.pad_top); h < std::min(H, Hx - g.pad_top); ++h) {
    for (int64_t c = 0; c < C; ++c) lines[c] = in + (c * H + h) * W + w_begin;
    gemm_kernel<T>().pack_lines(w_end - w_begin, lines, int(C), int(C),
                                x + (h + g.pad_top) * w.row_pitch + (w_begin + g.pad_left) * C);
  }
}

// The bias gradient of one image's grad_out (K planes), added to sums[k].
template <typename T>
void add_bias_gradient(const T* grad, int64_t K, int64_t PQ, T* sums) {
  for (int64_t k = 0; k < K; ++k) sums[k] += channel_sum(grad + k * PQ, 1, 0, PQ);
}

template <typename T>
void pixel_major_backward_weight(const ConvShape& g, const T* grad_output, const T* input, T* grad_weight,
                                 T* grad_bias) {
  const int64_t N = g.batch, G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t HW = g.in_height * g.in_width, P = g.out_height, Q = g.out_width, PQ = P * Q;
  const int64_t taps = g.kernel_height * g.kernel_width, weight_size = G * K * C * taps;
  const WeightGemms gemms = weight_gemms<T>(g, C);
  const int64_t x_size = gemms.padded_height * gemms.row_pitch;
  const GemmKernel<T>& kernel = gemm_kernel<T>();
  const int64_t mr = kernel.mr;
  // Images per GEMM: about 512 pixels (the micro-kernel's depth block), 256 when strided, but at
  // least one chunk of images per thread. A strided kernel's B rows lie `stride` pixels apart in
  // X; measured on Zen 3 (batch 32-64, 2 threads and 1), strided weight gradients ran 0-7%
  // faster on 256 pixels (the transposed 4x4 stride-2 one of 128 -> 64 channels, 16 px, 12-17%),
  // stride-1 ones no faster (up to 8% slower on 8 px planes).
  const int64_t threads = in_parallel_region() ? 1 : get_num_threads();
  const int64_t pixels = g.stride_height > 1 || g.stride_width > 1 ? 256 : 512;
  const int64_t images = std::clamp<int64_t>(pixels / std::max<int64_t>(PQ, 1), 1, (N + threads - 1) / threads);
  const int64_t chunks = (N + images - 1) / images;
  // The per-thread sums: the weights as [group][gemm][k][column], then the bias.
  const int64_t bias_size = grad_bias != nullptr ? G * K : 0;
  auto accumulate_chunk = [&](int64_t chunk, T* sums) {
    static thread_local Workspace<T> x_space, a_space;
    static thread_local Workspace<int64_t> offset_space;
    static thread_local Workspace<const T*> line_space;
    const int64_t n_begin = chunk * images, count = std::min(images, N - n_begin), L = count * PQ;
    T* x = x_space.get(count * x_size + kernel.nr);
    T* packed_grad = a_space.get(packed_a_size<T>(K, L));
    int64_t* offsets = offset_space.get(L);
    const T** lines = line_space.get(mr);
    std::fill(x + count * x_size, x + count * x_size + kernel.nr, T(0));  // the kernel's over-read
    // Row l = (i, p, q) of B for tap (r, s) is X_i at pixel (p*sh + r*dh, q*sw + s*dw): offsets
    // from the tap's first pixel.
    for (int64_t i = 0; i < count; ++i)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          offsets[(i * P + p) * Q + q] =
              i * x_size + p * g.stride_height * gemms.row_pitch + q * g.stride_width * C;
    for (int64_t group = 0; group < G; ++group) {
      for (int64_t i = 0; i < count; ++i) {
        const int64_t n = n_begin + i;
        const T* grad = grad_output + (n * G + group) * K * PQ;
        pixel_major_copy(g, gemms, input + (n * G + group) * C * HW, C, x + i * x_size);
        if (bias_size > 0) add_bias_gradient(grad, K, PQ, sums + weight_size + group * K);
        // grad_out as gemm.h's packed A, image i at depth i * PQ of every panel.
        for (int64_t k_panel = 0; k_panel * mr < K; ++k_panel) {
          const int64_t k0 = a_panel_row<T>(K, k_panel);
          const int rows = int(a_panel_row<T>(K, k_panel + 1) - k0);
          T* panel = packed_grad + k_panel * mr * L + i * PQ * mr;
          if (rows < mr) std::fill(panel, panel + PQ * mr, T(0));
          for (int j = 0; j < rows; ++j) lines[j] = grad + (k0 + j) * PQ;
          kernel.pack_lines(PQ, lines, rows, int(mr), panel);
        }
      }
      for (int64_t gemm = 0; gemm < gemms.count; ++gemm) {
        const int64_t tap = gemm * gemms.taps_per_gemm, r = tap / g.kernel_width, s = tap % g.kernel_width;
        const T* b = x + r * g.dilation_height * gemms.row_pitch + s * g.dilation_width * C;
        gemm_rows<T>(K, gemms.columns, L, packed_grad, b, offsets,
                     sums + (group * gemms.count + gemm) * K * gemms.columns, gemms.columns, true);
      }
    }
  };
  // grad_weight[group][k][c][r][s] from [group][gemm][k][(s % taps_per_gemm) * C + c].
  auto store = [&](auto sum_of, int threads) {
    parallel_for(G * K, worth_parallel((weight_size + bias_size) * threads), [&](int64_t gk) {
      const int64_t row = (gk / K * gemms.count * K + gk % K) * gemms.columns;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t gemm = 0; gemm < gemms.count; ++gemm)
          for (int64_t tap = 0; tap < gemms.taps_per_gemm; ++tap)
            grad_weight[(gk * C + c) * taps + gemm * gemms.taps_per_gemm + tap] =
                sum_of(row + gemm * K * gemms.columns + tap * C + c);
    });
    for (int64_t i = 0; i < bias_size; ++i) grad_bias[i] = sum_of(weight_size + i);
  };
  sum_over_threads<T>(chunks, weight_size + bias_size, accumulate_chunk, store);
}

template <typename T>
void conv2d_backward_weight(const ConvShape& g, const T* grad_output, const T* input, T* grad_weight,
                            T* grad_bias) {
  const int64_t N = g.batch, G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t HW = g.in_height * g.in_width, PQ = g.out_height * g.out_width;
  const int64_t depth = C * g.kernel_height * g.kernel_width, weight_size = G * K * depth;
  if (is_depthwise(g)) {
    if (grad_bias != nullptr) conv_bias_backward<T>(N, G * K, PQ, grad_output, grad_bias);
    return depthwise_conv2d_backward_weight(g, grad_output, input, grad_weight);
  }
  if (winograd_weight_gradient_applies(g)) {
    if (grad_bias != nullptr) conv_bias_backward<T>(N, G * K, PQ, grad_output, grad_bias);
    return winograd_conv2d_backward_weight(g, grad_output, input, grad_weight);
  }
  if (winograd_strided_weight_gradient_applies(g)) {
    if (grad_bias != nullptr) conv_bias_backward<T>(N, G * K, PQ, grad_output, grad_bias);
    return winograd_strided_backward_weight(g, grad_output, input, grad_weight);
  }
  if (weight_gradient_by_pixels(g)) return pixel_major_backward_weight(g, grad_output, input, grad_weight, grad_bias);
  // grad_W[group] += grad_out[n, group] (K x PQ) col[n, group]^T (PQ x depth), summed over
  // images: dot products along the output positions (gemm_dots), with col's rows read in place
  // from the input planes (1x1 stride 1) or the windows copy, on whose grid grad_out is laid out.
  const bool pointwise = is_pointwise(g);
  const int64_t P = g.out_height, Q = g.out_width;
  const Windows windows = window_layout<T>(g, C, windows_by_column_taps<T>(g));
  const int64_t Wph = windows.phase_width, grid = pointwise ? PQ : windows.grid;
  // The grid drops columns (which grad_out must hold as zeros) unless it is the output plane.
  const bool dropped = grid != PQ;
  const int64_t* offsets = pointwise ? plane_offsets(depth, HW) : im2col_offsets(g, windows, C);
  // The bias gradient is summed image by image while grad_out is in cache for the weights, and
  // lives after the weights in the per-thread sums.
  const int64_t bias_size = grad_bias != nullptr ? G * K : 0;
  auto accumulate_image = [&](int64_t n, T* sums) {
    static thread_local Workspace<T> copy_space, grad_space;
    for (int64_t group = 0; group < G; ++group) {
      const T* in = input + (n * G + group) * C * HW;
      const T* grad = grad_output + (n * G + group) * K * PQ;
      if (bias_size > 0) add_bias_gradient(grad, K, PQ, sums + weight_size + group * K);
      if (!pointwise) {
        T* copy = copy_space.get(windows.size);
        copy_windows(g, windows, in, C, copy);
        in = copy;
        if (dropped) {
          T* grad_grid = grad_space.get(K * grid);
          pad_planes(grad, K * P, 1, Q, 1, Wph, 0, 0, grad_grid);
          grad = grad_grid;
        }
      }
      // The grid's dropped columns (zero in grad) are skipped where the product is packed.
      gemm_dots<T>(K, depth, grid, grad, grid, in, offsets, sums + group * K * depth, depth, true, dropped ? Q : 0,
                   dropped ? Wph : 0);
    }
  };
  auto store = [&](auto sum_of, int threads) {
    parallel_for(weight_size + bias_size, worth_parallel((weight_size + bias_size) * threads), [&](int64_t i) {
      (i < weight_size ? grad_weight[i] : grad_bias[i - weight_size]) = sum_of(i);
    });
  };
  sum_over_threads<T>(N, weight_size + bias_size, accumulate_image, store);
}

#define FASTCNN_INSTANTIATE_CONV(T)                                                                       \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*);                   \
  template void conv2d_backward_input<T>(const ConvShape&, const T*, const T*, T*, const T*);                    \
  template void conv2d_backward_weight<T>(const ConvShape&, const T*, const T*, T*, T*);                 \
  template void conv_bias_forward<T>(int64_t, int64_t, int64_t, const T*, T*);                           \
  template void conv_bias_backward<T>(int64_t, int64_t, int64_t, const T*, T*);
FASTCNN_INSTANTIATE_CONV(float)
FASTCNN_INSTANTIATE_CONV(double)
#undef FASTCNN_INSTANTIATE_CONV

}  // namespace fastcnn::cpu
