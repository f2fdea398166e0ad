import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
import reference
from checks import check_gradients, run_under_isa, run_with_grad, torch_parity

# (N, C), (N, C, L) and (N, C, H, W) inputs, batch 1, a single channel, odd sizes.
SHAPES = [(5, 3), (4, 6, 7), (2, 3, 5, 4), (1, 2, 3, 3), (3, 1, 5, 1)]


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    channels = shape[1]
    # Channel means far from 0 exercise the centring; weights away from 0.
    x = rng.standard_normal(shape) * 2 + rng.uniform(-5, 5, size=(1, channels) + (1,) * (len(shape) - 2))
    return (x, rng.uniform(0.5, 1.5, channels), rng.standard_normal(channels), rng.standard_normal(channels) * 0.1,
            rng.uniform(0.5, 2.0, channels))


def _batch_norm(running_mean, running_var, training, affine, momentum=0.1, eps=1e-5):
    def function(x, weight=None, bias=None):
        return F.batch_norm(x, running_mean, running_var, weight if affine else None, bias if affine else None,
                            training, momentum, eps)
    return function


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_matches_reference(shape, training, affine):
    x, weight, bias, running_mean, running_var = _data(shape)
    stats = fastcnn.tensor(running_mean), fastcnn.tensor(running_var)
    inputs = [x, weight, bias] if affine else [x]
    output, grads, weights = run_with_grad(_batch_norm(*stats, training, affine, 0.3), inputs, dtype=np.float64)
    expected, new_mean, new_var, backward = reference.batch_norm(x, running_mean, running_var,
                                                                 weight if affine else None, bias if affine else None,
                                                                 training, 0.3)
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-10)
    for grad, expected_grad in zip(grads, backward(weights)):
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(stats[0].numpy(), new_mean, rtol=1e-12)
    np.testing.assert_allclose(stats[1].numpy(), new_var, rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 3)])
def test_batch_norm_finite_differences(shape, training):
    x, weight, bias, running_mean, running_var = _data(shape, seed=1)
    # Running stats stay fixed across the perturbed calls: none in training, constants in eval.
    stats = (None, None) if training else (fastcnn.tensor(running_mean), fastcnn.tensor(running_var))
    check_gradients(_batch_norm(*stats, training, affine=True), [x, weight, bias], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("shape", [(8, 4), (3, 5, 6), (4, 3, 5, 7)])
def test_batch_norm_matches_torch_over_training_steps(shape):
    torch = pytest.importorskip("torch")
    _, weight, bias, running_mean, running_var = _data(shape)
    params = [fastcnn.tensor(v.astype(np.float32), requires_grad=True) for v in (weight, bias)]
    stats = [fastcnn.tensor(v.astype(np.float32)) for v in (running_mean, running_var)]
    torch_params = [torch.tensor(v.astype(np.float32), requires_grad=True) for v in (weight, bias)]
    torch_stats = [torch.tensor(v.astype(np.float32)) for v in (running_mean, running_var)]
    for step, training in enumerate([True, True, True, False]):
        x = _data(shape, seed=10 + step)[0].astype(np.float32)
        ours = fastcnn.tensor(x, requires_grad=True)
        theirs = torch.tensor(x, requires_grad=True)
        out = F.batch_norm(ours, *stats, *params, training=training, momentum=0.2, eps=1e-3)
        torch_out = torch.nn.functional.batch_norm(theirs, *torch_stats, *torch_params, training=training,
                                                   momentum=0.2, eps=1e-3)
        upstream = np.random.default_rng(step).standard_normal(shape).astype(np.float32)
        out.backward(fastcnn.tensor(upstream))
        torch_out.backward(torch.tensor(upstream))
        np.testing.assert_allclose(out.detach().numpy(), torch_out.detach().numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-5)
        for ours_t, theirs_t in zip(params + stats, torch_params + torch_stats):
            np.testing.assert_allclose(ours_t.grad.numpy() if ours_t.requires_grad else ours_t.numpy(),
                                       theirs_t.grad.numpy() if theirs_t.requires_grad else theirs_t.numpy(),
                                       rtol=1e-4, atol=1e-5)


def test_batch_norm_float32_large_mean_matches_float64():
    x, weight, bias, _, _ = _data((16, 4, 6, 6), seed=3)
    x = x + 1000.0
    output, grads, _ = run_with_grad(_batch_norm(None, None, True, True), [x.astype(np.float32), weight, bias])
    expected, grads64, _ = run_with_grad(_batch_norm(None, None, True, True), [x, weight, bias], dtype=np.float64)
    np.testing.assert_allclose(output, expected, atol=2e-3)
    np.testing.assert_allclose(grads[0], grads64[0], atol=2e-3)


def test_running_stats_update_outside_the_graph():
    running_mean, running_var = fastcnn.zeros(3), fastcnn.ones(3)
    x = fastcnn.randn(4, 3, 2, 2, requires_grad=True)
    out = F.batch_norm(x, running_mean, running_var, training=True)
    assert running_mean.grad_fn is None and not running_mean.requires_grad
    with fastcnn.no_grad():
        F.batch_norm(x, running_mean, running_var, training=True)
    expected_mean = 0.19 * x.detach().numpy().mean(axis=(0, 2, 3))
    np.testing.assert_allclose(running_mean.numpy(), expected_mean, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert x.grad is not None and running_mean.grad is None


@pytest.mark.parametrize("call, error, match", [
    (lambda x, m, v: F.batch_norm(x[0, 0, 0], m, v), ValueError, "batch_norm: input must be at least 2-D"),
    (lambda x, m, v: F.batch_norm(x, fastcnn.zeros(4), v), ValueError,
     r"batch_norm: running_mean must have shape \(3,\) for 3 channels"),
    (lambda x, m, v: F.batch_norm(x, m, fastcnn.ones(3, 1)), ValueError, "batch_norm: running_var must have shape"),
    (lambda x, m, v: F.batch_norm(x, m, v, weight=fastcnn.ones(2)), ValueError, "batch_norm: weight must have shape"),
    (lambda x, m, v: F.batch_norm(x, m, v, bias=fastcnn.ones(5)), ValueError, "batch_norm: bias must have shape"),
    (lambda x, m, v: F.batch_norm(x[:1, :, 0, 0], m, v, training=True), ValueError,
     "Expected more than 1 value per channel when training"),
    (lambda x, m, v: F.batch_norm(x, None, None), ValueError, "batch_norm: running_mean and running_var are required"),
    (lambda x, m, v: F.batch_norm(x.long(), m, v), TypeError, "batch_norm: input must be float32 or float64"),
    (lambda x, m, v: F.batch_norm(x, m.double(), v), TypeError, "batch_norm: running_mean has dtype float64"),
])
def test_batch_norm_rejects_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(fastcnn.randn(2, 3, 2, 2), fastcnn.zeros(3), fastcnn.ones(3))


def test_native_batch_norm_validates_its_arguments():
    C = fastcnn._C
    x = np.ones((2, 3, 4), np.float32)
    frozen = np.zeros(3, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="batch_norm: running_mean must be writeable"):
        C.batch_norm_forward(x, frozen, np.ones(3, np.float32), None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="batch_norm: Expected more than 1 value per channel"):
        C.batch_norm_forward(x[:1, :, :1].copy(), None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="batch_norm: eps must be a non-negative number"):
        C.batch_norm_forward(x, None, None, None, None, True, 0.1, -1.0)
    with pytest.raises(ValueError, match="batch_norm_backward: save_invstd must have shape"):
        C.batch_norm_backward(x, x, np.zeros(3, np.float32), np.ones(2, np.float32), None, True, True, False, False)
    with pytest.raises(ValueError, match="batch_norm_backward: grad_output must have shape"):
        C.batch_norm_backward(x[:1].copy(), x, np.zeros(3, np.float32), np.ones(3, np.float32), None, True, True,
                              False, False)


# --- fused with what follows it: activation(batch_norm(x) + residual) ------------------------------
CLAMPS = {"none": (-np.inf, np.inf), "relu": (0.0, np.inf), "relu6": (0.0, 6.0)}


def _fused_reference(x, weight, bias, residual, running_mean, running_var, training, activation, upstream):
    """The composition from the formulas: y = clip(bn(x) + residual); g = dy * act'(y);
    dx, dgamma, dbeta = bn's backward of g; dresidual = g."""
    normalised, _, _, backward = reference.batch_norm(x, running_mean, running_var, weight, bias, training, 0.1)
    low, high = CLAMPS[activation]
    output = np.clip(normalised + (0 if residual is None else residual), low, high)
    passes = (output > low if np.isfinite(low) else True) & (output < high if np.isfinite(high) else True)
    g = upstream * passes
    return output, list(backward(g)) + ([g] if residual is not None else [])


@pytest.mark.parametrize("activation", ["none", "relu", "relu6"])
@pytest.mark.parametrize("with_residual", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 2, 3, 3), (5, 3)])
def test_fused_batch_norm_act_matches_reference(shape, training, with_residual, activation):
    x, weight, bias, running_mean, running_var = _data(shape, seed=5)
    x = x * 3  # outputs well past 0 and 6, so relu6 clips on both sides
    residual = np.random.default_rng(6).standard_normal(shape) * 2 if with_residual else None
    stats = fastcnn.tensor(running_mean), fastcnn.tensor(running_var)

    def fused(x, weight, bias, residual=None):
        return F.batch_norm_act(x, *stats, weight, bias, training, 0.1, 1e-5, residual, activation)
    inputs = [x, weight, bias] + ([residual] if with_residual else [])
    output, grads, upstream = run_with_grad(fused, inputs, dtype=np.float64)
    expected, expected_grads = _fused_reference(x, weight, bias, residual, running_mean, running_var, training,
                                                activation, upstream)
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-10)
    for grad, expected_grad in zip(grads, expected_grads):
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("activation", ["relu", "relu6"])
def test_fused_batch_norm_act_finite_differences(activation):
    x, weight, bias, _, _ = _data((3, 2, 3, 3), seed=7)
    residual = np.random.default_rng(8).standard_normal(x.shape)
    check_gradients(lambda x, w, b, r: F.batch_norm_act(x, None, None, w, b, True, 0.1, 1e-5, r, activation),
                    [x, weight, bias, residual], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "relu6"])
def test_fused_batch_norm_act_matches_torch(activation):
    torch = pytest.importorskip("torch")
    x, weight, bias, _, _ = _data((4, 3, 5, 5), seed=9)
    residual = np.random.default_rng(10).standard_normal(x.shape)
    inputs = [v.astype(np.float32) for v in (x * 3, weight, bias, residual)]
    act = getattr(torch.nn.functional, activation)
    torch_parity(lambda x, w, b, r: F.batch_norm_act(x, None, None, w, b, True, 0.1, 1e-5, r, activation),
                 lambda x, w, b, r: act(torch.nn.functional.batch_norm(x, None, None, w, b, True) + r), inputs)


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_batch_norm_under_each_isa(isa):
    """Each kernel set's plane loops (forced by FASTCNN_ISA in a fresh process) match the reference."""
    script = (
        "import numpy as np, fastcnn, reference\n"
        "import fastcnn.nn.functional as F\n"
        "from checks import run_with_grad\n"
        "rng = np.random.default_rng(0)\n"
        "x, r = rng.standard_normal((3, 4, 7, 5)) * 3, rng.standard_normal((3, 4, 7, 5))\n"
        "w, b = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)\n"
        "for dtype, tolerance in ((np.float64, 1e-10), (np.float32, 2e-4)):\n"
        "    out, grads, dy = run_with_grad(lambda x, w, b, r: F.batch_norm_act(x, None, None, w, b, True, 0.1, 1e-5,\n"
        "                                   r, 'relu6'), [x, w, b, r], dtype=dtype)\n"
        "    y, _, _, backward = reference.batch_norm(x, np.zeros(4), np.ones(4), w, b, True)\n"
        "    y = y + r\n"
        "    g = dy * ((out > 0) & (out < 6))  # the kernel's own mask: float32 may round across 0 or 6\n"
        "    np.testing.assert_allclose(out, np.clip(y, 0, 6), rtol=tolerance, atol=tolerance)\n"
        "    for ours, expected in zip(grads, list(backward(g)) + [g]):\n"
        "        np.testing.assert_allclose(ours, expected, rtol=tolerance, atol=tolerance)\n"
    )
    run_under_isa(isa, script)


def test_fused_batch_norm_entry_points_validate_their_arguments():
    C = fastcnn._C
    x = np.ones((2, 3, 4), np.float32)
    stats = np.zeros(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(ValueError, match="batch_norm: activation must be 'none', 'relu' or 'relu6', got 'gelu'"):
        C.batch_norm_forward(x, *stats, None, None, False, 0.1, 1e-5, None, "gelu")
    with pytest.raises(ValueError, match=r"batch_norm: residual must have shape \(2, 3, 4\)"):
        C.batch_norm_forward(x, *stats, None, None, False, 0.1, 1e-5, x[:1].copy(), "relu")
    with pytest.raises(TypeError, match="batch_norm: residual has dtype float64"):
        C.batch_norm_forward(x, *stats, None, None, False, 0.1, 1e-5, x.astype(np.float64), "relu")
    with pytest.raises(ValueError, match="batch_norm_backward: the fused relu needs the forward's output"):
        C.batch_norm_backward(x, x, *stats, None, True, True, False, False, None, "relu", False)
