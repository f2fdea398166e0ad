// Portable depthwise row kernel (also the float64 path): tap-outer loops the compiler vectorises.
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

template void depthwise_row<float>(int64_t, int64_t, const float* const*, const float*, float, float*);
template void depthwise_row<double>(int64_t, int64_t, const double* const*, const double*, double, double*);

}  // namespace fastcnn::cpu::generic
