import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
from checks import check_gradients, run_under_isa, run_with_grad, torch_parity
from reference import ACTIVATIONS

SHAPES = [(1,), (3, 5), (2, 3, 7, 5), (1, 1, 1, 1), (4, 9, 33)]
FUNCTIONS = {
    "relu": F.relu, "relu6": F.relu6, "leaky_relu": F.leaky_relu, "sigmoid": F.sigmoid,
    "tanh": F.tanh, "gelu": F.gelu, "silu": F.silu,
}


def _sample(shape, seed=0):
    # Spread over [-8, 8] so relu6's upper kink and sigmoid's tails are exercised; keep points
    # away from the kinks so finite differences are well defined.
    x = np.random.default_rng(seed).uniform(-8, 8, size=shape)
    for kink in (0.0, 6.0):
        x = np.where(np.abs(x - kink) < 1e-3, x + 1e-2, x)
    return x


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_matches_reference(name, shape):
    x = _sample(shape)
    forward, derivative = ACTIVATIONS[name]
    output, (grad,), weights = run_with_grad(FUNCTIONS[name], [x], dtype=np.float64)
    np.testing.assert_allclose(output, forward(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, weights * derivative(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_activation_gradient_finite_differences(name):
    check_gradients(FUNCTIONS[name], [_sample((2, 3, 4, 5), seed=1)])


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_activation_matches_torch(name):
    torch = pytest.importorskip("torch")
    theirs = {"gelu": torch.nn.functional.gelu}.get(name, getattr(torch.nn.functional, name))
    torch_parity(FUNCTIONS[name], theirs, [_sample((2, 3, 5, 7)).astype(np.float32)], atol=1e-5, rtol=1e-5)


def test_gelu_tanh_matches_torch():
    torch = pytest.importorskip("torch")
    torch_parity(lambda x: F.gelu(x, approximate="tanh"),
                 lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
                 [_sample((3, 17)).astype(np.float32)], atol=1e-5, rtol=1e-5)
    check_gradients(lambda x: F.gelu(x, approximate="tanh"), [_sample((3, 4))])


def test_leaky_relu_slope():
    x = fastcnn.tensor([-2.0, 3.0])
    np.testing.assert_allclose(F.leaky_relu(x, 0.2).numpy(), [-0.4, 3.0], rtol=1e-6)


@pytest.mark.parametrize("bad", [fastcnn.tensor([1, 2, 3]), np.zeros(3), [1.0]])
def test_activation_rejects_non_float_tensors(bad):
    with pytest.raises(TypeError, match="relu: input"):
        F.relu(bad)


def test_native_kernel_rejects_integer_arrays():
    with pytest.raises(TypeError, match="relu: input must be float32 or float64"):
        fastcnn._C.activation_forward("relu", np.zeros(3, dtype=np.int64), 0.0)
    with pytest.raises(ValueError, match="relu: input must be C-contiguous"):
        fastcnn._C.activation_forward("relu", np.zeros((4, 4), dtype=np.float32)[:, ::2], 0.0)


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_activations_under_each_isa(isa):
    """Each kernel set's loops (csrc/cpu/isa/map_loops.h, forced by FASTCNN_ISA in a fresh
    process) match the reference, on sizes that split across two threads at uneven points."""
    script = (
        "import numpy as np, fastcnn\n"
        "import fastcnn.nn.functional as F\n"
        "from checks import run_with_grad\n"
        "from reference import ACTIVATIONS\n"
        "from test_activation import FUNCTIONS, _sample\n"
        "fastcnn.set_num_threads(2)\n"
        "for size in (5, 1000, 70001, 263169):\n"
        "    x = _sample((size,), seed=size)\n"
        "    for name, function in sorted(FUNCTIONS.items()):\n"
        "        forward, derivative = ACTIVATIONS[name]\n"
        "        for dtype, tolerance in ((np.float64, 1e-12), (np.float32, 2e-6)):\n"
        "            output, (grad,), weights = run_with_grad(function, [x], dtype=dtype)\n"
        "            np.testing.assert_allclose(output, forward(x), rtol=tolerance, atol=tolerance, err_msg=name)\n"
        "            np.testing.assert_allclose(grad, weights * derivative(x), rtol=tolerance, atol=tolerance,\n"
        "                                       err_msg=name)\n"
    )
    run_under_isa(isa, script)
