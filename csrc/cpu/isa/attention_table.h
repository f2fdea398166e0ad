#pragma once
// The per-ISA fused attention kernels: one table per kernel set, filled by
// csrc/cpu/isa/<isa>/attention.cpp and chosen once in csrc/cpu/attention.cpp, which runs them in
// parallel over blocks.
//
// Every kernel handles one block of kAttentionBlock query rows (forward, backward_query) or key
// rows (backward_key_value) of one batch item, so blocks never share an output element.
#include <cstdint>

namespace fastcnn::cpu::isa {

// Query and key rows per block. 64 rows of scores (64 x 64 floats, 16 KiB; 32 KiB in double)
// stay in L1 while the block's exp and products run over them, and 64 is a whole number of
// vectors on every ISA.
inline constexpr int64_t kAttentionBlock = 64;

// One call's arrays (row-major, contiguous) for `batch` problems of L = queries, S = keys,
// E = depth, Ev = value_depth:
//   query (batch, L, E), key (batch, S, E), value (batch, S, Ev), output (batch, L, Ev),
//   log_sum_exp (batch, L), mask nullptr or (batch or 1, L, S) added to the scaled scores,
//   row_dot (batch, L) = rowsum(grad_output * output), grad_mask nullptr or (batch, L, S).
// The forward writes output and log_sum_exp (passed beside the arguments, which the backward
// reads); backward_query writes row_dot and grad_query, and backward_key_value reads row_dot to
// write grad_key, grad_value and grad_mask.
template <typename T>
struct AttentionArgs {
  const T* query;
  const T* key;
  const T* value;
  const T* mask;
  int64_t mask_batch_stride;  // L * S, or 0 when one mask serves every batch item
  const T* output;
  const T* log_sum_exp;
  const T* grad_output;
  const T* row_dot;
  T* grad_query;
  T* grad_key;
  T* grad_value;
  T* grad_mask;
  int64_t queries, keys, depth, value_depth;
  T scale;
  bool causal;  // query i sees keys j <= i (top-left aligned, as torch's is_causal)
};

template <typename T>
struct AttentionKernels {
  void (*forward)(const AttentionArgs<T>& args, int64_t batch_item, int64_t first_query, T* output,
                  T* log_sum_exp);
  void (*backward_query)(const AttentionArgs<T>& args, int64_t batch_item, int64_t first_query, T* row_dot);
  void (*backward_key_value)(const AttentionArgs<T>& args, int64_t batch_item, int64_t first_key);
};

struct AttentionTable {
  AttentionKernels<float> f32;
  AttentionKernels<double> f64;
};

AttentionTable attention_table_generic();
AttentionTable attention_table_avx2();
AttentionTable attention_table_avx512();

}  // namespace fastcnn::cpu::isa
