// AVX2 depthwise kernels. Row: up to 64 outputs at a time in eight registers, every tap
// accumulated before the one store, the rest 8 at a time (masked). Dots: four taps at a time, 16 values of a
// per step in two registers per tap (8 independent FMA chains); their tails run scalar.
#include <immintrin.h>

#include <algorithm>

#include "cpu/isa/depthwise_kernels.h"

namespace fastcnn::cpu::avx2 {

namespace {

// V vectors of outputs from q on. A 3x3 kernel makes each vector a chain of 9 dependent FMAs, so
// the vectors are the independent chains: with two (16 outputs), the 4-cycle FMA latency left the
// two FMA pipes idle 3/4 of the time; eight keep them busy. Named accumulators, not an array: GCC
// stored an array back to memory after every tap (as in gemm_kernel.cpp).
template <int V>
inline void row_vectors(int64_t q, int64_t taps, const float* const* rows, const float* weights, float init,
                        float* out) {
  static_assert(V == 2 || V == 4 || V == 8);
  __m256 a0 = _mm256_set1_ps(init), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (int64_t t = 0; t < taps; ++t) {
    const __m256 w = _mm256_broadcast_ss(weights + t);
    const float* row = rows[t] + q;
    a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row), a0);
    a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 8), a1);
    if constexpr (V > 2) {
      a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 16), a2);
      a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 24), a3);
    }
    if constexpr (V > 4) {
      a4 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 32), a4);
      a5 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 40), a5);
      a6 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 48), a6);
      a7 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 56), a7);
    }
  }
  float* o = out + q;
  _mm256_storeu_ps(o, a0);
  _mm256_storeu_ps(o + 8, a1);
  if constexpr (V > 2) {
    _mm256_storeu_ps(o + 16, a2);
    _mm256_storeu_ps(o + 24, a3);
  }
  if constexpr (V > 4) {
    _mm256_storeu_ps(o + 32, a4);
    _mm256_storeu_ps(o + 40, a5);
    _mm256_storeu_ps(o + 48, a6);
    _mm256_storeu_ps(o + 56, a7);
  }
}

}  // namespace

void depthwise_row(int64_t count, int64_t taps, const float* const* rows, const float* weights, float init,
                   float* out) {
  int64_t q = 0;
  for (; q + 64 <= count; q += 64) row_vectors<8>(q, taps, rows, weights, init, out);
  if (q + 32 <= count) {
    row_vectors<4>(q, taps, rows, weights, init, out);
    q += 32;
  }
  if (q + 16 <= count) {
    row_vectors<2>(q, taps, rows, weights, init, out);
    q += 16;
  }
  // The rest (small planes are all rest: a 4 x 4 output's grid is 24 values) in vectors of 8, the
  // last masked. Scalar, they were nine dependent FMAs per value: 8 of them took as long as 64.
  for (; q < count; q += 8) {
    const int lanes = int(std::min<int64_t>(8, count - q));
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 acc = _mm256_set1_ps(init);
    for (int64_t t = 0; t < taps; ++t) {
      const __m256 values = lanes == 8 ? _mm256_loadu_ps(rows[t] + q) : _mm256_maskload_ps(rows[t] + q, mask);
      acc = _mm256_fmadd_ps(_mm256_broadcast_ss(weights + t), values, acc);
    }
    if (lanes == 8)
      _mm256_storeu_ps(out + q, acc);
    else
      _mm256_maskstore_ps(out + q, mask, acc);
  }
}

namespace {

// out[t] += sum_j a[j] * b[offsets[t] + j] for the Taps taps starting at offsets.
template <int Taps>
void dots_group(int64_t length, const float* a, const float* b, const int64_t* offsets, float* out) {
  const float* rows[Taps];
  __m256 acc0[Taps], acc1[Taps];
  for (int t = 0; t < Taps; ++t) {
    rows[t] = b + offsets[t];
    acc0[t] = acc1[t] = _mm256_setzero_ps();
  }
  int64_t j = 0;
  for (; j + 16 <= length; j += 16) {
    const __m256 a0 = _mm256_loadu_ps(a + j), a1 = _mm256_loadu_ps(a + j + 8);
    for (int t = 0; t < Taps; ++t) {
      acc0[t] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(rows[t] + j), acc0[t]);
      acc1[t] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(rows[t] + j + 8), acc1[t]);
    }
  }
  for (int t = 0; t < Taps; ++t) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, _mm256_add_ps(acc0[t], acc1[t]));
    float sum = 0;
    for (int lane = 0; lane < 8; ++lane) sum += lanes[lane];
    for (int64_t tail = j; tail < length; ++tail) sum += a[tail] * rows[t][tail];
    out[t] += sum;
  }
}

}  // namespace

void depthwise_dots(int64_t length, int64_t taps, const float* a, const float* b, const int64_t* offsets,
                    float* out) {
  int64_t t = 0;
  for (; t + 4 <= taps; t += 4) dots_group<4>(length, a, b, offsets + t, out + t);
  for (; t < taps; ++t) dots_group<1>(length, a, b, offsets + t, out + t);
}

}  // namespace fastcnn::cpu::avx2
