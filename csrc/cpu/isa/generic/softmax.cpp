// softmax micro-kernels on 16-byte vectors; this file is compiled with the generic flags (CMakeLists.txt).
#define FASTCNN_VECTOR_BYTES 16
#include "cpu/isa/softmax_lanes.h"

namespace fastcnn::cpu::isa {

SoftmaxTable softmax_table_generic() { return softmax_table(); }

}  // namespace fastcnn::cpu::isa
