// AVX2 FMA burst: 12 ymm accumulators. Two FMA pipes x 4-5 cycle latency need 8-10 chains in
// flight; 12 plus the two operands fit the 16 registers without spilling.
#include <immintrin.h>

#include "cpu/isa/fma_burst.h"
#include "cpu/isa/peak.h"

namespace fastcnn::cpu::avx2 {

namespace {

struct Avx2 {
  using Vector = __m256;
  static Vector broadcast(float value) { return _mm256_set1_ps(value); }
  static Vector fmadd(Vector a, Vector b, Vector c) { return _mm256_fmadd_ps(a, b, c); }
  static Vector add(Vector a, Vector b) { return _mm256_add_ps(a, b); }
  static float sum(Vector a) {
    const __m128 half = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
    return _mm_cvtss_f32(_mm_add_ss(quarter, _mm_movehdup_ps(quarter)));
  }
};

constexpr int kAccumulators = 12;

}  // namespace

extern const FmaBurst fma_burst = {run_fma_burst<Avx2, kAccumulators>, kAccumulators * 8 * 2};

}  // namespace fastcnn::cpu::avx2
