// conv2d and conv_transpose2d entry points: argument checks, the shape rules, output allocation.
#include <cmath>

#include "core/check.h"
#include "cpu/conv.h"
#include "cpu/conv_transpose.h"
#include "ops/ops.h"

namespace fastcnn::ops {

namespace {

using Ints = std::vector<int64_t>;

void check_count(const char* op, const char* name, const Ints& values, size_t count) {
  if (values.size() != count)
    fail_value(op, std::string(name) + " must have " + std::to_string(count) + " values, got " +
                       shape_string(Shape(values)));
}

// The hyper-parameters both ops share: positive stride, dilation and groups, padding >= 0.
void check_hyper_parameters(const char* op, const Ints& stride, const Ints& padding, size_t padding_count,
                            const Ints& dilation, int64_t groups) {
  check_count(op, "stride", stride, 2);
  check_count(op, "padding", padding, padding_count);
  check_count(op, "dilation", dilation, 2);
  for (int64_t value : stride) check_positive(op, "stride", value);
  for (int64_t value : dilation) check_positive(op, "dilation", value);
  for (int64_t value : padding) check_non_negative(op, "padding", value);
  check_positive(op, "groups", groups);
}

// Operand checks both ops share; returns the dtype.
DType check_operands(const char* op, const py::array& input, const py::array& weight,
                     const std::optional<py::array>& bias) {
  const DType dtype = check_float(op, "input", input);
  check_same_dtype(op, "input", input, "weight", weight);
  if (bias) check_same_dtype(op, "input", input, "bias", *bias);
  check_ndim(op, "input", input, {4});
  check_ndim(op, "weight", weight, {4});
  check_not_empty(op, "input", input);
  check_not_empty(op, "weight", weight);
  return dtype;
}

std::string context(const py::array& input, const py::array& weight, int64_t groups) {
  return " (input " + shape_string(input) + ", weight " + shape_string(weight) + ", groups=" +
         std::to_string(groups) + ")";
}

// padding: (top, bottom, left, right), so that 'same' can pad one more on the bottom / right.
cpu::ConvShape conv2d_shape(const py::array& input, const py::array& weight, const Ints& stride,
                            const Ints& padding, const Ints& dilation, int64_t groups) {
  const char* op = "conv2d";
  check_hyper_parameters(op, stride, padding, 4, dilation, groups);
  const int64_t C = input.shape(1), H = input.shape(2), W = input.shape(3);
  const int64_t K = weight.shape(0), R = weight.shape(2), S = weight.shape(3);
  if (K % groups != 0)
    fail_value(op, "weight has " + std::to_string(K) + " output channels, not divisible by groups" +
                       context(input, weight, groups));
  if (C != weight.shape(1) * groups)
    fail_value(op, "input has " + std::to_string(C) + " channels but weight expects " +
                       std::to_string(weight.shape(1) * groups) + context(input, weight, groups));
  const int64_t padded_h = H + padding[0] + padding[1], padded_w = W + padding[2] + padding[3];
  const int64_t span_h = dilation[0] * (R - 1) + 1, span_w = dilation[1] * (S - 1) + 1;
  if (span_h > padded_h || span_w > padded_w)
    fail_value(op, "kernel size (dilated) " + std::to_string(span_h) + "x" + std::to_string(span_w) +
                       " is larger than the padded input " + std::to_string(padded_h) + "x" +
                       std::to_string(padded_w) + context(input, weight, groups));
  cpu::ConvShape shape;
  shape.batch = input.shape(0);
  shape.in_channels = C;
  shape.in_height = H;
  shape.in_width = W;
  shape.out_channels = K;
  shape.out_height = (padded_h - span_h) / stride[0] + 1;
  shape.out_width = (padded_w - span_w) / stride[1] + 1;
  shape.kernel_height = R;
  shape.kernel_width = S;
  shape.stride_height = stride[0];
  shape.stride_width = stride[1];
  shape.pad_top = padding[0];
  shape.pad_left = padding[2];
  shape.dilation_height = dilation[0];
  shape.dilation_width = dilation[1];
  shape.groups = groups;
  return shape;
}

// padding and output_padding: (height, width), as torch's ConvTranspose2d.
cpu::ConvTransposeShape conv_transpose2d_shape(const py::array& input, const py::array& weight, const Ints& stride,
                                               const Ints& padding, const Ints& output_padding,
                                               const Ints& dilation, int64_t groups) {
  const char* op = "conv_transpose2d";
  check_hyper_parameters(op, stride, padding, 2, dilation, groups);
  check_count(op, "output_padding", output_padding, 2);
  const int64_t C = input.shape(1), H = input.shape(2), W = input.shape(3);
  const int64_t R = weight.shape(2), S = weight.shape(3);
  if (C != weight.shape(0))
    fail_value(op, "input has " + std::to_string(C) + " channels but weight expects " +
                       std::to_string(weight.shape(0)) + context(input, weight, groups));
  if (C % groups != 0)
    fail_value(op, "input has " + std::to_string(C) + " channels, not divisible by groups" +
                       context(input, weight, groups));
  for (int i = 0; i < 2; ++i) {
    check_non_negative(op, "output_padding", output_padding[i]);
    if (output_padding[i] >= stride[i] && output_padding[i] >= dilation[i])
      fail_value(op, "output_padding " + shape_string(Shape(output_padding)) +
                         " must be smaller than either stride " + shape_string(Shape(stride)) + " or dilation " +
                         shape_string(Shape(dilation)));
  }
  const int64_t P = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (R - 1) + output_padding[0] + 1;
  const int64_t Q = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (S - 1) + output_padding[1] + 1;
  if (P <= 0 || Q <= 0)
    fail_value(op, "output size " + std::to_string(P) + "x" + std::to_string(Q) + " is not positive" +
                       context(input, weight, groups));
  cpu::ConvTransposeShape shape;
  shape.batch = input.shape(0);
  shape.in_channels = C;
  shape.in_height = H;
  shape.in_width = W;
  shape.out_channels = weight.shape(1) * groups;
  shape.out_height = P;
  shape.out_width = Q;
  shape.kernel_height = R;
  shape.kernel_width = S;
  shape.stride_height = stride[0];
  shape.stride_width = stride[1];
  shape.pad_top = padding[0];
  shape.pad_left = padding[1];
  shape.dilation_height = dilation[0];
  shape.dilation_width = dilation[1];
  shape.groups = groups;
  return shape;
}

Shape input_shape(const cpu::ConvShape& s) { return {s.batch, s.in_channels, s.in_height, s.in_width}; }
Shape output_shape(const cpu::ConvShape& s) { return {s.batch, s.out_channels, s.out_height, s.out_width}; }

void check_bias(const char* op, const std::optional<py::array>& bias, int64_t channels) {
  if (bias) check_shape(op, "bias", *bias, {channels});
}

void check_grad_output(const char* op, const py::array& input, const py::array& grad_output, const Shape& expected) {
  check_same_dtype(op, "input", input, "grad_output", grad_output);
  check_shape(op, "grad_output", grad_output, expected);
}

template <typename T>
const T* optional_data(const std::optional<py::array>& array) {
  return array ? data_of<T>(*array) : nullptr;
}

// The bodies shared by both ops once the shape rule has run: allocate, release the GIL, call the
// kernel (a generic lambda over cpu::<op>_forward / _backward_input / _backward_weight).
template <typename Kernel>
py::array run_forward(DType dtype, const cpu::ConvShape& shape, const py::array& input, const py::array& weight,
                      const std::optional<py::array>& bias, Kernel kernel) {
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T *in = data_of<T>(input), *w = data_of<T>(weight), *b = optional_data<T>(bias);
    return run_kernel_into<T>(output_shape(shape), [&](T* out) { kernel(shape, in, w, b, out); });
  });
}

template <typename Kernel>
py::array run_backward_input(DType dtype, const cpu::ConvShape& shape, const py::array& grad_output,
                             const py::array& weight, Kernel kernel) {
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T *grad = data_of<T>(grad_output), *w = data_of<T>(weight);
    return run_kernel_into<T>(input_shape(shape), [&](T* out) { kernel(shape, grad, w, out); });
  });
}

template <typename Kernel>
py::tuple run_backward_weight(DType dtype, const cpu::ConvShape& shape, const py::array& grad_output,
                              const py::array& input, const py::array& weight, bool with_bias,
                              int64_t bias_channels, Kernel kernel) {
  return dispatch_float(dtype, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto grad_weight = new_array<T>(shape_of(weight));
    auto grad_bias = new_array<T>({with_bias ? bias_channels : 0});
    const T *grad = data_of<T>(grad_output), *in = data_of<T>(input);
    T *grad_w = grad_weight.mutable_data(), *grad_b = with_bias ? grad_bias.mutable_data() : nullptr;
    {
      py::gil_scoped_release release;
      kernel(shape, grad, in, grad_w, grad_b);
    }
    return py::make_tuple(grad_weight, with_bias ? py::object(grad_bias) : py::object(py::none()));
  });
}

}  // namespace

py::array conv2d_forward(const py::array& input, const py::array& weight, const std::optional<py::array>& bias,
                         const Ints& stride, const Ints& padding, const Ints& dilation, int64_t groups) {
  const DType dtype = check_operands("conv2d", input, weight, bias);
  const cpu::ConvShape shape = conv2d_shape(input, weight, stride, padding, dilation, groups);
  check_bias("conv2d", bias, shape.out_channels);
  return run_forward(dtype, shape, input, weight, bias, [](auto&&... a) { cpu::conv2d_forward(a...); });
}

py::array conv2d_bn_forward(const py::array& input, const py::array& weight, const std::optional<py::array>& bias,
                            const py::array& running_mean, const py::array& running_var,
                            const std::optional<py::array>& bn_weight, const std::optional<py::array>& bn_bias,
                            double eps, const std::optional<py::array>& residual, const std::string& activation,
                            const Ints& stride, const Ints& padding, const Ints& dilation, int64_t groups) {
  const char* op = "conv2d_bn";
  const DType dtype = check_operands(op, input, weight, bias);
  const cpu::ConvShape shape = conv2d_shape(input, weight, stride, padding, dilation, groups);
  const int64_t K = shape.out_channels;
  check_bias(op, bias, K);
  const std::pair<const char*, const py::array*> vectors[] = {
      {"running_mean", &running_mean}, {"running_var", &running_var},
      {"bn_weight", bn_weight ? &*bn_weight : nullptr}, {"bn_bias", bn_bias ? &*bn_bias : nullptr}};
  for (const auto& [name, vector] : vectors) {
    if (vector == nullptr) continue;
    check_same_dtype(op, "input", input, name, *vector);
    check_shape(op, name, *vector, {K});
  }
  if (residual) {
    check_same_dtype(op, "input", input, "residual", *residual);
    check_shape(op, "residual", *residual, output_shape(shape));
  }
  if (!std::isfinite(eps) || eps < 0) fail_value(op, "eps must be a non-negative number, got " + std::to_string(eps));
  const cpu::NormActivation kind = norm_activation(op, activation);
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T *in = data_of<T>(input), *w = data_of<T>(weight), *b = optional_data<T>(bias);
    const T *mean = data_of<T>(running_mean), *var = data_of<T>(running_var);
    const T *gamma = optional_data<T>(bn_weight), *beta = optional_data<T>(bn_bias), *res = optional_data<T>(residual);
    return run_kernel_into<T>(output_shape(shape), [&](T* out) {
      std::vector<T> scale(K), shift(K);
      cpu::fold_batch_norm<T>(K, b, mean, var, gamma, beta, eps, scale.data(), shift.data());
      cpu::conv2d_forward<T>(shape, in, w, nullptr, out);
      cpu::batch_norm_folded<T>(scale.data(), shift.data(), res, kind, shape.batch, K,
                                shape.out_height * shape.out_width, out);
    });
  });
}

py::array conv2d_backward_input(const py::array& grad_output, const py::array& input, const py::array& weight,
                                const Ints& stride, const Ints& padding, const Ints& dilation, int64_t groups) {
  const DType dtype = check_operands("conv2d", input, weight, std::nullopt);
  const cpu::ConvShape shape = conv2d_shape(input, weight, stride, padding, dilation, groups);
  check_grad_output("conv2d", input, grad_output, output_shape(shape));
  return run_backward_input(dtype, shape, grad_output, weight,
                            [](auto&&... a) { cpu::conv2d_backward_input(a...); });
}

py::tuple conv2d_backward_weight(const py::array& grad_output, const py::array& input, const py::array& weight,
                                 const Ints& stride, const Ints& padding, const Ints& dilation, int64_t groups,
                                 bool bias) {
  const DType dtype = check_operands("conv2d", input, weight, std::nullopt);
  const cpu::ConvShape shape = conv2d_shape(input, weight, stride, padding, dilation, groups);
  check_grad_output("conv2d", input, grad_output, output_shape(shape));
  return run_backward_weight(dtype, shape, grad_output, input, weight, bias, shape.out_channels,
                             [](auto&&... a) { cpu::conv2d_backward_weight(a...); });
}

py::array conv_transpose2d_forward(const py::array& input, const py::array& weight,
                                   const std::optional<py::array>& bias, const Ints& stride, const Ints& padding,
                                   const Ints& output_padding, const Ints& dilation, int64_t groups) {
  const DType dtype = check_operands("conv_transpose2d", input, weight, bias);
  const cpu::ConvTransposeShape shape =
      conv_transpose2d_shape(input, weight, stride, padding, output_padding, dilation, groups);
  check_bias("conv_transpose2d", bias, shape.out_channels);
  return run_forward(dtype, shape, input, weight, bias, [](auto&&... a) { cpu::conv_transpose2d_forward(a...); });
}

py::array conv_transpose2d_backward_input(const py::array& grad_output, const py::array& input,
                                          const py::array& weight, const Ints& stride, const Ints& padding,
                                          const Ints& output_padding, const Ints& dilation, int64_t groups) {
  const DType dtype = check_operands("conv_transpose2d", input, weight, std::nullopt);
  const cpu::ConvTransposeShape shape =
      conv_transpose2d_shape(input, weight, stride, padding, output_padding, dilation, groups);
  check_grad_output("conv_transpose2d", input, grad_output, output_shape(shape));
  return run_backward_input(dtype, shape, grad_output, weight,
                            [](auto&&... a) { cpu::conv_transpose2d_backward_input(a...); });
}

py::tuple conv_transpose2d_backward_weight(const py::array& grad_output, const py::array& input,
                                           const py::array& weight, const Ints& stride, const Ints& padding,
                                           const Ints& output_padding, const Ints& dilation, int64_t groups,
                                           bool bias) {
  const DType dtype = check_operands("conv_transpose2d", input, weight, std::nullopt);
  const cpu::ConvTransposeShape shape =
      conv_transpose2d_shape(input, weight, stride, padding, output_padding, dilation, groups);
  check_grad_output("conv_transpose2d", input, grad_output, output_shape(shape));
  return run_backward_weight(dtype, shape, grad_output, input, weight, bias, shape.out_channels,
                             [](auto&&... a) { cpu::conv_transpose2d_backward_weight(a...); });
}

}  // namespace fastcnn::ops
