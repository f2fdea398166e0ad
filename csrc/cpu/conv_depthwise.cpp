// Depthwise convolution (groups = C): direct kernels, since as a GEMM its depth would be only
// R*S. Letters and formulas as in conv.cpp; output channel k reads input channel k / M, where
// M = K / C is the channel multiplier.
//
// The forward runs the ISA's row kernel (cpu/isa/depthwise_kernels.h) on the windows grid of
// blocks of channels (every stride; stride-1 rows of kLongRow values and more instead pad each
// plane once and call it per output row). The stride-1 input gradient is the per-row kernel on
// grad_output with flipped taps; other strides' input gradients use plain loops over the taps. The
// weight gradient, for every stride, takes one long dot product per tap over a stack of images
// (depthwise_backward_weight_windows), so small maps do not pay a packing or a horizontal sum
// per image. With AVX-512, float32 planes of at most 64 values take the plane kernels for all
// three instead (cpu/isa/depthwise_kernels.h; "planes of at most kPlaneValues values" below).
#include "cpu/conv_depthwise.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/parallel.h"
#include "core/workspace.h"
#include "cpu/conv_geometry.h"
#include "cpu/isa/choose.h"
#include "cpu/isa/depthwise_kernels.h"

namespace fastcnn::cpu {

using namespace conv_detail;

namespace {

template <typename T>
DepthwiseDotsKernel<T> depthwise_dots_kernel() {
  if constexpr (std::is_same_v<T, float>) {
    static const DepthwiseDotsKernel<float> kernel =
        FASTCNN_PICK_ISA(&generic::depthwise_dots<float>, &avx2::depthwise_dots, &avx512::depthwise_dots);
    return kernel;
  } else {
    return generic::depthwise_dots<T>;
  }
}

template <typename T>
DepthwiseRowKernel<T> depthwise_row_kernel() {
  if constexpr (std::is_same_v<T, float>) {
    static const DepthwiseRowKernel<float> kernel =
        FASTCNN_PICK_ISA(&generic::depthwise_row<float>, &avx2::depthwise_row, &avx512::depthwise_row);
    return kernel;
  } else {
    return generic::depthwise_row<T>;
  }
}

// out (P x Q) = init + sum over `planes` padded planes (Hp x Wp, Hp = P + dh*(R-1), ...) and
// taps of weights[plane * R*S + tap] * window; g gives the sizes, dilation and kernel.
template <typename T>
void depthwise_rows(const ConvShape& g, const T* padded, int64_t planes, const T* weights, T init, T* out) {
  const int64_t P = g.out_height, Q = g.out_width, R = g.kernel_height, S = g.kernel_width;
  const int64_t dh = g.dilation_height, dw = g.dilation_width;
  const int64_t Hp = P + dh * (R - 1), Wp = Q + dw * (S - 1);
  static thread_local Workspace<const T*> row_space;
  const T** rows = row_space.get(planes * R * S);
  const DepthwiseRowKernel<T> kernel = depthwise_row_kernel<T>();
  for (int64_t p = 0; p < P; ++p) {
    for (int64_t plane = 0; plane < planes; ++plane)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s)
          rows[(plane * R + r) * S + s] = padded + (plane * Hp + p + r * dh) * Wp + s * dw;
    kernel(Q, planes * R * S, rows, weights, init, out + p * Q);
  }
}

// The forward on the windows grid (conv_geometry.h), any stride: each plane's copy puts every
// tap's window at a fixed offset from the grid, so the whole output plane (P rows of Wph, the
// columns past Q computed and dropped) is one call of the row kernel instead of one per output row
// with R*S row pointers each. Input channels are copied in blocks of about kWindowBlockBytes (one
// call of copy_windows, whose set-up cost as much as the copy itself on 4 x 4 planes). It serves
// every strided forward and stride-1 rows shorter than kLongRow. Measured on one thread, 3x3 pad 1
// (us, other path -> this one): stride 2 N1 C144 32px 194 -> 91, N32 C144 56px 18.0 ms -> 9.0-11.0
// (the direct strided loops it replaced); stride 1 (per-row path ->) N1 C960 4px 93 -> 60, N8 C96
// 28px 890 -> 550, N32 C32 32px 1.13 -> 0.95 ms, N1 C144 56px 390 -> 350-394, N32 C144 56px
// 13.6-14.9 -> 14.6-15.7 ms: on wide rows the per-row path's padded copy and 16-value vectors win.
constexpr int64_t kLongRow = 48;
constexpr int64_t kWindowBlockBytes = 16 << 10;

template <typename T>
void depthwise_forward_windows(const ConvShape& g, const T* input, const T* weight, const T* bias, T* output) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, M = K / C;
  const int64_t HW = g.in_height * g.in_width, P = g.out_height, Q = g.out_width;
  const int64_t R = g.kernel_height, S = g.kernel_width, taps = R * S;
  const Windows plane_windows = window_layout<T>(g, 1);
  // A channel's planes (one per stride phase pair) lie `channel_size` apart in the copy.
  const int64_t Wph = plane_windows.phase_width;
  const int64_t channel_size = plane_windows.phase_height * Wph *
                               int64_t(plane_windows.row_phases.size() * plane_windows.col_starts.size());
  const int64_t block = std::clamp<int64_t>(kWindowBlockBytes / (channel_size * int64_t(sizeof(T))), 1, C);
  const int64_t blocks = (C + block - 1) / block;
  const Windows windows = window_layout<T>(g, block);
  std::vector<int64_t> offsets(taps);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t s = 0; s < S; ++s) offsets[r * S + s] = window_offset(g, windows, 0, r, s);
  const DepthwiseRowKernel<T> kernel = depthwise_row_kernel<T>();
  parallel_for(N * blocks, worth_parallel(N * K * P * Q * taps), [&](int64_t nb) {
    static thread_local Workspace<T> copy_space, grid_space;
    static thread_local Workspace<const T*> row_space;
    T* copy = copy_space.get(windows.size);
    T* grid = grid_space.get(plane_windows.grid);
    const T** rows = row_space.get(taps);
    const int64_t n = nb / blocks, c0 = nb % blocks * block, channels = std::min(block, C - c0);
    copy_windows(g, windows, input + (n * C + c0) * HW, channels, copy);
    for (int64_t k = c0 * M; k < (c0 + channels) * M; ++k) {
      const T* planes = copy + (k / M - c0) * channel_size;
      for (int64_t tap = 0; tap < taps; ++tap) rows[tap] = planes + offsets[tap];
      kernel(plane_windows.grid, taps, rows, weight + k * taps, bias != nullptr ? bias[k] : T(0), grid);
      T* out = output + (n * K + k) * P * Q;
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) out[p * Q + q] = grid[p * Wph + q];
    }
  });
}

template <typename T>
void depthwise_forward_stride1(const ConvShape& g, const T* input, const T* weight, const T* bias, T* output) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, M = K / C;
  const int64_t H = g.in_height, W = g.in_width, PQ = g.out_height * g.out_width;
  const int64_t taps = g.kernel_height * g.kernel_width;
  const int64_t Hp = g.out_height + g.dilation_height * (g.kernel_height - 1);
  const int64_t Wp = g.out_width + g.dilation_width * (g.kernel_width - 1);
  parallel_for(N * K, worth_parallel(N * K * PQ * taps), [&](int64_t nk) {
    const int64_t n = nk / K, k = nk % K;
    static thread_local Workspace<T> padded_space;
    T* padded = padded_space.get(Hp * Wp);
    pad_planes(input + (n * C + k / M) * H * W, 1, H, W, Hp, Wp, g.pad_top, g.pad_left, padded);
    depthwise_rows(g, padded, 1, weight + k * taps, bias != nullptr ? bias[k] : T(0), output + nk * PQ);
  });
}

// The input gradient of a stride-1 depthwise convolution is the depthwise convolution of
// grad_output (padded by d*(R-1) - pad) with the flipped kernels of the channel's M outputs.
template <typename T>
void depthwise_backward_input_stride1(const ConvShape& g, const T* grad_output, const T* weight, T* grad_input) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, M = K / C;
  const int64_t P = g.out_height, Q = g.out_width, HW = g.in_height * g.in_width;
  const int64_t R = g.kernel_height, S = g.kernel_width, taps = R * S;
  ConvShape adjoint = g;
  adjoint.in_height = P;
  adjoint.in_width = Q;
  adjoint.out_height = g.in_height;
  adjoint.out_width = g.in_width;
  adjoint.pad_top = g.dilation_height * (R - 1) - g.pad_top;
  adjoint.pad_left = g.dilation_width * (S - 1) - g.pad_left;
  const int64_t Hp = g.in_height + g.dilation_height * (R - 1), Wp = g.in_width + g.dilation_width * (S - 1);
  parallel_for(N * C, worth_parallel(N * K * P * Q * taps), [&](int64_t nc) {
    const int64_t n = nc / C, c = nc % C;
    static thread_local Workspace<T> padded_space, flipped_space;
    T* padded = padded_space.get(M * Hp * Wp);
    T* flipped = flipped_space.get(M * taps);
    pad_planes(grad_output + (n * K + c * M) * P * Q, M, P, Q, Hp, Wp, adjoint.pad_top, adjoint.pad_left, padded);
    for (int64_t j = 0; j < M; ++j)
      for (int64_t tap = 0; tap < taps; ++tap) flipped[j * taps + tap] = weight[(c * M + j) * taps + taps - 1 - tap];
    depthwise_rows(adjoint, padded, M, flipped, T(0), grad_input + nc * HW);
  });
}

// grad_weight[k][tap] = sum over images n of the dot product of grad_output's plane (n, k), laid
// on the windows grid (conv_geometry.h), with the tap's window of the copy of input plane
// (n, k / M). The images are stacked: image i of a stack puts its copy and its grid at offset
// i * block of two buffers, zero past the grid, so the tap's window of every image is the same
// offset from its grid and one dot product of length images * block covers the whole stack.
// Reads run up to the largest tap offset past the last image: into the next block of the buffer
// (written by an earlier stack when the last one is short), or into a zeroed slack.
// Stacks hold about kStackElements values per buffer, so both buffers stay in L2.
constexpr int64_t kStackElements = 1 << 14;

template <typename T>
void depthwise_backward_weight_windows(const ConvShape& g, const T* grad_output, const T* input, T* grad_weight) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, M = K / C;
  const int64_t HW = g.in_height * g.in_width, P = g.out_height, Q = g.out_width;
  const int64_t R = g.kernel_height, S = g.kernel_width, taps = R * S;
  const Windows windows = window_layout<T>(g, 1);
  const int64_t block = windows.size;
  const int64_t stack = std::clamp<int64_t>(kStackElements / block, 1, N);
  std::vector<int64_t> offsets(taps);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t s = 0; s < S; ++s) offsets[r * S + s] = window_offset(g, windows, 0, r, s);
  const int64_t slack = *std::max_element(offsets.begin(), offsets.end());
  const DepthwiseDotsKernel<T> dots = depthwise_dots_kernel<T>();
  parallel_for(K, worth_parallel(N * K * P * Q * taps), [&](int64_t k) {
    static thread_local Workspace<T> copy_space, grid_space;
    T* copies = copy_space.get(stack * block + slack);
    T* grids = grid_space.get(stack * block);
    std::fill(copies + stack * block, copies + stack * block + slack, T(0));
    T* w = grad_weight + k * taps;
    std::fill(w, w + taps, T(0));
    for (int64_t first = 0; first < N; first += stack) {
      const int64_t images = std::min(stack, N - first);
      for (int64_t i = 0; i < images; ++i) {
        const int64_t n = first + i;
        copy_windows(g, windows, input + (n * C + k / M) * HW, 1, copies + i * block);
        T* grid = grids + i * block;
        pad_planes(grad_output + (n * K + k) * P * Q, P, 1, Q, 1, windows.phase_width, 0, 0, grid);
        std::fill(grid + windows.grid, grid + block, T(0));
      }
      dots(images * block, taps, grids, copies, offsets.data(), w);
    }
  });
}

template <typename T>
void depthwise_backward_input(const ConvShape& g, const T* grad_output, const T* weight, T* grad_input) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, M = K / C;
  const int64_t HW = g.in_height * g.in_width, W = g.in_width, Q = g.out_width, PQ = g.out_height * Q;
  const int64_t taps = g.kernel_height * g.kernel_width, sw = g.stride_width;
  parallel_for(N * C, worth_parallel(N * K * PQ * taps), [&](int64_t nc) {
    const int64_t n = nc / C, c = nc % C;
    T* dst = grad_input + nc * HW;
    std::fill(dst, dst + HW, T(0));
    for (int64_t k = c * M; k < (c + 1) * M; ++k) {
      const T* src = grad_output + (n * K + k) * PQ;
      const T* w = weight + k * taps;
      for_each_tap_row(g, 0, g.out_height, [&](int64_t tap, int64_t p, int64_t h, ColumnRange columns, int64_t offset) {
        const T value = w[tap];
        const T* row = src + p * Q;
        for (int64_t q = columns.begin; q < columns.end; ++q) dst[h * W + q * sw + offset] += value * row[q];
      });
    }
  });
}

// --- planes of at most kPlaneValues values (cpu/isa/depthwise_kernels.h) ---------------------------
// MobileNetV2's late stages (8 x 8 and 4 x 4 at CIFAR size, 7 x 7 at ImageNet size) have planes so
// small that the windows copy and each plane's set-up cost many times its FMAs: N64, 960 channels
// of 4 x 4, took 1.67 ms forward (torch 0.72), 2.8 ms for the input gradient and 3.2 for the
// weights. The AVX-512 plane kernels hold a whole plane in registers and read every tap's values
// through one index table per call; float only, elsewhere the paths above serve.
template <typename T>
bool planes_apply(const ConvShape& g) {
  if constexpr (!std::is_same_v<T, float>) {
    return false;
  } else {
    return FASTCNN_PICK_ISA(false, false, true) && g.in_height * g.in_width <= kPlaneValues &&
           g.out_height * g.out_width <= kPlaneValues;
  }
}

// An index table with its lane masks (PlaneGather), for target planes of `target_size` values.
struct PlaneTable {
  int64_t source_size, target_size, taps;
  std::vector<int32_t> index;
  std::vector<uint16_t> valid, upper;
  PlaneTable(int64_t source_size, int64_t target_size, int64_t taps)
      : source_size(source_size),
        target_size(target_size),
        taps(taps),
        index(taps * ((target_size + 15) / 16) * 16, -1),
        valid(index.size() / 16),
        upper(index.size() / 16) {}
  // The kernels' view, its masks derived from the filled index.
  PlaneGather gather() {
    for (size_t at = 0; at < valid.size(); ++at)
      for (int lane = 0; lane < 16; ++lane) {
        const int32_t i = index[at * 16 + lane];
        valid[at] = uint16_t(valid[at] | (i >= 0) << lane);
        upper[at] = uint16_t(upper[at] | (i >= 32) << lane);
      }
    return {source_size, target_size, taps, index.data(), valid.data(), upper.data()};
  }
};

// Tap t of output o = (p, q) reads input i = (h, w) = (p sh - pad_top + r dh, q sw - pad_left + s dw)
// when that lies inside the input. The forward's table (and the weight gradient's) gives each
// output its input, index[t][o] = i; the input gradient's (by_input) each input the output that
// reads it, index[t][i] = o: one at most, as a tap reads distinct inputs for distinct outputs.
PlaneTable plane_table(const ConvShape& g, bool by_input) {
  const int64_t P = g.out_height, Q = g.out_width, H = g.in_height, W = g.in_width, S = g.kernel_width;
  const int64_t taps = g.kernel_height * S;
  PlaneTable table(by_input ? P * Q : H * W, by_input ? H * W : P * Q, taps);
  const int64_t row = int64_t(table.index.size()) / taps;
  for (int64_t t = 0; t < taps; ++t)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        const int64_t h = p * g.stride_height - g.pad_top + t / S * g.dilation_height;
        const int64_t w = q * g.stride_width - g.pad_left + t % S * g.dilation_width;
        if (h < 0 || h >= H || w < 0 || w >= W) continue;
        const int32_t o = int32_t(p * Q + q), i = int32_t(h * W + w);
        table.index[t * row + (by_input ? i : o)] = by_input ? o : i;
      }
  return table;
}

// Tasks of up to kPlaneBlock target planes of one image.
constexpr int64_t kPlaneBlock = 64;

#if defined(FASTCNN_X86)
// The gather kernel over every image's `targets` target planes (per_target, per_source as in
// cpu/isa/depthwise_kernels.h), in tasks of up to kPlaneBlock planes of one image.
void gather_images(const ConvShape& g, PlaneTable table, int64_t targets, int64_t per_target, int64_t per_source,
                   const float* source, const float* weight, const float* bias, float* target) {
  const PlaneGather gather = table.gather();
  const int64_t blocks = (targets + kPlaneBlock - 1) / kPlaneBlock;
  const int64_t source_image = targets * per_target / per_source * gather.source_size;
  const int64_t target_image = targets * gather.target_size;
  const PlaneGatherKernel kernel = avx512::plane_gather_kernel(gather);
  const int64_t work = g.batch * g.out_channels * g.out_height * g.out_width * gather.taps;
  parallel_for(g.batch * blocks, worth_parallel(work), [&](int64_t task) {
    const int64_t n = task / blocks, j0 = task % blocks * kPlaneBlock;
    kernel(gather, j0, std::min(targets, j0 + kPlaneBlock), source + n * source_image, per_target, per_source, weight,
           bias, target + n * target_image);
  });
}

// Output channel k reads input channel k / M.
void depthwise_forward_planes(const ConvShape& g, const float* input, const float* weight, const float* bias,
                              float* output) {
  gather_images(g, plane_table(g, false), g.out_channels, 1, g.out_channels / g.in_channels, input, weight, bias,
                output);
}

// Input channel c sums the M output channels c M + m it feeds, their gradient planes adjacent.
void depthwise_backward_input_planes(const ConvShape& g, const float* grad_output, const float* weight,
                                     float* grad_input) {
  gather_images(g, plane_table(g, true), g.in_channels, g.out_channels / g.in_channels, 1, grad_output, weight,
                nullptr, grad_input);
}

// Each output channel's taps: one sum over the images' planes.
void depthwise_backward_weight_planes(const ConvShape& g, const float* grad_output, const float* input,
                                      float* grad_weight) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, M = K / C;
  const int64_t HW = g.in_height * g.in_width, PQ = g.out_height * g.out_width;
  const int64_t taps = g.kernel_height * g.kernel_width;
  PlaneTable table = plane_table(g, false);
  const PlaneGather gather = table.gather();
  const PlaneDotsKernel kernel = avx512::plane_dots_kernel(gather);
  parallel_for(K, worth_parallel(N * K * PQ * taps), [&](int64_t k) {
    kernel(gather, N, grad_output + k * PQ, K * PQ, input + k / M * HW, C * HW, grad_weight + k * taps);
  });
}
#endif

}  // namespace

template <typename T>
void depthwise_conv2d_forward(const ConvShape& g, const T* input, const T* weight, const T* bias, T* output) {
#if defined(FASTCNN_X86)
  if constexpr (std::is_same_v<T, float>)
    if (planes_apply<T>(g)) return depthwise_forward_planes(g, input, weight, bias, output);
#endif
  if (is_stride1(g) && g.out_width >= kLongRow) return depthwise_forward_stride1(g, input, weight, bias, output);
  depthwise_forward_windows(g, input, weight, bias, output);
}

template <typename T>
void depthwise_conv2d_backward_input(const ConvShape& g, const T* grad_output, const T* weight, T* grad_input) {
#if defined(FASTCNN_X86)
  if constexpr (std::is_same_v<T, float>)
    if (planes_apply<T>(g)) return depthwise_backward_input_planes(g, grad_output, weight, grad_input);
#endif
  if (is_stride1(g)) return depthwise_backward_input_stride1(g, grad_output, weight, grad_input);
  depthwise_backward_input(g, grad_output, weight, grad_input);
}

template <typename T>
void depthwise_conv2d_backward_weight(const ConvShape& g, const T* grad_output, const T* input, T* grad_weight) {
#if defined(FASTCNN_X86)
  if constexpr (std::is_same_v<T, float>)
    if (planes_apply<T>(g)) return depthwise_backward_weight_planes(g, grad_output, input, grad_weight);
#endif
  depthwise_backward_weight_windows(g, grad_output, input, grad_weight);
}

#define FASTCNN_INSTANTIATE_DEPTHWISE(T)                                                                  \
  template void depthwise_conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*);         \
  template void depthwise_conv2d_backward_input<T>(const ConvShape&, const T*, const T*, T*);            \
  template void depthwise_conv2d_backward_weight<T>(const ConvShape&, const T*, const T*, T*);
FASTCNN_INSTANTIATE_DEPTHWISE(float)
FASTCNN_INSTANTIATE_DEPTHWISE(double)
#undef FASTCNN_INSTANTIATE_DEPTHWISE

}  // namespace fastcnn::cpu
