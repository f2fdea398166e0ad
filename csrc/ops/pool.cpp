#include <algorithm>
#include <limits>
#include <string>

#include "core/check.h"
#include "cpu/pool.h"
#include "ops/ops.h"

namespace fastcnn::ops {

namespace {

std::string pair_string(PoolPair p) { return "(" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ")"; }

// Pooling takes (N, C, H, W) or unbatched (C, H, W) inputs with no empty dimension.
void check_pool_shape(const char* op, const char* name, const Shape& shape) {
  if (shape.size() != 3 && shape.size() != 4)
    fail_value(op, std::string(name) + " must be 3-D or 4-D, got " + std::to_string(shape.size()) + "-D (" + name +
                       " " + shape_string(shape) + ")");
  for (int64_t d : shape)
    if (d <= 0) fail_value(op, std::string(name) + " is empty (" + name + " " + shape_string(shape) + ")");
}

DType check_pool_input(const char* op, const py::array& input) {
  const DType dtype = check_float(op, "input", input);
  check_pool_shape(op, "input", shape_of(input));
  return dtype;
}

// torch's pooling_output_shape: floor (or ceil) of the window count, where with ceil_mode the
// last window must start inside the input or the left padding.
int64_t pooled_size(int64_t size, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode) {
  const int64_t span = size + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
  if (ceil_mode && out > 0 && (out - 1) * stride >= size + pad) --out;
  return out;
}

cpu::PoolGeometry pool_geometry(const char* op, const Shape& input_shape, PoolPair kernel, PoolPair stride,
                                PoolPair padding, PoolPair dilation, bool ceil_mode) {
  for (int i = 0; i < 2; ++i) {
    check_positive(op, "kernel_size", kernel[i]);
    check_positive(op, "stride", stride[i]);
    check_positive(op, "dilation", dilation[i]);
    check_non_negative(op, "padding", padding[i]);
    // Bounded so that no window arithmetic (products of two of these) can overflow int64.
    for (int64_t value : {kernel[i], stride[i], dilation[i], padding[i]})
      if (value > std::numeric_limits<int32_t>::max())
        fail_value(op, "window arguments must be below 2^31 (kernel_size " + pair_string(kernel) + ", stride " +
                           pair_string(stride) + ", padding " + pair_string(padding) + ", dilation " +
                           pair_string(dilation) + ")");
    if (padding[i] > kernel[i] / 2)
      fail_value(op, "padding " + pair_string(padding) + " must be at most half of kernel_size " +
                         pair_string(kernel) + " (input " + shape_string(input_shape) + ")");
  }
  const size_t rank = input_shape.size();
  cpu::PoolGeometry g;
  g.height = input_shape[rank - 2];
  g.width = input_shape[rank - 1];
  g.planes = rank == 4 ? input_shape[0] * input_shape[1] : input_shape[0];
  g.kernel_h = kernel[0], g.kernel_w = kernel[1];
  g.stride_h = stride[0], g.stride_w = stride[1];
  g.pad_h = padding[0], g.pad_w = padding[1];
  g.dilation_h = dilation[0], g.dilation_w = dilation[1];
  g.out_height = pooled_size(g.height, g.kernel_h, g.stride_h, g.pad_h, g.dilation_h, ceil_mode);
  g.out_width = pooled_size(g.width, g.kernel_w, g.stride_w, g.pad_w, g.dilation_w, ceil_mode);
  if (g.out_height < 1 || g.out_width < 1)
    fail_value(op, "kernel_size " + pair_string(kernel) + " with dilation " + pair_string(dilation) +
                       " is larger than the padded input (input " + shape_string(input_shape) + ", padding " +
                       pair_string(padding) + ")");
  return g;
}

cpu::PoolGeometry adaptive_geometry(const char* op, const Shape& input_shape, PoolPair output_size) {
  check_positive(op, "output_size", output_size[0]);
  check_positive(op, "output_size", output_size[1]);
  const size_t rank = input_shape.size();
  cpu::PoolGeometry g;
  g.height = input_shape[rank - 2];
  g.width = input_shape[rank - 1];
  g.planes = rank == 4 ? input_shape[0] * input_shape[1] : input_shape[0];
  g.out_height = output_size[0];
  g.out_width = output_size[1];
  return g;
}

Shape pooled_shape(const Shape& input_shape, const cpu::PoolGeometry& g) {
  Shape shape = input_shape;
  shape[shape.size() - 2] = g.out_height;
  shape[shape.size() - 1] = g.out_width;
  return shape;
}

// grad_output: float, with the shape the forward produced; returns its dtype.
DType check_pool_grad(const char* op, const py::array& grad_output, const Shape& expected) {
  const DType dtype = check_float(op, "grad_output", grad_output);
  check_shape(op, "grad_output", grad_output, expected);
  return dtype;
}

// A backward entry's input_shape: 3-D or 4-D, positive; returned as a Shape.
Shape checked_input_shape(const char* op, const std::vector<int64_t>& input_shape) {
  Shape shape(input_shape.begin(), input_shape.end());
  check_pool_shape(op, "input_shape", shape);
  return shape;
}

int64_t divisor_or_none(const char* op, std::optional<int64_t> divisor_override) {
  if (!divisor_override) return 0;
  check_positive(op, "divisor_override", *divisor_override);
  return *divisor_override;
}

template <typename T, typename Kernel>
py::tuple pooled_with_indices(const py::array& input, const cpu::PoolGeometry& g, bool with_indices, Kernel kernel) {
  const Shape out_shape = pooled_shape(shape_of(input), g);
  auto output = new_array<T>(out_shape);
  py::object indices = py::none();
  int64_t* index_data = nullptr;
  if (with_indices) {
    auto index_array = new_array<int64_t>(out_shape);
    index_data = index_array.mutable_data();
    indices = index_array;
  }
  const T* in = data_of<T>(input);
  T* out = output.mutable_data();
  {
    py::gil_scoped_release release;
    kernel(g, in, out, index_data);
  }
  return py::make_tuple(output, indices);
}

}  // namespace

py::tuple max_pool2d_forward(const py::array& input, PoolPair kernel_size, PoolPair stride, PoolPair padding,
                             PoolPair dilation, bool ceil_mode, bool with_indices) {
  const char* op = "max_pool2d";
  const DType dtype = check_pool_input(op, input);
  const cpu::PoolGeometry g = pool_geometry(op, shape_of(input), kernel_size, stride, padding, dilation, ceil_mode);
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    return pooled_with_indices<T>(input, g, with_indices, cpu::max_pool2d_forward<T>);
  });
}

py::tuple adaptive_max_pool2d_forward(const py::array& input, PoolPair output_size, bool with_indices) {
  const char* op = "adaptive_max_pool2d";
  const DType dtype = check_pool_input(op, input);
  const cpu::PoolGeometry g = adaptive_geometry(op, shape_of(input), output_size);
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    return pooled_with_indices<T>(input, g, with_indices, cpu::adaptive_max_pool2d_forward<T>);
  });
}

py::array max_pool2d_backward(const py::array& grad_output, const py::array& indices,
                              const std::vector<int64_t>& input_shape) {
  const char* op = "max_pool2d_backward";
  const Shape shape = checked_input_shape(op, input_shape);
  const DType dtype = check_float(op, "grad_output", grad_output);
  check_pool_shape(op, "grad_output", shape_of(grad_output));
  check_int64(op, "indices", indices);
  check_shape(op, "indices", indices, shape_of(grad_output));
  const size_t rank = shape.size();
  if (grad_output.ndim() != static_cast<py::ssize_t>(rank) ||
      !std::equal(shape.begin(), shape.end() - 2, grad_output.shape()))
    fail_value(op, "grad_output must keep the leading dims of input_shape (grad_output " +
                       shape_string(grad_output) + ", input_shape " + shape_string(shape) + ")");
  const int64_t planes = rank == 4 ? shape[0] * shape[1] : shape[0];
  const int64_t input_plane = shape[rank - 2] * shape[rank - 1];
  const int64_t output_plane = grad_output.shape(rank - 2) * grad_output.shape(rank - 1);
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* grad = data_of<T>(grad_output);
    const int64_t* index = data_of<int64_t>(indices);
    return run_kernel_into<T>(shape, [&](T* out) {
      cpu::max_pool2d_backward_input<T>(planes, input_plane, output_plane, grad, index, out);
    });
  });
}

py::array avg_pool2d_forward(const py::array& input, PoolPair kernel_size, PoolPair stride, PoolPair padding,
                             bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d";
  const DType dtype = check_pool_input(op, input);
  const cpu::PoolGeometry g = pool_geometry(op, shape_of(input), kernel_size, stride, padding, {1, 1}, ceil_mode);
  const int64_t divisor = divisor_or_none(op, divisor_override);
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* in = data_of<T>(input);
    return run_kernel_into<T>(pooled_shape(shape_of(input), g), [&](T* out) {
      cpu::avg_pool2d_forward<T>(g, count_include_pad, divisor, in, out);
    });
  });
}

py::array avg_pool2d_backward(const py::array& grad_output, const std::vector<int64_t>& input_shape,
                              PoolPair kernel_size, PoolPair stride, PoolPair padding, bool ceil_mode,
                              bool count_include_pad, std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d_backward";
  const Shape shape = checked_input_shape(op, input_shape);
  const cpu::PoolGeometry g = pool_geometry(op, shape, kernel_size, stride, padding, {1, 1}, ceil_mode);
  const int64_t divisor = divisor_or_none(op, divisor_override);
  const DType dtype = check_pool_grad(op, grad_output, pooled_shape(shape, g));
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* grad = data_of<T>(grad_output);
    return run_kernel_into<T>(shape, [&](T* out) {
      cpu::avg_pool2d_backward_input<T>(g, count_include_pad, divisor, grad, out);
    });
  });
}

py::array adaptive_avg_pool2d_forward(const py::array& input, PoolPair output_size) {
  const char* op = "adaptive_avg_pool2d";
  const DType dtype = check_pool_input(op, input);
  const cpu::PoolGeometry g = adaptive_geometry(op, shape_of(input), output_size);
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* in = data_of<T>(input);
    return run_kernel_into<T>(pooled_shape(shape_of(input), g), [&](T* out) {
      cpu::adaptive_avg_pool2d_forward<T>(g, in, out);
    });
  });
}

py::array adaptive_avg_pool2d_backward(const py::array& grad_output, const std::vector<int64_t>& input_shape) {
  const char* op = "adaptive_avg_pool2d_backward";
  const Shape shape = checked_input_shape(op, input_shape);
  check_pool_shape(op, "grad_output", shape_of(grad_output));
  const size_t rank = shape.size();
  if (grad_output.ndim() != static_cast<py::ssize_t>(rank))
    fail_value(op, "grad_output must have the rank of input_shape (grad_output " + shape_string(grad_output) +
                       ", input_shape " + shape_string(shape) + ")");
  const cpu::PoolGeometry g =
      adaptive_geometry(op, shape, {grad_output.shape(rank - 2), grad_output.shape(rank - 1)});
  const DType dtype = check_pool_grad(op, grad_output, pooled_shape(shape, g));
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* grad = data_of<T>(grad_output);
    return run_kernel_into<T>(shape, [&](T* out) { cpu::adaptive_avg_pool2d_backward_input<T>(g, grad, out); });
  });
}

}  // namespace fastcnn::ops
