// Element-map loops compiled with the generic flags (CMakeLists.txt).
#include "cpu/isa/map_loops.h"

namespace fastcnn::cpu::isa {

MapTable map_generic() { return map_table(); }

}  // namespace fastcnn::cpu::isa
