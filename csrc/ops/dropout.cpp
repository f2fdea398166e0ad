#include <string>

#include "core/check.h"
#include "cpu/dropout.h"
#include "ops/ops.h"

namespace fastcnn::ops {

namespace {

// Validates and runs one masking kernel over `input` (the forward input or the gradient).
template <typename Kernel>
py::array masked(const char* name, const py::array& input, double p, uint64_t seed, bool channelwise,
                 Kernel kernel) {
  const char* op = channelwise ? "dropout2d" : "dropout";
  const DType dtype = check_float(op, name, input);
  if (!(p >= 0 && p <= 1)) fail_value(op, "p must be in [0, 1], got " + std::to_string(p));
  if (channelwise) check_ndim(op, name, input, {3, 4});
  const int64_t size = input.size();
  const int64_t block_size = channelwise ? input.shape(input.ndim() - 2) * input.shape(input.ndim() - 1) : 1;
  const int64_t blocks = block_size > 0 ? size / block_size : 0;
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* in = data_of<T>(input);
    return run_kernel_into<T>(shape_of(input), [&](T* out) { kernel(in, out, blocks, block_size, p, seed, tag); });
  });
}

}  // namespace

py::array dropout_forward(const py::array& input, double p, uint64_t seed, bool channelwise) {
  return masked("input", input, p, seed, channelwise, [](auto in, auto out, int64_t blocks, int64_t block_size,
                                                         double p, uint64_t seed, auto tag) {
    cpu::dropout_forward<decltype(tag)>(in, out, blocks, block_size, p, seed);
  });
}

py::array dropout_backward(const py::array& grad_output, double p, uint64_t seed, bool channelwise) {
  return masked("grad_output", grad_output, p, seed, channelwise, [](auto in, auto out, int64_t blocks,
                                                                     int64_t block_size, double p, uint64_t seed,
                                                                     auto tag) {
    cpu::dropout_backward_input<decltype(tag)>(in, out, blocks, block_size, p, seed);
  });
}

}  // namespace fastcnn::ops
