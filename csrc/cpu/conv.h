#pragma once
// 2-D convolution (cross-correlation, as torch) on NCHW inputs and (K, C / groups, R, S) weights,
// forward and backward. conv_transpose.cpp reuses these kernels with the roles of input and
// output swapped.
#include <cstdint>

namespace fastcnn::cpu {

// The geometry of one convolution. Output sizes are given, not derived, so the transposed
// convolution (whose output_padding may leave the last input rows unused) shares the kernels.
struct ConvShape {
  int64_t batch;
  int64_t in_channels, in_height, in_width;
  int64_t out_channels, out_height, out_width;
  int64_t kernel_height, kernel_width;
  int64_t stride_height, stride_width;
  int64_t pad_top, pad_left;  // the bottom / right padding follow from the output size
  int64_t dilation_height, dilation_width;
  int64_t groups;
};

// output = conv(input, weight) + bias (bias may be null).
template <typename T>
void conv2d_forward(const ConvShape& shape, const T* input, const T* weight, const T* bias, T* output);

// grad_input = d(sum grad_output * output) / d input (+ bias[c] on every value of input channel c
// when bias is not null: the forward of a transposed convolution, which is this product, adds
// its bias as the product is stored instead of in another pass).
template <typename T>
void conv2d_backward_input(const ConvShape& shape, const T* grad_output, const T* weight, T* grad_input,
                           const T* bias = nullptr);

// grad_weight (and grad_bias when not null) from grad_output and the forward input.
template <typename T>
void conv2d_backward_weight(const ConvShape& shape, const T* grad_output, const T* input, T* grad_weight,
                            T* grad_bias);

// The bias terms shared with conv_transpose2d: output[n][c][...] += bias[c] and
// grad_bias[c] = sum over n and the plane of grad_output[n][c][...].
template <typename T>
void conv_bias_forward(int64_t batch, int64_t channels, int64_t plane, const T* bias, T* output);
template <typename T>
void conv_bias_backward(int64_t batch, int64_t channels, int64_t plane, const T* grad_output, T* grad_bias);

}  // namespace fastcnn::cpu
