#pragma once
// Process-wide settings: the OpenMP thread count and the CPU kernel set (ISA) in use.
#include <cstdint>
#include <string>

namespace fastcnn {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

// The best kernel set this CPU supports, lowered by the FASTCNN_ISA environment variable
// ("generic", "avx2", "avx512") so every path can be tested on one machine. Read once.
Isa active_isa();
const char* isa_name(Isa isa);

// Per-core data cache sizes in bytes, read once from the OS (sysconf), for the cache blocking of
// the GEMM and the convolutions: the blocks that fit a 2 MiB L2 thrash a 512 KiB one. Where the
// OS does not say, 32 KiB and 512 KiB (smaller than most: a block too small loses little, one
// too large much).
struct CacheSizes {
  int64_t l1_data, l2;
};
const CacheSizes& cache_sizes();

bool openmp_enabled();
int get_num_threads();
void set_num_threads(int threads);
// True inside an active OpenMP parallel region: kernels called there run on their thread only.
bool in_parallel_region();
// The calling thread's index within the current parallel region (0 outside one).
int thread_index();

}  // namespace fastcnn
