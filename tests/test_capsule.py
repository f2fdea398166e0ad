import numpy as np
import pytest

import fastcnn
import fastcnn.nn as nn
import fastcnn.nn.functional as F
from checks import check_gradients, projection_like, run_with_grad, torch_parity
from module_checks import check_parameter_gradients
from reference import margin_loss_reference, routing_reference, squash_reference, squash_vjp_reference

SQUASH_CASES = [((5,), -1), ((2, 3, 4), -1), ((2, 3, 4), 1), ((3, 2), 0), ((2, 1, 7, 3), 2), ((1, 6, 16), -1)]


def _vectors(shape, seed=0):
    # Lengths spread around 1 (squash's knee) and well away from 0, where eps would matter.
    return np.random.default_rng(seed).uniform(-1.5, 1.5, size=shape) + 0.05


@pytest.mark.parametrize("shape,dim", SQUASH_CASES)
def test_squash_matches_reference(shape, dim):
    x = _vectors(shape)
    output, (grad,), weights = run_with_grad(lambda t: F.squash(t, dim=dim), [x], dtype=np.float64)
    np.testing.assert_allclose(output, squash_reference(x, dim), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, squash_vjp_reference(x, weights, dim), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [-1, 0])
def test_squash_of_a_0_d_input_stays_0_d(dim, dtype):
    # Any dim of a 0-d tensor names the tensor as a 1-D vector of one component: one capsule.
    x = _vectors((), seed=3)
    output, (grad,), weights = run_with_grad(lambda t: F.squash(t, dim=dim), [x], dtype=dtype)
    assert output.shape == () and grad.shape == ()
    tolerance = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(output, squash_reference(x.reshape(1))[0], rtol=tolerance)
    np.testing.assert_allclose(grad, squash_vjp_reference(x.reshape(1), weights.reshape(1))[0], rtol=1e-5)
    check_gradients(lambda t: F.squash(t, dim=dim), [x])


@pytest.mark.parametrize("shape,dim", SQUASH_CASES[1:3])
def test_squash_gradient_finite_differences(shape, dim):
    check_gradients(lambda t: F.squash(t, dim=dim), [_vectors(shape, seed=1)])


def test_squash_matches_torch():
    torch = pytest.importorskip("torch")

    def theirs(s):
        squared = (s * s).sum(1, keepdim=True)
        return squared / (1 + squared) * s / torch.sqrt(squared + 1e-8)

    torch_parity(lambda t: F.squash(t, dim=1), theirs, [_vectors((4, 8, 3), seed=2).astype(np.float32)],
                 atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squash_is_smooth_at_zero(dtype):
    x = np.zeros((3, 4), dtype=dtype)
    x[1] = 1e-30
    output, (grad,), _ = run_with_grad(F.squash, [x], dtype=dtype)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(output))
    np.testing.assert_array_equal(output[0], 0)
    np.testing.assert_array_equal(grad[0], 0)
    check_gradients(F.squash, [np.array([[0.0, 0.0, 0.0], [1e-5, -2e-5, 0.0]])], eps=1e-9, atol=1e-9)


def test_capsule_lengths():
    v = _vectors((3, 4, 5), seed=5)
    v[0, 0] = 0
    output, (grad,), weights = run_with_grad(F.capsule_lengths, [v], dtype=np.float64)
    np.testing.assert_allclose(output, np.sqrt((v ** 2).sum(-1) + 1e-8), rtol=1e-12)
    assert np.all(np.isfinite(grad)) and np.all(grad[0, 0] == 0)
    check_gradients(F.capsule_lengths, [v[1:]])


def _lengths(shape, seed=0):
    # Capsule lengths in (0, 1), kept clear of the margins 0.1 and 0.9 where the loss has kinks.
    lengths = np.random.default_rng(seed).uniform(0.01, 0.99, size=shape)
    for margin in (0.1, 0.9):
        lengths = np.where(np.abs(lengths - margin) < 1e-3, lengths + 0.01, lengths)
    return lengths


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("shape", [(1, 1), (5, 10), (3, 4)])
def test_margin_loss_matches_reference(reduction, shape):
    lengths = _lengths(shape)
    target = np.random.default_rng(1).integers(0, shape[1], size=shape[0])
    output = F.margin_loss(fastcnn.tensor(lengths), fastcnn.tensor(target), reduction=reduction).numpy()
    expected = margin_loss_reference(lengths, target)
    expected = {"none": expected, "sum": expected.sum(), "mean": expected.mean()}[reduction]
    np.testing.assert_allclose(output, expected, rtol=1e-12)
    check_gradients(lambda t: F.margin_loss(t, fastcnn.tensor(target), reduction=reduction), [lengths])


def test_margin_loss_custom_margins_and_module():
    lengths, target = _lengths((6, 5), seed=3), np.arange(6) % 5
    loss = nn.MarginLoss(m_plus=0.8, m_minus=0.3, lam=0.25, reduction="sum")
    output = loss(fastcnn.tensor(lengths), fastcnn.tensor(target)).item()
    np.testing.assert_allclose(output, margin_loss_reference(lengths, target, 0.8, 0.3, 0.25).sum(), rtol=1e-12)


def test_margin_loss_matches_torch():
    torch = pytest.importorskip("torch")
    target = np.array([0, 3, 2, 2, 1])

    def theirs(lengths):
        one_hot = torch.nn.functional.one_hot(torch.tensor(target), 4).to(lengths.dtype)
        present = one_hot * torch.relu(0.9 - lengths) ** 2
        absent = 0.5 * (1 - one_hot) * torch.relu(lengths - 0.1) ** 2
        return (present + absent).sum(1)

    torch_parity(lambda t: F.margin_loss(t, fastcnn.tensor(target), reduction="none"), theirs,
                 [_lengths((5, 4), seed=4).astype(np.float32)], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("lengths,target,error,match", [
    (np.full((2, 3), 0.5), np.array([0, 3]), ValueError, r"margin_loss: target 3 at position 1 .*\[0, 3\)"),
    (np.full((2, 3), 0.5), np.array([0, -1]), ValueError, "not a class index"),
    (np.full((2, 3), 0.5), np.array([0, 1, 2]), ValueError, r"target has 3 entries .* \(lengths \(2, 3\)"),
    (np.full(3, 0.5), np.array([0]), ValueError, "lengths must be 2-D"),
    (np.full((2, 3), 0.5), np.array([0.0, 1.0]), TypeError, "target must hold int64"),
])
def test_margin_loss_rejects_bad_input(lengths, target, error, match):
    with pytest.raises(error, match=match):
        F.margin_loss(fastcnn.tensor(lengths), fastcnn.tensor(target))


def test_margin_loss_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        F.margin_loss(fastcnn.rand(2, 3), fastcnn.tensor([0, 1]), reduction="max")


@pytest.mark.parametrize("dim,eps,error,match", [(3, 1e-8, IndexError, "dimension out of range"),
                                                 (-1, 0.0, ValueError, "eps must be a positive finite number")])
def test_squash_rejects_bad_arguments(dim, eps, error, match):
    with pytest.raises(error, match=f"squash: {match}"):
        F.squash(fastcnn.rand(2, 3, 4), dim=dim, eps=eps)
    with pytest.raises(TypeError, match="squash: input must be float"):
        F.squash(fastcnn.tensor([1, 2]))


# --- RoutingCapsules ---------------------------------------------------------------------------
ROUTING_SIZES = [  # batch, in_capsules, in_dim, out_capsules, out_dim
    (1, 3, 2, 2, 3), (2, 5, 4, 3, 2), (3, 7, 3, 4, 5)]


def _routing_layer(sizes, iterations, seed=0, dtype=np.float64):
    batch, in_capsules, in_dim, out_capsules, out_dim = sizes
    fastcnn.manual_seed(seed)
    layer = nn.RoutingCapsules(in_capsules, in_dim, out_capsules, out_dim, iterations)
    u = squash_reference(np.random.default_rng(seed).standard_normal((batch, in_capsules, in_dim)))
    return (layer.double() if dtype == np.float64 else layer), u


@pytest.mark.parametrize("iterations", [1, 2, 3])
@pytest.mark.parametrize("sizes", ROUTING_SIZES)
def test_routing_matches_reference(sizes, iterations):
    layer, u = _routing_layer(sizes, iterations)
    output = layer(fastcnn.tensor(u))
    v, c = routing_reference(u, layer.weight.detach().numpy(), iterations)
    np.testing.assert_allclose(output.detach().numpy(), v, rtol=1e-10, atol=1e-12)
    assert tuple(layer.coupling.shape) == (sizes[0], sizes[1], sizes[3])
    assert not layer.coupling.requires_grad
    np.testing.assert_allclose(layer.coupling.numpy(), c, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.coupling.numpy().sum(-1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("sizes", ROUTING_SIZES[:2])
def test_routing_one_iteration_gradient_finite_differences(sizes):
    # One iteration has uniform coupling, so the detached gradient is the full gradient.
    layer, u = _routing_layer(sizes, iterations=1)
    check_gradients(layer, [u])
    layer.zero_grad()
    check_parameter_gradients(layer, [u], ["weight"])


@pytest.mark.parametrize("iterations", [2, 3])
def test_routing_detached_gradient_treats_coupling_as_constant(iterations):
    """Detached routing: the gradient of v = squash(sum_i c_ij W_ij u_i) with c frozen at the
    routed values, compared with central differences of that frozen-c reference."""
    layer, u = _routing_layer(ROUTING_SIZES[1], iterations)
    weight = layer.weight.detach().numpy()
    _, coupling = routing_reference(u, weight, iterations)

    def frozen(u, weight):
        u_hat = np.einsum("ijdk,bik->bijd", weight, u)
        return squash_reference(np.einsum("bij,bijd->bjd", coupling, u_hat))

    x = fastcnn.tensor(u, requires_grad=True)
    output = layer(x)
    weights = projection_like(output.data)
    output.backward(fastcnn.tensor(weights))
    for position, (value, analytic) in enumerate([(u, x.grad.numpy()), (weight, layer.weight.grad.numpy())]):
        for flat in range(0, value.size, 3):
            index = np.unravel_index(flat, value.shape)
            shifted = [u.copy(), weight.copy()]
            shifted[position][index] += 1e-6
            plus = (frozen(*shifted) * weights).sum()
            shifted[position][index] -= 2e-6
            minus = (frozen(*shifted) * weights).sum()
            np.testing.assert_allclose(analytic[index], (plus - minus) / 2e-6, rtol=1e-5, atol=1e-8)


def test_routing_matches_torch():
    torch = pytest.importorskip("torch")
    layer, u = _routing_layer((4, 12, 8, 5, 6), iterations=3, dtype=np.float32)
    u = u.astype(np.float32)
    x = fastcnn.tensor(u, requires_grad=True)
    output = layer(x)
    weights = projection_like(output.data).astype(np.float32)
    output.backward(fastcnn.tensor(weights))

    def torch_squash(s):
        squared = (s * s).sum(-1, keepdim=True)
        return squared / (1 + squared) * s / torch.sqrt(squared + 1e-8)

    their_u = torch.tensor(u, requires_grad=True)
    their_weight = torch.tensor(layer.weight.detach().numpy(), requires_grad=True)
    u_hat = torch.einsum("ijdk,bik->bijd", their_weight, their_u)
    logits = torch.zeros(u_hat.shape[:3], dtype=u_hat.dtype)
    for iteration in range(3):
        coupling = torch.softmax(logits, dim=2)
        source = u_hat if iteration == 2 else u_hat.detach()
        v = torch_squash((coupling.unsqueeze(-1) * source).sum(1))
        logits = logits + (u_hat.detach() * v.unsqueeze(1)).sum(-1)
    v.backward(torch.tensor(weights))
    np.testing.assert_allclose(output.detach().numpy(), v.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), their_u.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(layer.weight.grad.numpy(), their_weight.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 4, 4), (5, 4), (1, 2, 5, 4)])
def test_routing_rejects_wrong_capsules(shape):
    layer = nn.RoutingCapsules(5, 4, 3, 2)
    with pytest.raises(ValueError, match=r"RoutingCapsules: expected input \(batch, 5, 4\)") as error:
        layer(fastcnn.rand(*shape))
    assert f"got {shape}" in str(error.value)


def test_routing_rejects_bad_iterations():
    with pytest.raises(ValueError, match="RoutingCapsules: iterations must be a positive int"):
        nn.RoutingCapsules(5, 4, 3, 2, iterations=0)


def test_dynamic_routing_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"dynamic_routing: predictions must be 4-D .*\(predictions \(2, 3, 4\)\)"):
        F.dynamic_routing(fastcnn.rand(2, 3, 4))
    with pytest.raises(ValueError, match="dynamic_routing: iterations must be a positive int"):
        F.dynamic_routing(fastcnn.rand(2, 3, 4, 5), iterations=0)
    with pytest.raises(ValueError, match=r"dynamic_routing: coupling must have shape \(2, 3, 4\)"):
        fastcnn._C.routing_weighted_sum_forward(np.zeros((2, 3, 4, 5)), np.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match="dynamic_routing: there must be at least one output capsule"):
        fastcnn._C.routing_coupling(np.zeros((2, 3, 0, 5)), 3)


def test_routing_parameters_are_torch_named():
    layer = nn.RoutingCapsules(6, 8, 10, 16)
    assert [(name, tuple(p.shape)) for name, p in layer.named_parameters()] == [("weight", (6, 10, 16, 8))]


# --- PrimaryCapsules ---------------------------------------------------------------------------
@pytest.mark.parametrize("batch,in_channels,size,num_capsules,capsule_dim,kernel_size,stride", [
    (1, 1, (5, 5), 2, 3, 3, 1), (2, 3, (7, 6), 3, 4, 3, 2), (2, 2, (6, 6), 1, 2, 1, 1)])
def test_primary_capsules_match_torch(batch, in_channels, size, num_capsules, capsule_dim, kernel_size, stride):
    torch = pytest.importorskip("torch")
    fastcnn.manual_seed(0)
    layer = nn.PrimaryCapsules(in_channels, num_capsules, capsule_dim, kernel_size, stride)
    weight, bias = layer.conv.weight.detach().numpy(), layer.conv.bias.detach().numpy()

    def theirs(x):
        features = torch.nn.functional.conv2d(x, torch.tensor(weight), torch.tensor(bias), stride=stride)
        capsules = features.reshape(x.shape[0], num_capsules, capsule_dim, -1).transpose(2, 3)
        capsules = capsules.reshape(x.shape[0], -1, capsule_dim)
        squared = (capsules * capsules).sum(-1, keepdim=True)
        return squared / (1 + squared) * capsules / torch.sqrt(squared + 1e-8)

    x = np.random.default_rng(1).standard_normal((batch, in_channels) + size).astype(np.float32)
    torch_parity(layer, theirs, [x], atol=1e-5, rtol=1e-4)
    height = (size[0] - kernel_size) // stride + 1
    width = (size[1] - kernel_size) // stride + 1
    assert tuple(layer(fastcnn.tensor(x)).shape) == (batch, num_capsules * height * width, capsule_dim)


def test_primary_capsules_gradient_finite_differences():
    fastcnn.manual_seed(0)
    layer = nn.PrimaryCapsules(2, 2, 3, 3, 2).double()
    x = np.random.default_rng(2).standard_normal((2, 2, 5, 6))
    check_gradients(layer, [x])
    layer.zero_grad()
    check_parameter_gradients(layer, [x], ["conv.weight", "conv.bias"])


@pytest.mark.parametrize("shape", [(2, 3, 8), (2, 4, 8, 8)])
def test_primary_capsules_reject_bad_input(shape):
    layer = nn.PrimaryCapsules(3, 2, 4, 3, 1)
    with pytest.raises(ValueError, match=r"PrimaryCapsules: expected input \(batch, 3, height, width\)"):
        layer(fastcnn.rand(*shape))
