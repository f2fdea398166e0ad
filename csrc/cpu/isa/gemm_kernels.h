#pragma once
// GEMM micro-kernels, one per ISA with one signature (csrc/cpu/gemm.cpp picks one at start-up).
//
// A micro-kernel computes one MR x NR tile of C from packed panels:
//   C[i][j] = (accumulate ? C[i][j] : 0) + (row_bias ? row_bias[i] : 0) + sum_{p < depth} a[p * MR + i] * b[p * NR + j]
// row_bias (null for none; read for i < rows) lets a convolution add its bias as the tile is
// stored instead of in another pass over the output.
// `a` is an MR-row panel of A stored k-major (MR values per k) when a_stride is 0; otherwise A
// is read in place, row i's values at a[i * a_stride + p], rows i >= `rows` never read (small
// products, where packing A would cost more than it saves). `b` is an NR-column panel of B
// stored k-major (NR contiguous values per k); both come from cpu/gemm.cpp's packing routines and
// are zero-padded past the matrix edges, so the kernel never branches on shape. C is row-major
// with row stride ldc; the kernel reads (when accumulating) and stores exactly the first `rows`
// rows (<= MR) and `cols` columns (<= NR), so edge tiles write straight into C. It may compute
// fewer rows or vectors for such tiles, or compute the whole tile and store only its corner.
//
// The rows variant reads B unpacked: row p of the tile's B is the NR values starting at
// b + b_offsets[p]. The stride-1 convolutions use it to read their im2col rows, which are
// shifted windows of the padded input, straight from the input (implicit GEMM).
//
// The dots kernel serves products whose depth is the contiguous axis of both operands (the
// convolutions' weight gradients): C[i][j] = (accumulate ? C[i][j] : 0) +
// sum_{p < length} a[i * lda + p] * b[b_offsets[j] + p] for i < rows <= dm, j < cols <= dn, as
// dm x dn dot products held in registers and reduced once at the end.
#include <cstdint>

namespace fastcnn::cpu {

template <typename T>
using GemmMicroKernel = void (*)(int64_t depth, const T* a, int64_t a_stride, const T* b, T* c, int64_t ldc,
                                 bool accumulate, int rows, int cols, const T* row_bias);

template <typename T>
using GemmRowsMicroKernel = void (*)(int64_t depth, const T* a, int64_t a_stride, const T* b,
                                     const int64_t* b_offsets, T* c, int64_t ldc, bool accumulate, int rows,
                                     int cols, const T* row_bias);

template <typename T>
using GemmDotsKernel = void (*)(int64_t length, int rows, int cols, const T* a, int64_t lda, const T* b,
                                const int64_t* b_offsets, T* c, int64_t ldc, bool accumulate);

// Packs one panel of `width` lanes (nr for B, mr for A) from operand lines stored as contiguous
// runs: panel[k * width + j] = lines[j][k] for j < count <= width (a transpose). Lanes
// count <= j < width may be written with zeros; the caller has zeroed them already.
template <typename T>
using GemmPackLinesKernel = void (*)(int64_t depth, const T* const* lines, int count, int width, T* panel);

template <typename T>
struct GemmKernel {
  int mr;
  int nr;
  GemmMicroKernel<T> run;
  GemmRowsMicroKernel<T> run_rows;
  // A last column panel of at most `narrow` columns runs far below the speed of a full one
  // (AVX-512: one vector of B against eight broadcasts of A). Where tiles may start at any
  // column (the rows variant), the driver cuts it and the panel before it into tiles of
  // nr - narrow and narrow + rest columns instead. 0: never (the tile costs the same at any width).
  int narrow;
  int dm;
  int dn;
  GemmDotsKernel<T> dots;
  GemmPackLinesKernel<T> pack_lines;
};

// The portable pack_lines: slices of 8 depths, so each line gives one 32-byte run per slice
// while the slice of the panel (8 x width) stays in L1.
template <typename T>
void pack_lines_portable(int64_t depth, const T* const* lines, int count, int width, T* panel) {
  for (int64_t k0 = 0; k0 < depth; k0 += 8) {
    const int64_t k1 = k0 + 8 < depth ? k0 + 8 : depth;
    for (int j = 0; j < count; ++j)
      for (int64_t k = k0; k < k1; ++k) panel[k * width + j] = lines[j][k];
  }
}

// Where a micro-kernel finds A's value (p, i), row i at depth p: a packed panel holds it at
// a[p * MR + i]; A read in place (a_stride > 0) at a[i * a_stride + p], where rows past the
// tile's `rows` repeat its first (computed, never stored), so that no row past the matrix is read.
template <typename T, int MR>
struct PackedA {
  const T* a;
  T at(int64_t p, int i) const { return a[p * MR + i]; }
};
template <typename T, int MR>
struct StridedA {
  const T* row[MR];
  StridedA(const T* a, int64_t stride, int rows) {
    for (int i = 0; i < MR; ++i) row[i] = a + (i < rows ? i : 0) * stride;
  }
  T at(int64_t p, int i) const { return row[i][p]; }
};

// The row pointers of a dots tile; rows past the edge repeat row 0 (computed, never stored).
template <typename T, int DM, int DN>
inline void dot_tile_rows(int rows, int cols, const T* a, int64_t lda, const T* b, const int64_t* b_offsets,
                          const T* (&a_row)[DM], const T* (&b_row)[DN]) {
  for (int i = 0; i < DM; ++i) a_row[i] = a + (i < rows ? i : 0) * lda;
  for (int j = 0; j < DN; ++j) b_row[j] = b + b_offsets[j < cols ? j : 0];
}

namespace generic {
extern const GemmKernel<float> sgemm;
extern const GemmKernel<double> dgemm;
}  // namespace generic
namespace avx2 {
extern const GemmKernel<float> sgemm;
}  // namespace avx2
namespace avx512 {
extern const GemmKernel<float> sgemm;
}  // namespace avx512

}  // namespace fastcnn::cpu
