#pragma once
// The softmax micro-kernels, written once with the vector helpers of vector_lanes.h and compiled
// once per kernel set: csrc/cpu/isa/<isa>/softmax.cpp defines FASTCNN_VECTOR_BYTES (16, 32 or 64)
// and includes this file under its ISA's flags. exp (in registers, vector_lanes.h) is most of
// softmax's arithmetic.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "cpu/isa/softmax_table.h"
#include "cpu/isa/vector_lanes.h"

namespace fastcnn::cpu::isa {
namespace {

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
      sum += vector_exp<T, true>(load(x + i, std::min(L, dim - i), kMinusInfinity<T>) - shift);
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
      const Vec<T> e = vector_exp<T, true>(load(x + i, width, kMinusInfinity<T>) - shift);
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
    for (int64_t d = 0; d < dim; ++d) sum += vector_exp<T, true>(load(x + d * inner, width, kMinusInfinity<T>) - max);
    Vec<T> log_sum;
    for (int64_t k = 0; k < kLanes<T>; ++k) log_sum[k] = std::log(sum[k]);
    for (int64_t d = 0; d < dim; ++d)
      store(y + d * inner, (load(x + d * inner, width, T(0)) - max) - log_sum, width);
  } else {
    for (int64_t d = 0; d < dim; ++d) {
      const Vec<T> e = vector_exp<T, true>(load(x + d * inner, width, kMinusInfinity<T>) - max);
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
