import importlib.util
import pathlib

import numpy as np
import pytest

import fastcnn
from fastcnn import models, nn
from checks import check_gradients
from module_checks import check_parameter_gradients

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


def _images(batch, channels, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=(batch, channels, size, size))


@pytest.mark.parametrize("in_channels,size,num_classes", [(1, 8, 10), (3, 32, 10), (2, 5, 7)])
def test_seednet_forward_shapes(in_channels, size, num_classes):
    fastcnn.manual_seed(0)
    model = models.seednet(num_classes=num_classes, in_channels=in_channels)
    logits = model(fastcnn.tensor(_images(2, in_channels, size), dtype=np.float32))
    assert tuple(logits.shape) == (2, num_classes)
    model.eval()
    probabilities = model.predict_proba(fastcnn.tensor(_images(3, in_channels, size), dtype=np.float32))
    probabilities = probabilities.detach().numpy()
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)
    assert tuple(model.capsules.coupling.shape) == (3, 32, 16)


def test_seednet_has_every_seed_layer():
    model = models.seednet(num_classes=10, in_channels=3)
    kinds = {type(module).__name__ for module in model.modules()}
    assert {"Conv2d", "ReLU", "SpatialPyramidPooling", "Residual", "RoutingCapsules", "SelfAttention2d",
            "BatchNorm2d", "Dropout", "Linear"} <= kinds
    assert model.stem[0].out_channels == 32 and model.stem[0].kernel_size == (3, 3)
    assert model.atrous[0].dilation == (2, 2) and model.dropout.p == 0.5


# The routing is detached (its coupling is a constant for autograd), so finite differences of a whole
# model match autograd only with one routing iteration, where the coupling is uniform; the detached
# gradient of longer routing is checked in test_capsule.py.
def _tiny_seednet():
    fastcnn.manual_seed(1)
    model = models.seednet(num_classes=3, in_channels=1, width=8, primary_capsules=4, primary_dim=4,
                           class_capsules=3, class_dim=4, routing_iterations=1).double().eval()
    with fastcnn.no_grad():
        model.attention.gamma.fill_(0.5)  # a fresh layer is the identity; open the attention path
    return model


def test_seednet_gradients_finite_differences():
    model = _tiny_seednet()
    x = _images(2, 1, 5, seed=1)
    check_gradients(model, [x], max_points=12)
    model.zero_grad()
    check_parameter_gradients(model, [x], ["stem.0.weight", "residual.fn.0.0.weight", "attention.gamma",
                                           "attention.query.weight", "atrous.0.weight", "primary.weight",
                                           "capsules.weight", "fc.weight", "fc.bias"], max_points=4)


@pytest.mark.parametrize("in_channels,size", [(1, 8), (3, 32)])
@pytest.mark.parametrize("reconstruction", [True, False])
def test_capsnet_forward_shapes(in_channels, size, reconstruction):
    fastcnn.manual_seed(0)
    model = models.capsnet(10, in_channels, size, reconstruction=reconstruction)
    x = fastcnn.tensor(_images(2, in_channels, size), dtype=np.float32)
    output = model(x, fastcnn.tensor([3, 7]))
    lengths = (output[0] if reconstruction else output).detach()
    assert tuple(lengths.shape) == (2, 10)
    assert np.all((lengths.numpy() > 0) & (lengths.numpy() < 1))
    if reconstruction:
        assert tuple(output[1].shape) == (2, in_channels, size, size)
        assert tuple(model(x)[1].shape) == (2, in_channels, size, size)


class _CapsNetObjective(nn.Module):
    """CapsNetLoss of a CapsNet for fixed targets, as one module for the parameter checks."""

    def __init__(self, model, target, images):
        super().__init__()
        self.model, self.loss = model, models.CapsNetLoss(reconstruction_weight=0.5)
        self.target, self.images = fastcnn.tensor(target), fastcnn.tensor(images)

    def forward(self, input):
        lengths, reconstruction = self.model(input, self.target)
        return self.loss(lengths, self.target, reconstruction, self.images)


def test_capsnet_gradients_finite_differences():
    fastcnn.manual_seed(2)
    images = _images(2, 1, 5, seed=2)
    objective = _CapsNetObjective(models.capsnet(3, 1, 5, routing_iterations=1).double(), [0, 2], images)
    check_gradients(objective, [images], max_points=12)
    objective.zero_grad()
    check_parameter_gradients(objective, [images], ["model.conv.0.weight", "model.primary.conv.weight",
                                                    "model.classes.weight", "model.decoder.0.weight",
                                                    "model.decoder.4.bias"], max_points=4)


def test_capsnet_loss_is_margin_plus_weighted_squared_error():
    lengths = fastcnn.tensor(np.array([[0.95, 0.3], [0.2, 0.5]]))
    target = fastcnn.tensor([0, 1])
    images = fastcnn.tensor(np.zeros((2, 1, 2, 2)))
    reconstruction = fastcnn.tensor(np.full((2, 1, 2, 2), 0.5))
    margin = (0.5 * 0.2 ** 2 + (0.5 * 0.1 ** 2 + 0.4 ** 2)) / 2
    loss = models.CapsNetLoss()(lengths, target, reconstruction, images).item()
    np.testing.assert_allclose(loss, margin + 0.0005 * 4 * 0.25, rtol=1e-12)
    np.testing.assert_allclose(models.CapsNetLoss()(lengths, target).item(), margin, rtol=1e-12)


@pytest.mark.parametrize("build,shape,message", [
    (lambda: models.capsnet(10, 1, 8), (2, 1, 9, 9), r"CapsNet: expected input \(batch, 1, 8, 8\), got \(2, 1, 9, 9\)"),
    (lambda: models.capsnet(10, 1, 8), (2, 8, 8), r"CapsNet: expected input \(batch, 1, 8, 8\)"),
    (lambda: models.seednet(10, 1), (2, 1, 3, 3), "SpatialPyramidPooling: level 4 is larger than the 3x3"),
    (lambda: models.seednet(10, 1), (2, 3, 8, 8), r"conv2d: input has 3 channels but weight expects 1"),
])
def test_models_reject_bad_input(build, shape, message):
    with pytest.raises(ValueError, match=message):
        build()(fastcnn.rand(*shape))


def test_capsnet_rejects_too_small_inputs():
    with pytest.raises(ValueError, match="CapsNet: input_size 2 is too small"):
        models.capsnet(10, 1, 2)


@pytest.mark.parametrize("example", ["train_seednet", "train_capsnet"])
def test_model_learns_digits(example):
    result = _load_example(example).train(verbose=False)
    assert result["test_accuracy"] >= 0.97
