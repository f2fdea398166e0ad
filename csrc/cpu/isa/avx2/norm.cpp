// Batch-norm plane loops compiled with the avx2 flags (CMakeLists.txt).
#include "cpu/isa/norm_planes.h"

namespace fastcnn::cpu::isa {

NormTable norm_avx2() { return norm_table(); }

}  // namespace fastcnn::cpu::isa
