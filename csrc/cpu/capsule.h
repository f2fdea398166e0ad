#pragma once
// Capsule kernels (Sabour et al. 2017): the squash non-linearity, dynamic routing and the margin
// loss, on contiguous buffers. Layouts are given in the comment of each function.
#include <cstdint>

namespace fastcnn::cpu {

// input/output (N, D, S): N * S capsule vectors of D components each, the components S apart
// (squash over dim d of any tensor: N = product of the dims before d, S = product after).
template <typename T>
void squash_forward(const T* input, T* output, int64_t N, int64_t D, int64_t S, T eps);

// grad_input = (dv/ds)^T grad_output for every capsule vector, recomputed from the input.
template <typename T>
void squash_backward_input(const T* grad_output, const T* input, T* grad_input, int64_t N, int64_t D, int64_t S,
                           T eps);

// predictions u_hat (N, I, J, D): batch, in capsules, out capsules, out dim. Runs routing by
// agreement and writes the coupling coefficients c (N, I, J) of the last iteration: iterations - 1
// rounds of c = softmax_j(b), v = squash(sum_i c u_hat), b += u_hat . v, then one softmax.
template <typename T>
void routing_coupling(const T* predictions, T* coupling, int64_t N, int64_t I, int64_t J, int64_t D,
                      int64_t iterations);

// s (N, J, D) = sum_i c (N, I, J) u_hat (N, I, J, D), the weighted sum of the predictions.
template <typename T>
void routing_weighted_sum_forward(const T* predictions, const T* coupling, T* output, int64_t N, int64_t I,
                                  int64_t J, int64_t D);

// grad u_hat (N, I, J, D) = c (N, I, J) * grad s (N, J, D); c is a constant for autograd.
template <typename T>
void routing_weighted_sum_backward_input(const T* grad_output, const T* coupling, T* grad_predictions, int64_t N,
                                         int64_t I, int64_t J, int64_t D);

// lengths (N, K), target (N,) class indices already checked to lie in [0, K); losses (N,).
template <typename T>
void margin_loss_forward(const T* lengths, const int64_t* target, T* losses, int64_t N, int64_t K, T m_plus,
                         T m_minus, T lambda);

// grad_losses (N,): the gradient of each sample's loss; grad_lengths (N, K).
template <typename T>
void margin_loss_backward_input(const T* grad_losses, const T* lengths, const int64_t* target, T* grad_lengths,
                                int64_t N, int64_t K, T m_plus, T m_minus, T lambda);

}  // namespace fastcnn::cpu
