import numpy as np
import pytest

import fastcnn
from fastcnn import nn
from checks import check_gradients, projection_like
import reference

MODES = ["embedded_gaussian", "gaussian", "dot", "concatenation"]


def _block(mode, sub_sample, bn_layer=False, in_channels=4, inter_channels=None, seed=0):
    """A float64 block whose output transform is random (not the identity of a fresh block)."""
    fastcnn.manual_seed(seed)
    block = nn.NonLocalBlock2d(in_channels, inter_channels, mode=mode, sub_sample=sub_sample,
                               bn_layer=bn_layer).double()
    rng = np.random.default_rng(seed)
    with fastcnn.no_grad():
        for parameter in block.parameters():
            parameter.copy_(rng.standard_normal(parameter.shape) * 0.5)
    return block


def _conv(module):
    """The Conv2d inside a plain or sub-sampled (Sequential(conv, pool)) branch."""
    return module[0] if isinstance(module, nn.Sequential) else module


def _params(module):
    """(weight, bias) of a Conv2d as arrays."""
    return module.weight.detach().numpy(), None if module.bias is None else module.bias.detach().numpy()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sub_sample", [False, True])
@pytest.mark.parametrize("shape", [(2, 4, 4, 6), (1, 4, 5, 3)])
def test_non_local_matches_reference(mode, sub_sample, shape):
    block = _block(mode, sub_sample)
    x = np.random.default_rng(1).standard_normal(shape)
    theta = phi = concat = None
    if mode != "gaussian":
        theta, phi = _params(block.theta), _params(_conv(block.phi))
    if mode == "concatenation":
        concat = block.concat_project.weight.detach().numpy()[0, :, 0, 0]
    expected = reference.non_local(x, mode, *_params(_conv(block.g)), *_params(block.W), theta, phi, concat,
                                   sub_sample)
    np.testing.assert_allclose(block(fastcnn.tensor(x)).detach().numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sub_sample", [False, True])
@pytest.mark.parametrize("bn_layer", [False, True])
def test_fresh_non_local_block_is_identity(mode, sub_sample, bn_layer):
    block = nn.NonLocalBlock2d(6, mode=mode, sub_sample=sub_sample, bn_layer=bn_layer)
    x = fastcnn.randn(2, 6, 4, 5)
    np.testing.assert_array_equal(block(x).detach().numpy(), x.numpy())
    assert block.inter_channels == 3


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sub_sample", [False, True])
def test_non_local_gradient_finite_differences(mode, sub_sample):
    block = _block(mode, sub_sample, bn_layer=True, inter_channels=3, seed=2)
    check_gradients(block, [np.random.default_rng(3).standard_normal((2, 4, 4, 4))], max_points=15)


def _torch_non_local(torch, block, mode, sub_sample):
    """The block rebuilt from torch ops, as in the reference PyTorch implementation: the
    concatenation mode materialises every (i, j) pair and convolves it."""
    F = torch.nn.functional
    t = {name: torch.tensor(p.detach().numpy(), requires_grad=True) for name, p in block.named_parameters()}
    sub = "0." if sub_sample else ""

    def pool(a):
        return F.max_pool2d(a, 2) if sub_sample else a

    def forward(x):
        B, C, H, W = x.shape
        g = pool(F.conv2d(x, t[f"g.{sub}weight"], t[f"g.{sub}bias"])).reshape(B, block.inter_channels, -1)
        if mode == "gaussian":
            theta, phi = x.reshape(B, C, -1), pool(x).reshape(B, C, -1)
        else:
            theta = F.conv2d(x, t["theta.weight"], t["theta.bias"]).reshape(B, block.inter_channels, -1)
            phi = pool(F.conv2d(x, t[f"phi.{sub}weight"], t[f"phi.{sub}bias"])).reshape(B, block.inter_channels, -1)
        if mode == "concatenation":
            N, M = theta.shape[2], phi.shape[2]
            pairs = torch.cat([theta[:, :, :, None].expand(-1, -1, N, M), phi[:, :, None, :].expand(-1, -1, N, M)], 1)
            f = F.relu(F.conv2d(pairs, t["concat_project.weight"]))[:, 0] / M
        elif mode == "dot":
            f = theta.transpose(1, 2) @ phi / phi.shape[2]
        else:
            f = F.softmax(theta.transpose(1, 2) @ phi, dim=-1)
        y = (f @ g.transpose(1, 2)).transpose(1, 2).reshape(B, block.inter_channels, H, W)
        z = F.conv2d(y, t["W.0.weight"], t["W.0.bias"])
        z = F.batch_norm(z, None, None, t["W.1.weight"], t["W.1.bias"], training=True)
        return z + x

    return forward, t


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sub_sample", [False, True])
def test_non_local_matches_torch(mode, sub_sample):
    torch = pytest.importorskip("torch")
    block = _block(mode, sub_sample, bn_layer=True, seed=4).float()
    x = np.random.default_rng(5).standard_normal((2, 4, 6, 4)).astype(np.float32)
    forward, torch_params = _torch_non_local(torch, block, mode, sub_sample)
    ours_x = fastcnn.tensor(x, requires_grad=True)
    ours = block(ours_x)
    weights = projection_like(ours.data).astype(np.float32)
    ours.backward(fastcnn.tensor(weights))
    theirs_x = torch.tensor(x, requires_grad=True)
    theirs = forward(theirs_x)
    theirs.backward(torch.tensor(weights))
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-4, atol=1e-5)
    for name, parameter in block.named_parameters():
        if name == "W.0.bias":  # BatchNorm removes its effect: the gradient is 0 up to rounding on both sides
            assert np.abs(parameter.grad.numpy()).max() < 1e-2 and np.abs(torch_params[name].grad.numpy()).max() < 1e-2
        else:
            np.testing.assert_allclose(parameter.grad.numpy(), torch_params[name].grad.numpy(), rtol=1e-4, atol=1e-4,
                                       err_msg=name)


def test_non_local_rejects_bad_input():
    with pytest.raises(ValueError, match=r"NonLocalBlock2d: input must be \(B, 4, H, W\), got \(2, 3, 4, 4\)"):
        nn.NonLocalBlock2d(4)(fastcnn.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="NonLocalBlock2d: mode must be one of"):
        nn.NonLocalBlock2d(4, mode="cosine")


# --- graphs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("h, w", [(1, 1), (1, 4), (3, 3), (4, 5)])
@pytest.mark.parametrize("self_loops", [True, False])
def test_grid_adjacency_matches_reference(h, w, self_loops):
    adjacency = nn.grid_adjacency(h, w, self_loops=self_loops, dtype=np.float64).numpy()
    np.testing.assert_allclose(adjacency, reference.grid_adjacency(h, w, self_loops), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("h, w", [(3, 4), (5, 5)])
def test_normalised_adjacency_properties(h, w):
    """D^-1/2 (A + I) D^-1/2 is symmetric, and sqrt(d) is its eigenvector for eigenvalue 1:
    row i sums its entries weighted by sqrt(d_j) to sqrt(d_i)."""
    adjacency = nn.grid_adjacency(h, w, dtype=np.float64).numpy()
    np.testing.assert_allclose(adjacency, adjacency.T)
    degree = np.round(1 / np.diag(adjacency))
    interior = degree == 5
    assert interior.sum() == (h - 2) * (w - 2) and (degree >= 3).all()
    np.testing.assert_allclose(adjacency @ np.sqrt(degree), np.sqrt(degree), rtol=1e-12)


def _brute_force_knn(points, k):
    n = points.shape[0]
    linked = np.zeros((n, n), dtype=bool)
    for i in range(n):
        distances = [np.sum((points[i] - points[j]) ** 2) if j != i else np.inf for j in range(n)]
        for j in np.argsort(distances)[:k]:
            linked[i, j] = linked[j, i] = True
    return linked


@pytest.mark.parametrize("shape, k", [((7, 3), 2), ((2, 9, 4), 3), ((1, 5, 2), 4)])
def test_knn_adjacency(shape, k):
    features = np.random.default_rng(6).standard_normal(shape)
    tensor = fastcnn.tensor(features, requires_grad=True)
    adjacency = nn.knn_adjacency(tensor, k)
    assert not adjacency.requires_grad
    result = adjacency.numpy()
    assert result.shape == shape[:-1] + (shape[-2],)
    for points, graph in zip(features.reshape((-1,) + shape[-2:]), result.reshape((-1,) + result.shape[-2:])):
        linked = _brute_force_knn(points, k)
        np.testing.assert_array_equal(graph - np.diag(np.diag(graph)) > 0, linked)
        np.testing.assert_allclose(graph, graph.T)
        degree = linked.sum(axis=1) + 1
        assert (degree >= k + 1).all()
        np.testing.assert_allclose(graph, (linked + np.eye(len(points))) / np.sqrt(np.outer(degree, degree)))


@pytest.mark.parametrize("x_shape, a_shape", [((5, 3), (5, 5)), ((2, 5, 3), (5, 5)), ((2, 5, 3), (2, 5, 5)),
                                              ((5, 3), (2, 5, 5))])
@pytest.mark.parametrize("bias", [True, False])
def test_graph_conv_matches_reference(x_shape, a_shape, bias):
    rng = np.random.default_rng(7)
    layer = nn.GraphConv(3, 4, bias=bias).double()
    if bias:
        with fastcnn.no_grad():
            layer.bias.copy_(rng.standard_normal(4))
    x, adjacency = rng.standard_normal(x_shape), rng.standard_normal(a_shape)
    out = layer(fastcnn.tensor(x), fastcnn.tensor(adjacency)).detach().numpy()
    expected = reference.graph_conv(np.broadcast_to(x, out.shape[:-1] + (3,)), adjacency, layer.weight.detach().numpy(),
                                    layer.bias.detach().numpy() if bias else None)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_graph_conv_gradient_finite_differences():
    layer = nn.GraphConv(3, 4).double()
    with fastcnn.no_grad():
        layer.bias.copy_(np.arange(4.0))
    rng = np.random.default_rng(8)
    check_gradients(layer, [rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 5))])


def test_graph_conv_matches_torch():
    torch = pytest.importorskip("torch")
    layer = nn.GraphConv(3, 4)
    rng = np.random.default_rng(11)
    with fastcnn.no_grad():
        layer.bias.copy_(rng.standard_normal(4))
    x, adjacency = rng.standard_normal((2, 6, 3)).astype(np.float32), rng.standard_normal((6, 6)).astype(np.float32)
    ours_x, ours_a = fastcnn.tensor(x, requires_grad=True), fastcnn.tensor(adjacency, requires_grad=True)
    ours = layer(ours_x, ours_a)
    weights = projection_like(ours.data).astype(np.float32)
    ours.backward(fastcnn.tensor(weights))
    theirs_x, theirs_a = torch.tensor(x, requires_grad=True), torch.tensor(adjacency, requires_grad=True)
    theirs_w = torch.tensor(layer.weight.detach().numpy(), requires_grad=True)
    theirs_b = torch.tensor(layer.bias.detach().numpy(), requires_grad=True)
    theirs = theirs_a @ (theirs_x @ theirs_w.T) + theirs_b
    theirs.backward(torch.tensor(weights))
    for mine, their in ((ours, theirs), (ours_x.grad, theirs_x.grad), (ours_a.grad, theirs_a.grad),
                        (layer.weight.grad, theirs_w.grad), (layer.bias.grad, theirs_b.grad)):
        np.testing.assert_allclose(mine.detach().numpy(), their.detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("layers", [1, 2])
def test_feature_map_graph(k, layers):
    fastcnn.manual_seed(9)
    module = nn.FeatureMapGraph(3, 5, k=k, layers=layers).double()
    x = np.random.default_rng(10).standard_normal((2, 3, 4, 5))
    out = module(fastcnn.tensor(x))
    assert tuple(out.shape) == (2, 5, 4, 5)
    nodes = x.reshape(2, 3, 20).transpose(0, 2, 1)
    adjacency = reference.grid_adjacency(4, 5) if k is None else nn.knn_adjacency(fastcnn.tensor(nodes), k).numpy()
    for layer, conv in enumerate(module.convs):
        nodes = reference.graph_conv(nodes, np.broadcast_to(adjacency, (2, 20, 20)), conv.weight.detach().numpy(),
                                     conv.bias.detach().numpy())
        nodes = np.maximum(nodes, 0) if layer + 1 < layers else nodes
    np.testing.assert_allclose(out.detach().numpy(), nodes.transpose(0, 2, 1).reshape(2, 5, 4, 5), rtol=1e-10,
                               atol=1e-12)
    # A knn graph is piecewise constant in the input, so finite differences see only the layers.
    check_gradients(module, [x], max_points=30)
    out.sum().backward()
    assert all(p.grad is not None for p in module.parameters())


def test_graph_layers_reject_bad_input():
    layer = nn.GraphConv(3, 4)
    with pytest.raises(ValueError, match=r"GraphConv: adjacency must be \(5, 5\) or \(B, 5, 5\) for 5 nodes "
                                         r"\(input \(2, 5, 3\), adjacency \(4, 4\)\)"):
        layer(fastcnn.zeros(2, 5, 3), fastcnn.zeros(4, 4))
    with pytest.raises(ValueError, match="GraphConv: adjacency has batch 3 but input has 2"):
        layer(fastcnn.zeros(2, 5, 3), fastcnn.zeros(3, 5, 5))
    with pytest.raises(ValueError, match=r"GraphConv: input must be \(N, 3\) or \(B, N, 3\)"):
        layer(fastcnn.zeros(5, 2), fastcnn.zeros(5, 5))
    with pytest.raises(ValueError, match=r"knn_adjacency: k must be an int in \[1, 3\] for 4 nodes"):
        nn.knn_adjacency(fastcnn.zeros(4, 2), 4)
    with pytest.raises(ValueError, match="grid_adjacency: h must be a positive int"):
        nn.grid_adjacency(0, 3)
    with pytest.raises(ValueError, match=r"FeatureMapGraph: input must be \(B, 3, H, W\), got \(2, 4, 3, 3\)"):
        nn.FeatureMapGraph(3, 2)(fastcnn.zeros(2, 4, 3, 3))
