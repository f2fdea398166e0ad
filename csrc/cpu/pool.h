#pragma once
// 2-D pooling kernels, forward and backward, on contiguous (planes, H, W) buffers: a plane is one
// (batch item, channel) pair, so (N, C, H, W) and (C, H, W) inputs share every kernel.
#include <cstdint>

namespace fastcnn::cpu {

// Window geometry of max/avg pooling; the op layer has already applied torch's shape rule.
struct PoolGeometry {
  int64_t planes = 0;
  int64_t height = 0, width = 0;
  int64_t out_height = 0, out_width = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
};

// indices (may be null): flat argmax into each input plane (ih * W + iw), as torch; -1 when a
// window holds no input element (possible only with dilation).
template <typename T>
void max_pool2d_forward(const PoolGeometry& g, const T* input, T* output, int64_t* indices);

// Scatters each output gradient to its argmax; shared by max_pool2d and adaptive_max_pool2d.
// Indices outside [0, input_plane) contribute nothing, so no index can write out of bounds.
template <typename T>
void max_pool2d_backward_input(int64_t planes, int64_t input_plane, int64_t output_plane, const T* grad_output,
                               const int64_t* indices, T* grad_input);

// divisor_override <= 0 means none.
template <typename T>
void avg_pool2d_forward(const PoolGeometry& g, bool count_include_pad, int64_t divisor_override, const T* input,
                        T* output);
template <typename T>
void avg_pool2d_backward_input(const PoolGeometry& g, bool count_include_pad, int64_t divisor_override,
                               const T* grad_output, T* grad_input);

// Adaptive pooling: output cell (oh, ow) covers rows [floor(oh H / OH), ceil((oh + 1) H / OH)) and
// the matching columns. Only planes, height, width, out_height and out_width of g are used.
template <typename T>
void adaptive_avg_pool2d_forward(const PoolGeometry& g, const T* input, T* output);
template <typename T>
void adaptive_avg_pool2d_backward_input(const PoolGeometry& g, const T* grad_output, T* grad_input);
template <typename T>
void adaptive_max_pool2d_forward(const PoolGeometry& g, const T* input, T* output, int64_t* indices);

}  // namespace fastcnn::cpu
