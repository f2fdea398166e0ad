#pragma once
// The per-ISA batch-norm plane kernels: one table per kernel set, filled by
// csrc/cpu/isa/<isa>/norm.cpp (the loops of csrc/cpu/isa/norm_planes.h compiled under that ISA's
// flags) and chosen once in csrc/cpu/norm.cpp, which owns the threading and the per-channel math.
// Each kernel runs over one plane of S contiguous values of one channel (affine_planes over a run
// of planes); sums are in double.
#include <cstdint>

namespace fastcnn::cpu::isa {

// Which derivative mask an activation fused after the batch norm puts on the incoming gradient,
// read from the activation's output y: none (1), relu (y > 0), relu6 (0 < y < 6).
enum class NormMask { none, relu, relu6 };

template <typename T>
struct NormKernels {
  // sum (x - shift) and sum (x - shift)^2.
  void (*moments)(const T* x, int64_t S, double shift, double* sum, double* squares);
  // g = dy * mask(y) (g = dy with NormMask::none, when y may be null), written to g_out unless it
  // is null; sum g and sum g (x - mean).
  void (*grad_moments)(const T* dy, const T* y, NormMask mask, const T* x, int64_t S, double mean, T* g_out,
                       double* sum, double* dot);
  // out = clamp(a u + b (v - m) + d + r, low, high); v and r may be null (their terms vanish).
  void (*affine)(const T* u, const T* v, const T* r, T a, T b, T m, T d, T low, T high, int64_t S, T* out);
  // affine without v over planes [first, first + count) of S values, plane p of channel p % C:
  // out = clamp(a[c] u + d[c] + r, low, high), r may be null; u, r and out point at plane 0. Small
  // planes (a 4 x 4 map: 16 values) would spend more on one call each than on their values.
  void (*affine_planes)(const T* u, const T* r, const T* a, const T* d, T low, T high, int64_t first, int64_t count,
                        int64_t C, int64_t S, T* out);
};

struct NormTable {
  NormKernels<float> f32;
  NormKernels<double> f64;
};

NormTable norm_generic();
NormTable norm_avx2();
NormTable norm_avx512();

}  // namespace fastcnn::cpu::isa
