"""Adam and AdamW, as torch.optim's (Kingma and Ba 2015; Loshchilov and Hutter 2019). With g the
gradient (negated when maximising) and t the step count:

    p <- p * (1 - lr * weight_decay)            (AdamW: decoupled decay)
    g <- g + weight_decay * p                   (Adam: L2 decay)
    m <- m + (1 - beta1) * (g - m)
    v <- beta2 * v + (1 - beta2) * g^2
    v_max <- max(v_max, v)                      (amsgrad; v_max replaces v below)
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, check_non_negative


class Adam(Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False, *, maximize: bool = False, decoupled_weight_decay: bool = False):
        check_non_negative(learning_rate=lr, epsilon=eps, weight_decay=weight_decay)
        for index, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: {beta}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state["step"] = 0.0
            state["exp_avg"] = Tensor._wrap(np.zeros_like(param.data))
            state["exp_avg_sq"] = Tensor._wrap(np.zeros_like(param.data))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = Tensor._wrap(np.zeros_like(param.data))
        if group["maximize"]:
            grad = -grad
        state["step"] += 1
        step = state["step"]
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param.data *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * param.data
        # Whole-array passes in place through one scratch array: a fresh temporary per operation
        # costs more than the arithmetic on these memory-bound updates.
        exp_avg, exp_avg_sq = state["exp_avg"].data, state["exp_avg_sq"].data
        scratch = np.subtract(grad, exp_avg)
        scratch *= 1 - beta1
        exp_avg += scratch
        exp_avg_sq *= beta2
        np.multiply(grad, grad, out=scratch)
        scratch *= 1 - beta2
        exp_avg_sq += scratch
        second_moment = exp_avg_sq
        if group["amsgrad"]:
            second_moment = state["max_exp_avg_sq"].data
            np.maximum(second_moment, exp_avg_sq, out=second_moment)
        denominator = np.sqrt(second_moment, out=scratch)
        denominator /= (1 - beta2 ** step) ** 0.5
        denominator += group["eps"]
        update = np.divide(exp_avg, denominator, out=scratch)
        update *= lr / (1 - beta1 ** step)
        param.data -= update


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2), as torch.optim.AdamW."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
