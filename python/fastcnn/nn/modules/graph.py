"""Graph convolution on CNN features (Kipf and Welling 2017, "Semi-Supervised Classification
with Graph Convolutional Networks"; seed "Non-Local and Graph-Based Layers").

    GraphConv:  H' = A_hat H W^T + b,   A_hat = D^-1/2 (A + I) D^-1/2,   D_ii = sum_j (A + I)_ij

W is stored (out_features, in_features) as nn.Linear's weight. The graph helpers build A_hat for
a feature map's pixels: `grid_adjacency` from the 4-neighbour grid, `knn_adjacency` from the
k nearest neighbours in feature space. Building a graph is a discrete choice, so no gradient
flows through it; the layers differentiate through A_hat's use, not its construction.
"""
from __future__ import annotations

import numpy as np

from ...tensor import Tensor, float32, no_grad
from .. import functional as F
from .. import init
from .container import ModuleList
from .linear import new_parameter
from .module import Module


def _normalise(adjacency: np.ndarray, self_loops: bool) -> np.ndarray:
    """D^-1/2 (A [+ I]) D^-1/2 over the last two axes; an isolated node keeps a zero row."""
    if self_loops:
        adjacency = adjacency + np.eye(adjacency.shape[-1], dtype=adjacency.dtype)
    degree = adjacency.sum(axis=-1)
    scale = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)
    return scale[..., :, None] * adjacency * scale[..., None, :]


def grid_adjacency(h: int, w: int, self_loops: bool = True, dtype=float32) -> Tensor:
    """The normalised adjacency (h*w, h*w) of an h x w pixel grid, each pixel linked to its
    4 neighbours; nodes are numbered row-major, as a (C, H, W) map flattens."""
    for name, value in (("h", h), ("w", w)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"grid_adjacency: {name} must be a positive int, got {value!r}")
    nodes = np.arange(h * w).reshape(h, w)
    adjacency = np.zeros((h * w, h * w), dtype=dtype)
    for first, second in ((nodes[:, :-1], nodes[:, 1:]), (nodes[:-1, :], nodes[1:, :])):
        adjacency[first.ravel(), second.ravel()] = 1
        adjacency[second.ravel(), first.ravel()] = 1
    return Tensor._wrap(_normalise(adjacency, self_loops))


def knn_adjacency(features, k: int, self_loops: bool = True) -> Tensor:
    """The normalised symmetric k-nearest-neighbour graph of features (B, N, F) or (N, F):
    (B, N, N) or (N, N). Node i links to its k nearest other nodes by Euclidean distance, and
    the graph is made symmetric (i ~ j when either picked the other)."""
    F.check_tensor("knn_adjacency", "features", features)
    if features.ndim not in (2, 3):
        raise ValueError(f"knn_adjacency: features must be (N, F) or (B, N, F), got {tuple(features.shape)}")
    nodes = features.shape[-2]
    if not isinstance(k, (int, np.integer)) or not 0 < k < nodes:
        raise ValueError(f"knn_adjacency: k must be an int in [1, {nodes - 1}] for {nodes} nodes, got {k!r} "
                         f"(features {tuple(features.shape)})")
    with no_grad():
        points = features.detach()
        squared = (points * points).sum(-1)
        # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one matrix product instead of N^2 differences.
        distance = (squared.unsqueeze(-1) + squared.unsqueeze(-2) - 2 * (points @ points.transpose(-1, -2))).numpy()
    distance = distance.copy()
    diagonal = np.arange(nodes)
    distance[..., diagonal, diagonal] = np.inf
    nearest = np.argpartition(distance, k - 1, axis=-1)[..., :k]
    adjacency = np.zeros(distance.shape, dtype=features.dtype)
    np.put_along_axis(adjacency, nearest, 1, axis=-1)
    adjacency = np.maximum(adjacency, np.swapaxes(adjacency, -1, -2))
    return Tensor._wrap(_normalise(adjacency, self_loops))


class GraphConv(Module):
    """forward(input (B, N, F) or (N, F), adjacency (N, N) or (B, N, N)) -> (.., N, out_features).

    The adjacency is used as given: pass a normalised A_hat (grid_adjacency, knn_adjacency).
    Weights start Glorot-uniform and the bias at zero, as in Kipf and Welling's code."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = new_parameter(out_features, in_features)
        if bias:
            self.bias = new_parameter(out_features)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.xavier_uniform_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input, adjacency):
        F.check_same_dtype("GraphConv", input=input, adjacency=adjacency)
        shapes = f"input {tuple(input.shape)}, adjacency {tuple(adjacency.shape)}"
        if input.ndim not in (2, 3) or input.shape[-1] != self.in_features:
            raise ValueError(f"GraphConv: input must be (N, {self.in_features}) or (B, N, {self.in_features}) "
                             f"({shapes})")
        nodes = input.shape[-2]
        if adjacency.ndim not in (2, 3) or tuple(adjacency.shape[-2:]) != (nodes, nodes):
            raise ValueError(f"GraphConv: adjacency must be ({nodes}, {nodes}) or (B, {nodes}, {nodes}) for "
                             f"{nodes} nodes ({shapes})")
        if input.ndim == 3 and adjacency.ndim == 3 and adjacency.shape[0] != input.shape[0]:
            raise ValueError(f"GraphConv: adjacency has batch {adjacency.shape[0]} but input has "
                             f"{input.shape[0]} ({shapes})")
        output = adjacency @ F.linear(input, self.weight)
        return output + self.bias if self.bias is not None else output

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class FeatureMapGraph(Module):
    """Graph convolutions over a feature map's pixels: (B, C, H, W) -> (B, out_channels, H, W).

    Each pixel is a node with its C features. The graph is the 4-neighbour grid (k=None) or, with
    k an int, each image's k-nearest-neighbour graph of the input features, built once per call
    and shared by all `layers` GraphConvs (ReLU between them, none after the last)."""

    def __init__(self, in_channels: int, out_channels: int, k: int | None = None, layers: int = 1):
        super().__init__()
        if not isinstance(layers, int) or layers <= 0:
            raise ValueError(f"FeatureMapGraph: layers must be a positive int, got {layers!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.k = k
        self.convs = ModuleList(GraphConv(in_channels if layer == 0 else out_channels, out_channels)
                                for layer in range(layers))

    def adjacency(self, nodes, height: int, width: int):
        if self.k is None:
            return grid_adjacency(height, width, dtype=nodes.dtype)
        return knn_adjacency(nodes, self.k)

    def forward(self, input):
        F.check_feature_map("FeatureMapGraph", input, self.in_channels)
        batch, channels, height, width = input.shape
        nodes = input.reshape(batch, channels, height * width).transpose(1, 2)
        adjacency = self.adjacency(nodes, height, width)
        for layer, conv in enumerate(self.convs):
            nodes = conv(nodes, adjacency)
            if layer + 1 < len(self.convs):
                nodes = F.relu(nodes)
        return nodes.transpose(1, 2).reshape(batch, self.out_channels, height, width)

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, k={self.k}, layers={len(self.convs)}"
