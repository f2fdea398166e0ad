import re

import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
import reference
from checks import check_gradients, run_with_grad

REDUCTIONS = ["mean", "sum", "none"]
# input shapes (N, C, d1, ...), a 1-D (C) input with a 0-d target, batch 1, odd sizes.
CLASS_SHAPES = [(4, 5), (1, 3), (3, 4, 5), (2, 3, 2, 3), (6,)]


def _labels(shape, classes, seed=0, ignore_index=None):
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    labels = np.random.default_rng(seed).integers(0, classes, size=target_shape)
    if ignore_index is not None and labels.size > 1:
        labels.reshape(-1)[0] = ignore_index
    return labels


def _class_dim_first(x):
    """The references take (N, C, ...): a 1-D (C) input is one sample."""
    return x[None] if x.ndim == 1 else x


def _loss_case(shape, weighted, seed=0):
    rng = np.random.default_rng(seed)
    classes = shape[1] if len(shape) > 1 else shape[0]
    weight = rng.uniform(0.5, 2.0, classes) if weighted else None
    return rng.standard_normal(shape) * 3, weight, classes


def _apply(function, x, target, weight, **options):
    w = None if weight is None else fastcnn.tensor(weight, dtype=x.dtype)
    return function(x, fastcnn.tensor(target), weight=w, **options)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_cross_entropy_matches_reference_and_torch(reduction, shape, weighted, label_smoothing):
    x, weight, classes = _loss_case(shape, weighted)
    target = _labels(shape, classes, ignore_index=-1)
    options = dict(ignore_index=-1, reduction=reduction, label_smoothing=label_smoothing)
    output, (grad,), weights = run_with_grad(lambda t: _apply(F.cross_entropy, t, target, weight, **options), [x],
                                             dtype=np.float64)
    expected = reference.cross_entropy(_class_dim_first(x), target.reshape((1,) + target.shape) if x.ndim == 1
                                       else target, weight=weight, **options)
    np.testing.assert_allclose(output, np.reshape(expected, output.shape), rtol=1e-10, atol=1e-12)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    tw = None if weight is None else torch.tensor(weight)
    theirs = torch.nn.functional.cross_entropy(tx, torch.tensor(target), weight=tw, **options)
    theirs.backward(torch.tensor(weights))
    np.testing.assert_allclose(output, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_reference_and_torch(reduction, weighted):
    torch = pytest.importorskip("torch")
    shape = (5, 4, 3)
    x, weight, classes = _loss_case(shape, weighted, seed=2)
    target = _labels(shape, classes, seed=2, ignore_index=-100)
    output, (grad,), weights = run_with_grad(lambda t: _apply(F.nll_loss, t, target, weight, reduction=reduction),
                                             [x], dtype=np.float64)
    np.testing.assert_allclose(output, reference.nll_loss(x, target, weight=weight, reduction=reduction),
                               rtol=1e-12, atol=1e-12)
    tx = torch.tensor(x, requires_grad=True)
    theirs = torch.nn.functional.nll_loss(tx, torch.tensor(target), weight=None if weight is None
                                          else torch.tensor(weight), reduction=reduction)
    theirs.backward(torch.tensor(weights))
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_gradient_finite_differences(label_smoothing):
    target = _labels((3, 4, 2), 4, seed=3, ignore_index=1)
    weight = np.array([0.5, 1.0, 2.0, 1.5])
    check_gradients(lambda t: _apply(F.cross_entropy, t, target, weight, ignore_index=1,
                                     label_smoothing=label_smoothing), [_loss_case((3, 4, 2), False, 3)[0]])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_cross_entropy_with_class_probabilities(reduction, weighted, label_smoothing):
    shape = (3, 4, 2)
    x, weight, classes = _loss_case(shape, weighted, seed=4)
    probabilities = reference.softmax(np.random.default_rng(5).standard_normal(shape), 1)

    def ours(logits, target):
        w = None if weight is None else fastcnn.tensor(weight, dtype=logits.dtype)
        return F.cross_entropy(logits, target, weight=w, reduction=reduction, label_smoothing=label_smoothing)

    output, grads, weights = run_with_grad(ours, [x, probabilities], dtype=np.float64)
    expected = reference.cross_entropy_probabilities(x, probabilities, weight=weight, reduction=reduction,
                                                     label_smoothing=label_smoothing)
    np.testing.assert_allclose(output, expected, rtol=1e-12, atol=1e-12)
    check_gradients(ours, [x, probabilities])
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(v, requires_grad=True) for v in (x, probabilities)]
    theirs = torch.nn.functional.cross_entropy(*tensors, weight=None if weight is None else torch.tensor(weight),
                                               reduction=reduction, label_smoothing=label_smoothing)
    theirs.backward(torch.tensor(weights))
    for grad, tensor in zip(grads, tensors):
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_float32_matches_torch_on_large_logits():
    torch = pytest.importorskip("torch")
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 999.0, 1000.0]], dtype=np.float32)
    target = np.array([1, 2])
    output, (grad,), weights = run_with_grad(lambda t: F.cross_entropy(t, fastcnn.tensor(target),
                                                                       label_smoothing=0.1), [x])
    tx = torch.tensor(x, requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(tx, torch.tensor(target), label_smoothing=0.1)
    theirs.backward(torch.tensor(weights))
    np.testing.assert_allclose(output, theirs.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (2, 3, 5), (1, 1)])
def test_mse_loss(reduction, shape):
    rng = np.random.default_rng(6)
    x, target = rng.standard_normal(shape), rng.standard_normal(shape)
    output, grads, weights = run_with_grad(lambda a, b: F.mse_loss(a, b, reduction=reduction), [x, target],
                                           dtype=np.float64)
    np.testing.assert_allclose(output, reference.mse_loss(x, target, reduction), rtol=1e-12)
    check_gradients(lambda a, b: F.mse_loss(a, b, reduction=reduction), [x, target])
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(v, requires_grad=True) for v in (x, target)]
    torch.nn.functional.mse_loss(*tensors, reduction=reduction).backward(torch.tensor(weights))
    for grad, tensor in zip(grads, tensors):
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_with_logits(reduction, weighted):
    rng = np.random.default_rng(7)
    x, target = rng.standard_normal((4, 3)) * 4, rng.uniform(0, 1, (4, 3))
    weight, pos_weight = (rng.uniform(0.5, 2, (3,)), rng.uniform(0.5, 3, (3,))) if weighted else (None, None)

    def ours(a, b):
        extras = {} if not weighted else dict(weight=fastcnn.tensor(weight, dtype=a.dtype),
                                              pos_weight=fastcnn.tensor(pos_weight, dtype=a.dtype))
        return F.binary_cross_entropy_with_logits(a, b, reduction=reduction, **extras)

    output, grads, weights = run_with_grad(ours, [x, target], dtype=np.float64)
    expected = reference.bce_with_logits(x, target, weight, pos_weight, reduction)
    np.testing.assert_allclose(output, expected, rtol=1e-10)
    check_gradients(ours, [x, target])
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(v, requires_grad=True) for v in (x, target)]
    extras = {} if not weighted else dict(weight=torch.tensor(weight), pos_weight=torch.tensor(pos_weight))
    torch.nn.functional.binary_cross_entropy_with_logits(*tensors, reduction=reduction, **extras).backward(
        torch.tensor(weights))
    for grad, tensor in zip(grads, tensors):
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-10, atol=1e-12)


# (input, weight, pos_weight) shapes: per class, per sample, full, one value, per leading item.
BCE_WEIGHT_SHAPES = [((4, 3), (3,), (3,)), ((4, 3), (4, 1), (1, 3)), ((4, 3), (4, 3), (1,)),
                     ((2, 3, 5), (3, 1), (5,)), ((2, 3, 5), (2, 1, 1), (1, 1, 5))]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, weight_shape, pos_weight_shape", BCE_WEIGHT_SHAPES)
def test_binary_cross_entropy_with_logits_weight_gradients(reduction, shape, weight_shape, pos_weight_shape):
    """weight and pos_weight are differentiable, their gradients summed back over the dims they
    were broadcast along: dloss/dv = the unweighted loss, dloss/dq = v t softplus(-x). torch's
    fused op refuses a weight or pos_weight that requires grad, so torch's autograd runs over the
    same formula composed from its elementwise ops, after its fused op checks output and input
    gradients."""
    rng = np.random.default_rng(8)
    inputs = [rng.standard_normal(shape) * 4, rng.uniform(0, 1, shape), rng.uniform(0.5, 2, weight_shape),
              rng.uniform(0.5, 3, pos_weight_shape)]

    def ours(x, target, weight, pos_weight):
        return F.binary_cross_entropy_with_logits(x, target, weight=weight, pos_weight=pos_weight,
                                                  reduction=reduction)

    check_gradients(ours, inputs)
    output, grads, weights = run_with_grad(ours, inputs, dtype=np.float64)
    np.testing.assert_allclose(output, reference.bce_with_logits(*inputs, reduction), rtol=1e-10)
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(v, requires_grad=True) for v in inputs[:2]] + [torch.tensor(v) for v in inputs[2:]]
    fused = torch.nn.functional.binary_cross_entropy_with_logits(tensors[0], tensors[1], weight=tensors[2],
                                                                 pos_weight=tensors[3], reduction=reduction)
    fused.backward(torch.tensor(weights))
    np.testing.assert_allclose(output, fused.detach().numpy(), rtol=1e-10, atol=1e-12)
    for grad, tensor in zip(grads, tensors[:2]):
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-10, atol=1e-12)
    x, target, weight, pos_weight = tensors = [torch.tensor(v, requires_grad=True) for v in inputs]
    losses = weight * ((1 - target) * x + (1 + (pos_weight - 1) * target) * torch.nn.functional.softplus(-x))
    composed = {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]
    composed.backward(torch.tensor(weights))
    for grad, tensor in zip(grads, tensors):
        assert grad.shape == tuple(tensor.shape)
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_binary_cross_entropy_with_logits_of_a_0_d_input_with_weights():
    """The weights broadcast to the input's shape () stay 0-d (np.ascontiguousarray made them (1,))."""
    inputs = [np.array(0.7), np.array(1.0), np.array(2.0), np.array(3.0)]

    def ours(x, target, weight, pos_weight):
        return F.binary_cross_entropy_with_logits(x, target, weight=weight, pos_weight=pos_weight, reduction="none")

    check_gradients(ours, inputs)
    output, _, _ = run_with_grad(ours, inputs, dtype=np.float64)
    assert output.shape == ()
    np.testing.assert_allclose(output, reference.bce_with_logits(*inputs, "none"), rtol=1e-12)


@pytest.mark.parametrize("differentiable", ["weight", "pos_weight"])
@pytest.mark.parametrize("other", ["absent", "constant"])
def test_binary_cross_entropy_with_logits_one_weight_requires_grad(differentiable, other):
    rng = np.random.default_rng(9)
    x, target = rng.standard_normal((3, 4)), fastcnn.tensor(rng.uniform(0, 1, (3, 4)), dtype=np.float64)
    constant = None if other == "absent" else fastcnn.tensor(rng.uniform(0.5, 2, (4,)), dtype=np.float64)
    other_name = "pos_weight" if differentiable == "weight" else "weight"

    def ours(logits, value):
        return F.binary_cross_entropy_with_logits(logits, target, **{differentiable: value, other_name: constant})

    check_gradients(ours, [x, rng.uniform(0.5, 2, (3, 1))])


@pytest.mark.parametrize("name", ["weight", "pos_weight"])
@pytest.mark.parametrize("input_shape, value_shape", [((2, 3), (2,)), ((4,), (3, 4)), ((1, 4), (3, 4))])
def test_binary_cross_entropy_with_logits_rejects_weights_that_do_not_broadcast(name, input_shape, value_shape):
    """weight and pos_weight must broadcast to the input's shape. One that would enlarge the loss
    beyond it, (3, 4) for an input (4,), is refused under every reduction, as torch (2.13) refuses
    it: "output with shape [4] doesn't match the broadcast shape [3, 4]"."""
    message = f"binary_cross_entropy_with_logits: {name} does not broadcast to the input (input {input_shape}, " \
              f"{name} {value_shape})"
    for reduction in REDUCTIONS:
        with pytest.raises(ValueError, match=re.escape(message)):
            F.binary_cross_entropy_with_logits(fastcnn.zeros(*input_shape), fastcnn.zeros(*input_shape),
                                               reduction=reduction, **{name: fastcnn.ones(*value_shape)})
    torch = pytest.importorskip("torch")
    for reduction in REDUCTIONS:
        with pytest.raises(RuntimeError):
            torch.nn.functional.binary_cross_entropy_with_logits(torch.zeros(input_shape), torch.zeros(input_shape),
                                                                 reduction=reduction,
                                                                 **{name: torch.ones(value_shape)})


def test_nll_loss_mean_of_all_ignored_is_nan_as_torch():
    loss = F.nll_loss(fastcnn.zeros(2, 3), fastcnn.tensor([-100, -100]))
    assert np.isnan(loss.item())


@pytest.mark.parametrize("label", [3, -1, 100])
def test_nll_loss_rejects_labels_out_of_range(label):
    with pytest.raises(ValueError, match=rf"nll_loss: target has label {label} out of range \[0, 3\) "
                                         r"\(input \(2, 3\), target \(2,\)"):
        F.nll_loss(fastcnn.zeros(2, 3), fastcnn.tensor([0, label]))


def test_cross_entropy_rejects_labels_out_of_range_in_spatial_targets():
    with pytest.raises(ValueError, match=r"target has label 4 out of range \[0, 4\) \(input \(1, 4, 2, 2\)"):
        F.cross_entropy(fastcnn.zeros(1, 4, 2, 2), fastcnn.tensor([[[0, 1], [4, 2]]]))


@pytest.mark.parametrize("function", [F.nll_loss, F.cross_entropy])
def test_class_losses_reject_bad_targets(function):
    name = function.__name__
    with pytest.raises(TypeError, match=f"{name}: target must hold int64 class indices"):
        function(fastcnn.zeros(2, 3), fastcnn.tensor([0, 1], dtype=fastcnn.int32))
    with pytest.raises(ValueError, match=r"target must have shape \(2,\)"):
        function(fastcnn.zeros(2, 3), fastcnn.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        function(fastcnn.zeros(2, 3), fastcnn.tensor([0, 1]), weight=fastcnn.ones(4))
    with pytest.raises(ValueError, match="reduction must be"):
        function(fastcnn.zeros(2, 3), fastcnn.tensor([0, 1]), reduction="avg")
    with pytest.raises(TypeError, match=f"{name}: input must be float32 or float64"):
        function(fastcnn.tensor([[1, 2]]), fastcnn.tensor([0]))


def test_nll_loss_rejects_float_labels():
    with pytest.raises(TypeError, match="nll_loss: target must hold int64 class indices, got float32"):
        F.nll_loss(fastcnn.zeros(2, 3), fastcnn.zeros(2))


def test_cross_entropy_rejects_probabilities_of_another_shape_and_bad_smoothing():
    with pytest.raises(ValueError, match="cross_entropy: class-probability target must have the input's shape"):
        F.cross_entropy(fastcnn.zeros(2, 3), fastcnn.zeros(2, 4))
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing must be in"):
        F.cross_entropy(fastcnn.zeros(2, 3), fastcnn.tensor([0, 1]), label_smoothing=1.5)


@pytest.mark.parametrize("function, mismatch", [(F.mse_loss, "target does not broadcast with the input"),
                                               (F.binary_cross_entropy_with_logits, "target must have the input's shape")])
def test_elementwise_losses_reject_mismatches(function, mismatch):
    name = function.__name__
    with pytest.raises(ValueError, match=rf"{name}: {mismatch} \(input \(2, 3\), target"):
        function(fastcnn.zeros(2, 3), fastcnn.zeros(3, 2))
    with pytest.raises(TypeError, match=f"{name}: target has dtype float64 but input has float32"):
        function(fastcnn.zeros(2, 3), fastcnn.zeros(2, 3, dtype=fastcnn.float64))


def test_mse_loss_broadcasts_with_a_warning_as_torch():
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((4, 1)), rng.standard_normal(4)
    with pytest.warns(UserWarning, match="mse_loss: using a target size"):
        output, grads, weights = run_with_grad(lambda a, b: F.mse_loss(a, b), [x, target], dtype=np.float64)
    np.testing.assert_allclose(output, ((x - target) ** 2).mean(), rtol=1e-12)
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(v, requires_grad=True) for v in (x, target)]
    with pytest.warns(UserWarning):
        torch.nn.functional.mse_loss(*tensors).backward(torch.tensor(weights))
    for ours, theirs in zip(grads, tensors):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-12)


def test_native_loss_entry_points_validate_arrays():
    with pytest.raises(ValueError, match="nll_loss: target has label 5"):
        fastcnn._C.nll_loss_forward(np.zeros((2, 3)), np.array([0, 5]), None, -100, "mean", 0.0)
    with pytest.raises(TypeError, match="nll_loss: target must be int64"):
        fastcnn._C.nll_loss_forward(np.zeros((2, 3)), np.array([0, 1], np.int32), None, -100, "mean", 0.0)
    with pytest.raises(ValueError, match="nll_loss: label_smoothing must be in"):
        fastcnn._C.nll_loss_forward(np.zeros((2, 3)), np.array([0, 1]), None, -100, "mean", -0.5)
    with pytest.raises(ValueError, match=r"nll_loss: input must be at least 1-D"):
        fastcnn._C.nll_loss_forward(np.zeros(()), np.array(0), None, -100, "mean", 0.0)
    with pytest.raises(ValueError, match=r"nll_loss: grad_output must have shape \(\)"):
        fastcnn._C.nll_loss_backward(np.zeros(2), np.zeros((2, 3)), np.array([0, 1]), None, -100, "sum", 0.0, 2.0)
    with pytest.raises(ValueError, match=r"mse_loss: target must have shape \(3,\)"):
        fastcnn._C.mse_loss_forward(np.zeros(3), np.zeros(4), "mean")
