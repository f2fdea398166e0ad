#pragma once
// Batch normalisation kernels on contiguous (N, C, S) buffers: S is the product of the spatial
// dims (1 for (N, C) inputs), so (N, C), (N, C, L) and (N, C, H, W) share every kernel.
#include <cstdint>

namespace fastcnn::cpu {

// Per-channel batch mean and biased variance over the N * S values of each channel.
template <typename T>
void batch_norm_statistics(const T* input, int64_t N, int64_t C, int64_t S, T* mean, T* variance);

// running = (1 - momentum) running + momentum batch, with the unbiased variance
// (variance * count / (count - 1), count = N * S > 1) as torch.
template <typename T>
void batch_norm_update_running_stats(const T* mean, const T* variance, int64_t C, int64_t count, double momentum,
                                     T* running_mean, T* running_var);

// invstd = 1 / sqrt(variance + eps)
template <typename T>
void batch_norm_invstd(const T* variance, int64_t C, double eps, T* invstd);

// output = (input - mean) invstd weight + bias; weight and bias may be null (1 and 0).
template <typename T>
void batch_norm_forward(const T* input, const T* mean, const T* invstd, const T* weight, const T* bias, int64_t N,
                        int64_t C, int64_t S, T* output);

// All three gradients in one kernel; any output may be null when not needed. training selects
// the batch-statistics derivative (mean and invstd depend on the input) over the affine one.
template <typename T>
void batch_norm_backward(const T* grad_output, const T* input, const T* mean, const T* invstd, const T* weight,
                         bool training, int64_t N, int64_t C, int64_t S, T* grad_input, T* grad_weight, T* grad_bias);

}  // namespace fastcnn::cpu
