"""Fusion of what follows a batch norm in residual networks, in training and at inference.

Training (and any time a gradient is needed): BatchNorm2d -> (+ residual) -> ReLU / ReLU6 runs as
one differentiable op (F.batch_norm_act: one kernel pass forward, one masked backward), which
saves the activation's and the add's passes over memory and their temporaries.

Inference (eval mode, no gradient needed): convolution -> frozen batch norm -> (+ residual) ->
ReLU / ReLU6 as one native call (`conv2d_bn_forward`, csrc/ops/conv.cpp), the batch norm folded
into a per-channel scale and shift applied, with the residual and the clamp, in one pass over the
convolution's output. At batch 1 the per-op overhead dominates, and this turns three or four ops
(and their temporaries) into one.

Either runs only where it computes what the modules would: exact types (Conv2d, BatchNorm2d,
ReLU, ReLU6 - a subclass may override forward), no hooks on a module involved, a residual of the
output's shape and dtype; the inference call also needs a BatchNorm2d in eval mode with running
statistics and no gradient (autograd off, or nothing involved requires grad). Anywhere else the
modules run one by one. Results equal the module-by-module ones up to float rounding.

Sequential uses it for every [Conv2d,] BatchNorm2d[, ReLU | ReLU6] run among its children; the
zoo's residual blocks (ResNet's BasicBlock, MobileNetV2's InvertedResidual) also fold their
residual add into the last batch norm's call.
"""
from __future__ import annotations

from ...tensor import Tensor, is_grad_enabled
from ...ops._registry import kernels
from .. import functional as F
from .activation import ReLU, ReLU6
from .conv import Conv2d
from .norm import BatchNorm2d

_ACTIVATIONS = {type(None): "none", ReLU: "relu", ReLU6: "relu6"}


def _hooked(module) -> bool:
    return module is not None and bool(module._forward_hooks or module._forward_pre_hooks)


def _needs_grad(conv, bn, input, residual) -> bool:
    if not is_grad_enabled():
        return False
    tensors = (input, residual, *conv._parameters.values(), *bn._parameters.values())
    return any(t is not None and t.requires_grad for t in tensors)


def fusable(conv, bn, activation=None, input=None, residual=None) -> bool:
    """Whether conv -> bn -> (+ residual) -> activation may run as one fused inference call."""
    # Cheapest and most often decisive first: the training flag, then types, then the rest.
    return (not bn.training and type(bn) is BatchNorm2d and type(conv) is Conv2d
            and type(activation) in _ACTIVATIONS and bn._buffers["running_mean"] is not None
            and conv.out_channels == bn.num_features and isinstance(input, Tensor) and input.data.ndim == 4
            and input.data.dtype == conv._parameters["weight"].data.dtype
            and not (_hooked(conv) or _hooked(bn) or _hooked(activation))
            and not _needs_grad(conv, bn, input, residual))


def _fused(conv, bn, activation, input, residual):
    padding = conv.padding
    padding = (F._conv_padding("conv2d", padding, conv.kernel_size, conv.stride, conv.dilation)
               if type(padding) is str else (padding[0], padding[0], padding[1], padding[1]))
    weights, affine, statistics = conv._parameters, bn._parameters, bn._buffers
    optional = [None if t is None else t.data for t in (weights["bias"], affine["weight"], affine["bias"], residual)]
    output = kernels(input.data).conv2d_bn_forward(
        input.data, weights["weight"].data, optional[0], statistics["running_mean"].data,
        statistics["running_var"].data, optional[1], optional[2], float(bn.eps), optional[3],
        _ACTIVATIONS[type(activation)], conv.stride, padding, conv.dilation, conv.groups)
    return Tensor._wrap(output)


def norm_fusable(bn, activation=None, input=None, residual=None) -> bool:
    """Whether bn -> (+ residual) -> activation may run as one batch_norm_act call."""
    return (type(bn) is BatchNorm2d and type(activation) in _ACTIVATIONS and isinstance(input, Tensor)
            and (residual is None or (residual.data.shape == input.data.shape
                                      and residual.data.dtype == input.data.dtype))
            and not (_hooked(bn) or _hooked(activation)))


def _normalized(bn, activation, input, residual):
    return bn.normalize(input, residual, _ACTIVATIONS[type(activation)])


def conv_bn(conv, bn, input, activation=None, residual=None):
    """activation(bn(conv(input)) + residual), fused where `fusable` / `norm_fusable` allow;
    activation and residual may be None."""
    if fusable(conv, bn, activation, input, residual):
        return _fused(conv, bn, activation, input, residual)
    output = conv(input)
    if norm_fusable(bn, activation, output, residual):
        return _normalized(bn, activation, output, residual)
    output = bn(output)
    if residual is not None:
        output = output + residual
    return output if activation is None else activation(output)


def run_sequence(modules, input, residual=None):
    """Applies modules in order, fusing each [Conv2d,] BatchNorm2d[, ReLU | ReLU6] run; with a
    residual, returns residual + the result (folded into the last run when the sequence ends
    with a BatchNorm2d)."""
    modules = list(modules)
    count, i = len(modules), 0
    while i < count:
        module = modules[i]
        conv = module if type(module) is Conv2d else None
        j = i + 1 if conv is not None else i  # where the run's batch norm would be
        if j < count and type(modules[j]) is BatchNorm2d:
            bn, last = modules[j], j + 1 == count
            activation = modules[j + 1] if not last and type(modules[j + 1]) in (ReLU, ReLU6) else None
            carried = residual if last else None
            if conv is not None and fusable(conv, bn, activation, input, carried):
                input = _fused(conv, bn, activation, input, carried)
            elif conv is None and norm_fusable(bn, activation, input, carried):
                input = _normalized(bn, activation, input, carried)
            else:  # not fusable here: this module alone (a conv's batch norm may still fuse next)
                input = module(input)
                i += 1
                continue
            residual = None if last else residual
            i = j + (2 if activation is not None else 1)
            continue
        input = module(input)
        i += 1
    return input if residual is None else residual + input
