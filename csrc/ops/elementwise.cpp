#include "core/check.h"
#include "cpu/elementwise.h"
#include "ops/ops.h"

namespace fastcnn::ops {

static cpu::BinaryOp binary_op(const std::string& name) {
  if (name == "add") return cpu::BinaryOp::add;
  if (name == "sub") return cpu::BinaryOp::sub;
  if (name == "mul") return cpu::BinaryOp::mul;
  fail_value("binary", "unknown binary op '" + name + "'");
}

py::array binary_forward(const std::string& name, const py::array& a, const py::array& b) {
  const cpu::BinaryOp op = binary_op(name);
  const DType dtype = check_float(name.c_str(), "a", a);
  check_same_dtype(name.c_str(), "a", a, "b", b);
  check_shape(name.c_str(), "b", b, shape_of(a));
  return dispatch_float(dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* left = data_of<T>(a);
    const T* right = data_of<T>(b);
    const int64_t size = a.size();
    return run_kernel_into<T>(shape_of(a), [&](T* out) { cpu::binary_forward<T>(op, left, right, out, size); });
  });
}

void add_into(py::array& total, const py::array& addend) {
  const DType dtype = check_float("add_into", "total", total);
  check_same_dtype("add_into", "total", total, "addend", addend);
  check_shape("add_into", "addend", addend, shape_of(total));
  if (!total.writeable()) fail_value("add_into", "total must be writeable");
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* sum = mutable_data_of<T>(total);
    const T* right = data_of<T>(addend);
    const int64_t size = total.size();
    py::gil_scoped_release release;
    cpu::binary_forward<T>(cpu::BinaryOp::add, sum, right, sum, size);
  });
}

}  // namespace fastcnn::ops
