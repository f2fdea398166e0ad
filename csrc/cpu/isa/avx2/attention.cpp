// Fused attention kernels on 32-byte vectors; this file is compiled with the avx2 flags (CMakeLists.txt).
#define FASTCNN_VECTOR_BYTES 32
#include "cpu/isa/attention_lanes.h"

namespace fastcnn::cpu::isa {

AttentionTable attention_table_avx2() { return attention_table(); }

}  // namespace fastcnn::cpu::isa
