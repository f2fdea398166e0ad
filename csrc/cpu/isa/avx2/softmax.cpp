// softmax micro-kernels on 32-byte vectors; this file is compiled with the avx2 flags (CMakeLists.txt).
#define FASTCNN_VECTOR_BYTES 32
#include "cpu/isa/softmax_lanes.h"

namespace fastcnn::cpu::isa {

SoftmaxTable softmax_table_avx2() { return softmax_table(); }

}  // namespace fastcnn::cpu::isa
