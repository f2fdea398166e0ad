#pragma once
// Capsule kernels (Sabour et al. 2017): the squash non-linearity and the margin loss, forward and
// backward, on contiguous buffers. Layouts are given in the comment of each function.
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

// lengths (N, K), target (N,) class indices already checked to lie in [0, K); losses (N,).
template <typename T>
void margin_loss_forward(const T* lengths, const int64_t* target, T* losses, int64_t N, int64_t K, T m_plus,
                         T m_minus, T lambda);

// grad_losses (N,): the gradient of each sample's loss; grad_lengths (N, K).
template <typename T>
void margin_loss_backward_input(const T* grad_losses, const T* lengths, const int64_t* target, T* grad_lengths,
                                int64_t N, int64_t K, T m_plus, T m_minus, T lambda);

}  // namespace fastcnn::cpu
