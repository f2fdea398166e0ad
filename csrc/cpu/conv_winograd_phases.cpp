// Winograd F(2x2, 2x2) over the 2x2-tap sub-pixel phases of a strided convolution's input
// gradient, and for 4x4 stride-2 convolutions (Lavin and Gray 2016; the F(2x2, 3x3) twin is
// conv_winograd.cpp). Letters as in
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
// The same product serves a 4x4 stride-2 convolution's forward: with r = 2r' + a and
// s = 2s' + b, out[k][i][j] = sum_{c, a, b} sum_{r', s' < 2} X_ab[c][i + r'][j + s'] W[k][c][r][s],
// X_ab[c][u][v] = in[c][2u + a - pad_top][2v + b - pad_left]: a 2x2 stride-1 convolution of the
// input's four phases stacked as 4C channels (9 GEMMs of depth 4C where the implicit GEMM's is
// 16C per output pixel pair).
//
// Both run as jobs (2x2 stride-1 products) over blocks of images, one block per thread when there
// are enough: the block's input planes are padded (or gathered into phases) once, then for each
// job the input transform writes V, 9 GEMMs (gemm_rows reads V's rows in place) write M, and the
// output transform writes the job's pixels, plus the bias. The 4x4 stride-2 weight gradient runs
// the adjoints: per block the same V and the output gradient's D = A dy A^T, 9 products D V^T
// summed per thread (gemm_dots), then dW = G^T dU G.
//
// Measured on Zen 4 (AVX-512; 2 threads / 1 thread), 4x4 stride-2 convolutions' forward (padding
// 1), implicit GEMM time / this: 64->128 channels at 32 px (batch 32) 1.09-1.31 / 1.34-1.38,
// 32->64 at 64 px (16) 1.26 / 1.29, 128->128 at 64 px (4) 1.24-1.30 / 1.33-1.34, 64->64 at 32 px
// (8) 1.07-1.09 / 1.11-1.12; kept off: 16 input channels (16->32 at 64 px, 0.91-1.05 / 1.03-1.08),
// outputs under 16 px (8 px: 1.00), and fewer images than threads (batch 1, 64->128 at 64 px:
// 0.85-0.86 / 1.03-1.06, its one block's transforms on one thread). Their weight gradient (pixel-
// major GEMMs / this): 64->128 at 32 px (32) 1.30-1.34 / 1.30-1.31, 32->64 at 64 px (16) 1.16-1.20
// / 1.19-1.22, 128->128 at 64 px (4) 1.10-1.25 / 1.35, 64->64 at 32 px (8) 1.10 / 1.04-1.05,
// 128->256 at 32 px (64) 1.32-1.39 / 1.45-1.47; kept off under 64 output channels (32->32 at 32
// px: 0.91-0.93 / 0.86-0.92, GEMMs of 32 rows). Transposed 4x4 stride-2 convolutions' forward,
// implicit GEMM time / this: 128->64 channels at 16 px (batch 32) 1.23-1.30 / 1.27 (the bench
// case: 11.5 -> 9.1 ms), 64->32 at 32 px (16) 1.18-1.30 / 1.30, 128->128 at 32 px (4) 1.35-1.37 /
// 1.38, 256->128 at 16 px (16) 1.31-1.35 / 1.33, 64->64 at 16 px (32) 1.19-1.31 / 1.18, (8)
// 0.87-1.03 / 1.16; kept off: 32 channels of grad_output (32->32 at 16 px, 0.81-0.95 / 0.92-1.03,
// GEMMs 32 deep), 8 px inputs (256->128, batch 32: 0.89-0.97 / 1.16-1.19; 4 tiles a row fill a
// quarter of a vector), 4 px (0.94-1.07). Blocks of 192 tiles rather than 384: 1.13-1.30 ->
// 1.18-1.37 at 2 threads (a block's V and M then stay nearer L2). Batch 1 (64->32 at 32 px)
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

// A job's tiles: TR x TC per image.
struct PhaseTiles {
  int64_t rows, cols, per_image;
};

PhaseTiles phase_tiles(int64_t out_rows, int64_t out_cols) {
  const int64_t rows = (out_rows + 1) / 2, cols = (out_cols + 1) / 2;
  return {rows, cols, rows * cols};
}

// One 2x2 stride-1 product over the block's padded planes: its U (9 positions packed as gemm.h's
// A, `packed_size` apart), its tiles, where tile (0, 0)'s patch starts in each padded plane, and
// where its output pixel (i, j) < (rows, cols) of channel c of image n goes: output + (n *
// out_channels + c) * out_plane + offset + i * row_step + j * col_step.
template <typename T>
struct Job {
  const T* packed;
  PhaseTiles tiles;
  int64_t row0, col0, rows, cols, offset, row_step, col_step;
};

// The planes every job reads: `depth` per image (the GEMMs' depth), Hp x Wp each; and the
// output's channels and plane size.
struct Planes {
  int64_t depth, height, width, out_channels, out_plane;
};

// U_ξ (rows x depth) = (G w G^T)[ξ / 3][ξ % 3] for the 2x2 kernels w that taps(row, d, w) fills,
// packed for every ξ as gemm.h's A at packed + ξ * packed_size.
template <typename T, typename Taps>
void transform_weights(int64_t rows, int64_t depth, Taps taps, T* packed, int64_t packed_size) {
  static thread_local Workspace<T> u_space;
  T* u = u_space.get(kPositions * rows * depth);
  parallel_for(rows, worth_parallel(rows * depth * kPositions), [&](int64_t row) {
    for (int64_t d = 0; d < depth; ++d) {
      T w[2][2];
      taps(row, d, w);
      const T g[3][2] = {{w[0][0], w[0][1]}, {w[0][0] + w[1][0], w[0][1] + w[1][1]}, {w[1][0], w[1][1]}};
      for (int a = 0; a < 3; ++a) {
        const T values[3] = {g[a][0], g[a][0] + g[a][1], g[a][1]};
        for (int b = 0; b < 3; ++b) u[(a * 3 + b) * rows * depth + row * depth + d] = values[b];
      }
    }
  });
  for (int64_t position = 0; position < kPositions; ++position)
    pack_a<T>(false, rows, depth, T(1), u + position * rows * depth, depth, packed + position * packed_size);
}

// v[ξ * plane + d * ld + t] = (B^T d B)[ξ / 3][ξ % 3] for the block's tiles t = n * per_image +
// i * TC + j of its `images`, the patch read from the padded planes at rows row0 + 2i + [0, 3)
// and columns col0 + 2j + [0, 3). A tile row's transform writes whole vectors past its tiles,
// over the next row's (written after it) or into V's slack.
template <typename T>
void transform_input(const Job<T>& job, const Planes& planes, const T* padded, int64_t images, T* v, int64_t ld,
                     int64_t plane) {
  const auto input = winograd_transforms<T>().input_2x2;
  const int64_t Hp = planes.height, Wp = planes.width;
  for (int64_t n = 0; n < images; ++n)
    for (int64_t d = 0; d < planes.depth; ++d) {
      const T* x = padded + (n * planes.depth + d) * Hp * Wp + job.row0 * Wp + job.col0;
      for (int64_t i = 0; i < job.tiles.rows; ++i)
        input(x + 2 * i * Wp, Wp, job.tiles.cols, v + d * ld + n * job.tiles.per_image + i * job.tiles.cols, plane);
    }
}

// The job's output pixels of images [n0, n0 + images): Y = A^T M A + bias, M[ξ] = m[ξ * plane
// + c * ld + t], each tile row's two output rows made in `top` and `bottom` (2 TC values each)
// and stored where the job puts them.
template <typename T>
void transform_output(const Job<T>& job, const Planes& planes, const T* m, int64_t ld, int64_t plane, int64_t n0,
                      int64_t images, const T* bias, T* top, T* bottom, T* output) {
  const auto transform = winograd_transforms<T>().output_2x2;
  for (int64_t n = 0; n < images; ++n)
    for (int64_t c = 0; c < planes.out_channels; ++c) {
      T* out = output + ((n0 + n) * planes.out_channels + c) * planes.out_plane + job.offset;
      for (int64_t i = 0; i < job.tiles.rows; ++i) {
        const bool second_row = 2 * i + 1 < job.rows;
        transform(m + c * ld + n * job.tiles.per_image + i * job.tiles.cols, plane, job.tiles.cols,
                  bias != nullptr ? bias[c] : T(0), job.cols, top, second_row ? bottom : nullptr);
        T* dst = out + 2 * i * job.row_step;
        for (int64_t x = 0; x < job.cols; ++x) dst[x * job.col_step] = top[x];
        if (second_row)
          for (int64_t x = 0; x < job.cols; ++x) dst[job.row_step + x * job.col_step] = bottom[x];
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

// Runs the jobs over the batch's N images; fill(n0, count, padded) writes the planes of images
// [n0, n0 + count) (depth per image, Hp x Wp each). Tasks: a block of images with every job, or,
// with fewer blocks than threads (small batches), a block with one job, each task filling its
// block itself (batch 1 at 2 threads: the block's transforms on one thread had taken a third
// longer than the implicit GEMM).
template <typename T, typename Fill>
void run_jobs(int64_t N, const Planes& planes, const std::vector<Job<T>>& jobs, Fill fill, const T* bias,
              T* output) {
  const int64_t depth = planes.depth, rows = planes.out_channels, packed_size = packed_a_size<T>(rows, depth);
  int64_t per_image = 0;
  for (const Job<T>& job : jobs) per_image = std::max(per_image, job.tiles.per_image);
  const int64_t images = images_per_block(N, per_image), blocks = (N + images - 1) / images;
  const int64_t nr = gemm_kernel<T>().nr;
  const int64_t ld = images * per_image + nr, v_plane = depth * ld + kPlaneSlack, m_plane = rows * ld + kPlaneSlack;
  // The transforms read and write whole vectors past a row's tiles (isa/winograd_table.h).
  const int64_t lanes = isa::kMaxLanes<T>, slack = 2 * lanes + 4;
  const int64_t threads = in_parallel_region() ? 1 : get_num_threads();
  const int64_t groups = blocks < threads ? int64_t(jobs.size()) : 1, per_group = int64_t(jobs.size()) / groups;
  parallel_for<Schedule::dynamic>(blocks * groups, blocks * groups > 1 && threads > 1, [&](int64_t task) {
    static thread_local Workspace<T> padded_space, v_space, m_space, row_space;
    static thread_local Workspace<int64_t> offset_space;
    const int64_t block = task / groups, first_job = task % groups * per_group;
    const int64_t n0 = block * images, count = std::min(images, N - n0);
    const int64_t padded_size = count * depth * planes.height * planes.width;
    T* padded = padded_space.get(padded_size + slack);
    T* v = v_space.get(kPositions * v_plane);
    T* m = m_space.get(kPositions * m_plane);
    T* top = row_space.get(2 * (2 * per_image + 2 * lanes));
    T* bottom = top + 2 * per_image + 2 * lanes;
    int64_t* offsets = offset_space.get(depth);
    for (int64_t d = 0; d < depth; ++d) offsets[d] = d * ld;
    fill(n0, count, padded);
    std::fill(padded + padded_size, padded + padded_size + slack, T(0));
    for (int64_t index = first_job; index < first_job + per_group; ++index) {
      const Job<T>& job = jobs[index];
      const int64_t columns = count * job.tiles.per_image;
      transform_input(job, planes, padded, count, v, ld, v_plane);
      // V's values past the tiles meet only GEMM lanes that are never stored; zeroed all the
      // same, so that no leftover bits can be a slow denormal.
      for (int64_t position = 0; position < kPositions; ++position)
        for (int64_t d = 0; d < depth; ++d) {
          T* row = v + position * v_plane + d * ld;
          std::fill(row + columns, row + ld, T(0));
        }
      for (int64_t position = 0; position < kPositions; ++position)
        gemm_rows<T>(rows, columns, depth, job.packed + position * packed_size,
                     v + position * v_plane, offsets, m + position * m_plane, ld, false);
      transform_output(job, planes, m, ld, m_plane, n0, count, bias, top, bottom, output);
    }
  });
}

// The planes of images [n0, n0 + count) of a 4x4 stride-2 convolution's input, as its four
// phases: depth d = 4c + 2a + b holds X_ab[c][u][v] = in[c][2u + a - pad_top][2v + b - pad_left]
// (zero outside), Hp x Wp.
template <typename T>
void fill_phases(const ConvShape& g, const T* input, int64_t n0, int64_t count, int64_t Hp, int64_t Wp, T* padded) {
  const int64_t C = g.in_channels, H = g.in_height, W = g.in_width;
  for (int64_t nc = 0; nc < count * C; ++nc) {
    const T* plane = input + (n0 * C + nc) * H * W;
    for (int64_t phase = 0; phase < 4; ++phase) {
      const int64_t a = phase / 2, b = phase % 2;
      T* dst = padded + (nc * 4 + phase) * Hp * Wp;
      for (int64_t u = 0; u < Hp; ++u) {
        const int64_t h = 2 * u + a - g.pad_top;
        T* row = dst + u * Wp;
        if (h < 0 || h >= H) {
          std::fill(row, row + Wp, T(0));
          continue;
        }
        const T* line = plane + h * W;
        for (int64_t v = 0; v < Wp; ++v) {
          const int64_t w = 2 * v + b - g.pad_left;
          row[v] = w >= 0 && w < W ? line[w] : T(0);
        }
      }
    }
  }
}

}  // namespace

bool winograd_phases_apply(const ConvShape& g, const std::vector<SubPixelPhase>& phases) {
  if (g.groups != 1 || g.in_channels < 32 || g.out_channels < 64 || phases.empty()) return false;
  for (const SubPixelPhase& phase : phases) {
    const ConvShape& s = phase.shape;
    if (s.kernel_height != 2 || s.kernel_width != 2 || s.dilation_height != 1 || s.dilation_width != 1) return false;
    if (s.out_width < 16 || g.batch * phase_tiles(s.out_height, s.out_width).per_image < 256) return false;
  }
  return true;
}

template <typename T>
void winograd_phases_backward_input(const ConvShape& g, const std::vector<SubPixelPhase>& phases,
                                    const T* grad_output, const T* weight, const T* bias, T* grad_input) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, H = g.in_height, W = g.in_width;
  const int64_t P = g.out_height, Q = g.out_width, taps = g.kernel_height * g.kernel_width;
  // Pixels no phase covers (a stride above the kernel's extent) hold the bias.
  if (int64_t(phases.size()) < std::min(g.stride_height, H) * std::min(g.stride_width, W))
    parallel_for(N * C, worth_parallel(N * C * H * W), [&](int64_t plane) {
      std::fill(grad_input + plane * H * W, grad_input + (plane + 1) * H * W, bias != nullptr ? bias[plane % C] : T(0));
    });
  const int64_t packed_size = packed_a_size<T>(C, K);
  static thread_local Workspace<T> weight_space;
  T* packed = weight_space.get(int64_t(phases.size()) * kPositions * packed_size);
  // One padded copy of an image's grad_output serves every phase: `top` and `left` zeros before
  // the first row and column (the largest padding of any phase), room after for every patch.
  int64_t top = 0, left = 0;
  for (const SubPixelPhase& phase : phases) {
    top = std::max(top, phase.shape.pad_top);
    left = std::max(left, phase.shape.pad_left);
  }
  Planes planes{K, P + top, Q + left, C, H * W};
  std::vector<Job<T>> jobs;
  for (size_t p = 0; p < phases.size(); ++p) {
    const SubPixelPhase& phase = phases[p];
    const ConvShape& s = phase.shape;
    const std::vector<int64_t>& source = phase.source;
    T* phase_packed = packed + int64_t(p) * kPositions * packed_size;
    transform_weights(C, K, [&](int64_t c, int64_t k, T (&w)[2][2]) {
      const T* kernel = weight + (k * C + c) * taps;
      for (int t = 0; t < 4; ++t) w[t / 2][t % 2] = kernel[source[t]];
    }, phase_packed, packed_size);
    const PhaseTiles tiles = phase_tiles(s.out_height, s.out_width);
    jobs.push_back(Job<T>{phase_packed, tiles, top - s.pad_top, left - s.pad_left, s.out_height, s.out_width,
                          phase.a * W + phase.b, g.stride_height * W, g.stride_width});
    planes.height = std::max(planes.height, top - s.pad_top + 2 * tiles.rows + 1);
    planes.width = std::max(planes.width, left - s.pad_left + 2 * tiles.cols + 1);
  }
  run_jobs<T>(N, planes, jobs, [&](int64_t n0, int64_t count, T* padded) {
    conv_detail::pad_planes(grad_output + n0 * K * P * Q, count * K, P, Q, planes.height, planes.width, top, left,
                            padded);
  }, bias, grad_input);
}

bool winograd_strided_applies(const ConvShape& g) {
  // Every convolution's forward asks: the shape first, the thread count only for 4x4 stride 2.
  if (g.groups != 1 || g.kernel_height != 4 || g.kernel_width != 4 || g.stride_height != 2 || g.stride_width != 2 ||
      g.dilation_height != 1 || g.dilation_width != 1 || g.in_channels < 32 || g.out_channels < 32 ||
      g.out_width < 16 || g.batch * phase_tiles(g.out_height, g.out_width).per_image < 256)
    return false;
  return g.batch >= (in_parallel_region() ? 1 : get_num_threads());
}

bool winograd_strided_weight_gradient_applies(const ConvShape& g) {
  return winograd_strided_applies(g) && g.out_channels >= 64;
}

template <typename T>
void winograd_strided_forward(const ConvShape& g, const T* input, const T* weight, const T* bias, T* output) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels;
  const int64_t P = g.out_height, Q = g.out_width;
  const PhaseTiles tiles = phase_tiles(P, Q);
  // Depth d = 4c + 2a + b: channel c's input phase (a, b), Hp x Wp with every tile's patch inside.
  const Planes planes{4 * C, 2 * tiles.rows + 1, 2 * tiles.cols + 1, K, P * Q};
  const int64_t packed_size = packed_a_size<T>(K, 4 * C);
  static thread_local Workspace<T> weight_space;
  T* packed = weight_space.get(kPositions * packed_size);
  transform_weights(K, 4 * C, [&](int64_t k, int64_t d, T (&w)[2][2]) {
    const T* kernel = weight + (k * C + d / 4) * 16;
    const int64_t a = d % 4 / 2, b = d % 2;
    for (int r = 0; r < 2; ++r)
      for (int s = 0; s < 2; ++s) w[r][s] = kernel[(2 * r + a) * 4 + 2 * s + b];
  }, packed, packed_size);
  const std::vector<Job<T>> jobs{Job<T>{packed, tiles, 0, 0, P, Q, 0, Q, 1}};
  run_jobs<T>(N, planes, jobs, [&](int64_t n0, int64_t count, T* padded) {
    fill_phases(g, input, n0, count, planes.height, planes.width, padded);
  }, bias, output);
}

template <typename T>
void winograd_strided_backward_weight(const ConvShape& g, const T* grad_output, const T* input, T* grad_weight) {
  const int64_t N = g.batch, C = g.in_channels, K = g.out_channels, P = g.out_height, Q = g.out_width;
  const PhaseTiles tiles = phase_tiles(P, Q);
  const Planes planes{4 * C, 2 * tiles.rows + 1, 2 * tiles.cols + 1, K, P * Q};
  const int64_t depth = planes.depth;
  const int64_t images = images_per_block(N, tiles.per_image), blocks = (N + images - 1) / images;
  const int64_t nr = gemm_kernel<T>().nr, lanes = isa::kMaxLanes<T>, slack = 2 * lanes + 4;
  const int64_t ld = images * tiles.per_image + nr, v_plane = depth * ld + kPlaneSlack, d_plane = K * ld + kPlaneSlack;
  const int64_t u_plane = K * depth + lanes;  // dU[ξ][k][d], its planes apart as V's
  const Job<T> job{nullptr, tiles, 0, 0, P, Q, 0, Q, 1};
  const auto gradient = winograd_transforms<T>().gradient_2x2;
  // dU_ξ (K x 4C) += D_ξ V_ξ^T over each block's tiles, D = A dy A^T the transformed output gradient.
  auto accumulate_block = [&](int64_t block, T* sums) {
    static thread_local Workspace<T> padded_space, v_space, d_space, row_space;
    static thread_local Workspace<int64_t> offset_space;
    const int64_t n0 = block * images, count = std::min(images, N - n0), columns = count * tiles.per_image;
    const int64_t padded_size = count * depth * planes.height * planes.width, width = 2 * tiles.cols + 2 * lanes;
    T* padded = padded_space.get(padded_size + slack);
    T* v = v_space.get(kPositions * v_plane);
    T* d = d_space.get(kPositions * d_plane);
    T* top = row_space.get(2 * width);
    T* bottom = top + width;
    int64_t* offsets = offset_space.get(depth);
    for (int64_t i = 0; i < depth; ++i) offsets[i] = i * ld;
    fill_phases(g, input, n0, count, planes.height, planes.width, padded);
    std::fill(padded + padded_size, padded + padded_size + slack, T(0));
    transform_input(job, planes, padded, count, v, ld, v_plane);
    for (int64_t n = 0; n < count; ++n)
      for (int64_t k = 0; k < K; ++k) {
        const T* plane = grad_output + ((n0 + n) * K + k) * P * Q;
        for (int64_t i = 0; i < tiles.rows; ++i) {
          for (int64_t x = 0; x < width; ++x) {
            top[x] = x < Q ? plane[2 * i * Q + x] : T(0);
            bottom[x] = x < Q && 2 * i + 1 < P ? plane[(2 * i + 1) * Q + x] : T(0);
          }
          gradient(top, bottom, tiles.cols, d + k * ld + n * tiles.per_image + i * tiles.cols, d_plane);
        }
      }
    for (int64_t position = 0; position < kPositions; ++position)
      gemm_dots<T>(K, depth, columns, d + position * d_plane, ld, v + position * v_plane, offsets,
                   sums + position * u_plane, depth, true);
  };
  // grad_w[k][c][2r' + a][2s' + b] = (G^T dU G)[r'][s'] of dU[k][4c + 2a + b], G^T = [1 1 0; 0 1 1].
  auto store = [&](auto sum_of, int threads) {
    parallel_for(K * C, worth_parallel(K * C * 4 * kPositions * threads), [&](int64_t kc) {
      const int64_t k = kc / C, c = kc % C;
      for (int64_t phase = 0; phase < 4; ++phase) {
        T u[3][3];
        for (int64_t position = 0; position < kPositions; ++position)
          u[position / 3][position % 3] = sum_of(position * u_plane + k * depth + 4 * c + phase);
        const T rows[2][3] = {{u[0][0] + u[1][0], u[0][1] + u[1][1], u[0][2] + u[1][2]},
                              {u[1][0] + u[2][0], u[1][1] + u[2][1], u[1][2] + u[2][2]}};
        T* w = grad_weight + kc * 16;
        const int64_t a = phase / 2, b = phase % 2;
        for (int r = 0; r < 2; ++r) {
          w[(2 * r + a) * 4 + b] = rows[r][0] + rows[r][1];
          w[(2 * r + a) * 4 + 2 + b] = rows[r][1] + rows[r][2];
        }
      }
    });
  };
  conv_detail::sum_over_threads<T>(blocks, kPositions * u_plane, accumulate_block, store);
}

#define FASTCNN_INSTANTIATE_WINOGRAD_PHASES(T)                                                                \
  template void winograd_phases_backward_input<T>(const ConvShape&, const std::vector<SubPixelPhase>&,        \
                                                  const T*, const T*, const T*, T*);                          \
  template void winograd_strided_forward<T>(const ConvShape&, const T*, const T*, const T*, T*);             \
  template void winograd_strided_backward_weight<T>(const ConvShape&, const T*, const T*, T*);
FASTCNN_INSTANTIATE_WINOGRAD_PHASES(float)
FASTCNN_INSTANTIATE_WINOGRAD_PHASES(double)
#undef FASTCNN_INSTANTIATE_WINOGRAD_PHASES

}  // namespace fastcnn::cpu
