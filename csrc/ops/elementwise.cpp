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

}  // namespace fastcnn::ops
