#include "core/check.h"
#include "cpu/gemm.h"
#include "ops/ops.h"

namespace fastcnn::ops {

// a: (B, M, K) or (B, K, M) when transpose_a; b: (B, K, N) or (B, N, K) when transpose_b.
// A batch of 1 in either operand broadcasts against the other.
py::array bmm(const py::array& a, const py::array& b, bool transpose_a, bool transpose_b) {
  const char* op = "matmul";
  const DType dtype = check_float(op, "input", a);
  check_same_dtype(op, "input", a, "other", b);
  check_ndim(op, "input", a, {3});
  check_ndim(op, "other", b, {3});
  const int64_t batch_a = a.shape(0), batch_b = b.shape(0);
  const int64_t M = transpose_a ? a.shape(2) : a.shape(1), K = transpose_a ? a.shape(1) : a.shape(2);
  const int64_t K_b = transpose_b ? b.shape(2) : b.shape(1), N = transpose_b ? b.shape(1) : b.shape(2);
  if (K != K_b)
    fail_value(op, "inner dimensions differ: " + std::to_string(K) + " vs " + std::to_string(K_b) + " (input " +
                       shape_string(a) + ", other " + shape_string(b) + ")");
  if (batch_a != batch_b && batch_a != 1 && batch_b != 1)
    fail_value(op, "batch sizes " + std::to_string(batch_a) + " and " + std::to_string(batch_b) +
                       " do not broadcast (input " + shape_string(a) + ", other " + shape_string(b) + ")");
  const int64_t batch = std::max(batch_a, batch_b);
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto out = new_array<T>({batch, M, N});
    const T* pa = data_of<T>(a);
    const T* pb = data_of<T>(b);
    T* pc = out.mutable_data();
    const int64_t lda = a.shape(2), ldb = b.shape(2);
    py::gil_scoped_release release;
    cpu::gemm_batched<T>(batch, transpose_a, transpose_b, M, N, K, T(1), pa, lda, batch_a == 1 ? 0 : M * K, pb, ldb,
                         batch_b == 1 ? 0 : K * N, T(0), pc, N, M * N);
    return out;
  });
}

}  // namespace fastcnn::ops
