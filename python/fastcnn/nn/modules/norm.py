"""BatchNorm1d and BatchNorm2d, as torch.nn's.

Parameters weight and bias (affine; bias=False drops the shift, as torch 2.13 allows); buffers
running_mean, running_var and num_batches_tracked (track_running_stats); torch's momentum rule:
running = (1 - momentum) * running + momentum * batch statistic, where momentum=None means a
cumulative average (momentum = 1 / num_batches_tracked)."""
from __future__ import annotations

import numpy as np

from ... import functions
from ...tensor import Tensor, _check_device
from .. import functional as F
from .. import init
from .linear import new_parameter
from .module import Module


class _BatchNorm(Module):
    expected_dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        _check_device(device)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.register_parameter("weight", new_parameter(num_features, dtype=dtype) if affine else None)
        self.register_parameter("bias", new_parameter(num_features, dtype=dtype) if affine and bias else None)
        if track_running_stats:
            self.register_buffer("running_mean", functions.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", functions.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", Tensor._wrap(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self):
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        return self.normalize(input)

    def normalize(self, input, residual=None, activation="none"):
        """forward, optionally fused with what follows it: activation(bn(input) + residual), with
        activation "none", "relu" or "relu6" (nn/modules/fusion.py uses it)."""
        if input.ndim not in self.expected_dims:
            raise ValueError(f"{type(self).__name__}: expected " + " or ".join(f"{d}D" for d in self.expected_dims)
                             + f" input (got {input.ndim}D input of shape {tuple(input.shape)})")
        average_factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                average_factor = 1.0 / float(self.num_batches_tracked.data)
        # Eval mode without running statistics normalises with the batch's own, as torch.
        use_batch_statistics = self.training or self.running_mean is None
        keep_running = not self.training or self.track_running_stats
        return F.batch_norm_act(input, self.running_mean if keep_running else None,
                                self.running_var if keep_running else None, self.weight, self.bias,
                                use_batch_statistics, average_factor, self.eps, residual, activation)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L) inputs."""
    expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W) inputs."""
    expected_dims = (4,)
