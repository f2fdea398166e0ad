// Pointwise activations. Formulas (seed, "Activation Functions"):
//   relu(x) = max(0, x)                      relu'(x) = [x > 0]
//   relu6(x) = min(max(0, x), 6)             relu6'(x) = [0 < x < 6]
//   leaky_relu(x) = x if x > 0 else a x      leaky_relu'(x) = 1 if x > 0 else a
//   sigmoid(x) = 1 / (1 + e^-x)              sigmoid'(x) = s (1 - s)
//   tanh(x)                                  tanh'(x) = 1 - tanh(x)^2
//   gelu(x) = x Phi(x)                       gelu'(x) = Phi(x) + x phi(x)
//   gelu_tanh(x) = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
//   silu(x) = x sigmoid(x)                   silu'(x) = s (1 + x (1 - s))
#include "cpu/activation.h"

#include <cmath>

namespace fastcnn::cpu {

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

template <typename T>
inline T forward_one(Activation kind, T x, T slope) {
  switch (kind) {
    case Activation::relu: return x > 0 ? x : T(0);
    case Activation::relu6: return x > 0 ? (x < 6 ? x : T(6)) : T(0);
    case Activation::leaky_relu: return x > 0 ? x : slope * x;
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

template <typename T>
inline T derivative_one(Activation kind, T x, T slope) {
  switch (kind) {
    case Activation::relu: return x > 0 ? T(1) : T(0);
    case Activation::relu6: return (x > 0 && x < 6) ? T(1) : T(0);
    case Activation::leaky_relu: return x > 0 ? T(1) : slope;
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

// One loop per activation, so the switch is hoisted out and the compiler vectorises the body.
template <typename T, typename Body>
void for_each_element(int64_t size, Body body) {
#pragma omp parallel for schedule(static) if (size > 32768)
  for (int64_t i = 0; i < size; ++i) body(i);
}

}  // namespace

template <typename T>
void activation_forward(Activation kind, const T* input, T* output, int64_t size, double parameter) {
  const T slope = static_cast<T>(parameter);
  switch (kind) {
    case Activation::relu:
      for_each_element<T>(size, [&](int64_t i) { output[i] = input[i] > 0 ? input[i] : T(0); });
      break;
    default:
      for_each_element<T>(size, [&](int64_t i) { output[i] = forward_one(kind, input[i], slope); });
  }
}

template <typename T>
void activation_backward(Activation kind, const T* grad_output, const T* input, T* grad_input, int64_t size,
                         double parameter) {
  const T slope = static_cast<T>(parameter);
  switch (kind) {
    case Activation::relu:
      for_each_element<T>(size, [&](int64_t i) { grad_input[i] = input[i] > 0 ? grad_output[i] : T(0); });
      break;
    default:
      for_each_element<T>(size,
                          [&](int64_t i) { grad_input[i] = grad_output[i] * derivative_one(kind, input[i], slope); });
  }
}

template void activation_forward<float>(Activation, const float*, float*, int64_t, double);
template void activation_forward<double>(Activation, const double*, double*, int64_t, double);
template void activation_backward<float>(Activation, const float*, const float*, float*, int64_t, double);
template void activation_backward<double>(Activation, const double*, const double*, double*, int64_t, double);

}  // namespace fastcnn::cpu
