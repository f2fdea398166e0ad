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

// --- capsules (ops/capsule.cpp) ---
// squash over `dim` (negative counts from the end); eps > 0 keeps the gradient finite at 0.
py::array squash_forward(const py::array& input, int64_t dim, double eps);
py::array squash_backward(const py::array& grad_output, const py::array& input, int64_t dim, double eps);
// predictions u_hat (N, I, J, D) -> coupling coefficients (N, I, J) after `iterations` of
// routing by agreement; the weighted sum s (N, J, D) = sum_i c u_hat and its gradient wrt u_hat.
py::array routing_coupling(const py::array& predictions, int64_t iterations);
py::array routing_weighted_sum_forward(const py::array& predictions, const py::array& coupling);
py::array routing_weighted_sum_backward(const py::array& grad_output, const py::array& predictions,
                                        const py::array& coupling);
// lengths (N, K), target (N,) int64 class indices -> per-sample margin losses (N,).
py::array margin_loss_forward(const py::array& lengths, const py::array& target, double m_plus, double m_minus,
                              double lambda);
py::array margin_loss_backward(const py::array& grad_losses, const py::array& lengths, const py::array& target,
                               double m_plus, double m_minus, double lambda);

}  // namespace fastcnn::ops
