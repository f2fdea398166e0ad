#pragma once
// Loss kernels. Each forward writes one loss per element (or per position, for the class losses)
// and the op layer reduces them ('none', 'sum', 'mean'). Each backward reads the upstream
// gradient of element i at grad[i * grad_stride] * grad_scale, so one kernel serves every
// reduction: stride 1 for 'none', stride 0 (one scalar) for 'sum' and 'mean'.
#include <cstdint>

namespace fastcnn::cpu {

// Sum of `size` values, accumulated in double.
template <typename T>
double sum_of(const T* values, int64_t size);

// The first position whose label is neither in [0, classes) nor ignore_index, or -1.
int64_t first_invalid_label(const int64_t* target, int64_t size, int64_t classes, int64_t ignore_index);

// Negative log-likelihood with label smoothing over log-probabilities (N, C, S); `weight` (C) may
// be null. Writes losses (N, S) and returns the total weight of the non-ignored positions (the
// denominator of 'mean'). Labels must have been validated with first_invalid_label.
template <typename T>
double nll_loss_forward(const T* log_probs, const int64_t* target, const T* weight, T* losses, int64_t batch,
                        int64_t classes, int64_t positions, int64_t ignore_index, double label_smoothing);

template <typename T>
void nll_loss_backward(const T* grad, int64_t grad_stride, double grad_scale, const int64_t* target, const T* weight,
                       T* grad_input, int64_t batch, int64_t classes, int64_t positions, int64_t ignore_index,
                       double label_smoothing);

// losses_i = (x_i - t_i)^2.
template <typename T>
void mse_loss_forward(const T* input, const T* target, T* losses, int64_t size);

// grad_input_i = 2 (x_i - t_i) g_i (the target's gradient is its negation).
template <typename T>
void mse_loss_backward(const T* grad, int64_t grad_stride, double grad_scale, const T* input, const T* target,
                       T* grad_input, int64_t size);

// Binary cross-entropy on logits; `weight` and `pos_weight` (already broadcast to the input's
// size) may be null.
template <typename T>
void bce_with_logits_forward(const T* input, const T* target, const T* weight, const T* pos_weight, T* losses,
                             int64_t size);

// Writes the input's and, when grad_target is not null, the target's gradient.
template <typename T>
void bce_with_logits_backward(const T* grad, int64_t grad_stride, double grad_scale, const T* input, const T* target,
                              const T* weight, const T* pos_weight, T* grad_input, T* grad_target, int64_t size);

}  // namespace fastcnn::cpu
