#pragma once
// ConvLSTM gate math (Shi et al. 2015), fused: everything a cell does after its one convolution.
#include <cstdint>

namespace fastcnn::cpu {

// gates: (N, 4K, H, W) pre-activations in the order input, forget, cell, output, as produced by
// the cell's convolution over cat(X, H) (bias included). cell: (N, K, H, W), the previous C.
// peephole: (3, K, H, W) Hadamard weights w_ci, w_cf, w_co, or nullptr for a cell without them.
// Writes hidden = H' and next_cell = C', both (N, K, H, W).
template <typename T>
void convlstm_gates_forward(const T* gates, const T* cell, const T* peephole, T* hidden, T* next_cell, int64_t N,
                            int64_t K, int64_t HW);

// Recomputes the gates from the forward's inputs, then maps grad_hidden and grad_next_cell to grad_gates (N, 4K, H, W), grad_cell (N, K, H, W) and, when
// peephole is given, grad_peephole (3, K, H, W) summed over the batch.
template <typename T>
void convlstm_gates_backward(const T* gates, const T* cell, const T* peephole, const T* grad_hidden,
                             const T* grad_next_cell, T* grad_gates, T* grad_cell, T* grad_peephole, int64_t N,
                             int64_t K, int64_t HW);

}  // namespace fastcnn::cpu
