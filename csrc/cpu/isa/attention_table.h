#pragma once
// The per-ISA fused attention kernels: one table per kernel set, filled by
// csrc/cpu/isa/<isa>/attention.cpp and chosen once in csrc/cpu/attention.cpp, which runs them in
// parallel over blocks.
//
// The forward handles one block of kAttentionBlock queries of one batch item, the backward a
// range of whole key blocks of one batch item against all its queries, so tasks never write the
// same output element (the backward's dQ goes to a buffer per key range).
#include <cstdint>

namespace fastcnn::cpu::isa {

// Query and key rows per block. 64 rows of scores (64 x 64 floats, 16 KiB; 32 KiB in double)
// stay in L1 while the block's exp and products run over them, and 64 is a whole number of
// vectors on every ISA.
inline constexpr int64_t kAttentionBlock = 64;

// One call's arrays (row-major, contiguous) for `batch` problems of L = queries, S = keys,
// E = depth, Ev = value_depth:
//   query (batch, L, E), key (batch, S, E), value (batch, S, Ev), mask nullptr or (batch / mask_repeat,
//   L, S) added to the scaled scores; for the backward also output (batch, L, Ev), log_sum_exp
//   (batch, L), grad_output (batch, L, Ev), and the gradients it writes: grad_key, grad_value and
//   grad_mask (nullptr or (batch, L, S)).
template <typename T>
struct AttentionArgs {
  const T* query;
  const T* key;
  const T* value;
  const T* mask;
  int64_t mask_repeat;  // batch item n uses mask item n / mask_repeat
  const T* output;
  const T* log_sum_exp;
  const T* grad_output;
  T* grad_key;
  T* grad_value;
  T* grad_mask;
  int64_t queries, keys, depth, value_depth;
  T scale;
  bool causal;  // query i sees keys j <= i (top-left aligned, as torch's is_causal)
};

template <typename T>
struct AttentionKernels {
  // Writes the block's rows of output (batch, L, Ev) and log_sum_exp (batch, L).
  void (*forward)(const AttentionArgs<T>& args, int64_t batch_item, int64_t first_query, T* output,
                  T* log_sum_exp);
  // Writes grad_key and grad_value of keys [first_key, key_end), and grad_query (L, E): the
  // batch item's query gradient from those keys alone.
  void (*backward)(const AttentionArgs<T>& args, int64_t batch_item, int64_t first_key, int64_t key_end,
                   T* grad_query);
};

struct AttentionTable {
  AttentionKernels<float> f32;
  AttentionKernels<double> f64;
};

AttentionTable attention_table_generic();
AttentionTable attention_table_avx2();
AttentionTable attention_table_avx512();

}  // namespace fastcnn::cpu::isa
