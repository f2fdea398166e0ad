#include <unistd.h>

#include <cmath>
#include <sstream>

#include "core/check.h"
#include "cpu/peak.h"
#include "ops/ops.h"

namespace fastcnn::ops {

namespace {

// An hour is far beyond any sensible measurement; the bound keeps a typo from hanging the process.
constexpr double kMaxSeconds = 3600.0;

void check_seconds(const char* op, double seconds) {
  if (!(std::isfinite(seconds) && seconds > 0.0 && seconds <= kMaxSeconds)) {
    std::ostringstream message;
    message << "seconds must be in (0, " << kMaxSeconds << "] (seconds " << seconds << ")";
    fail_value(op, message.str());
  }
}

}  // namespace

double measure_fma_peak(double seconds) {
  check_seconds("measure_fma_peak", seconds);
  py::gil_scoped_release release;
  return cpu::measure_fma_peak(seconds);
}

double measure_stream_bandwidth(int64_t bytes, double seconds) {
  const char* op = "measure_stream_bandwidth";
  check_seconds(op, seconds);
  // One cache line per array at least; at most half the RAM, since touching more than the
  // machine holds would get the process killed instead of raising MemoryError.
  const int64_t smallest = 3 * 64;
  const int64_t largest = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) / 2;
  if (bytes < smallest || bytes > largest) {
    fail_value(op, "bytes must be in [" + std::to_string(smallest) + ", " + std::to_string(largest) + "] (bytes " +
                       std::to_string(bytes) + ")");
  }
  py::gil_scoped_release release;
  return cpu::measure_stream_bandwidth(bytes, seconds);
}

}  // namespace fastcnn::ops
