#pragma once
// The batch-norm plane loops (cpu/isa/norm_table.h), written once and compiled once per kernel
// set: csrc/cpu/isa/<isa>/norm.cpp includes this file under its ISA's flags, and the compiler
// vectorises the loops for that ISA (the double sums and the affine maps gain 20-30% from
// AVX-512 over the baseline x86-64 build). Internal linkage, so the copies never merge.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/isa/norm_table.h"

namespace fastcnn::cpu::isa {
namespace {

template <typename T>
void moments(const T* x, int64_t S, double shift, double* sum_out, double* squares_out) {
  double sum = 0, squares = 0;
#pragma omp simd reduction(+ : sum, squares)
  for (int64_t s = 0; s < S; ++s) {
    const double centred = double(x[s]) - shift;
    sum += centred;
    squares += centred * centred;
  }
  *sum_out = sum;
  *squares_out = squares;
}

// dy where the fused activation's derivative (read from its output y) is 1, else 0 - as a bit
// mask, not a branch or a select: GCC compiled `keep ? dy : 0` here into a scalar loop with a
// branch that the random signs of y mispredicted, 6x slower than the vector form.
template <NormMask mask, typename T>
inline T masked(T dy, T y) {
  if constexpr (mask == NormMask::none) {
    return dy;
  } else {
    using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    const bool keep = mask == NormMask::relu ? y > T(0) : (y > T(0)) & (y < T(6));
    Bits bits;
    std::memcpy(&bits, &dy, sizeof(T));
    bits &= Bits(0) - Bits(keep);
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
  }
}

template <NormMask mask, typename T>
void grad_moments_masked(const T* dy, const T* y, const T* x, int64_t S, double mean, T* g_out, double* sum_out,
                         double* dot_out) {
  double sum = 0, dot = 0;
  if (g_out == nullptr) {
#pragma omp simd reduction(+ : sum, dot)
    for (int64_t s = 0; s < S; ++s) {
      const double g = double(masked<mask>(dy[s], mask == NormMask::none ? dy[s] : y[s]));
      sum += g;
      dot += g * (double(x[s]) - mean);
    }
  } else {
#pragma omp simd reduction(+ : sum, dot)
    for (int64_t s = 0; s < S; ++s) {
      const T g = masked<mask>(dy[s], mask == NormMask::none ? dy[s] : y[s]);
      g_out[s] = g;
      sum += double(g);
      dot += double(g) * (double(x[s]) - mean);
    }
  }
  *sum_out = sum;
  *dot_out = dot;
}

template <typename T>
void grad_moments(const T* dy, const T* y, NormMask mask, const T* x, int64_t S, double mean, T* g_out,
                  double* sum, double* dot) {
  switch (mask) {
    case NormMask::relu: return grad_moments_masked<NormMask::relu>(dy, y, x, S, mean, g_out, sum, dot);
    case NormMask::relu6: return grad_moments_masked<NormMask::relu6>(dy, y, x, S, mean, g_out, sum, dot);
    case NormMask::none: return grad_moments_masked<NormMask::none>(dy, y, x, S, mean, g_out, sum, dot);
  }
}

// Centring v before scaling keeps the rounding of a large mean out of out.
template <typename T>
void affine(const T* u, const T* v, const T* r, T a, T b, T m, T d, T low, T high, int64_t S, T* out) {
  auto clamp = [low, high](T value) { return std::min(std::max(value, low), high); };
  if (v == nullptr && r == nullptr) {
    for (int64_t s = 0; s < S; ++s) out[s] = clamp(a * u[s] + d);
  } else if (v == nullptr) {
    for (int64_t s = 0; s < S; ++s) out[s] = clamp(a * u[s] + d + r[s]);
  } else if (r == nullptr) {
    for (int64_t s = 0; s < S; ++s) out[s] = clamp(a * u[s] + b * (v[s] - m) + d);
  } else {
    for (int64_t s = 0; s < S; ++s) out[s] = clamp(a * u[s] + b * (v[s] - m) + d + r[s]);
  }
}

template <typename T>
void affine_planes(const T* u, const T* r, const T* a, const T* d, T low, T high, int64_t first, int64_t count,
                   int64_t C, int64_t S, T* out) {
  for (int64_t p = first; p < first + count; ++p) {
    const int64_t c = p % C, offset = p * S;
    affine<T>(u + offset, nullptr, r != nullptr ? r + offset : nullptr, a[c], T(0), T(0), d[c], low, high, S,
              out + offset);
  }
}

template <typename T>
NormKernels<T> kernels() {
  return {moments<T>, grad_moments<T>, affine<T>, affine_planes<T>};
}

NormTable norm_table() { return {kernels<float>(), kernels<double>()}; }

}  // namespace
}  // namespace fastcnn::cpu::isa
