// Winograd tile transforms on 64-byte vectors; this file is compiled with the avx512 flags (CMakeLists.txt).
#define FASTCNN_VECTOR_BYTES 64
#include "cpu/isa/winograd_tiles.h"

namespace fastcnn::cpu::isa {

WinogradTable winograd_table_avx512() { return winograd_table(); }

}  // namespace fastcnn::cpu::isa
