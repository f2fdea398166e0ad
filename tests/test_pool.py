import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
import reference
from checks import check_gradients, run_with_grad, torch_parity

# (input shape, kernel_size, stride, padding, dilation, ceil_mode): batch 1, 3-D inputs, odd and
# non-square sizes, stride != kernel, padding, dilation, ceil_mode windows that overhang.
MAX_CASES = [
    ((1, 1, 5, 5), 2, None, 0, 1, False),
    ((2, 3, 7, 6), 3, 2, 1, 1, True),
    ((1, 2, 9, 8), (3, 2), (2, 1), (1, 0), (2, 1), False),
    ((2, 2, 8, 11), (2, 3), (3, 2), (1, 1), 1, True),
    ((3, 6, 5), 2, 1, 1, 1, False),
    ((1, 1, 6, 7), 3, 2, 1, 2, True),
    # 2x2 stride 2 without padding takes its own row-pair loop (odd sizes drop the last row/column);
    # with ceil_mode an odd size overhangs and takes the general one.
    ((2, 3, 8, 6), 2, 2, 0, 1, False),
    ((1, 2, 7, 9), 2, None, 0, 1, False),
    ((1, 2, 7, 9), 2, None, 0, 1, True),
]
# (input shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CASES = [
    ((1, 1, 5, 5), 2, None, 0, False, True, None),
    ((2, 3, 7, 6), 3, 2, 1, True, True, None),
    ((2, 3, 7, 6), 3, 2, 1, True, False, None),
    ((1, 2, 9, 8), (3, 2), (2, 1), (1, 0), False, False, None),
    ((2, 2, 8, 11), (2, 3), (3, 2), (1, 1), True, True, 5),
    ((3, 6, 5), 2, 1, 1, False, False, None),
    # Windows that tile the input exactly take the backward's one-write path: 2x2 (its own loop),
    # 3x3 with a divisor, and a non-square (2, 3) window on an unbatched input.
    ((1, 1, 4, 6), 2, None, 0, False, True, None),
    ((2, 3, 6, 9), 3, None, 0, False, True, 4),
    ((3, 4, 6), (2, 3), None, 0, False, False, None),
    # 2x2 stride 2 inside the input takes the forward's pairwise loop, with a divisor too.
    ((2, 3, 6, 9), 2, 2, 0, False, True, 3),
]
# (input shape, output_size): sizes that do not divide the input, None entries, upsampling, global.
ADAPTIVE_CASES = [((2, 3, 7, 7), 3), ((1, 2, 5, 5), (2, 4)), ((2, 2, 6, 9), (None, 4)), ((3, 5, 4), (7, 2)),
                  ((1, 1, 8, 8), 1)]


def _distinct(shape, seed=0):
    """Values at least 0.05 apart, so no window has a tie within a finite-difference step."""
    size = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(size) * 0.05 - size * 0.025).reshape(shape)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _max(case):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    return lambda x: F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)


def _avg(case):
    shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor = case
    return lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor)


@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool_matches_reference(case):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    x = np.random.default_rng(1).standard_normal(shape)
    output, (grad,), weights = run_with_grad(_max(case), [x], dtype=np.float64)
    expected, indices = reference.max_pool2d(x, _pair(kernel), _pair(stride or kernel), _pair(padding),
                                             _pair(dilation), ceil_mode)
    np.testing.assert_array_equal(output, expected)
    np.testing.assert_allclose(grad, reference.max_pool2d_backward(weights, indices, x.shape), atol=1e-14)
    _, returned = F.max_pool2d(fastcnn.tensor(x), kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(returned.numpy(), indices)


@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool_finite_differences(case):
    check_gradients(_max(case), [_distinct(case[0])])


@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool_matches_torch(case):
    torch = pytest.importorskip("torch")
    shape, kernel, stride, padding, dilation, ceil_mode = case
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    torch_parity(_max(case), lambda t: torch.nn.functional.max_pool2d(t, kernel, stride, padding, dilation, ceil_mode),
                 [x], atol=0, rtol=0)
    _, ours = F.max_pool2d(fastcnn.tensor(x), kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    _, theirs = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, stride, padding, dilation, ceil_mode, True)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_max_pool_ties_nan_and_infinite_windows_match_torch():
    torch = pytest.importorskip("torch")
    x = np.zeros((1, 2, 4, 5), np.float32)
    x[0, 1] = -np.inf
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 2:4, 2:4] = 5.0  # a tied window
    x[0, 0, 0, 3] = np.nan
    for args in [(2, 1, 1), (3, 2, 1), (2, 2, 0)]:
        out, indices = F.max_pool2d(fastcnn.tensor(x), *args, return_indices=True)
        expected, expected_indices = torch.nn.functional.max_pool2d(torch.tensor(x), *args, return_indices=True)
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
        np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())


@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool_matches_reference(case):
    shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor = case
    x = np.random.default_rng(3).standard_normal(shape)
    output, (grad,), weights = run_with_grad(_avg(case), [x], dtype=np.float64)
    expected, backward = reference.avg_pool2d(x, _pair(kernel), _pair(stride or kernel), _pair(padding), ceil_mode,
                                              count_include_pad, divisor)
    np.testing.assert_allclose(output, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, backward(weights), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool_finite_differences(case):
    check_gradients(_avg(case), [np.random.default_rng(4).standard_normal(case[0])])


@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool_matches_torch(case):
    torch = pytest.importorskip("torch")
    shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor = case
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    torch_parity(_avg(case), lambda t: torch.nn.functional.avg_pool2d(t, kernel, stride, padding, ceil_mode,
                                                                      count_include_pad, divisor),
                 [x], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("shape, output_size", ADAPTIVE_CASES)
def test_adaptive_pool_matches_reference_and_finite_differences(mode, shape, output_size):
    function = F.adaptive_avg_pool2d if mode == "avg" else F.adaptive_max_pool2d
    x = _distinct(shape, seed=6)
    output, (grad,), weights = run_with_grad(lambda t: function(t, output_size), [x], dtype=np.float64)
    sizes = tuple(shape[-2 + i] if s is None else s for i, s in enumerate(_pair(output_size)))
    expected, backward = reference.adaptive_pool2d(x, sizes, mode)
    np.testing.assert_allclose(output, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, backward(weights), rtol=1e-12, atol=1e-12)
    check_gradients(lambda t: function(t, output_size), [x], max_points=30)


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("shape, output_size", ADAPTIVE_CASES)
def test_adaptive_pool_matches_torch(mode, shape, output_size):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    ours = F.adaptive_avg_pool2d if mode == "avg" else F.adaptive_max_pool2d
    theirs = getattr(torch.nn.functional, f"adaptive_{mode}_pool2d")
    torch_parity(lambda t: ours(t, output_size), lambda t: theirs(t, output_size), [x], atol=1e-6, rtol=1e-5)
    if mode == "max":
        _, indices = F.adaptive_max_pool2d(fastcnn.tensor(x), output_size, return_indices=True)
        np.testing.assert_array_equal(indices.numpy(), theirs(torch.tensor(x), output_size, True)[1].numpy())


@pytest.mark.parametrize("call, error, match", [
    (lambda x: F.max_pool2d(x, 5), ValueError, "max_pool2d: kernel_size .* is larger than the padded input"),
    (lambda x: F.avg_pool2d(x, (2, 4), padding=(1, 0)), ValueError, "avg_pool2d: kernel_size .* larger than"),
    (lambda x: F.max_pool2d(x, 2, stride=0), ValueError, "max_pool2d: stride must be positive, got 0"),
    (lambda x: F.avg_pool2d(x, 2, stride=-1), ValueError, "avg_pool2d: stride must be positive"),
    (lambda x: F.max_pool2d(x, 0), ValueError, "max_pool2d: kernel_size must be positive"),
    (lambda x: F.max_pool2d(x, 2, dilation=0), ValueError, "max_pool2d: dilation must be positive"),
    (lambda x: F.max_pool2d(x, 3, padding=2), ValueError, r"max_pool2d: padding \(2, 2\) must be at most half"),
    (lambda x: F.avg_pool2d(x, 2, padding=-1), ValueError, "avg_pool2d: padding must be non-negative"),
    (lambda x: F.max_pool2d(x[0, 0], 2), ValueError, "max_pool2d: input must be 3-D .* or 4-D"),
    (lambda x: F.adaptive_avg_pool2d(x.reshape(1, 1, 1, 3, 3), 2), ValueError, "adaptive_avg_pool2d: input must"),
    (lambda x: F.avg_pool2d(x.long(), 2), TypeError, "avg_pool2d: input must be float32 or float64"),
    (lambda x: F.adaptive_max_pool2d(x, 0), ValueError, "adaptive_max_pool2d: output_size must be positive"),
    (lambda x: F.adaptive_avg_pool2d(x, (1, 2, 3)), TypeError, "adaptive_avg_pool2d: output_size"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), ValueError, "avg_pool2d: divisor_override"),
    (lambda x: F.max_pool2d(x, 2.5), TypeError, "max_pool2d: kernel_size must be an int or a pair"),
    (lambda x: F.max_pool2d(x, 2**40, padding=2**39), ValueError, "max_pool2d: window arguments must be below"),
])
def test_pool_rejects_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(fastcnn.zeros(1, 1, 3, 3))


def test_native_pool_entries_validate_their_arguments():
    C = fastcnn._C
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="max_pool2d: input is empty"):
        C.max_pool2d_forward(np.zeros((0, 1, 4, 4), np.float32), (2, 2), (2, 2), (0, 0), (1, 1), False, True)
    with pytest.raises(ValueError, match="max_pool2d: input must be C-contiguous"):
        C.max_pool2d_forward(np.zeros((1, 1, 4, 8), np.float32)[..., ::2], (2, 2), (2, 2), (0, 0), (1, 1), False,
                             True)
    with pytest.raises(ValueError, match="max_pool2d_backward: indices must have shape"):
        C.max_pool2d_backward(np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 3), np.int64), [1, 1, 4, 4])
    with pytest.raises(TypeError, match="max_pool2d_backward: indices must be int64"):
        C.max_pool2d_backward(np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 2), np.int32), [1, 1, 4, 4])
    with pytest.raises(ValueError, match="avg_pool2d_backward: grad_output must have shape"):
        C.avg_pool2d_backward(x, [1, 1, 4, 4], (2, 2), (2, 2), (0, 0), False, True, None)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d_backward: input_shape must be 3-D or 4-D"):
        C.adaptive_avg_pool2d_backward(x, [4, 4])
    # Indices out of the plane (a forged array) are ignored, never written through.
    grad = C.max_pool2d_backward(np.ones((1, 1, 2, 2), np.float32),
                                 np.array([-5, 3, 16, 10**12], np.int64).reshape(1, 1, 2, 2), [1, 1, 4, 4])
    np.testing.assert_array_equal(grad.reshape(-1), np.eye(16, dtype=np.float32)[3])


def test_max_pool_skips_indices_without_grad_and_float32_matches_float64():
    x = np.random.default_rng(8).standard_normal((2, 3, 9, 9))
    with fastcnn.no_grad():
        inference = F.max_pool2d(fastcnn.tensor(x, dtype=np.float32), 3, 2, 1).numpy()
    np.testing.assert_array_equal(inference, F.max_pool2d(fastcnn.tensor(x), 3, 2, 1).numpy().astype(np.float32))
