"""Elementwise arithmetic, reductions, shape ops and indexing: forward and backward against
NumPy, central finite differences (float64) and torch."""
import re

import numpy as np
import pytest

import fastcnn
from checks import check_gradients, torch_parity

rng = np.random.default_rng(0)


def positive(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


def normal(*shape):
    return rng.standard_normal(shape)


# name: (fastcnn function, torch function (or None), inputs, NumPy reference of the forward)
CASES = {
    "add_broadcast": (lambda a, b: a + b, lambda a, b: a + b, [normal(2, 3, 4), normal(3, 1)], np.add),
    "sub_broadcast": (lambda a, b: a - b, lambda a, b: a - b, [normal(4), normal(2, 4)], np.subtract),
    "mul_broadcast": (lambda a, b: a * b, lambda a, b: a * b, [normal(2, 1, 5), normal(3, 1)], np.multiply),
    # Same-shape float arrays of at least 2^16 elements run on our kernel (ops/elementwise.py);
    # an odd size leaves a remainder after the vector lanes and the thread split.
    "add_kernel": (lambda a, b: a + b, lambda a, b: a + b, [normal(1, 3, 149, 151), normal(1, 3, 149, 151)], np.add),
    "sub_kernel": (lambda a, b: a - b, lambda a, b: a - b, [normal(67491), normal(67491)], np.subtract),
    "mul_kernel": (lambda a, b: a * b, lambda a, b: a * b, [normal(3, 149, 151), normal(3, 149, 151)], np.multiply),
    # As large, but a transposed view or a broadcast operand: these stay with NumPy.
    "add_transposed": (lambda a, b: a.transpose(0, 1) + b, lambda a, b: a.transpose(0, 1) + b,
                       [normal(301, 227), normal(227, 301)], lambda a, b: a.T + b),
    "mul_broadcast_large": (lambda a, b: a * b, lambda a, b: a * b, [normal(3, 149, 151), normal(149, 1)],
                            np.multiply),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [normal(3, 4), positive(4)], np.divide),
    "scalar_ops": (lambda a: (2 - a) * 3 / 4 + 1, lambda a: (2 - a) * 3 / 4 + 1, [normal(5)],
                   lambda a: (2 - a) * 3 / 4 + 1),
    "rdiv": (lambda a: 1 / a, lambda a: 1 / a, [positive(6)], lambda a: 1 / a),
    "pow_scalar": (lambda a: a ** 3, lambda a: a ** 3, [normal(3, 3)], lambda a: a ** 3),
    "pow_tensor": (lambda a, b: a ** b, lambda a, b: a ** b, [positive(4), normal(4)], np.power),
    "exp": (lambda a: a.exp(), lambda a: a.exp(), [normal(3, 2)], np.exp),
    "log": (lambda a: a.log(), lambda a: a.log(), [positive(7)], np.log),
    "sqrt": (lambda a: a.sqrt(), lambda a: a.sqrt(), [positive(2, 5)], np.sqrt),
    "abs": (lambda a: a.abs(), lambda a: a.abs(), [normal(9) + 0.1], np.abs),
    "neg": (lambda a: -a, lambda a: -a, [normal(2, 2)], np.negative),
    "clamp": (lambda a: a.clamp(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), [normal(4, 5)],
              lambda a: np.clip(a, -0.5, 0.7)),
    "where": (lambda a, b: fastcnn.where(a > 0, a, b), None, [normal(3, 4), normal(4)],
              lambda a, b: np.where(a > 0, a, b)),
    "sum_all": (lambda a: a.sum(), lambda a: a.sum(), [normal(3, 4)], np.sum),
    "sum_dims": (lambda a: a.sum((0, 2), keepdim=True), lambda a: a.sum((0, 2), keepdim=True), [normal(2, 3, 4)],
                 lambda a: a.sum((0, 2), keepdims=True)),
    "mean_dim": (lambda a: a.mean(1), lambda a: a.mean(1), [normal(2, 5, 3)], lambda a: a.mean(1)),
    "max_dim": (lambda a: a.max(1)[0], lambda a: a.max(1)[0], [normal(4, 6)], lambda a: a.max(1)),
    "max_all": (lambda a: a.max(), lambda a: a.max(), [normal(3, 5)], np.max),
    "min_dim_keep": (lambda a: a.min(-1, keepdim=True)[0], lambda a: a.min(-1, keepdim=True)[0], [normal(3, 4)],
                     lambda a: a.min(-1, keepdims=True)),
    "var_dim": (lambda a: a.var(1), lambda a: a.var(1), [normal(3, 6)], lambda a: a.var(1, ddof=1)),
    "var_biased": (lambda a: a.var((0, 1), unbiased=False), lambda a: a.var((0, 1), unbiased=False),
                   [normal(3, 4, 2)], lambda a: a.var((0, 1))),
    "reshape": (lambda a: a.reshape(4, -1) * 2, lambda a: a.reshape(4, -1) * 2, [normal(2, 2, 3)],
                lambda a: a.reshape(4, -1) * 2),
    "permute": (lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [normal(2, 3, 4)],
                lambda a: a.transpose(2, 0, 1)),
    "transpose": (lambda a: a.transpose(0, 1), lambda a: a.transpose(0, 1), [normal(3, 5)], lambda a: a.T),
    "flatten": (lambda a: a.flatten(1), lambda a: a.flatten(1), [normal(2, 3, 4)], lambda a: a.reshape(2, -1)),
    "unsqueeze_squeeze": (lambda a: a.unsqueeze(1).squeeze(1) * a, lambda a: a.unsqueeze(1).squeeze(1) * a,
                          [normal(3, 2)], lambda a: a * a),
    "cat": (lambda a, b: fastcnn.cat([a, b, a], 1), None, [normal(2, 3), normal(2, 1)],
            lambda a, b: np.concatenate([a, b, a], 1)),
    "stack": (lambda a, b: fastcnn.stack([a, b], 2), None, [normal(2, 3), normal(2, 3)],
              lambda a, b: np.stack([a, b], 2)),
    "index_slice": (lambda a: a[1:, ::2], lambda a: a[1:, ::2], [normal(4, 5)], lambda a: a[1:, ::2]),
    "index_repeated": (lambda a: a[[0, 2, 0]], None, [normal(3, 2)], lambda a: a[[0, 2, 0]]),
    "matmul_chain": (lambda a, b: (a @ b) @ b.T, lambda a, b: (a @ b) @ b.T, [normal(3, 4), normal(4, 4)],
                     lambda a, b: (a @ b) @ b.T),
    "expand": (lambda a: a.expand(3, 4), lambda a: a.expand(3, 4), [normal(1, 4)],
               lambda a: np.broadcast_to(a, (3, 4))),
    "split": (lambda a: fastcnn.split(a, 2, 1)[1] * 3, lambda a: a.split(2, 1)[1] * 3, [normal(2, 5)],
              lambda a: a[:, 2:4] * 3),
    # Pieces used twice, once and not at all (a zero gradient), and an empty piece.
    "split_sections": (lambda a: (lambda p: p[0] * p[0].sum() + p[3][:, :2])(fastcnn.split(a, [2, 0, 1, 3], 1)),
                       lambda a: (lambda p: p[0] * p[0].sum() + p[3][:, :2])(a.split([2, 0, 1, 3], 1)),
                       [normal(3, 6)], lambda a: a[:, :2] * a[:, :2].sum() + a[:, 3:5]),
    "chunk": (lambda a: (lambda p: p[0] * 2 + p[1])(a.chunk(3, -1)),
              lambda a: (lambda p: p[0] * 2 + p[1])(a.chunk(3, -1)), [normal(2, 5)],
              lambda a: a[:, :2] * 2 + a[:, 2:4]),
    "unbind": (lambda a: (lambda p: p[0] * p[2] + p[0])(fastcnn.unbind(a, 1)),
               lambda a: (lambda p: p[0] * p[2] + p[0])(a.unbind(1)), [normal(2, 4, 3)],
               lambda a: a[:, 0] * a[:, 2] + a[:, 0]),
    "unbind_last_dim": (lambda a: fastcnn.stack(a.unbind(-1)[::-1], 0), None, [normal(3, 2)], lambda a: a.T[::-1]),
    "stack_0_d": (lambda a, b: fastcnn.stack([a, b], -1) * fastcnn.stack([b, a]), None, [normal(), normal()],
                  lambda a, b: np.stack([a, b]) * np.stack([b, a])),
    "squeeze_dims": (lambda a: a.squeeze((0, 2)) * 2, lambda a: a.squeeze((0, 2)) * 2, [normal(1, 3, 1, 2)],
                     lambda a: a.reshape(3, 2) * 2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_numpy(name):
    ours, _, inputs, reference = CASES[name]
    out = ours(*[fastcnn.tensor(x) for x in inputs])
    np.testing.assert_allclose(out.numpy(), reference(*inputs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_finite_differences(name):
    ours, _, inputs, _ = CASES[name]
    check_gradients(ours, inputs)


@pytest.mark.parametrize("name", sorted(name for name, case in CASES.items() if case[1] is not None))
def test_matches_torch(name):
    pytest.importorskip("torch")
    ours, theirs, inputs, _ = CASES[name]
    torch_parity(ours, theirs, [x.astype(np.float32) for x in inputs], atol=1e-5, rtol=1e-4)


def test_max_ties_share_the_gradient():
    x = fastcnn.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0.5, 0.5])


def test_max_with_dim_returns_indices():
    values, indices = fastcnn.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 1.0]]).max(1)
    np.testing.assert_array_equal(values.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])


def test_comparisons_give_bool_tensors():
    x = fastcnn.tensor([1.0, 2.0, 3.0])
    assert (x > 1.5).dtype == fastcnn.bool_
    assert ((x > 1.5) & (x < 2.5)).numpy().tolist() == [False, True, False]


@pytest.mark.parametrize("call, match", [
    (lambda: fastcnn.ones(2, 3).reshape(4, -1), "reshape"),
    (lambda: fastcnn.ones(2, 3).permute(0, 0), "permute"),
    (lambda: fastcnn.ones(2, 3).permute(1, -1), "permute"),
    (lambda: fastcnn.cat([fastcnn.ones(2, 3), fastcnn.ones(3, 3)], 1), "cat"),
    (lambda: fastcnn.stack([fastcnn.ones(2), fastcnn.ones(3)]), "stack"),
    (lambda: fastcnn.ones(2, 3) @ fastcnn.ones(2, 3), "matmul"),
    (lambda: fastcnn.ones(2, 3).sum((1, -1)), "sum: dim 1 appears multiple times"),
    (lambda: fastcnn.ones(1, 3).squeeze((0, -2)), "squeeze: dim 0 appears multiple times"),
    (lambda: fastcnn.ones(2, 3).amin((1, -1)), "amin: dim 1 appears multiple times"),
    (lambda: fastcnn.ones(2).expand(3, 3), "expand"),
])
def test_bad_shapes_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_matmul_dtype_mismatch_is_type_error():
    with pytest.raises(TypeError, match="matmul: other has dtype float64"):
        fastcnn.ones(2, 2) @ fastcnn.ones(2, 2, dtype=fastcnn.float64)


# --- dim arguments ---------------------------------------------------------------------------
# name: (op named in the error, call(library, x, dim) for fastcnn and torch alike, whether dim
# names a position for a new dim, so that ndim is valid too)
DIM_OPS = {
    "cat": ("cat", lambda lib, x, d: lib.cat([x, x], d), False),
    "stack": ("stack", lambda lib, x, d: lib.stack([x, x], d), True),
    "select": ("select", lambda lib, x, d: x.select(d, 0), False),
    "unbind": ("unbind", lambda lib, x, d: x.unbind(d), False),
    "split": ("split", lambda lib, x, d: x.split(2, d), False),
    "chunk": ("chunk", lambda lib, x, d: x.chunk(2, d), False),
    "sum": ("sum", lambda lib, x, d: x.sum(d), False),
    "sum_dims": ("sum", lambda lib, x, d: x.sum((d,)), False),
    "mean": ("mean", lambda lib, x, d: x.mean(d, keepdim=True), False),
    "max": ("max", lambda lib, x, d: x.max(d), False),
    "min": ("min", lambda lib, x, d: x.min(d), False),
    "amax": ("amax", lambda lib, x, d: x.amax(d), False),
    "amin_dims": ("amin", lambda lib, x, d: lib.amin(x, (d,), keepdim=True), False),
    "var": ("var", lambda lib, x, d: x.var(d, unbiased=False), False),
    "std": ("std", lambda lib, x, d: x.std(d, unbiased=False), False),
    "argmax": ("argmax", lambda lib, x, d: x.argmax(d), False),
    "argmin": ("argmin", lambda lib, x, d: x.argmin(d, keepdim=True), False),
    "softmax": ("softmax", lambda lib, x, d: lib.nn.functional.softmax(x, d), False),
    "log_softmax": ("log_softmax", lambda lib, x, d: lib.nn.functional.log_softmax(x, d), False),
    "squeeze": ("squeeze", lambda lib, x, d: x.squeeze(d), False),
    "squeeze_dims": ("squeeze", lambda lib, x, d: lib.squeeze(x, (d,)), False),
    "unsqueeze": ("unsqueeze", lambda lib, x, d: x.unsqueeze(d), True),
    "transpose": ("transpose", lambda lib, x, d: x.transpose(d, 0), False),
    "permute": ("permute", lambda lib, x, d: x.permute(d, *[i for i in range(x.ndim) if i != d % x.ndim]), False),
    "flatten_start": ("flatten", lambda lib, x, d: x.flatten(d), False),
    "flatten_end": ("flatten", lambda lib, x, d: x.flatten(0, d), False),
    "size": ("size", lambda lib, x, d: x.size(d), False),
}
DIM_SHAPES = [(2, 3, 1), (4,)]


def _dim_range(shape, new_dim):
    positions = len(shape) + new_dim
    return -positions, positions - 1


@pytest.mark.parametrize("shape", DIM_SHAPES)
@pytest.mark.parametrize("name", sorted(DIM_OPS))
def test_out_of_range_dim_raises_index_error(name, shape):
    op, call, new_dim = DIM_OPS[name]
    x = fastcnn.tensor(normal(*shape))
    low, high = _dim_range(shape, new_dim)
    for dim in (high + 1, low - 1, high + 5):
        message = f"{op}: dimension out of range (expected to be in range of [{low}, {high}], but got {dim})"
        with pytest.raises(IndexError, match=re.escape(f"{message} (input {shape})")):
            call(fastcnn, x, dim)
    with pytest.raises(TypeError, match=f"{op}: dim must be an int, got 1.0"):
        call(fastcnn, x, 1.0)


def _arrays(result):
    """A result of any of DIM_OPS (a tensor, a tuple of them, an int) as a list of arrays."""
    parts = result if isinstance(result, tuple) and not isinstance(result, fastcnn.Size) else (result,)
    return [np.asarray(part.numpy() if hasattr(part, "numpy") else part) for part in parts]


@pytest.mark.parametrize("shape", DIM_SHAPES)
@pytest.mark.parametrize("name", sorted(DIM_OPS))
def test_boundary_dims_match_torch(name, shape):
    torch = pytest.importorskip("torch")
    _, call, new_dim = DIM_OPS[name]
    values = normal(*shape)
    low, high = _dim_range(shape, new_dim)
    for dim in (low, high):
        ours = _arrays(call(fastcnn, fastcnn.tensor(values), dim))
        theirs = _arrays(call(torch, torch.tensor(values), dim))
        assert [a.shape for a in ours] == [a.shape for a in theirs], f"dim {dim}"
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=f"dim {dim}")
    for dim in (high + 1, low - 1):
        with pytest.raises(IndexError):
            call(torch, torch.tensor(values), dim)


@pytest.mark.parametrize("call", [lambda x: x[0], lambda x: x.select(0, 1), lambda x: x.unbind(0)[1],
                                  lambda x: x.reshape(1, 2).permute(1, 0)[1, 0]])
def test_results_of_no_dims_stay_0_d(call):
    x = fastcnn.tensor([1.0, 2.0], requires_grad=True)
    out = call(x)
    assert tuple(out.shape) == ()
    out.backward()
    assert tuple(x.grad.shape) == (2,)


def test_gradient_of_a_0_d_leaf_is_0_d():
    x = fastcnn.tensor(2.0, requires_grad=True)
    (x.sum() * x.mean() + x.permute()).backward()
    assert tuple(x.grad.shape) == () and x.grad.item() == 5.0


@pytest.mark.parametrize("reduction", ["sum", "mean", "amax", "amin", "var", "std"])
def test_empty_dim_list_reduces_all_dims(reduction):
    values = normal(2, 3)
    x = fastcnn.tensor(values)
    for dims in ((), []):
        np.testing.assert_allclose(getattr(x, reduction)(dims).numpy(), getattr(x, reduction)().numpy(), rtol=1e-12)
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(getattr(x, reduction)(()).numpy(), getattr(torch.tensor(values), reduction)(()).numpy(),
                               rtol=1e-12)


# --- result shapes on 0-d and small tensors --------------------------------------------------
# name: call(library, x) for fastcnn and torch alike; each runs on every shape of KEEPDIM_SHAPES.
SHAPE_CALLS = {
    "argmax_keepdim": lambda lib, x: x.argmax(0, keepdim=True),
    "argmin_keepdim_last": lambda lib, x: lib.argmin(x, -1, keepdim=True),
    "argmax_all_keepdim": lambda lib, x: lib.argmax(x, keepdim=True),
    "argmin_all": lambda lib, x: x.argmin(),
    "max_keepdim": lambda lib, x: x.max(0, keepdim=True),
    "min_keepdim_last": lambda lib, x: lib.min(x, -1, keepdim=True),
    "max_last": lambda lib, x: x.max(-1),
    "stack": lambda lib, x: lib.stack([x, 2 * x]),
    "stack_last": lambda lib, x: lib.stack([x, x], -1),
    "squeeze_dims": lambda lib, x: x.squeeze((0,)),
    "squeeze_no_dims": lambda lib, x: x.squeeze(()),
}
KEEPDIM_SHAPES = [(), (1,), (2, 1, 3)]


@pytest.mark.parametrize("shape", KEEPDIM_SHAPES)
@pytest.mark.parametrize("name", sorted(SHAPE_CALLS))
def test_result_shapes_match_torch(name, shape):
    torch = pytest.importorskip("torch")
    values = normal(*shape)
    ours = _arrays(SHAPE_CALLS[name](fastcnn, fastcnn.tensor(values)))
    theirs = _arrays(SHAPE_CALLS[name](torch, torch.tensor(values)))
    assert [a.shape for a in ours] == [a.shape for a in theirs]
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shapes, position", [([(), ()], 0), ([(2,), ()], 1), ([(0,), (3,), ()], 2)])
def test_cat_refuses_0_d_tensors(shapes, position):
    message = f"cat: zero-dimensional tensor (at position {position}) cannot be concatenated (tensors {tuple(shapes)})"
    with pytest.raises(ValueError, match=re.escape(message)):
        fastcnn.cat([fastcnn.zeros(shape) for shape in shapes])
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=re.escape(f"zero-dimensional tensor (at position {position})")):
        torch.cat([torch.zeros(shape) for shape in shapes])


@pytest.mark.parametrize("shape, dims", [((1, 3, 1, 2), (0, 2)), ((1, 3, 1, 2), [2, -4]), ((1, 3, 1, 2), (1, 3, -2)),
                                         ((1, 1), (0, 1)), ((1, 2), ())])
def test_squeeze_takes_a_tuple_of_dims(shape, dims):
    torch = pytest.importorskip("torch")
    values = normal(*shape)
    expected = tuple(torch.tensor(values).squeeze(dims).shape)
    x = fastcnn.tensor(values)
    for out in (x.squeeze(dims), fastcnn.squeeze(x, dims)):
        assert tuple(out.shape) == expected
        np.testing.assert_array_equal(out.numpy(), values.reshape(expected))


# --- empty inputs to max, min, amax, amin, argmax, argmin ------------------------------------
EXTREMA = ["max", "min", "amax", "amin", "argmax", "argmin"]
DIFFERENTIABLE_EXTREMA = {"max", "min", "amax", "amin"}
# (op, shape, dim): an empty input reduced over non-empty dims; a tuple of dims only for amax/amin.
EMPTY_INPUT_REDUCTIONS = ([(op, shape, dim) for op in EXTREMA
                           for shape, dim in [((0, 3), 1), ((2, 0, 3), 2), ((2, 0, 3), -3)]]
                          + [(op, (3, 0, 2), dims) for op in ("amax", "amin") for dims in [(0, 2), (-1, 0)]])
# (op, shape, dim): an empty reduced dim, or an empty input with no dim given.
EMPTY_DIM_REDUCTIONS = ([(op, shape, dim) for op in EXTREMA
                         for shape, dim in [((0, 3), 0), ((3, 0), -1), ((2, 0, 3), 1), ((0, 3), None)]]
                        + [(op, (0, 3), dims) for op in ("amax", "amin") for dims in [(0, 1), (1, -2), ()]])


def _reduce(library, op, x, dim, keepdim=False):
    # With no dim, torch's max and min take no keepdim.
    return getattr(library, op)(x) if dim is None else getattr(library, op)(x, dim, keepdim=keepdim)


def _shapes_and_dtypes(result):
    """A fastcnn or torch result (a tensor or a (values, indices) pair) as [(shape, NumPy dtype)]."""
    return [(part.detach().numpy().shape, part.detach().numpy().dtype)
            for part in (result if isinstance(result, tuple) else (result,))]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op, shape, dim", EMPTY_INPUT_REDUCTIONS)
def test_extrema_of_an_empty_input_over_non_empty_dims_match_torch(op, shape, dim, keepdim):
    torch = pytest.importorskip("torch")
    differentiable = op in DIFFERENTIABLE_EXTREMA
    x = fastcnn.zeros(shape, requires_grad=differentiable)
    x_torch = torch.zeros(shape, dtype=torch.float32, requires_grad=differentiable)
    ours, theirs = _reduce(fastcnn, op, x, dim, keepdim), _reduce(torch, op, x_torch, dim, keepdim)
    assert _shapes_and_dtypes(ours) == _shapes_and_dtypes(theirs)
    if differentiable:
        (ours[0] if isinstance(ours, tuple) else ours).sum().backward()
        (theirs[0] if isinstance(theirs, tuple) else theirs).sum().backward()
        assert tuple(x.grad.shape) == tuple(x_torch.grad.shape) == shape


@pytest.mark.parametrize("op, shape, dim", EMPTY_DIM_REDUCTIONS)
def test_extrema_over_an_empty_dim_raise(op, shape, dim):
    torch = pytest.importorskip("torch")
    if dim is None or dim == ():
        error = IndexError if op.startswith("arg") else ValueError
        message = f"{op}: input is empty and no dim is given to reduce over (input {shape})"
    else:
        dims = sorted(d % len(shape) for d in (dim if isinstance(dim, tuple) else (dim,)))
        error = IndexError
        message = f"{op}: expected reduction dim {next(d for d in dims if shape[d] == 0)} to have non-zero size " \
                  f"(input {shape})"
    with pytest.raises(error, match=re.escape(message)):
        _reduce(fastcnn, op, fastcnn.zeros(shape), dim)
    # torch raises RuntimeError where we raise ValueError.
    with pytest.raises(IndexError if error is IndexError else RuntimeError, match="non-zero size|dim to be specified"):
        _reduce(torch, op, torch.zeros(shape), dim)


@pytest.mark.parametrize("dims", [(0, 0), (-1, 0), (0, -1)])
def test_transpose_of_a_0d_tensor_is_a_new_tensor(dims):
    torch = pytest.importorskip("torch")
    x = fastcnn.tensor(np.float64(1.5), requires_grad=True)
    for out in (x.transpose(*dims), fastcnn.transpose(x, *dims)):
        assert out is not x and out.grad_fn is not None
        assert tuple(out.shape) == tuple(torch.tensor(1.5).transpose(*dims).shape) == ()
        x.grad = None
        (out * 3.0).backward()
        assert x.grad.numpy() == 3.0


@pytest.mark.parametrize("shape, dim", [((2, 3), 0), ((2, 3), -1), ((2, 3), (0, 1)), ((2, 3), ()), ((1, 3), 0),
                                        ((2, 3), None), ((1, 3), None), ((), 0), ((), None)])
def test_squeeze_always_returns_a_new_tensor(shape, dim):
    torch = pytest.importorskip("torch")
    values = normal(*shape)
    expected = tuple((torch.tensor(values).squeeze() if dim is None else torch.tensor(values).squeeze(dim)).shape)
    x = fastcnn.tensor(values, requires_grad=True)
    for out in ((x.squeeze(), fastcnn.squeeze(x)) if dim is None else (x.squeeze(dim), fastcnn.squeeze(x, dim))):
        assert out is not x and out.grad_fn is not None
        assert tuple(out.shape) == expected
        x.grad = None
        weights = normal(*expected)
        (out * fastcnn.tensor(weights)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), np.reshape(weights, shape), rtol=1e-12)
