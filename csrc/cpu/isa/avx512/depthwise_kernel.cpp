// AVX-512 depthwise kernels. Row: 32 outputs at a time in two registers, every tap accumulated
// before the one store (9 loads + 9 FMAs per 16 outputs for a 3x3 kernel). Dots: four taps at a
// time, 32 values of a per step in two registers per tap (8 independent FMA chains). Tails use masks.
// Planes (cpu/isa/depthwise_kernels.h): a plane of up to 64 values in up to four registers, each
// tap's values for 16 outputs one permute (two and a blend from four registers) and an FMA.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "cpu/isa/depthwise_kernels.h"

namespace fastcnn::cpu::avx512 {

void depthwise_row(int64_t count, int64_t taps, const float* const* rows, const float* weights, float init,
                   float* out) {
  int64_t q = 0;
  for (; q + 32 <= count; q += 32) {
    __m512 acc0 = _mm512_set1_ps(init), acc1 = acc0;
    for (int64_t t = 0; t < taps; ++t) {
      const __m512 w = _mm512_set1_ps(weights[t]);
      acc0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(rows[t] + q), acc0);
      acc1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(rows[t] + q + 16), acc1);
    }
    _mm512_storeu_ps(out + q, acc0);
    _mm512_storeu_ps(out + q + 16, acc1);
  }
  for (; q < count; q += 16) {
    const __mmask16 mask = count - q >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (count - q)) - 1);
    __m512 acc = _mm512_set1_ps(init);
    for (int64_t t = 0; t < taps; ++t)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(weights[t]), _mm512_maskz_loadu_ps(mask, rows[t] + q), acc);
    _mm512_mask_storeu_ps(out + q, mask, acc);
  }
}

namespace {

// out[t] += sum_j a[j] * b[offsets[t] + j] for the Taps taps starting at offsets.
template <int Taps>
void dots_group(int64_t length, const float* a, const float* b, const int64_t* offsets, float* out) {
  const float* rows[Taps];
  __m512 acc0[Taps], acc1[Taps];
  for (int t = 0; t < Taps; ++t) {
    rows[t] = b + offsets[t];
    acc0[t] = acc1[t] = _mm512_setzero_ps();
  }
  int64_t j = 0;
  for (; j + 32 <= length; j += 32) {
    const __m512 a0 = _mm512_loadu_ps(a + j), a1 = _mm512_loadu_ps(a + j + 16);
    for (int t = 0; t < Taps; ++t) {
      acc0[t] = _mm512_fmadd_ps(a0, _mm512_loadu_ps(rows[t] + j), acc0[t]);
      acc1[t] = _mm512_fmadd_ps(a1, _mm512_loadu_ps(rows[t] + j + 16), acc1[t]);
    }
  }
  for (; j < length; j += 16) {
    const __mmask16 mask = length - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (length - j)) - 1);
    const __m512 a0 = _mm512_maskz_loadu_ps(mask, a + j);
    for (int t = 0; t < Taps; ++t) acc0[t] = _mm512_fmadd_ps(a0, _mm512_maskz_loadu_ps(mask, rows[t] + j), acc0[t]);
  }
  for (int t = 0; t < Taps; ++t) out[t] += _mm512_reduce_add_ps(_mm512_add_ps(acc0[t], acc1[t]));
}

}  // namespace

void depthwise_dots(int64_t length, int64_t taps, const float* a, const float* b, const int64_t* offsets,
                    float* out) {
  int64_t t = 0;
  for (; t + 4 <= taps; t += 4) dots_group<4>(length, a, b, offsets + t, out + t);
  for (; t < taps; ++t) dots_group<1>(length, a, b, offsets + t, out + t);
}

namespace {

// The lanes of a vector holding values [16 j, count) of a row of `count`.
inline __mmask16 lanes(int64_t count, int j) {
  const int64_t n = count - 16 * j;
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// A plane of `size` <= 16 kRegs values in kRegs registers (zero past the plane).
template <int kRegs>
inline void load_plane(const float* plane, int64_t size, __m512* regs) {
  for (int j = 0; j < kRegs; ++j) regs[j] = _mm512_maskz_loadu_ps(lanes(size, j), plane + 16 * j);
}

// The plane values at 16 indices (-1: 0): one permute from one or two registers, two and a
// blend from four.
template <int kRegs>
inline __m512 gather(const __m512* regs, __m512i at, __mmask16 valid, __mmask16 upper) {
  if constexpr (kRegs == 1) {
    return _mm512_maskz_permutexvar_ps(valid, at, regs[0]);
  } else if constexpr (kRegs == 2) {
    return _mm512_maskz_permutex2var_ps(valid, regs[0], at, regs[1]);
  } else {
    const __m512 low = _mm512_permutex2var_ps(regs[0], at, regs[1]);
    const __m512 high = _mm512_permutex2var_ps(regs[2], at, regs[3]);
    return _mm512_maskz_mov_ps(valid, _mm512_mask_blend_ps(upper, low, high));
  }
}

// kPlanes target planes from j on, their FMA chains interleaved (one plane's nine dependent FMAs
// per vector would wait on the FMA latency); each index vector and mask serves all of them.
template <int kRegs, int kVectors, int kPlanes>
inline void gather_planes(const PlaneGather& g, int64_t j, const float* source, int64_t per_target,
                          int64_t per_source, const float* weights, const float* bias, float* target) {
  __m512 acc[kPlanes][kVectors];
  for (int p = 0; p < kPlanes; ++p)
    for (int v = 0; v < kVectors; ++v) acc[p][v] = _mm512_set1_ps(bias != nullptr ? bias[j + p] : 0.0f);
  for (int64_t m = 0; m < per_target; ++m) {
    __m512 regs[kPlanes][kRegs];
    const float* w[kPlanes];
    for (int p = 0; p < kPlanes; ++p) {
      // No division for M = 1 (an integer division costs as much as a 4 x 4 plane's FMAs).
      const int64_t first = per_source == 1 ? (j + p) * per_target : (j + p) * per_target / per_source;
      load_plane<kRegs>(source + (first + m) * g.source_size, g.source_size, regs[p]);
      w[p] = weights + ((j + p) * per_target + m) * g.taps;
    }
    for (int64_t t = 0; t < g.taps; ++t) {
      __m512 tap_weight[kPlanes];
      for (int p = 0; p < kPlanes; ++p) tap_weight[p] = _mm512_set1_ps(w[p][t]);
      for (int v = 0; v < kVectors; ++v) {
        const int64_t at = t * kVectors + v;
        const __m512i index = _mm512_loadu_si512(g.index + at * 16);
        for (int p = 0; p < kPlanes; ++p)
          acc[p][v] = _mm512_fmadd_ps(tap_weight[p], gather<kRegs>(regs[p], index, g.valid[at], g.upper[at]),
                                      acc[p][v]);
      }
    }
  }
  for (int p = 0; p < kPlanes; ++p)
    for (int v = 0; v < kVectors; ++v)
      _mm512_mask_storeu_ps(target + (j + p) * g.target_size + 16 * v, lanes(g.target_size, v), acc[p][v]);
}

template <int kRegs, int kVectors>
void plane_gather(const PlaneGather& g, int64_t first, int64_t last, const float* source, int64_t per_target,
                  int64_t per_source, const float* weights, const float* bias, float* target) {
  // Planes of one vector each take four at a time: their whole FMA chains are short.
  constexpr int kGroup = kRegs * kVectors == 1 ? 4 : 2;
  int64_t j = first;
  for (; j + kGroup <= last; j += kGroup)
    gather_planes<kRegs, kVectors, kGroup>(g, j, source, per_target, per_source, weights, bias, target);
  for (; j < last; ++j) gather_planes<kRegs, kVectors, 1>(g, j, source, per_target, per_source, weights, bias, target);
}

// Taps in blocks of 9 (a 3x3 kernel in one pass), one accumulator each: written as a loop over
// the whole block with a test, so that every accumulator stays a register.
template <int kRegs, int kVectors>
void plane_dots(const PlaneGather& g, int64_t count, const float* target, int64_t target_stride, const float* source,
                int64_t source_stride, float* out) {
  constexpr int kTapBlock = 9;
  for (int64_t t0 = 0; t0 < g.taps; t0 += kTapBlock) {
    const int64_t taps = std::min<int64_t>(kTapBlock, g.taps - t0);
    __m512 acc[kTapBlock];
    for (int t = 0; t < kTapBlock; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < count; ++i) {
      __m512 regs[kRegs], grad[kVectors];
      load_plane<kRegs>(source + i * source_stride, g.source_size, regs);
      load_plane<kVectors>(target + i * target_stride, g.target_size, grad);
      for (int t = 0; t < kTapBlock; ++t)
        if (t < taps)
          for (int v = 0; v < kVectors; ++v) {
            const int64_t at = (t0 + t) * kVectors + v;
            const __m512i index = _mm512_loadu_si512(g.index + at * 16);
            acc[t] = _mm512_fmadd_ps(grad[v], gather<kRegs>(regs, index, g.valid[at], g.upper[at]), acc[t]);
          }
    }
    for (int64_t t = 0; t < taps; ++t) out[t0 + t] = _mm512_reduce_add_ps(acc[t]);
  }
}

// The instantiation for g's sizes: source registers 1, 2 or 4, target vectors 1 to 4.
template <typename Kernel, template <int, int> typename Pick>
Kernel pick(const PlaneGather& g) {
  const int64_t vectors = (g.target_size + 15) / 16;
  const int regs = g.source_size <= 16 ? 1 : g.source_size <= 32 ? 2 : 4;
  auto by_vectors = [vectors](auto regs_constant) -> Kernel {
    constexpr int R = decltype(regs_constant)::value;
    switch (vectors) {
      case 1: return Pick<R, 1>::kernel;
      case 2: return Pick<R, 2>::kernel;
      case 3: return Pick<R, 3>::kernel;
      default: return Pick<R, 4>::kernel;
    }
  };
  if (regs == 1) return by_vectors(std::integral_constant<int, 1>{});
  if (regs == 2) return by_vectors(std::integral_constant<int, 2>{});
  return by_vectors(std::integral_constant<int, 4>{});
}

template <int R, int V>
struct PickGather {
  static constexpr PlaneGatherKernel kernel = &plane_gather<R, V>;
};
template <int R, int V>
struct PickDots {
  static constexpr PlaneDotsKernel kernel = &plane_dots<R, V>;
};

}  // namespace

PlaneGatherKernel plane_gather_kernel(const PlaneGather& g) { return pick<PlaneGatherKernel, PickGather>(g); }

PlaneDotsKernel plane_dots_kernel(const PlaneGather& g) { return pick<PlaneDotsKernel, PickDots>(g); }

}  // namespace fastcnn::cpu::avx512
