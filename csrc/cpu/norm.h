#pragma once
// Batch normalisation kernels on contiguous (N, C, S) buffers: S is the product of the spatial
// dims (1 for (N, C) inputs), so (N, C), (N, C, L) and (N, C, H, W) share every kernel.
#include <cstdint>

#include "cpu/isa/norm_table.h"

namespace fastcnn::cpu {

// An activation fused after the batch norm: y = act(bn(x) + residual).
using NormActivation = isa::NormMask;

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

// output = act((input - mean) invstd weight + bias + residual); weight, bias and residual may be
// null (1, 0, 0).
template <typename T>
void batch_norm_forward(const T* input, const T* mean, const T* invstd, const T* weight, const T* bias, int64_t N,
                        int64_t C, int64_t S, T* output, const T* residual = nullptr,
                        NormActivation activation = NormActivation::none);

// All the gradients in one kernel; any output may be null when not needed. training selects the
// batch-statistics derivative (mean and invstd depend on the input) over the affine one. With a
// fused activation, `output` is the forward's y and grad_output is masked by act'(y) first;
// grad_residual receives that masked gradient.
template <typename T>
void batch_norm_backward(const T* grad_output, const T* input, const T* mean, const T* invstd, const T* weight,
                         bool training, int64_t N, int64_t C, int64_t S, T* grad_input, T* grad_weight, T* grad_bias,
                         const T* output = nullptr, NormActivation activation = NormActivation::none,
                         T* grad_residual = nullptr);

// Inference after a convolution: scale[c] = gamma[c] / sqrt(var[c] + eps) and
// shift[c] = beta[c] + (conv_bias[c] - mean[c]) scale[c] (null gamma, beta, conv_bias: 1, 0, 0),
// then inout = act(inout scale + shift + residual) in place (residual may be null).
template <typename T>
void fold_batch_norm(int64_t C, const T* conv_bias, const T* mean, const T* var, const T* gamma, const T* beta,
                     double eps, T* scale, T* shift);
template <typename T>
void batch_norm_folded(const T* scale, const T* shift, const T* residual, NormActivation activation, int64_t N,
                       int64_t C, int64_t S, T* inout);

}  // namespace fastcnn::cpu
