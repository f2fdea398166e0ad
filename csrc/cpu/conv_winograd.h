#pragma once
// Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions, behind conv.h's conv2d_forward and
// conv2d_backward_input (the input gradient of a stride-1 3x3 convolution is another one).
// Dilated ones run as one undilated convolution per output phase.
#include "cpu/conv.h"
#include "cpu/isa/winograd_table.h"

namespace fastcnn::cpu {

// Whether the shape takes the Winograd kernels: a 3x3 kernel, stride 1, at least 32 channels per
// group on both sides, enough output tiles of 2x2 (all images
// together: 64 with 64 channels or more, 256 with fewer), two output rows and columns per
// dilation phase, and output rows long enough (below).
// Tiles: with few of them the weights' transform, K x C x 16 values per call, is not paid back
// (Zen 3, batch 1, 2 threads: 16 or 32 tiles of 64 channels or more 1.1-1.4 times slower, 4
// tiles of 256 channels 3.4 times; 64 tiles as fast or 1.2-2.6 times faster); 32 channels at
// batch 1 (64 tiles of a 16 px map) ran 8% slower on Zen 4 than the implicit GEMM.
// Channels and rows, measured on Zen 4 (AVX-512, 2 threads, about 1 G multiply-adds a call;
// implicit GEMM time / Winograd time), with rows shorter than 16 tiles transformed side by side
// (conv_winograd.cpp): forward, 64 channels 4 px 0.5-1.0, 6 px 1.38, 8 px 1.11, 10 px 1.27, 12 px
// 1.20, 16 px 1.23; 128 channels 4 px 1.31, 6 px 1.78, 8 px 1.43, 16 px 1.47; 256 channels 4 px
// 1.02, 8 px 1.07; 32 channels at 16 px 1.16, 16 channels at 32 px 1.04 (kept on the implicit
// GEMM). Side by side, 256 channels at 14 px (batch 32) ran 1.18 times faster than run by run.
// Weight gradient, transformed side by side too, with the blocks of tiles balanced over the
// threads and each block's runs listed once (conv_winograd.cpp; 2026-12-04, batch 64 unless
// noted; ranges over runs at 2 and at 1 thread, for 64 channels up to 8 px 2 threads / 1
// thread): 64 channels 4 px 0.65-0.73 / 1.09-1.21, 6 px 1.25-1.64 / 1.24-1.35, 8 px 1.33-1.46 /
// 1.46-1.47, 14 px (batch 32) 1.34-1.54; 48 channels 12 px (batch 32) 1.43-1.54;
// 32 channels 8 px 0.98-1.12, 12 px 1.08-1.18, 16 px 1.06-1.20, 32 px (batch 16) 1.11-1.33; 256
// channels 4 px (batch 32) 1.04-1.44. (Before those two changes: 64 channels 8 px 0.85, 14 px
// 0.85; 128 channels 4-8 px 1.08-1.13.) So the forward and the input gradient (a forward) need 6
// output columns per phase with fewer than 128 channels (the smaller of C and K per group), else
// 4; the weight gradient 12 columns with fewer than 64 channels, 6 with fewer than 128, else 4.
bool winograd_applies(const ConvShape& shape);
bool winograd_weight_gradient_applies(const ConvShape& shape);

// The kernel set's tile transforms (cpu/isa/winograd_table.h), chosen once.
template <typename T>
const isa::WinogradKernels<T>& winograd_transforms();

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
