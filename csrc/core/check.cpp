#include "core/check.h"

#include <sstream>

namespace fastcnn {

std::string shape_string(const Shape& s) {
  std::ostringstream out;
  out << "(";
  for (size_t i = 0; i < s.size(); ++i) out << (i ? ", " : "") << s[i];
  if (s.size() == 1) out << ",";
  out << ")";
  return out.str();
}

Shape shape_of(const py::array& a) { return Shape(a.shape(), a.shape() + a.ndim()); }

std::string shape_string(const py::array& a) { return shape_string(shape_of(a)); }

void fail_value(const std::string& op, const std::string& message) {
  throw py::value_error(op + ": " + message);
}

void fail_type(const std::string& op, const std::string& message) {
  throw py::type_error(op + ": " + message);
}

static std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

static void check_layout(const char* op, const char* name, const py::array& a) {
  if (!(a.flags() & py::array::c_style))
    fail_value(op, std::string(name) + " must be C-contiguous (" + name + " " + shape_string(a) + ")");
  if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    fail_value(op, std::string(name) + " must be aligned (" + name + " " + shape_string(a) + ")");
}

DType check_float(const char* op, const char* name, const py::array& a) {
  DType dtype;
  if (a.dtype().is(py::dtype::of<float>())) {
    dtype = DType::f32;
  } else if (a.dtype().is(py::dtype::of<double>())) {
    dtype = DType::f64;
  } else {
    fail_type(op, std::string(name) + " must be float32 or float64, got " + dtype_name(a) + " (" + name +
                      " " + shape_string(a) + ")");
  }
  check_layout(op, name, a);
  return dtype;
}

void check_same_dtype(const char* op, const char* name_a, const py::array& a, const char* name_b,
                      const py::array& b) {
  DType dtype_a = check_float(op, name_a, a);
  DType dtype_b = check_float(op, name_b, b);
  if (dtype_a != dtype_b)
    fail_type(op, std::string(name_b) + " has dtype " + dtype_name(b) + " but " + name_a + " has " +
                      dtype_name(a) + " (" + name_a + " " + shape_string(a) + ", " + name_b + " " +
                      shape_string(b) + ")");
}

void check_int64(const char* op, const char* name, const py::array& a) {
  if (!a.dtype().is(py::dtype::of<int64_t>()))
    fail_type(op, std::string(name) + " must be int64, got " + dtype_name(a) + " (" + name + " " +
                      shape_string(a) + ")");
  check_layout(op, name, a);
}

void check_ndim(const char* op, const char* name, const py::array& a, std::initializer_list<int> allowed) {
  for (int n : allowed)
    if (a.ndim() == n) return;
  std::ostringstream expected;
  int i = 0;
  for (int n : allowed) expected << (i++ ? " or " : "") << n << "-D";
  fail_value(op, std::string(name) + " must be " + expected.str() + ", got " + std::to_string(a.ndim()) +
                     "-D (" + name + " " + shape_string(a) + ")");
}

void check_shape(const char* op, const char* name, const py::array& a, const Shape& expected) {
  if (shape_of(a) != expected)
    fail_value(op, std::string(name) + " must have shape " + shape_string(expected) + " (" + name + " " +
                       shape_string(a) + ")");
}

void check_not_empty(const char* op, const char* name, const py::array& a) {
  if (a.size() == 0) fail_value(op, std::string(name) + " is empty (" + name + " " + shape_string(a) + ")");
}

void check_positive(const char* op, const char* name, int64_t value) {
  if (value <= 0) fail_value(op, std::string(name) + " must be positive, got " + std::to_string(value));
}

void check_non_negative(const char* op, const char* name, int64_t value) {
  if (value < 0) fail_value(op, std::string(name) + " must be non-negative, got " + std::to_string(value));
}

}  // namespace fastcnn
