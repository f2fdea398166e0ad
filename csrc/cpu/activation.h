#pragma once
// Pointwise activations, forward and backward, on contiguous buffers of `size` elements.
#include <cstdint>

namespace fastcnn::cpu {

enum class Activation { relu, relu6, leaky_relu, sigmoid, tanh, gelu, gelu_tanh, silu };

// `parameter` is the negative slope of leaky_relu; the other activations ignore it.
template <typename T>
void activation_forward(Activation kind, const T* input, T* output, int64_t size, double parameter);

// grad_input = grad_output * f'(input); the derivative is recomputed from the input, so the
// forward output need not be kept alive.
template <typename T>
void activation_backward(Activation kind, const T* grad_output, const T* input, T* grad_input, int64_t size,
                         double parameter);

}  // namespace fastcnn::cpu
