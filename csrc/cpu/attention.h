#pragma once
// Fused scaled-dot-product attention: softmax(Q K^T * scale + mask) V without materialising the
// (L, S) scores, forward and backward.
#include <cstdint>

namespace fastcnn::cpu {

// `batch` independent problems: query (batch, L, E), key (batch, S, E), value (batch, S, Ev).
struct AttentionShape {
  int64_t batch, queries, keys, depth, value_depth;
};

// output (batch, L, Ev) and log_sum_exp (batch, L), the per-query log of the softmax
// denominator that the backward recomputes the probabilities from. mask: nullptr or additive,
// (batch / mask_repeat, L, S): each mask serves mask_repeat consecutive batch items (all of them
// with one mask; the heads of an item with a (batch, 1, L, S) mask). causal: query i sees keys j <= i.
template <typename T>
void attention_forward(const T* query, const T* key, const T* value, const T* mask, int64_t mask_repeat, T* output,
                       T* log_sum_exp, const AttentionShape& shape, T scale, bool causal);

// grad_query, grad_key, grad_value (shaped as their inputs) from grad_output and the forward's
// output and log_sum_exp; grad_mask (batch, L, S) too unless it is nullptr.
template <typename T>
void attention_backward(const T* grad_output, const T* query, const T* key, const T* value, const T* mask,
                        int64_t mask_repeat, const T* output, const T* log_sum_exp, T* grad_query, T* grad_key,
                        T* grad_value, T* grad_mask, const AttentionShape& shape, T scale, bool causal);

}  // namespace fastcnn::cpu
