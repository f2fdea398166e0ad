#pragma once
// The per-channel epilogue of an inference-time convolution followed by a frozen batch norm, a
// residual add and a clamping activation (relu = [0, inf), relu6 = [0, 6], none = all reals):
//   out[n][k][i] = clamp(out[n][k][i] * scale[k] + shift[k] + residual[n][k][i], low, high)
// with the batch norm folded into scale and shift (fold_batch_norm). Applied in place.
#include <cstdint>

namespace fastcnn::cpu {

// scale[k] = gamma[k] / sqrt(var[k] + eps), shift[k] = beta[k] + (conv_bias[k] - mean[k]) * scale[k];
// gamma = 1, beta = 0 and conv_bias = 0 where the pointer is null.
template <typename T>
void fold_batch_norm(int64_t channels, const T* conv_bias, const T* mean, const T* var, const T* gamma,
                     const T* beta, double eps, T* scale, T* shift);

// residual may be null.
template <typename T>
void channel_affine_clamp(int64_t batch, int64_t channels, int64_t plane, const T* scale, const T* shift,
                          const T* residual, T low, T high, T* out);

}  // namespace fastcnn::cpu
