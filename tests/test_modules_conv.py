"""The layer modules that compose the convolution, pooling, normalisation, dropout, softmax and
loss ops: against torch.nn's modules with copied weights (outputs, input and parameter
gradients, running statistics), plus the behaviour only the module layer owns (modes,
output_size, buffers)."""
import numpy as np
import pytest

import fastcnn
import fastcnn.nn as nn
from fastcnn.models import digits_cnn

torch = pytest.importorskip("torch")
tnn = torch.nn

ATOL, RTOL = 1e-4, 1e-4


def _inputs(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _run_pair(ours, theirs, x, extra=(), copy_weights=True):
    """Same input through both modules; backpropagates fixed random output weights. Returns
    ((output, input grad, parameter grads) for ours, the same for theirs)."""
    if copy_weights:
        ours.load_state_dict(theirs.state_dict())
    ours_x = fastcnn.tensor(x, requires_grad=True)
    theirs_x = torch.tensor(x, requires_grad=True)
    ours_out = ours(ours_x, *[fastcnn.tensor(e) for e in extra])
    theirs_out = theirs(theirs_x, *[torch.tensor(e) for e in extra])
    weights = np.random.default_rng(99).standard_normal(tuple(theirs_out.shape)).astype(np.float32)
    ours_out.backward(fastcnn.tensor(weights))
    theirs_out.backward(torch.tensor(weights))
    ours_grads = {name: p.grad.numpy() for name, p in ours.named_parameters()}
    theirs_grads = {name: p.grad.numpy() for name, p in theirs.named_parameters()}
    return ((ours_out.detach().numpy(), ours_x.grad.numpy(), ours_grads),
            (theirs_out.detach().numpy(), theirs_x.grad.numpy(), theirs_grads))


def _assert_pair(ours, theirs, x, extra=(), atol=ATOL, rtol=RTOL):
    (out, grad, params), (t_out, t_grad, t_params) = _run_pair(ours, theirs, x, extra)
    np.testing.assert_allclose(out, t_out, atol=atol, rtol=rtol)
    np.testing.assert_allclose(grad, t_grad, atol=atol, rtol=rtol)
    assert params.keys() == t_params.keys()
    for name in params:
        np.testing.assert_allclose(params[name], t_params[name], atol=atol, rtol=rtol, err_msg=name)


CONV_CASES = [
    ((1, 3, 7, 9), dict(in_channels=3, out_channels=5, kernel_size=3)),
    ((2, 4, 8, 8), dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, groups=2)),
    ((2, 3, 9, 6), dict(in_channels=3, out_channels=4, kernel_size=(3, 2), padding="same", dilation=2, bias=False)),
    ((3, 2, 6, 7), dict(in_channels=2, out_channels=3, kernel_size=2, padding="valid")),
    ((2, 6, 5, 5), dict(in_channels=6, out_channels=6, kernel_size=3, padding=(1, 2), groups=6)),
    ((2, 8, 4, 4), dict(in_channels=8, out_channels=4, kernel_size=1)),
]


@pytest.mark.parametrize("shape, arguments", CONV_CASES)
def test_conv2d_matches_torch(shape, arguments):
    _assert_pair(nn.Conv2d(**arguments), tnn.Conv2d(**arguments), _inputs(shape))


TRANSPOSE_CASES = [
    ((1, 3, 4, 5), dict(in_channels=3, out_channels=2, kernel_size=3)),
    ((2, 4, 5, 4), dict(in_channels=4, out_channels=6, kernel_size=4, stride=2, padding=1, groups=2)),
    ((2, 2, 3, 3), dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, output_padding=1, bias=False)),
    ((2, 3, 4, 4), dict(in_channels=3, out_channels=3, kernel_size=(2, 3), stride=(1, 2), dilation=2, padding=1)),
]


@pytest.mark.parametrize("shape, arguments", TRANSPOSE_CASES)
def test_conv_transpose2d_matches_torch(shape, arguments):
    _assert_pair(nn.ConvTranspose2d(**arguments), tnn.ConvTranspose2d(**arguments), _inputs(shape))


@pytest.mark.parametrize("output_size", [(9, 9), (10, 10), (1, 4, 10, 9)])
def test_conv_transpose2d_output_size_picks_output_padding(output_size):
    ours, theirs = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1), tnn.ConvTranspose2d(4, 4, 3, stride=2, padding=1)
    ours.load_state_dict(theirs.state_dict())
    x = _inputs((1, 4, 5, 5))
    expected = theirs(torch.tensor(x), output_size=output_size).detach().numpy()
    np.testing.assert_allclose(ours(fastcnn.tensor(x), output_size=output_size).detach().numpy(), expected,
                               atol=ATOL, rtol=RTOL)


def test_conv_transpose2d_output_size_out_of_range_raises():
    with pytest.raises(ValueError, match="valid sizes range from 9 to 10"):
        nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1)(fastcnn.randn(1, 4, 5, 5), output_size=(11, 11))


POOL_CASES = [
    ((2, 3, 7, 8), lambda m: m.MaxPool2d(2)),
    ((1, 2, 9, 9), lambda m: m.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 7, 8), lambda m: m.MaxPool2d((2, 3), stride=(1, 2), dilation=2)),
    ((2, 3, 7, 8), lambda m: m.AvgPool2d(2)),
    ((1, 2, 9, 7), lambda m: m.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)),
    ((2, 3, 7, 8), lambda m: m.AdaptiveAvgPool2d((3, 2))),
    ((2, 3, 7, 8), lambda m: m.AdaptiveAvgPool2d(1)),
    ((2, 3, 7, 8), lambda m: m.AdaptiveMaxPool2d((2, 5))),
]


@pytest.mark.parametrize("shape, make", POOL_CASES)
def test_pooling_matches_torch(shape, make):
    _assert_pair(make(nn), make(tnn), _inputs(shape))


@pytest.mark.parametrize("make", [lambda m: m.MaxPool2d(2, return_indices=True),
                                  lambda m: m.AdaptiveMaxPool2d(2, return_indices=True)])
def test_max_pooling_returns_torchs_indices(make):
    x = _inputs((2, 3, 6, 6))
    values, indices = make(nn)(fastcnn.tensor(x))
    t_values, t_indices = make(tnn)(torch.tensor(x))
    np.testing.assert_array_equal(values.numpy(), t_values.numpy())
    np.testing.assert_array_equal(indices.numpy(), t_indices.numpy())


BATCH_NORM_CASES = [
    ((4, 3, 5, 6), lambda m: m.BatchNorm2d(3)),
    ((1, 3, 4, 4), lambda m: m.BatchNorm2d(3, momentum=None)),
    ((5, 4, 3, 3), lambda m: m.BatchNorm2d(4, eps=1e-3, momentum=0.3, affine=False)),
    ((6, 4), lambda m: m.BatchNorm1d(4)),
    ((3, 4, 7), lambda m: m.BatchNorm1d(4, momentum=None)),
    ((4, 2, 3, 3), lambda m: m.BatchNorm2d(2, track_running_stats=False)),
]


@pytest.mark.parametrize("shape, make", BATCH_NORM_CASES)
def test_batch_norm_training_steps_and_eval_match_torch(shape, make):
    ours, theirs = make(nn), make(tnn)
    with torch.no_grad():
        for name, param in theirs.named_parameters():
            param.copy_(torch.rand_like(param) + 0.5)
    ours.load_state_dict(theirs.state_dict())
    for step in range(3):
        x = _inputs(shape, seed=step) * (step + 1) + step
        (out, grad, params), (t_out, t_grad, t_params) = _run_pair(ours, theirs, x, copy_weights=False)
        np.testing.assert_allclose(out, t_out, atol=ATOL, rtol=RTOL)
        np.testing.assert_allclose(grad, t_grad, atol=ATOL, rtol=RTOL)
        for name in params:
            np.testing.assert_allclose(params[name], t_params[name], atol=ATOL, rtol=RTOL)
        ours.zero_grad()
        theirs.zero_grad()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), atol=1e-5, rtol=1e-5, err_msg=key)
    ours.eval()
    theirs.eval()
    _assert_pair(ours, theirs, _inputs(shape, seed=7), ())


def test_batch_norm_without_bias_matches_torch():
    _assert_pair(nn.BatchNorm2d(3, bias=False), tnn.BatchNorm2d(3, bias=False), _inputs((4, 3, 2, 2)))


def test_batch_norm_counts_batches_and_freezes_in_eval():
    layer = nn.BatchNorm2d(2)
    for _ in range(3):
        layer(fastcnn.randn(4, 2, 3, 3))
    assert layer.num_batches_tracked.item() == 3
    frozen = layer.running_mean.numpy().copy()
    layer.eval()(fastcnn.randn(4, 2, 3, 3))
    np.testing.assert_array_equal(layer.running_mean.numpy(), frozen)
    assert layer.num_batches_tracked.item() == 3


@pytest.mark.parametrize("make, shape", [(lambda: nn.BatchNorm2d(3), (4, 3, 5)), (lambda: nn.BatchNorm1d(3), (4, 3, 2, 2))])
def test_batch_norm_rejects_the_wrong_rank(make, shape):
    with pytest.raises(ValueError, match=r"expected .*D input \(got \dD input"):
        make()(fastcnn.randn(*shape))


def test_dropout_scales_survivors_in_training_and_is_the_identity_in_eval():
    fastcnn.manual_seed(0)
    layer = nn.Dropout(0.25)
    x = fastcnn.ones(200, 100)
    out = layer(x).numpy()
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(layer.eval()(x).numpy(), x.numpy())
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())


@pytest.mark.parametrize("make, shape", [(lambda m: m.Softmax(dim=1), (3, 5)), (lambda m: m.Softmax(dim=-1), (2, 3, 4)),
                                         (lambda m: m.LogSoftmax(dim=1), (2, 4, 3, 3)),
                                         (lambda m: m.LogSoftmax(dim=0), (5, 2))])
def test_softmax_modules_match_torch(make, shape):
    _assert_pair(make(nn), make(tnn), _inputs(shape) * 3)


LOSS_CASES = [
    (lambda m: m.CrossEntropyLoss(), "classes"),
    (lambda m: m.CrossEntropyLoss(reduction="sum", label_smoothing=0.1), "classes"),
    (lambda m: m.CrossEntropyLoss(weight=m_weight(m), ignore_index=2, reduction="mean"), "classes"),
    (lambda m: m.NLLLoss(reduction="none"), "classes"),
    (lambda m: m.NLLLoss(weight=m_weight(m)), "classes"),
    (lambda m: m.MSELoss(), "values"),
    (lambda m: m.MSELoss(reduction="sum"), "values"),
]


def m_weight(module):
    values = np.linspace(0.5, 2.0, 5).astype(np.float32)
    return fastcnn.tensor(values) if module is nn else torch.tensor(values)


@pytest.mark.parametrize("make, target_kind", LOSS_CASES)
def test_losses_match_torch(make, target_kind):
    x = _inputs((6, 5))
    if target_kind == "classes":
        target = np.array([0, 4, 2, 1, 3, 2], dtype=np.int64)
    else:
        target = _inputs((6, 5), seed=3)
    ours, theirs = make(nn), make(tnn)
    ours_x, theirs_x = fastcnn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours_loss, theirs_loss = ours(ours_x, fastcnn.tensor(target)), theirs(theirs_x, torch.tensor(target))
    weights = np.random.default_rng(1).standard_normal(tuple(theirs_loss.shape)).astype(np.float32)
    ours_loss.backward(fastcnn.tensor(weights))
    theirs_loss.backward(torch.tensor(weights))
    np.testing.assert_allclose(ours_loss.detach().numpy(), theirs_loss.detach().numpy(), atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), atol=ATOL, rtol=RTOL)


def test_loss_weight_is_a_buffer_that_follows_to():
    loss = nn.CrossEntropyLoss(weight=fastcnn.ones(3)).to(fastcnn.float64)
    assert list(loss.state_dict()) == ["weight"] and loss.weight.dtype == np.float64


def _torch_digits_cnn():
    from collections import OrderedDict
    return tnn.Sequential(OrderedDict([
        ("conv1", tnn.Conv2d(1, 32, 3, padding=1)), ("bn1", tnn.BatchNorm2d(32)), ("relu1", tnn.ReLU()),
        ("conv2", tnn.Conv2d(32, 64, 3, padding=1)), ("bn2", tnn.BatchNorm2d(64)), ("relu2", tnn.ReLU()),
        ("pool", tnn.MaxPool2d(2)), ("dropout", tnn.Dropout(0.25)), ("flatten", tnn.Flatten()),
        ("fc", tnn.Linear(1024, 10))]))


def test_digits_cnn_forward_and_backward_match_torch_in_eval_mode():
    ours, theirs = digits_cnn().eval(), _torch_digits_cnn().eval()
    _assert_pair(ours, theirs, _inputs((3, 1, 8, 8)))


def test_digits_cnn_training_step_matches_torch_without_dropout():
    """SGD rather than Adam: the convolution biases feed batch norm, so their gradients are
    rounding noise that Adam's normalisation would blow up to full-size steps."""
    ours, theirs = digits_cnn(dropout=0.0), _torch_digits_cnn()
    theirs.dropout.p = 0.0
    ours.load_state_dict(theirs.state_dict())
    images = _inputs((8, 1, 8, 8))
    labels = np.arange(8) % 10
    ours_optimizer = fastcnn.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    theirs_optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        ours_optimizer.zero_grad()
        theirs_optimizer.zero_grad()
        nn.CrossEntropyLoss()(ours(fastcnn.tensor(images)), fastcnn.tensor(labels)).backward()
        tnn.CrossEntropyLoss()(theirs(torch.tensor(images)), torch.tensor(labels)).backward()
        ours_optimizer.step()
        theirs_optimizer.step()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), atol=1e-4, rtol=1e-4, err_msg=key)
