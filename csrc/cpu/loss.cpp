// Loss kernels. N: batch, C: classes, S: positions per sample (the product of the extra dims
// d1, d2, ... of a (N, C, d1, d2, ...) input); p = n S + s indexes a position.
//
// nll with label smoothing e over log-probabilities lp, class weights w (1 when absent),
// label t of position p (positions labelled ignore_index contribute 0):
//   loss_p = -(1 - e) w_t lp_t - (e / C) sum_c w_c lp_c
//   dloss_p / dlp_c = -(1 - e) w_t [c == t] - (e / C) w_c
//   'mean' divides the sum by sum_p w_t (torch's convention, also with smoothing).
// mse: loss_i = (x_i - t_i)^2,  dloss/dx = 2 (x - t) = -dloss/dt.
// bce with logits x, target t, weight v, positive weight q (softplus(z) = log(1 + e^z)):
//   loss = v [(1 - t) x + (1 + (q - 1) t) softplus(-x)]
//   dloss/dx = v [(1 - t) - (1 + (q - 1) t) sigmoid(-x)]
//   dloss/dt = v [-x + (q - 1) softplus(-x)]
#include "cpu/loss.h"
#include "core/parallel.h"

#include <cmath>

namespace fastcnn::cpu {

namespace {

// log(1 + e^z) without overflow for large z.
template <typename T>
inline T softplus(T z) {
  return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
}

template <typename T>
inline T sigmoid(T z) {
  if (z >= 0) return T(1) / (T(1) + std::exp(-z));
  const T e = std::exp(z);
  return e / (T(1) + e);
}

}  // namespace

template <typename T>
double sum_of(const T* values, int64_t size) {
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (worth_parallel(size))
  for (int64_t i = 0; i < size; ++i) total += values[i];
  return total;
}

int64_t first_invalid_label(const int64_t* target, int64_t size, int64_t classes, int64_t ignore_index) {
  for (int64_t i = 0; i < size; ++i)
    if ((target[i] < 0 || target[i] >= classes) && target[i] != ignore_index) return i;
  return -1;
}

template <typename T>
double nll_loss_forward(const T* log_probs, const int64_t* target, const T* weight, T* losses, int64_t N, int64_t C,
                        int64_t S, int64_t ignore_index, double label_smoothing) {
  const T keep = T(1 - label_smoothing), spread = T(label_smoothing / C);
  double total_weight = 0;
#pragma omp parallel for reduction(+ : total_weight) schedule(static) if (worth_parallel(N * C * S))
  for (int64_t p = 0; p < N * S; ++p) {
    const int64_t n = p / S, s = p % S, t = target[p];
    if (t == ignore_index) {
      losses[p] = 0;
      continue;
    }
    const T* lp = log_probs + n * C * S + s;
    const T w_t = weight ? weight[t] : T(1);
    T loss = -keep * w_t * lp[t * S];
    if (label_smoothing > 0) {
      T smooth = 0;
      for (int64_t c = 0; c < C; ++c) smooth += (weight ? weight[c] : T(1)) * lp[c * S];
      loss -= spread * smooth;
    }
    losses[p] = loss;
    total_weight += w_t;
  }
  return total_weight;
}

template <typename T>
void nll_loss_backward(const T* grad, int64_t grad_stride, double grad_scale, const int64_t* target, const T* weight,
                       T* grad_input, int64_t N, int64_t C, int64_t S, int64_t ignore_index,
                       double label_smoothing) {
  const T keep = T(1 - label_smoothing), spread = T(label_smoothing / C);
  parallel_for(N * S, worth_parallel(N * C * S), [&](int64_t p) {
    const int64_t n = p / S, s = p % S, t = target[p];
    T* gi = grad_input + n * C * S + s;
    for (int64_t c = 0; c < C; ++c) gi[c * S] = 0;
    if (t == ignore_index) return;
    const T g = grad[p * grad_stride] * T(grad_scale);
    if (label_smoothing > 0)
      for (int64_t c = 0; c < C; ++c) gi[c * S] = -spread * (weight ? weight[c] : T(1)) * g;
    gi[t * S] -= keep * (weight ? weight[t] : T(1)) * g;
  });
}

template <typename T>
void mse_loss_forward(const T* input, const T* target, T* losses, int64_t size) {
  parallel_for(size, worth_parallel(size), [&](int64_t i) {
    const T difference = input[i] - target[i];
    losses[i] = difference * difference;
  });
}

template <typename T>
void mse_loss_backward(const T* grad, int64_t grad_stride, double grad_scale, const T* input, const T* target,
                       T* grad_input, int64_t size) {
  const T scale = T(2 * grad_scale);
  parallel_for(size, worth_parallel(size),
               [&](int64_t i) { grad_input[i] = scale * grad[i * grad_stride] * (input[i] - target[i]); });
}

template <typename T>
void bce_with_logits_forward(const T* input, const T* target, const T* weight, const T* pos_weight, T* losses,
                             int64_t size) {
  parallel_for(size, worth_parallel(size * kTranscendentalCost), [&](int64_t i) {
    const T x = input[i], t = target[i], q = pos_weight ? pos_weight[i] : T(1);
    const T loss = (T(1) - t) * x + (T(1) + (q - T(1)) * t) * softplus(-x);
    losses[i] = weight ? weight[i] * loss : loss;
  });
}

template <typename T>
void bce_with_logits_backward(const T* grad, int64_t grad_stride, double grad_scale, const T* input, const T* target,
                              const T* weight, const T* pos_weight, T* grad_input, T* grad_target, int64_t size) {
  parallel_for(size, worth_parallel(size * kTranscendentalCost), [&](int64_t i) {
    const T x = input[i], t = target[i], q = pos_weight ? pos_weight[i] : T(1);
    const T g = grad[i * grad_stride] * T(grad_scale) * (weight ? weight[i] : T(1));
    grad_input[i] = g * ((T(1) - t) - (T(1) + (q - T(1)) * t) * sigmoid(-x));
    if (grad_target) grad_target[i] = g * (-x + (q - T(1)) * softplus(-x));
  });
}

#define FASTCNN_INSTANTIATE_LOSS(T)                                                                              \
  template double sum_of<T>(const T*, int64_t);                                                                  \
  template double nll_loss_forward<T>(const T*, const int64_t*, const T*, T*, int64_t, int64_t, int64_t, int64_t, \
                                      double);                                                                   \
  template void nll_loss_backward<T>(const T*, int64_t, double, const int64_t*, const T*, T*, int64_t, int64_t,  \
                                     int64_t, int64_t, double);                                                  \
  template void mse_loss_forward<T>(const T*, const T*, T*, int64_t);                                            \
  template void mse_loss_backward<T>(const T*, int64_t, double, const T*, const T*, T*, int64_t);                \
  template void bce_with_logits_forward<T>(const T*, const T*, const T*, const T*, T*, int64_t);                 \
  template void bce_with_logits_backward<T>(const T*, int64_t, double, const T*, const T*, const T*, const T*,  \
                                            T*, T*, int64_t);
FASTCNN_INSTANTIATE_LOSS(float)
FASTCNN_INSTANTIATE_LOSS(double)

}  // namespace fastcnn::cpu
