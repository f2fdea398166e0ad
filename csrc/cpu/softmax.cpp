// softmax and log_softmax over one dim, forward and backward.
//   softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m),  m = max_j x_j (subtracting m keeps exp finite)
//   log_softmax(x)_i = x_i - m - log sum_j exp(x_j - m)
//   softmax backward:     dx_i = y_i (dy_i - sum_j dy_j y_j)
//   log_softmax backward: dx_i = dy_i - exp(y_i) sum_j dy_j
// The tensor is viewed as (outer, dim, inner). inner == 1 (the last dim) runs whole rows, vectorised
// along the row; otherwise blocks of adjacent columns run side by side, one vector lane per
// column, so no transpose is needed. The micro-kernels live in csrc/cpu/isa/softmax_lanes.h,
// compiled per ISA and chosen once from the table below.
#include "cpu/softmax.h"
#include "core/parallel.h"

#include <algorithm>

#include "cpu/isa/choose.h"
#include "cpu/isa/softmax_table.h"

namespace fastcnn::cpu {

namespace {

template <typename T>
const isa::SoftmaxKernels<T>& kernels() {
  static const isa::SoftmaxTable table = FASTCNN_CHOOSE_ISA_TABLE(softmax_table);
  return isa::for_dtype<T>(table);
}

// A softmax element is read twice and takes one vectorised exp: about 2 work units
// (core/parallel.h).
constexpr int64_t kElementCost = 2;
// Work items: about this many elements of rows, or column blocks of this width (a multiple of
// every ISA's lane count, so only the last block of a slab has partial vectors).
constexpr int64_t kTaskElements = 8192;
constexpr int64_t kColumnBlock = 64;

// Calls run(offset, count) over tasks covering the (outer, dim, inner) view.
template <typename Run>
void for_each_task(int64_t outer, int64_t dim, int64_t inner, Run run) {
  if (inner == 1) {
    const int64_t rows_per_task = std::max<int64_t>(1, kTaskElements / dim);
    const int64_t tasks = (outer + rows_per_task - 1) / rows_per_task;
    parallel_for(tasks, worth_parallel(outer * dim * kElementCost), [&](int64_t t) {
      const int64_t first = t * rows_per_task;
      run(first * dim, std::min(rows_per_task, outer - first));
    });
    return;
  }
  const int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  parallel_for(outer * blocks, worth_parallel(outer * dim * inner * kElementCost), [&](int64_t t) {
    const int64_t o = t / blocks, first = (t % blocks) * kColumnBlock;
    run(o * dim * inner + first, std::min(kColumnBlock, inner - first));
  });
}

}  // namespace

template <typename T>
void softmax_forward(const T* input, T* output, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (outer * dim * inner == 0) return;
  const auto& k = kernels<T>();
  for_each_task(outer, dim, inner, [&](int64_t offset, int64_t count) {
    k.forward(input + offset, output + offset, count, dim, inner, log);
  });
}

template <typename T>
void softmax_backward_input(const T* grad_output, const T* output, T* grad_input, int64_t outer, int64_t dim,
                            int64_t inner, bool log) {
  if (outer * dim * inner == 0) return;
  const auto& k = kernels<T>();
  for_each_task(outer, dim, inner, [&](int64_t offset, int64_t count) {
    k.backward(grad_output + offset, output + offset, grad_input + offset, count, dim, inner, log);
  });
}

template void softmax_forward<float>(const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax_forward<double>(const double*, double*, int64_t, int64_t, int64_t, bool);
template void softmax_backward_input<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax_backward_input<double>(const double*, const double*, double*, int64_t, int64_t, int64_t,
                                             bool);

}  // namespace fastcnn::cpu
