// AVX-512 FMA burst: 16 zmm accumulators. Two FMA pipes x 4-cycle latency need 8 chains in
// flight; 16 leave margin and still fit the 32 registers with the two operands.
#include <immintrin.h>

#include "cpu/isa/fma_burst.h"
#include "cpu/isa/peak.h"

namespace fastcnn::cpu::avx512 {

namespace {

struct Avx512 {
  using Vector = __m512;
  static Vector broadcast(float value) { return _mm512_set1_ps(value); }
  static Vector fmadd(Vector a, Vector b, Vector c) { return _mm512_fmadd_ps(a, b, c); }
  static Vector add(Vector a, Vector b) { return _mm512_add_ps(a, b); }
  static float sum(Vector a) { return _mm512_reduce_add_ps(a); }
};

constexpr int kAccumulators = 16;

}  // namespace

extern const FmaBurst fma_burst = {run_fma_burst<Avx512, kAccumulators>, kAccumulators * 16 * 2};

}  // namespace fastcnn::cpu::avx512
