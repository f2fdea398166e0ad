// ConvLSTM gate math (Shi et al. 2015; seed "Recurrent Layers": sigma(W_x * X_t + W_h * H_{t-1} + b)).
// The cell's one convolution over cat(X, H) gives the pre-activations a_i, a_f, a_g, a_o; with
// Hadamard peepholes w_ci, w_cf, w_co (zero when the cell has none):
//   i = sigma(a_i + w_ci C)      f = sigma(a_f + w_cf C)      g = tanh(a_g)
//   C' = f C + i g               o = sigma(a_o + w_co C')     H' = o tanh(C')
// Backward, with dH' and dC' the incoming gradients and s'(x) = s (1 - s), tanh' = 1 - t^2:
//   da_o = dH' tanh(C') o (1 - o)
//   dC'~ = dC' + dH' o (1 - tanh(C')^2) + da_o w_co      (all paths into C')
//   da_i = dC'~ g i (1 - i)       da_f = dC'~ C f (1 - f)       da_g = dC'~ i (1 - g^2)
//   dC   = dC'~ f + da_i w_ci + da_f w_cf
//   dw_ci = sum_n da_i C,  dw_cf = sum_n da_f C,  dw_co = sum_n da_o C'
// Letters inside the kernels: N batch, K hidden channels, HW = H * W positions, n/k/p their indices.
// Fusing these ~20 pointwise steps into one pass replaces as many temporaries and graph nodes
// per cell and time step with two reads of the gates. The five transcendentals per element
// dominate the cost (measured: the gate math took twice the time of the cell's convolution with
// libm's scalar exp and tanh), so exp is a branch-free polynomial the compiler vectorises, and
// sigmoid and tanh are written in terms of it.
#include "cpu/recurrent.h"
#include "core/parallel.h"

#include <cstdint>
#include <cstring>

// The clamp in fast_exp is a floating-point compare, which GCC will not turn into a vector select
// while it must preserve FP exception flags; nothing here reads those flags.
#pragma GCC optimize("no-trapping-math")

namespace fastcnn::cpu {

namespace {

// exp(x) = 2^n e^r with n = round(x / ln 2) and |r| <= ln(2) / 2; e^r by its Taylor series, to
// degree 8 for float (truncation error below 1e-8) and 14 for double (below 1e-17). x is clamped
// so 2^n stays a normal number: sigmoid's tails then saturate at ~1e-38 / 1e-308 instead of 0.
template <typename T>
struct ExpTraits;
template <>
struct ExpTraits<float> {
  using Bits = int32_t;
  static constexpr int kDegree = 8, kMantissa = 23, kBias = 127;
  static constexpr float kLimit = 87.0f;
};
template <>
struct ExpTraits<double> {
  using Bits = int64_t;
  static constexpr int kDegree = 14, kMantissa = 52, kBias = 1023;
  static constexpr double kLimit = 708.0;
};

template <typename T>
inline T fast_exp(T x) {
  using Traits = ExpTraits<T>;
  constexpr T kLog2e = T(1.4426950408889634), kLn2Hi = T(0.693145751953125), kLn2Lo = T(1.428606820309417e-06);
  // Adding and subtracting 1.5 * 2^mantissa rounds to the nearest integer without a branch.
  constexpr T kRound = T(1.5) * T(typename Traits::Bits(1) << Traits::kMantissa);
  x = x < -Traits::kLimit ? -Traits::kLimit : (x > Traits::kLimit ? Traits::kLimit : x);
  const T n = (x * kLog2e + kRound) - kRound;
  const T r = (x - n * kLn2Hi) - n * kLn2Lo;
  T series = T(1);
#pragma GCC unroll 16
  for (int k = Traits::kDegree; k >= 1; --k) series = T(1) + series * r / T(k);
  const typename Traits::Bits bits = (static_cast<typename Traits::Bits>(n) + Traits::kBias) << Traits::kMantissa;
  T scale;
  std::memcpy(&scale, &bits, sizeof(T));
  return series * scale;
}

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + fast_exp(-x));
}

// tanh(x) = 2 sigmoid(2x) - 1: exact in exact arithmetic, off by an ulp of 1 (not of tanh) near 0,
// which the gates, all sums of O(1) terms, cannot tell apart.
template <typename T>
inline T tanh_of(T x) {
  return T(2) * sigmoid(T(2) * x) - T(1);
}

// The four gate planes and the peephole planes of one (n, k), so the loops read like the formulas.
template <typename T>
struct GatePlanes {
  const T *input, *forget, *candidate, *output;
  const T *peep_input, *peep_forget, *peep_output;  // nullptr without peepholes

  GatePlanes(const T* gates, const T* peephole, int64_t n, int64_t k, int64_t K, int64_t HW) {
    const T* base = gates + n * 4 * K * HW + k * HW;
    input = base;
    forget = base + K * HW;
    candidate = base + 2 * K * HW;
    output = base + 3 * K * HW;
    peep_input = peephole ? peephole + k * HW : nullptr;
    peep_forget = peephole ? peephole + (K + k) * HW : nullptr;
    peep_output = peephole ? peephole + (2 * K + k) * HW : nullptr;
  }
};

// One (n, k) plane; kPeephole is a template argument so the loops carry no branch and vectorise.
// The outputs are fresh arrays that never overlap the inputs, so `ivdep` can spare the compiler
// the runtime overlap checks between the dozen planes, which it would otherwise give up on.
template <typename T, bool kPeephole>
void forward_plane(const GatePlanes<T>& g, const T* c, T* hidden, T* next_cell, int64_t HW) {
#pragma GCC ivdep
  for (int64_t p = 0; p < HW; ++p) {
    const T i = sigmoid(g.input[p] + (kPeephole ? g.peep_input[p] * c[p] : T(0)));
    const T f = sigmoid(g.forget[p] + (kPeephole ? g.peep_forget[p] * c[p] : T(0)));
    const T next = f * c[p] + i * tanh_of(g.candidate[p]);
    const T o = sigmoid(g.output[p] + (kPeephole ? g.peep_output[p] * next : T(0)));
    next_cell[p] = next;
    hidden[p] = o * tanh_of(next);
  }
}

// grad_gates points at the input-gate plane of (n, k); the other gates follow gate_stride apart.
// The peephole gradients accumulate into dw_* (unused without peepholes).
template <typename T, bool kPeephole>
void backward_plane(const GatePlanes<T>& g, const T* c, const T* dh, const T* dc_next, T* grad_gates,
                    int64_t gate_stride, T* dc, T* dw_i, T* dw_f, T* dw_o, int64_t HW) {
#pragma GCC ivdep
  for (int64_t p = 0; p < HW; ++p) {
    const T w_ci = kPeephole ? g.peep_input[p] : T(0), w_cf = kPeephole ? g.peep_forget[p] : T(0);
    const T w_co = kPeephole ? g.peep_output[p] : T(0);
    const T i = sigmoid(g.input[p] + w_ci * c[p]);
    const T f = sigmoid(g.forget[p] + w_cf * c[p]);
    const T cand = tanh_of(g.candidate[p]);
    const T next = f * c[p] + i * cand;
    const T o = sigmoid(g.output[p] + w_co * next);
    const T t = tanh_of(next);
    const T da_o = dh[p] * t * o * (T(1) - o);
    const T dnext = dc_next[p] + dh[p] * o * (T(1) - t * t) + da_o * w_co;
    const T da_i = dnext * cand * i * (T(1) - i);
    const T da_f = dnext * c[p] * f * (T(1) - f);
    grad_gates[p] = da_i;
    grad_gates[gate_stride + p] = da_f;
    grad_gates[2 * gate_stride + p] = dnext * i * (T(1) - cand * cand);
    grad_gates[3 * gate_stride + p] = da_o;
    dc[p] = dnext * f + da_i * w_ci + da_f * w_cf;
    if (kPeephole) {
      dw_i[p] += da_i * c[p];
      dw_f[p] += da_f * c[p];
      dw_o[p] += da_o * next;
    }
  }
}

}  // namespace

// A gate element takes five of the vectorised polynomial exps above and a dozen products:
// about 4 work units (core/parallel.h).
constexpr int64_t kGateCost = 4;

template <typename T>
void convlstm_gates_forward(const T* gates, const T* cell, const T* peephole, T* hidden, T* next_cell, int64_t N,
                            int64_t K, int64_t HW) {
  parallel_for(N * K, worth_parallel(N * K * HW * kGateCost), [&](int64_t nk) {
    const GatePlanes<T> g(gates, peephole, nk / K, nk % K, K, HW);
    if (peephole)
      forward_plane<T, true>(g, cell + nk * HW, hidden + nk * HW, next_cell + nk * HW, HW);
    else
      forward_plane<T, false>(g, cell + nk * HW, hidden + nk * HW, next_cell + nk * HW, HW);
  });
}

template <typename T>
void convlstm_gates_backward(const T* gates, const T* cell, const T* peephole, const T* grad_hidden,
                             const T* grad_next_cell, T* grad_gates, T* grad_cell, T* grad_peephole, int64_t N,
                             int64_t K, int64_t HW) {
  // One channel per iteration: the peephole gradients of channel k sum over the batch in a
  // fixed order, so the result does not depend on the thread count.
  parallel_for(K, worth_parallel(N * K * HW * kGateCost), [&](int64_t k) {
    T* dw_i = grad_peephole ? grad_peephole + k * HW : nullptr;
    T* dw_f = grad_peephole ? grad_peephole + (K + k) * HW : nullptr;
    T* dw_o = grad_peephole ? grad_peephole + (2 * K + k) * HW : nullptr;
    if (grad_peephole) {
      for (int64_t p = 0; p < HW; ++p) dw_i[p] = dw_f[p] = dw_o[p] = T(0);
    }
    for (int64_t n = 0; n < N; ++n) {
      const int64_t nk = n * K + k;
      const GatePlanes<T> g(gates, peephole, n, k, K, HW);
      T* da = grad_gates + n * 4 * K * HW + k * HW;
      if (peephole)
        backward_plane<T, true>(g, cell + nk * HW, grad_hidden + nk * HW, grad_next_cell + nk * HW, da, K * HW,
                                grad_cell + nk * HW, dw_i, dw_f, dw_o, HW);
      else
        backward_plane<T, false>(g, cell + nk * HW, grad_hidden + nk * HW, grad_next_cell + nk * HW, da, K * HW,
                                 grad_cell + nk * HW, dw_i, dw_f, dw_o, HW);
    }
  });
}

template void convlstm_gates_forward<float>(const float*, const float*, const float*, float*, float*, int64_t,
                                            int64_t, int64_t);
template void convlstm_gates_forward<double>(const double*, const double*, const double*, double*, double*, int64_t,
                                             int64_t, int64_t);
template void convlstm_gates_backward<float>(const float*, const float*, const float*, const float*, const float*,
                                             float*, float*, float*, int64_t, int64_t, int64_t);
template void convlstm_gates_backward<double>(const double*, const double*, const double*, const double*,
                                              const double*, double*, double*, double*, int64_t, int64_t, int64_t);

}  // namespace fastcnn::cpu
