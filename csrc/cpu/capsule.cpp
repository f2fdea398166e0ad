// Capsule kernels (Sabour et al. 2017, "Dynamic Routing Between Capsules").
//
// Letters: N batch (or the product of the dims before the capsule dim), D capsule dimension,
// S the product of the dims after it (the stride between a capsule's components), K classes.
//
// squash, with q = |s|^2 and a small eps that keeps the map smooth at s = 0:
//   v = h(q) s,   h(q) = q / ((1 + q) sqrt(q + eps))      (= |s|^2/(1+|s|^2) * s/|s| when eps = 0)
//   dv/ds = h I + 2 h'(q) s s^T,   h'(q) = (2 (q + eps) - q (1 + q)) / (2 (1 + q)^2 (q + eps)^(3/2))
// so grad_s = h grad_v + 2 h'(q) (s . grad_v) s. h' is bounded by 1/sqrt(eps) and multiplies
// s s^T = O(q), so the gradient is finite everywhere and exactly 0 at s = 0.
//
// margin loss for one sample with class lengths l_k and one-hot target T_k:
//   L = sum_k T_k max(0, m+ - l_k)^2 + lambda (1 - T_k) max(0, l_k - m-)^2
//   dL/dl_k = -2 max(0, m+ - l_k) if T_k else 2 lambda max(0, l_k - m-)
#include "cpu/capsule.h"

#include <algorithm>
#include <cmath>

namespace fastcnn::cpu {

namespace {

template <typename T>
inline T squash_scale(T q, T eps) {
  return q / ((T(1) + q) * std::sqrt(q + eps));
}

template <typename T>
inline T squash_scale_derivative(T q, T eps) {
  const T one_plus_q = T(1) + q, shifted = q + eps;
  return (T(2) * shifted - q * one_plus_q) / (T(2) * one_plus_q * one_plus_q * shifted * std::sqrt(shifted));
}

}  // namespace

template <typename T>
void squash_forward(const T* input, T* output, int64_t N, int64_t D, int64_t S, T eps) {
#pragma omp parallel for schedule(static) collapse(2) if (N * S * D > 32768)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t s = 0; s < S; ++s) {
      const T* x = input + n * D * S + s;
      T* y = output + n * D * S + s;
      T q = 0;
      for (int64_t d = 0; d < D; ++d) q += x[d * S] * x[d * S];
      const T h = squash_scale(q, eps);
      for (int64_t d = 0; d < D; ++d) y[d * S] = h * x[d * S];
    }
  }
}

template <typename T>
void squash_backward_input(const T* grad_output, const T* input, T* grad_input, int64_t N, int64_t D, int64_t S,
                           T eps) {
#pragma omp parallel for schedule(static) collapse(2) if (N * S * D > 32768)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t s = 0; s < S; ++s) {
      const int64_t offset = n * D * S + s;
      const T* x = input + offset;
      const T* g = grad_output + offset;
      T* gx = grad_input + offset;
      T q = 0, dot = 0;
      for (int64_t d = 0; d < D; ++d) {
        q += x[d * S] * x[d * S];
        dot += x[d * S] * g[d * S];
      }
      const T h = squash_scale(q, eps);
      const T along = T(2) * squash_scale_derivative(q, eps) * dot;
      for (int64_t d = 0; d < D; ++d) gx[d * S] = h * g[d * S] + along * x[d * S];
    }
  }
}

template <typename T>
void margin_loss_forward(const T* lengths, const int64_t* target, T* losses, int64_t N, int64_t K, T m_plus,
                         T m_minus, T lambda) {
#pragma omp parallel for schedule(static) if (N * K > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const T* l = lengths + n * K;
    T loss = 0;
    for (int64_t k = 0; k < K; ++k) {
      if (k == target[n]) {
        const T below = std::max(T(0), m_plus - l[k]);
        loss += below * below;
      } else {
        const T above = std::max(T(0), l[k] - m_minus);
        loss += lambda * above * above;
      }
    }
    losses[n] = loss;
  }
}

template <typename T>
void margin_loss_backward_input(const T* grad_losses, const T* lengths, const int64_t* target, T* grad_lengths,
                                int64_t N, int64_t K, T m_plus, T m_minus, T lambda) {
#pragma omp parallel for schedule(static) if (N * K > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const T* l = lengths + n * K;
    T* gl = grad_lengths + n * K;
    for (int64_t k = 0; k < K; ++k) {
      const T slope = k == target[n] ? -T(2) * std::max(T(0), m_plus - l[k])
                                     : T(2) * lambda * std::max(T(0), l[k] - m_minus);
      gl[k] = grad_losses[n] * slope;
    }
  }
}

template void squash_forward<float>(const float*, float*, int64_t, int64_t, int64_t, float);
template void squash_backward_input<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, float);
template void margin_loss_forward<float>(const float*, const int64_t*, float*, int64_t, int64_t, float, float,
                                        float);
template void margin_loss_backward_input<float>(const float*, const float*, const int64_t*, float*, int64_t,
                                               int64_t, float, float, float);
template void squash_forward<double>(const double*, double*, int64_t, int64_t, int64_t, double);
template void squash_backward_input<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, double);
template void margin_loss_forward<double>(const double*, const int64_t*, double*, int64_t, int64_t, double, double,
                                        double);
template void margin_loss_backward_input<double>(const double*, const double*, const int64_t*, double*, int64_t,
                                               int64_t, double, double, double);

}  // namespace fastcnn::cpu
