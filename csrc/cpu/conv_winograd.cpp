// Winograd F(2x2, 3x3) convolution (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016). Letters as in conv.cpp. The output is cut into tiles of 2x2 pixels;
// tile (i, j) reads the 4x4 input patch d at rows 2i - pad_top + [0, 4) and columns
// 2j - pad_left + [0, 4) (zero outside the input), and for a 3x3 kernel g
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A
// with
//   B^T = [1  0 -1  0]    G = [1    0    0  ]    A^T = [1  1  1  0]
//         [0  1  1  0]        [1/2  1/2  1/2]          [0  1 -1 -1]
//         [0 -1  1  0]        [1/2 -1/2  1/2]
//         [0  1  0 -1]        [0    0    1  ]
// Summed over the input channels, the elementwise product at each of the 16 positions ξ of the
// 4x4 transforms is a GEMM: M_ξ (K x tiles) = U_ξ (K x C) V_ξ (C x tiles), U = G g G^T the
// transformed weights and V = B^T d B the transformed input. That is 16 multiply-adds per input
// channel for 4 outputs where the direct convolution takes 36: 2.25 times fewer. The transforms
// only add, subtract and halve, so the rounding stays a small multiple of the direct sum's (the
// float64 tests agree with the reference to ~1e-13; float32 with torch to its tolerance).
//
// The tiles of all images are numbered in order (image, tile row, tile column) and taken in
// blocks (tile_layout): the input transform writes a block's V, its 16 GEMMs (gemm_rows reads V's
// rows in place) write M, and the output transform writes the block's outputs. Blocks run one
// per thread when there are enough of them. The input gradient is the forward of the flipped
// kernel; the weight gradient runs the transforms' adjoints around 16 GEMMs over the tiles. A
// dilated kernel's output phases (pixels d apart) are undilated convolutions of input phases.
#include "cpu/conv_winograd.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/parallel.h"
#include "core/runtime.h"
#include "core/workspace.h"
#include "cpu/conv_geometry.h"
#include "cpu/gemm.h"
#include "cpu/isa/choose.h"
#include "cpu/isa/winograd_table.h"

namespace fastcnn::cpu {

template <typename T>
const isa::WinogradKernels<T>& winograd_transforms() {
  static const isa::WinogradTable table = FASTCNN_CHOOSE_ISA_TABLE(winograd_table);
  if constexpr (std::is_same_v<T, float>)
    return table.f32;
  else
    return table.f64;
}
template const isa::WinogradKernels<float>& winograd_transforms<float>();
template const isa::WinogradKernels<double>& winograd_transforms<double>();

namespace {

constexpr int64_t kPositions = 16;  // ξ = 4a + b

// U[ξ][kc] = (G g G^T)[a][b] for every kernel kc = (group, k, c) of the weights (K x C x 3 x 3
// per group, as stored): 16 planes of G*K*C values `plane` apart, each plane's group g a K x C
// matrix.
template <typename T>
void transform_weights(const T* weight, int64_t kernels, T* u, int64_t plane) {
  const T half = T(0.5);
  parallel_for(kernels, worth_parallel(kernels * kPositions), [&](int64_t kc) {
    const T* w = weight + kc * 9;
    T rows[4][3];  // G g
    for (int s = 0; s < 3; ++s) {
      rows[0][s] = w[s];
      rows[1][s] = (w[s] + w[3 + s] + w[6 + s]) * half;
      rows[2][s] = (w[s] - w[3 + s] + w[6 + s]) * half;
      rows[3][s] = w[6 + s];
    }
    for (int a = 0; a < 4; ++a) {
      const T* r = rows[a];
      const T values[4] = {r[0], (r[0] + r[1] + r[2]) * half, (r[0] - r[1] + r[2]) * half, r[2]};
      for (int b = 0; b < 4; ++b) u[(a * 4 + b) * plane + kc] = values[b];
    }
  });
}

// The tile geometry and the blocks of tiles.
struct Tiles {
  int64_t rows, cols, per_image, total;  // TP, TQ, TP * TQ, N * TP * TQ
  int64_t block;                         // tiles per block, a multiple of the GEMM's nr
};

// A run of tiles in one tile row: image n, tile row i, tile columns [j0, j1), whose first tile
// is column `at` of its block.
struct Run {
  int64_t n, i, j0, j1, at;
};

// Calls fn(run) for the runs that make up tiles [first, last).
template <typename Fn>
void for_each_run(const Tiles& tiles, int64_t first, int64_t last, Fn&& fn) {
  for (int64_t t = first; t < last;) {
    const int64_t n = t / tiles.per_image, rest = t % tiles.per_image;
    const int64_t i = rest / tiles.cols, j0 = rest % tiles.cols;
    const int64_t j1 = std::min(tiles.cols, j0 + (last - t));
    fn(Run{n, i, j0, j1, t - first});
    t += j1 - j0;
  }
}

// The runs of tiles [first, last), listed once for a block's transforms, which walk them once per
// channel (finding them anew for each took two integer divisions per run and channel: 8% of a
// 64-channel 8 px forward, whose runs are 4 tiles long).
inline std::vector<Run> block_runs(const Tiles& tiles, int64_t first, int64_t last) {
  std::vector<Run> runs;
  for_each_run(tiles, first, last, [&](const Run& run) { runs.push_back(run); });
  return runs;
}

// row[x] = plane[h][col0 + x] for x < width, zero outside the H x W plane.
template <typename T>
void copy_padded_row(const T* plane, int64_t H, int64_t W, int64_t h, int64_t col0, int64_t width, T* row) {
  if (h < 0 || h >= H) {
    std::fill(row, row + width, T(0));
    return;
  }
  const int64_t begin = std::clamp<int64_t>(-col0, 0, width), end = std::clamp<int64_t>(W - col0, begin, width);
  const T* src = plane + h * W + col0;
  std::fill(row, row + begin, T(0));
  std::copy(src + begin, src + end, row + begin);
  std::fill(row + end, row + width, T(0));
}

// V[ξ][c][at + jj] = (B^T d B)[ξ / 4][ξ % 4] for the run's tiles, channels [0, C) of one group's
// input (in: C planes of H x W). Each tile row's four input rows are first copied, zero-padded,
// into `rows` (4 rows `stride` apart, zeroed past 2 L + 2), so that the transform reads without
// bounds checks.
template <typename T>
void transform_input(const ConvShape& g, const Run& run, const T* in, int64_t C, T* v, int64_t ldv, int64_t plane,
                     T* rows, int64_t stride) {
  const int64_t H = g.in_height, W = g.in_width, L = run.j1 - run.j0;
  const isa::WinogradKernels<T>& kernels = winograd_transforms<T>();
  for (int64_t c = 0; c < C; ++c) {
    for (int r = 0; r < 4; ++r)
      copy_padded_row(in + c * H * W, H, W, 2 * run.i - g.pad_top + r, 2 * run.j0 - g.pad_left, 2 * L + 2,
                      rows + r * stride);
    kernels.input(rows, rows + 2, stride, L, v + c * ldv + run.at, plane);
  }
}

// Tile rows shorter than a vector of tiles left most of the transforms' lanes idle (an 8 px
// output has 4 tiles a row: a quarter of an AVX-512 vector). Below that, the block's tiles of all
// its rows are transformed side by side: the input by way of two sets of rows, each run's padded
// input columns from 2 j0 (`rows`) and from 2 j0 + 2 (`shifted`) at column 2 at of both, since the
// patches of one tile row overlap the next row's by two columns; the output into two rows of the
// block's tiles (`top`, `bottom`), copied run by run into the output.
template <typename T>
bool transforms_by_block(const Tiles& tiles) {
  return tiles.cols < isa::kMaxLanes<T>;
}

// The input zero-padded for transform_block_input: the planes (of all groups) of the images a
// block's tiles cover, with the tiles' rows and columns inside, `pitch` values a row, `rows`
// rows a plane; each row has 4 values of slack past the tiles' columns (the gather's whole
// chunks).
struct PaddedInput {
  int64_t rows, pitch;
};

inline PaddedInput padded_input(const Tiles& tiles) { return {2 * tiles.rows + 2, 2 * tiles.cols + 2 + 4}; }

// Images [n0, n1) of the input, padded (a thread-local buffer).
template <typename T>
const T* pad_images(const ConvShape& g, const Tiles& tiles, const T* input, int64_t n0, int64_t n1) {
  static thread_local Workspace<T> space;
  const PaddedInput padded = padded_input(tiles);
  const int64_t planes = (n1 - n0) * g.in_channels, size = padded.rows * padded.pitch;
  T* out = space.get(planes * size);
  parallel_for(planes, worth_parallel(planes * size), [&](int64_t plane) {
    conv_detail::pad_planes(input + (n0 * g.in_channels + plane) * g.in_height * g.in_width, 1, g.in_height,
                            g.in_width, padded.rows, padded.pitch, g.pad_top, g.pad_left, out + plane * size);
  });
  return out;
}

// transform_input for the block's tiles [first, last) of one group, from the padded input
// (pad_images): `in` is the group's first plane of image n0, images `image_stride` apart.
template <typename T>
void transform_block_input(const Tiles& tiles, int64_t first, int64_t last, const T* in, int64_t n0,
                           int64_t image_stride, int64_t C, T* v, int64_t ldv, int64_t plane, T* rows, T* shifted,
                           int64_t stride) {
  const PaddedInput padded = padded_input(tiles);
  const isa::WinogradKernels<T>& kernels = winograd_transforms<T>();
  const std::vector<Run> runs = block_runs(tiles, first, last);
  for (int64_t c = 0; c < C; ++c) {
    for (const Run& run : runs) {
      const T* channel = in + (run.n - n0) * image_stride + c * padded.rows * padded.pitch;
      const int64_t width = 2 * (run.j1 - run.j0);
      for (int r = 0; r < 4; ++r) {
        // Whole chunks of 4 values (fixed-size copies: moves, not calls): a chunk past the run's
        // width lands where the next run's columns go, written after it, or in the slack.
        const T* line = channel + (2 * run.i + r) * padded.pitch + 2 * run.j0;
        T* first_columns = rows + r * stride + 2 * run.at;
        T* last_columns = shifted + r * stride + 2 * run.at;
        for (int64_t x = 0; x < width; x += 4) {
          std::memcpy(first_columns + x, line + x, 4 * sizeof(T));
          std::memcpy(last_columns + x, line + 2 + x, 4 * sizeof(T));
        }
      }
    }
    kernels.input(rows, shifted, stride, last - first, v + c * ldv, plane);
  }
}

// D[ξ][k][at + jj] = (A dy A^T)[ξ / 4][ξ % 4] for the run's tiles, channels [0, K) of one
// group's output gradient (grad: K planes of P x Q), dy the tile's 2x2 gradient (zero past the
// output); the two rows go through `rows` as in transform_input.
template <typename T>
void transform_gradient(const ConvShape& g, const Run& run, const T* grad, int64_t K, T* d, int64_t ldd,
                        int64_t plane, T* rows, int64_t stride) {
  const int64_t P = g.out_height, Q = g.out_width, L = run.j1 - run.j0;
  const isa::WinogradKernels<T>& kernels = winograd_transforms<T>();
  for (int64_t k = 0; k < K; ++k) {
    for (int y = 0; y < 2; ++y)
      copy_padded_row(grad + k * P * Q, P, Q, 2 * run.i + y, 2 * run.j0, 2 * L, rows + y * stride);
    kernels.gradient(rows, rows + stride, L, d + k * ldd + run.at, plane);
  }
}

// out[k][2i + y][2j + x] = (A^T M A)[y][x] + bias[k] for the run's tiles, K channels of one
// group's output (bias may be null); rows and columns past the output (odd P or Q) are skipped.
template <typename T>
void transform_output(const ConvShape& g, const Run& run, const T* m, int64_t ldm, int64_t plane, int64_t K,
                      const T* bias, T* out) {
  const int64_t P = g.out_height, Q = g.out_width, L = run.j1 - run.j0;
  const int64_t columns = std::min(2 * L, Q - 2 * run.j0);
  const bool second_row = 2 * run.i + 1 < P;
  const isa::WinogradKernels<T>& kernels = winograd_transforms<T>();
  for (int64_t k = 0; k < K; ++k) {
    T* top = out + (k * P + 2 * run.i) * Q + 2 * run.j0;
    kernels.output(m + k * ldm + run.at, plane, L, bias == nullptr ? T(0) : bias[k], columns, top,
                   second_row ? top + Q : nullptr);
  }
}

// transform_gradient for the block's tiles [first, last) of one group (transforms_by_block): `grad`
// is the group's first output-gradient plane of the first image, images `image_stride` apart; the
// tiles' two rows are gathered side by side into `top` and `bottom` (zero past the output).
template <typename T>
void transform_block_gradient(const ConvShape& g, const Tiles& tiles, int64_t first, int64_t last, const T* grad,
                              int64_t image_stride, int64_t K, T* d, int64_t ldd, int64_t plane, T* top, T* bottom) {
  const int64_t P = g.out_height, Q = g.out_width;
  const isa::WinogradKernels<T>& kernels = winograd_transforms<T>();
  const std::vector<Run> runs = block_runs(tiles, first, last);
  for (int64_t k = 0; k < K; ++k) {
    for (const Run& run : runs) {
      const T* channel = grad + run.n * image_stride + k * P * Q + 2 * run.j0;
      const int64_t width = 2 * (run.j1 - run.j0), columns = std::min(width, Q - 2 * run.j0);
      for (int y = 0; y < 2; ++y) {
        const int64_t row = 2 * run.i + y;
        T* dst = (y == 0 ? top : bottom) + 2 * run.at;
        for (int64_t x = 0; x < width; ++x) dst[x] = row < P && x < columns ? channel[row * Q + x] : T(0);
      }
    }
    kernels.gradient(top, bottom, last - first, d + k * ldd, plane);
  }
}

// transform_output for the block's tiles [first, last) of one group (transforms_by_block): `out`
// is the group's first image, images `image_stride` apart; `top` and `bottom` hold 2 (last -
// first) values each.
template <typename T>
void transform_block_output(const ConvShape& g, const Tiles& tiles, int64_t first, int64_t last, const T* m,
                            int64_t ldm, int64_t plane, int64_t K, const T* bias, T* out, int64_t image_stride,
                            T* top, T* bottom) {
  const int64_t P = g.out_height, Q = g.out_width, count = last - first;
  const isa::WinogradKernels<T>& kernels = winograd_transforms<T>();
  const std::vector<Run> runs = block_runs(tiles, first, last);
  for (int64_t k = 0; k < K; ++k) {
    kernels.output(m + k * ldm, plane, count, bias == nullptr ? T(0) : bias[k], 2 * count, top, bottom);
    for (const Run& run : runs) {
      const int64_t columns = std::min(2 * (run.j1 - run.j0), Q - 2 * run.j0);
      T* dst = out + run.n * image_stride + (k * P + 2 * run.i) * Q + 2 * run.j0;
      const bool second_row = 2 * run.i + 1 < P;
      for (int64_t x = 0; x < columns; ++x) {  // a few values: no call to memcpy
        dst[x] = top[2 * run.at + x];
        if (second_row) dst[Q + x] = bottom[2 * run.at + x];
      }
    }
  }
}

// Tiles per block: at most 8 panels of the GEMM's nr (128 tiles with AVX2, 384 with AVX-512), at
// least one, and as many blocks as make a whole number per thread, of equal size (a multiple of
// the widest vector): the threads take blocks in turn, and 1024 tiles on two threads cut 384 +
// 384 + 256 left one thread 640 tiles against 384 (the other idle for a fifth of the call), cut
// 4 x 256 they share evenly (64 channels of 8 px, N64: forward 1.30-1.46 -> 1.04-1.07 ms). Each block multiplies
// all of U, so a block must be wide enough to use each value of U often: measured on Zen 3 (one
// thread, 3x3, 64 to 256 channels), 1 and 2 panels ran at 0.6-0.9 of the speed of 8, which
// matched 4 and 12 within the noise. Its V and M (16 x 128 x (C + K) values, 2 MiB each at 256
// channels) pass L2, but each of the 16 GEMMs reads only its own plane's share.
template <typename T>
Tiles tile_layout(const ConvShape& g) {
  Tiles tiles;
  tiles.rows = (g.out_height + 1) / 2;
  tiles.cols = (g.out_width + 1) / 2;
  tiles.per_image = tiles.rows * tiles.cols;
  tiles.total = g.batch * tiles.per_image;
  const int64_t nr = gemm_kernel<T>().nr, lanes = isa::kMaxLanes<T>;
  const int64_t threads = in_parallel_region() ? 1 : get_num_threads();
  const int64_t most = 8 * nr, fewest = (tiles.total + most - 1) / most;
  const int64_t blocks = (fewest + threads - 1) / threads * threads;
  const int64_t block = ((tiles.total + blocks - 1) / blocks + lanes - 1) / lanes * lanes;
  tiles.block = std::clamp<int64_t>(block, nr, most);
  return tiles;
}

// U, packed per (ξ, group) as gemm.h's A when that pays, else read in place.
template <typename T>
struct TransformedWeights {
  const T* u;
  const T* packed;  // null when U is read in place
  int64_t u_plane, packed_size, groups, rows, depth;

  const T* of(int64_t position, int64_t group) const {
    return packed != nullptr ? packed + (position * groups + group) * packed_size
                             : u + position * u_plane + group * rows * depth;
  }
};

// The weights transformed for GEMMs with `columns` columns in all (thread-local buffers).
template <typename T>
TransformedWeights<T> transform_and_pack(const ConvShape& g, const T* weight, int64_t columns) {
  static thread_local Workspace<T> u_space, packed_space;
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  // The planes 64 bytes more than a multiple of 4 KiB apart (see V and M in multiply_tiles).
  const int64_t kernels = G * K * C, u_plane = kernels + isa::kMaxLanes<T>;
  T* u = u_space.get(kPositions * u_plane);
  transform_weights(weight, kernels, u, u_plane);
  const int64_t packed_size = packed_a_size<T>(K, C);
  T* packed = nullptr;
  if (worth_packing_a<T>(columns)) {
    packed = packed_space.get(kPositions * G * packed_size);
    for (int64_t xg = 0; xg < kPositions * G; ++xg)
      pack_a<T>(false, K, C, T(1), u + xg / G * u_plane + xg % G * K * C, C, packed + xg * packed_size);
  }
  return {u, packed, u_plane, packed_size, G, K, C};
}

// A thread's buffers for its blocks of tiles: V (16 planes of C rows of ld values), a second
// set of 16 planes of `rows` rows (M in the forward, D in the weight gradient), the four padded
// input rows the transforms read, and the GEMMs' row offsets into a plane of V. Each row has
// room for the transforms' whole vectors past a block's tiles. The planes lie nr values more
// than a power of two apart when C * ld is one: the transforms write (read) all 16 at once, and
// 16 streams 4 KiB apart would share one set of L1's 8 ways.
template <typename T>
struct TileBuffers {
  T *v, *other, *rows, *shifted, *top, *bottom;
  int64_t* offsets;
  int64_t ld, v_plane, other_plane, row_stride;
};

template <typename T>
TileBuffers<T> tile_buffers(const Tiles& tiles, int64_t C, int64_t rows) {
  static thread_local Workspace<T> v_space, other_space, row_space;
  static thread_local Workspace<int64_t> offset_space;
  const int64_t nr = gemm_kernel<T>().nr;
  TileBuffers<T> b;
  b.ld = tiles.block + isa::kMaxLanes<T>;
  b.v_plane = C * b.ld + nr;
  b.other_plane = rows * b.ld + nr;
  // Room for a run's padded rows, or a block's (transforms_by_block), with the transforms'
  // whole vectors past them; the two output rows of a block after the eight input rows.
  b.row_stride = 2 * (std::max(tiles.cols + 1, tiles.block) + 2 * isa::kMaxLanes<T>);
  b.v = v_space.get(kPositions * b.v_plane);
  b.other = other_space.get(kPositions * b.other_plane);
  b.rows = row_space.get(10 * b.row_stride);
  std::fill(b.rows, b.rows + 10 * b.row_stride, T(0));
  b.shifted = b.rows + 4 * b.row_stride;
  b.top = b.rows + 8 * b.row_stride;
  b.bottom = b.top + b.row_stride;
  b.offsets = offset_space.get(C);
  for (int64_t c = 0; c < C; ++c) b.offsets[c] = c * b.ld;
  return b;
}

// A block's input tiles, transformed into V for each group in turn: side by side from the block's
// images padded once for all groups (transforms_by_block), else run by run.
template <typename T>
class BlockInput {
 public:
  BlockInput(const ConvShape& g, const Tiles& tiles, int64_t first, int64_t last, const T* input)
      : g_(g), tiles_(tiles), first_(first), last_(last), input_(input), n0_(first / tiles.per_image) {
    if (transforms_by_block<T>(tiles))
      padded_ = pad_images(g, tiles, input, n0_, (last - 1) / tiles.per_image + 1);
  }

  void transform(int64_t group, int64_t C, const TileBuffers<T>& buffers) const {
    const int64_t G = g_.groups;
    if (padded_ != nullptr) {
      const int64_t plane = padded_input(tiles_).rows * padded_input(tiles_).pitch;
      transform_block_input(tiles_, first_, last_, padded_ + group * C * plane, n0_, G * C * plane, C, buffers.v,
                            buffers.ld, buffers.v_plane, buffers.rows, buffers.shifted, buffers.row_stride);
      return;
    }
    const int64_t HW = g_.in_height * g_.in_width;
    for_each_run(tiles_, first_, last_, [&](const Run& run) {
      transform_input(g_, run, input_ + (run.n * G + group) * C * HW, C, buffers.v, buffers.ld, buffers.v_plane,
                      buffers.rows, buffers.row_stride);
    });
  }

 private:
  const ConvShape& g_;
  const Tiles& tiles_;
  int64_t first_, last_;
  const T* input_;
  int64_t n0_;
  const T* padded_ = nullptr;
};

// output = conv(input) + bias for an undilated shape, by blocks of tiles (one per thread when
// there are enough of them).
template <typename T>
void multiply_tiles(const ConvShape& g, const TransformedWeights<T>& weights, const T* input, const T* bias,
                    T* output) {
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t PQ = g.out_height * g.out_width;
  const Tiles tiles = tile_layout<T>(g);
  const int64_t blocks = (tiles.total + tiles.block - 1) / tiles.block;
  const bool by_block = transforms_by_block<T>(tiles);
  conv_detail::for_each_image(blocks, [&](int64_t index) {
    const int64_t first = index * tiles.block, last = std::min(tiles.total, first + tiles.block);
    const TileBuffers<T> buffers = tile_buffers<T>(tiles, C, K);
    T *v = buffers.v, *m = buffers.other;
    const int64_t count = last - first, ld = buffers.ld, v_plane = buffers.v_plane, m_plane = buffers.other_plane;
    const int64_t* offsets = buffers.offsets;
    const BlockInput<T> block_input(g, tiles, first, last, input);
    // V's values past the tiles only meet GEMM lanes that are never stored; they are zeroed all
    // the same, so that no leftover bits can be a slow denormal.
    for (int64_t position = 0; position < kPositions; ++position) {
      T* plane = v + position * v_plane;
      for (int64_t c = 0; c < C; ++c) std::fill(plane + c * ld + count, plane + (c + 1) * ld, T(0));
      std::fill(plane + C * ld, plane + v_plane, T(0));
    }
    for (int64_t group = 0; group < G; ++group) {
      const T* group_bias = bias == nullptr ? bias : bias + group * K;
      block_input.transform(group, C, buffers);
      for (int64_t position = 0; position < kPositions; ++position)
        gemm_rows<T>(K, count, C, weights.of(position, group), v + position * v_plane, offsets,
                     m + position * m_plane, ld, false, weights.packed != nullptr ? 0 : C);
      if (by_block)
        transform_block_output(g, tiles, first, last, m, ld, m_plane, K, group_bias, output + group * K * PQ,
                               G * K * PQ, buffers.top, buffers.bottom);
      else
        for_each_run(tiles, first, last, [&](const Run& run) {
          transform_output(g, run, m, ld, m_plane, K, group_bias, output + (run.n * G + group) * K * PQ);
        });
    }
  });
}

// A dilated convolution (stride 1, dilation d) as d x d undilated ones: output phase (a, b), the
// pixels p = a + d i, q = b + d j, reads only the input pixels h = p - pad_top + d r of one phase
// e = (a - pad_top) mod d, h = e + d m with m = i + r + floor((a - pad_top) / d): an undilated
// convolution of that input phase with padding -floor((a - pad_top) / d) (and the same along w).
struct DilatedPhase {
  int64_t input, size, in_size, pad;  // e, P_a, H_e, pad'
};

inline DilatedPhase dilated_phase(int64_t phase, int64_t dilation, int64_t pad, int64_t in_size, int64_t out_size) {
  const int64_t shifted = phase - pad;
  const int64_t off = shifted >= 0 ? shifted / dilation : -((-shifted + dilation - 1) / dilation);
  const int64_t e = shifted - off * dilation;
  return {e, (out_size - phase + dilation - 1) / dilation,
          e < in_size ? (in_size - e + dilation - 1) / dilation : 0, -off};
}

// The undilated convolution of output phase (rows, cols) of a dilated shape.
inline ConvShape phase_shape(const ConvShape& g, const DilatedPhase& rows, const DilatedPhase& cols) {
  ConvShape phase = g;
  phase.in_height = rows.in_size;
  phase.in_width = cols.in_size;
  phase.out_height = rows.size;
  phase.out_width = cols.size;
  phase.pad_top = rows.pad;
  phase.pad_left = cols.pad;
  phase.dilation_height = phase.dilation_width = 1;
  return phase;
}

// dst[plane][i][j] = src[plane][row0 + dh i][col0 + dw j] for i < rows, j < cols: one phase of
// `planes` planes of H x W (its rows and columns all inside them).
template <typename T>
void gather_phase(const T* src, int64_t planes, int64_t H, int64_t W, int64_t row0, int64_t rows, int64_t dh,
                  int64_t col0, int64_t cols, int64_t dw, T* dst) {
  parallel_for(planes * rows, worth_parallel(planes * rows * cols), [&](int64_t plane_row) {
    const int64_t plane = plane_row / rows, i = plane_row % rows;
    const T* line = src + (plane * H + row0 + dh * i) * W + col0;
    const conv_detail::ColumnRange all{0, cols};
    if (dw == 2)
      conv_detail::gather_columns<2>(line, dw, all, dst + plane_row * cols);
    else
      conv_detail::gather_columns<0>(line, dw, all, dst + plane_row * cols);
  });
}

// The fewest output columns per dilation phase (tile columns x 2) with which the forward and
// input gradient (forward) or the weight gradient (weight) gain on the implicit GEMM, by the
// smaller channel count of a group (conv_winograd.h).
struct MinimumColumns {
  int64_t forward, weight;
};
MinimumColumns minimum_columns(int64_t channels) {
  if (channels >= 128) return {4, 4};
  if (channels >= 64) return {6, 6};
  return {6, 12};
}

bool winograd_shape(const ConvShape& g, int64_t min_channels) {
  const int64_t C = g.in_channels / g.groups, K = g.out_channels / g.groups;
  const int64_t tiles = g.batch * ((g.out_height + 1) / 2) * ((g.out_width + 1) / 2);
  return g.kernel_height == 3 && g.kernel_width == 3 && g.stride_height == 1 && g.stride_width == 1 &&
         C >= min_channels && K >= min_channels && tiles >= (std::min(C, K) >= 64 ? 64 : 256) &&
         g.out_height >= 2 * g.dilation_height && g.out_width >= 2 * g.dilation_width;
}

int64_t phase_columns(const ConvShape& g) { return g.out_width / g.dilation_width; }

int64_t group_channels(const ConvShape& g) { return std::min(g.in_channels, g.out_channels) / g.groups; }

}  // namespace

bool winograd_applies(const ConvShape& g) {
  return winograd_shape(g, 32) && phase_columns(g) >= minimum_columns(group_channels(g)).forward;
}

bool winograd_weight_gradient_applies(const ConvShape& g) {
  return winograd_shape(g, 32) && phase_columns(g) >= minimum_columns(group_channels(g)).weight;
}

template <typename T>
void winograd_conv2d_forward(const ConvShape& g, const T* input, const T* weight, const T* bias, T* output) {
  const int64_t dh = g.dilation_height, dw = g.dilation_width;
  const int64_t tiles = g.batch * ((g.out_height + 1) / 2) * ((g.out_width + 1) / 2);
  const TransformedWeights<T> weights = transform_and_pack(g, weight, tiles);
  if (dh == 1 && dw == 1) return multiply_tiles(g, weights, input, bias, output);
  // Dilated: each output phase's input phase gathered and multiplied; a row phase's outputs are
  // scattered once all of its column phases are done, so that with dilation 2 the two column
  // phases' values interleave in one pass (a store of every other value would not vectorize).
  const int64_t NC = g.batch * g.in_channels, NK = g.batch * g.out_channels;
  const int64_t H = g.in_height, W = g.in_width, P = g.out_height, Q = g.out_width;
  static thread_local Workspace<T> in_space, out_space;
  std::vector<DilatedPhase> column_phases;
  int64_t phase_columns = 0;  // sum of the column phases' widths
  for (int64_t b = 0; b < dw; ++b) {
    column_phases.push_back(dilated_phase(b, dw, g.pad_left, W, Q));
    phase_columns += column_phases.back().size;
  }
  for (int64_t a = 0; a < dh; ++a) {
    const DilatedPhase rows = dilated_phase(a, dh, g.pad_top, H, P);
    // Column phase b's outputs start at out + NK * rows.size * (sum of the widths before b).
    T* phase_out = out_space.get(NK * rows.size * phase_columns);
    int64_t before = 0;
    std::vector<const T*> outs;
    for (const DilatedPhase& cols : column_phases) {
      const ConvShape phase = phase_shape(g, rows, cols);
      T* phase_in = in_space.get(NC * rows.in_size * cols.in_size);
      gather_phase(input, NC, H, W, rows.input, rows.in_size, dh, cols.input, cols.in_size, dw, phase_in);
      T* out = phase_out + NK * rows.size * before;
      multiply_tiles(phase, weights, phase_in, bias, out);
      outs.push_back(out);
      before += cols.size;
    }
    parallel_for(NK * rows.size, worth_parallel(NK * rows.size * Q), [&](int64_t plane_row) {
      const int64_t plane = plane_row / rows.size, i = plane_row % rows.size;
      T* dst = output + (plane * P + a + dh * i) * Q;
      if (dw == 2) {
        const T* even = outs[0] + plane_row * column_phases[0].size;
        const T* odd = outs[1] + plane_row * column_phases[1].size;
        const int64_t pairs = column_phases[1].size;  // Q / 2; the even phase has one more when Q is odd
        for (int64_t j = 0; j < pairs; ++j) {
          dst[2 * j] = even[j];
          dst[2 * j + 1] = odd[j];
        }
        if (column_phases[0].size > pairs) dst[2 * pairs] = even[pairs];
        return;
      }
      for (int64_t b = 0; b < dw; ++b) {
        const T* src = outs[b] + plane_row * column_phases[b].size;
        for (int64_t j = 0; j < column_phases[b].size; ++j) dst[b + dw * j] = src[j];
      }
    });
  }
}

template <typename T>
void winograd_conv2d_backward_weight(const ConvShape& g, const T* grad_output, const T* input, T* grad_weight) {
  // Y = A^T (U ⊙ V) A with U = G w G^T, so dL/dU = sum over tiles (A dy A^T) ⊙ V, summed over the
  // output channel's tiles for each input channel: 16 GEMMs dU_ξ (K x C) = D_ξ (K x tiles)
  // V_ξ^T, D = A dy A^T the output gradient's tiles; then dL/dw = G^T dU G.
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  const int64_t dh = g.dilation_height, dw = g.dilation_width;
  // The undilated problems whose gradients add up to the weight gradient: the shape itself, or
  // one per output phase of a dilated one (its input and output-gradient phases gathered), and
  // the blocks of tiles of each, numbered from first_block on.
  struct Problem {
    ConvShape shape;
    const T *input, *grad;
    Tiles tiles;
    int64_t first_block;
  };
  std::vector<Problem> problems;
  int64_t blocks = 0;
  auto add = [&](const ConvShape& shape, const T* in, const T* grad) {
    const Tiles tiles = tile_layout<T>(shape);
    problems.push_back({shape, in, grad, tiles, blocks});
    blocks += (tiles.total + tiles.block - 1) / tiles.block;
  };
  if (dh == 1 && dw == 1) {
    add(g, input, grad_output);
  } else {
    const int64_t NC = g.batch * g.in_channels, NK = g.batch * g.out_channels;
    const int64_t H = g.in_height, W = g.in_width, P = g.out_height, Q = g.out_width;
    // The phases partition the input's rows and columns (distinct output phases read distinct
    // input phases) and the output's: one buffer of each size holds them all.
    static thread_local Workspace<T> in_space, grad_space;
    T* ins = in_space.get(NC * H * W);
    T* grads = grad_space.get(NK * P * Q);
    for (int64_t a = 0; a < dh; ++a)
      for (int64_t b = 0; b < dw; ++b) {
        const DilatedPhase rows = dilated_phase(a, dh, g.pad_top, H, P);
        const DilatedPhase cols = dilated_phase(b, dw, g.pad_left, W, Q);
        gather_phase(input, NC, H, W, rows.input, rows.in_size, dh, cols.input, cols.in_size, dw, ins);
        gather_phase(grad_output, NK, P, Q, a, rows.size, dh, b, cols.size, dw, grads);
        add(phase_shape(g, rows, cols), ins, grads);
        ins += NC * rows.in_size * cols.in_size;
        grads += NK * rows.size * cols.size;
      }
  }
  // dU[ξ][group][k][c], summed per thread, its planes apart as U's in transform_and_pack.
  const int64_t kernels = G * K * C, u_plane = kernels + isa::kMaxLanes<T>;
  auto accumulate_block = [&](int64_t index, T* sums) {
    const Problem* problem = &problems.front();
    while (problem + 1 != problems.data() + problems.size() && (problem + 1)->first_block <= index) ++problem;
    const ConvShape& shape = problem->shape;
    const Tiles& tiles = problem->tiles;
    const int64_t PQ = shape.out_height * shape.out_width;
    const int64_t first = (index - problem->first_block) * tiles.block, last = std::min(tiles.total, first + tiles.block);
    const TileBuffers<T> buffers = tile_buffers<T>(tiles, C, K);
    T *v = buffers.v, *d = buffers.other;
    const BlockInput<T> block_input(shape, tiles, first, last, problem->input);
    for (int64_t group = 0; group < G; ++group) {
      block_input.transform(group, C, buffers);
      if (transforms_by_block<T>(tiles))
        transform_block_gradient(shape, tiles, first, last, problem->grad + group * K * PQ, G * K * PQ, K, d,
                                 buffers.ld, buffers.other_plane, buffers.top, buffers.bottom);
      else
        for_each_run(tiles, first, last, [&](const Run& run) {
          transform_gradient(shape, run, problem->grad + (run.n * G + group) * K * PQ, K, d, buffers.ld,
                             buffers.other_plane, buffers.rows, buffers.row_stride);
        });
      for (int64_t position = 0; position < kPositions; ++position)
        gemm_dots<T>(K, C, last - first, d + position * buffers.other_plane, buffers.ld,
                     v + position * buffers.v_plane, buffers.offsets, sums + position * u_plane + group * K * C, C,
                     true);
    }
  };
  // grad_w = G^T dU G, G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1].
  auto store = [&](auto sum_of, int threads) {
    const T half = T(0.5);
    parallel_for(kernels, worth_parallel(kernels * kPositions * threads), [&](int64_t kc) {
      T u[4][4];
      for (int64_t position = 0; position < kPositions; ++position)
        u[position / 4][position % 4] = sum_of(position * u_plane + kc);
      T rows[3][4];  // G^T dU
      for (int b = 0; b < 4; ++b) {
        rows[0][b] = u[0][b] + (u[1][b] + u[2][b]) * half;
        rows[1][b] = (u[1][b] - u[2][b]) * half;
        rows[2][b] = (u[1][b] + u[2][b]) * half + u[3][b];
      }
      T* w = grad_weight + kc * 9;
      for (int r = 0; r < 3; ++r) {
        const T* t = rows[r];
        w[r * 3 + 0] = t[0] + (t[1] + t[2]) * half;
        w[r * 3 + 1] = (t[1] - t[2]) * half;
        w[r * 3 + 2] = (t[1] + t[2]) * half + t[3];
      }
    });
  };
  conv_detail::sum_over_threads<T>(blocks, kPositions * u_plane, accumulate_block, store);
}

template <typename T>
void winograd_conv2d_backward_input(const ConvShape& g, const T* grad_output, const T* weight, T* grad_input) {
  const int64_t G = g.groups, C = g.in_channels / G, K = g.out_channels / G;
  // grad_in[c][h][w] = sum_{k, r, s} W[k][c][r][s] grad_out[k][h + pad_top - d r][w + pad_left - d s]
  //                  = sum_{k, r', s'} W'[c][k][r'][s'] grad_out[k][h - (2 d - pad_top) + d r'][...]
  // with W'[c][k][r'][s'] = W[k][c][2 - r'][2 - s'] (per group), d the dilation.
  static thread_local Workspace<T> flipped_space;
  T* flipped = flipped_space.get(G * C * K * 9);
  parallel_for(G * C, worth_parallel(G * C * K * 9), [&](int64_t gc) {
    const int64_t group = gc / C, c = gc % C;
    for (int64_t k = 0; k < K; ++k) {
      const T* src = weight + ((group * K + k) * C + c) * 9;
      T* dst = flipped + (gc * K + k) * 9;
      for (int tap = 0; tap < 9; ++tap) dst[tap] = src[8 - tap];
    }
  });
  ConvShape flipped_shape = conv_detail::input_gradient_shape(g);
  flipped_shape.pad_top = 2 * g.dilation_height - g.pad_top;
  flipped_shape.pad_left = 2 * g.dilation_width - g.pad_left;
  winograd_conv2d_forward<T>(flipped_shape, grad_output, flipped, static_cast<const T*>(nullptr), grad_input);
}

#define FASTCNN_INSTANTIATE_WINOGRAD(T)                                                                 \
  template void winograd_conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*);         \
  template void winograd_conv2d_backward_input<T>(const ConvShape&, const T*, const T*, T*);           \
  template void winograd_conv2d_backward_weight<T>(const ConvShape&, const T*, const T*, T*);
FASTCNN_INSTANTIATE_WINOGRAD(float)
FASTCNN_INSTANTIATE_WINOGRAD(double)
#undef FASTCNN_INSTANTIATE_WINOGRAD

}  // namespace fastcnn::cpu
