// Fused attention kernels on 64-byte vectors; this file is compiled with the avx512 flags (CMakeLists.txt).
#define FASTCNN_VECTOR_BYTES 64
#include "cpu/isa/attention_lanes.h"

namespace fastcnn::cpu::isa {

AttentionTable attention_table_avx512() { return attention_table(); }

}  // namespace fastcnn::cpu::isa
