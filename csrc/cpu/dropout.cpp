// Dropout (seed, "Dropout Layer"):
//   out_i = 0 with probability p,  in_i / (1 - p) with probability 1 - p
//   d out_i / d in_i = mask_i / (1 - p)
// mask_i = [u_i >= p], u_i = the 32-bit number i of the stream / 2^32, where numbers 2j and 2j + 1
// are the halves of SplitMix64(seed + (j + 1) * golden gamma): the SplitMix64 sequence evaluated at
// position j, a statistically strong hash of (seed, j) that any thread can compute for any i.
#include "cpu/dropout.h"
#include "core/parallel.h"

#include <algorithm>
#include <cmath>

namespace fastcnn::cpu {

namespace {

inline uint64_t splitmix64(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint32_t uniform_bits(uint64_t seed, uint64_t index) {
  return uint32_t(splitmix64(seed, index >> 1) >> (32 * (index & 1)));
}

template <typename T>
void apply_mask(const T* input, T* output, int64_t blocks, int64_t block_size, double p, uint64_t seed) {
  // keep when u >= p, compared on the 32-bit grid; p = 1 has scale 0, so nothing survives.
  const uint32_t threshold = uint32_t(std::min(std::ceil(p * 4294967296.0), 4294967295.0));
  const T scale = p < 1 ? T(1 / (1 - p)) : T(0);
  if (block_size > 1) {
    parallel_for(blocks, worth_parallel(blocks * block_size), [&](int64_t b) {
      const T factor = uniform_bits(seed, uint64_t(b)) >= threshold ? scale : T(0);
      for (int64_t s = 0; s < block_size; ++s) output[b * block_size + s] = input[b * block_size + s] * factor;
    });
    return;
  }
  // One value per block: draw a chunk's bits first (two per hash), then mask the chunk in a loop
  // that vectorises. Chunks start at even positions, so the hash pairs never straddle two chunks.
  constexpr int64_t kChunk = 512;
  const int64_t chunks = (blocks + kChunk - 1) / kChunk;
  parallel_for(chunks, worth_parallel(blocks), [&](int64_t chunk) {
    const int64_t begin = chunk * kChunk, count = std::min(kChunk, blocks - begin);
    uint32_t bits[kChunk];
    for (int64_t i = 0; i < count; i += 2) {
      const uint64_t hash = splitmix64(seed, uint64_t(begin + i) >> 1);
      bits[i] = uint32_t(hash);
      bits[i + 1] = uint32_t(hash >> 32);
    }
    const T* in = input + begin;
    T* out = output + begin;
    for (int64_t i = 0; i < count; ++i) out[i] = in[i] * (bits[i] >= threshold ? scale : T(0));
  });
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
