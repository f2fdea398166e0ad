#include "core/check.h"
#include "cpu/activation.h"
#include "ops/ops.h"

namespace fastcnn::ops {

static cpu::Activation activation_kind(const std::string& name) {
  using cpu::Activation;
  if (name == "relu") return Activation::relu;
  if (name == "relu6") return Activation::relu6;
  if (name == "leaky_relu") return Activation::leaky_relu;
  if (name == "sigmoid") return Activation::sigmoid;
  if (name == "tanh") return Activation::tanh;
  if (name == "gelu") return Activation::gelu;
  if (name == "gelu_tanh") return Activation::gelu_tanh;
  if (name == "silu") return Activation::silu;
  fail_value("activation", "unknown activation '" + name + "'");
}

py::array activation_forward(const std::string& name, const py::array& input, double parameter) {
  const cpu::Activation kind = activation_kind(name);
  const DType dtype = check_float(name.c_str(), "input", input);
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* in = data_of<T>(input);
    const int64_t size = input.size();
    return run_kernel_into<T>(shape_of(input), [&](T* out) {
      cpu::activation_forward<T>(kind, in, out, size, parameter);
    });
  });
}

py::array activation_backward(const std::string& name, const py::array& grad_output, const py::array& input,
                              double parameter) {
  const cpu::Activation kind = activation_kind(name);
  const DType dtype = check_float(name.c_str(), "input", input);
  check_same_dtype(name.c_str(), "input", input, "grad_output", grad_output);
  check_shape(name.c_str(), "grad_output", grad_output, shape_of(input));
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* grad = data_of<T>(grad_output);
    const T* in = data_of<T>(input);
    const int64_t size = input.size();
    return run_kernel_into<T>(shape_of(input), [&](T* out) {
      cpu::activation_backward<T>(kind, grad, in, out, size, parameter);
    });
  });
}

}  // namespace fastcnn::ops
