#pragma once
// The machine's own limits, measured, so bench/ can say what fraction of them a kernel reaches.
#include <cstdint>

namespace fastcnn::cpu {

// fp32 GFLOP/s of independent FMA chains on every OpenMP thread, with the best micro-kernel of
// the active ISA; the best of the windows that fit in `seconds`.
double measure_fma_peak(double seconds);

// GB/s of the STREAM triad a[i] = b[i] + s * c[i] over three float arrays of bytes / 3 each,
// run by every OpenMP thread; counts the 3 x 4 bytes each element moves, the best pass in `seconds`.
double measure_stream_bandwidth(int64_t bytes, double seconds);

}  // namespace fastcnn::cpu
