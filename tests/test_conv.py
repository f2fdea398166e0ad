import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
from checks import check_gradients, run_under_isa, run_with_grad, torch_parity
import reference

# (batch, in_channels, height, width, out_channels, kernel, stride, padding, dilation, groups)
CASES = [
    (2, 3, 9, 7, 4, (3, 3), 1, 0, 1, 1),           # odd, non-square
    (1, 4, 10, 11, 6, (3, 2), 2, 1, 2, 2),         # batch 1, stride 2, dilation 2, groups 2
    (2, 3, 11, 8, 5, (3, 3), 3, (2, 1), 1, 1),     # stride 3, asymmetric padding pair
    (3, 6, 8, 8, 6, (3, 3), 1, 1, 1, 6),           # depthwise
    (2, 4, 9, 6, 8, (3, 3), 2, 1, 2, 4),           # depthwise, channel multiplier 2, strided, dilated
    (2, 5, 6, 7, 3, (1, 1), 1, 0, 1, 1),           # pointwise
    (2, 6, 5, 7, 4, (1, 1), 2, 1, 1, 2),           # 1x1 strided with padding (not the pointwise path)
    (2, 3, 7, 9, 4, (4, 2), 1, "same", 1, 1),      # 'same' with an even kernel: extra at bottom / right
    (1, 4, 7, 9, 4, (3, 3), 1, "same", 2, 4),      # 'same', dilated depthwise
    (2, 3, 6, 5, 2, (3, 3), 1, "valid", 1, 1),
    (1, 2, 5, 5, 3, (5, 5), 1, 0, 1, 1),           # kernel as large as the input
    (2, 64, 15, 13, 20, (5, 5), 1, 2, 1, 1),       # deep enough that the GEMM goes by column blocks
    (1, 3, 32, 33, 4, (3, 3), 1, 1, 1, 1),         # long enough for the dot-product weight gradient
    (1, 4, 32, 33, 4, (3, 3), 1, 1, 1, 4),         # the same, depthwise
    (2, 3, 12, 11, 4, (2, 2), 5, 1, 1, 1),         # stride above the kernel: only 2 of 5 phases read
    (1, 2, 9, 7, 4, (3, 3), 1000, 1, 1, 2),        # a huge stride: one output pixel
    # The windows per kernel column (conv_geometry.h; larger planes take stride phases, below):
    # one copy per plane when the planes are as wide as the input, else row by row.
    (2, 3, 6, 16, 4, (3, 3), 1, 1, 1, 1),          # as wide as the input
    (2, 4, 7, 31, 6, (3, 3), 2, 1, 1, 2),          # strided rows, groups 2
    (1, 3, 9, 16, 5, (3, 3), 1, 2, 2, 1),          # dilated, as wide as the input
    (2, 3, 8, 12, 4, (3, 3), 1, (1, 3), 1, 1),     # wider than the input (padding 3 at each side)
    (2, 3, 8, 10, 4, (1, 3), 1, 0, 1, 1),          # one kernel row, unpadded
    (2, 3, 8, 10, 4, (3, 1), 1, 1, 1, 1),          # one kernel column: stride phases, none dropped
    # Either side of the pixel-major weight gradient (conv_geometry.h: input channels per group
    # times the kernel columns one GEMM takes, at least 16), whose GEMMs span several images.
    (3, 6, 7, 9, 10, (3, 3), 1, 1, 1, 1),          # 18 columns; 10 output channels: a partial panel
    (2, 5, 7, 9, 4, (3, 3), 1, 1, 1, 1),           # 15 columns: windows and dot products
    (2, 16, 9, 8, 9, (3, 3), 2, (2, 1), 2, 1),     # strided and dilated: one GEMM per tap
    (1, 32, 6, 7, 6, (2, 3), 1, (0, 2), 1, 2),     # batch 1, groups 2, padding wider than the kernel
    (2, 16, 5, 5, 8, (3, 1), 1, 1, 1, 1),          # one kernel column
    (9, 8, 12, 12, 8, (3, 3), 1, 1, 1, 1),         # 9 images of 144 pixels: 3 GEMMs of 3 images
    # Either side of gemm.h's worth_packing_a (256 output columns in all with AVX2's 16-column
    # panels): below it the GEMMs read the weights in place, 13 rows = two panels and one of 1.
    (1, 7, 16, 16, 13, (3, 3), 1, 1, 1, 1),        # 256 pixels: weights packed
    (1, 7, 15, 17, 13, (3, 3), 1, 1, 1, 1),        # 255 pixels: weights in place
    (1, 9, 15, 17, 13, (1, 1), 1, 0, 1, 1),        # the same, pointwise
    # Windows per kernel column copied by blocks of channels (conv_geometry.h, window_plan): 448
    # channels of 14 x 13 pass half of any L2 up to 2 MiB, and so does the input gradient's
    # convolution of 448 output channels. Groups of 448 with two images.
    (1, 448, 14, 13, 5, (3, 3), 1, 1, 1, 1),
    (1, 5, 13, 14, 448, (3, 3), 1, 1, 1, 1),
    (2, 896, 13, 14, 6, (3, 3), 1, 1, 1, 2),
    # Depthwise forwards on the windows grid copy channels in blocks of 16 KiB (conv_depthwise.cpp):
    # two blocks each, strided with a channel multiplier and stride 1; rows of 48 or more output
    # values at stride 1 take the per-row path.
    (1, 48, 10, 10, 96, (3, 3), 2, 1, 1, 48),
    (2, 40, 12, 12, 40, (3, 3), 1, 1, 1, 40),
    (1, 2, 5, 50, 2, (3, 3), 1, 1, 1, 2),
    # Strided depthwise input gradients by sub-pixel phases: a stride above the kernel leaves
    # phases no tap reaches (zeroed), and unequal strides with a channel multiplier.
    (2, 4, 11, 12, 4, (2, 2), 3, 1, 1, 4),
    (2, 3, 10, 9, 6, (3, 3), (2, 1), 1, 1, 3),
    # A 4x4 stride-2 kernel by Winograd F(2x2, 2x2) (conv_winograd_phases.h): the forward, the
    # weight gradient (64 output channels) and the input gradient over its four 2x2-tap phases
    # (64 output and 32 input channels, phase rows of 16 pixels or more, 256 tiles a phase).
    (4, 36, 32, 33, 64, (4, 4), 2, 1, 1, 1),
    # The forward only (36 output channels): the input's four phases as one 2x2 convolution of 4C
    # channels (32 channels, output rows of 16 pixels, 256 tiles, an image a thread).
    (4, 32, 34, 33, 36, (4, 4), 2, 1, 1, 1),
]
# Winograd F(2x2, 3x3) (conv_winograd.h: 3x3, stride 1, 32 channels or more per group on both
# sides, 64 output tiles or more (256 under 64 channels) and output rows of 6 columns or more
# per dilation phase (4 with 128 channels), the input gradient's too; the weight gradient where
# its rows are long enough: 12 columns under 64 channels, 6 under 128, else 4):
# odd and even planes (partial tiles), padding 0 to 3 (the input gradient's padding 2 - pad goes
# negative), groups, tile blocks across images, rows under 16 tiles (transformed side by side
# across tile rows and images) and longer ones (run by run).
WINOGRAD_CASES = [
    (2, 64, 13, 11, 64, (3, 3), 1, 1, 1, 1),
    (1, 64, 20, 17, 70, (3, 3), 1, 0, 1, 1),
    (4, 128, 9, 8, 128, (3, 3), 1, 2, 1, 2),
    (3, 65, 11, 10, 64, (3, 3), 1, 3, 1, 1),
    (2, 64, 3, 40, 64, (3, 3), 1, 1, 1, 1),
    (4, 128, 7, 9, 128, (3, 3), 1, 1, 1, 1),
    (4, 32, 17, 16, 40, (3, 3), 1, 1, 1, 1),
    (16, 32, 8, 8, 32, (3, 3), 1, 1, 1, 1),     # Winograd forward, the weight gradient's rows too short
    # Dilated, as one undilated Winograd convolution per output phase: dilation 2 (odd width,
    # whose column phases differ in size), 3, mixed (2, 1), and groups with padding (3, 1); the
    # last two with weight gradients by Winograd too.
    (3, 64, 11, 25, 64, (3, 3), 1, 2, 2, 1),
    (2, 64, 17, 36, 70, (3, 3), 1, 1, 3, 1),
    (2, 64, 13, 12, 64, (3, 3), 1, 1, (2, 1), 1),
    (2, 64, 7, 52, 64, (3, 3), 1, 1, 2, 1),
    (4, 256, 8, 19, 256, (3, 3), 1, (3, 1), 2, 2),
]
CASES += WINOGRAD_CASES


def _make(case, seed=0, dtype=np.float64):
    batch, channels, height, width, out_channels, kernel, stride, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    weight = rng.standard_normal((out_channels, channels // groups) + kernel).astype(dtype)
    bias = rng.standard_normal(out_channels).astype(dtype)
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return x, weight, bias, options


def _reference_options(options, kernel):
    """The reference takes explicit pairs and (top, bottom, left, right) padding."""
    stride, dilation = F.pair("conv2d", "stride", options["stride"]), F.pair("conv2d", "dilation", options["dilation"])
    padding = F._conv_padding("conv2d", options["padding"], kernel, stride, dilation)
    return dict(stride=stride, padding=padding, dilation=dilation, groups=options["groups"])


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_matches_reference(case, with_bias):
    x, weight, bias, options = _make(case)
    inputs = [x, weight, bias] if with_bias else [x, weight]
    output, grads, grad_output = run_with_grad(lambda *t: F.conv2d(*t, **options), inputs, dtype=np.float64)
    expected, expected_grads = reference.conv2d(x, weight, bias if with_bias else None, grad_output,
                                                **_reference_options(options, weight.shape[2:]))
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-10)
    for grad, expected_grad in zip(grads, expected_grads):
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", CASES[:9] + WINOGRAD_CASES[:1] + WINOGRAD_CASES[-1:])
def test_conv2d_gradient_finite_differences(case):
    x, weight, bias, options = _make(case, seed=1)
    check_gradients(lambda *t: F.conv2d(*t, **options), [x, weight, bias], max_points=20)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", CASES)
def test_conv2d_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, weight, bias, options = _make(case, seed=2, dtype=np.float32)
    # float32 sums' rounding grows as the square root of their length (the deepest of the
    # output's and the input gradient's products).
    depth = max(weight.shape[0] // options["groups"], weight.shape[1]) * weight.shape[2] * weight.shape[3]
    tolerance = 1e-4 * max(1.0, np.sqrt(depth) / 10)
    torch_parity(lambda *t: F.conv2d(*t, **options), lambda *t: torch.nn.functional.conv2d(*t, **options),
                 [x, weight, bias], atol=tolerance, rtol=tolerance)


def test_conv2d_same_padding_keeps_size_and_pads_bottom_right():
    x = fastcnn.tensor(np.arange(20.0).reshape(1, 1, 4, 5))
    weight = fastcnn.tensor(np.zeros((1, 1, 2, 2)))
    weight.data[0, 0, 0, 0] = 1.0
    # A 2x2 'same' kernel pads 0 rows above and 1 below: tap (0, 0) reads the pixel itself.
    np.testing.assert_array_equal(F.conv2d(x, weight, padding="same").numpy(), x.numpy())


def test_conv2d_large_shape_matches_torch():
    """Shapes big enough to take the parallel paths and the GEMM's full and edge tiles."""
    torch = pytest.importorskip("torch")
    for case in [(3, 20, 23, 19, 37, (3, 3), 1, 1, 1, 1), (1, 16, 30, 30, 16, (3, 3), 1, 1, 1, 16),
                 (1, 33, 17, 15, 65, (1, 1), 1, 0, 1, 1),
                 # windows by stride phase: per kernel column they would pass 1 MiB
                 (1, 20, 64, 80, 3, (3, 3), 1, 1, 1, 1), (1, 12, 128, 160, 3, (3, 3), 2, 1, 1, 1),
                 (1, 20, 64, 80, 3, (3, 3), 1, 2, 2, 1)]:
        x, weight, bias, options = _make(case, seed=3, dtype=np.float32)
        torch_parity(lambda *t: F.conv2d(*t, **options), lambda *t: torch.nn.functional.conv2d(*t, **options),
                     [x, weight, bias], atol=2e-4, rtol=2e-4)


@pytest.mark.parametrize("channels, size", [(64, 28), (128, 14)])
def test_conv2d_winograd_float32_rounding(channels, size):
    """Winograd's float32 output and gradients keep within 2e-6 of their largest value from the
    float64 result (torch's direct float32 convolution: ~2e-6 on these shapes)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, channels, size, size))
    weight = rng.standard_normal((channels, channels, 3, 3)) / np.sqrt(9 * channels)
    grad = rng.standard_normal((2, channels, size, size))
    results = {}
    for dtype in (np.float64, np.float32):
        tensors = [fastcnn.tensor(a.astype(dtype), requires_grad=True) for a in (x, weight)]
        out = F.conv2d(*tensors, padding=1)
        out.backward(fastcnn.tensor(grad.astype(dtype)))
        results[dtype] = [out.detach().numpy()] + [t.grad.numpy() for t in tensors]
    for exact, rounded in zip(results[np.float64], results[np.float32]):
        assert np.abs(rounded - exact).max() <= 2e-6 * np.abs(exact).max()


# Depthwise planes of at most 64 values (conv_depthwise.cpp: with AVX-512, in float32, a plane in
# up to four registers and each tap one permute of them through an index table; elsewhere, and
# for the last case, the windows and row kernels). Sizes either side of 16, 32 and 64 values.
DEPTHWISE_PLANE_CASES = [
    (2, 5, 4, 4, 5, (3, 3), 1, 1, 1, 5),            # 16 values: one register, one vector
    (3, 3, 1, 1, 3, (3, 3), 1, 1, 1, 3),            # one value, only the centre tap inside
    (1, 4, 5, 6, 4, (3, 3), 1, 1, 1, 4),            # 30: two registers, two vectors; batch 1
    (2, 4, 3, 6, 4, (3, 3), 1, 1, 1, 4),            # 18
    (2, 4, 8, 8, 8, (3, 3), 1, 1, 1, 4),            # 64: four registers, four vectors; multiplier 2
    (2, 6, 8, 8, 6, (3, 3), 2, 1, 1, 6),            # stride 2, 64 -> 16
    (2, 3, 7, 9, 3, (5, 5), 1, 2, 1, 3),            # 63, 25 taps (the weight gradient's blocks of 9)
    (2, 4, 6, 7, 4, (3, 3), 1, 2, 2, 4),            # dilation 2, padding 2: 42 outputs, three vectors
    (2, 3, 9, 7, 6, (3, 2), (2, 1), (0, 1), 1, 3),  # unequal strides and kernel sides, multiplier 2
    (1, 4, 8, 8, 4, (3, 3), 1, 0, 1, 4),            # unpadded: 64 -> 36
    (1, 2, 4, 4, 2, (3, 3), 1, 3, 1, 2),            # padding above the kernel: outputs no tap reaches
    (2, 3, 5, 11, 3, (3, 3), 3, 1, 1, 3),           # stride above the kernel: inputs no tap reads
    (2, 2, 4, 17, 2, (3, 3), 1, 1, 1, 2),           # 68 values: the other paths
]


@pytest.mark.parametrize("case", DEPTHWISE_PLANE_CASES)
def test_depthwise_planes_float32(case):
    """float32 output and gradients within float32 rounding of the float64 reference."""
    x, weight, bias, options = _make(case, seed=4)
    output, grads, grad_output = run_with_grad(lambda *t: F.conv2d(*t, **options), [x, weight, bias],
                                               dtype=np.float32)
    expected, expected_grads = reference.conv2d(x, weight, bias, grad_output.astype(np.float64),
                                                **_reference_options(options, weight.shape[2:]))
    for result, exact in zip([output] + grads, [expected] + list(expected_grads)):
        np.testing.assert_allclose(result, exact, rtol=1e-5, atol=1e-5 * np.abs(exact).max())


def test_conv2d_gradient_of_bias_only():
    x, weight, bias, options = _make(CASES[0])
    b = fastcnn.tensor(bias, requires_grad=True)
    F.conv2d(fastcnn.tensor(x), fastcnn.tensor(weight), b, **options).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), np.full_like(bias, 7 * 5 * 2))


_X = fastcnn.randn(2, 4, 8, 8)
_W = fastcnn.randn(8, 3, 3, 3)


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((_X, _W), {}, ValueError,
     r"conv2d: input has 4 channels but weight expects 3 \(input \(2, 4, 8, 8\), weight \(8, 3, 3, 3\), groups=1\)"),
    ((fastcnn.randn(4, 8), fastcnn.randn(8, 4, 3, 3)), {}, ValueError,
     r"conv2d: input must be 3-D \(C, H, W\) or 4-D \(N, C, H, W\), got 2-D \(input \(4, 8\)\)"),
    ((fastcnn.randn(4, 8, 8), fastcnn.randn(8, 3, 3, 3)), {}, ValueError, r"input has 4 channels .*input \(1, 4, 8, 8\)"),
    ((_X, fastcnn.randn(8, 4, 3)), {}, ValueError, "conv2d: weight must be 4-D"),
    ((_X, fastcnn.randn(6, 2, 3, 3)), {"groups": 4}, ValueError, "conv2d: weight has 6 output channels, not divisible"),
    ((_X, fastcnn.randn(8, 1, 3, 3)), {"groups": 2}, ValueError, "input has 4 channels but weight expects 2"),
    ((_X, fastcnn.randn(8, 4, 9, 3)), {}, ValueError, r"kernel size \(dilated\) 9x3 is larger than the padded input 8x8"),
    ((_X, fastcnn.randn(8, 4, 3, 3)), {"dilation": 4}, ValueError, "kernel size"),
    ((_X, fastcnn.randn(8, 4, 3, 3)), {"stride": 0}, ValueError, "conv2d: stride must be positive, got 0"),
    ((_X, fastcnn.randn(8, 4, 3, 3)), {"stride": (1, -2)}, ValueError, "stride must be positive"),
    ((_X, fastcnn.randn(8, 4, 3, 3)), {"dilation": 0}, ValueError, "dilation must be positive"),
    ((_X, fastcnn.randn(8, 4, 3, 3)), {"padding": -1}, ValueError, "padding must be non-negative"),
    ((_X, fastcnn.randn(8, 4, 3, 3)), {"groups": 0}, ValueError, "groups must be positive"),
    ((_X, fastcnn.randn(8, 4, 3, 3)), {"padding": "same", "stride": 2}, ValueError, "'same' is not supported"),
    ((_X, fastcnn.randn(8, 4, 3, 3)), {"padding": "full"}, ValueError, "padding must be an int, a pair"),
    ((_X, fastcnn.randn(8, 4, 3, 3)), {"stride": 1.5}, TypeError, "stride must be an int or a pair"),
    ((fastcnn.randn(0, 4, 8, 8), fastcnn.randn(8, 4, 3, 3)), {}, ValueError, "conv2d: input is empty"),
    ((_X, fastcnn.randn(0, 4, 3, 3)), {}, ValueError, "conv2d: weight is empty"),
    ((_X, fastcnn.randn(8, 4, 3, 3), fastcnn.randn(7)), {}, ValueError, r"bias must have shape \(8,\)"),
    ((_X, fastcnn.randn(8, 4, 3, 3, dtype=fastcnn.float64)), {}, TypeError, "weight has dtype float64"),
    ((_X, fastcnn.randn(8, 4, 3, 3), fastcnn.randn(8, dtype=fastcnn.float64)), {}, TypeError, "bias has dtype"),
    ((fastcnn.tensor(np.zeros((2, 4, 8, 8), np.int64)), fastcnn.randn(8, 4, 3, 3)), {}, TypeError, "must be float"),
])
def test_conv2d_rejects_bad_input(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        F.conv2d(*args, **kwargs)


def test_conv2d_native_entry_points_validate():
    x, w = np.zeros((2, 4, 8, 8), np.float32), np.zeros((8, 4, 3, 3), np.float32)
    geometry = ([1, 1], [0, 0, 0, 0], [1, 1], 1)
    with pytest.raises(ValueError, match=r"conv2d: grad_output must have shape \(2, 8, 6, 6\)"):
        fastcnn._C.conv2d_backward_input(np.zeros((2, 8, 5, 6), np.float32), x, w, *geometry)
    with pytest.raises(ValueError, match="padding must have 4 values"):
        fastcnn._C.conv2d_forward(x, w, None, [1, 1], [0, 0], [1, 1], 1)
    with pytest.raises(ValueError, match="input must be C-contiguous"):
        fastcnn._C.conv2d_forward(np.zeros((2, 4, 8, 16), np.float32)[..., ::2], w, None, *geometry)
    with pytest.raises(TypeError, match="grad_output has dtype float64"):
        fastcnn._C.conv2d_backward_weight(np.zeros((2, 8, 6, 6)), x, w, *geometry, True)


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_conv2d_under_each_isa(isa):
    """The lower kernel sets (packed, rows, dots and depthwise micro-kernels), forced by
    FASTCNN_ISA in a fresh process, give the reference's output and gradients on every
    algorithm path: 5 channels of 30 x 36 (dot-product weight gradients, long enough), 6 channels
    of 9 x 14 (pixel-major weight gradients), 20 channels of 64 x 80 (windows by stride phase),
    64 channels of 11 x 11 (Winograd F(2x2, 3x3), whose tile transforms are per-ISA kernels) and a
    4x4 stride-2 kernel of 36 -> 64 channels (Winograd F(2x2, 2x2) forward and both gradients;
    two threads, as its forward wants an image per thread)."""
    script = (
        "import numpy as np, fastcnn, fastcnn.nn.functional as F, reference\n"
        "from checks import run_with_grad\n"
        "fastcnn.set_num_threads(2)\n"
        "rng = np.random.default_rng(0)\n"
        "for batch, channels, height, width, out_channels, size, stride, padding, groups in (\n"
        "        (1, 5, 30, 36, 7, 3, 2, 1, 1), (1, 5, 30, 36, 7, 3, 1, 1, 1), (1, 5, 30, 36, 7, 1, 1, 0, 1),\n"
        "        (1, 5, 30, 36, 10, 3, 1, 1, 5), (1, 5, 30, 36, 10, 3, 2, 1, 5), (2, 6, 9, 14, 7, 3, 1, 1, 1),\n"
        "        (2, 6, 9, 14, 7, 3, 2, 1, 1), (1, 20, 64, 80, 2, 3, 1, 1, 1), (2, 64, 11, 11, 64, 3, 1, 1, 1),\n"
        "        (4, 36, 32, 33, 64, 4, 2, 1, 1)):\n"
        "    x = rng.standard_normal((batch, channels, height, width))\n"
        "    kernel = rng.standard_normal((out_channels, channels // groups, size, size))\n"
        "    bias = rng.standard_normal(out_channels)\n"
        "    expected = None\n"
        "    for dtype, tol in ((np.float64, 1e-10), (np.float32, 2e-4)):\n"
        "        out, grads, g = run_with_grad(lambda *t: F.conv2d(*t, stride=stride, padding=padding, groups=groups),"
        " [x, kernel, bias], dtype=dtype)\n"
        "        if expected is None:\n"
        "            expected, expected_grads = reference.conv2d(x, kernel, bias, g, stride=(stride, stride),"
        " padding=(padding,) * 4, groups=groups)\n"
        "        for ours, theirs in zip([out] + grads, [expected] + list(expected_grads)):\n"
        "            np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)\n"
    )
    run_under_isa(isa, script)


@pytest.mark.parametrize("op, weight_shape", [("conv2d", (6, 2, 3, 3)), ("conv_transpose2d", (4, 3, 3, 3))])
def test_unbatched_input_runs_as_a_batch_of_one(op, weight_shape):
    """As torch: a (C, H, W) image gives a (K, P, Q) output, the batch-1 result, with gradients."""
    rng = np.random.default_rng(0)
    image, weight = rng.standard_normal((4, 7, 5)), rng.standard_normal(weight_shape)
    options = {"stride": 2, "padding": 1, "groups": 2}
    function = getattr(F, op)
    output, grads, _ = run_with_grad(lambda x, w: function(x, w, **options), [image, weight], dtype=np.float64)
    batched, batched_grads, _ = run_with_grad(lambda x, w: function(x, w, **options), [image[None], weight],
                                              dtype=np.float64)
    np.testing.assert_allclose(output, batched[0], rtol=1e-12)
    np.testing.assert_allclose(grads[0], batched_grads[0][0], rtol=1e-12)
    np.testing.assert_allclose(grads[1], batched_grads[1], rtol=1e-12)
