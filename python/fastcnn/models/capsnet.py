"""CapsNet (Sabour, Frosst and Hinton 2017): convolution, primary capsules, class capsules with
dynamic routing, and an optional reconstruction decoder used as a regulariser."""
from __future__ import annotations

import numpy as np

from .. import nn
from ..nn import functional as F
from ..tensor import Tensor


class CapsNet(nn.Module):
    """conv -> ReLU -> PrimaryCapsules -> RoutingCapsules (one 16-D capsule per class) -> lengths.

    Sizes follow the paper for inputs larger than 16 pixels (9x9 convolution, 9x9 stride-2
    primary capsules of dimension 8; 128 conv channels and 16 capsule types instead of 256 and 32
    to keep the routing affordable on a CPU). For small inputs such as the 8x8 digits a 9x9 kernel
    does not fit, so the convolution is 3x3 with padding 1 (64 channels) and the primary capsules
    3x3 with stride 1 (8 types): an 8x8 image gives 8 * 6 * 6 = 288 primary capsules.

    forward(input, target=None) returns the class capsule lengths (B, num_classes) — the
    probability of each class — and, when reconstruction=True, also the reconstruction (B, C, H, W):
    the decoder (three fully connected layers, sigmoid output) sees only the capsule of the
    target class (during training) or of the longest capsule (when target is None); the others
    are masked to zero. Train with CapsNetLoss.
    """

    def __init__(self, num_classes: int, in_channels: int, input_size: int, routing_iterations: int = 3,
                 reconstruction: bool = True):
        super().__init__()
        small = input_size <= 16
        conv_channels, conv_kernel, conv_padding = (64, 3, 1) if small else (128, 9, 0)
        capsule_types, primary_kernel, primary_stride = (8, 3, 1) if small else (16, 9, 2)
        conv_size = input_size + 2 * conv_padding - conv_kernel + 1
        grid = (conv_size - primary_kernel) // primary_stride + 1
        if grid < 1:
            raise ValueError(f"CapsNet: input_size {input_size} is too small for the primary capsules' "
                             f"{primary_kernel}x{primary_kernel} kernel")
        self.num_classes, self.in_channels, self.input_size = num_classes, in_channels, input_size
        self.conv = nn.Sequential(nn.Conv2d(in_channels, conv_channels, conv_kernel, padding=conv_padding), nn.ReLU())
        self.primary = nn.PrimaryCapsules(conv_channels, capsule_types, 8, primary_kernel, primary_stride)
        self.classes = nn.RoutingCapsules(capsule_types * grid * grid, 8, num_classes, 16, routing_iterations)
        self.decoder = None
        if reconstruction:
            hidden = (128, 256) if small else (512, 1024)
            self.decoder = nn.Sequential(
                nn.Linear(num_classes * 16, hidden[0]), nn.ReLU(), nn.Linear(hidden[0], hidden[1]), nn.ReLU(),
                nn.Linear(hidden[1], in_channels * input_size * input_size), nn.Sigmoid())

    def forward(self, input, target=None):
        expected = (self.in_channels, self.input_size, self.input_size)
        if input.ndim != 4 or tuple(input.shape[1:]) != expected:
            raise ValueError(f"CapsNet: expected input (batch, {', '.join(map(str, expected))}), "
                             f"got {tuple(input.shape)}")
        poses = self.classes(self.primary(self.conv(input)))
        lengths = F.capsule_lengths(poses)
        if self.decoder is None:
            return lengths
        chosen = lengths.detach().numpy().argmax(1) if target is None else np.asarray(target.data)
        mask = np.zeros(tuple(lengths.shape) + (1,), dtype=poses.dtype)
        mask[np.arange(len(chosen)), chosen] = 1
        reconstruction = self.decoder((poses * Tensor._wrap(mask)).flatten(1))
        return lengths, reconstruction.reshape(input.shape)


class CapsNetLoss(nn.Module):
    """margin loss + reconstruction_weight * reconstruction error (Sabour et al. 2017, section 4.1).

    The reconstruction error is the sum of squared pixel differences per image, averaged over the
    batch, and the default weight is the paper's 0.0005, so that it does not dominate the margin
    loss (it is 0.0005 * pixels times the per-pixel MSE). The images should lie in [0, 1], the
    range of the decoder's sigmoid. forward(lengths, target) or forward(lengths, target,
    reconstruction, images).
    """

    def __init__(self, reconstruction_weight: float = 0.0005, m_plus: float = 0.9, m_minus: float = 0.1,
                 lam: float = 0.5):
        super().__init__()
        self.reconstruction_weight = reconstruction_weight
        self.margin = nn.MarginLoss(m_plus, m_minus, lam)

    def forward(self, lengths, target, reconstruction=None, images=None):
        loss = self.margin(lengths, target)
        if reconstruction is None:
            return loss
        error = (reconstruction - images).flatten(1)
        return loss + self.reconstruction_weight * (error * error).sum(1).mean()


def capsnet(num_classes: int, in_channels: int, input_size: int, routing_iterations: int = 3,
            reconstruction: bool = True) -> CapsNet:
    """CapsNet for square inputs of `input_size` pixels; see CapsNet."""
    return CapsNet(num_classes, in_channels, input_size, routing_iterations, reconstruction)
