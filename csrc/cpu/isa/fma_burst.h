#pragma once
// The FMA burst shared by the vector ISAs (included only by csrc/cpu/isa/<isa>/peak.cpp, which
// are compiled with their ISA's flags). Ops supplies the register type and four intrinsics:
// broadcast, fmadd (a * b + c), add and sum (of the lanes).
#include <cstdint>

namespace fastcnn::cpu {

template <typename Ops, int kAccumulators>
float run_fma_burst(int64_t iterations) {
  typename Ops::Vector acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = Ops::broadcast(0.001f * static_cast<float>(i));
  // acc <- acc * 0.999999 + 1e-7 converges to 0.1: no overflow and no denormals, however long it runs.
  const typename Ops::Vector scale = Ops::broadcast(0.999999f), shift = Ops::broadcast(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
    // Fully unrolled, so every accumulator lives in its own register.
#pragma GCC unroll 32
    for (int i = 0; i < kAccumulators; ++i) acc[i] = Ops::fmadd(acc[i], scale, shift);
  }
  for (int i = 1; i < kAccumulators; ++i) acc[0] = Ops::add(acc[0], acc[i]);
  return Ops::sum(acc[0]);
}

}  // namespace fastcnn::cpu
