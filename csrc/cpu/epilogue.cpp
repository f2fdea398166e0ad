// Inference epilogue of conv -> batch norm (running statistics) -> + residual -> relu / relu6.
// Letters: N batch, K channels, plane = the H * W values of one channel. Formulas (seed,
// "Batch Normalization" with the running statistics, "Residual Connections", "Activation
// Functions"):
//   bn(z) = gamma (z - mean) / sqrt(var + eps) + beta,  z = conv(x) + b
//         = conv(x) * scale + shift,  scale = gamma / sqrt(var + eps),  shift = beta + (b - mean) * scale
//   out = act(bn(z) + residual),  relu(v) = clamp(v, 0, inf),  relu6(v) = clamp(v, 0, 6)
// Inference only: nothing is saved for a backward pass.
#include "cpu/epilogue.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"

namespace fastcnn::cpu {

template <typename T>
void fold_batch_norm(int64_t channels, const T* conv_bias, const T* mean, const T* var, const T* gamma,
                     const T* beta, double eps, T* scale, T* shift) {
  for (int64_t k = 0; k < channels; ++k) {
    const T factor = T((gamma == nullptr ? 1.0 : double(gamma[k])) / std::sqrt(double(var[k]) + eps));
    const T bias = conv_bias == nullptr ? T(0) : conv_bias[k];
    scale[k] = factor;
    shift[k] = (beta == nullptr ? T(0) : beta[k]) + (bias - mean[k]) * factor;
  }
}

template <typename T>
void channel_affine_clamp(int64_t batch, int64_t channels, int64_t plane, const T* scale, const T* shift,
                          const T* residual, T low, T high, T* out) {
#pragma omp parallel for schedule(static) if (worth_parallel(batch * channels * plane))
  for (int64_t nk = 0; nk < batch * channels; ++nk) {
    const T a = scale[nk % channels], b = shift[nk % channels];
    T* dst = out + nk * plane;
    if (residual == nullptr) {
      for (int64_t i = 0; i < plane; ++i) dst[i] = std::min(std::max(dst[i] * a + b, low), high);
    } else {
      const T* res = residual + nk * plane;
      for (int64_t i = 0; i < plane; ++i) dst[i] = std::min(std::max(dst[i] * a + b + res[i], low), high);
    }
  }
}

#define FASTCNN_INSTANTIATE_EPILOGUE(T)                                                                      \
  template void fold_batch_norm<T>(int64_t, const T*, const T*, const T*, const T*, const T*, double, T*, T*); \
  template void channel_affine_clamp<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, T, T, T*);
FASTCNN_INSTANTIATE_EPILOGUE(float)
FASTCNN_INSTANTIATE_EPILOGUE(double)
#undef FASTCNN_INSTANTIATE_EPILOGUE

}  // namespace fastcnn::cpu
