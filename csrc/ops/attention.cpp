#include <cmath>

#include "core/check.h"
#include "cpu/attention.h"
#include "ops/ops.h"

namespace fastcnn::ops {

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

struct AttentionCall {
  DType dtype;
  cpu::AttentionShape shape;
  int64_t mask_repeat;  // consecutive batch items per mask
};

std::string operands(const py::array& query, const py::array& key, const py::array& value) {
  return " (query " + shape_string(query) + ", key " + shape_string(key) + ", value " + shape_string(value) + ")";
}

// query (B, L, E), key (B, S, E), value (B, S, Ev), mask (M, L, S) with M dividing B (batch item
// n uses mask n / (B / M): one mask for all, one per item, or one per group of heads); every size
// positive, a finite scale, and a mask or causal masking, not both.
AttentionCall check_attention(const py::array& query, const py::array& key, const py::array& value,
                              const std::optional<py::array>& mask, double scale, bool is_causal) {
  const DType dtype = check_float(kOp, "query", query);
  check_same_dtype(kOp, "query", query, "key", key);
  check_same_dtype(kOp, "query", query, "value", value);
  const std::string shapes = operands(query, key, value);
  if (query.ndim() != 3 || key.ndim() != 3 || value.ndim() != 3)
    fail_value(kOp, "query, key and value must be 3-D (batch, positions, features)" + shapes);
  const cpu::AttentionShape shape{query.shape(0), query.shape(1), key.shape(1), query.shape(2), value.shape(2)};
  if (key.shape(0) != shape.batch || value.shape(0) != shape.batch)
    fail_value(kOp, "query, key and value must have the same batch size" + shapes);
  if (key.shape(2) != shape.depth)
    fail_value(kOp, "query has embedding size " + std::to_string(shape.depth) + " but key has " +
                        std::to_string(key.shape(2)) + shapes);
  if (value.shape(1) != shape.keys)
    fail_value(kOp, "key has " + std::to_string(shape.keys) + " positions but value has " +
                        std::to_string(value.shape(1)) + shapes);
  if (shape.batch <= 0 || shape.queries <= 0 || shape.keys <= 0 || shape.depth <= 0 || shape.value_depth <= 0)
    fail_value(kOp, "query, key and value must have positive sizes" + shapes);
  if (!std::isfinite(scale)) fail_value(kOp, "scale must be finite, got " + std::to_string(scale) + shapes);
  int64_t mask_repeat = 1;
  if (mask) {
    if (is_causal) fail_value(kOp, "pass either a mask or is_causal=true, not both" + shapes);
    check_same_dtype(kOp, "query", query, "mask", *mask);
    const int64_t items = mask->ndim() == 3 ? mask->shape(0) : 0;
    if (mask->ndim() != 3 || items <= 0 || shape.batch % items != 0 || mask->shape(1) != shape.queries ||
        mask->shape(2) != shape.keys)
      fail_value(kOp, "mask must have shape (M, L, S) = (M, " + std::to_string(shape.queries) + ", " +
                          std::to_string(shape.keys) + ") with M dividing the batch, got " + shape_string(*mask) +
                          shapes);
    mask_repeat = shape.batch / items;
  }
  return {dtype, shape, mask_repeat};
}

template <typename T>
const T* optional_data(const std::optional<py::array>& a) {
  return a ? data_of<T>(*a) : nullptr;
}

}  // namespace

py::tuple scaled_dot_product_attention_forward(const py::array& query, const py::array& key, const py::array& value,
                                               const std::optional<py::array>& mask, double scale, bool is_causal) {
  const AttentionCall call = check_attention(query, key, value, mask, scale, is_causal);
  const cpu::AttentionShape& s = call.shape;
  return dispatch_float(call.dtype, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto output = new_array<T>({s.batch, s.queries, s.value_depth});
    auto log_sum_exp = new_array<T>({s.batch, s.queries});
    const T *q = data_of<T>(query), *k = data_of<T>(key), *v = data_of<T>(value), *m = optional_data<T>(mask);
    T* out = output.mutable_data();
    T* lse = log_sum_exp.mutable_data();
    {
      py::gil_scoped_release release;
      cpu::attention_forward<T>(q, k, v, m, call.mask_repeat, out, lse, s, T(scale), is_causal);
    }
    return py::make_tuple(output, log_sum_exp);
  });
}

py::tuple scaled_dot_product_attention_backward(const py::array& grad_output, const py::array& query,
                                                const py::array& key, const py::array& value,
                                                const std::optional<py::array>& mask, const py::array& output,
                                                const py::array& log_sum_exp, double scale, bool is_causal,
                                                bool mask_grad) {
  const AttentionCall call = check_attention(query, key, value, mask, scale, is_causal);
  const cpu::AttentionShape& s = call.shape;
  check_same_dtype(kOp, "query", query, "output", output);
  check_same_dtype(kOp, "query", query, "grad_output", grad_output);
  check_same_dtype(kOp, "query", query, "log_sum_exp", log_sum_exp);
  check_shape(kOp, "output", output, {s.batch, s.queries, s.value_depth});
  check_shape(kOp, "grad_output", grad_output, {s.batch, s.queries, s.value_depth});
  check_shape(kOp, "log_sum_exp", log_sum_exp, {s.batch, s.queries});
  if (mask_grad && !mask) fail_value(kOp, "mask_grad needs a mask" + operands(query, key, value));
  return dispatch_float(call.dtype, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto grad_query = new_array<T>(shape_of(query));
    auto grad_key = new_array<T>(shape_of(key));
    auto grad_value = new_array<T>(shape_of(value));
    py::object grad_mask = py::none();
    T* grad_mask_data = nullptr;
    if (mask_grad) {
      auto array = new_array<T>({s.batch, s.queries, s.keys});
      grad_mask_data = array.mutable_data();
      grad_mask = array;
    }
    const T *q = data_of<T>(query), *k = data_of<T>(key), *v = data_of<T>(value), *m = optional_data<T>(mask);
    const T *g = data_of<T>(grad_output), *out = data_of<T>(output), *lse = data_of<T>(log_sum_exp);
    T *dq = grad_query.mutable_data(), *dk = grad_key.mutable_data(), *dv = grad_value.mutable_data();
    {
      py::gil_scoped_release release;
      cpu::attention_backward<T>(g, q, k, v, m, call.mask_repeat, out, lse, dq, dk, dv, grad_mask_data, s,
                                 T(scale), is_causal);
    }
    return py::make_tuple(grad_query, grad_key, grad_value, grad_mask);
  });
}

}  // namespace fastcnn::ops
