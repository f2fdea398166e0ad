// Batch-norm plane loops compiled with the generic flags (CMakeLists.txt).
#include "cpu/isa/norm_planes.h"

namespace fastcnn::cpu::isa {

NormTable norm_generic() { return norm_table(); }

}  // namespace fastcnn::cpu::isa
