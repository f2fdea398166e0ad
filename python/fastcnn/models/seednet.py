"""SeedNet: the seed's "Advanced CNN Architecture" (../shared/seed/innovative-layers.md) made to run.

The seed lists, in order: input, convolution with 32 3x3 filters and ReLU, advanced pooling
(global average pooling), residual connection, capsules with dynamic routing, attention on the
feature map, atrous convolution, batch norm, dropout 0.5 and a fully connected softmax output.
"""
from __future__ import annotations

from .. import nn
from ..nn import functional as F


def _conv_bn(in_channels: int, out_channels: int, dilation: int = 1, relu: bool = True) -> nn.Sequential:
    """3x3 convolution (padding keeps the map size) + batch norm (+ ReLU)."""
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
              nn.BatchNorm2d(out_channels)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


class SeedNet(nn.Module):
    """Every layer of the seed's example, in an order whose shapes work.

    Read literally, the seed pools globally right after the first convolution; that leaves a
    (B, 32) vector, and the attention on the feature map and the atrous convolution that come
    later need a spatial map. So the map is kept until the spatial layers are done:

        conv 32 3x3 -> batch norm -> ReLU                          (B, 32, H, W)
        residual block (two 3x3 conv + BN, identity shortcut) -> ReLU
        self-attention across the H*W positions (SAGAN, nn.SelfAttention2d)
        atrous 3x3 convolution, dilation 2 -> batch norm -> ReLU
        spatial pyramid pooling, levels (1, 2, 4), mode 'avg'      (B, 32 * 21)
            (its level-1 bin is exactly the seed's global average pooling; the finer levels keep
            the coarse layout that capsules need, and the length is fixed for any input size)
        linear -> primary capsules (B, 32, 8), squashed
        capsules with dynamic routing (nn.RoutingCapsules)        (B, 16, 8)
        dropout 0.5 on the flattened capsule poses -> fully connected -> logits (B, num_classes)

    The fully connected layer reads the whole pose vectors rather than only the 16 capsule lengths:
    dropout 0.5 on 16 numbers would leave the classifier too little to work with.

    forward returns logits; the seed's softmax output belongs to the loss (F.cross_entropy applies
    log-softmax itself) or to `predict_proba`, which returns the class probabilities.
    Works for any input of at least 4x4 (the finest pyramid level), e.g. 8x8 digits or 32x32 CIFAR.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32, primary_capsules: int = 32,
                 primary_dim: int = 8, class_capsules: int = 16, class_dim: int = 8, routing_iterations: int = 3,
                 dropout: float = 0.5):
        super().__init__()
        self.primary_capsules, self.primary_dim = primary_capsules, primary_dim
        self.stem = _conv_bn(in_channels, width)
        self.residual = nn.Residual(nn.Sequential(_conv_bn(width, width), _conv_bn(width, width, relu=False)))
        self.attention = nn.SelfAttention2d(width)
        self.atrous = _conv_bn(width, width, dilation=2)
        self.pool = nn.SpatialPyramidPooling((1, 2, 4), mode="avg")
        self.primary = nn.Linear(self.pool.output_features(width), primary_capsules * primary_dim)
        self.capsules = nn.RoutingCapsules(primary_capsules, primary_dim, class_capsules, class_dim, routing_iterations)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(class_capsules * class_dim, num_classes)

    def forward(self, input):
        features = F.relu(self.residual(self.stem(input)))
        features = self.atrous(self.attention(features))
        primary = self.primary(self.pool(features)).reshape(input.shape[0], self.primary_capsules, self.primary_dim)
        poses = self.capsules(F.squash(primary))
        return self.fc(self.dropout(poses.flatten(1)))

    def predict_proba(self, input):
        """Class probabilities: the softmax of the logits."""
        return F.softmax(self(input), dim=1)


def seednet(num_classes: int = 10, in_channels: int = 3, **kwargs) -> SeedNet:
    """The seed's example architecture; see SeedNet for the layer order and why."""
    return SeedNet(num_classes, in_channels, **kwargs)
