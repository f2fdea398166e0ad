// Portable depthwise kernels (also the float64 path): loops the compiler vectorises; the dot
// products' `omp simd` reductions allow the reassociation that vectorising a sum needs.
#include "cpu/isa/depthwise_kernels.h"

namespace fastcnn::cpu::generic {

template <typename T>
void depthwise_row(int64_t count, int64_t taps, const T* const* rows, const T* weights, T init, T* out) {
  for (int64_t q = 0; q < count; ++q) out[q] = init;
  for (int64_t t = 0; t < taps; ++t) {
    const T w = weights[t];
    const T* row = rows[t];
    for (int64_t q = 0; q < count; ++q) out[q] += w * row[q];
  }
}

template <typename T>
void depthwise_dots(int64_t length, int64_t taps, const T* a, const T* b, const int64_t* offsets, T* out) {
  for (int64_t t = 0; t < taps; ++t) {
    const T* row = b + offsets[t];
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < length; ++j) sum += a[j] * row[j];
    out[t] += sum;
  }
}

template void depthwise_row<float>(int64_t, int64_t, const float* const*, const float*, float, float*);
template void depthwise_row<double>(int64_t, int64_t, const double* const*, const double*, double, double*);

template void depthwise_dots<float>(int64_t, int64_t, const float*, const float*, const int64_t*, float*);
template void depthwise_dots<double>(int64_t, int64_t, const double*, const double*, const int64_t*, double*);

}  // namespace fastcnn::cpu::generic
