#pragma once
// The op layer: one entry point per op. Each validates its arguments (core/check.h), applies the
// op's shape rule, allocates the outputs, releases the GIL and calls the kernel for the array's
// device and dtype. bindings.cpp exposes exactly these functions; csrc/cpu (and later csrc/cuda)
// hold the kernels. Sections are grouped by op family, one source file per family.
#include <pybind11/numpy.h>

#include <optional>
#include <string>

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

// --- pooling (ops/pool.cpp) ---

// --- normalisation and dropout (ops/norm.cpp, ops/dropout.cpp) ---

// --- softmax and losses (ops/softmax.cpp, ops/loss.cpp) ---

// --- recurrent (ops/recurrent.cpp) ---
// ConvLSTM gate math after the cell's convolution: gates (N, 4K, H, W) in the order input, forget,
// cell, output; cell (N, K, H, W); peephole (3, K, H, W) or None. Returns the state
// (2, N, K, H, W) = stack(H', C'); the backward returns (grad_gates, grad_cell, grad_peephole or None).
py::array convlstm_gates_forward(const py::array& gates, const py::array& cell,
                                 const std::optional<py::array>& peephole);
py::tuple convlstm_gates_backward(const py::array& gates, const py::array& cell,
                                  const std::optional<py::array>& peephole, const py::array& grad_state);

}  // namespace fastcnn::ops
