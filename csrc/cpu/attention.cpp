// Fused scaled-dot-product attention, forward and backward (FlashAttention, Dao et al. 2022,
// without its GPU tiling). Per batch item, with L queries, S keys, depth E and value depth Ev:
//   S_ij = scale * q_i . k_j + M_ij        (M: the additive mask; -inf hides a pair)
//   P_ij = exp(S_ij - lse_i),  lse_i = log sum_j exp(S_ij)
//   O_i  = sum_j P_ij v_j
// Backward, with D_i = dO_i . O_i (= sum_j P_ij dP_ij):
//   dV_j = sum_i P_ij dO_i,  dP_ij = dO_i . v_j,  dS_ij = P_ij (dP_ij - D_i)
//   dQ_i = scale sum_j dS_ij k_j,  dK_j = scale sum_i dS_ij q_i,  dM_ij = dS_ij
// The forward walks the keys block by block with an online softmax and keeps only O and lse
// (L values per item) for the backward, which recomputes P block by block. The backward runs
// twice over the pairs: once per query block (D and dQ), once per key block (dK, dV, dM), so
// every task owns its outputs and the result does not depend on the thread count or schedule.
// The block kernels live in csrc/cpu/isa/attention_lanes.h, compiled per ISA and chosen once
// from the table below.
#include "cpu/attention.h"

#include <vector>

#include "core/parallel.h"
#include "core/runtime.h"
#include "cpu/isa/attention_table.h"

namespace fastcnn::cpu {

namespace {

using isa::AttentionArgs;
using isa::kAttentionBlock;

isa::AttentionTable choose_table() {
#if defined(FASTCNN_X86)
  switch (active_isa()) {
    case Isa::avx512: return isa::attention_table_avx512();
    case Isa::avx2: return isa::attention_table_avx2();
    default: break;
  }
#endif
  return isa::attention_table_generic();
}

template <typename T>
const isa::AttentionKernels<T>& kernels();
template <>
const isa::AttentionKernels<float>& kernels<float>() {
  static const isa::AttentionTable table = choose_table();
  return table.f32;
}
template <>
const isa::AttentionKernels<double>& kernels<double>() {
  static const isa::AttentionTable table = choose_table();
  return table.f64;
}

// Work of one pass over the score pairs: its multiply-adds plus a vectorised exp per pair (about
// 2 units, as softmax's).
int64_t pass_work(const AttentionShape& shape) {
  const int64_t pairs = shape.batch * shape.queries * shape.keys;
  return pairs * (shape.depth + shape.value_depth) / kMultiplyAddsPerUnit + 2 * pairs;
}

// Runs run(batch item, first row) over every block of `rows` rows of every batch item. Blocks
// differ in cost under a causal mask and the machine is shared, so they are handed out
// dynamically; each writes only its own rows, so the schedule cannot change the result.
template <typename Run>
void for_each_block(int64_t batch, int64_t rows, int64_t work, Run run) {
  const int64_t blocks = (rows + kAttentionBlock - 1) / kAttentionBlock;
#pragma omp parallel for schedule(dynamic) if (worth_parallel(work))
  for (int64_t t = 0; t < batch * blocks; ++t) run(t / blocks, (t % blocks) * kAttentionBlock);
}

template <typename T>
AttentionArgs<T> make_args(const T* query, const T* key, const T* value, const T* mask, bool mask_broadcast,
                           const AttentionShape& shape, T scale, bool causal) {
  AttentionArgs<T> args{};
  args.query = query;
  args.key = key;
  args.value = value;
  args.mask = mask;
  args.mask_batch_stride = mask_broadcast ? 0 : shape.queries * shape.keys;
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
void attention_forward(const T* query, const T* key, const T* value, const T* mask, bool mask_broadcast, T* output,
                       T* log_sum_exp, const AttentionShape& shape, T scale, bool causal) {
  if (shape.batch * shape.queries == 0) return;
  const AttentionArgs<T> args = make_args(query, key, value, mask, mask_broadcast, shape, scale, causal);
  const auto& k = kernels<T>();
  for_each_block(shape.batch, shape.queries, pass_work(shape),
                 [&](int64_t item, int64_t first) { k.forward(args, item, first, output, log_sum_exp); });
}

template <typename T>
void attention_backward(const T* grad_output, const T* query, const T* key, const T* value, const T* mask,
                        bool mask_broadcast, const T* output, const T* log_sum_exp, T* grad_query, T* grad_key,
                        T* grad_value, T* grad_mask, const AttentionShape& shape, T scale, bool causal) {
  if (shape.batch * shape.queries * shape.keys == 0) return;
  std::vector<T> row_dot(shape.batch * shape.queries);
  AttentionArgs<T> args = make_args(query, key, value, mask, mask_broadcast, shape, scale, causal);
  args.output = output;
  args.log_sum_exp = log_sum_exp;
  args.grad_output = grad_output;
  args.row_dot = row_dot.data();
  args.grad_query = grad_query;
  args.grad_key = grad_key;
  args.grad_value = grad_value;
  args.grad_mask = grad_mask;
  const int64_t work = pass_work(shape);
  const auto& k = kernels<T>();
  for_each_block(shape.batch, shape.queries, work,
                 [&](int64_t item, int64_t first) { k.backward_query(args, item, first, row_dot.data()); });
  for_each_block(shape.batch, shape.keys, work,
                 [&](int64_t item, int64_t first) { k.backward_key_value(args, item, first); });
}

template void attention_forward<float>(const float*, const float*, const float*, const float*, bool, float*, float*,
                                       const AttentionShape&, float, bool);
template void attention_forward<double>(const double*, const double*, const double*, const double*, bool, double*,
                                        double*, const AttentionShape&, double, bool);
template void attention_backward<float>(const float*, const float*, const float*, const float*, const float*, bool,
                                        const float*, const float*, float*, float*, float*, float*,
                                        const AttentionShape&, float, bool);
template void attention_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                         bool, const double*, const double*, double*, double*, double*, double*,
                                         const AttentionShape&, double, bool);

}  // namespace fastcnn::cpu
