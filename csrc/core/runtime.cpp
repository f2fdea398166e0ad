#include "core/runtime.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <unistd.h>

#ifdef FASTCNN_OPENMP
#include <omp.h>
#endif

namespace fastcnn {

static Isa detect_isa() {
  Isa best = Isa::generic;
#if defined(FASTCNN_X86)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Isa::avx2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    best = Isa::avx512;
#endif
  const char* forced = std::getenv("FASTCNN_ISA");
  if (forced != nullptr && *forced != '\0') {
    Isa wanted = best;
    if (std::strcmp(forced, "generic") == 0) wanted = Isa::generic;
    else if (std::strcmp(forced, "avx2") == 0) wanted = Isa::avx2;
    else if (std::strcmp(forced, "avx512") == 0) wanted = Isa::avx512;
    // Forcing can only lower the set: a kernel the CPU lacks would crash.
    if (wanted < best) best = wanted;
  }
  return best;
}

Isa active_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

static CacheSizes detect_cache_sizes() {
  CacheSizes sizes{32 * 1024, 512 * 1024};
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
  const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l1 >= 8 * 1024) sizes.l1_data = l1;
  if (l2 >= 64 * 1024) sizes.l2 = l2;
#endif
  return sizes;
}

const CacheSizes& cache_sizes() {
  static const CacheSizes sizes = detect_cache_sizes();
  return sizes;
}

bool openmp_enabled() {
#ifdef FASTCNN_OPENMP
  return true;
#else
  return false;
#endif
}

int get_num_threads() {
#ifdef FASTCNN_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int threads) {
  if (threads < 1) throw std::invalid_argument("set_num_threads: threads must be positive, got " + std::to_string(threads));
#ifdef FASTCNN_OPENMP
  omp_set_num_threads(threads);
#endif
}

bool in_parallel_region() {
#ifdef FASTCNN_OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

int thread_index() {
#ifdef FASTCNN_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace fastcnn
