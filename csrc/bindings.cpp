// The one pybind11 file: one def per op entry point (csrc/ops/ops.h), nothing else.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/buffer_cache.h"
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
  m.def("cpu_cache_sizes", [] {
    const fastcnn::CacheSizes& sizes = fastcnn::cache_sizes();
    return py::dict("l1_data"_a = sizes.l1_data, "l2"_a = sizes.l2);
  });
  m.attr("cuda_compiled") = false;
  m.def("release_buffer_cache", &fastcnn::release_buffer_cache);
  m.def("buffer_cache_stats", &fastcnn::buffer_cache_stats);

  // --- activation ---
  m.def("activation_forward", &fastcnn::ops::activation_forward, "name"_a, "input"_a, "parameter"_a = 0.0);
  m.def("activation_backward", &fastcnn::ops::activation_backward, "name"_a, "grad_output"_a, "input"_a,
        "parameter"_a = 0.0);

  // --- linear algebra ---
  m.def("bmm", &fastcnn::ops::bmm, "a"_a, "b"_a, "transpose_a"_a = false, "transpose_b"_a = false);

  // --- convolution ---
  m.def("conv2d_forward", &fastcnn::ops::conv2d_forward, "input"_a, "weight"_a, "bias"_a, "stride"_a, "padding"_a,
        "dilation"_a, "groups"_a);
  m.def("conv2d_bn_forward", &fastcnn::ops::conv2d_bn_forward, "input"_a, "weight"_a, "bias"_a, "running_mean"_a,
        "running_var"_a, "bn_weight"_a, "bn_bias"_a, "eps"_a, "residual"_a, "activation"_a, "stride"_a, "padding"_a,
        "dilation"_a, "groups"_a);
  m.def("conv2d_backward_input", &fastcnn::ops::conv2d_backward_input, "grad_output"_a, "input"_a, "weight"_a,
        "stride"_a, "padding"_a, "dilation"_a, "groups"_a);
  m.def("conv2d_backward_weight", &fastcnn::ops::conv2d_backward_weight, "grad_output"_a, "input"_a, "weight"_a,
        "stride"_a, "padding"_a, "dilation"_a, "groups"_a, "bias"_a);
  m.def("conv_transpose2d_forward", &fastcnn::ops::conv_transpose2d_forward, "input"_a, "weight"_a, "bias"_a,
        "stride"_a, "padding"_a, "output_padding"_a, "dilation"_a, "groups"_a);
  m.def("conv_transpose2d_backward_input", &fastcnn::ops::conv_transpose2d_backward_input, "grad_output"_a,
        "input"_a, "weight"_a, "stride"_a, "padding"_a, "output_padding"_a, "dilation"_a, "groups"_a);
  m.def("conv_transpose2d_backward_weight", &fastcnn::ops::conv_transpose2d_backward_weight, "grad_output"_a,
        "input"_a, "weight"_a, "stride"_a, "padding"_a, "output_padding"_a, "dilation"_a, "groups"_a, "bias"_a);

  // --- pooling ---
  m.def("max_pool2d_forward", &fastcnn::ops::max_pool2d_forward, "input"_a, "kernel_size"_a, "stride"_a, "padding"_a,
        "dilation"_a, "ceil_mode"_a, "with_indices"_a);
  m.def("max_pool2d_backward", &fastcnn::ops::max_pool2d_backward, "grad_output"_a, "indices"_a, "input_shape"_a);
  m.def("avg_pool2d_forward", &fastcnn::ops::avg_pool2d_forward, "input"_a, "kernel_size"_a, "stride"_a, "padding"_a,
        "ceil_mode"_a, "count_include_pad"_a, "divisor_override"_a);
  m.def("avg_pool2d_backward", &fastcnn::ops::avg_pool2d_backward, "grad_output"_a, "input_shape"_a, "kernel_size"_a,
        "stride"_a, "padding"_a, "ceil_mode"_a, "count_include_pad"_a, "divisor_override"_a);
  m.def("adaptive_avg_pool2d_forward", &fastcnn::ops::adaptive_avg_pool2d_forward, "input"_a, "output_size"_a);
  m.def("adaptive_avg_pool2d_backward", &fastcnn::ops::adaptive_avg_pool2d_backward, "grad_output"_a,
        "input_shape"_a);
  m.def("adaptive_max_pool2d_forward", &fastcnn::ops::adaptive_max_pool2d_forward, "input"_a, "output_size"_a,
        "with_indices"_a);

  // --- normalisation and dropout ---
  m.def("batch_norm_forward", &fastcnn::ops::batch_norm_forward, "input"_a, "running_mean"_a, "running_var"_a,
        "weight"_a, "bias"_a, "training"_a, "momentum"_a, "eps"_a, "residual"_a = py::none(),
        "activation"_a = "none");
  m.def("batch_norm_backward", &fastcnn::ops::batch_norm_backward, "grad_output"_a, "input"_a, "save_mean"_a,
        "save_invstd"_a, "weight"_a, "training"_a, "need_input"_a, "need_weight"_a, "need_bias"_a,
        "output"_a = py::none(), "activation"_a = "none", "need_residual"_a = false);
  m.def("dropout_forward", &fastcnn::ops::dropout_forward, "input"_a, "p"_a, "seed"_a, "channelwise"_a);
  m.def("dropout_backward", &fastcnn::ops::dropout_backward, "grad_output"_a, "p"_a, "seed"_a, "channelwise"_a);

  // --- softmax and losses ---
  m.def("softmax_forward", &fastcnn::ops::softmax_forward, "input"_a, "dim"_a, "log"_a = false);
  m.def("softmax_backward", &fastcnn::ops::softmax_backward, "grad_output"_a, "output"_a, "dim"_a,
        "log"_a = false);
  m.def("nll_loss_forward", &fastcnn::ops::nll_loss_forward, "input"_a, "target"_a, "weight"_a, "ignore_index"_a,
        "reduction"_a, "label_smoothing"_a = 0.0);
  m.def("nll_loss_backward", &fastcnn::ops::nll_loss_backward, "grad_output"_a, "input"_a, "target"_a, "weight"_a,
        "ignore_index"_a, "reduction"_a, "label_smoothing"_a, "total_weight"_a);
  m.def("mse_loss_forward", &fastcnn::ops::mse_loss_forward, "input"_a, "target"_a, "reduction"_a);
  m.def("mse_loss_backward", &fastcnn::ops::mse_loss_backward, "grad_output"_a, "input"_a, "target"_a,
        "reduction"_a);
  m.def("bce_with_logits_forward", &fastcnn::ops::bce_with_logits_forward, "input"_a, "target"_a, "weight"_a,
        "pos_weight"_a, "reduction"_a);
  m.def("bce_with_logits_backward", &fastcnn::ops::bce_with_logits_backward, "grad_output"_a, "input"_a,
        "target"_a, "weight"_a, "pos_weight"_a, "reduction"_a);

  // --- attention ---
  m.def("scaled_dot_product_attention_forward", &fastcnn::ops::scaled_dot_product_attention_forward, "query"_a,
        "key"_a, "value"_a, "mask"_a, "scale"_a, "is_causal"_a);
  m.def("scaled_dot_product_attention_backward", &fastcnn::ops::scaled_dot_product_attention_backward,
        "grad_output"_a, "query"_a, "key"_a, "value"_a, "mask"_a, "output"_a, "log_sum_exp"_a, "scale"_a,
        "is_causal"_a, "mask_grad"_a);

  // --- machine peak ---
  m.def("measure_fma_peak", &fastcnn::ops::measure_fma_peak, "seconds"_a = 0.5);
  m.def("measure_stream_bandwidth", &fastcnn::ops::measure_stream_bandwidth, "bytes"_a, "seconds"_a = 0.5);

  // --- recurrent ---
  m.def("convlstm_gates_forward", &fastcnn::ops::convlstm_gates_forward, "gates"_a, "cell"_a,
        "peephole"_a = py::none());
  m.def("convlstm_gates_backward", &fastcnn::ops::convlstm_gates_backward, "gates"_a, "cell"_a, "peephole"_a,
        "grad_state"_a);

  // --- capsules ---
  m.def("squash_forward", &fastcnn::ops::squash_forward, "input"_a, "dim"_a, "eps"_a);
  m.def("squash_backward", &fastcnn::ops::squash_backward, "grad_output"_a, "input"_a, "dim"_a, "eps"_a);
  m.def("routing_coupling", &fastcnn::ops::routing_coupling, "predictions"_a, "iterations"_a);
  m.def("routing_weighted_sum_forward", &fastcnn::ops::routing_weighted_sum_forward, "predictions"_a,
        "coupling"_a);
  m.def("routing_weighted_sum_backward", &fastcnn::ops::routing_weighted_sum_backward, "grad_output"_a,
        "predictions"_a, "coupling"_a);
  m.def("margin_loss_forward", &fastcnn::ops::margin_loss_forward, "lengths"_a, "target"_a, "m_plus"_a,
        "m_minus"_a, "lambda"_a);
  m.def("margin_loss_backward", &fastcnn::ops::margin_loss_backward, "grad_losses"_a, "lengths"_a, "target"_a,
        "m_plus"_a, "m_minus"_a, "lambda"_a);

  // --- elementwise ---
  m.def("binary_forward", &fastcnn::ops::binary_forward, "name"_a, "a"_a, "b"_a);
  m.def("add_into", &fastcnn::ops::add_into, "total"_a, "addend"_a);
}
