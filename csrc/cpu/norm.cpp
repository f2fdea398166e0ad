// Batch normalisation (seed, "Batch Normalization Layer"). Letters: N batch, C channels, S values
// per channel in one plane (the spatial size), M = N S values per channel.
//   forward:  mu = 1/M sum x,  var = 1/M sum (x - mu)^2,  invstd = 1 / sqrt(var + eps),
//             xhat = (x - mu) invstd,  y = gamma xhat + beta
//   backward with batch statistics (training: mu and var depend on x):
//             dbeta = sum dy,  dgamma = sum dy xhat,
//             dx = gamma invstd / M (M dy - sum dy - xhat sum dy xhat)
//   backward with running statistics (eval: constants): dx = gamma invstd dy; dgamma, dbeta as above.
//
// Channel sums are per-plane partial sums computed in parallel over the N*C planes and reduced
// over N afterwards: balanced for any C (a 3-channel first layer too) and with contiguous inner
// loops. They accumulate in double. The statistics take one pass over sums shifted by the
// channel's first value K (sum (x - K), sum (x - K)^2), which keeps the variance free of the
// cancellation of a plain sum of squares while reading the input once.
#include "cpu/norm.h"
#include "core/parallel.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace fastcnn::cpu {

namespace {

using Acc = double;

// Threads split the N*C planes, so one plane cannot be split (core/parallel.h for the work rule).
bool worth_threads(int64_t planes, int64_t S) { return planes > 1 && worth_parallel(planes * S); }

// sums[c * 2 + k] = sum over n of the k-th value plane_sums(n, c) writes.
template <typename PlaneSums>
std::vector<Acc> channel_sums(int64_t N, int64_t C, int64_t S, PlaneSums plane_sums) {
  std::vector<Acc> partial(N * C * 2);
#pragma omp parallel for schedule(static) if (worth_threads(N * C, S))
  for (int64_t p = 0; p < N * C; ++p) plane_sums(p / C, p % C, &partial[p * 2]);
  std::vector<Acc> sums(C * 2, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < C * 2; ++i) sums[i] += partial[n * C * 2 + i];
  return sums;
}

// out = a[c] u + b[c] (v - m[c]) + d[c] over every plane of channel c; v may be null (b, m
// ignored). Centring v before scaling keeps the float rounding of a large mean out of out.
template <typename T>
void channel_affine(const T* u, const T* v, const std::vector<T>& a, const std::vector<T>& b,
                    const std::vector<T>& m, const std::vector<T>& d, int64_t N, int64_t C, int64_t S, T* out) {
#pragma omp parallel for schedule(static) if (worth_threads(N * C, S))
  for (int64_t p = 0; p < N * C; ++p) {
    const int64_t c = p % C;
    const T* u_plane = u + p * S;
    T* out_plane = out + p * S;
    const T a_c = a[c], d_c = d[c];
    if (v == nullptr) {
      for (int64_t s = 0; s < S; ++s) out_plane[s] = a_c * u_plane[s] + d_c;
    } else {
      const T* v_plane = v + p * S;
      const T b_c = b[c], m_c = m[c];
      for (int64_t s = 0; s < S; ++s) out_plane[s] = a_c * u_plane[s] + b_c * (v_plane[s] - m_c) + d_c;
    }
  }
}

}  // namespace

template <typename T>
void batch_norm_statistics(const T* input, int64_t N, int64_t C, int64_t S, T* mean, T* variance) {
  std::vector<Acc> shift(C);
  for (int64_t c = 0; c < C; ++c) shift[c] = input[c * S];
  const std::vector<Acc> sums = channel_sums(N, C, S, [&](int64_t n, int64_t c, Acc* out) {
    const T* x = input + (n * C + c) * S;
    const Acc K = shift[c];
    Acc sum = 0, squares = 0;
#pragma omp simd reduction(+ : sum, squares)
    for (int64_t s = 0; s < S; ++s) {
      const Acc centred = Acc(x[s]) - K;
      sum += centred;
      squares += centred * centred;
    }
    out[0] = sum;
    out[1] = squares;
  });
  const Acc M = Acc(N * S);
  for (int64_t c = 0; c < C; ++c) {
    const Acc offset = sums[c * 2] / M;
    mean[c] = T(shift[c] + offset);
    variance[c] = T(std::max(sums[c * 2 + 1] / M - offset * offset, Acc(0)));
  }
}

template <typename T>
void batch_norm_update_running_stats(const T* mean, const T* variance, int64_t C, int64_t count, double momentum,
                                     T* running_mean, T* running_var) {
  const Acc unbias = Acc(count) / Acc(count - 1);
  for (int64_t c = 0; c < C; ++c) {
    if (running_mean) running_mean[c] = T((1 - momentum) * running_mean[c] + momentum * mean[c]);
    if (running_var) running_var[c] = T((1 - momentum) * running_var[c] + momentum * variance[c] * unbias);
  }
}

template <typename T>
void batch_norm_invstd(const T* variance, int64_t C, double eps, T* invstd) {
  for (int64_t c = 0; c < C; ++c) invstd[c] = T(1 / std::sqrt(Acc(variance[c]) + eps));
}

template <typename T>
void batch_norm_forward(const T* input, const T* mean, const T* invstd, const T* weight, const T* bias, int64_t N,
                        int64_t C, int64_t S, T* output) {
  // y = x alpha + beta with alpha = gamma invstd, beta = bias - mu alpha: one multiply-add per value.
  std::vector<T> alpha(C), beta(C);
  for (int64_t c = 0; c < C; ++c) {
    alpha[c] = invstd[c] * (weight ? weight[c] : T(1));
    beta[c] = (bias ? bias[c] : T(0)) - mean[c] * alpha[c];
  }
  channel_affine<T>(input, nullptr, alpha, alpha, alpha, beta, N, C, S, output);
}

template <typename T>
void batch_norm_backward(const T* grad_output, const T* input, const T* mean, const T* invstd, const T* weight,
                         bool training, int64_t N, int64_t C, int64_t S, T* grad_input, T* grad_weight, T* grad_bias) {
  std::vector<Acc> sums(C * 2, 0.0);  // per channel: sum dy, sum dy (x - mu)
  if (training || grad_weight || grad_bias)
    sums = channel_sums(N, C, S, [&](int64_t n, int64_t c, Acc* out) {
      const T* dy = grad_output + (n * C + c) * S;
      const T* x = input + (n * C + c) * S;
      const Acc mu = mean[c];
      Acc sum = 0, dot = 0;
#pragma omp simd reduction(+ : sum, dot)
      for (int64_t s = 0; s < S; ++s) {
        sum += Acc(dy[s]);
        dot += Acc(dy[s]) * (Acc(x[s]) - mu);
      }
      out[0] = sum;
      out[1] = dot;
    });
  for (int64_t c = 0; c < C; ++c) {
    if (grad_bias) grad_bias[c] = T(sums[c * 2]);
    if (grad_weight) grad_weight[c] = T(sums[c * 2 + 1] * invstd[c]);
  }
  if (!grad_input) return;
  // dx = k dy + b (x - mu) + d per channel, k = gamma invstd; in training, with
  // mean_dy = sum dy / M and projection = invstd^2 sum dy (x - mu) / M:
  // b = -k projection, d = -k mean_dy (the formula above, expanded).
  const Acc M = Acc(N * S);
  std::vector<T> k(C), b(C, T(0)), mu(mean, mean + C), d(C, T(0));
  for (int64_t c = 0; c < C; ++c) {
    const Acc k_c = Acc(invstd[c]) * (weight ? Acc(weight[c]) : 1.0);
    k[c] = T(k_c);
    if (training) {
      const Acc projection = Acc(invstd[c]) * Acc(invstd[c]) * sums[c * 2 + 1] / M;
      b[c] = T(-k_c * projection);
      d[c] = T(-k_c * sums[c * 2] / M);
    }
  }
  channel_affine<T>(grad_output, training ? input : nullptr, k, b, mu, d, N, C, S, grad_input);
}

#define FASTCNN_INSTANTIATE_NORM(T)                                                                                \
  template void batch_norm_statistics<T>(const T*, int64_t, int64_t, int64_t, T*, T*);                             \
  template void batch_norm_update_running_stats<T>(const T*, const T*, int64_t, int64_t, double, T*, T*);          \
  template void batch_norm_invstd<T>(const T*, int64_t, double, T*);                                               \
  template void batch_norm_forward<T>(const T*, const T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, \
                                      T*);                                                                         \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, bool, int64_t, int64_t,  \
                                       int64_t, T*, T*, T*);

FASTCNN_INSTANTIATE_NORM(float)
FASTCNN_INSTANTIATE_NORM(double)
#undef FASTCNN_INSTANTIATE_NORM

}  // namespace fastcnn::cpu
