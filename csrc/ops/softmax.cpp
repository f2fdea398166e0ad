#include "core/check.h"
#include "cpu/softmax.h"
#include "ops/ops.h"

namespace fastcnn::ops {

namespace {

struct SoftmaxView {
  int64_t outer = 1, dim = 1, inner = 1;
};

// The (outer, dim, inner) view of `input` around `dim` (negative dims count from the end; a 0-d
// tensor is one element, as in torch).
SoftmaxView softmax_view(const char* op, const py::array& input, int64_t dim) {
  const int64_t rank = input.ndim();
  const int64_t span = rank == 0 ? 1 : rank;
  if (dim < -span || dim >= span)
    fail_value(op, "dim " + std::to_string(dim) + " is out of range for a " + std::to_string(rank) +
                       "-D tensor (input " + shape_string(input) + ")");
  SoftmaxView view;
  if (rank == 0) return view;
  if (dim < 0) dim += rank;
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t extent = input.shape(i);
    if (i < dim) view.outer *= extent;
    else if (i == dim) view.dim = extent;
    else view.inner *= extent;
  }
  return view;
}

}  // namespace

py::array softmax_forward(const py::array& input, int64_t dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  const DType dtype = check_float(op, "input", input);
  const SoftmaxView view = softmax_view(op, input, dim);
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* in = data_of<T>(input);
    return run_kernel_into<T>(shape_of(input), [&](T* out) {
      cpu::softmax_forward<T>(in, out, view.outer, view.dim, view.inner, log);
    });
  });
}

py::array softmax_backward(const py::array& grad_output, const py::array& output, int64_t dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  const DType dtype = check_float(op, "output", output);
  check_same_dtype(op, "output", output, "grad_output", grad_output);
  check_shape(op, "grad_output", grad_output, shape_of(output));
  const SoftmaxView view = softmax_view(op, output, dim);
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto grad_input = new_array<T>(shape_of(output));
    const T* grad = data_of<T>(grad_output);
    const T* out = data_of<T>(output);
    T* result = grad_input.mutable_data();
    py::gil_scoped_release release;
    cpu::softmax_backward_input<T>(grad, out, result, view.outer, view.dim, view.inner, log);
    return grad_input;
  });
}

}  // namespace fastcnn::ops
