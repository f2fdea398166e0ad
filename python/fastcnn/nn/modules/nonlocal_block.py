"""NonLocalBlock2d (Wang et al. 2018, "Non-local Neural Networks"; seed "Non-Local and
Graph-Based Layers"):

    y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j),      z = W y + x

over the N = H*W positions i and the M positions j (M = N/4 with sub_sample). g, theta and phi
are 1x1 convolutions to inter_channels; W is a 1x1 convolution back to in_channels, followed by
BatchNorm2d when bn_layer. The pairwise function f and normaliser C(x) per mode:

    'gaussian'            f = exp(x_i . x_j) on the raw input (no theta/phi), C = sum_j f: a softmax
    'embedded_gaussian'   f = exp(theta_i . phi_j), C = sum_j f: a softmax
    'dot'                 f = theta_i . phi_j, C = M
    'concatenation'       f = ReLU(w^T [theta_i; phi_j]), C = M

Module names and layouts follow the widely used PyTorch reference (AlexHex7/Non-local_pytorch):
g, theta, phi, W, concat_project. The concatenation pair-conv w is one 1x1 convolution over
2 * inter_channels; since w^T [theta_i; phi_j] = w_theta . theta_i + w_phi . phi_j, it is
computed as an (N, 1) + (1, M) broadcast sum instead of materialising every pair.
"""
from __future__ import annotations

from ...tensor import no_grad
from .. import functional as F
from .conv import Conv2d
from .container import Sequential
from .module import Module
from .norm import BatchNorm2d
from .pooling import MaxPool2d

MODES = ("embedded_gaussian", "gaussian", "dot", "concatenation")


class NonLocalBlock2d(Module):
    """(B, C, H, W) -> (B, C, H, W). The output transform starts at zero (the BatchNorm weight
    and bias when bn_layer, else W's weight and bias), so a fresh block is the identity."""

    def __init__(self, in_channels: int, inter_channels: int | None = None, mode: str = "embedded_gaussian",
                 sub_sample: bool = False, bn_layer: bool = True):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"NonLocalBlock2d: mode must be one of {MODES}, got {mode!r}")
        if not isinstance(in_channels, int) or in_channels <= 0:
            raise ValueError(f"NonLocalBlock2d: in_channels must be a positive int, got {in_channels!r}")
        self.in_channels = in_channels
        self.inter_channels = inter_channels if inter_channels is not None else max(in_channels // 2, 1)
        self.mode = mode
        self.sub_sample = sub_sample
        inter = self.inter_channels
        self.g = Conv2d(in_channels, inter, 1)
        if bn_layer:
            self.W = Sequential(Conv2d(inter, in_channels, 1), BatchNorm2d(in_channels))
            zeroed = self.W[1]
        else:
            self.W = Conv2d(inter, in_channels, 1)
            zeroed = self.W
        with no_grad():
            zeroed.weight.zero_()
            zeroed.bias.zero_()
        if mode == "gaussian":
            self.theta = self.phi = None
        else:
            self.theta = Conv2d(in_channels, inter, 1)
            self.phi = Conv2d(in_channels, inter, 1)
        self.concat_project = Conv2d(2 * inter, 1, 1, bias=False) if mode == "concatenation" else None
        if sub_sample:
            self.g = Sequential(self.g, MaxPool2d(2))
            self.phi = MaxPool2d(2) if self.phi is None else Sequential(self.phi, MaxPool2d(2))

    def pairwise(self, input):
        """The normalised pairwise weights f(x_i, x_j) / C(x): (B, N, M)."""
        batch = input.shape[0]
        theta = input if self.theta is None else self.theta(input)
        phi = input if self.phi is None else self.phi(input)
        theta = theta.reshape(batch, theta.shape[1], -1).transpose(1, 2)  # (B, N, C')
        phi = phi.reshape(batch, phi.shape[1], -1)  # (B, C', M)
        if self.mode in ("gaussian", "embedded_gaussian"):
            return F.softmax(theta @ phi, dim=-1)
        if self.mode == "dot":
            return (theta @ phi) / phi.shape[-1]
        weight = self.concat_project.weight.reshape(1, 1, 2 * self.inter_channels)
        from_theta = theta @ weight[:, :, :self.inter_channels].transpose(1, 2)
        from_phi = weight[:, :, self.inter_channels:] @ phi
        return F.relu(from_theta + from_phi) / phi.shape[-1]

    def forward(self, input):
        F.check_feature_map("NonLocalBlock2d", input, self.in_channels)
        batch, _, height, width = input.shape
        values = self.g(input).reshape(batch, self.inter_channels, -1).transpose(1, 2)
        attended = (self.pairwise(input) @ values).transpose(1, 2).reshape(batch, self.inter_channels, height, width)
        return self.W(attended) + input

    def extra_repr(self):
        return (f"{self.in_channels}, inter_channels={self.inter_channels}, mode={self.mode!r}, "
                f"sub_sample={self.sub_sample}")
