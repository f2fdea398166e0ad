#pragma once
// Inverted dropout with a counter-based generator: the mask is a pure function of (seed, block
// index), so it is reproducible, needs no state shared between threads, and the backward
// recomputes it instead of storing it.
#include <cstdint>

namespace fastcnn::cpu {

// The input is `blocks` contiguous runs of `block_size` values; each run is kept (and scaled by
// 1 / (1 - p)) with probability 1 - p, else zeroed. block_size 1 is dropout, H*W is dropout2d.
template <typename T>
void dropout_forward(const T* input, T* output, int64_t blocks, int64_t block_size, double p, uint64_t seed);

// grad_input = grad_output * mask / (1 - p), with the forward's mask (same seed).
template <typename T>
void dropout_backward_input(const T* grad_output, T* grad_input, int64_t blocks, int64_t block_size, double p,
                            uint64_t seed);

}  // namespace fastcnn::cpu
