// Pointwise activations: the threading. The formulas and loops are in csrc/cpu/isa/map_loops.h,
// compiled once per kernel set.
#include "cpu/activation.h"

#include "core/parallel.h"
#include "cpu/isa/map_table.h"

namespace fastcnn::cpu {

namespace {

// Elements of the piecewise-linear kinds are one work unit (core/parallel.h); the others call libm.
constexpr int64_t element_cost(Activation kind) {
  return kind == Activation::relu || kind == Activation::relu6 || kind == Activation::leaky_relu ? 1
                                                                                                   : kTranscendentalCost;
}

}  // namespace

template <typename T>
void activation_forward(Activation kind, const T* input, T* output, int64_t size, double parameter) {
  const auto forward = isa::active_map_kernels<T>().activation_forward;
  const T slope = static_cast<T>(parameter);
  for_each_range<T>(size, size * element_cost(kind), [=](int64_t begin, int64_t end) {
    forward(kind, input + begin, output + begin, end - begin, slope);
  });
}

template <typename T>
void activation_backward(Activation kind, const T* grad_output, const T* input, T* grad_input, int64_t size,
                         double parameter) {
  const auto backward = isa::active_map_kernels<T>().activation_backward;
  const T slope = static_cast<T>(parameter);
  for_each_range<T>(size, size * element_cost(kind), [=](int64_t begin, int64_t end) {
    backward(kind, grad_output + begin, input + begin, grad_input + begin, end - begin, slope);
  });
}

template void activation_forward<float>(Activation, const float*, float*, int64_t, double);
template void activation_forward<double>(Activation, const double*, double*, int64_t, double);
template void activation_backward<float>(Activation, const float*, const float*, float*, int64_t, double);
template void activation_backward<double>(Activation, const double*, const double*, double*, int64_t, double);

}  // namespace fastcnn::cpu
