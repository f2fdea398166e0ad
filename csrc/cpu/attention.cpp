// Fused scaled-dot-product attention, forward and backward (FlashAttention, Dao et al. 2022,
// without its GPU tiling). Per batch item, with L queries, S keys, depth E and value depth Ev:
//   S_ij = scale * q_i . k_j + M_ij        (M: the additive mask; -inf hides a pair)
//   P_ij = exp(S_ij - lse_i),  lse_i = log sum_j exp(S_ij)
//   O_i  = sum_j P_ij v_j
// Backward, with D_i = dO_i . O_i (= sum_j P_ij dP_ij):
//   dV_j = sum_i P_ij dO_i,  dP_ij = dO_i . v_j,  dS_ij = P_ij (dP_ij - D_i)
//   dQ_i = scale sum_j dS_ij k_j,  dK_j = scale sum_i dS_ij q_i,  dM_ij = dS_ij
// The forward walks the keys block by block with an online softmax and keeps only O and lse
// (L values per item) for the backward, which recomputes P block by block. Forward tasks are
// query blocks; backward tasks are ranges of key blocks of one item, each writing its own dK, dV
// and dM and its own share of dQ, summed in a fixed order afterwards. Their number depends only
// on the shape, so the result does not depend on the thread count or the schedule.
// The block kernels live in csrc/cpu/isa/attention_lanes.h, compiled per ISA and chosen once
// from the table below.
#include "cpu/attention.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "cpu/isa/attention_table.h"
#include "cpu/isa/choose.h"

namespace fastcnn::cpu {

namespace {

using isa::AttentionArgs;
using isa::kAttentionBlock;

template <typename T>
const isa::AttentionKernels<T>& kernels() {
  static const isa::AttentionTable table = FASTCNN_CHOOSE_ISA_TABLE(attention_table);
  return isa::for_dtype<T>(table);
}

// Work of a pass over the score pairs: its multiply-adds plus a vectorised exp per pair (about
// 2 units, as softmax's).
int64_t pass_work(const AttentionShape& shape, int64_t products) {
  const int64_t pairs = shape.batch * shape.queries * shape.keys;
  return pairs * products / kMultiplyAddsPerUnit + 2 * pairs;
}

// Runs run(task) for task in [0, tasks). Tasks differ in cost under a causal mask and the
// machine is shared, so they are handed out dynamically; each writes only its own outputs, so
// the schedule cannot change the result.
template <typename Run>
void for_each_task(int64_t tasks, int64_t work, Run run) {
  parallel_for<Schedule::dynamic>(tasks, worth_parallel(work), [&](int64_t t) { run(t); });
}

// The backward splits each item's keys into this many ranges at most (fewer when the batch alone
// gives as many tasks): enough for every core of a large machine at batch 1, and a constant, so
// that dQ's summation order never depends on the thread count.
constexpr int64_t kBackwardTasks = 16;

template <typename T>
AttentionArgs<T> make_args(const T* query, const T* key, const T* value, const T* mask, int64_t mask_repeat,
                           const AttentionShape& shape, T scale, bool causal) {
  AttentionArgs<T> args{};
  args.query = query;
  args.key = key;
  args.value = value;
  args.mask = mask;
  args.mask_repeat = mask_repeat;
  args.queries = shape.queries;
  args.keys = shape.keys;
  args.depth = shape.depth;
  args.value_depth = shape.value_depth;
  args.scale = scale;
  args.causal = causal;
  return args;
}

}  // namespace

template <typename T>
void attention_forward(const T* query, const T* key, const T* value, const T* mask, int64_t mask_repeat, T* output,
                       T* log_sum_exp, const AttentionShape& shape, T scale, bool causal) {
  if (shape.batch * shape.queries == 0) return;
  const AttentionArgs<T> args = make_args(query, key, value, mask, mask_repeat, shape, scale, causal);
  const auto& k = kernels<T>();
  const int64_t blocks = (shape.queries + kAttentionBlock - 1) / kAttentionBlock;
  for_each_task(shape.batch * blocks, pass_work(shape, shape.depth + shape.value_depth), [&](int64_t t) {
    k.forward(args, t / blocks, (t % blocks) * kAttentionBlock, output, log_sum_exp);
  });
}

template <typename T>
void attention_backward(const T* grad_output, const T* query, const T* key, const T* value, const T* mask,
                        int64_t mask_repeat, const T* output, const T* log_sum_exp, T* grad_query, T* grad_key,
                        T* grad_value, T* grad_mask, const AttentionShape& shape, T scale, bool causal) {
  if (shape.batch * shape.queries * shape.keys == 0) return;
  AttentionArgs<T> args = make_args(query, key, value, mask, mask_repeat, shape, scale, causal);
  args.output = output;
  args.log_sum_exp = log_sum_exp;
  args.grad_output = grad_output;
  args.grad_key = grad_key;
  args.grad_value = grad_value;
  args.grad_mask = grad_mask;
  const int64_t key_blocks = (shape.keys + kAttentionBlock - 1) / kAttentionBlock;
  const int64_t wanted = std::min(key_blocks, (kBackwardTasks + shape.batch - 1) / shape.batch);
  const int64_t range_blocks = (key_blocks + wanted - 1) / wanted, ranges = (key_blocks + range_blocks - 1) / range_blocks;
  // One range per item writes dQ in place; several write their shares side by side, summed below.
  const int64_t grad_query_size = shape.queries * shape.depth;
  std::vector<T> shares(ranges > 1 ? shape.batch * ranges * grad_query_size : 0);
  const auto& k = kernels<T>();
  const int64_t products = 2 * shape.depth + 3 * shape.value_depth;
  for_each_task(shape.batch * ranges, pass_work(shape, products), [&](int64_t t) {
    const int64_t item = t / ranges, range = t % ranges;
    const int64_t first_key = range * range_blocks * kAttentionBlock;
    const int64_t key_end = std::min(shape.keys, first_key + range_blocks * kAttentionBlock);
    T* share = ranges > 1 ? shares.data() + t * grad_query_size : grad_query + item * grad_query_size;
    k.backward(args, item, first_key, key_end, share);
  });
  if (ranges == 1) return;
  parallel_for(shape.batch, worth_parallel(shares.size()), [&](int64_t item) {
    T* out = grad_query + item * grad_query_size;
    const T* share = shares.data() + item * ranges * grad_query_size;
    std::copy(share, share + grad_query_size, out);
    for (int64_t range = 1; range < ranges; ++range)
      for (int64_t i = 0; i < grad_query_size; ++i) out[i] += share[range * grad_query_size + i];
  });
}

template void attention_forward<float>(const float*, const float*, const float*, const float*, int64_t, float*, float*,
                                       const AttentionShape&, float, bool);
template void attention_forward<double>(const double*, const double*, const double*, const double*, int64_t, double*,
                                        double*, const AttentionShape&, double, bool);
template void attention_backward<float>(const float*, const float*, const float*, const float*, const float*, int64_t,
                                        const float*, const float*, float*, float*, float*, float*,
                                        const AttentionShape&, float, bool);
template void attention_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                         int64_t, const double*, const double*, double*, double*, double*, double*,
                                         const AttentionShape&, double, bool);

}  // namespace fastcnn::cpu
