// The one pybind11 file: one def per op entry point (csrc/ops/ops.h), nothing else.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/runtime.h"
#include "ops/ops.h"

namespace py = pybind11;
using namespace pybind11::literals;

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastcnn native kernels";

  // --- runtime ---
  m.def("openmp_enabled", &fastcnn::openmp_enabled);
  m.def("get_num_threads", &fastcnn::get_num_threads);
  m.def("set_num_threads", &fastcnn::set_num_threads, "threads"_a);
  m.def("cpu_isa", [] { return std::string(fastcnn::isa_name(fastcnn::active_isa())); });
  m.attr("cuda_compiled") = false;

  // --- activation ---
  m.def("activation_forward", &fastcnn::ops::activation_forward, "name"_a, "input"_a, "parameter"_a = 0.0);
  m.def("activation_backward", &fastcnn::ops::activation_backward, "name"_a, "grad_output"_a, "input"_a,
        "parameter"_a = 0.0);

  // --- linear algebra ---
  m.def("bmm", &fastcnn::ops::bmm, "a"_a, "b"_a, "transpose_a"_a = false, "transpose_b"_a = false);

  // --- convolution ---

  // --- pooling ---

  // --- normalisation and dropout ---

  // --- softmax and losses ---

  // --- recurrent ---
  m.def("convlstm_gates_forward", &fastcnn::ops::convlstm_gates_forward, "gates"_a, "cell"_a,
        "peephole"_a = py::none());
  m.def("convlstm_gates_backward", &fastcnn::ops::convlstm_gates_backward, "gates"_a, "cell"_a, "peephole"_a,
        "grad_state"_a);
}
