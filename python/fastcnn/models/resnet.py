"""The CIFAR ResNets of He et al. 2016 (section 4.2): resnet_cifar(20 | 32 | 56 | ...)."""
from __future__ import annotations

from .. import nn
from ..nn.modules.blocks import check_feature_map, conv1x1_bn
from ..nn.modules.fusion import conv_bn


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU; torchvision's names (conv1, bn1,
    conv2, bn2, downsample). The shortcut is the identity, or a 1x1 convolution + BN (option B of
    the paper) when the stride or the channels change."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        changes_shape = stride != 1 or in_channels != out_channels
        self.downsample = conv1x1_bn(in_channels, out_channels, stride) if changes_shape else None

    def forward(self, input):
        # conv_bn runs conv -> BN -> (+ shortcut) -> ReLU as one call in inference (nn/modules/fusion.py).
        output = conv_bn(self.conv1, self.bn1, input, self.relu)
        shortcut = input if self.downsample is None else self.downsample(input)
        return conv_bn(self.conv2, self.bn2, output, self.relu, residual=shortcut)


class ResNetCifar(nn.Module):
    """conv1 (3x3, 16) - bn1 - relu - layer1 (16) - layer2 (32, stride 2) - layer3 (64, stride 2) -
    global average pool - fc, with (depth - 2) / 6 BasicBlocks per stage."""

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f"resnet_cifar: depth must be 6n + 2 (20, 32, 56, ...), got {depth!r}")
        blocks = (depth - 2) // 6
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = self._stage(16, 16, blocks, stride=1)
        self.layer2 = self._stage(16, 32, blocks, stride=2)
        self.layer3 = self._stage(32, 64, blocks, stride=2)
        self.fc = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
        return nn.Sequential(BasicBlock(in_channels, out_channels, stride),
                             *[BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)])

    def forward(self, input):
        check_feature_map("resnet_cifar", input, self.in_channels)
        output = conv_bn(self.conv1, self.bn1, input, self.relu)
        output = self.layer3(self.layer2(self.layer1(output)))
        return self.fc(nn.functional.adaptive_avg_pool2d(output, 1).flatten(1))


def resnet_cifar(depth: int = 20, num_classes: int = 10, in_channels: int = 3) -> ResNetCifar:
    """The CIFAR ResNet of the given depth (20, 32, 56, ...: 6n + 2) for 32x32 images; any size
    works, as a global average pool precedes the classifier."""
    return ResNetCifar(depth=depth, num_classes=num_classes, in_channels=in_channels)
