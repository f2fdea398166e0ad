#pragma once
// Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions, behind conv.h's conv2d_forward and
// conv2d_backward_input (the input gradient of a stride-1 3x3 convolution is another one).
// Dilated ones run as one undilated convolution per output phase.
#include "cpu/conv.h"

namespace fastcnn::cpu {

// Whether the shape takes the Winograd kernels: a 3x3 kernel, stride 1, at least 64 channels per
// group on both sides, at least 64 output tiles of 2x2 (all images together), two output rows
// and columns per dilation phase, and output rows long enough (below). With fewer channels the
// transforms (a fixed cost per channel and tile) weigh more against the GEMMs' C x K: measured on
// Zen 3, 32 channels ran no faster than the implicit GEMM (weight gradient 20% slower), 16
// channels 1.5 times slower. With fewer tiles the weights' transform, K x C x 16 values per call,
// is not paid back (batch 1, 2 threads: 16 or 32 tiles 1.1-1.4 times slower, 4 tiles of 256
// channels 3.4 times; 64 tiles as fast or 1.2-2.6 times faster).
// Short rows (few tile columns per dilation phase) favour the implicit GEMM, the weight gradient
// most: measured on Zen 4 (AVX-512, 2 threads, implicit GEMM time / Winograd time, forward and
// weight gradient, about 1 G multiply-adds a call), 64 channels: 4 px 0.62 / 0.45, 8 px 0.82 /
// 0.62, 10 px 0.99 / 0.72, 14 px 1.11 / 0.76, 28 px 1.47 / 1.11, 56 px 1.56 / 1.37; 128
// channels: 4 px 0.95 / 0.82, 6 px 1.42 / 0.90, 8 px 1.18 / 1.02, 12 px 1.47 / 1.78, 28 px 1.61 /
// 1.31; 256 channels: 4 px 0.85 / 0.65, 7 px 1.43 / 0.85, 14 px 1.46 / 0.89, 28 px 1.36 / 0.97.
// So the forward and the input gradient (a forward) need 10 output columns per phase with fewer
// than 128 channels (the smaller of C and K per group), else 6; the weight gradient 24 columns
// with fewer than 128 channels, 8 with fewer than 256, and never with more.
bool winograd_applies(const ConvShape& shape);
bool winograd_weight_gradient_applies(const ConvShape& shape);

// output = conv(input, weight) + bias (bias may be null), for shapes winograd_applies accepts.
template <typename T>
void winograd_conv2d_forward(const ConvShape& shape, const T* input, const T* weight, const T* bias, T* output);

// grad_input for shapes winograd_applies accepts: the forward of the kernel flipped with its
// channel axes swapped, on grad_output padded by 2 * dilation - pad.
template <typename T>
void winograd_conv2d_backward_input(const ConvShape& shape, const T* grad_output, const T* weight, T* grad_input);

// grad_weight for shapes winograd_weight_gradient_applies accepts (the bias gradient is the caller's):
// the adjoint of the forward's transforms around 16 GEMMs over the tiles.
template <typename T>
void winograd_conv2d_backward_weight(const ConvShape& shape, const T* grad_output, const T* input, T* grad_weight);

}  // namespace fastcnn::cpu
