// Element-map loops compiled with the avx2 flags (CMakeLists.txt).
#include "cpu/isa/map_loops.h"

namespace fastcnn::cpu::isa {

MapTable map_avx2() { return map_table(); }

}  // namespace fastcnn::cpu::isa
