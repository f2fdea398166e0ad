#pragma once
// The per-ISA element maps: activations, forward and backward, and same-shape binary arithmetic.
// One table per kernel set, filled by csrc/cpu/isa/<isa>/map.cpp (the loops of
// csrc/cpu/isa/map_loops.h compiled under that ISA's flags) and chosen once in
// csrc/cpu/activation.cpp and csrc/cpu/elementwise.cpp, which own the threading. Each kernel runs
// over `size` contiguous elements.
#include <cstdint>

#include "cpu/activation.h"
#include "cpu/isa/choose.h"
#include "cpu/elementwise.h"

namespace fastcnn::cpu::isa {

template <typename T>
struct MapKernels {
  // output = f(input); `parameter` is leaky_relu's negative slope.
  void (*activation_forward)(Activation kind, const T* input, T* output, int64_t size, T parameter);
  // grad_input = grad_output * f'(input).
  void (*activation_backward)(Activation kind, const T* grad_output, const T* input, T* grad_input, int64_t size,
                              T parameter);
  // output = a op b.
  void (*binary)(BinaryOp op, const T* a, const T* b, T* output, int64_t size);
};

struct MapTable {
  MapKernels<float> f32;
  MapKernels<double> f64;
};

MapTable map_generic();
MapTable map_avx2();
MapTable map_avx512();

// The kernel set fastcnn::active_isa() picks, chosen once.
template <typename T>
const MapKernels<T>& active_map_kernels() {
  static const MapTable table = FASTCNN_CHOOSE_ISA_TABLE(map);
  return for_dtype<T>(table);
}

}  // namespace fastcnn::cpu::isa
