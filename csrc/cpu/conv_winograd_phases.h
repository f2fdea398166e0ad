#pragma once
// Winograd F(2x2, 2x2) for the 2x2-tap sub-pixel phases of a strided convolution's input
// gradient, which is also a transposed convolution's forward (conv.cpp, phase_backward_input):
// a 4x4 kernel at stride 2 splits into four phases of 2x2 taps each; and for a 4x4 stride-2
// convolution's forward (a transposed convolution's input gradient), its input's four phases.
#include <cstdint>
#include <vector>

#include "cpu/conv.h"

namespace fastcnn::cpu {

// One sub-pixel phase of the input gradient of the convolution g: the stride-1 convolution
// `shape` (batch 1, g's channel roles swapped) of an image's grad_output, whose output pixel
// (i, j) is grad_input's pixel (a + i * stride_h, b + j * stride_w); tap t = r * kernel_width + s
// of the phase (its taps flipped) reads tap source[t] of g's kernel.
struct SubPixelPhase {
  ConvShape shape;
  int64_t a, b;
  std::vector<int64_t> source;
};

// Whether g's input gradient takes winograd_phases_backward_input: one group; every phase that
// some tap reaches a 2x2 undilated one with output rows of 16 pixels or more (8 tiles) and 256
// tiles or more over the batch; 64 channels or more of grad_output (the GEMMs' depth) and 32 of
// grad_input. The measurements are in conv_winograd_phases.cpp.
bool winograd_phases_apply(const ConvShape& g, const std::vector<SubPixelPhase>& phases);

// grad_input (+ bias[c] on input channel c when bias is not null) for the phases; pixels of
// phases no tap reaches are the bias (or 0).
template <typename T>
void winograd_phases_backward_input(const ConvShape& g, const std::vector<SubPixelPhase>& phases,
                                    const T* grad_output, const T* weight, const T* bias, T* grad_input);

// Whether the convolution g's forward takes winograd_strided_forward: one group, a 4x4 kernel at
// stride 2, undilated, 32 input and output channels or more, output rows of 16 pixels or more,
// 256 tiles of 2x2 outputs over the batch and at least an image per thread.
bool winograd_strided_applies(const ConvShape& g);

// output = conv(input, weight) + bias (bias may be null) for shapes winograd_strided_applies
// accepts: the input's four phases as one 2x2 stride-1 convolution (conv_winograd_phases.cpp).
template <typename T>
void winograd_strided_forward(const ConvShape& g, const T* input, const T* weight, const T* bias, T* output);

// Whether g's weight gradient takes winograd_strided_backward_weight: as winograd_strided_applies,
// with 64 output channels or more (the rows of its GEMMs).
bool winograd_strided_weight_gradient_applies(const ConvShape& g);

// grad_weight for those shapes (the bias gradient is the caller's): the adjoints of the forward's
// transforms around 9 GEMMs over the tiles, dW = G^T (sum over tiles of (A dy A^T) ⊙ V) G.
template <typename T>
void winograd_strided_backward_weight(const ConvShape& g, const T* grad_output, const T* input, T* grad_weight);

}  // namespace fastcnn::cpu
