#pragma once
// The per-ISA softmax micro-kernels: one table per kernel set, filled by
// csrc/cpu/isa/<isa>/softmax.cpp and chosen once in csrc/cpu/softmax.cpp.
//
// A kernel runs `count` independent softmaxes of length `dim`. With inner == 1 they are
// `count` contiguous rows of `dim` elements (vectorised along the row); with inner > 1 they are
// `count` adjacent columns of an (dim, inner) slab (vectorised across columns).
#include <cstdint>

namespace fastcnn::cpu::isa {

template <typename T>
struct SoftmaxKernels {
  void (*forward)(const T* input, T* output, int64_t count, int64_t dim, int64_t inner, bool log);
  void (*backward)(const T* grad_output, const T* output, T* grad_input, int64_t count, int64_t dim, int64_t inner,
                   bool log);
};

struct SoftmaxTable {
  SoftmaxKernels<float> f32;
  SoftmaxKernels<double> f64;
};

SoftmaxTable softmax_table_generic();
SoftmaxTable softmax_table_avx2();
SoftmaxTable softmax_table_avx512();

}  // namespace fastcnn::cpu::isa
