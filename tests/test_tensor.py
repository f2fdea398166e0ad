"""Tensor creation, dtypes, conversion and the autograd engine's bookkeeping."""
import re

import numpy as np
import pytest

import fastcnn


def test_tensor_dtypes_follow_torch():
    assert fastcnn.tensor([1.0, 2.0]).dtype == fastcnn.float32
    assert fastcnn.tensor(np.zeros(2)).dtype == fastcnn.float64
    assert fastcnn.tensor([1, 2]).dtype == fastcnn.int64
    assert fastcnn.tensor([1, 2], dtype=fastcnn.float64).dtype == fastcnn.float64
    assert fastcnn.tensor([True]).dtype == fastcnn.bool_
    assert fastcnn.zeros(2, 3).dtype == fastcnn.float32
    assert fastcnn.randn(2, 3).shape == (2, 3)


def test_tensor_copies_non_contiguous_and_read_only_arrays():
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    view = base[:, ::2]
    read_only = base.copy()
    read_only.flags.writeable = False
    for source in (view, read_only):
        t = fastcnn.tensor(source)
        assert t.data.flags.c_contiguous and t.data.flags.writeable
        np.testing.assert_array_equal(t.numpy(), source)
    base[0, 0] = 100
    assert fastcnn.tensor(base).numpy()[0, 0] == 100 and view[0, 0] == 100


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="requires_grad_"):
        fastcnn.tensor([1, 2], requires_grad=True)


def test_item_shape_ndim_and_detach():
    x = fastcnn.tensor([[3.5]], requires_grad=True)
    assert x.item() == 3.5 and x.ndim == 2 and x.shape == (1, 1)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy()[0, 0] == 3.5
    assert not x.detach().requires_grad
    with pytest.raises(ValueError, match="item"):
        fastcnn.zeros(2).item()


def test_gradients_accumulate_across_backward_calls():
    x = fastcnn.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_reused_tensor_gets_summed_gradient():
    x = fastcnn.tensor([2.0, -1.0], requires_grad=True)
    y = x * x + x * 3 + x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.data + 4)


def test_diamond_graph_visits_each_node_once():
    x = fastcnn.tensor([1.5], requires_grad=True)
    a = x.exp()
    b = a * 2
    c = a * 3
    (b + c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 5 * np.exp(1.5), rtol=1e-6)


@pytest.mark.parametrize("caller_gradient", [False, True])
def test_summed_intermediate_gradients_stay_separate(caller_gradient):
    # The engine adds a second gradient into the first in place when only it holds that array;
    # an array a backward handed to two inputs (here: the adds') must not be written through.
    x = fastcnn.tensor([1.0, -2.0], requires_grad=True)
    a, b = x * 2, x * 3
    total = (a + b) + a * 5 + b * 7 + (a + a)
    if caller_gradient:
        gradient = fastcnn.tensor([1.0, 1.0])
        total.backward(gradient)
        np.testing.assert_allclose(gradient.numpy(), [1.0, 1.0])
    else:
        total.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [40.0, 40.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_summed_gradients_of_large_arrays(dtype):
    # Above the elementwise kernel's size threshold the engine sums a reused tensor's gradients
    # with our parallel kernels (ops/elementwise.py, add_into and add), in place where it may:
    # the same sums, and the caller's gradient left as it was.
    values = np.random.default_rng(0).standard_normal((4, 64, 32, 32)).astype(dtype)
    x = fastcnn.tensor(values, requires_grad=True)
    a, b = x * 2, x * 3
    total = (a + b) + a * 5 + b * 7 + (a + a)
    gradient = fastcnn.tensor(np.full(values.shape, 0.5, dtype))
    total.backward(gradient)
    assert x.grad.dtype == dtype
    np.testing.assert_array_equal(gradient.numpy(), 0.5)
    np.testing.assert_allclose(x.grad.numpy(), np.full(values.shape, 20.0, dtype))


def test_leaf_gradients_never_share_memory():
    # Leaves keep a backward's fresh result uncopied; a gradient handed to two leaves, or the
    # caller's gradient, must still give each leaf its own array.
    a = fastcnn.tensor([1.0, 2.0], requires_grad=True)
    b = fastcnn.tensor([3.0, 4.0], requires_grad=True)
    gradient = fastcnn.tensor([5.0, 6.0])
    (a + b).backward(gradient)
    a.grad.data[...] = 0
    np.testing.assert_allclose(b.grad.numpy(), [5.0, 6.0])
    np.testing.assert_allclose(gradient.numpy(), [5.0, 6.0])
    c = a.clone()
    c.backward(gradient)
    c.grad = None
    a.grad.data[...] = 7
    np.testing.assert_allclose(gradient.numpy(), [5.0, 6.0])


def test_broadcast_gradient_is_reduced_to_operand_shape():
    x = fastcnn.randn(4, 1, 3, requires_grad=True)
    y = fastcnn.randn(5, 1, requires_grad=True)
    (x * y).sum().backward()
    assert x.grad.shape == (4, 1, 3) and y.grad.shape == (5, 1)
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(y.data.sum(), (4, 1, 3)), rtol=1e-5)
    np.testing.assert_allclose(y.grad.numpy(), np.full((5, 1), x.data.sum()), rtol=1e-5)


def test_no_grad_records_nothing():
    x = fastcnn.ones(2, requires_grad=True)
    with fastcnn.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert fastcnn.is_grad_enabled()


def test_set_grad_enabled_and_inference_mode_switch_recording():
    x = fastcnn.ones(2, requires_grad=True)
    with fastcnn.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with fastcnn.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not fastcnn.is_grad_enabled()
    assert fastcnn.is_grad_enabled()
    fastcnn.set_grad_enabled(False)  # a plain call switches the mode until switched back
    try:
        assert not (x * 2).requires_grad
    finally:
        fastcnn.set_grad_enabled(True)
    with fastcnn.inference_mode():
        assert not (x * 2).requires_grad
    with fastcnn.inference_mode(False):
        assert (x * 2).requires_grad
    with pytest.raises(TypeError, match="set_grad_enabled: mode must be a bool"):
        fastcnn.set_grad_enabled("no")


def test_retain_grad_and_interior_hooks():
    x = fastcnn.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    seen = []
    z = y * y
    z.register_hook(lambda grad: seen.append(grad.numpy().copy()))
    z.register_hook(lambda grad: grad * 0.5)  # replaces the gradient flowing on
    z.sum().backward()
    np.testing.assert_allclose(seen[0], [1, 1, 1])
    np.testing.assert_allclose(y.grad.numpy(), 0.5 * 2 * y.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), 0.5 * 2 * y.detach().numpy() * 3)
    assert z.grad is None  # not retained
    with pytest.raises(RuntimeError, match="retain_grad: can't retain_grad"):
        fastcnn.ones(2).retain_grad()
    with pytest.raises(RuntimeError, match="register_hook: cannot register"):
        fastcnn.ones(2).register_hook(print)


def test_op_with_several_outputs_runs_its_backward_once(monkeypatch):
    """unbind is one node with an output node per slice: each slice's gradient, summed over its
    uses and passed through its hooks, reaches one call of the op's backward, which gets None for
    a slice nobody used."""
    calls = []
    backward = fastcnn.ops.Unbind.backward
    monkeypatch.setattr(fastcnn.ops.Unbind, "backward",
                        staticmethod(lambda ctx, grads: calls.append(grads) or backward(ctx, grads)))
    x = fastcnn.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    first, second, third = fastcnn.unbind(x)
    assert all(piece.requires_grad for piece in (first, second, third))
    assert repr(first).endswith("grad_fn=<UnbindBackward>)")
    second.register_hook(lambda grad: grad * 10)
    (first * 2 + second * first + second).sum().backward(retain_graph=True)
    assert len(calls) == 1 and calls[0][2] is None
    expected = np.stack([2 + x.data[1], (x.data[0] + 1) * 10, np.zeros(2)])
    np.testing.assert_allclose(x.grad.numpy(), expected)
    (first * 2 + second * first + second).sum().backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 2 * expected)
    x.grad = None
    third.backward(fastcnn.tensor([1.0, 2.0]))  # a slice as the root
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0], [0, 0], [1, 2]])
    with pytest.raises(RuntimeError, match="second time"):
        first.sum().backward()
    with fastcnn.no_grad():
        pieces = fastcnn.unbind(x, 1)
    assert len(pieces) == 2 and not any(piece.requires_grad for piece in pieces)
    np.testing.assert_array_equal(pieces[1].numpy(), x.data[:, 1])


def test_split_and_unbind_reject_bad_arguments():
    x = fastcnn.ones(2, 5)
    for sections in ([2, 2], [3, -1, 3]):
        message = f"split: sections {sections} are not sizes that add up to 5 (dim 1, input (2, 5))"
        with pytest.raises(ValueError, match=re.escape(message)):
            fastcnn.split(x, sections, 1)
    with pytest.raises(ValueError, match="split: split_size must be positive, got 0"):
        fastcnn.split(x, 0, 1)
    with pytest.raises(IndexError, match=re.escape("unbind: dimension specified as 0 but tensor has no dimensions")):
        fastcnn.unbind(fastcnn.tensor(1.0))
    assert [tuple(piece.shape) for piece in fastcnn.chunk(fastcnn.ones(0, 3), 2)] == [(0, 3), (0, 3)]


def test_backward_needs_scalar_or_gradient():
    x = fastcnn.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()
    (x * 2).backward(fastcnn.tensor([1.0, 0.5]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 1.0])


def test_second_backward_through_freed_graph_raises():
    x = fastcnn.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()


def test_in_place_on_leaf_requiring_grad_is_refused():
    x = fastcnn.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x.zero_()
    with fastcnn.no_grad():
        x.zero_()
    assert x.detach().numpy().sum() == 0


def test_config_and_threads():
    config = fastcnn.config()
    for key in ("version", "openmp", "num_threads", "cpu_isa", "cuda_compiled", "cuda_available"):
        assert key in config
    assert config["version"] == fastcnn.__version__
    assert config["cpu_isa"] in ("generic", "avx2", "avx512")
    caches = config["cpu_cache_sizes"]
    assert 8 * 1024 <= caches["l1_data"] < caches["l2"]
    previous = fastcnn.get_num_threads()
    fastcnn.set_num_threads(1)
    assert fastcnn.get_num_threads() == 1
    fastcnn.set_num_threads(previous)
    with pytest.raises(ValueError, match="set_num_threads"):
        fastcnn.set_num_threads(0)


@pytest.mark.parametrize("forced, message", [("avx-2", "is not a kernel set"), ("AVX2", "is not a kernel set"),
                                              ("generic", None)])
def test_unknown_forced_isa_is_a_warning(forced, message):
    """FASTCNN_ISA is read once per process: a fresh interpreter imports fastcnn with it set."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, FASTCNN_ISA=forced, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(fastcnn.__path__[0]), os.environ.get("PYTHONPATH", "")]))
    script = "import fastcnn; print(fastcnn.config()['cpu_isa'])"
    result = subprocess.run([sys.executable, "-W", "always", "-c", script], env=env, capture_output=True, text=True,
                            check=True)
    if message is None:
        assert result.stdout.strip() == "generic" and "FASTCNN_ISA" not in result.stderr
    else:
        assert message in result.stderr and f"FASTCNN_ISA={forced!r}" in result.stderr
        assert result.stdout.strip() in fastcnn._KERNEL_SETS


def test_manual_seed_reproduces_draws():
    fastcnn.manual_seed(7)
    a = fastcnn.randn(5).numpy()
    fastcnn.manual_seed(7)
    np.testing.assert_array_equal(a, fastcnn.randn(5).numpy())


def test_unsupported_device_is_a_clear_error():
    with pytest.raises(RuntimeError, match="cuda"):
        fastcnn.ones(2).to("cuda")
    assert fastcnn.ones(2).to("cpu").dtype == fastcnn.float32
    assert fastcnn.ones(2).to(fastcnn.float64).dtype == fastcnn.float64
