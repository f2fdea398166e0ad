// Batch normalisation (seed, "Batch Normalization Layer"). Letters: N batch, C channels, S values
// per channel in one plane (the spatial size), M = N S values per channel.
//   forward:  mu = 1/M sum x,  var = 1/M sum (x - mu)^2,  invstd = 1 / sqrt(var + eps),
//             xhat = (x - mu) invstd,  y = gamma xhat + beta
//   backward with batch statistics (training: mu and var depend on x):
//             dbeta = sum dy,  dgamma = sum dy xhat,
//             dx = gamma invstd / M (M dy - sum dy - xhat sum dy xhat)
//   backward with running statistics (eval: constants): dx = gamma invstd dy; dgamma, dbeta as above.
//
// Fused with what follows it in a network (y = act(bn(x) + residual), act = relu or relu6): the
// forward writes y in the same pass, and the backward first masks dy by act'(y),
//   g = dy * act'(y),  d residual = g,  and dx, dgamma, dbeta as above with dy replaced by g.
// At inference a convolution's output is normalised in place with the running statistics
// folded into one scale and shift per channel (fold_batch_norm).
//
// Channel sums are per-plane partial sums computed in parallel over the N*C planes and reduced
// over N afterwards: balanced for any C (a 3-channel first layer too) and with contiguous inner
// loops. They accumulate in double. The statistics take one pass over sums shifted by the
// channel's first value K (sum (x - K), sum (x - K)^2), which keeps the variance free of the
// cancellation of a plain sum of squares while reading the input once. The per-plane loops are
// compiled per ISA (csrc/cpu/isa/norm_planes.h); this file owns the threading and the
// per-channel math.
#include "cpu/norm.h"
#include "core/parallel.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/isa/choose.h"

namespace fastcnn::cpu {

namespace {

using Acc = double;

template <typename T>
const isa::NormKernels<T>& planes() {
  static const isa::NormTable table = FASTCNN_CHOOSE_ISA_TABLE(norm);
  return isa::for_dtype<T>(table);
}

// Threads split the N*C planes, so one plane cannot be split (core/parallel.h for the work rule).
bool worth_threads(int64_t planes, int64_t S) { return planes > 1 && worth_parallel(planes * S); }

// sums[c * 2 + k] = sum over n of the k-th value plane_sums(n, c) writes.
template <typename PlaneSums>
std::vector<Acc> channel_sums(int64_t N, int64_t C, int64_t S, PlaneSums plane_sums) {
  std::vector<Acc> partial(N * C * 2);
  parallel_for(N * C, worth_threads(N * C, S), [&](int64_t p) { plane_sums(p / C, p % C, &partial[p * 2]); });
  std::vector<Acc> sums(C * 2, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < C * 2; ++i) sums[i] += partial[n * C * 2 + i];
  return sums;
}

// The clamp bounds of a fused activation.
template <typename T>
std::pair<T, T> bounds(NormActivation activation) {
  const T inf = std::numeric_limits<T>::infinity();
  switch (activation) {
    case NormActivation::relu: return {T(0), inf};
    case NormActivation::relu6: return {T(0), T(6)};
    case NormActivation::none: break;
  }
  return {-inf, inf};
}

// Values per call of NormKernels::affine_planes: enough that small planes do not pay a call each.
constexpr int64_t kAffineRun = 4096;

// out = clamp(a[c] u + b[c] (v - m[c]) + d[c] + r, low, high) over every plane of channel c; v and
// r may be null (b and m are then ignored).
template <typename T>
void channel_affine(const T* u, const T* v, const T* r, const T* a, const T* b, const T* m, const T* d,
                    std::pair<T, T> clamp, int64_t N, int64_t C, int64_t S, T* out) {
  if (v == nullptr) {  // runs of planes, about kAffineRun values a call
    const auto affine_planes = planes<T>().affine_planes;
    const int64_t total = N * C, per_run = std::max<int64_t>(1, kAffineRun / S), runs = (total + per_run - 1) / per_run;
    parallel_for(runs, worth_threads(total, S), [&](int64_t run) {
      const int64_t first = run * per_run;
      affine_planes(u, r, a, d, clamp.first, clamp.second, first, std::min(per_run, total - first), C, S, out);
    });
    return;
  }
  const auto affine = planes<T>().affine;
  parallel_for(N * C, worth_threads(N * C, S), [&](int64_t p) {
    const int64_t c = p % C, offset = p * S;
    affine(u + offset, v ? v + offset : nullptr, r ? r + offset : nullptr, a[c], v ? b[c] : T(0), v ? m[c] : T(0),
           d[c], clamp.first, clamp.second, S, out + offset);
  });
}

}  // namespace

template <typename T>
void batch_norm_statistics(const T* input, int64_t N, int64_t C, int64_t S, T* mean, T* variance) {
  std::vector<Acc> shift(C);
  for (int64_t c = 0; c < C; ++c) shift[c] = input[c * S];
  const auto moments = planes<T>().moments;
  const std::vector<Acc> sums = channel_sums(N, C, S, [&](int64_t n, int64_t c, Acc* out) {
    moments(input + (n * C + c) * S, S, shift[c], &out[0], &out[1]);
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
                        int64_t C, int64_t S, T* output, const T* residual, NormActivation activation) {
  // y = x alpha + beta with alpha = gamma invstd, beta = bias - mu alpha: one multiply-add per value.
  std::vector<T> alpha(C), beta(C);
  for (int64_t c = 0; c < C; ++c) {
    alpha[c] = invstd[c] * (weight ? weight[c] : T(1));
    beta[c] = (bias ? bias[c] : T(0)) - mean[c] * alpha[c];
  }
  channel_affine<T>(input, nullptr, residual, alpha.data(), nullptr, nullptr, beta.data(), bounds<T>(activation), N,
                    C, S, output);
}

template <typename T>
void batch_norm_backward(const T* grad_output, const T* input, const T* mean, const T* invstd, const T* weight,
                         bool training, int64_t N, int64_t C, int64_t S, T* grad_input, T* grad_weight, T* grad_bias,
                         const T* output, NormActivation activation, T* grad_residual) {
  // With a fused activation the masked gradient g is written once (into grad_residual, or into
  // grad_input, which the last pass then overwrites in place) and read back by that pass.
  const bool masks = activation != NormActivation::none || grad_residual != nullptr;
  T* g = grad_residual != nullptr ? grad_residual : masks ? grad_input : nullptr;
  std::vector<Acc> sums(C * 2, 0.0);  // per channel: sum g, sum g (x - mu)
  if (training || grad_weight || grad_bias || masks) {
    const auto grad_moments = planes<T>().grad_moments;
    sums = channel_sums(N, C, S, [&](int64_t n, int64_t c, Acc* out) {
      const int64_t offset = (n * C + c) * S;
      grad_moments(grad_output + offset, output ? output + offset : nullptr, activation, input + offset, S, mean[c],
                   g ? g + offset : nullptr, &out[0], &out[1]);
    });
  }
  for (int64_t c = 0; c < C; ++c) {
    if (grad_bias) grad_bias[c] = T(sums[c * 2]);
    if (grad_weight) grad_weight[c] = T(sums[c * 2 + 1] * invstd[c]);
  }
  if (!grad_input) return;
  // dx = k g + b (x - mu) + d per channel, k = gamma invstd; in training, with
  // mean_g = sum g / M and projection = invstd^2 sum g (x - mu) / M:
  // b = -k projection, d = -k mean_g (the formula above, expanded).
  const Acc M = Acc(N * S);
  std::vector<T> k(C), b(C, T(0)), d(C, T(0));
  for (int64_t c = 0; c < C; ++c) {
    const Acc k_c = Acc(invstd[c]) * (weight ? Acc(weight[c]) : 1.0);
    k[c] = T(k_c);
    if (training) {
      const Acc projection = Acc(invstd[c]) * Acc(invstd[c]) * sums[c * 2 + 1] / M;
      b[c] = T(-k_c * projection);
      d[c] = T(-k_c * sums[c * 2] / M);
    }
  }
  channel_affine<T>(g ? g : grad_output, training ? input : nullptr, nullptr, k.data(), b.data(), mean, d.data(),
                    bounds<T>(NormActivation::none), N, C, S, grad_input);
}

template <typename T>
void fold_batch_norm(int64_t C, const T* conv_bias, const T* mean, const T* var, const T* gamma, const T* beta,
                     double eps, T* scale, T* shift) {
  for (int64_t c = 0; c < C; ++c) {
    const T factor = T((gamma == nullptr ? 1.0 : double(gamma[c])) / std::sqrt(double(var[c]) + eps));
    const T bias = conv_bias == nullptr ? T(0) : conv_bias[c];
    scale[c] = factor;
    shift[c] = (beta == nullptr ? T(0) : beta[c]) + (bias - mean[c]) * factor;
  }
}

template <typename T>
void batch_norm_folded(const T* scale, const T* shift, const T* residual, NormActivation activation, int64_t N,
                       int64_t C, int64_t S, T* inout) {
  channel_affine<T>(inout, nullptr, residual, scale, nullptr, nullptr, shift, bounds<T>(activation), N, C, S, inout);
}

#define FASTCNN_INSTANTIATE_NORM(T)                                                                                \
  template void batch_norm_statistics<T>(const T*, int64_t, int64_t, int64_t, T*, T*);                             \
  template void batch_norm_update_running_stats<T>(const T*, const T*, int64_t, int64_t, double, T*, T*);          \
  template void batch_norm_invstd<T>(const T*, int64_t, double, T*);                                               \
  template void batch_norm_forward<T>(const T*, const T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, \
                                      T*, const T*, NormActivation);                                               \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, bool, int64_t, int64_t,  \
                                       int64_t, T*, T*, T*, const T*, NormActivation, T*);                         \
  template void fold_batch_norm<T>(int64_t, const T*, const T*, const T*, const T*, const T*, double, T*, T*);     \
  template void batch_norm_folded<T>(const T*, const T*, const T*, NormActivation, int64_t, int64_t, int64_t, T*);

FASTCNN_INSTANTIATE_NORM(float)
FASTCNN_INSTANTIATE_NORM(double)
#undef FASTCNN_INSTANTIATE_NORM

}  // namespace fastcnn::cpu
