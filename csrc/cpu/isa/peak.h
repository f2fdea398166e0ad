#pragma once
// Peak-FMA micro-kernels, one per ISA with one signature (csrc/cpu/peak.cpp picks one by
// fastcnn::active_isa()). Each runs `iterations` rounds of independent fused multiply-adds on
// as many accumulators as the ISA's FMA pipes need to stay full (pipes x latency, with margin),
// and returns a sum of the accumulators so the compiler cannot drop the loop.
#include <cstdint>

namespace fastcnn::cpu {

struct FmaBurst {
  float (*run)(int64_t iterations);
  int64_t flops_per_iteration;  // accumulators x fp32 lanes x 2 (a multiply and an add)
};

namespace generic {
extern const FmaBurst fma_burst;
}  // namespace generic
namespace avx2 {
extern const FmaBurst fma_burst;
}  // namespace avx2
namespace avx512 {
extern const FmaBurst fma_burst;
}  // namespace avx512

}  // namespace fastcnn::cpu
