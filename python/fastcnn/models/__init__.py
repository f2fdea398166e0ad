"""fastcnn.models: reference architectures built from fastcnn.nn modules."""
from __future__ import annotations

from collections import OrderedDict

from .. import nn
from .capsnet import CapsNet, CapsNetLoss, capsnet
from .convlstm import ConvLSTMPredictor, convlstm_predictor
from .mobilenet import MobileNetV2, mobilenet_v2
from .resnet import BasicBlock, ResNetCifar, resnet_cifar
from .seednet import SeedNet, seednet


def digits_cnn(num_classes: int = 10, dropout: float = 0.25) -> nn.Sequential:
    """A small CNN for the bundled 8x8 digits: two 3x3 convolutions (32 and 64 channels, padding
    1) with batch norm and ReLU, a 2x2 max pool to 4x4, dropout and one linear classifier.
    Reaches about 99% test accuracy after a few epochs of Adam."""
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 32, 3, padding=1)),
        ("bn1", nn.BatchNorm2d(32)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(32, 64, 3, padding=1)),
        ("bn2", nn.BatchNorm2d(64)),
        ("relu2", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)),
        ("dropout", nn.Dropout(dropout)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(64 * 4 * 4, num_classes)),
    ]))


__all__ = ["digits_cnn", "CapsNet", "CapsNetLoss", "capsnet", "ConvLSTMPredictor", "convlstm_predictor",
           "mobilenet_v2", "MobileNetV2", "resnet_cifar", "ResNetCifar", "BasicBlock", "SeedNet", "seednet"]
