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
// per cell and time step with two reads of the gates.
#include "cpu/recurrent.h"

#include <cmath>

namespace fastcnn::cpu {

namespace {

template <typename T>
inline T sigmoid(T x) {
  // Split by sign so exp never overflows.
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
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
  T peep(const T* plane, int64_t p) const { return plane ? plane[p] : T(0); }
};

}  // namespace

template <typename T>
void convlstm_gates_forward(const T* gates, const T* cell, const T* peephole, T* hidden, T* next_cell, int64_t N,
                            int64_t K, int64_t HW) {
#pragma omp parallel for schedule(static) if (N * K * HW > 16384)
  for (int64_t nk = 0; nk < N * K; ++nk) {
    const int64_t n = nk / K, k = nk % K;
    const GatePlanes<T> g(gates, peephole, n, k, K, HW);
    const T* c = cell + nk * HW;
    T* h_out = hidden + nk * HW;
    T* c_out = next_cell + nk * HW;
    for (int64_t p = 0; p < HW; ++p) {
      const T i = sigmoid(g.input[p] + g.peep(g.peep_input, p) * c[p]);
      const T f = sigmoid(g.forget[p] + g.peep(g.peep_forget, p) * c[p]);
      const T next = f * c[p] + i * std::tanh(g.candidate[p]);
      const T o = sigmoid(g.output[p] + g.peep(g.peep_output, p) * next);
      c_out[p] = next;
      h_out[p] = o * std::tanh(next);
    }
  }
}

template <typename T>
void convlstm_gates_backward(const T* gates, const T* cell, const T* peephole, const T* grad_hidden,
                             const T* grad_next_cell, T* grad_gates, T* grad_cell, T* grad_peephole, int64_t N,
                             int64_t K, int64_t HW) {
  // One channel per iteration: the peephole gradients of channel k sum over the batch in a
  // fixed order, so the result does not depend on the thread count.
#pragma omp parallel for schedule(static) if (N * K * HW > 16384)
  for (int64_t k = 0; k < K; ++k) {
    T* dw_i = grad_peephole ? grad_peephole + k * HW : nullptr;
    T* dw_f = grad_peephole ? grad_peephole + (K + k) * HW : nullptr;
    T* dw_o = grad_peephole ? grad_peephole + (2 * K + k) * HW : nullptr;
    if (grad_peephole) {
      for (int64_t p = 0; p < HW; ++p) dw_i[p] = dw_f[p] = dw_o[p] = T(0);
    }
    for (int64_t n = 0; n < N; ++n) {
      const int64_t nk = n * K + k;
      const GatePlanes<T> g(gates, peephole, n, k, K, HW);
      const T* c = cell + nk * HW;
      const T* dh = grad_hidden + nk * HW;
      const T* dc_next = grad_next_cell + nk * HW;
      T* da = grad_gates + n * 4 * K * HW + k * HW;
      T* dc = grad_cell + nk * HW;
      for (int64_t p = 0; p < HW; ++p) {
        const T w_ci = g.peep(g.peep_input, p), w_cf = g.peep(g.peep_forget, p), w_co = g.peep(g.peep_output, p);
        const T i = sigmoid(g.input[p] + w_ci * c[p]);
        const T f = sigmoid(g.forget[p] + w_cf * c[p]);
        const T cand = std::tanh(g.candidate[p]);
        const T next = f * c[p] + i * cand;
        const T o = sigmoid(g.output[p] + w_co * next);
        const T t = std::tanh(next);
        const T da_o = dh[p] * t * o * (T(1) - o);
        const T dnext = dc_next[p] + dh[p] * o * (T(1) - t * t) + da_o * w_co;
        const T da_i = dnext * cand * i * (T(1) - i);
        const T da_f = dnext * c[p] * f * (T(1) - f);
        da[p] = da_i;
        da[K * HW + p] = da_f;
        da[2 * K * HW + p] = dnext * i * (T(1) - cand * cand);
        da[3 * K * HW + p] = da_o;
        dc[p] = dnext * f + da_i * w_ci + da_f * w_cf;
        if (grad_peephole) {
          dw_i[p] += da_i * c[p];
          dw_f[p] += da_f * c[p];
          dw_o[p] += da_o * next;
        }
      }
    }
  }
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
