"""InvertedResidual, mobilenet_v2 and resnet_cifar against twins rebuilt from torch ops (weights
copied), finite differences on parameters, bad input, and the digits learning result."""
import importlib.util
import pathlib

import numpy as np
import pytest

import fastcnn
from fastcnn import models, nn
from fastcnn.models.mobilenet import MobileNetV2
from fastcnn.models.resnet import BasicBlock, ResNetCifar
from module_checks import check_parameter_gradients, module_torch_parity

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def to_torch(module):
    """The torch twin of one of our modules: torch layers with the same hyper-parameters and child
    names, and the block/model forwards written here in torch ops."""
    torch = pytest.importorskip("torch")
    if isinstance(module, nn.Conv2d):
        return torch.nn.Conv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                               module.padding, module.dilation, module.groups, bias=module.bias is not None)
    if isinstance(module, nn.BatchNorm2d):
        return torch.nn.BatchNorm2d(module.num_features, eps=module.eps, momentum=module.momentum)
    if isinstance(module, nn.Linear):
        return torch.nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
    if isinstance(module, nn.Dropout):
        return torch.nn.Dropout(module.p)
    if isinstance(module, (nn.ReLU, nn.ReLU6)):
        return getattr(torch.nn, type(module).__name__)()
    if isinstance(module, nn.Sequential):
        return torch.nn.Sequential(*[to_torch(child) for child in module])
    twin = _TWINS[type(module)]()
    for name, child in module.named_children():
        setattr(twin, name, to_torch(child) if child is not None else None)
    twin.use_res_connect = getattr(module, "use_res_connect", False)
    return twin


def _twin_classes():
    torch = pytest.importorskip("torch")

    class TorchInvertedResidual(torch.nn.Module):
        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class TorchMobileNetV2(torch.nn.Module):
        def forward(self, x):
            return self.classifier(torch.nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1))

    class TorchBasicBlock(torch.nn.Module):
        def forward(self, x):
            output = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            downsample = getattr(self, "downsample", None)
            return self.relu(output + (x if downsample is None else downsample(x)))

    class TorchResNet(torch.nn.Module):
        def forward(self, x):
            output = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
            return self.fc(torch.nn.functional.adaptive_avg_pool2d(output, 1).flatten(1))

    return {nn.InvertedResidual: TorchInvertedResidual, MobileNetV2: TorchMobileNetV2, BasicBlock: TorchBasicBlock,
            ResNetCifar: TorchResNet}


_TWINS = {}


@pytest.fixture(autouse=True)
def _twins():
    if not _TWINS:
        _TWINS.update(_twin_classes())


def _parity_train_then_eval(ours, input, atol, rtol, dtype=np.float32):
    """Train-mode forward and backward (batch statistics) match, then eval-mode forwards match,
    which also compares the running statistics the training forward updated."""
    torch = pytest.importorskip("torch")
    theirs = to_torch(ours)
    module_torch_parity(ours, theirs, [input], atol=atol, rtol=rtol, dtype=dtype)
    ours.eval()
    theirs.eval()
    with fastcnn.no_grad(), torch.no_grad():
        x = input.astype(dtype)
        np.testing.assert_allclose(ours(fastcnn.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(), atol=atol,
                                   rtol=rtol)


# --- InvertedResidual ------------------------------------------------------------------------------
@pytest.mark.parametrize("in_channels, out_channels, stride, expand_ratio, residual", [
    (8, 8, 1, 6, True), (8, 16, 2, 6, False), (8, 8, 1, 1, True), (4, 6, 1, 2, False), (3, 3, 2, 1, False)])
def test_inverted_residual_matches_torch(in_channels, out_channels, stride, expand_ratio, residual):
    fastcnn.manual_seed(0)
    block = nn.InvertedResidual(in_channels, out_channels, stride, expand_ratio)
    assert block.use_res_connect is residual
    assert len(block.conv) == (3 if expand_ratio == 1 else 4)
    _parity_train_then_eval(block, _input((2, in_channels, 7, 6), 1), atol=1e-4, rtol=1e-4)


def test_inverted_residual_gradients_finite_differences():
    fastcnn.manual_seed(1)
    block = nn.InvertedResidual(3, 3, 1, 2).double()
    check_parameter_gradients(block, [_input((2, 3, 4, 5), 2)], atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("arguments, message", [((4, 4, 3, 6), "stride must be 1 or 2"),
                                                ((4, 4, 1, 0), "expand_ratio must be a positive int")])
def test_inverted_residual_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=f"InvertedResidual: {message}"):
        nn.InvertedResidual(*arguments)


# --- mobilenet_v2 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("in_channels, input_size, width_mult", [(3, 32, 0.25), (1, 8, 0.35)])
def test_mobilenet_v2_matches_torch(in_channels, input_size, width_mult):
    fastcnn.manual_seed(2)
    model = MobileNetV2(num_classes=7, width_mult=width_mult, in_channels=in_channels, input_size=input_size,
                        dropout=0.0)
    _parity_train_then_eval(model, _input((2, in_channels, input_size, input_size), 3), atol=1e-9, rtol=1e-7,
                            dtype=np.float64)


@pytest.mark.parametrize("input_size, final_map", [(8, 2), (16, 4), (32, 4), (64, 2)])
def test_mobilenet_v2_strides_follow_input_size(input_size, final_map):
    model = models.mobilenet_v2(num_classes=5, width_mult=0.25, input_size=input_size)
    model.eval()
    with fastcnn.no_grad():
        x = fastcnn.randn(1, 3, input_size, input_size)
        assert tuple(model.features(x).shape) == (1, model.last_channel, final_map, final_map)
        assert tuple(model(x).shape) == (1, 5)


def test_mobilenet_v2_has_torchvision_layout():
    model = models.mobilenet_v2()
    names = {name for name, _ in model.named_parameters()}
    assert {"features.0.0.weight", "features.1.conv.0.0.weight", "features.1.conv.1.weight",
            "features.2.conv.0.0.weight", "features.2.conv.3.weight", "features.18.0.weight",
            "classifier.1.weight"} <= names
    assert len(model.features) == 19
    assert sum(p.numel() for p in model.parameters()) == 3504872  # torchvision's mobilenet_v2 count


def test_mobilenet_v2_gradients_finite_differences():
    fastcnn.manual_seed(3)
    model = MobileNetV2(num_classes=3, width_mult=0.1, in_channels=1, input_size=8, dropout=0.0).double()
    check_parameter_gradients(model, [_input((2, 1, 8, 8), 4)], max_points=3, atol=1e-6, rtol=1e-4,
                              names=["features.0.0.weight", "features.4.conv.1.0.weight",
                                     "features.17.conv.3.bias", "classifier.1.weight"])


# --- resnet_cifar ----------------------------------------------------------------------------------
def test_resnet_cifar_matches_torch():
    fastcnn.manual_seed(4)
    model = models.resnet_cifar(20, num_classes=10)
    assert {"conv1.weight", "layer1.2.conv2.weight", "layer2.0.downsample.0.weight", "layer3.0.downsample.1.bias",
            "fc.weight"} <= {name for name, _ in model.named_parameters()}
    assert sum(p.numel() for p in model.parameters()) == 272474  # He et al.'s ResNet-20 (0.27M) with 1x1 shortcuts
    _parity_train_then_eval(model, _input((2, 3, 16, 16), 5), atol=1e-9, rtol=1e-7, dtype=np.float64)


@pytest.mark.parametrize("depth, blocks", [(20, 3), (32, 5), (56, 9)])
def test_resnet_cifar_depth(depth, blocks):
    model = models.resnet_cifar(depth, num_classes=4, in_channels=1)
    assert [len(model.layer1), len(model.layer2), len(model.layer3)] == [blocks] * 3
    convolutions = sum(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in model.modules())
    assert convolutions + 1 == depth


def test_resnet_cifar_gradients_finite_differences():
    fastcnn.manual_seed(5)
    model = models.resnet_cifar(8, num_classes=3, in_channels=1).double()
    check_parameter_gradients(model, [_input((2, 1, 6, 6), 6)], max_points=3, atol=1e-6, rtol=1e-4,
                              names=["conv1.weight", "layer2.0.downsample.0.weight", "layer3.0.bn2.weight",
                                     "fc.bias"])


# --- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("build, shape, message", [
    (lambda: models.mobilenet_v2(in_channels=1, input_size=8), (2, 3, 8, 8),
     r"mobilenet_v2: input has 3 channels but the layer expects 1 \(input \(2, 3, 8, 8\)\)"),
    (lambda: models.resnet_cifar(20), (3, 32, 32), r"resnet_cifar: input must be 4-D"),
    (lambda: nn.InvertedResidual(4, 4, 1, 6), (1, 5, 4, 4), "InvertedResidual: input has 5 channels"),
])
def test_models_reject_bad_input(build, shape, message):
    with pytest.raises(ValueError, match=message):
        build()(fastcnn.randn(*shape))


@pytest.mark.parametrize("build, message", [(lambda: models.resnet_cifar(21), "depth must be 6n \\+ 2"),
                                            (lambda: models.mobilenet_v2(width_mult=0), "width_mult must be positive"),
                                            (lambda: models.mobilenet_v2(input_size=0), "input_size must be")])
def test_models_reject_bad_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# --- learning ---------------------------------------------------------------------------------------
def test_mobilenet_v2_learns_digits():
    spec = importlib.util.spec_from_file_location("train_mobilenet", EXAMPLES / "train_mobilenet.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    # One thread: on 8x8 maps each kernel call has microseconds of work, so a second thread gains
    # nothing, and on a shared, oversubscribed machine the OpenMP barriers made training 4-7x slower.
    threads = fastcnn.get_num_threads()
    fastcnn.set_num_threads(1)
    try:
        result = example.train(verbose=False)
    finally:
        fastcnn.set_num_threads(threads)
    assert result["test_accuracy"] >= 0.95, result
