"""Capsule layers (Sabour, Frosst and Hinton 2017, "Dynamic Routing Between Capsules").

A capsule is a vector whose length is the probability that an entity is present and whose
orientation encodes its pose. PrimaryCapsules cuts a convolution's output into such vectors;
RoutingCapsules maps every input capsule i to a prediction u_hat_j|i = W_ij u_i for every
output capsule j and lets dynamic routing decide how much of each prediction reaches j.
"""
from __future__ import annotations

import math

from .. import functional as F
from .. import init
from .conv import Conv2d
from .linear import new_parameter
from .module import Module


class PrimaryCapsules(Module):
    """One convolution with num_capsules * capsule_dim output channels, cut into capsules.

    (B, in_channels, H, W) -> (B, num_capsules * H' * W', capsule_dim), squashed; capsule
    index = (capsule type, row, column) in that order, H' x W' being the convolution's output size.
    """

    def __init__(self, in_channels: int, num_capsules: int, capsule_dim: int, kernel_size, stride=1):
        super().__init__()
        self.in_channels = in_channels
        self.num_capsules = num_capsules
        self.capsule_dim = capsule_dim
        self.conv = Conv2d(in_channels, num_capsules * capsule_dim, kernel_size, stride)

    def forward(self, input):
        F.check_tensor("PrimaryCapsules", "input", input)
        if input.ndim != 4 or input.shape[1] != self.in_channels:
            raise ValueError(f"PrimaryCapsules: expected input (batch, {self.in_channels}, height, width), "
                             f"got {tuple(input.shape)}")
        features = self.conv(input)
        batch, _, height, width = features.shape
        # Squash along the capsule dim in place of the channel layout, then move it last.
        capsules = F.squash(features.reshape(batch, self.num_capsules, self.capsule_dim, height * width), dim=2)
        return capsules.permute(0, 1, 3, 2).reshape(batch, self.num_capsules * height * width, self.capsule_dim)

    def extra_repr(self):
        return (f"{self.in_channels}, num_capsules={self.num_capsules}, capsule_dim={self.capsule_dim}, "
                f"kernel_size={self.conv.kernel_size}, stride={self.conv.stride}")


class RoutingCapsules(Module):
    """A fully connected capsule layer with dynamic routing by agreement.

    (B, in_capsules, in_dim) -> (B, out_capsules, out_dim). weight (in_capsules, out_capsules,
    out_dim, in_dim) holds one transformation W_ij per pair, and all predictions
    u_hat_j|i = W_ij u_i come from one matmul batched over the in capsules. Routing runs
    `iterations` times (F.dynamic_routing); it is detached, so the gradient flows only through the
    last iteration's weighted sum s_j = sum_i c_ij u_hat_j|i, with the coupling c held constant.
    The coupling coefficients of the last call are kept in `.coupling`, a detached
    (B, in_capsules, out_capsules) Tensor whose rows sum to 1.
    """

    def __init__(self, in_capsules: int, in_dim: int, out_capsules: int, out_dim: int, iterations: int = 3):
        super().__init__()
        if not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"RoutingCapsules: iterations must be a positive int, got {iterations!r}")
        self.in_capsules = in_capsules
        self.in_dim = in_dim
        self.out_capsules = out_capsules
        self.out_dim = out_dim
        self.iterations = iterations
        self.weight = new_parameter(in_capsules, out_capsules, out_dim, in_dim)
        self.coupling = None
        self.reset_parameters()

    def reset_parameters(self):
        # The first routing pass sums in_capsules random predictions with weight 1/out_capsules;
        # for input capsules of length ~1 this bound makes E|s_j|^2 = 1, where squash is neither
        # saturated nor flat.
        bound = self.out_capsules * math.sqrt(3.0 / (self.out_dim * self.in_capsules))
        init.uniform_(self.weight, -bound, bound)

    def forward(self, input):
        F.check_tensor("RoutingCapsules", "input", input)
        expected = (self.in_capsules, self.in_dim)
        if input.ndim != 3 or tuple(input.shape[1:]) != expected:
            raise ValueError(f"RoutingCapsules: expected input (batch, {self.in_capsules}, {self.in_dim}) "
                             f"(batch, in_capsules, in_dim), got {tuple(input.shape)}")
        batch = input.shape[0]
        # (I, B, D_in) @ (I, D_in, J*D_out) -> (I, B, J*D_out): one matmul batched over the in
        # capsules, whose result moves to (B, I, J, D_out) in contiguous rows of J*D_out.
        weight = self.weight.reshape(self.in_capsules, self.out_capsules * self.out_dim, self.in_dim)
        predictions = (input.permute(1, 0, 2) @ weight.permute(0, 2, 1)).permute(1, 0, 2)
        predictions = predictions.reshape(batch, self.in_capsules, self.out_capsules, self.out_dim)
        output, self.coupling = F.dynamic_routing(predictions, self.iterations)
        return output

    def extra_repr(self):
        return (f"in_capsules={self.in_capsules}, in_dim={self.in_dim}, out_capsules={self.out_capsules}, "
                f"out_dim={self.out_dim}, iterations={self.iterations}")


class MarginLoss(Module):
    """F.margin_loss as a module: forward(lengths (N, K), target (N,) int64)."""

    def __init__(self, m_plus: float = 0.9, m_minus: float = 0.1, lam: float = 0.5, reduction: str = "mean"):
        super().__init__()
        self.m_plus, self.m_minus, self.lam, self.reduction = m_plus, m_minus, lam, reduction

    def forward(self, lengths, target):
        return F.margin_loss(lengths, target, self.m_plus, self.m_minus, self.lam, self.reduction)

    def extra_repr(self):
        return f"m_plus={self.m_plus}, m_minus={self.m_minus}, lam={self.lam}, reduction={self.reduction!r}"
