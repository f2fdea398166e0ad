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
//
// The plane kernels (AVX-512 only; elsewhere the row kernel serves) take planes of at most
// kPlaneValues values, each held whole in up to four registers, so that a tap's values for 16
// outputs are one permute of them through an index table (PlaneGather) built once per call.
// gather, for the target planes j in [first, last) of one image:
//   target_j[o] = bias[j] + sum_{m < per_target} sum_t weights[(j per_target + m) taps + t] * source_jm[index[t][o]]
//   with source_jm the source plane j per_target / per_source + m;
// the forward takes per_target = 1, per_source = M (output channel j reads input channel j / M),
// the input gradient per_target = M, per_source = 1 (input channel j sums its M outputs' gradients).
// dots, the weight gradient's sums over `count` images:
//   out[t] = sum_{i < count} sum_o target_i[o] * source_i[index[t][o]]
//   with target_i = target + i * target_stride (output gradient planes), source_i likewise (inputs).
// An index of -1 reads 0 (padding, or no tap).
#include <cstdint>

namespace fastcnn::cpu {

inline constexpr int64_t kPlaneValues = 64;

struct PlaneGather {
  int64_t source_size, target_size, taps;  // values per plane, each at most kPlaneValues
  const int32_t* index;     // taps x vectors x 16 (vectors = target_size / 16 rounded up): source value or -1
  const uint16_t* valid;    // taps x vectors: the lanes whose index is not -1
  const uint16_t* upper;    // taps x vectors: the lanes whose index is 32 or more
};

using PlaneGatherKernel = void (*)(const PlaneGather& g, int64_t first, int64_t last, const float* source,
                                   int64_t per_target, int64_t per_source, const float* weights, const float* bias,
                                   float* target);
using PlaneDotsKernel = void (*)(const PlaneGather& g, int64_t count, const float* target, int64_t target_stride,
                                 const float* source, int64_t source_stride, float* out);

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
// The plane kernels for g's sizes.
PlaneGatherKernel plane_gather_kernel(const PlaneGather& g);
PlaneDotsKernel plane_dots_kernel(const PlaneGather& g);
}  // namespace avx512

}  // namespace fastcnn::cpu
