#pragma once
// Direct kernels for depthwise convolutions (groups = C), behind conv.h's conv2d_* entry points.
#include "cpu/conv.h"

namespace fastcnn::cpu {

template <typename T>
void depthwise_conv2d_forward(const ConvShape& shape, const T* input, const T* weight, const T* bias, T* output);
template <typename T>
void depthwise_conv2d_backward_input(const ConvShape& shape, const T* grad_output, const T* weight, T* grad_input);
template <typename T>
void depthwise_conv2d_backward_weight(const ConvShape& shape, const T* grad_output, const T* input, T* grad_weight);

}  // namespace fastcnn::cpu
