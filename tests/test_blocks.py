"""Residual, SeparableConv2d, GlobalAvgPool2d and SpatialPyramidPooling against torch (weights
copied), NumPy and finite differences."""
import numpy as np
import pytest

import fastcnn
from fastcnn import nn
from checks import check_gradients, run_with_grad, torch_parity
from module_checks import check_parameter_gradients, module_torch_parity


def _input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _torch_module(**children):
    """A torch Module whose children have the given names (so state dicts line up) and whose
    forward is given as `forward`."""
    torch = pytest.importorskip("torch")
    forward = children.pop("forward")

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for name, child in children.items():
                setattr(self, name, child)

        def forward(self, *inputs):
            return forward(self, *inputs)

    return Twin()


# --- Residual ------------------------------------------------------------------------------------
def test_residual_adds_input_to_fn():
    torch = pytest.importorskip("torch")
    ours = nn.Residual(nn.Conv2d(3, 3, 3, padding=1))
    theirs = _torch_module(fn=torch.nn.Conv2d(3, 3, 3, padding=1), forward=lambda self, x: x + self.fn(x))
    module_torch_parity(ours, theirs, [_input((2, 3, 5, 7))], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_residual_with_projection_matches_torch(stride):
    torch = pytest.importorskip("torch")
    ours = nn.Residual.with_projection(nn.Conv2d(3, 5, 3, stride=stride, padding=1), 3, 5, stride)
    projection = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 1, stride=stride, bias=False), torch.nn.BatchNorm2d(5))
    theirs = _torch_module(fn=torch.nn.Conv2d(3, 5, 3, stride=stride, padding=1), projection=projection,
                           forward=lambda self, x: self.projection(x) + self.fn(x))
    module_torch_parity(ours, theirs, [_input((3, 3, 7, 6), seed=1)], atol=1e-4, rtol=1e-4)


def test_residual_gradients_finite_differences():
    fastcnn.manual_seed(0)
    block = nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.Tanh())).double()
    check_gradients(block, [_input((2, 2, 4, 3))])
    check_parameter_gradients(block, [_input((2, 2, 4, 3))])


def test_residual_shape_change_without_projection_is_rejected():
    block = nn.Residual(nn.Conv2d(3, 4, 3, padding=1))
    with pytest.raises(ValueError, match=r"Residual: fn maps input \(1, 3, 5, 5\) to \(1, 4, 5, 5\).*projection"):
        block(fastcnn.randn(1, 3, 5, 5))


# --- SeparableConv2d ------------------------------------------------------------------------------
SEPARABLE_CASES = [
    # in, out, kernel, stride, padding, dilation, depth_multiplier, bias, input shape
    (3, 5, 3, 1, 0, 1, 1, True, (2, 3, 7, 6)),
    (4, 6, 3, 2, 1, 1, 2, False, (1, 4, 9, 8)),
    (2, 3, (3, 1), 1, 2, 2, 3, True, (3, 2, 5, 7)),
    (5, 5, 1, 1, 0, 1, 1, True, (1, 5, 3, 3)),
]


@pytest.mark.parametrize("case", SEPARABLE_CASES)
def test_separable_conv_matches_torch(case):
    torch = pytest.importorskip("torch")
    in_channels, out_channels, kernel, stride, padding, dilation, multiplier, bias, shape = case
    fastcnn.manual_seed(1)
    ours = nn.SeparableConv2d(in_channels, out_channels, kernel, stride, padding, dilation, multiplier, bias)
    theirs = _torch_module(
        depthwise=torch.nn.Conv2d(in_channels, in_channels * multiplier, kernel, stride, padding, dilation,
                                  groups=in_channels, bias=bias),
        pointwise=torch.nn.Conv2d(in_channels * multiplier, out_channels, 1, bias=bias),
        forward=lambda self, x: self.pointwise(self.depthwise(x)))
    module_torch_parity(ours, theirs, [_input(shape, seed=2)], atol=1e-4, rtol=1e-4)


def test_separable_conv_gradients_finite_differences():
    fastcnn.manual_seed(2)
    layer = nn.SeparableConv2d(2, 3, 3, stride=2, padding=1, depth_multiplier=2).double()
    check_gradients(layer, [_input((2, 2, 5, 4))])
    check_parameter_gradients(layer, [_input((2, 2, 5, 4))])


def test_separable_conv_rejects_bad_depth_multiplier():
    with pytest.raises(ValueError, match="SeparableConv2d: depth_multiplier must be a positive int"):
        nn.SeparableConv2d(3, 4, 3, depth_multiplier=0)


# --- GlobalAvgPool2d ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 5, 7), (3, 4, 8, 8)])
def test_global_avg_pool_matches_mean(shape):
    x = _input(shape)
    output, (grad,), weights = run_with_grad(nn.GlobalAvgPool2d(), [x], dtype=np.float64)
    height, width = shape[2], shape[3]
    np.testing.assert_allclose(output, x.sum(axis=(2, 3)) / (height * width), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, np.broadcast_to(weights[:, :, None, None] / (height * width), shape),
                               rtol=1e-12, atol=1e-12)
    check_gradients(nn.GlobalAvgPool2d(), [x])


def test_global_avg_pool_rejects_non_maps():
    with pytest.raises(ValueError, match=r"GlobalAvgPool2d: input must be 4-D .*\(2, 3, 4\)"):
        nn.GlobalAvgPool2d()(fastcnn.randn(2, 3, 4))


# --- SpatialPyramidPooling ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("levels, shape", [((1, 2, 4), (2, 3, 8, 8)), ((1, 2, 3), (1, 2, 7, 5)),
                                           ((2, 1), (3, 4, 6, 9)), ((3,), (1, 1, 3, 3))])
def test_spatial_pyramid_pooling_matches_torch_adaptive_pools(mode, levels, shape):
    torch = pytest.importorskip("torch")
    pool = getattr(torch.nn.functional, f"adaptive_{mode}_pool2d")
    layer = nn.SpatialPyramidPooling(levels, mode)
    x = _input(shape, seed=3).astype(np.float32)
    torch_parity(layer, lambda t: torch.cat([pool(t, level).flatten(1) for level in levels], dim=1), [x],
                 atol=1e-6, rtol=1e-6)
    assert tuple(layer(fastcnn.tensor(x)).shape) == (shape[0], layer.output_features(shape[1]))


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spatial_pyramid_pooling_gradients_finite_differences(mode):
    check_gradients(nn.SpatialPyramidPooling((1, 2, 3), mode), [_input((2, 2, 7, 6), seed=4)])


def test_spatial_pyramid_pooling_gives_one_length_for_any_size():
    layer = nn.SpatialPyramidPooling()
    lengths = {tuple(layer(fastcnn.randn(2, 3, size, size + 3)).shape) for size in (4, 9, 16)}
    assert lengths == {(2, 3 * 21)}


def test_spatial_pyramid_pooling_rejects_level_larger_than_map():
    with pytest.raises(ValueError, match=r"SpatialPyramidPooling: level 4 is larger than the 3x5 feature map "
                                         r"\(input \(2, 3, 3, 5\)"):
        nn.SpatialPyramidPooling((1, 2, 4))(fastcnn.randn(2, 3, 3, 5))


@pytest.mark.parametrize("levels, mode, message", [((), "max", "levels must be positive ints"),
                                                   ((1, 0), "max", "levels must be positive ints"),
                                                   ((1, 2), "sum", "mode must be 'max' or 'avg'")])
def test_spatial_pyramid_pooling_rejects_bad_arguments(levels, mode, message):
    with pytest.raises(ValueError, match=f"SpatialPyramidPooling: {message}"):
        nn.SpatialPyramidPooling(levels, mode)
