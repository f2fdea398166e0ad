#include "core/check.h"
#include "cpu/capsule.h"
#include "ops/ops.h"

#include <cmath>

namespace fastcnn::ops {

namespace {

struct SquashLayout {
  int64_t outer, dim, inner;
};

// Splits the input's shape around the capsule dim into the kernel's (N, D, S).
SquashLayout squash_layout(const py::array& input, int64_t dim, double eps) {
  const char* op = "squash";
  check_float(op, "input", input);
  const int64_t ndim = input.ndim();
  if (ndim == 0) fail_value(op, "input must have at least one dimension (input " + shape_string(input) + ")");
  if (dim < -ndim || dim >= ndim)
    fail_value(op, "dim " + std::to_string(dim) + " is out of range for a " + std::to_string(ndim) +
                       "-D input (input " + shape_string(input) + ")");
  if (!(eps > 0) || !std::isfinite(eps))
    fail_value(op, "eps must be a positive finite number, got " + std::to_string(eps));
  if (dim < 0) dim += ndim;
  SquashLayout layout{1, input.shape(dim), 1};
  for (int64_t i = 0; i < dim; ++i) layout.outer *= input.shape(i);
  for (int64_t i = dim + 1; i < ndim; ++i) layout.inner *= input.shape(i);
  return layout;
}

void check_margin_arguments(const py::array& lengths, const py::array& target) {
  const char* op = "margin_loss";
  check_float(op, "lengths", lengths);
  check_int64(op, "target", target);
  check_ndim(op, "lengths", lengths, {2});
  check_ndim(op, "target", target, {1});
  if (target.shape(0) != lengths.shape(0))
    fail_value(op, "target has " + std::to_string(target.shape(0)) + " entries but lengths has " +
                       std::to_string(lengths.shape(0)) + " rows (lengths " + shape_string(lengths) + ", target " +
                       shape_string(target) + ")");
  const int64_t classes = lengths.shape(1);
  const int64_t* labels = data_of<int64_t>(target);
  for (int64_t n = 0; n < target.shape(0); ++n)
    if (labels[n] < 0 || labels[n] >= classes)
      fail_value(op, "target " + std::to_string(labels[n]) + " at position " + std::to_string(n) +
                         " is not a class index in [0, " + std::to_string(classes) + ") (lengths " +
                         shape_string(lengths) + ", target " + shape_string(target) + ")");
}

struct RoutingSizes {
  DType dtype;
  int64_t batch, in_capsules, out_capsules, out_dim;
};

// predictions (N, I, J, D) and, when given, coupling (N, I, J) of the same dtype.
RoutingSizes check_routing_arguments(const py::array& predictions, const py::array* coupling) {
  const char* op = "dynamic_routing";
  const DType dtype = check_float(op, "predictions", predictions);
  check_ndim(op, "predictions", predictions, {4});
  if (predictions.shape(2) < 1)
    fail_value(op, "there must be at least one output capsule (predictions " + shape_string(predictions) + ")");
  if (coupling != nullptr) {
    check_same_dtype(op, "predictions", predictions, "coupling", *coupling);
    check_shape(op, "coupling", *coupling, {predictions.shape(0), predictions.shape(1), predictions.shape(2)});
  }
  return {dtype, predictions.shape(0), predictions.shape(1), predictions.shape(2), predictions.shape(3)};
}

}  // namespace

py::array routing_coupling(const py::array& predictions, int64_t iterations) {
  const RoutingSizes size = check_routing_arguments(predictions, nullptr);
  check_positive("dynamic_routing", "iterations", iterations);
  return dispatch_float(size.dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto coupling = new_array<T>({size.batch, size.in_capsules, size.out_capsules});
    const T* u_hat = data_of<T>(predictions);
    T* c = coupling.mutable_data();
    py::gil_scoped_release release;
    cpu::routing_coupling<T>(u_hat, c, size.batch, size.in_capsules, size.out_capsules, size.out_dim, iterations);
    return coupling;
  });
}

py::array routing_weighted_sum_forward(const py::array& predictions, const py::array& coupling) {
  const RoutingSizes size = check_routing_arguments(predictions, &coupling);
  return dispatch_float(size.dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto output = new_array<T>({size.batch, size.out_capsules, size.out_dim});
    const T* u_hat = data_of<T>(predictions);
    const T* c = data_of<T>(coupling);
    T* s = output.mutable_data();
    py::gil_scoped_release release;
    cpu::routing_weighted_sum_forward<T>(u_hat, c, s, size.batch, size.in_capsules, size.out_capsules, size.out_dim);
    return output;
  });
}

py::array routing_weighted_sum_backward(const py::array& grad_output, const py::array& predictions,
                                        const py::array& coupling) {
  const RoutingSizes size = check_routing_arguments(predictions, &coupling);
  check_same_dtype("dynamic_routing", "predictions", predictions, "grad_output", grad_output);
  check_shape("dynamic_routing", "grad_output", grad_output, {size.batch, size.out_capsules, size.out_dim});
  return dispatch_float(size.dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* grad = data_of<T>(grad_output);
    const T* c = data_of<T>(coupling);
    return run_kernel_into<T>(shape_of(predictions), [&](T* out) {
      cpu::routing_weighted_sum_backward_input<T>(grad, c, out, size.batch, size.in_capsules, size.out_capsules,
                                                  size.out_dim);
    });
  });
}

py::array squash_forward(const py::array& input, int64_t dim, double eps) {
  const SquashLayout layout = squash_layout(input, dim, eps);
  return dispatch_float(check_float("squash", "input", input), [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* in = data_of<T>(input);
    return run_kernel_into<T>(shape_of(input), [&](T* out) {
      cpu::squash_forward<T>(in, out, layout.outer, layout.dim, layout.inner, T(eps));
    });
  });
}

py::array squash_backward(const py::array& grad_output, const py::array& input, int64_t dim, double eps) {
  const SquashLayout layout = squash_layout(input, dim, eps);
  check_same_dtype("squash", "input", input, "grad_output", grad_output);
  check_shape("squash", "grad_output", grad_output, shape_of(input));
  return dispatch_float(check_float("squash", "input", input), [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* grad = data_of<T>(grad_output);
    const T* in = data_of<T>(input);
    return run_kernel_into<T>(shape_of(input), [&](T* out) {
      cpu::squash_backward_input<T>(grad, in, out, layout.outer, layout.dim, layout.inner, T(eps));
    });
  });
}

py::array margin_loss_forward(const py::array& lengths, const py::array& target, double m_plus, double m_minus,
                              double lambda) {
  check_margin_arguments(lengths, target);
  return dispatch_float(check_float("margin_loss", "lengths", lengths), [&](auto tag) -> py::array {
    using T = decltype(tag);
    const int64_t batch = lengths.shape(0), classes = lengths.shape(1);
    const T* l = data_of<T>(lengths);
    const int64_t* labels = data_of<int64_t>(target);
    return run_kernel_into<T>({batch}, [&](T* out) {
      cpu::margin_loss_forward<T>(l, labels, out, batch, classes, T(m_plus), T(m_minus), T(lambda));
    });
  });
}

py::array margin_loss_backward(const py::array& grad_losses, const py::array& lengths, const py::array& target,
                               double m_plus, double m_minus, double lambda) {
  check_margin_arguments(lengths, target);
  check_same_dtype("margin_loss", "lengths", lengths, "grad_losses", grad_losses);
  check_shape("margin_loss", "grad_losses", grad_losses, {lengths.shape(0)});
  return dispatch_float(check_float("margin_loss", "lengths", lengths), [&](auto tag) -> py::array {
    using T = decltype(tag);
    const int64_t batch = lengths.shape(0), classes = lengths.shape(1);
    const T* grad = data_of<T>(grad_losses);
    const T* l = data_of<T>(lengths);
    const int64_t* labels = data_of<int64_t>(target);
    return run_kernel_into<T>(shape_of(lengths), [&](T* out) {
      cpu::margin_loss_backward_input<T>(grad, l, labels, out, batch, classes, T(m_plus), T(m_minus), T(lambda));
    });
  });
}

}  // namespace fastcnn::ops
