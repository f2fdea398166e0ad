// Capsule kernels (Sabour et al. 2017, "Dynamic Routing Between Capsules").
//
// Letters: N batch (or the product of the dims before the capsule dim), D capsule dimension,
// S the product of the dims after it (the stride between a capsule's components), K classes,
// I input capsules, J output capsules.
//
// squash, with q = |s|^2 and a small eps that keeps the map smooth at s = 0:
//   v = h(q) s,   h(q) = q / ((1 + q) sqrt(q + eps))      (= |s|^2/(1+|s|^2) * s/|s| when eps = 0)
//   dv/ds = h I + 2 h'(q) s s^T,   h'(q) = (2 (q + eps) - q (1 + q)) / (2 (1 + q)^2 (q + eps)^(3/2))
// so grad_s = h grad_v + 2 h'(q) (s . grad_v) s. h' is bounded by 1/sqrt(eps) and multiplies
// s s^T = O(q), so the gradient is finite everywhere and exactly 0 at s = 0.
//
// dynamic routing (procedure 1 of the paper) for one sample with predictions u_hat_j|i:
//   b_ij = 0; repeat: c_ij = softmax_j(b_ij), s_j = sum_i c_ij u_hat_j|i, v_j = squash(s_j),
//   b_ij += u_hat_j|i . v_j.
// The routing is detached, as in the reference implementations: c is a constant for autograd and
// the gradient reaches u_hat only through the last weighted sum, so ds_j/du_hat_j|i = c_ij I.
// Routing lives in C++ because, composed from matmul and softmax ops, each iteration's tiny
// (1 x I) @ (I x D) products and their layout copies dominated a CapsNet training step.
//
// margin loss for one sample with class lengths l_k and one-hot target T_k:
//   L = sum_k T_k max(0, m+ - l_k)^2 + lambda (1 - T_k) max(0, l_k - m-)^2
//   dL/dl_k = -2 max(0, m+ - l_k) if T_k else 2 lambda max(0, l_k - m-)
#include "cpu/capsule.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"

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

// s (J, D) = sum_i c (I, J) u_hat (I, J, D) for one sample.
template <typename T>
void weighted_sum(const T* predictions, const T* coupling, T* output, int64_t I, int64_t J, int64_t D) {
  std::fill(output, output + J * D, T(0));
  for (int64_t i = 0; i < I; ++i)
    for (int64_t j = 0; j < J; ++j) {
      const T weight = coupling[i * J + j];
      const T* u_hat = predictions + (i * J + j) * D;
      T* s = output + j * D;
      for (int64_t d = 0; d < D; ++d) s[d] += weight * u_hat[d];
    }
}

// The routing's own squash of one contiguous pose, with F.squash's default eps.
template <typename T>
void squash_in_place(T* pose, int64_t D) {
  T q = 0;
  for (int64_t d = 0; d < D; ++d) q += pose[d] * pose[d];
  const T h = squash_scale(q, T(1e-8));
  for (int64_t d = 0; d < D; ++d) pose[d] *= h;
}

// c (I, J) = softmax over j of b (I, J), shifted by the row maximum so exp never overflows.
template <typename T>
void softmax_rows(const T* logits, T* coupling, int64_t I, int64_t J) {
  for (int64_t i = 0; i < I; ++i) {
    const T* b = logits + i * J;
    T* c = coupling + i * J;
    const T top = *std::max_element(b, b + J);
    T total = 0;
    for (int64_t j = 0; j < J; ++j) total += c[j] = std::exp(b[j] - top);
    for (int64_t j = 0; j < J; ++j) c[j] /= total;
  }
}

// A squash element is read in two strided passes, with a sqrt per capsule: about 2 work units
// (core/parallel.h).
constexpr int64_t kSquashCost = 2;

}  // namespace

template <typename T>
void squash_forward(const T* input, T* output, int64_t N, int64_t D, int64_t S, T eps) {
#pragma omp parallel for schedule(static) collapse(2) if (worth_parallel(N * S * D * kSquashCost))
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
#pragma omp parallel for schedule(static) collapse(2) if (worth_parallel(N * S * D * kSquashCost))
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
void routing_coupling(const T* predictions, T* coupling, int64_t N, int64_t I, int64_t J, int64_t D,
                      int64_t iterations) {
  // Each iteration reads every prediction twice (the weighted sum and the agreement).
#pragma omp parallel if (worth_parallel(N * I * J * D * 2 * iterations))
  {
    std::vector<T> logits(I * J), poses(J * D);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const T* u_hat = predictions + n * I * J * D;
      T* c = coupling + n * I * J;
      std::fill(logits.begin(), logits.end(), T(0));
      for (int64_t iteration = 1; iteration < iterations; ++iteration) {
        softmax_rows(logits.data(), c, I, J);
        weighted_sum(u_hat, c, poses.data(), I, J, D);
        for (int64_t j = 0; j < J; ++j) squash_in_place(poses.data() + j * D, D);
        for (int64_t i = 0; i < I; ++i)
          for (int64_t j = 0; j < J; ++j) {
            const T* prediction = u_hat + (i * J + j) * D;
            const T* v = poses.data() + j * D;
            T agreement = 0;
            for (int64_t d = 0; d < D; ++d) agreement += prediction[d] * v[d];
            logits[i * J + j] += agreement;
          }
      }
      softmax_rows(logits.data(), c, I, J);
    }
  }
}

template <typename T>
void routing_weighted_sum_forward(const T* predictions, const T* coupling, T* output, int64_t N, int64_t I,
                                  int64_t J, int64_t D) {
  parallel_for(N, worth_parallel(N * I * J * D), [&](int64_t n) {
    weighted_sum(predictions + n * I * J * D, coupling + n * I * J, output + n * J * D, I, J, D);
  });
}

template <typename T>
void routing_weighted_sum_backward_input(const T* grad_output, const T* coupling, T* grad_predictions, int64_t N,
                                         int64_t I, int64_t J, int64_t D) {
#pragma omp parallel for schedule(static) collapse(2) if (worth_parallel(N * I * J * D))
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < I; ++i)
      for (int64_t j = 0; j < J; ++j) {
        const T weight = coupling[(n * I + i) * J + j];
        const T* grad_s = grad_output + (n * J + j) * D;
        T* grad_u_hat = grad_predictions + ((n * I + i) * J + j) * D;
        for (int64_t d = 0; d < D; ++d) grad_u_hat[d] = weight * grad_s[d];
      }
}

template <typename T>
void margin_loss_forward(const T* lengths, const int64_t* target, T* losses, int64_t N, int64_t K, T m_plus,
                         T m_minus, T lambda) {
  parallel_for(N, worth_parallel(N * K), [&](int64_t n) {
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
  });
}

template <typename T>
void margin_loss_backward_input(const T* grad_losses, const T* lengths, const int64_t* target, T* grad_lengths,
                                int64_t N, int64_t K, T m_plus, T m_minus, T lambda) {
  parallel_for(N, worth_parallel(N * K), [&](int64_t n) {
    const T* l = lengths + n * K;
    T* gl = grad_lengths + n * K;
    for (int64_t k = 0; k < K; ++k) {
      const T slope = k == target[n] ? -T(2) * std::max(T(0), m_plus - l[k])
                                     : T(2) * lambda * std::max(T(0), l[k] - m_minus);
      gl[k] = grad_losses[n] * slope;
    }
  });
}

template void squash_forward<float>(const float*, float*, int64_t, int64_t, int64_t, float);
template void squash_backward_input<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, float);
template void routing_coupling<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void routing_weighted_sum_forward<float>(const float*, const float*, float*, int64_t, int64_t, int64_t,
                                                  int64_t);
template void routing_weighted_sum_backward_input<float>(const float*, const float*, float*, int64_t, int64_t,
                                                         int64_t, int64_t);
template void margin_loss_forward<float>(const float*, const int64_t*, float*, int64_t, int64_t, float, float, float);
template void margin_loss_backward_input<float>(const float*, const float*, const int64_t*, float*, int64_t, int64_t,
                                                float, float, float);
template void squash_forward<double>(const double*, double*, int64_t, int64_t, int64_t, double);
template void squash_backward_input<double>(const double*, const double*, double*, int64_t, int64_t, int64_t,
                                            double);
template void routing_coupling<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void routing_weighted_sum_forward<double>(const double*, const double*, double*, int64_t, int64_t,
                                                   int64_t, int64_t);
template void routing_weighted_sum_backward_input<double>(const double*, const double*, double*, int64_t, int64_t,
                                                          int64_t, int64_t);
template void margin_loss_forward<double>(const double*, const int64_t*, double*, int64_t, int64_t, double,
                                          double, double);
template void margin_loss_backward_input<double>(const double*, const double*, const int64_t*, double*, int64_t,
                                                 int64_t, double, double, double);

}  // namespace fastcnn::cpu
