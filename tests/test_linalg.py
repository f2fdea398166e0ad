import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
from checks import check_gradients, run_under_isa, run_with_grad, torch_parity
import reference

# Sizes around the micro-kernel tiles (8 x 48 on AVX-512, 6 x 16 on AVX2, 4 x 16 generic) and
# the 192-deep cache block, so full tiles, edge tiles and several depth blocks all run. The last
# is large enough to run on every thread, each with a share of columns cut off a panel boundary
# and packed in several column blocks. Fewer rows than an A panel with a transposed B (a linear
# layer at batch 1) take dot products instead, over one or several depth chunks (1024, 2100).
EDGE_SIZES = [1, 7, 17, 33, 65]
GEMM_SHAPES = [(m, n, k) for m in EDGE_SIZES for n in (1, 17, 65) for k in (1, 33)] + [
    (13, 33, 200), (100, 70, 400), (25, 97, 193), (40, 1500, 1100), (1, 10, 1024), (3, 17, 2100)]


@pytest.mark.parametrize("m, n, k", GEMM_SHAPES)
@pytest.mark.parametrize("transpose_a, transpose_b", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_matches_reference(m, n, k, transpose_a, transpose_b):
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    expected = reference.matmul_2d(a, b)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-4)):
        stored_a = np.ascontiguousarray(a.T if transpose_a else a, dtype=dtype)[None]
        stored_b = np.ascontiguousarray(b.T if transpose_b else b, dtype=dtype)[None]
        out = fastcnn._C.bmm(stored_a, stored_b, transpose_a, transpose_b)[0]
        np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * np.sqrt(k))


def test_gemm_batched_broadcasts_a_batch_of_one():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((1, 9, 20)), rng.standard_normal((5, 20, 35))
    out = fastcnn._C.bmm(a, b, False, False)
    np.testing.assert_allclose(out, np.stack([reference.matmul_2d(a[0], b[i]) for i in range(5)]), rtol=1e-12)


# (shape of input, shape of other): 1-D, 2-D, batched and broadcast batch dims.
MATMUL_SHAPES = [
    ((5,), (5,)), ((5,), (5, 3)), ((4, 5), (5,)), ((4, 5), (5, 3)), ((2, 4, 5), (2, 5, 3)),
    ((2, 1, 4, 5), (3, 5, 6)), ((3, 4, 5), (5, 2)), ((7,), (2, 7, 3)), ((1, 33), (33, 17)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES)
def test_matmul_matches_numpy_and_finite_differences(shapes):
    rng = np.random.default_rng(len(shapes[0]) * 10 + len(shapes[1]))
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    output, (grad_a, grad_b), grad_output = run_with_grad(fastcnn.matmul, [a, b], dtype=np.float64)
    np.testing.assert_allclose(output, np.matmul(a, b), rtol=1e-12, atol=1e-12)
    check_gradients(fastcnn.matmul, [a, b], max_points=15)


@pytest.mark.parametrize("shapes", MATMUL_SHAPES)
def test_matmul_matches_torch(shapes):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    torch_parity(lambda a, b: a @ b, torch.matmul, inputs, atol=1e-5, rtol=1e-5)


def test_matmul_through_transposes():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((19, 7)).astype(np.float32), rng.standard_normal((33, 19)).astype(np.float32)
    torch_parity(lambda x, y: x.T @ y.T, lambda x, y: x.T @ y.T, [a, b], atol=1e-5, rtol=1e-5)
    check_gradients(lambda x, y: x.T @ y.T, [a.astype(np.float64)[:5, :3], b.astype(np.float64)[:4, :5]])


@pytest.mark.parametrize("input_shape", [(4, 6), (2, 3, 6), (1, 6), (6,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear(input_shape, with_bias):
    rng = np.random.default_rng(3)
    x, weight, bias = rng.standard_normal(input_shape), rng.standard_normal((5, 6)), rng.standard_normal(5)
    inputs = [x, weight, bias] if with_bias else [x, weight]
    output, grads, grad_output = run_with_grad(F.linear, inputs, dtype=np.float64)
    np.testing.assert_allclose(output, x @ weight.T + (bias if with_bias else 0), rtol=1e-12, atol=1e-12)
    rows = grad_output.reshape(-1, 5)
    np.testing.assert_allclose(grads[0], (rows @ weight).reshape(input_shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[1], rows.T @ x.reshape(-1, 6), rtol=1e-12, atol=1e-12)
    if with_bias:
        np.testing.assert_allclose(grads[2], rows.sum(axis=0), rtol=1e-12, atol=1e-12)
    check_gradients(F.linear, inputs, max_points=15)
    torch = pytest.importorskip("torch")
    torch_parity(F.linear, torch.nn.functional.linear, [v.astype(np.float32) for v in inputs], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("args, error, message", [
    ((fastcnn.randn(3, 4), fastcnn.randn(5, 2)), ValueError, "matmul: inner dimensions differ: 4 vs 5"),
    ((fastcnn.randn(2, 3, 4), fastcnn.randn(3, 4, 2)), ValueError, "batch dimensions do not broadcast"),
    ((fastcnn.randn(3, 4), fastcnn.randn(4, 2, dtype=fastcnn.float64)), TypeError, "other has dtype float64"),
])
def test_matmul_rejects_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        fastcnn.matmul(*args)


def test_bmm_entry_point_validates():
    with pytest.raises(ValueError, match="matmul: inner dimensions differ"):
        fastcnn._C.bmm(np.zeros((1, 3, 4), np.float32), np.zeros((1, 5, 2), np.float32), False, False)
    with pytest.raises(ValueError, match="do not broadcast"):
        fastcnn._C.bmm(np.zeros((2, 3, 4), np.float32), np.zeros((3, 4, 2), np.float32), False, False)


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_gemm_under_each_isa(isa):
    """Each kernel set, forced by FASTCNN_ISA in a fresh process, passes the edge-shape checks."""
    script = (
        "import numpy as np, fastcnn, reference\n"
        "rng = np.random.default_rng(0)\n"
        "for m, n, k in [(1, 1, 1), (7, 17, 33), (17, 65, 7), (65, 33, 200), (13, 7, 1), (3, 17, 2100)]:\n"
        "    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))\n"
        "    for ta in (False, True):\n"
        "        for tb in (False, True):\n"
        "            sa = np.ascontiguousarray(a.T if ta else a)[None]\n"
        "            sb = np.ascontiguousarray(b.T if tb else b)[None]\n"
        "            expected = reference.matmul_2d(a, b)\n"
        "            np.testing.assert_allclose(fastcnn._C.bmm(sa, sb, ta, tb)[0], expected, rtol=1e-12, atol=1e-12)\n"
        "            out = fastcnn._C.bmm(sa.astype(np.float32), sb.astype(np.float32), ta, tb)[0]\n"
        "            np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.sqrt(k))\n"
    )
    run_under_isa(isa, script)


# Stride-1 convolutions run on gemm_rows, whose tiles may start at any column: planes of 8 x 8
# (64 = 48 + 16 columns), 7 x 7 (49 = 48 + 1) and 14 x 14 (196 = 4 x 48 + 4) end in a narrow
# panel that the AVX-512 driver merges with the one before it. Output channels off the 8-row
# panels take the bottom-edge scratch tile as well, and 64 input channels (depth 576) split the
# product into two depth blocks that accumulate into C.
@pytest.mark.parametrize("channels_in, channels_out, size", [(3, 5, 8), (64, 16, 8), (8, 13, 7), (4, 8, 14)])
def test_row_gemm_edge_columns_through_convolution(channels_in, channels_out, size):
    rng = np.random.default_rng(channels_in * 100 + size)
    x = rng.standard_normal((2, channels_in, size, size))
    weight, bias = rng.standard_normal((channels_out, channels_in, 3, 3)), rng.standard_normal(channels_out)
    output, grads, grad_output = run_with_grad(lambda a, w, b: F.conv2d(a, w, b, padding=1), [x, weight, bias])
    expected, expected_grads = reference.conv2d(x, weight, bias, grad_output, padding=(1, 1, 1, 1))
    tol = 1e-4 * np.sqrt(channels_in * 9)
    np.testing.assert_allclose(output, expected, rtol=tol, atol=tol)
    for grad, expected_grad in zip(grads, expected_grads):
        np.testing.assert_allclose(grad, expected_grad, rtol=tol, atol=tol * np.sqrt(2 * size * size))
