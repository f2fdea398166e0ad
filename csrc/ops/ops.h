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
// softmax (log=false) or log_softmax (log=true) over `dim`; the backward takes the forward's output.
py::array softmax_forward(const py::array& input, int64_t dim, bool log);
py::array softmax_backward(const py::array& grad_output, const py::array& output, int64_t dim, bool log);
// Losses; reduction is 'none', 'mean' or 'sum'. nll_loss takes log-probabilities (C), (N, C) or
// (N, C, d1, ...) with int64 labels and returns (loss, total weight); the backward needs that total.
py::tuple nll_loss_forward(const py::array& input, const py::array& target, const std::optional<py::array>& weight,
                           int64_t ignore_index, const std::string& reduction, double label_smoothing);
py::array nll_loss_backward(const py::array& grad_output, const py::array& input, const py::array& target,
                            const std::optional<py::array>& weight, int64_t ignore_index,
                            const std::string& reduction, double label_smoothing, double total_weight);
py::array mse_loss_forward(const py::array& input, const py::array& target, const std::string& reduction);
// The input's gradient; the target's is its negation.
py::array mse_loss_backward(const py::array& grad_output, const py::array& input, const py::array& target,
                            const std::string& reduction);
// weight and pos_weight, when given, are already broadcast to the input's shape.
py::array bce_with_logits_forward(const py::array& input, const py::array& target,
                                  const std::optional<py::array>& weight, const std::optional<py::array>& pos_weight,
                                  const std::string& reduction);
// (grad_input, grad_target).
py::tuple bce_with_logits_backward(const py::array& grad_output, const py::array& input, const py::array& target,
                                   const std::optional<py::array>& weight,
                                   const std::optional<py::array>& pos_weight, const std::string& reduction);

}  // namespace fastcnn::ops
