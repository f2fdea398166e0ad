#pragma once
// Same-shape binary arithmetic on contiguous buffers of `size` elements (residual additions,
// gates): out = a op b. Broadcasting stays with NumPy (python/fastcnn/ops/elementwise.py).
#include <cstdint>

namespace fastcnn::cpu {

enum class BinaryOp { add, sub, mul };

template <typename T>
void binary_forward(BinaryOp op, const T* a, const T* b, T* output, int64_t size);

}  // namespace fastcnn::cpu
