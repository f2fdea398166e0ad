// softmax micro-kernels on 64-byte vectors; this file is compiled with the avx512 flags (CMakeLists.txt).
#define FASTCNN_VECTOR_BYTES 64
#include "cpu/isa/softmax_lanes.h"

namespace fastcnn::cpu::isa {

SoftmaxTable softmax_table_avx512() { return softmax_table(); }

}  // namespace fastcnn::cpu::isa
