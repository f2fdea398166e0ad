// Dropout (seed, "Dropout Layer"):
//   out_i = 0 with probability p,  in_i / (1 - p) with probability 1 - p
//   d out_i / d in_i = mask_i / (1 - p)
// mask_i = [u_i >= p], u_i = the top 53 bits of SplitMix64(seed + i * golden gamma) / 2^53: the
// SplitMix64 stream evaluated at position i, a statistically strong hash of (seed, i).
#include "cpu/dropout.h"

#include <cmath>

namespace fastcnn::cpu {

namespace {

inline uint64_t splitmix64(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

template <typename T>
void apply_mask(const T* input, T* output, int64_t blocks, int64_t block_size, double p, uint64_t seed) {
  // keep when u >= p, compared on the 53-bit integer grid; p = 1 keeps nothing.
  const uint64_t threshold = static_cast<uint64_t>(std::ceil(p * 9007199254740992.0));
  const T scale = p < 1 ? T(1 / (1 - p)) : T(0);
#pragma omp parallel for schedule(static) if (blocks * block_size > 32768)
  for (int64_t b = 0; b < blocks; ++b) {
    const T factor = (splitmix64(seed, uint64_t(b)) >> 11) >= threshold ? scale : T(0);
    const T* in = input + b * block_size;
    T* out = output + b * block_size;
    for (int64_t s = 0; s < block_size; ++s) out[s] = in[s] * factor;
  }
}

}  // namespace

template <typename T>
void dropout_forward(const T* input, T* output, int64_t blocks, int64_t block_size, double p, uint64_t seed) {
  apply_mask(input, output, blocks, block_size, p, seed);
}

template <typename T>
void dropout_backward_input(const T* grad_output, T* grad_input, int64_t blocks, int64_t block_size, double p,
                            uint64_t seed) {
  apply_mask(grad_output, grad_input, blocks, block_size, p, seed);
}

template void dropout_forward<float>(const float*, float*, int64_t, int64_t, double, uint64_t);
template void dropout_forward<double>(const double*, double*, int64_t, int64_t, double, uint64_t);
template void dropout_backward_input<float>(const float*, float*, int64_t, int64_t, double, uint64_t);
template void dropout_backward_input<double>(const double*, double*, int64_t, int64_t, double, uint64_t);

}  // namespace fastcnn::cpu
