"""The same-shape binary kernel (csrc/cpu/elementwise.cpp) called directly: every op and dtype
against NumPy, and its argument checks. The autograd paths that reach it, and those that fall
back to NumPy, are in test_tensor_ops.py."""
import numpy as np
import pytest

from fastcnn import _C
from checks import run_under_isa

rng = np.random.default_rng(0)
UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply}


@pytest.mark.parametrize("name", sorted(UFUNCS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7, 3), (2, 16, 33, 65), (1, 1, 257, 263)])
def test_matches_numpy(name, dtype, shape):
    a = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape).astype(dtype)
    out = _C.binary_forward(name, a, b)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out, UFUNCS[name](a, b))


@pytest.mark.parametrize("a, b, error, match", [
    (np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), ValueError, r"add: b must have shape \(2, 3\)"),
    (np.ones((2, 3), np.float32), np.ones((2, 3), np.float64), TypeError, "add: b has dtype float64"),
    (np.ones((2, 3), np.int64), np.ones((2, 3), np.int64), TypeError, "add: a"),
    (np.ones((4, 3), np.float32)[::2], np.ones((2, 3), np.float32), ValueError, "add: a"),
])
def test_bad_arguments_raise(a, b, error, match):
    with pytest.raises(error, match=match):
        _C.binary_forward("add", a, b)


def test_unknown_op_raises():
    with pytest.raises(ValueError, match="unknown binary op 'div'"):
        _C.binary_forward("div", np.ones(3), np.ones(3))


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_each_isa_matches_numpy_exactly(isa):
    """Each kernel set (forced by FASTCNN_ISA in a fresh process) gives NumPy's values bit for bit,
    on sizes that split across two threads at uneven points."""
    run_under_isa(isa, (
        "import numpy as np, fastcnn\n"
        "from fastcnn import _C\n"
        "fastcnn.set_num_threads(2)\n"
        "rng = np.random.default_rng(1)\n"
        "for size in (3, 4099, 65537, 200003):\n"
        "    for dtype in (np.float32, np.float64):\n"
        "        a, b = (rng.standard_normal(size).astype(dtype) for _ in range(2))\n"
        "        for name, ufunc in (('add', np.add), ('sub', np.subtract), ('mul', np.multiply)):\n"
        "            np.testing.assert_array_equal(_C.binary_forward(name, a, b), ufunc(a, b), err_msg=name)\n"
    ))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (5, 7), (2, 16, 33, 65)])
def test_add_into_adds_in_place(dtype, shape):
    total = rng.standard_normal(shape).astype(dtype)
    addend = rng.standard_normal(shape).astype(dtype)
    expected = total + addend
    buffer = total.ctypes.data
    assert _C.add_into(total, addend) is None
    assert total.ctypes.data == buffer
    np.testing.assert_array_equal(total, expected)


@pytest.mark.parametrize("total, addend, error, match", [
    (np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), ValueError,
     r"add_into: addend must have shape \(2, 3\)"),
    (np.ones((2, 3), np.float32), np.ones((2, 3), np.float64), TypeError, "add_into: addend has dtype float64"),
    (np.ones((2, 3), np.int64), np.ones((2, 3), np.int64), TypeError, "add_into: total"),
    (np.ones((4, 3), np.float32)[::2], np.ones((2, 3), np.float32), ValueError, "add_into: total"),
    (np.broadcast_to(np.ones(3, np.float32), (2, 3)), np.ones((2, 3), np.float32), ValueError, "add_into: total"),
])
def test_add_into_bad_arguments_raise(total, addend, error, match):
    with pytest.raises(error, match=match):
        _C.add_into(total, addend)


def test_add_into_refuses_a_read_only_total():
    total = np.ones((2, 3), np.float32)
    total.flags.writeable = False
    with pytest.raises(ValueError, match="add_into: total must be writeable"):
        _C.add_into(total, np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(total, 1)
