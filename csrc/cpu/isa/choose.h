#pragma once
// Picks a kernel family's per-ISA variant from fastcnn::active_isa() (FASTCNN_ISA may lower it),
// once (the callers keep the result in a static). The AVX variants exist only in x86 builds
// (CMakeLists.txt), hence macros: FASTCNN_PICK_ISA(generic, avx2, avx512) evaluates the one
// expression the ISA selects; FASTCNN_CHOOSE_ISA_TABLE(family) calls the <family>_generic(),
// <family>_avx2() or <family>_avx512() table factory of csrc/cpu/isa.
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

}  // namespace fastcnn::cpu::isa

#if defined(FASTCNN_X86)
#define FASTCNN_PICK_ISA(for_generic, for_avx2, for_avx512)                 \
  (::fastcnn::active_isa() == ::fastcnn::Isa::avx512 ? (for_avx512)         \
   : ::fastcnn::active_isa() == ::fastcnn::Isa::avx2 ? (for_avx2)           \
                                                      : (for_generic))
#else
#define FASTCNN_PICK_ISA(for_generic, for_avx2, for_avx512) (for_generic)
#endif
#define FASTCNN_CHOOSE_ISA_TABLE(family)                                                          \
  FASTCNN_PICK_ISA(::fastcnn::cpu::isa::family##_generic(), ::fastcnn::cpu::isa::family##_avx2(), \
                   ::fastcnn::cpu::isa::family##_avx512())
