// Fused attention kernels on 16-byte vectors; this file is compiled with the generic flags (CMakeLists.txt).
#define FASTCNN_VECTOR_BYTES 16
#include "cpu/isa/attention_lanes.h"

namespace fastcnn::cpu::isa {

AttentionTable attention_table_generic() { return attention_table(); }

}  // namespace fastcnn::cpu::isa
