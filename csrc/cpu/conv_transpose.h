#pragma once
// 2-D transposed convolution on NCHW inputs and (C_in, C_out / groups, R, S) weights: the adjoint
// (with respect to its input) of the convolution whose input is this op's output.
#include <cstdint>

#include "cpu/conv.h"

namespace fastcnn::cpu {

// The transposed convolution's own geometry in conv.h's struct: `in_*` is this op's input and
// `out_*` its output; padding and output size as torch's ConvTranspose2d.
using ConvTransposeShape = ConvShape;

template <typename T>
void conv_transpose2d_forward(const ConvTransposeShape& shape, const T* input, const T* weight, const T* bias,
                              T* output);
template <typename T>
void conv_transpose2d_backward_input(const ConvTransposeShape& shape, const T* grad_output, const T* weight,
                                     T* grad_input);
template <typename T>
void conv_transpose2d_backward_weight(const ConvTransposeShape& shape, const T* grad_output, const T* input,
                                      T* grad_weight, T* grad_bias);

}  // namespace fastcnn::cpu
