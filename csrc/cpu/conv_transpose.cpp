// 2-D transposed convolution ("deconvolution", seed section 9). Letters as in conv.cpp.
//
// A transposed convolution is the input-gradient of a convolution: take the convolution whose
// input has the transposed op's output shape (N, C_out, P, Q) and whose output has its input
// shape (N, C_in, H, W), with weight (C_in, C_out / G, R, S) read as (K, C / G, R, S). Then
//   conv_transpose2d(x, W)            = conv2d_backward_input(grad_output = x, W)
//   d/dx of sum(g * conv_transpose2d) = conv2d_forward(g, W)
//   d/dW of sum(g * conv_transpose2d) = conv2d_backward_weight(grad_output = x, input = g)
//   out[n][k][p][q] += bias[k],  d/dbias[k] = sum over n, p, q of g[n][k][p][q]
// so this file only maps the geometry; the math lives once, in conv.cpp.
#include "cpu/conv_transpose.h"

namespace fastcnn::cpu {

namespace {

ConvShape as_convolution(const ConvTransposeShape& t) {
  ConvShape g;
  g.batch = t.batch;
  g.in_channels = t.out_channels;
  g.in_height = t.out_height;
  g.in_width = t.out_width;
  g.out_channels = t.in_channels;
  g.out_height = t.in_height;
  g.out_width = t.in_width;
  g.kernel_height = t.kernel_height;
  g.kernel_width = t.kernel_width;
  g.stride_height = t.stride_height;
  g.stride_width = t.stride_width;
  g.pad_top = t.pad_top;
  g.pad_left = t.pad_left;
  g.dilation_height = t.dilation_height;
  g.dilation_width = t.dilation_width;
  g.groups = t.groups;
  return g;
}

}  // namespace

template <typename T>
void conv_transpose2d_forward(const ConvTransposeShape& t, const T* input, const T* weight, const T* bias,
                              T* output) {
  conv2d_backward_input<T>(as_convolution(t), input, weight, output, bias);
}

template <typename T>
void conv_transpose2d_backward_input(const ConvTransposeShape& t, const T* grad_output, const T* weight,
                                     T* grad_input) {
  conv2d_forward<T>(as_convolution(t), grad_output, weight, nullptr, grad_input);
}

template <typename T>
void conv_transpose2d_backward_weight(const ConvTransposeShape& t, const T* grad_output, const T* input,
                                      T* grad_weight, T* grad_bias) {
  conv2d_backward_weight<T>(as_convolution(t), input, grad_output, grad_weight, nullptr);
  if (grad_bias != nullptr)
    conv_bias_backward<T>(t.batch, t.out_channels, t.out_height * t.out_width, grad_output, grad_bias);
}

#define FASTCNN_INSTANTIATE_CONV_TRANSPOSE(T)                                                                 \
  template void conv_transpose2d_forward<T>(const ConvTransposeShape&, const T*, const T*, const T*, T*);    \
  template void conv_transpose2d_backward_input<T>(const ConvTransposeShape&, const T*, const T*, T*);       \
  template void conv_transpose2d_backward_weight<T>(const ConvTransposeShape&, const T*, const T*, T*, T*);
FASTCNN_INSTANTIATE_CONV_TRANSPOSE(float)
FASTCNN_INSTANTIATE_CONV_TRANSPOSE(double)
#undef FASTCNN_INSTANTIATE_CONV_TRANSPOSE

}  // namespace fastcnn::cpu
