import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
import reference
from checks import check_gradients, run_with_grad, torch_parity

# (shape, dim): last dim (the row path, with rows shorter and longer than a vector and with
# tails), first and middle dims (the column path, with partial column blocks), batch 1, 0-d.
CASES = [
    ((7,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 37), -1), ((1, 100), -1), ((4, 3, 5), 1), ((2, 7, 70), 0),
    ((2, 3, 4, 5), 2), ((2, 3, 4, 5), -3), ((1, 1, 1), 1), ((3, 130), 1), ((5, 67, 3), -2), ((), 0),
]
FUNCTIONS = {"softmax": (F.softmax, False), "log_softmax": (F.log_softmax, True)}


def _logits(shape, seed=0, spread=5.0):
    return np.random.default_rng(seed).standard_normal(shape) * spread


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("shape, dim", CASES)
def test_softmax_matches_reference(name, shape, dim):
    function, log = FUNCTIONS[name]
    x = _logits(shape)
    output, (grad,), weights = run_with_grad(lambda t: function(t, dim), [x], dtype=np.float64)
    np.testing.assert_allclose(output, reference.softmax(x, dim, log), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(grad, reference.softmax_grad(x, weights, dim, log), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("shape, dim", [((3, 5), 1), ((2, 4, 3), 0), ((2, 3, 4, 5), 2)])
def test_softmax_gradient_finite_differences(name, shape, dim):
    function, _ = FUNCTIONS[name]
    check_gradients(lambda t: function(t, dim), [_logits(shape, seed=1, spread=1.0)])


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("shape, dim", CASES)
def test_softmax_matches_torch(name, shape, dim):
    torch = pytest.importorskip("torch")
    function, _ = FUNCTIONS[name]
    theirs = getattr(torch.nn.functional, name)
    torch_parity(lambda t: function(t, dim), lambda t: theirs(t, dim), [_logits(shape).astype(np.float32)],
                 atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("dim", [0, 1])
def test_softmax_is_stable_for_large_logits(name, dim):
    torch = pytest.importorskip("torch")
    function, _ = FUNCTIONS[name]
    x = np.array([[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -999.5, -1000.0, -1001.0]], dtype=np.float32)
    output = function(fastcnn.tensor(x), dim).numpy()
    assert np.all(np.isfinite(output))
    expected = getattr(torch.nn.functional, name)(torch.tensor(x), dim).numpy()
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)


def test_softmax_underflow_gives_exact_zero_and_rows_sum_to_one():
    x = fastcnn.tensor(np.array([[0.0, -200.0, -np.inf], [3.0, 3.0, 3.0]], dtype=np.float32))
    y = F.softmax(x, 1).numpy()
    assert y[0, 1] == 0.0 and y[0, 2] == 0.0
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_keeps_dtype_and_casts_on_request(dtype):
    x = fastcnn.tensor(_logits((2, 3)), dtype=dtype)
    assert F.softmax(x, 1).dtype == dtype
    assert F.log_softmax(x, 1, dtype=fastcnn.float64).dtype == np.float64


def test_softmax_without_dim_warns_and_follows_torch_legacy_rule():
    x = fastcnn.tensor(_logits((2, 3, 4)))
    with pytest.warns(UserWarning, match="softmax: implicit dimension"):
        y = F.softmax(x)
    np.testing.assert_allclose(y.numpy(), reference.softmax(x.numpy(), 0), rtol=1e-5)


def test_softmax_of_empty_tensor_is_empty():
    assert F.softmax(fastcnn.zeros(0, 3), 1).shape == (0, 3)


def test_softmax_rejects_integer_inputs_and_bad_dims():
    with pytest.raises(TypeError, match="log_softmax: input must be float32 or float64"):
        F.log_softmax(fastcnn.tensor([1, 2, 3]), 0)
    with pytest.raises(TypeError, match="softmax: dim must be an int"):
        F.softmax(fastcnn.zeros(2, 3), 1.0)


def test_native_softmax_validates_arrays():
    with pytest.raises(TypeError, match="softmax: input must be float32 or float64"):
        fastcnn._C.softmax_forward(np.zeros(3, dtype=np.int64), 0, False)
    with pytest.raises(ValueError, match="softmax: input must be C-contiguous"):
        fastcnn._C.softmax_forward(np.zeros((4, 4), dtype=np.float32)[:, ::2], 1, False)
    with pytest.raises(ValueError, match="log_softmax: grad_output must have shape"):
        fastcnn._C.softmax_backward(np.zeros(3, np.float32), np.zeros(4, np.float32), 0, True)
    with pytest.raises(TypeError, match="softmax: grad_output has dtype float64"):
        fastcnn._C.softmax_backward(np.zeros(3), np.zeros(3, np.float32), 0, False)
