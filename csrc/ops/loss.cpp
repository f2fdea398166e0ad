#include <cmath>

#include "core/check.h"
#include "cpu/loss.h"
#include "ops/ops.h"

namespace fastcnn::ops {

namespace {

enum class Reduction { none, mean, sum };

Reduction parse_reduction(const char* op, const std::string& reduction) {
  if (reduction == "none") return Reduction::none;
  if (reduction == "mean") return Reduction::mean;
  if (reduction == "sum") return Reduction::sum;
  fail_value(op, "reduction must be 'none', 'mean' or 'sum', got '" + reduction + "'");
}

// 'none' keeps the per-element losses; 'sum' and 'mean' (sum / denominator) give a 0-d array.
template <typename T>
py::array reduce_losses(py::array_t<T> losses, Reduction reduction, double denominator) {
  if (reduction == Reduction::none) return losses;
  double total;
  {
    const T* values = losses.data();
    const int64_t size = losses.size();
    py::gil_scoped_release release;
    total = cpu::sum_of<T>(values, size);
  }
  auto result = new_array<T>(Shape{});
  *result.mutable_data() = static_cast<T>(reduction == Reduction::mean ? total / denominator : total);
  return result;
}

// Where element i of the reduced loss's upstream gradient lives: grad[i * stride] * scale.
struct GradientSource {
  int64_t stride;
  double scale;
};

GradientSource gradient_source(const char* op, const py::array& grad_output, const py::array& input,
                               Reduction reduction, const Shape& losses_shape, double denominator) {
  check_same_dtype(op, "input", input, "grad_output", grad_output);
  if (reduction == Reduction::none) {
    check_shape(op, "grad_output", grad_output, losses_shape);
    return {1, 1.0};
  }
  check_shape(op, "grad_output", grad_output, Shape{});
  return {0, reduction == Reduction::mean ? 1.0 / denominator : 1.0};
}

// The (N, C, S) view of a class-loss input: (C) with a 0-d target, or (N, C, d1, ...) with an
// (N, d1, ...) target.
struct ClassView {
  int64_t batch = 1, classes = 1, positions = 1;
  Shape target_shape;
};

ClassView class_view(const char* op, const py::array& input) {
  if (input.ndim() < 1) fail_value(op, "input must be at least 1-D (input " + shape_string(input) + ")");
  ClassView view;
  const Shape shape = shape_of(input);
  if (shape.size() == 1) {
    view.classes = shape[0];
  } else {
    view.batch = shape[0];
    view.classes = shape[1];
    view.target_shape.push_back(shape[0]);
    for (size_t i = 2; i < shape.size(); ++i) {
      view.positions *= shape[i];
      view.target_shape.push_back(shape[i]);
    }
  }
  if (view.classes <= 0) fail_value(op, "input has no classes (input " + shape_string(input) + ")");
  return view;
}

void check_class_arguments(const char* op, const py::array& input, const py::array& target,
                           const std::optional<py::array>& weight, const ClassView& view, double label_smoothing) {
  check_float(op, "input", input);
  check_int64(op, "target", target);
  if (shape_of(target) != view.target_shape)
    fail_value(op, "target must have shape " + shape_string(view.target_shape) + " for input " +
                       shape_string(input) + " (input " + shape_string(input) + ", target " + shape_string(target) +
                       ")");
  if (weight) {
    check_same_dtype(op, "input", input, "weight", *weight);
    check_shape(op, "weight", *weight, Shape{view.classes});
  }
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    fail_value(op, "label_smoothing must be in [0, 1], got " + std::to_string(label_smoothing));
}

// An optional, same-dtype array of exactly the input's shape.
void check_optional_like(const char* op, const char* name, const py::array& input,
                         const std::optional<py::array>& value) {
  if (!value) return;
  check_same_dtype(op, "input", input, name, *value);
  check_shape(op, name, *value, shape_of(input));
}

template <typename T>
const T* optional_data(const std::optional<py::array>& value) {
  return value ? data_of<T>(*value) : nullptr;
}

}  // namespace

py::tuple nll_loss_forward(const py::array& input, const py::array& target, const std::optional<py::array>& weight,
                           int64_t ignore_index, const std::string& reduction, double label_smoothing) {
  const char* op = "nll_loss";
  const Reduction mode = parse_reduction(op, reduction);
  const ClassView view = class_view(op, input);
  check_class_arguments(op, input, target, weight, view, label_smoothing);
  const int64_t* labels = data_of<int64_t>(target);
  const int64_t bad = cpu::first_invalid_label(labels, target.size(), view.classes, ignore_index);
  if (bad >= 0)
    fail_value(op, "target has label " + std::to_string(labels[bad]) + " out of range [0, " +
                       std::to_string(view.classes) + ") (input " + shape_string(input) + ", target " +
                       shape_string(target) + ", ignore_index=" + std::to_string(ignore_index) + ")");
  return dispatch_float(check_float(op, "input", input), [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto losses = new_array<T>(view.target_shape);
    const T* log_probs = data_of<T>(input);
    const T* class_weight = optional_data<T>(weight);
    T* out = losses.mutable_data();
    double total_weight;
    {
      py::gil_scoped_release release;
      total_weight = cpu::nll_loss_forward<T>(log_probs, labels, class_weight, out, view.batch, view.classes,
                                              view.positions, ignore_index, label_smoothing);
    }
    return py::make_tuple(reduce_losses<T>(losses, mode, total_weight), total_weight);
  });
}

py::array nll_loss_backward(const py::array& grad_output, const py::array& input, const py::array& target,
                            const std::optional<py::array>& weight, int64_t ignore_index,
                            const std::string& reduction, double label_smoothing, double total_weight) {
  const char* op = "nll_loss";
  const Reduction mode = parse_reduction(op, reduction);
  const ClassView view = class_view(op, input);
  check_class_arguments(op, input, target, weight, view, label_smoothing);
  const int64_t* labels = data_of<int64_t>(target);
  if (cpu::first_invalid_label(labels, target.size(), view.classes, ignore_index) >= 0)
    fail_value(op, "target has a label out of range (input " + shape_string(input) + ", target " +
                       shape_string(target) + ")");
  const GradientSource source = gradient_source(op, grad_output, input, mode, view.target_shape, total_weight);
  return dispatch_float(check_float(op, "input", input), [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* grad = data_of<T>(grad_output);
    const T* class_weight = optional_data<T>(weight);
    return run_kernel_into<T>(shape_of(input), [&](T* out) {
      cpu::nll_loss_backward<T>(grad, source.stride, source.scale, labels, class_weight, out, view.batch,
                                view.classes, view.positions, ignore_index, label_smoothing);
    });
  });
}

py::array mse_loss_forward(const py::array& input, const py::array& target, const std::string& reduction) {
  const char* op = "mse_loss";
  const Reduction mode = parse_reduction(op, reduction);
  check_optional_like(op, "target", input, target);
  return dispatch_float(check_float(op, "input", input), [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto losses = new_array<T>(shape_of(input));
    const T* in = data_of<T>(input);
    const T* tgt = data_of<T>(target);
    T* out = losses.mutable_data();
    const int64_t size = input.size();
    {
      py::gil_scoped_release release;
      cpu::mse_loss_forward<T>(in, tgt, out, size);
    }
    return reduce_losses<T>(losses, mode, static_cast<double>(size));
  });
}

py::array mse_loss_backward(const py::array& grad_output, const py::array& input, const py::array& target,
                            const std::string& reduction) {
  const char* op = "mse_loss";
  const Reduction mode = parse_reduction(op, reduction);
  check_optional_like(op, "target", input, target);
  const GradientSource source =
      gradient_source(op, grad_output, input, mode, shape_of(input), static_cast<double>(input.size()));
  return dispatch_float(check_float(op, "input", input), [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* grad = data_of<T>(grad_output);
    const T* in = data_of<T>(input);
    const T* tgt = data_of<T>(target);
    const int64_t size = input.size();
    return run_kernel_into<T>(shape_of(input), [&](T* out) {
      cpu::mse_loss_backward<T>(grad, source.stride, source.scale, in, tgt, out, size);
    });
  });
}

py::array bce_with_logits_forward(const py::array& input, const py::array& target,
                                  const std::optional<py::array>& weight, const std::optional<py::array>& pos_weight,
                                  const std::string& reduction) {
  const char* op = "binary_cross_entropy_with_logits";
  const Reduction mode = parse_reduction(op, reduction);
  check_optional_like(op, "target", input, target);
  check_optional_like(op, "weight", input, weight);
  check_optional_like(op, "pos_weight", input, pos_weight);
  return dispatch_float(check_float(op, "input", input), [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto losses = new_array<T>(shape_of(input));
    const T* in = data_of<T>(input);
    const T* tgt = data_of<T>(target);
    const T* w = optional_data<T>(weight);
    const T* q = optional_data<T>(pos_weight);
    T* out = losses.mutable_data();
    const int64_t size = input.size();
    {
      py::gil_scoped_release release;
      cpu::bce_with_logits_forward<T>(in, tgt, w, q, out, size);
    }
    return reduce_losses<T>(losses, mode, static_cast<double>(size));
  });
}

py::tuple bce_with_logits_backward(const py::array& grad_output, const py::array& input, const py::array& target,
                                   const std::optional<py::array>& weight,
                                   const std::optional<py::array>& pos_weight, const std::string& reduction) {
  const char* op = "binary_cross_entropy_with_logits";
  const Reduction mode = parse_reduction(op, reduction);
  check_optional_like(op, "target", input, target);
  check_optional_like(op, "weight", input, weight);
  check_optional_like(op, "pos_weight", input, pos_weight);
  const GradientSource source =
      gradient_source(op, grad_output, input, mode, shape_of(input), static_cast<double>(input.size()));
  return dispatch_float(check_float(op, "input", input), [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto grad_input = new_array<T>(shape_of(input));
    auto grad_target = new_array<T>(shape_of(input));
    const T* grad = data_of<T>(grad_output);
    const T* in = data_of<T>(input);
    const T* tgt = data_of<T>(target);
    const T* w = optional_data<T>(weight);
    const T* q = optional_data<T>(pos_weight);
    T* out_input = grad_input.mutable_data();
    T* out_target = grad_target.mutable_data();
    const int64_t size = input.size();
    {
      py::gil_scoped_release release;
      cpu::bce_with_logits_backward<T>(grad, source.stride, source.scale, in, tgt, w, q, out_input, out_target,
                                       size);
    }
    return py::make_tuple(grad_input, grad_target);
  });
}

}  // namespace fastcnn::ops
