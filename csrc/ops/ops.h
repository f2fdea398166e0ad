#pragma once
// The op layer: one entry point per op. Each validates its arguments (core/check.h), applies the
// op's shape rule, allocates the outputs, releases the GIL and calls the kernel for the array's
// device and dtype. bindings.cpp exposes exactly these functions; csrc/cpu (and later csrc/cuda)
// hold the kernels. Sections are grouped by op family, one source file per family.
#include <pybind11/numpy.h>

#include <optional>
#include <string>
#include <vector>

namespace fastcnn::ops {
namespace py = pybind11;

// --- activation (ops/activation.cpp) ---
// name: relu, relu6, leaky_relu, sigmoid, tanh, gelu, gelu_tanh, silu; parameter: leaky_relu's slope.
py::array activation_forward(const std::string& name, const py::array& input, double parameter);
py::array activation_backward(const std::string& name, const py::array& grad_output, const py::array& input,
                              double parameter);

// --- linear algebra (ops/linalg.cpp) ---
// Batched matrix product of 3-D arrays, optionally transposing either operand's last two dims.
py::array bmm(const py::array& a, const py::array& b, bool transpose_a, bool transpose_b);

// --- convolution (ops/conv.cpp) ---
// conv2d: padding is (top, bottom, left, right); stride and dilation (height, width). The
// backward entry points take the forward's input and weight to re-run the shape rule;
// *_backward_weight returns (grad_weight, grad_bias or None).
py::array conv2d_forward(const py::array& input, const py::array& weight, const std::optional<py::array>& bias,
                         const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                         const std::vector<int64_t>& dilation, int64_t groups);
py::array conv2d_backward_input(const py::array& grad_output, const py::array& input, const py::array& weight,
                                const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                                const std::vector<int64_t>& dilation, int64_t groups);
py::tuple conv2d_backward_weight(const py::array& grad_output, const py::array& input, const py::array& weight,
                                 const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                                 const std::vector<int64_t>& dilation, int64_t groups, bool bias);
// conv_transpose2d: padding and output_padding are (height, width); weight (C_in, C_out / groups, R, S).
py::array conv_transpose2d_forward(const py::array& input, const py::array& weight,
                                   const std::optional<py::array>& bias, const std::vector<int64_t>& stride,
                                   const std::vector<int64_t>& padding, const std::vector<int64_t>& output_padding,
                                   const std::vector<int64_t>& dilation, int64_t groups);
py::array conv_transpose2d_backward_input(const py::array& grad_output, const py::array& input,
                                          const py::array& weight, const std::vector<int64_t>& stride,
                                          const std::vector<int64_t>& padding,
                                          const std::vector<int64_t>& output_padding,
                                          const std::vector<int64_t>& dilation, int64_t groups);
py::tuple conv_transpose2d_backward_weight(const py::array& grad_output, const py::array& input,
                                           const py::array& weight, const std::vector<int64_t>& stride,
                                           const std::vector<int64_t>& padding,
                                           const std::vector<int64_t>& output_padding,
                                           const std::vector<int64_t>& dilation, int64_t groups, bool bias);

// --- pooling (ops/pool.cpp) ---

// --- normalisation and dropout (ops/norm.cpp, ops/dropout.cpp) ---

// --- softmax and losses (ops/softmax.cpp, ops/loss.cpp) ---

}  // namespace fastcnn::ops
