"""Inference fusion of conv -> batch norm -> (+ residual) -> relu / relu6 (nn/modules/fusion.py,
conv2d_bn_forward): the fused call against the NumPy reference, against the modules run one by
one, the conditions under which it must not fuse, and its argument checks."""
from collections import OrderedDict

import numpy as np
import pytest

import fastcnn
from fastcnn import _C, models, nn
from fastcnn.nn.modules.fusion import conv_bn, fusable, run_sequence
import reference

# (N, C, K, H, W, kernel, stride, padding, dilation, groups, bias): batch 1, odd and non-square
# planes, stride, 'same' padding, dilation, grouped and depthwise, 1x1 (the pointwise path).
GEOMETRIES = [
    (1, 3, 5, 7, 6, 3, 1, 1, 1, 1, True),
    (2, 4, 6, 9, 5, 3, 2, 1, 1, 2, False),
    (3, 6, 6, 8, 7, 3, 1, 2, 2, 6, True),
    (1, 8, 4, 5, 5, 1, 1, 0, 1, 1, False),
    (2, 4, 4, 6, 9, 3, 1, "same", 1, 1, True),
]
CLAMPS = {"none": (-np.inf, np.inf), "relu": (0, np.inf), "relu6": (0, 6)}


def _modules(geometry, activation, dtype, seed=0):
    """A Conv2d, an eval-mode BatchNorm2d with random statistics, and the activation module."""
    N, C, K, H, W, kernel, stride, padding, dilation, groups, bias = geometry
    rng = np.random.default_rng(seed)
    conv = nn.Conv2d(C, K, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias,
                     dtype=dtype)
    bn = nn.BatchNorm2d(K, eps=1e-3, dtype=dtype)
    bn.running_mean.data[:] = rng.standard_normal(K)
    bn.running_var.data[:] = rng.uniform(0.2, 3.0, K)
    bn.weight.data[:] = rng.uniform(0.5, 1.5, K) * rng.choice([-1, 1], K)
    bn.bias.data[:] = rng.standard_normal(K)
    bn.eval()
    act = {"none": None, "relu": nn.ReLU(), "relu6": nn.ReLU6()}[activation]
    x = fastcnn.tensor(rng.standard_normal((N, C, H, W)) * 3, dtype=dtype)
    return conv, bn, act, x


def _reference(conv, bn, activation, x, residual):
    padding = fastcnn.nn.functional._conv_padding("conv2d", conv.padding, conv.kernel_size, conv.stride,
                                                  conv.dilation)
    bias = None if conv.bias is None else conv.bias.detach().numpy().astype(np.float64)
    z = reference.conv2d(x.numpy().astype(np.float64), conv.weight.detach().numpy().astype(np.float64), bias,
                         stride=conv.stride, padding=padding, dilation=conv.dilation, groups=conv.groups)
    stats = [t.detach().numpy().astype(np.float64) for t in (bn.running_mean, bn.running_var, bn.weight, bn.bias)]
    y = reference.batch_norm(z, *stats, training=False, eps=bn.eps)[0]
    if residual is not None:
        y = y + residual.numpy()
    return np.clip(y, *CLAMPS[activation])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_residual", [False, True])
@pytest.mark.parametrize("activation", ["none", "relu", "relu6"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_fused_call_matches_reference_and_unfused_modules(geometry, activation, with_residual, dtype):
    conv, bn, act, x = _modules(geometry, activation, dtype)
    with fastcnn.no_grad():
        shape = tuple(bn(conv(x)).shape)
        residual = fastcnn.randn(*shape, dtype=dtype) if with_residual else None
        assert fusable(conv, bn, act, x, residual)
        fused = conv_bn(conv, bn, x, act, residual).numpy()
    expected = _reference(conv, bn, activation, x, residual)
    tolerance = 1e-10 if dtype == np.float64 else 2e-4
    assert fused.dtype == dtype
    np.testing.assert_allclose(fused, expected, rtol=tolerance, atol=tolerance)
    unfused = bn(conv(x)) + (0 if residual is None else residual)  # grad enabled: modules one by one
    unfused = unfused if act is None else act(unfused)
    assert unfused.requires_grad
    np.testing.assert_allclose(fused, unfused.detach().numpy(), rtol=tolerance, atol=tolerance)


def test_fused_call_matches_torch():
    torch = pytest.importorskip("torch")
    conv, bn, act, x = _modules(GEOMETRIES[1], "relu6", np.float32)
    t_conv = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False)
    t_bn = torch.nn.BatchNorm2d(6, eps=1e-3)
    t_conv.load_state_dict({k: torch.from_numpy(v.detach().numpy()) for k, v in conv.state_dict().items()})
    t_bn.load_state_dict({k: torch.from_numpy(np.asarray(v.detach().numpy())) for k, v in bn.state_dict().items()})
    t_bn.eval()
    with fastcnn.no_grad(), torch.no_grad():
        ours = conv_bn(conv, bn, x, act).numpy()
        theirs = torch.nn.functional.relu6(t_bn(t_conv(torch.from_numpy(x.numpy())))).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


class _Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, input):
        self.calls += 1
        return input


class _ShiftedReLU(nn.ReLU):
    def forward(self, input):
        return super().forward(input) + 1


@pytest.mark.parametrize("case", ["training", "grad", "hook", "subclass", "channels"])
def test_unfusable_cases_run_module_by_module(case):
    conv, bn, act, x = _modules(GEOMETRIES[0], "relu", np.float32)
    calls = []
    if case == "training":
        bn.train()
    elif case == "hook":
        bn.register_forward_hook(lambda module, args, output: calls.append(1))
    elif case == "subclass":
        act = _ShiftedReLU()
    elif case == "channels":
        bn = nn.BatchNorm2d(conv.out_channels + 1).eval()
    context = fastcnn.enable_grad() if case == "grad" else fastcnn.no_grad()
    with context:
        assert not fusable(conv, bn, act, x)
        if case == "channels":
            with pytest.raises(ValueError, match="batch_norm"):
                conv_bn(conv, bn, x, act)
            return
        before = bn.running_mean.numpy().copy()
        output = conv_bn(conv, bn, x, act)
    if case == "training":  # batch statistics, and the running ones move
        assert not np.allclose(bn.running_mean.numpy(), before)
    if case == "grad":
        output.sum().backward()
        assert conv.weight.grad is not None and bn.weight.grad is not None
    if case == "hook":
        assert calls == [1]
    if case == "subclass":
        assert output.numpy().min() >= 1


def test_sequential_fuses_runs_and_keeps_other_modules():
    conv1, bn1, relu, x = _modules(GEOMETRIES[0], "relu", np.float32)
    conv2, bn2, _, _ = _modules((1, 5, 4, 7, 6, 3, 1, 1, 1, 1, False), "none", np.float32, seed=1)
    recorder = _Recorder()
    sequence = nn.Sequential(OrderedDict([("conv1", conv1), ("bn1", bn1), ("relu", relu), ("seen", recorder),
                                          ("conv2", conv2), ("bn2", bn2), ("pool", nn.MaxPool2d(2))]))
    sequence.eval()
    expected = sequence(x)  # grad enabled: module by module
    bn_calls = []
    for bn in (bn1, bn2):
        bn.forward = lambda input, bn=bn: bn_calls.append(bn) or type(bn).forward(bn, input)
    with fastcnn.no_grad():
        fused = sequence(x)
        with_residual = run_sequence(list(sequence)[:-1], x, residual=fastcnn.ones(1, 4, 7, 6))
    assert bn_calls == [] and recorder.calls == 3  # both runs fused; the other modules ran
    np.testing.assert_allclose(fused.numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    unfused_body = conv_bn(conv2, bn2, conv_bn(conv1, bn1, x, relu))
    np.testing.assert_allclose(with_residual.numpy(), unfused_body.detach().numpy() + 1, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet_cifar", "mobilenet_v2", "digits_cnn"])
def test_zoo_models_infer_the_same_fused(name):
    rng = np.random.default_rng(3)
    arguments = {"num_classes": 10, **({"input_size": 32} if name == "mobilenet_v2" else {})}
    model = getattr(models, name)(**arguments)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.data[:] = rng.standard_normal(module.num_features) * 0.1
            module.running_var.data[:] = rng.uniform(0.5, 2.0, module.num_features)
            module.bias.data[:] = rng.standard_normal(module.num_features) * 0.1
    model.eval()
    x = fastcnn.tensor(rng.standard_normal((2, 1, 8, 8) if name == "digits_cnn" else (2, 3, 32, 32)),
                       dtype=np.float32)
    expected = model(x)  # grad enabled: nothing fuses
    with fastcnn.no_grad():
        fused = model(x)
    np.testing.assert_allclose(fused.numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-5 * np.abs(expected.detach().numpy()).max())


def _call(**changes):
    rng = np.random.default_rng(0)
    arguments = dict(input=rng.standard_normal((1, 2, 5, 5)).astype(np.float32),
                     weight=rng.standard_normal((3, 2, 3, 3)).astype(np.float32), bias=None,
                     running_mean=np.zeros(3, np.float32), running_var=np.ones(3, np.float32), bn_weight=None,
                     bn_bias=None, eps=1e-5, residual=None, activation="relu", stride=[1, 1], padding=[1, 1, 1, 1],
                     dilation=[1, 1], groups=1)
    arguments.update(changes)
    return _C.conv2d_bn_forward(**arguments)


@pytest.mark.parametrize("changes, error, message", [
    ({"running_mean": np.zeros(4, np.float32)}, ValueError, r"conv2d_bn: .*running_mean"),
    ({"bn_weight": np.ones((3, 1), np.float32)}, ValueError, r"conv2d_bn: .*bn_weight"),
    ({"running_var": np.ones(3)}, TypeError, r"conv2d_bn: .*running_var"),
    ({"residual": np.zeros((1, 3, 4, 5), np.float32)}, ValueError, r"conv2d_bn: .*residual"),
    ({"activation": "gelu"}, ValueError, r"conv2d_bn: activation must be"),
    ({"eps": -1.0}, ValueError, r"conv2d_bn: eps"),
    ({"weight": np.zeros((3, 4, 3, 3), np.float32)}, ValueError, r"conv2d.*channels"),
])
def test_fused_entry_point_rejects_bad_arguments(changes, error, message):
    with pytest.raises(error, match=message):
        _call(**changes)


def _unfused_twin(model, factory):
    """A copy of model whose batch norms carry a no-op hook, which keeps every module separate."""
    twin = factory()
    twin.load_state_dict(model.state_dict())
    for module in twin.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.register_forward_hook(lambda module, args, output: None)
    return twin


@pytest.mark.parametrize("name", ["resnet_cifar", "mobilenet_v2", "digits_cnn"])
def test_training_fuses_batch_norm_with_what_follows(name):
    """In training, batch norm -> (+ residual) -> relu runs as one op: same outputs, gradients and
    running statistics as the modules one by one."""
    arguments = {"num_classes": 10, **({"input_size": 16} if name == "mobilenet_v2" else {})}
    factory = lambda: getattr(models, name)(**arguments).double()  # noqa: E731
    fastcnn.manual_seed(0)
    model = factory()
    twin = _unfused_twin(model, factory)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 1, 8, 8) if name == "digits_cnn" else (3, 3, 16, 16))
    upstream = rng.standard_normal((3, 10))
    results = []
    for network in (model, twin):
        network.train()
        inputs = fastcnn.tensor(x, requires_grad=True)
        fastcnn.manual_seed(1)  # the same dropout masks
        output = network(inputs)
        output.backward(fastcnn.tensor(upstream))
        results.append((output.detach().numpy(), inputs.grad.numpy(),
                        {k: p.grad.numpy() for k, p in network.named_parameters()},
                        {k: b.numpy() for k, b in network.named_buffers()}))
    (out, grad, params, buffers), (out2, grad2, params2, buffers2) = results
    np.testing.assert_allclose(out, out2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, grad2, rtol=1e-9, atol=1e-12)
    for key in params:
        np.testing.assert_allclose(params[key], params2[key], rtol=1e-9, atol=1e-12, err_msg=key)
    for key in buffers:
        np.testing.assert_allclose(buffers[key], buffers2[key], rtol=1e-12, err_msg=key)


def test_training_run_uses_the_fused_batch_norm():
    sequence = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU6(), nn.BatchNorm2d(3), nn.ReLU())
    calls = []
    for module in sequence:
        if isinstance(module, (nn.ReLU, nn.ReLU6)):
            module.forward = lambda input, module=module: calls.append(module) or type(module).forward(module, input)
    output = sequence(fastcnn.randn(2, 2, 6, 5))
    assert calls == [] and output.grad_fn.name == "BatchNorm"
    assert 0 <= output.detach().numpy().min()
