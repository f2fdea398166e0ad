import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
from checks import check_gradients


def _input(shape, seed=0, dtype=np.float32):
    """Values in [1, 2): a zero in the output can only come from the mask."""
    return fastcnn.tensor(np.random.default_rng(seed).uniform(1, 2, size=shape), dtype=dtype, requires_grad=True)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_statistics_and_scaling(p):
    fastcnn.manual_seed(0)
    x = _input((200, 500))
    out = F.dropout(x, p).detach().numpy()
    dropped = out == 0
    # 1e5 draws: the standard deviation of the fraction is at most 0.0016, so 0.01 is > 6 sigma.
    assert abs(dropped.mean() - p) < 0.01
    np.testing.assert_allclose(out[~dropped], x.detach().numpy()[~dropped] / (1 - p), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_gradient_is_mask_times_scale(dtype):
    fastcnn.manual_seed(1)
    x = _input((3, 4, 5, 6), dtype=dtype)
    out = F.dropout(x, 0.3)
    upstream = np.random.default_rng(2).standard_normal(out.shape).astype(dtype)
    out.backward(fastcnn.tensor(upstream))
    mask = out.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), upstream * mask / dtype(0.7), rtol=1e-6)


def test_dropout_finite_differences():
    def function(x):
        fastcnn.manual_seed(3)  # the same mask for every perturbed evaluation
        return F.dropout2d(F.dropout(x, 0.4), 0.3)
    check_gradients(function, [np.random.default_rng(4).standard_normal((2, 3, 4, 5))])


def test_manual_seed_makes_dropout_reproducible():
    x = _input((50, 40))
    fastcnn.manual_seed(7)
    first, second = F.dropout(x).detach().numpy(), F.dropout(x).detach().numpy()
    fastcnn.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(x).detach().numpy(), first)
    np.testing.assert_array_equal(F.dropout(x).detach().numpy(), second)
    assert not np.array_equal(first, second)


def test_dropout_identity_and_all_zero_cases():
    x = _input((4, 5))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    planes = x.reshape(1, 4, 5)
    assert F.dropout2d(planes, 0.5, training=False) is planes
    out = F.dropout(x, 1.0)
    np.testing.assert_array_equal(out.detach().numpy(), 0)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)


@pytest.mark.parametrize("shape", [(8, 30, 3, 4), (40, 2, 5)])
def test_dropout2d_drops_whole_channels(shape):
    fastcnn.manual_seed(5)
    x = _input(shape)
    out = F.dropout2d(x, 0.4).detach().numpy()
    planes = out.reshape(-1, shape[-2] * shape[-1])
    dropped = (planes == 0).all(axis=1)
    assert ((planes != 0).all(axis=1) | dropped).all()
    # 240 or 40 planes: 0.4 +- 0.25 is > 3 standard deviations even for 40 draws, and the seed is fixed.
    assert abs(dropped.mean() - 0.4) < 0.25
    np.testing.assert_allclose(planes[~dropped], x.detach().numpy().reshape(planes.shape)[~dropped] / 0.6,
                               rtol=1e-6)


def test_dropout_matches_torch_in_scale_rate_and_eval():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    fastcnn.manual_seed(8)
    x = np.random.default_rng(6).uniform(1, 2, size=(64, 64)).astype(np.float32)
    ours = F.dropout(fastcnn.tensor(x), 0.3).numpy()
    theirs = torch.nn.functional.dropout(torch.tensor(x), 0.3).numpy()
    kept, torch_kept = ours != 0, theirs != 0
    np.testing.assert_allclose(ours[kept] / x[kept], np.median(theirs[torch_kept] / x[torch_kept]), rtol=1e-6)
    # 4096 draws each: the rates differ by far less than 0.04 (about 4 standard deviations).
    assert abs(kept.mean() - torch_kept.mean()) < 0.04
    np.testing.assert_array_equal(F.dropout(fastcnn.tensor(x), 0.3, training=False).numpy(),
                                  torch.nn.functional.dropout(torch.tensor(x), 0.3, training=False).numpy())


@pytest.mark.parametrize("call, error, match", [
    (lambda x: F.dropout(x, 1.5), ValueError, "dropout: dropout probability has to be between 0 and 1"),
    (lambda x: F.dropout(x, -0.1), ValueError, "dropout: dropout probability"),
    (lambda x: F.dropout2d(x[0], 0.5), ValueError, "dropout2d: input must be 3-D"),
    (lambda x: F.dropout(x.long(), 0.5), TypeError, "dropout: input must be float32 or float64"),
    (lambda x: F.dropout(x.data, 0.5), TypeError, "dropout: input must be a Tensor"),
])
def test_dropout_rejects_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(fastcnn.ones(3, 4))


def test_native_dropout_validates_its_arguments():
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\]"):
        fastcnn._C.dropout_forward(np.ones(4, np.float32), 2.0, 0, False)
    with pytest.raises(ValueError, match="dropout2d: grad_output must be 3-D or 4-D"):
        fastcnn._C.dropout_backward(np.ones(4, np.float32), 0.5, 0, True)
