// Same-shape binary arithmetic: out = a + b, a - b or a * b, element by element. Derivatives
// (applied in python/fastcnn/ops/elementwise.py): d(a + b) = (1, 1), d(a - b) = (1, -1),
// d(a b) = (b, a).
//
// NumPy runs these on one thread; a residual block's addition over a multi-MiB activation is
// memory-bound, so splitting it across the threads nearly doubles its bandwidth.
#include "cpu/elementwise.h"

#include <type_traits>

#include "core/parallel.h"

namespace fastcnn::cpu {

namespace {

// The operation is a template argument, so each gets its own branch-free, vectorised loop.
template <BinaryOp kOp, typename T>
void binary_loop(const T* a, const T* b, T* output, int64_t size) {
#pragma omp parallel for schedule(static) if (worth_parallel(size))
  for (int64_t i = 0; i < size; ++i) {
    if constexpr (kOp == BinaryOp::add) output[i] = a[i] + b[i];
    if constexpr (kOp == BinaryOp::sub) output[i] = a[i] - b[i];
    if constexpr (kOp == BinaryOp::mul) output[i] = a[i] * b[i];
  }
}

}  // namespace

template <typename T>
void binary_forward(BinaryOp op, const T* a, const T* b, T* output, int64_t size) {
  switch (op) {
    case BinaryOp::add: return binary_loop<BinaryOp::add>(a, b, output, size);
    case BinaryOp::sub: return binary_loop<BinaryOp::sub>(a, b, output, size);
    case BinaryOp::mul: return binary_loop<BinaryOp::mul>(a, b, output, size);
  }
}

template void binary_forward<float>(BinaryOp, const float*, const float*, float*, int64_t);
template void binary_forward<double>(BinaryOp, const double*, const double*, double*, int64_t);

}  // namespace fastcnn::cpu
