#pragma once
// Argument validation shared by every op entry point (csrc/ops/*.cpp).
//
// Every message has one format, "<op>: <what is wrong> (<argument> <shape>, ...)", e.g.
//   conv2d: input has 4 channels but weight expects 3 (input (2, 4, 8, 8), weight (8, 3, 3, 3), groups=1)
// Shape and value problems raise ValueError, dtype problems TypeError. The Python layer checks
// types before it calls in; these checks are the backstop that keeps any call from Python from
// reading out of bounds.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/buffer_cache.h"

namespace fastcnn {
namespace py = pybind11;

using Shape = std::vector<int64_t>;

enum class DType { f32, f64 };

std::string shape_string(const py::array& a);
std::string shape_string(const Shape& s);
Shape shape_of(const py::array& a);

[[noreturn]] void fail_value(const std::string& op, const std::string& message);
[[noreturn]] void fail_type(const std::string& op, const std::string& message);

// A float32/float64, C-contiguous, aligned array; returns its dtype.
DType check_float(const char* op, const char* name, const py::array& a);
// Same as check_float, and `b` must have the dtype of `a`.
void check_same_dtype(const char* op, const char* name_a, const py::array& a, const char* name_b,
                      const py::array& b);
// An int64, C-contiguous array (class labels, pooling indices).
void check_int64(const char* op, const char* name, const py::array& a);
void check_ndim(const char* op, const char* name, const py::array& a, std::initializer_list<int> allowed);
void check_shape(const char* op, const char* name, const py::array& a, const Shape& expected);
void check_not_empty(const char* op, const char* name, const py::array& a);
// value > 0 (strides, kernel sizes, dilations, groups).
void check_positive(const char* op, const char* name, int64_t value);
void check_non_negative(const char* op, const char* name, int64_t value);

template <typename T>
const T* data_of(const py::array& a) {
  return static_cast<const T*>(a.data());
}
template <typename T>
T* mutable_data_of(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}

// A new, uninitialised C-contiguous array of T; large ones reuse freed buffers (core/buffer_cache.h).
template <typename T>
py::array_t<T> new_array(const Shape& shape) {
  const std::vector<py::ssize_t> dims(shape.begin(), shape.end());
  size_t bytes = sizeof(T);
  for (int64_t d : shape) bytes *= static_cast<size_t>(d);
  if (bytes < kCachedBytes) return py::array_t<T>(dims);
  CachedAllocation cached;
  return py::array_t<T>(dims);
}

// The tail every single-output entry point shares: allocates a T array of `shape` while holding
// the GIL, then releases it and runs kernel(output pointer). Returns the array.
template <typename T, typename Kernel>
py::array run_kernel_into(const Shape& shape, Kernel&& kernel) {
  auto result = new_array<T>(shape);
  T* out = result.mutable_data();
  {
    py::gil_scoped_release release;
    kernel(out);
  }
  return result;
}

// Calls fn(T{}) with T = float or double, so one templated lambda serves both dtypes.
template <typename Fn>
auto dispatch_float(DType dtype, Fn&& fn) {
  if (dtype == DType::f32) return fn(float{});
  return fn(double{});
}

}  // namespace fastcnn
