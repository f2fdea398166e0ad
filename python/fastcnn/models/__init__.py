"""fastcnn.models: reference architectures built from fastcnn.nn."""
from .mobilenet import MobileNetV2, mobilenet_v2
from .resnet import BasicBlock, ResNetCifar, resnet_cifar
