#pragma once
// GEMM micro-kernels, one per ISA with one signature (csrc/cpu/gemm.cpp picks one at start-up).
//
// A micro-kernel computes one MR x NR tile of C from packed panels:
//   C[i][j] = (accumulate ? C[i][j] : 0) + sum_{p < depth} a[p * MR + i] * b[p * NR + j]
// `a` is an MR-row panel of A stored k-major (MR values per k), `b` an NR-column panel of B
// stored k-major (NR contiguous values per k); both come from cpu/gemm.cpp's packing routines and
// are zero-padded past the matrix edges, so the kernel never branches on shape. C is row-major
// with row stride ldc and must hold the whole MR x NR tile (the driver uses a scratch tile at
// the edges).
#include <cstdint>

namespace fastcnn::cpu {

template <typename T>
using GemmMicroKernel = void (*)(int64_t depth, const T* a, const T* b, T* c, int64_t ldc, bool accumulate);

template <typename T>
struct GemmKernel {
  int mr;
  int nr;
  GemmMicroKernel<T> run;
};

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
