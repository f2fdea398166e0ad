#pragma once
// Depthwise-convolution row kernels, one per ISA with one signature (csrc/cpu/conv.cpp picks one
// at start-up). One call computes one output row of a stride-1 depthwise convolution from
// zero-padded input rows, so no tap needs a bounds check:
//   out[q] = init + sum_{t < taps} weights[t] * rows[t][q]   for q < count
// rows[t] points at the padded input row and column that tap t reads for q = 0.
#include <cstdint>

namespace fastcnn::cpu {

template <typename T>
using DepthwiseRowKernel = void (*)(int64_t count, int64_t taps, const T* const* rows, const T* weights, T init,
                                    T* out);

namespace generic {
template <typename T>
void depthwise_row(int64_t count, int64_t taps, const T* const* rows, const T* weights, T init, T* out);
}  // namespace generic
namespace avx2 {
void depthwise_row(int64_t count, int64_t taps, const float* const* rows, const float* weights, float init,
                   float* out);
}  // namespace avx2
namespace avx512 {
void depthwise_row(int64_t count, int64_t taps, const float* const* rows, const float* weights, float init,
                   float* out);
}  // namespace avx512

}  // namespace fastcnn::cpu
