#pragma once
// The softmax micro-kernels, written once with GCC/Clang vector extensions and compiled once per
// kernel set: csrc/cpu/isa/<isa>/softmax.cpp defines FASTCNN_VECTOR_BYTES (16, 32 or 64) and
// includes this file under its ISA's flags. Everything here has internal linkage, so the copies
// built with different flags can never be merged by the linker.
//
// exp is evaluated in registers (Cephes' range reduction and polynomials: about 1 ulp in float,
// 2 ulp in double) because a call to the library's scalar exp would stop the loops from
// vectorising, and exp is most of softmax's arithmetic.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "cpu/isa/softmax_table.h"

#ifndef FASTCNN_VECTOR_BYTES
#error "define FASTCNN_VECTOR_BYTES before including cpu/isa/softmax_lanes.h"
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

template <typename T>
inline Vec<T> splat(T value) {
  return Vec<T>{} + value;
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
// with integer adds and shifts only. Below the smallest normal result exp returns 0.
template <typename T>
inline Vec<T> vector_exp(Vec<T> x) {
  using C = Lanes<T>;
  using Bits = typename C::Bits;
  const Vec<T> magic = splat(C::magic);
  const Bits underflow = x < splat(C::lowest);
  x = x > splat(C::highest) ? splat(C::highest) : x;
  x = x < splat(C::lowest) ? splat(C::lowest) : x;
  const Vec<T> shifted = x * C::log2e + magic;
  const Vec<T> n = shifted - magic;
  const Bits exponent = reinterpret_cast<Bits>(shifted) - reinterpret_cast<Bits>(magic);
  const Vec<T> r = x - n * C::ln2_high - n * C::ln2_low;
  const Vec<T> scale = reinterpret_cast<Vec<T>>((exponent + C::exponent_bias) << C::mantissa_bits);
  return underflow ? splat(T(0)) : reduced_exp(r) * scale;
}

// One row of `dim` contiguous elements: max, then exp(x - max) and its sum while the row is in
// L1, then the normalisation — one trip through memory.
template <typename T>
void forward_row(const T* x, T* y, int64_t dim, bool log) {
  constexpr int64_t L = kLanes<T>;
  Vec<T> max0 = splat(kMinusInfinity<T>), max1 = max0;
  int64_t i = 0;
  for (; i + 2 * L <= dim; i += 2 * L) {  // two accumulators hide the compare latency
    max0 = maximum<T>(max0, load(x + i, L, T(0)));
    max1 = maximum<T>(max1, load(x + i + L, L, T(0)));
  }
  for (; i < dim; i += L) max0 = maximum<T>(max0, load(x + i, std::min(L, dim - i), kMinusInfinity<T>));
  const Vec<T> shift = splat(horizontal_max<T>(maximum<T>(max0, max1)));
  Vec<T> sum = splat(T(0));
  if (log) {
    for (i = 0; i < dim; i += L)
      sum += vector_exp<T>(load(x + i, std::min(L, dim - i), kMinusInfinity<T>) - shift);
    // (x - max) - log(sum), not x - (max + log(sum)): the sum would round away log(sum)'s low
    // bits when max is large.
    const Vec<T> log_sum = splat(std::log(horizontal_sum<T>(sum)));
    for (i = 0; i < dim; i += L) {
      const int64_t width = std::min(L, dim - i);
      store(y + i, (load(x + i, width, T(0)) - shift) - log_sum, width);
    }
  } else {
    for (i = 0; i < dim; i += L) {
      const int64_t width = std::min(L, dim - i);
      const Vec<T> e = vector_exp<T>(load(x + i, width, kMinusInfinity<T>) - shift);
      sum += e;
      store(y + i, e, width);
    }
    const Vec<T> inverse = splat(T(1) / horizontal_sum<T>(sum));
    for (i = 0; i < dim; i += L) {
      const int64_t width = std::min(L, dim - i);
      store(y + i, load(y + i, width, T(0)) * inverse, width);
    }
  }
}

// softmax: dx = y (dy - sum(dy y));  log_softmax: dx = dy - exp(y) sum(dy).
template <typename T>
void backward_row(const T* dy, const T* y, T* dx, int64_t dim, bool log) {
  constexpr int64_t L = kLanes<T>;
  Vec<T> sum = splat(T(0));
  for (int64_t i = 0; i < dim; i += L) {
    const int64_t width = std::min(L, dim - i);
    sum += log ? load(dy + i, width, T(0)) : load(dy + i, width, T(0)) * load(y + i, width, T(0));
  }
  const Vec<T> total = splat(horizontal_sum<T>(sum));
  for (int64_t i = 0; i < dim; i += L) {
    const int64_t width = std::min(L, dim - i);
    const Vec<T> g = load(dy + i, width, T(0)), out = load(y + i, width, T(0));
    store(dx + i, log ? g - vector_exp<T>(out) * total : out * (g - total), width);
  }
}

// Up to kLanes adjacent columns of a (dim, inner) slab: the same three passes, one lane per column.
template <typename T>
void forward_columns(const T* x, T* y, int64_t width, int64_t dim, int64_t inner, bool log) {
  Vec<T> max = splat(kMinusInfinity<T>);
  for (int64_t d = 0; d < dim; ++d) max = maximum<T>(max, load(x + d * inner, width, kMinusInfinity<T>));
  Vec<T> sum = splat(T(0));
  if (log) {
    for (int64_t d = 0; d < dim; ++d) sum += vector_exp<T>(load(x + d * inner, width, kMinusInfinity<T>) - max);
    Vec<T> log_sum;
    for (int64_t k = 0; k < kLanes<T>; ++k) log_sum[k] = std::log(sum[k]);
    for (int64_t d = 0; d < dim; ++d)
      store(y + d * inner, (load(x + d * inner, width, T(0)) - max) - log_sum, width);
  } else {
    for (int64_t d = 0; d < dim; ++d) {
      const Vec<T> e = vector_exp<T>(load(x + d * inner, width, kMinusInfinity<T>) - max);
      sum += e;
      store(y + d * inner, e, width);
    }
    const Vec<T> inverse = T(1) / sum;
    for (int64_t d = 0; d < dim; ++d) store(y + d * inner, load(y + d * inner, width, T(0)) * inverse, width);
  }
}

template <typename T>
void backward_columns(const T* dy, const T* y, T* dx, int64_t width, int64_t dim, int64_t inner, bool log) {
  Vec<T> total = splat(T(0));
  for (int64_t d = 0; d < dim; ++d) {
    const Vec<T> g = load(dy + d * inner, width, T(0));
    total += log ? g : g * load(y + d * inner, width, T(0));
  }
  for (int64_t d = 0; d < dim; ++d) {
    const Vec<T> g = load(dy + d * inner, width, T(0)), out = load(y + d * inner, width, T(0));
    store(dx + d * inner, log ? g - vector_exp<T>(out) * total : out * (g - total), width);
  }
}

template <typename T>
void forward(const T* input, T* output, int64_t count, int64_t dim, int64_t inner, bool log) {
  if (inner == 1) {
    for (int64_t r = 0; r < count; ++r) forward_row(input + r * dim, output + r * dim, dim, log);
    return;
  }
  for (int64_t c = 0; c < count; c += kLanes<T>)
    forward_columns(input + c, output + c, std::min(kLanes<T>, count - c), dim, inner, log);
}

template <typename T>
void backward(const T* grad_output, const T* output, T* grad_input, int64_t count, int64_t dim, int64_t inner,
              bool log) {
  if (inner == 1) {
    for (int64_t r = 0; r < count; ++r)
      backward_row(grad_output + r * dim, output + r * dim, grad_input + r * dim, dim, log);
    return;
  }
  for (int64_t c = 0; c < count; c += kLanes<T>)
    backward_columns(grad_output + c, output + c, grad_input + c, std::min(kLanes<T>, count - c), dim, inner, log);
}

SoftmaxTable softmax_table() { return {{forward<float>, backward<float>}, {forward<double>, backward<double>}}; }

}  // namespace
}  // namespace fastcnn::cpu::isa
