#pragma once
// softmax and log_softmax over one dim of a contiguous tensor viewed as (outer, dim, inner).
#include <cstdint>

namespace fastcnn::cpu {

template <typename T>
void softmax_forward(const T* input, T* output, int64_t outer, int64_t dim, int64_t inner, bool log);

// grad_input from grad_output and the forward's output (y = softmax or log_softmax).
template <typename T>
void softmax_backward_input(const T* grad_output, const T* output, T* grad_input, int64_t outer, int64_t dim,
                            int64_t inner, bool log);

}  // namespace fastcnn::cpu
