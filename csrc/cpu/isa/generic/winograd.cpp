// Winograd tile transforms on 16-byte vectors; this file is compiled with the generic flags (CMakeLists.txt).
#define FASTCNN_VECTOR_BYTES 16
#include "cpu/isa/winograd_tiles.h"

namespace fastcnn::cpu::isa {

WinogradTable winograd_table_generic() { return winograd_table(); }

}  // namespace fastcnn::cpu::isa
