#include "core/check.h"
#include "cpu/recurrent.h"
#include "ops/ops.h"

namespace fastcnn::ops {

namespace {

struct GateShape {
  DType dtype;
  int64_t batch, hidden, positions;
};

// gates (N, 4K, H, W), cell (N, K, H, W), peephole (3, K, H, W) when given.
GateShape check_gates(const char* op, const py::array& gates, const py::array& cell,
                      const std::optional<py::array>& peephole) {
  const DType dtype = check_float(op, "gates", gates);
  check_same_dtype(op, "gates", gates, "cell", cell);
  check_ndim(op, "gates", gates, {4});
  check_ndim(op, "cell", cell, {4});
  const int64_t batch = cell.shape(0), hidden = cell.shape(1), height = cell.shape(2), width = cell.shape(3);
  if (gates.shape(0) != batch || gates.shape(1) != 4 * hidden || gates.shape(2) != height || gates.shape(3) != width)
    fail_value(op, "gates must have shape (N, 4 * hidden, H, W) of the cell's (N, hidden, H, W) (gates " +
                       shape_string(gates) + ", cell " + shape_string(cell) + ")");
  if (peephole) {
    check_same_dtype(op, "gates", gates, "peephole", *peephole);
    check_shape(op, "peephole", *peephole, {3, hidden, height, width});
  }
  return {dtype, batch, hidden, height * width};
}

}  // namespace

py::array convlstm_gates_forward(const py::array& gates, const py::array& cell,
                                 const std::optional<py::array>& peephole) {
  const GateShape s = check_gates("convlstm_gates", gates, cell, peephole);
  Shape state_shape = shape_of(cell);
  state_shape.insert(state_shape.begin(), 2);
  return dispatch_float(s.dtype, [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto state = new_array<T>(state_shape);
    const T* pg = data_of<T>(gates);
    const T* pc = data_of<T>(cell);
    const T* pp = peephole ? data_of<T>(*peephole) : nullptr;
    T* hidden = state.mutable_data();
    const int64_t plane = s.batch * s.hidden * s.positions;
    py::gil_scoped_release release;
    cpu::convlstm_gates_forward<T>(pg, pc, pp, hidden, hidden + plane, s.batch, s.hidden, s.positions);
    return state;
  });
}

py::tuple convlstm_gates_backward(const py::array& gates, const py::array& cell,
                                  const std::optional<py::array>& peephole, const py::array& grad_state) {
  const char* op = "convlstm_gates";
  const GateShape s = check_gates(op, gates, cell, peephole);
  check_same_dtype(op, "gates", gates, "grad_state", grad_state);
  Shape state_shape = shape_of(cell);
  state_shape.insert(state_shape.begin(), 2);
  check_shape(op, "grad_state", grad_state, state_shape);
  return dispatch_float(s.dtype, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto grad_gates = new_array<T>(shape_of(gates));
    auto grad_cell = new_array<T>(shape_of(cell));
    py::object grad_peephole = py::none();
    T* pgp = nullptr;
    if (peephole) {
      auto array = new_array<T>(shape_of(*peephole));
      pgp = array.mutable_data();
      grad_peephole = array;
    }
    const T* pg = data_of<T>(gates);
    const T* pc = data_of<T>(cell);
    const T* pp = peephole ? data_of<T>(*peephole) : nullptr;
    const T* grad_hidden = data_of<T>(grad_state);
    T* pgg = grad_gates.mutable_data();
    T* pgc = grad_cell.mutable_data();
    const int64_t plane = s.batch * s.hidden * s.positions;
    {
      py::gil_scoped_release release;
      cpu::convlstm_gates_backward<T>(pg, pc, pp, grad_hidden, grad_hidden + plane, pgg, pgc, pgp, s.batch, s.hidden,
                                      s.positions);
    }
    return py::make_tuple(grad_gates, grad_cell, grad_peephole);
  });
}

}  // namespace fastcnn::ops
