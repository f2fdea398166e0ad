// Winograd F(2x2, 2x2) over the 2x2-tap sub-pixel phases of a strided convolution's input
// gradient (Lavin and Gray 2016; the F(2x2, 3x3) twin is conv_winograd.cpp). Letters as in
// conv.cpp, for the convolution g whose input gradient this is: K channels of grad_output (P x Q)
// in, C channels of grad_input (H x W) out. A phase (conv_winograd_phases.h) is a stride-1
// convolution of grad_output with a 2x2 kernel w (its taps flipped) and padding (pr, pc); its
// output is cut into tiles of 2x2 pixels, and tile (i, j) reads the 3x3 patch d of grad_output
// at rows 2i - pr + [0, 3) and columns 2j - pc + [0, 3) (zero outside). Along one axis,
// F(2, 2) takes y0 = d0 w0 + d1 w1, y1 = d1 w0 + d2 w1 from three products,
//   m0 = (d0 - d1) w0,  m1 = d1 (w0 + w1),  m2 = (d2 - d1) w1,  y0 = m0 + m1,  y1 = m1 + m2,
// so in 2-D, Y = A^T [ (G w G^T) ⊙ (B^T d B) ] A with
//   B^T = [1 -1  0]    G = [1 0]    A^T = [1 1 0]
//         [0  1  0]        [1 1]          [0 1 1]
//         [0 -1  1]        [0 1]
// Summed over the K channels, each of the 9 positions ξ of the 3x3 transforms is a GEMM:
// M_ξ (C x tiles) = U_ξ (C x K) V_ξ (K x tiles). That is 9 multiply-adds per channel pair for 4
// outputs where the phase's implicit GEMM takes 16: 1.78 times fewer. The transforms only add
// and subtract (no fractions), so the float32 results stay within the direct sum's rounding.
//
// Images go in blocks, one block per thread when there are enough: the block's grad_output
// planes are padded once, then for each phase the input transform writes V, 9 GEMMs (gemm_rows
// reads V's rows in place) write M, and the output transform writes the phase's pixels of
// grad_input, plus the bias.
//
// Measured on Zen 4 (AVX-512; 2 threads / 1 thread), transposed 4x4 stride-2 convolutions'
// forward, implicit GEMM time / this: 128->64 channels at 16 px (batch 32) 1.23-1.30 / 1.27 (the
// bench case: 11.5 -> 9.1 ms), 64->32 at 32 px (16) 1.18-1.30 / 1.30, 128->128 at 32 px (4)
// 1.35-1.37 / 1.38, 256->128 at 16 px (16) 1.31-1.35 / 1.33, 64->64 at 16 px (32) 1.19-1.31 /
// 1.18, (8) 0.87-1.03 / 1.16; kept off: 32 channels of grad_output (32->32 at 16 px, 0.81-0.95 /
// 0.92-1.03, GEMMs 32 deep), 8 px inputs (256->128, batch 32: 0.89-0.97 / 1.16-1.19; 4 tiles a
// row fill a quarter of a vector), 4 px (0.94-1.07). Blocks of 192 tiles rather than 384: 1.13-1.30
// -> 1.18-1.37 at 2 threads (a block's V and M then stay nearer L2). Batch 1 (64->32 at 32 px)
// 0.96-1.24 with one task per phase; with one task for the block, 0.58-0.77.
#include "cpu/conv_winograd_phases.h"

#include <algorithm>

#include "core/parallel.h"
#include "core/workspace.h"
#include "cpu/conv_geometry.h"
#include "cpu/conv_winograd.h"
#include "cpu/gemm.h"

namespace fastcnn::cpu {

namespace {

constexpr int64_t kPositions = 9;  // ξ = 3u + v
// Tiles per block of images, about: wide enough that each value of U serves many tiles.
constexpr int64_t kBlockTiles = 192;
// Slack between V's and M's planes, so that the 9 planes' streams do not share cache sets.
constexpr int64_t kPlaneSlack = 16;

// A phase's tiles: TR x TC per image.
struct PhaseTiles {
  int64_t rows, cols, per_image;
};

PhaseTiles phase_tiles(const ConvShape& s) {
  const int64_t rows = (s.out_height + 1) / 2, cols = (s.out_width + 1) / 2;
  return {rows, cols, rows * cols};
}

// U of every phase, each position packed as gemm.h's A (C x K): phase p's position ξ at
// packed + (p * 9 + ξ) * packed_size, with U_ξ[c][k] = (G w G^T)[ξ / 3][ξ % 3] for the phase's
// 2x2 kernel w[r][s] = weight[k][c][source[2 r + s]].
template <typename T>
void transform_weights(const ConvShape& g, const std::vector<SubPixelPhase>& phases, const T* weight, T* packed,
                       int64_t packed_size) {
  const int64_t C = g.in_channels, K = g.out_channels, taps = g.kernel_height * g.kernel_width;
  static thread_local Workspace<T> u_space;
  T* u = u_space.get(kPositions * C * K);
  for (size_t p = 0; p < phases.size(); ++p) {
    const std::vector<int64_t>& source = phases[p].source;
    parallel_for(C, worth_parallel(C * K * kPositions), [&](int64_t c) {
      for (int64_t k = 0; k < K; ++k) {
        const T* kernel = weight + (k * C + c) * taps;
        const T w[2][2] = {{kernel[source[0]], kernel[source[1]]}, {kernel[source[2]], kernel[source[3]]}};
        const T rows[3][2] = {{w[0][0], w[0][1]}, {w[0][0] + w[1][0], w[0][1] + w[1][1]}, {w[1][0], w[1][1]}};
        for (int a = 0; a < 3; ++a) {
          const T values[3] = {rows[a][0], rows[a][0] + rows[a][1], rows[a][1]};
          for (int b = 0; b < 3; ++b) u[(a * 3 + b) * C * K + c * K + k] = values[b];
        }
      }
    });
    for (int64_t position = 0; position < kPositions; ++position)
      pack_a<T>(false, C, K, T(1), u + position * C * K, K, packed + (p * kPositions + position) * packed_size);
  }
}

// v[ξ * plane + k * ld + t] = (B^T d B)[ξ / 3][ξ % 3] for the block's tiles t = n * per_image +
// i * TC + j of its `images`, d read from the padded planes (K per image, Hp x Wp each) at rows
// row0 + 2i + [0, 3) and columns col0 + 2j + [0, 3). A tile row's transform writes whole vectors
// past its tiles, over the next row's (written after it) or into V's slack.
template <typename T>
void transform_input(const PhaseTiles& tiles, const T* padded, int64_t images, int64_t K, int64_t Hp, int64_t Wp,
                     int64_t row0, int64_t col0, T* v, int64_t ld, int64_t plane) {
  const auto input = winograd_transforms<T>().input_2x2;
  for (int64_t n = 0; n < images; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const T* x = padded + (n * K + k) * Hp * Wp + row0 * Wp + col0;
      for (int64_t i = 0; i < tiles.rows; ++i)
        input(x + 2 * i * Wp, Wp, tiles.cols, v + k * ld + n * tiles.per_image + i * tiles.cols, plane);
    }
}

// The phase's output pixels of images [n0, n0 + images): Y = A^T M A + bias, M[ξ] = m[ξ * plane
// + c * ld + t], each tile row's two output rows made in `top` and `bottom` (2 TC values each)
// and stored at grad_input's pixels (a + (2i + y) * stride_h, b + x * stride_w).
template <typename T>
void transform_output(const ConvShape& g, const SubPixelPhase& phase, const PhaseTiles& tiles, const T* m,
                      int64_t ld, int64_t plane, int64_t n0, int64_t images, const T* bias, T* top, T* bottom,
                      T* grad_input) {
  const int64_t C = g.in_channels, H = g.in_height, W = g.in_width, sh = g.stride_height, sw = g.stride_width;
  const int64_t rows = phase.shape.out_height, cols = phase.shape.out_width;
  const auto output = winograd_transforms<T>().output_2x2;
  for (int64_t n = 0; n < images; ++n)
    for (int64_t c = 0; c < C; ++c) {
      T* out = grad_input + ((n0 + n) * C + c) * H * W + phase.a * W + phase.b;
      for (int64_t i = 0; i < tiles.rows; ++i) {
        const bool second_row = 2 * i + 1 < rows;
        output(m + c * ld + n * tiles.per_image + i * tiles.cols, plane, tiles.cols,
               bias != nullptr ? bias[c] : T(0), cols, top, second_row ? bottom : nullptr);
        T* dst = out + 2 * i * sh * W;
        for (int64_t x = 0; x < cols; ++x) dst[x * sw] = top[x];
        if (second_row)
          for (int64_t x = 0; x < cols; ++x) dst[sh * W + x * sw] = bottom[x];
      }
    }
}

// Images per block: about kBlockTiles tiles, and a whole number of blocks per thread where the
// batch divides evenly.
int64_t images_per_block(int64_t N, int64_t per_image) {
  const int64_t most = std::max<int64_t>(1, kBlockTiles / std::max<int64_t>(per_image, 1));
  const int64_t threads = in_parallel_region() ? 1 : get_num_threads();
  const int64_t fewest = (N + most - 1) / most;
  int64_t blocks = (fewest + threads - 1) / threads * threads;
  for (int64_t b = blocks; b <= N; b += threads)
    if (N % b == 0) {
      blocks = b;
      break;
    }
  return (N + std::min(blocks, N) - 1) / std::min(blocks, N);
}

}  // namespace

bool winograd_phases_apply(const ConvShape& g, const std::vector<SubPixelPhase>& phases) {
  if (g.groups != 1 || g.in_channels < 32 || g.out_channels < 64 || phases.empty()) return false;
  for (const SubPixelPhase& phase : phases) {
    const ConvShape& s = phase.shape;
    if (s.kernel_height != 2 || s.kernel_width != 2 || s.dilation_height != 1 || s.dilation_width != 1) return false;
    if (s.out_width < 16 || g.batch * phase_tiles(s).per_image < 256) return false;
  }
  return true;
}

template <typename T>
void winograd_phases_backward_input(const ConvShape& g, const std::vector<SubPixelPhase>& phases,
                                    const T* grad_output, const T* weight, const T* bias, T* grad_input) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, H = g.in_height, W = g.in_width;
  const int64_t P = g.out_height, Q = g.out_width;
  // Pixels no phase covers (a stride above the kernel's extent) hold the bias.
  if (int64_t(phases.size()) < std::min(g.stride_height, H) * std::min(g.stride_width, W))
    parallel_for(N * C, worth_parallel(N * C * H * W), [&](int64_t plane) {
      std::fill(grad_input + plane * H * W, grad_input + (plane + 1) * H * W, bias != nullptr ? bias[plane % C] : T(0));
    });
  const int64_t packed_size = packed_a_size<T>(C, K);
  static thread_local Workspace<T> weight_space;
  T* packed = weight_space.get(int64_t(phases.size()) * kPositions * packed_size);
  transform_weights(g, phases, weight, packed, packed_size);

  // One padded copy of an image's planes serves every phase: `top` and `left` zeros before the
  // first row and column (the largest padding of any phase), room after for every tile's patch.
  int64_t top = 0, left = 0, per_image = 0;
  for (const SubPixelPhase& phase : phases) {
    top = std::max(top, phase.shape.pad_top);
    left = std::max(left, phase.shape.pad_left);
    per_image = std::max(per_image, phase_tiles(phase.shape).per_image);
  }
  int64_t Hp = P + top, Wp = Q + left;
  for (const SubPixelPhase& phase : phases) {
    const PhaseTiles tiles = phase_tiles(phase.shape);
    Hp = std::max(Hp, top - phase.shape.pad_top + 2 * tiles.rows + 1);
    Wp = std::max(Wp, left - phase.shape.pad_left + 2 * tiles.cols + 1);
  }
  const int64_t images = images_per_block(N, per_image), blocks = (N + images - 1) / images;
  const int64_t nr = gemm_kernel<T>().nr;
  const int64_t ld = images * per_image + nr, v_plane = K * ld + kPlaneSlack, m_plane = C * ld + kPlaneSlack;
  // The transforms read and write whole vectors past a row's tiles (isa/winograd_table.h).
  const int64_t lanes = isa::kMaxLanes<T>, slack = 2 * lanes + 4;
  // Tasks: a block of images with every phase, or, with fewer blocks than threads (small
  // batches), a block with one phase, each task padding its block itself (batch 1 at 2 threads:
  // the block's transforms on one thread had taken a third longer than the implicit GEMM).
  const int64_t threads = in_parallel_region() ? 1 : get_num_threads();
  const int64_t phase_groups = blocks < threads ? int64_t(phases.size()) : 1;
  const int64_t per_group = int64_t(phases.size()) / phase_groups;
  parallel_for<Schedule::dynamic>(blocks * phase_groups, blocks * phase_groups > 1 && threads > 1, [&](int64_t task) {
    static thread_local Workspace<T> padded_space, v_space, m_space, row_space;
    static thread_local Workspace<int64_t> offset_space;
    const int64_t block = task / phase_groups, first_phase = task % phase_groups * per_group;
    const int64_t n0 = block * images, count = std::min(images, N - n0), padded_size = count * K * Hp * Wp;
    T* padded = padded_space.get(padded_size + slack);
    T* v = v_space.get(kPositions * v_plane);
    T* m = m_space.get(kPositions * m_plane);
    T* top_row = row_space.get(2 * (2 * per_image + 2 * lanes));
    T* bottom_row = top_row + 2 * per_image + 2 * lanes;
    int64_t* offsets = offset_space.get(K);
    for (int64_t k = 0; k < K; ++k) offsets[k] = k * ld;
    conv_detail::pad_planes(grad_output + n0 * K * P * Q, count * K, P, Q, Hp, Wp, top, left, padded);
    std::fill(padded + padded_size, padded + padded_size + slack, T(0));
    for (int64_t p = first_phase; p < first_phase + per_group; ++p) {
      const SubPixelPhase& phase = phases[p];
      const PhaseTiles tiles = phase_tiles(phase.shape);
      const int64_t columns = count * tiles.per_image;
      transform_input(tiles, padded, count, K, Hp, Wp, top - phase.shape.pad_top, left - phase.shape.pad_left, v, ld,
                      v_plane);
      // V's values past the tiles meet only GEMM lanes that are never stored; zeroed all the
      // same, so that no leftover bits can be a slow denormal.
      for (int64_t position = 0; position < kPositions; ++position)
        for (int64_t k = 0; k < K; ++k) {
          T* row = v + position * v_plane + k * ld;
          std::fill(row + columns, row + ld, T(0));
        }
      for (int64_t position = 0; position < kPositions; ++position)
        gemm_rows<T>(C, columns, K, packed + (p * kPositions + position) * packed_size,
                     v + position * v_plane, offsets, m + position * m_plane, ld, false);
      transform_output(g, phase, tiles, m, ld, m_plane, n0, count, bias, top_row, bottom_row, grad_input);
    }
  });
}

#define FASTCNN_INSTANTIATE_WINOGRAD_PHASES(T)                                                                \
  template void winograd_phases_backward_input<T>(const ConvShape&, const std::vector<SubPixelPhase>&,        \
                                                  const T*, const T*, const T*, T*);
FASTCNN_INSTANTIATE_WINOGRAD_PHASES(float)
FASTCNN_INSTANTIATE_WINOGRAD_PHASES(double)
#undef FASTCNN_INSTANTIATE_WINOGRAD_PHASES

}  // namespace fastcnn::cpu
