// Same-shape binary arithmetic: the threading. The loops are in csrc/cpu/isa/map_loops.h,
// compiled once per kernel set.
//
// NumPy runs these on one thread; a residual block's addition over a multi-MiB activation is
// memory-bound, so splitting it across the threads nearly doubles its bandwidth.
#include "cpu/elementwise.h"

#include "core/parallel.h"
#include "cpu/isa/map_table.h"

namespace fastcnn::cpu {

template <typename T>
void binary_forward(BinaryOp op, const T* a, const T* b, T* output, int64_t size) {
  const auto binary = isa::active_map_kernels<T>().binary;
  for_each_range<T>(size, size,
                    [=](int64_t begin, int64_t end) { binary(op, a + begin, b + begin, output + begin, end - begin); });
}

template void binary_forward<float>(BinaryOp, const float*, const float*, float*, int64_t);
template void binary_forward<double>(BinaryOp, const double*, const double*, double*, int64_t);

}  // namespace fastcnn::cpu
