#pragma once
// Picks a kernel family's per-ISA table once, from fastcnn::active_isa() (FASTCNN_ISA may lower
// it). Each family declares <family>_generic(), <family>_avx2() and <family>_avx512() returning
// its table; the AVX ones exist only in x86 builds (CMakeLists.txt), hence the macro.
#include "core/runtime.h"

namespace fastcnn::cpu::isa {

// A family's table holds one set of kernels per dtype, named f32 and f64.
template <typename T, typename Table>
const auto& for_dtype(const Table& table) {
  if constexpr (sizeof(T) == 4)
    return table.f32;
  else
    return table.f64;
}

template <typename Table>
Table choose(Table (*generic)(), Table (*avx2)(), Table (*avx512)()) {
  switch (active_isa()) {
    case Isa::avx512: return avx512();
    case Isa::avx2: return avx2();
    default: return generic();
  }
}

}  // namespace fastcnn::cpu::isa

#if defined(FASTCNN_X86)
#define FASTCNN_CHOOSE_ISA_TABLE(family) \
  ::fastcnn::cpu::isa::choose(&::fastcnn::cpu::isa::family##_generic, &::fastcnn::cpu::isa::family##_avx2, \
                              &::fastcnn::cpu::isa::family##_avx512)
#else
#define FASTCNN_CHOOSE_ISA_TABLE(family) ::fastcnn::cpu::isa::family##_generic()
#endif
