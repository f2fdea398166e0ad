"""nn.init: gains and fans as torch computes them, the statistics of every initialiser (fixed
seed, tolerant bounds), reproducibility, and the default initialisation of the layers."""
import math

import numpy as np
import pytest

import fastcnn
import fastcnn.nn as nn
from fastcnn.nn import init


@pytest.mark.parametrize("nonlinearity, param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                                 ("tanh", None), ("relu", None), ("leaky_relu", None),
                                                 ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, param))


@pytest.mark.parametrize("shape", [(5, 3), (8, 4, 3, 3), (4, 3, 2, 5), (6, 1, 1, 1), (2, 7, 3)])
def test_fans_match_torch(shape):
    torch = pytest.importorskip("torch")
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(fastcnn.empty(shape)) == expected


def _sample(shape=(256, 64, 3, 3), dtype=fastcnn.float32):
    return fastcnn.empty(shape, dtype=dtype)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity, a", [("relu", 0), ("leaky_relu", math.sqrt(5)), ("tanh", 0)])
def test_kaiming_statistics(mode, nonlinearity, a):
    fastcnn.manual_seed(0)
    fan = 64 * 9 if mode == "fan_in" else 256 * 9
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    uniform = init.kaiming_uniform_(_sample(), a=a, mode=mode, nonlinearity=nonlinearity).numpy()
    assert np.abs(uniform).max() <= math.sqrt(3) * std * (1 + 1e-6)
    assert uniform.std() == pytest.approx(std, rel=0.01) and abs(uniform.mean()) < 0.01 * std
    normal = init.kaiming_normal_(_sample(), a=a, mode=mode, nonlinearity=nonlinearity).numpy()
    assert normal.std() == pytest.approx(std, rel=0.01) and abs(normal.mean()) < 0.01 * std


@pytest.mark.parametrize("gain", [1.0, init.calculate_gain("relu")])
def test_xavier_statistics(gain):
    fastcnn.manual_seed(1)
    std = gain * math.sqrt(2.0 / (64 * 9 + 256 * 9))
    uniform = init.xavier_uniform_(_sample(), gain=gain).numpy()
    assert np.abs(uniform).max() <= math.sqrt(3) * std * (1 + 1e-6)
    assert uniform.std() == pytest.approx(std, rel=0.01)
    assert init.xavier_normal_(_sample(), gain=gain).numpy().std() == pytest.approx(std, rel=0.01)


def test_uniform_normal_and_constants():
    fastcnn.manual_seed(2)
    values = init.uniform_(_sample(dtype=fastcnn.float64), -2.0, 3.0).numpy()
    assert values.dtype == np.float64 and values.min() >= -2.0 and values.max() < 3.0
    assert values.mean() == pytest.approx(0.5, abs=0.02)
    values = init.normal_(_sample(), mean=1.5, std=0.5).numpy()
    assert values.mean() == pytest.approx(1.5, abs=0.01) and values.std() == pytest.approx(0.5, rel=0.01)
    assert (init.constant_(_sample((3, 4)), 0.25).numpy() == 0.25).all()
    assert (init.zeros_(fastcnn.ones(3)).numpy() == 0).all() and (init.ones_(fastcnn.zeros(3)).numpy() == 1).all()


def test_initialisers_follow_the_global_seed_or_an_explicit_generator():
    fastcnn.manual_seed(3)
    first = init.kaiming_uniform_(_sample((4, 4))).numpy().copy()
    fastcnn.manual_seed(3)
    np.testing.assert_array_equal(init.kaiming_uniform_(_sample((4, 4))).numpy(), first)
    a = init.normal_(_sample((4, 4)), generator=np.random.default_rng(7)).numpy().copy()
    np.testing.assert_array_equal(init.normal_(_sample((4, 4)), generator=np.random.default_rng(7)).numpy(), a)


def test_initialising_a_parameter_records_no_graph():
    weight = nn.Parameter(fastcnn.empty(3, 4))
    assert init.kaiming_normal_(weight) is weight
    assert weight.is_leaf and weight.grad_fn is None and weight.requires_grad


def test_empty_tensor_is_left_alone():
    assert init.kaiming_uniform_(fastcnn.empty(0, 3)).shape == (0, 3)


@pytest.mark.parametrize("call, message", [
    (lambda: init.xavier_uniform_(fastcnn.empty(5)), "fewer than 2 dimensions"),
    (lambda: init.kaiming_normal_(fastcnn.empty(3, 3), mode="fan_avg"), "Mode fan_avg not supported"),
    (lambda: init.kaiming_uniform_(fastcnn.empty(3, 3), nonlinearity="swish"), "unsupported nonlinearity"),
    (lambda: init.calculate_gain("leaky_relu", "steep"), "not a valid number"),
])
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(300, 200), 300),
    (lambda: nn.Conv2d(48, 64, 3, groups=2), 24 * 9),
    (lambda: nn.ConvTranspose2d(64, 48, 4, groups=2), 24 * 16),
])
def test_default_layer_initialisation_is_torchs(make, fan_in):
    """kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight, and the
    bias uses the same bound; for a transposed convolution fan_in is weight.shape[1] * kH * kW."""
    fastcnn.manual_seed(4)
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)


def test_batch_norm_starts_as_the_identity_transform():
    layer = nn.BatchNorm2d(5)
    assert (layer.weight.data == 1).all() and (layer.bias.data == 0).all()
    assert (layer.running_mean.numpy() == 0).all() and (layer.running_var.numpy() == 1).all()
    assert layer.num_batches_tracked.item() == 0
