#pragma once
// The op layer: one entry point per op. Each validates its arguments (core/check.h), applies the
// op's shape rule, allocates the outputs, releases the GIL and calls the kernel for the array's
// device and dtype. bindings.cpp exposes exactly these functions; csrc/cpu (and later csrc/cuda)
// hold the kernels. Sections are grouped by op family, one source file per family.
#include <pybind11/numpy.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "cpu/norm.h"

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
// Inference only (no backward): act(bn(conv2d(input) + bias) + residual) with the batch norm's
// running statistics, in one pass; activation is "none", "relu" or "relu6"; bias, bn_weight,
// bn_bias and residual may be None.
py::array conv2d_bn_forward(const py::array& input, const py::array& weight, const std::optional<py::array>& bias,
                            const py::array& running_mean, const py::array& running_var,
                            const std::optional<py::array>& bn_weight, const std::optional<py::array>& bn_bias,
                            double eps, const std::optional<py::array>& residual, const std::string& activation,
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
// input (N, C, H, W) or (C, H, W); pairs are (height, width). Shape rule and argument rules as
// torch: stride > 0, padding <= kernel_size / 2, ceil_mode windows start inside the input or the
// left padding. Max pooling returns (output, indices or None): indices (int64, flat into H*W) only
// when with_indices, since inference needs none. Backward entries take the forward input's shape.
using PoolPair = std::array<int64_t, 2>;
py::tuple max_pool2d_forward(const py::array& input, PoolPair kernel_size, PoolPair stride, PoolPair padding,
                             PoolPair dilation, bool ceil_mode, bool with_indices);
// Shared by max_pool2d and adaptive_max_pool2d: scatters grad_output to the saved argmax.
py::array max_pool2d_backward(const py::array& grad_output, const py::array& indices,
                              const std::vector<int64_t>& input_shape);
py::array avg_pool2d_forward(const py::array& input, PoolPair kernel_size, PoolPair stride, PoolPair padding,
                             bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override);
py::array avg_pool2d_backward(const py::array& grad_output, const std::vector<int64_t>& input_shape,
                              PoolPair kernel_size, PoolPair stride, PoolPair padding, bool ceil_mode,
                              bool count_include_pad, std::optional<int64_t> divisor_override);
py::array adaptive_avg_pool2d_forward(const py::array& input, PoolPair output_size);
py::array adaptive_avg_pool2d_backward(const py::array& grad_output, const std::vector<int64_t>& input_shape);
py::tuple adaptive_max_pool2d_forward(const py::array& input, PoolPair output_size, bool with_indices);

// --- normalisation and dropout (ops/norm.cpp, ops/dropout.cpp) ---
// input (N, C, *). Training normalises with the batch statistics and updates running_mean and
// running_var in place when given; eval normalises with them. Fused with what usually follows:
// output = act(bn(input) + residual), activation "none", "relu" or "relu6", residual optional.
// Returns (output, save_mean, save_invstd): the statistics the backward needs.
py::tuple batch_norm_forward(const py::array& input, std::optional<py::array> running_mean,
                             std::optional<py::array> running_var, std::optional<py::array> weight,
                             std::optional<py::array> bias, bool training, double momentum, double eps,
                             const std::optional<py::array>& residual, const std::string& activation);
// Returns (grad_input, grad_weight, grad_bias, grad_residual), each None unless requested; with an
// activation, output is the forward's output (its derivative mask).
py::tuple batch_norm_backward(const py::array& grad_output, const py::array& input, const py::array& save_mean,
                              const py::array& save_invstd, std::optional<py::array> weight, bool training,
                              bool need_input, bool need_weight, bool need_bias, const std::optional<py::array>& output,
                              const std::string& activation, bool need_residual);
// The activation names the fused batch-norm entry points take (conv2d_bn_forward too).
cpu::NormActivation norm_activation(const char* op, const std::string& name);
// Inverted dropout with the mask drawn from seed; channelwise is dropout2d (input (N, C, H, W) or
// (C, H, W), whole H*W planes dropped). The backward recomputes the forward's mask from seed.
py::array dropout_forward(const py::array& input, double p, uint64_t seed, bool channelwise);
py::array dropout_backward(const py::array& grad_output, double p, uint64_t seed, bool channelwise);

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

// --- attention (ops/attention.cpp) ---
// Fused softmax(query key^T * scale + mask) value over query (B, L, E), key (B, S, E) and value
// (B, S, Ev), B being every batch dim flattened; mask None or additive (M, L, S), M dividing B:
// batch item n uses mask n / (B / M) (one mask for all, one per item, one per item's heads);
// is_causal: query i sees keys j <= i (not together with a mask). Returns (output (B, L, Ev),
// log_sum_exp (B, L)); a query with no visible key gets output 0. The backward takes both and
// returns (grad_query, grad_key, grad_value, grad_mask (B, L, S) when mask_grad, else None).
py::tuple scaled_dot_product_attention_forward(const py::array& query, const py::array& key, const py::array& value,
                                               const std::optional<py::array>& mask, double scale, bool is_causal);
py::tuple scaled_dot_product_attention_backward(const py::array& grad_output, const py::array& query,
                                                const py::array& key, const py::array& value,
                                                const std::optional<py::array>& mask, const py::array& output,
                                                const py::array& log_sum_exp, double scale, bool is_causal,
                                                bool mask_grad);

// --- machine peak (ops/peak.cpp) ---
// fp32 FMA GFLOP/s and STREAM-triad GB/s of this machine on every OpenMP thread (cpu/peak.h).
double measure_fma_peak(double seconds);
double measure_stream_bandwidth(int64_t bytes, double seconds);

// --- recurrent (ops/recurrent.cpp) ---
// ConvLSTM gate math after the cell's convolution: gates (N, 4K, H, W) in the order input, forget,
// cell, output; cell (N, K, H, W); peephole (3, K, H, W) or None. Returns the state
// (2, N, K, H, W) = stack(H', C'); the backward returns (grad_gates, grad_cell, grad_peephole or None).
py::array convlstm_gates_forward(const py::array& gates, const py::array& cell,
                                 const std::optional<py::array>& peephole);
py::tuple convlstm_gates_backward(const py::array& gates, const py::array& cell,
                                  const std::optional<py::array>& peephole, const py::array& grad_state);

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

// --- elementwise (ops/elementwise.cpp) ---
// name: add, sub, mul; a and b of one float dtype and one shape (broadcasting stays in NumPy).
py::array binary_forward(const std::string& name, const py::array& a, const py::array& b);
// total += addend in place (one float dtype and shape; total writeable): the autograd engine's
// sum of two gradients of one tensor.
void add_into(py::array& total, const py::array& addend);

}  // namespace fastcnn::ops
