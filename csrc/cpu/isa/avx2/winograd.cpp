// Winograd tile transforms on 32-byte vectors; this file is compiled with the avx2 flags (CMakeLists.txt).
#define FASTCNN_VECTOR_BYTES 32
#include "cpu/isa/winograd_tiles.h"

namespace fastcnn::cpu::isa {

WinogradTable winograd_table_avx2() { return winograd_table(); }

}  // namespace fastcnn::cpu::isa
