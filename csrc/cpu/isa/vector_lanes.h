#pragma once
// Vector types, loads and stores, reductions and an in-register exp, written once with GCC/Clang
// vector extensions for the per-ISA kernels (softmax_lanes.h, attention_lanes.h): the including
// file defines FASTCNN_VECTOR_BYTES (16, 32 or 64) and is compiled under its ISA's flags.
// Everything here has internal linkage, so the copies built with different flags can never be
// merged by the linker.
//
// exp is evaluated in registers (Cephes' range reduction and polynomials: about 1 ulp in float,
// 2 ulp in double) because a call to the library's scalar exp would stop the loops from
// vectorising.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#ifndef FASTCNN_VECTOR_BYTES
#error "define FASTCNN_VECTOR_BYTES before including cpu/isa/vector_lanes.h"
#endif

namespace fastcnn::cpu::isa {
namespace {

typedef float FloatVector __attribute__((vector_size(FASTCNN_VECTOR_BYTES)));
typedef int32_t FloatBits __attribute__((vector_size(FASTCNN_VECTOR_BYTES)));
typedef double DoubleVector __attribute__((vector_size(FASTCNN_VECTOR_BYTES)));
typedef int64_t DoubleBits __attribute__((vector_size(FASTCNN_VECTOR_BYTES)));

template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
  using Vector = FloatVector;
  using Bits = FloatBits;
  // exp's range: below `lowest` the result is not a normal float (returned as 0); above
  // `highest` it overflows. `magic` = 1.5 * 2^mantissa rounds to integers; ln 2 = ln2_high + ln2_low.
  static constexpr float lowest = -87.3365f, highest = 88.3762f, magic = 12582912.0f;
  static constexpr float log2e = 1.44269504088896341f, ln2_high = 0.693359375f, ln2_low = -2.12194440e-4f;
  static constexpr int mantissa_bits = 23, exponent_bias = 127;
};
template <>
struct Lanes<double> {
  using Vector = DoubleVector;
  using Bits = DoubleBits;
  static constexpr double lowest = -708.39, highest = 709.0, magic = 6755399441055744.0;
  static constexpr double log2e = 1.4426950408889634073599, ln2_high = 6.93145751953125e-1,
                          ln2_low = 1.42860682030941723212e-6;
  static constexpr int mantissa_bits = 52, exponent_bias = 1023;
};

template <typename T>
using Vec = typename Lanes<T>::Vector;
template <typename T>
constexpr int64_t kLanes = FASTCNN_VECTOR_BYTES / sizeof(T);
template <typename T>
constexpr T kMinusInfinity = -std::numeric_limits<T>::infinity();

// All lanes = value. Written as value - 0, which is exact (also for -0) and compiles to a plain
// broadcast; 0 + value would cost an add before it, as 0 + -0 is +0.
template <typename T>
inline Vec<T> splat(T value) {
  return value - Vec<T>{};
}

// Loads `width` <= kLanes elements; the missing lanes hold `fill`.
template <typename T>
inline Vec<T> load(const T* p, int64_t width, T fill) {
  Vec<T> v;
  if (width == kLanes<T>) {
    std::memcpy(&v, p, sizeof(v));
  } else {
    v = splat(fill);
    std::memcpy(&v, p, width * sizeof(T));
  }
  return v;
}

template <typename T>
inline void store(T* p, Vec<T> v, int64_t width) {
  // A whole vector as one store; a copy of a variable length compiles to a loop of scalar moves.
  if (width == kLanes<T>)
    std::memcpy(p, &v, sizeof(v));
  else
    std::memcpy(p, &v, width * sizeof(T));
}

template <typename T>
inline Vec<T> maximum(Vec<T> a, Vec<T> b) {
  return a > b ? a : b;
}

template <typename T>
inline T horizontal_sum(Vec<T> v) {
  T total = 0;
  for (int64_t k = 0; k < kLanes<T>; ++k) total += v[k];
  return total;
}

template <typename T>
inline T horizontal_max(Vec<T> v) {
  T best = v[0];
  for (int64_t k = 1; k < kLanes<T>; ++k) best = v[k] > best ? v[k] : best;
  return best;
}

// exp(r) on |r| <= ln(2) / 2: Cephes' polynomial in float, its Pade form
// 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)) in double.
inline FloatVector reduced_exp(FloatVector r) {
  FloatVector p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * r * r + r + 1.0f;
}

inline DoubleVector reduced_exp(DoubleVector r) {
  const DoubleVector rr = r * r;
  const DoubleVector p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr +
                              9.99999999999999999910e-1);
  const DoubleVector q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr +
                          2.27265548208155028766e-1) * rr + 2.00000000000000000009e0;
  return 1.0 + 2.0 * p / (q - p);
}

// exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 (ln 2 split in two for exactness).
// Adding `magic` rounds x / ln 2 to an integer held in the low mantissa bits, so 2^n is built
// with integer adds and shifts only. Below the smallest normal result exp returns 0 (those lanes'
// arithmetic is discarded, so x needs no lower clamp). kNonPositive: the caller guarantees
// x <= 0 (a value minus a maximum of its set), so the upper clamp goes too (12% of a softmax).
template <typename T, bool kNonPositive = false>
inline Vec<T> vector_exp(Vec<T> x) {
  using C = Lanes<T>;
  using Bits = typename C::Bits;
  const Vec<T> magic = splat(C::magic);
  const Bits underflow = x < splat(C::lowest);
  if (!kNonPositive) x = x > splat(C::highest) ? splat(C::highest) : x;
  const Vec<T> shifted = x * C::log2e + magic;
  const Vec<T> n = shifted - magic;
  const Bits exponent = reinterpret_cast<Bits>(shifted) - reinterpret_cast<Bits>(magic);
  const Vec<T> r = x - n * C::ln2_high - n * C::ln2_low;
  const Vec<T> scale = reinterpret_cast<Vec<T>>((exponent + C::exponent_bias) << C::mantissa_bits);
  return underflow ? splat(T(0)) : reduced_exp(r) * scale;
}

}  // namespace
}  // namespace fastcnn::cpu::isa
