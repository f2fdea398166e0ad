#pragma once
// The element-map loops (cpu/isa/map_table.h), written once and compiled once per kernel set:
// csrc/cpu/isa/<isa>/map.cpp includes this file under its ISA's flags and the compiler vectorises
// the loops for that ISA. The baseline x86-64 build moves 16 bytes per instruction: a ReLU over
// a 1 MiB or 8 MiB buffer (L2 / L3) ran at 2/3 of the speed of the same loop built for AVX2.
// Internal linkage, so the copies never merge.
//
// Pointwise activations. Formulas (seed, "Activation Functions"):
//   relu(x) = max(0, x)                      relu'(x) = [x > 0]
//   relu6(x) = min(max(0, x), 6)             relu6'(x) = [0 < x < 6]
//   leaky_relu(x) = x if x > 0 else a x      leaky_relu'(x) = 1 if x > 0 else a
//   sigmoid(x) = 1 / (1 + e^-x)              sigmoid'(x) = s (1 - s)
//   tanh(x)                                  tanh'(x) = 1 - tanh(x)^2
//   gelu(x) = x Phi(x)                       gelu'(x) = Phi(x) + x phi(x)
//   gelu_tanh(x) = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
//   silu(x) = x sigmoid(x)                   silu'(x) = s (1 + x (1 - s))
//
// Same-shape binary arithmetic: out = a + b, a - b or a * b. Derivatives (applied in
// python/fastcnn/ops/elementwise.py): d(a + b) = (1, 1), d(a - b) = (1, -1), d(a b) = (b, a).
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cpu/isa/map_table.h"

namespace fastcnn::cpu::isa {
namespace {

template <typename T>
inline T sigmoid(T x) {
  // Split by sign so exp never overflows.
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;

// The kind is a template argument, so each activation gets its own loop with the switch folded
// away and the compiler vectorises the body (a runtime switch per element kept relu6 scalar).
// value if x > 0 else slope * value, as two selects and an unconditional multiply-add: GCC turns
// `x > 0 ? value : slope * value` (or `value * (x > 0 ? 1 : slope)`) into a conditional
// product, which it does not vectorise.
template <typename T>
inline T piecewise(T x, T value, T slope) {
  const T positive = x > 0 ? value : T(0), negative = x > 0 ? T(0) : value;
  return positive + slope * negative;
}

template <Activation kind, typename T>
inline T forward_one(T x, T slope) {
  switch (kind) {
    case Activation::relu: return x > 0 ? x : T(0);
    case Activation::relu6: return x > 0 ? (x < 6 ? x : T(6)) : T(0);
    case Activation::leaky_relu: return piecewise(x, x, slope);
    case Activation::sigmoid: return sigmoid(x);
    case Activation::tanh: return std::tanh(x);
    case Activation::gelu: return x * T(0.5) * (T(1) + std::erf(x * T(kInvSqrt2)));
    case Activation::gelu_tanh: {
      T u = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
      return T(0.5) * x * (T(1) + std::tanh(u));
    }
    case Activation::silu: return x * sigmoid(x);
  }
  return x;
}

template <Activation kind, typename T>
inline T derivative_one(T x, T slope) {
  static_assert(kind != Activation::relu && kind != Activation::relu6 && kind != Activation::leaky_relu,
                "the piecewise-linear kinds select the gradient (activation_backward)");
  switch (kind) {
    case Activation::sigmoid: {
      T s = sigmoid(x);
      return s * (T(1) - s);
    }
    case Activation::tanh: {
      T t = std::tanh(x);
      return T(1) - t * t;
    }
    case Activation::gelu: {
      T cdf = T(0.5) * (T(1) + std::erf(x * T(kInvSqrt2)));
      T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * x * x);
      return cdf + x * pdf;
    }
    case Activation::gelu_tanh: {
      T u = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
      T t = std::tanh(u);
      T du = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
      return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du;
    }
    case Activation::silu: {
      T s = sigmoid(x);
      return s * (T(1) + x * (T(1) - s));
    }
  }
  return T(1);
}

// The element loops capture by value: a captured reference could alias the output, so the
// compiler would reload it every element and not vectorise.
// Calls fn(std::integral_constant<Activation, kind>) for the runtime kind.
template <typename Fn>
void with_kind(Activation kind, Fn fn) {
  using A = Activation;
  switch (kind) {
    case A::relu: return fn(std::integral_constant<A, A::relu>{});
    case A::relu6: return fn(std::integral_constant<A, A::relu6>{});
    case A::leaky_relu: return fn(std::integral_constant<A, A::leaky_relu>{});
    case A::sigmoid: return fn(std::integral_constant<A, A::sigmoid>{});
    case A::tanh: return fn(std::integral_constant<A, A::tanh>{});
    case A::gelu: return fn(std::integral_constant<A, A::gelu>{});
    case A::gelu_tanh: return fn(std::integral_constant<A, A::gelu_tanh>{});
    case A::silu: return fn(std::integral_constant<A, A::silu>{});
  }
}

template <typename T>
void activation_forward(Activation kind, const T* input, T* output, int64_t size, T slope) {
  with_kind(kind, [=](auto k) {
    constexpr Activation K = decltype(k)::value;
    for (int64_t i = 0; i < size; ++i) output[i] = forward_one<K>(input[i], slope);
  });
}

template <typename T>
void activation_backward(Activation kind, const T* grad_output, const T* input, T* grad_input, int64_t size,
                         T slope) {
  with_kind(kind, [=](auto k) {
    constexpr Activation K = decltype(k)::value;
    // The piecewise-linear kinds select the gradient rather than multiply it by 0 or 1, as
    // torch does, so an infinite gradient stays out of the flat pieces. Each element's gradient
    // is loaded whatever the branch, so the selects vectorise.
    if constexpr (K == Activation::relu) {
      for (int64_t i = 0; i < size; ++i) {
        const T grad = grad_output[i];
        grad_input[i] = input[i] > 0 ? grad : T(0);
      }
    } else if constexpr (K == Activation::relu6) {
      for (int64_t i = 0; i < size; ++i) {
        const T grad = grad_output[i], x = input[i];
        grad_input[i] = (x > 0) & (x < 6) ? grad : T(0);  // &, not &&: no branch in the loop
      }
    } else if constexpr (K == Activation::leaky_relu) {
      for (int64_t i = 0; i < size; ++i) grad_input[i] = piecewise(input[i], grad_output[i], slope);
    } else {
      for (int64_t i = 0; i < size; ++i) grad_input[i] = grad_output[i] * derivative_one<K>(input[i], slope);
    }
  });
}

// The operation is a template argument, so each gets its own branch-free, vectorised loop.
template <BinaryOp kOp, typename T>
void binary_loop(const T* a, const T* b, T* output, int64_t size) {
  for (int64_t i = 0; i < size; ++i) {
    if constexpr (kOp == BinaryOp::add) output[i] = a[i] + b[i];
    if constexpr (kOp == BinaryOp::sub) output[i] = a[i] - b[i];
    if constexpr (kOp == BinaryOp::mul) output[i] = a[i] * b[i];
  }
}

template <typename T>
void binary(BinaryOp op, const T* a, const T* b, T* output, int64_t size) {
  switch (op) {
    case BinaryOp::add: return binary_loop<BinaryOp::add>(a, b, output, size);
    case BinaryOp::sub: return binary_loop<BinaryOp::sub>(a, b, output, size);
    case BinaryOp::mul: return binary_loop<BinaryOp::mul>(a, b, output, size);
  }
}

template <typename T>
MapKernels<T> kernels() {
  return {activation_forward<T>, activation_backward<T>, binary<T>};
}

MapTable map_table() { return {kernels<float>(), kernels<double>()}; }

}  // namespace
}  // namespace fastcnn::cpu::isa
