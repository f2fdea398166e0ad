#pragma once
// The per-ISA Winograd F(2x2, 3x3) (and F(2x2, 2x2)) tile transforms: one table per kernel set, filled by
// csrc/cpu/isa/<isa>/winograd.cpp (the loops of csrc/cpu/isa/winograd_tiles.h compiled under that
// ISA's flags) and chosen once in csrc/cpu/conv_winograd.cpp, which owns the tiling, the GEMMs
// and the threading. The transforms run over L tiles side by side of one channel (one tile row's
// run, or for short rows the tiles of several); the transformed values of position ξ (0..15) lie
// `plane` apart, tile jj at jj.
#include <cstdint>

namespace fastcnn::cpu::isa {

// The most lanes of any kernel set's vectors (64 bytes).
template <typename T>
constexpr int64_t kMaxLanes = 64 / int64_t(sizeof(T));

template <typename T>
struct WinogradKernels {
  // v[ξ * plane + jj] = (B^T d B)[ξ / 4][ξ % 4] for jj < L, d the 4x4 patch whose columns 0 and 1
  // are columns [2 jj, 2 jj + 2) of the four zero-padded input rows rows + r * stride (r < 4) and
  // columns 2 and 3 those of shifted + r * stride. shifted = rows + 2 reads one padded tile row;
  // separate rows let tiles of several tile rows lie side by side (each row's patches overlap
  // the next's by two columns). Both are readable up to column 2 L + 2 * kMaxLanes<T>. Whole
  // vectors are written: values past L, up to L + kMaxLanes<T>, are overwritten with values of no use.
  void (*input)(const T* rows, const T* shifted, int64_t stride, int64_t L, T* v, int64_t plane);
  // top[x] and, unless bottom is null, bottom[x] for x < columns (2 L - 1 or 2 L): the two
  // output rows of the tiles, (A^T M A)[y][x % 2] of tile x / 2 plus bias, M[ξ] =
  // m[ξ * plane + x / 2], which is read in whole vectors (readable up to L + kMaxLanes<T>).
  void (*output)(const T* m, int64_t plane, int64_t L, T bias, int64_t columns, T* top, T* bottom);
  // d[ξ * plane + jj] = (A dy A^T)[ξ / 4][ξ % 4] for jj < L, dy the 2x2 output-gradient tile at
  // columns [2 jj, 2 jj + 2) of rows top and bottom (readable up to column 2 L + 2 kMaxLanes<T>):
  // the adjoint of `output`, for the weight gradient. Whole vectors are written, as by `input`.
  void (*gradient)(const T* top, const T* bottom, int64_t L, T* d, int64_t plane);
  // F(2x2, 2x2) (csrc/cpu/conv_winograd_phases.cpp), 9 positions: v[ξ * plane + jj] = (B^T d
  // B)[ξ / 3][ξ % 3] for jj < L, d the 3x3 patch at columns [2 jj, 2 jj + 3) of rows rows + r *
  // stride (r < 3), readable up to column 2 L + 2 + 2 kMaxLanes<T>; whole vectors are written, as
  // by `input`.
  void (*input_2x2)(const T* rows, int64_t stride, int64_t L, T* v, int64_t plane);
  // As `output`, for F(2x2, 2x2)'s 9 positions.
  void (*output_2x2)(const T* m, int64_t plane, int64_t L, T bias, int64_t columns, T* top, T* bottom);
  // As `gradient`, for F(2x2, 2x2)'s 9 positions: d[ξ * plane + jj] = (A dy A^T)[ξ / 3][ξ % 3].
  void (*gradient_2x2)(const T* top, const T* bottom, int64_t L, T* d, int64_t plane);
};

struct WinogradTable {
  WinogradKernels<float> f32;
  WinogradKernels<double> f64;
};

WinogradTable winograd_table_generic();
WinogradTable winograd_table_avx2();
WinogradTable winograd_table_avx512();

}  // namespace fastcnn::cpu::isa
