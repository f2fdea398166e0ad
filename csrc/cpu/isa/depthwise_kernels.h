#pragma once
// Depthwise-convolution row kernels, one per ISA with one signature (csrc/cpu/conv.cpp picks one
// at start-up). One call computes one output row of a stride-1 depthwise convolution from
// zero-padded input rows, so no tap needs a bounds check:
//   out[q] = init + sum_{t < taps} weights[t] * rows[t][q]   for q < count
// rows[t] points at the padded input row and column that tap t reads for q = 0.
//
// The dots kernel serves the weight gradient: for every tap t < taps,
//   out[t] += sum_{j < length} a[j] * b[offsets[t] + j]
// with a the stacked grad_output grids and b the stacked input windows (conv_depthwise.cpp). The
// taps go in groups that share each load of a, with two vectors per tap in flight so the FMA
// pipes stay busy; the one horizontal sum per tap comes at the end of the long dot product.
#include <cstdint>

namespace fastcnn::cpu {

template <typename T>
using DepthwiseRowKernel = void (*)(int64_t count, int64_t taps, const T* const* rows, const T* weights, T init,
                                    T* out);
template <typename T>
using DepthwiseDotsKernel = void (*)(int64_t length, int64_t taps, const T* a, const T* b, const int64_t* offsets,
                                     T* out);

namespace generic {
template <typename T>
void depthwise_row(int64_t count, int64_t taps, const T* const* rows, const T* weights, T init, T* out);
template <typename T>
void depthwise_dots(int64_t length, int64_t taps, const T* a, const T* b, const int64_t* offsets, T* out);
}  // namespace generic
namespace avx2 {
void depthwise_row(int64_t count, int64_t taps, const float* const* rows, const float* weights, float init,
                   float* out);
void depthwise_dots(int64_t length, int64_t taps, const float* a, const float* b, const int64_t* offsets,
                    float* out);
}  // namespace avx2
namespace avx512 {
void depthwise_row(int64_t count, int64_t taps, const float* const* rows, const float* weights, float init,
                   float* out);
void depthwise_dots(int64_t length, int64_t taps, const float* a, const float* b, const int64_t* offsets,
                    float* out);
}  // namespace avx512

}  // namespace fastcnn::cpu
