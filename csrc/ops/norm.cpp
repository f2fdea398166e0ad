#include <cmath>
#include <functional>
#include <numeric>
#include <string>

#include "core/check.h"
#include "cpu/norm.h"
#include "ops/ops.h"

namespace fastcnn::ops {

namespace {

// (N, C, S) of an (N, C, *) input: S is the product of the trailing dims.
struct ChannelLayout {
  int64_t N, C, S;
};

ChannelLayout check_norm_input(const char* op, const py::array& input) {
  check_float(op, "input", input);
  if (input.ndim() < 2)
    fail_value(op, "input must be at least 2-D (N, C, *), got " + std::to_string(input.ndim()) + "-D (input " +
                       shape_string(input) + ")");
  check_not_empty(op, "input", input);
  const Shape shape = shape_of(input);
  return {shape[0], shape[1], std::accumulate(shape.begin() + 2, shape.end(), int64_t(1), std::multiplies<>())};
}

// A per-channel vector: input's dtype, shape (C,).
void check_channel_vector(const char* op, const char* name, const py::array& input, const py::array& v, int64_t C) {
  check_same_dtype(op, "input", input, name, v);
  if (v.ndim() != 1 || v.shape(0) != C)
    fail_value(op, std::string(name) + " must have shape (" + std::to_string(C) + ",) for " + std::to_string(C) +
                       " channels (input " + shape_string(input) + ", " + name + " " + shape_string(v) + ")");
}

template <typename T>
const T* data_or_null(const std::optional<py::array>& a) {
  return a ? data_of<T>(*a) : nullptr;
}

// An optional per-element operand of the fused batch norm (residual, output): input's dtype and shape.
void check_like_input(const char* op, const char* name, const py::array& input, const std::optional<py::array>& a) {
  if (!a) return;
  check_same_dtype(op, "input", input, name, *a);
  check_shape(op, name, *a, shape_of(input));
}

}  // namespace

cpu::NormActivation norm_activation(const char* op, const std::string& name) {
  if (name == "none") return cpu::NormActivation::none;
  if (name == "relu") return cpu::NormActivation::relu;
  if (name == "relu6") return cpu::NormActivation::relu6;
  fail_value(op, "activation must be 'none', 'relu' or 'relu6', got '" + name + "'");
}

py::tuple batch_norm_forward(const py::array& input, std::optional<py::array> running_mean,
                             std::optional<py::array> running_var, std::optional<py::array> weight,
                             std::optional<py::array> bias, bool training, double momentum, double eps,
                             const std::optional<py::array>& residual, const std::string& activation) {
  const char* op = "batch_norm";
  const ChannelLayout L = check_norm_input(op, input);
  check_like_input(op, "residual", input, residual);
  const cpu::NormActivation kind = norm_activation(op, activation);
  const std::pair<const char*, std::optional<py::array>*> vectors[] = {
      {"running_mean", &running_mean}, {"running_var", &running_var}, {"weight", &weight}, {"bias", &bias}};
  for (const auto& [name, v] : vectors)
    if (*v) check_channel_vector(op, name, input, **v, L.C);
  if (!std::isfinite(eps) || eps < 0) fail_value(op, "eps must be a non-negative number, got " + std::to_string(eps));
  if (training) {
    if (L.N * L.S <= 1)
      fail_value(op, "Expected more than 1 value per channel when training, got input size " +
                         shape_string(input));
    if (!std::isfinite(momentum)) fail_value(op, "momentum must be finite, got " + std::to_string(momentum));
    for (const auto& [name, v] : {vectors[0], vectors[1]})
      if (*v && !(*v)->writeable())
        fail_value(op, std::string(name) + " must be writeable: training updates it in place (" + name + " " +
                           shape_string(**v) + ")");
  } else if (!running_mean || !running_var) {
    fail_value(op, "running_mean and running_var are required when not training (input " + shape_string(input) +
                       ")");
  }
  return dispatch_float(check_float(op, "input", input), [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto output = new_array<T>(shape_of(input));
    auto save_mean = new_array<T>({L.C});
    auto save_invstd = new_array<T>({L.C});
    const T* in = data_of<T>(input);
    const T *w = data_or_null<T>(weight), *b = data_or_null<T>(bias), *res = data_or_null<T>(residual);
    T* rm = running_mean ? mutable_data_of<T>(*running_mean) : nullptr;
    T* rv = running_var ? mutable_data_of<T>(*running_var) : nullptr;
    T *mean = save_mean.mutable_data(), *invstd = save_invstd.mutable_data(), *out = output.mutable_data();
    {
      py::gil_scoped_release release;
      if (training) {
        std::vector<T> variance(L.C);
        cpu::batch_norm_statistics<T>(in, L.N, L.C, L.S, mean, variance.data());
        cpu::batch_norm_update_running_stats<T>(mean, variance.data(), L.C, L.N * L.S, momentum, rm, rv);
        cpu::batch_norm_invstd<T>(variance.data(), L.C, eps, invstd);
      } else {
        std::copy(rm, rm + L.C, mean);
        cpu::batch_norm_invstd<T>(rv, L.C, eps, invstd);
      }
      cpu::batch_norm_forward<T>(in, mean, invstd, w, b, L.N, L.C, L.S, out, res, kind);
    }
    return py::make_tuple(output, save_mean, save_invstd);
  });
}

py::tuple batch_norm_backward(const py::array& grad_output, const py::array& input, const py::array& save_mean,
                              const py::array& save_invstd, std::optional<py::array> weight, bool training,
                              bool need_input, bool need_weight, bool need_bias, const std::optional<py::array>& output,
                              const std::string& activation, bool need_residual) {
  const char* op = "batch_norm_backward";
  const ChannelLayout L = check_norm_input(op, input);
  check_like_input(op, "output", input, output);
  const cpu::NormActivation kind = norm_activation(op, activation);
  if (kind != cpu::NormActivation::none && !output)
    fail_value(op, "the fused " + activation + " needs the forward's output (input " + shape_string(input) + ")");
  check_same_dtype(op, "input", input, "grad_output", grad_output);
  check_shape(op, "grad_output", grad_output, shape_of(input));
  check_channel_vector(op, "save_mean", input, save_mean, L.C);
  check_channel_vector(op, "save_invstd", input, save_invstd, L.C);
  if (weight) check_channel_vector(op, "weight", input, *weight, L.C);
  if (training && L.N * L.S <= 1)
    fail_value(op, "Expected more than 1 value per channel when training, got input size " + shape_string(input));
  return dispatch_float(check_float(op, "input", input), [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::object grads[4] = {py::none(), py::none(), py::none(), py::none()};
    T* outputs[4] = {nullptr, nullptr, nullptr, nullptr};
    const bool needed[4] = {need_input, need_weight, need_bias, need_residual};
    for (int i = 0; i < 4; ++i) {
      if (!needed[i]) continue;
      auto grad = new_array<T>(i == 0 || i == 3 ? shape_of(input) : Shape{L.C});
      outputs[i] = grad.mutable_data();
      grads[i] = grad;
    }
    const T *dy = data_of<T>(grad_output), *x = data_of<T>(input);
    const T *mean = data_of<T>(save_mean), *invstd = data_of<T>(save_invstd), *w = data_or_null<T>(weight);
    {
      py::gil_scoped_release release;
      cpu::batch_norm_backward<T>(dy, x, mean, invstd, w, training, L.N, L.C, L.S, outputs[0], outputs[1],
                                  outputs[2], data_or_null<T>(output), kind, outputs[3]);
    }
    return py::make_tuple(grads[0], grads[1], grads[2], grads[3]);
  });
}

}  // namespace fastcnn::ops
