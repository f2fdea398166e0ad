import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
from checks import check_gradients, run_with_grad, torch_parity
import reference

# (batch, in_channels, height, width, out_channels, kernel, stride, padding, output_padding, dilation, groups)
CASES = [
    (2, 3, 4, 5, 4, (3, 3), 1, 0, 0, 1, 1),            # odd, non-square
    (1, 4, 5, 3, 6, (3, 2), 2, 1, 1, 1, 2),            # batch 1, stride 2, output_padding, groups 2
    (2, 3, 3, 4, 2, (4, 4), 2, 1, 0, 1, 1),            # the 4x4 stride-2 upsampling layer
    (2, 2, 4, 4, 3, (3, 3), 3, (2, 1), (2, 1), 1, 1),  # stride 3, padding and output_padding pairs
    (2, 4, 5, 4, 4, (3, 3), 1, 1, 1, 2, 4),            # depthwise; output_padding < dilation with stride 1
    (2, 3, 4, 6, 5, (1, 1), 1, 0, 0, 1, 1),            # pointwise
    (1, 2, 3, 3, 4, (2, 3), 2, 0, 1, 2, 1),            # dilated and strided
    (2, 3, 5, 16, 4, (4, 4), 2, 1, 0, 1, 1),           # wider: input phases of 16 columns, and
                                                       # 4 * 4 columns for the pixel-major weight gradient
    (2, 4, 5, 4, 8, (3, 3), 2, 1, 1, 1, 1),            # output_padding with the pixel-major weight gradient
    (1, 3, 4, 5, 16, (2, 3), 2, 0, 1, 2, 1),           # the same, dilated: one GEMM per kernel tap
    # Winograd F(2x2, 2x2) over the 2x2-tap phases (conv_winograd_phases.h: 64 input and 32 output
    # channels, phase rows of 16 pixels or more, 256 tiles a phase):
    (4, 64, 16, 16, 36, (4, 4), 2, 1, 1, 1, 1),        # output_padding: phases of 17 and 16 pixels
    (4, 64, 16, 16, 32, (2, 2), 2, 0, 0, 2, 1),        # one phase of 2x2 taps, three that no tap reaches
]


def _make(case, seed=0, dtype=np.float64):
    batch, channels, height, width, out_channels, kernel, stride, padding, output_padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    weight = rng.standard_normal((channels, out_channels // groups) + kernel).astype(dtype)
    bias = rng.standard_normal(out_channels).astype(dtype)
    options = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    return x, weight, bias, options


def _reference_options(options):
    pairs = {name: F.pair("conv_transpose2d", name, options[name])
             for name in ("stride", "padding", "output_padding", "dilation")}
    return dict(pairs, groups=options["groups"])


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv_transpose2d_matches_reference(case, with_bias):
    x, weight, bias, options = _make(case)
    inputs = [x, weight, bias] if with_bias else [x, weight]
    output, grads, grad_output = run_with_grad(lambda *t: F.conv_transpose2d(*t, **options), inputs,
                                               dtype=np.float64)
    expected, expected_grads = reference.conv_transpose2d(x, weight, bias if with_bias else None, grad_output,
                                                          **_reference_options(options))
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-10)
    for grad, expected_grad in zip(grads, expected_grads):
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_conv_transpose2d_gradient_finite_differences(case):
    x, weight, bias, options = _make(case, seed=1)
    check_gradients(lambda *t: F.conv_transpose2d(*t, **options), [x, weight, bias], max_points=20)


@pytest.mark.parametrize("case", CASES)
def test_conv_transpose2d_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, weight, bias, options = _make(case, seed=2, dtype=np.float32)
    torch_parity(lambda *t: F.conv_transpose2d(*t, **options),
                 lambda *t: torch.nn.functional.conv_transpose2d(*t, **options), [x, weight, bias],
                 atol=1e-4, rtol=1e-4)


def test_conv_transpose2d_large_shape_matches_torch():
    torch = pytest.importorskip("torch")
    x, weight, bias, options = _make((3, 24, 9, 11, 19, (4, 4), 2, 1, 0, 1, 1), seed=3, dtype=np.float32)
    torch_parity(lambda *t: F.conv_transpose2d(*t, **options),
                 lambda *t: torch.nn.functional.conv_transpose2d(*t, **options), [x, weight, bias],
                 atol=2e-4, rtol=2e-4)


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv2d(y, W), x> = <y, conv_transpose2d(x, W)> for the same stride, padding and dilation."""
    rng = np.random.default_rng(4)
    x = fastcnn.tensor(rng.standard_normal((2, 5, 4, 6)))
    weight = fastcnn.tensor(rng.standard_normal((5, 3, 3, 3)))
    y = fastcnn.tensor(rng.standard_normal((2, 3, 7, 11)))
    options = dict(stride=2, padding=1, dilation=1)
    forward = F.conv2d(y, weight, **options).numpy()
    transposed = F.conv_transpose2d(x, weight, **options).numpy()
    np.testing.assert_allclose((forward * x.numpy()).sum(), (y.numpy() * transposed).sum(), rtol=1e-12)


_X = fastcnn.randn(2, 4, 5, 5)


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((_X, fastcnn.randn(3, 2, 3, 3)), {}, ValueError,
     r"conv_transpose2d: input has 4 channels but weight expects 3 \(input \(2, 4, 5, 5\), weight \(3, 2, 3, 3\), groups=1\)"),
    ((_X, fastcnn.randn(4, 2, 3, 3)), {"groups": 3}, ValueError, "input has 4 channels, not divisible by groups"),
    ((_X, fastcnn.randn(4, 2, 3, 3)), {"stride": 2, "output_padding": 2}, ValueError,
     "output_padding .* must be smaller than either stride"),
    ((_X, fastcnn.randn(4, 2, 3, 3)), {"output_padding": 1}, ValueError, "must be smaller than either stride"),
    ((_X, fastcnn.randn(4, 2, 3, 3)), {"padding": 4}, ValueError, "output size -1x-1 is not positive"),
    ((_X, fastcnn.randn(4, 2, 3, 3)), {"stride": 0}, ValueError, "stride must be positive"),
    ((_X, fastcnn.randn(4, 2, 3, 3)), {"dilation": -1}, ValueError, "dilation must be positive"),
    ((_X, fastcnn.randn(4, 2, 3, 3)), {"padding": -1}, ValueError, "padding must be non-negative"),
    ((_X, fastcnn.randn(4, 2, 3, 3)), {"padding": "same"}, TypeError, "padding must be an int or a pair"),
    ((fastcnn.randn(4, 5), fastcnn.randn(4, 2, 3, 3)), {}, ValueError, r"conv_transpose2d: input must be 3-D \(C, H, W\) or 4-D"),
    ((fastcnn.randn(0, 4, 5, 5), fastcnn.randn(4, 2, 3, 3)), {}, ValueError, "input is empty"),
    ((_X, fastcnn.randn(4, 2, 3, 3), fastcnn.randn(3)), {}, ValueError, r"bias must have shape \(2,\)"),
    ((_X, fastcnn.randn(4, 2, 3, 3, dtype=fastcnn.float64)), {}, TypeError, "weight has dtype float64"),
])
def test_conv_transpose2d_rejects_bad_input(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        F.conv_transpose2d(*args, **kwargs)
