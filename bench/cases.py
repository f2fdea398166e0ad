"""The benchmark cases: one table per kind, each row turned into timed cases below.

A case builds, for one backend (backends.py), a closure that runs the work once; run.py times
it. Everything is written against torch's signatures, so the same builder serves fastcnn and
torch, and a fastcnn op that does not exist yet shows up as "unavailable" (the AttributeError
raised while building) instead of stopping the run.

Work per call, for "% of peak":
  flops  convolution: 2 * N * K * (C / groups) * R * S * P * Q multiply-adds counted as two
         FLOPs (N batch, C/K input/output channels, R x S kernel, P x Q output pixels; a
         transposed convolution scatters every input pixel, so P x Q is its input size);
         forward+backward is 3x the forward (input and weight gradients cost one forward each).
  bytes  the compulsory traffic: every tensor the op reads or writes, counted once (float32).
         A lower bound on what any implementation moves; bias and running statistics are
         negligible and left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

FLOAT_BYTES = 4
FORWARD_BACKWARD_FLOPS = 3  # forward + input gradient + weight gradient


@dataclass(frozen=True)
class Case:
    name: str
    section: str
    build: Callable  # (backend) -> closure running the work once
    flops: float = 0.0
    bytes: float = 0.0
    quick: bool = False  # part of the --quick subset
    scaling: bool = False  # also timed at 1 thread for the thread-scaling table
    model: str = ""  # a training step whose peak memory run.py measures


@dataclass(frozen=True)
class Operand:
    shape: tuple
    differentiable: bool = True  # gets requires_grad in forward+backward cases
    fill: float | None = None  # a constant (BN running statistics) instead of random values


def _functional_builder(call: Callable, operands: list, backward: bool) -> Callable:
    """A builder timing call(backend, *tensors), or its forward and backward when `backward`:
    the backward pass starts from a fixed random output gradient, and leaf gradients are
    dropped after each call so they are not accumulated."""

    def build(backend):
        rng = np.random.default_rng(0)
        tensors = []
        for operand in operands:
            values = (np.full(operand.shape, operand.fill, np.float32) if operand.fill is not None
                      else rng.standard_normal(operand.shape, dtype=np.float32))
            tensors.append(backend.tensor(values, requires_grad=backward and operand.differentiable))
        if not backward:
            return lambda: call(backend, *tensors)
        grad_output = backend.tensor(rng.standard_normal(tuple(call(backend, *tensors).shape), dtype=np.float32))
        leaves = [t for t in tensors if t.requires_grad]

        def forward_backward():
            call(backend, *tensors).backward(grad_output)
            for leaf in leaves:
                leaf.grad = None
        return forward_backward
    return build


def _numel(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


# --- convolutions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Convolution:
    name: str
    batch: int
    in_channels: int
    out_channels: int
    size: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    transposed: bool = False
    quick: bool = False
    scaling: bool = False

    @property
    def weight_shape(self):
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups, self.kernel, self.kernel)
        return (self.out_channels, self.in_channels // self.groups, self.kernel, self.kernel)

    @property
    def output_size(self) -> int:
        reach = self.dilation * (self.kernel - 1)
        if self.transposed:
            return (self.size - 1) * self.stride - 2 * self.padding + reach + 1
        return (self.size + 2 * self.padding - reach - 1) // self.stride + 1

    @property
    def flops(self) -> float:
        pixels = self.size ** 2 if self.transposed else self.output_size ** 2
        return 2.0 * self.batch * self.in_channels * self.out_channels * self.kernel ** 2 * pixels / self.groups

    def call(self, backend, input, weight, bias):
        if self.transposed:
            return backend.F.conv_transpose2d(input, weight, bias, self.stride, self.padding, 0, self.groups,
                                              self.dilation)
        return backend.F.conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def cases(self) -> list:
        input_shape = (self.batch, self.in_channels, self.size, self.size)
        output_numel = self.batch * self.out_channels * self.output_size ** 2
        operands = [Operand(input_shape), Operand(self.weight_shape), Operand((self.out_channels,))]
        tensors = _numel(input_shape) + _numel(self.weight_shape)
        return [
            Case(f"{self.name} fwd", "convolution", _functional_builder(self.call, operands, False), self.flops,
                 FLOAT_BYTES * (tensors + output_numel), self.quick, self.scaling),
            # Backward reads the output gradient, input and weight again and writes their gradients.
            Case(f"{self.name} fwd+bwd", "convolution", _functional_builder(self.call, operands, True),
                 FORWARD_BACKWARD_FLOPS * self.flops, FLOAT_BYTES * (3 * tensors + 2 * output_numel)),
        ]


CONVOLUTIONS = [
    Convolution("conv3x3 64->64 56px N16", 16, 64, 64, 56, 3, padding=1, quick=True, scaling=True),
    Convolution("conv3x3 128->128 28px N32", 32, 128, 128, 28, 3, padding=1, scaling=True),
    Convolution("conv3x3 256->256 14px N32", 32, 256, 256, 14, 3, padding=1, scaling=True),
    Convolution("seed conv3x3 3->32 32px N64", 64, 3, 32, 32, 3, padding=1),
    Convolution("dilated conv3x3 d2 64->64 56px N16", 16, 64, 64, 56, 3, padding=2, dilation=2),
    Convolution("pointwise 1x1 144->24 56px N32", 32, 144, 24, 56, 1),
    Convolution("depthwise 3x3 144 56px N32", 32, 144, 144, 56, 3, padding=1, groups=144),
    # MobileNetV2's last stage at CIFAR size: planes of 16 values (conv_depthwise.cpp's plane kernels)
    Convolution("depthwise 3x3 960 4px N64", 64, 960, 960, 4, 3, padding=1, groups=960),
    Convolution("transpose 4x4 s2 128->64 16px N32", 32, 128, 64, 16, 4, stride=2, padding=1, transposed=True),
]


# --- layers on a 64x32x32x32 feature map --------------------------------------------------------
FEATURE_MAP = (64, 32, 32, 32)
CHANNELS = FEATURE_MAP[1]
BN_OPERANDS = [Operand(FEATURE_MAP), Operand((CHANNELS,), False, 0.0), Operand((CHANNELS,), False, 1.0),
               Operand((CHANNELS,)), Operand((CHANNELS,))]


@dataclass(frozen=True)
class Layer:
    name: str
    call: Callable  # (backend, input, *parameters) -> output
    operands: list
    output_fraction: float = 1.0  # output elements per input element
    backward: bool = True  # also timed forward+backward
    quick: bool = False

    def cases(self) -> list:
        input_numel = _numel(self.operands[0].shape)
        output_numel = input_numel * self.output_fraction
        cases = [Case(f"{self.name} fwd", "layer", _functional_builder(self.call, self.operands, False),
                      bytes=FLOAT_BYTES * (input_numel + output_numel), quick=self.quick)]
        if self.backward:
            # Backward reads the output gradient and the saved input, and writes the input gradient.
            cases.append(Case(f"{self.name} fwd+bwd", "layer", _functional_builder(self.call, self.operands, True),
                              bytes=FLOAT_BYTES * (3 * input_numel + 2 * output_numel)))
        return cases


LAYERS = [
    Layer("max_pool2d 2x2", lambda b, x: b.F.max_pool2d(x, 2), [Operand(FEATURE_MAP)], 0.25),
    Layer("avg_pool2d 2x2", lambda b, x: b.F.avg_pool2d(x, 2), [Operand(FEATURE_MAP)], 0.25),
    Layer("batch_norm train", lambda b, x, mean, var, w, bias: b.F.batch_norm(x, mean, var, w, bias, True, 0.1, 1e-5),
          BN_OPERANDS),
    Layer("batch_norm eval", lambda b, x, mean, var, w, bias: b.F.batch_norm(x, mean, var, w, bias, False, 0.1, 1e-5),
          BN_OPERANDS, backward=False),
    Layer("relu", lambda b, x: b.F.relu(x), [Operand(FEATURE_MAP)], quick=True),
    Layer("softmax rows of 1024", lambda b, x: b.F.softmax(x, -1), [Operand((_numel(FEATURE_MAP) // 1024, 1024))]),
]


# --- matrix products ----------------------------------------------------------------------------
GEMM_SIZE = 1024
GEMM_FLOPS = 2.0 * GEMM_SIZE ** 3
GEMM_BYTES = FLOAT_BYTES * 3 * GEMM_SIZE ** 2
SQUARE = Operand((GEMM_SIZE, GEMM_SIZE))
GEMMS = [
    Case("matmul 1024x1024x1024", "gemm", _functional_builder(lambda b, x, y: b.lib.matmul(x, y), [SQUARE, SQUARE],
                                                               False), GEMM_FLOPS, GEMM_BYTES, quick=True),
    Case("linear 1024x1024 -> 1024", "gemm",
         _functional_builder(lambda b, x, w, bias: b.F.linear(x, w, bias), [SQUARE, SQUARE, Operand((GEMM_SIZE,))],
                             False), GEMM_FLOPS, GEMM_BYTES),
]


# --- attention ----------------------------------------------------------------------------------
def _attention_cases(name: str, batch: tuple, queries: int, keys: int, depth: int, value_depth: int) -> list:
    """scaled_dot_product_attention over (*batch, L, E) queries, (*batch, S, E) keys and
    (*batch, S, Ev) values. FLOPs: Q K^T and P V forward (2 * L * S * (E + Ev) per item); the
    backward's dV, dP, dQ and dK cost two forwards (a fused kernel's recomputation is not counted)."""
    operands = [Operand(batch + (queries, depth)), Operand(batch + (keys, depth)), Operand(batch + (keys, value_depth))]
    flops = 2.0 * _numel(batch) * queries * keys * (depth + value_depth)
    bytes_ = FLOAT_BYTES * _numel(batch) * (queries * (depth + value_depth) + keys * (depth + value_depth))
    shape = f"{name} B{'x'.join(map(str, batch))} L{queries} S{keys} E{depth} Ev{value_depth}"

    def call(b, q, k, v):
        return b.F.scaled_dot_product_attention(q, k, v)
    return [Case(f"sdpa {shape} fwd", "attention", _functional_builder(call, operands, False), flops, bytes_),
            Case(f"sdpa {shape} fwd+bwd", "attention", _functional_builder(call, operands, True),
                 FORWARD_BACKWARD_FLOPS * flops, 2 * bytes_)]


# seednet's SelfAttention2d (32 channels, reduction 8, one head) over a 32x32 map at batch 64, and
# a transformer layer's heads.
ATTENTION = (_attention_cases("seednet", (64, 1), 1024, 1024, 4, 32)
             + _attention_cases("transformer", (8, 8), 512, 512, 64, 64))


# --- models -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    name: str
    factory: str  # function name in fastcnn.models and torch_models
    arguments: dict
    sample_shape: tuple  # one input image (C, H, W)
    quick: bool = False

    def create(self, backend):
        return getattr(backend.models(), self.factory)(**self.arguments)

    def training_step(self, backend, batch: int = 64):
        """A closure doing one step: forward, cross-entropy, backward, Adam."""
        model = self.create(backend)
        model.train()
        optimizer = backend.optim.Adam(model.parameters(), lr=1e-3)
        rng = np.random.default_rng(0)
        images = backend.tensor(rng.standard_normal((batch,) + self.sample_shape, dtype=np.float32))
        labels = backend.labels(rng.integers(0, self.arguments.get("num_classes", 10), batch))

        def step():
            optimizer.zero_grad()
            loss = backend.F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
        return step

    def inference(self, backend):
        """A closure classifying one image in eval mode without autograd."""
        model = self.create(backend)
        model.eval()
        image = backend.tensor(np.random.default_rng(0).standard_normal((1,) + self.sample_shape, dtype=np.float32))

        def infer():
            with backend.lib.no_grad():
                model(image)
        return infer

    def cases(self) -> list:
        return [Case(f"{self.name} train step N64", "model", self.training_step, quick=self.quick, model=self.name),
                Case(f"{self.name} inference N1", "model", self.inference, quick=self.quick)]


MODELS = [
    Model("resnet_cifar20", "resnet_cifar", {"depth": 20, "num_classes": 10}, (3, 32, 32)),
    Model("mobilenet_v2", "mobilenet_v2", {"num_classes": 10, "input_size": 32}, (3, 32, 32)),
    Model("seednet", "seednet", {"num_classes": 10, "in_channels": 3}, (3, 32, 32)),
    Model("digits_cnn", "digits_cnn", {"num_classes": 10}, (1, 8, 8), quick=True),
]
MODELS_BY_NAME = {model.name: model for model in MODELS}


CASES = ([case for convolution in CONVOLUTIONS for case in convolution.cases()]
         + [case for layer in LAYERS for case in layer.cases()]
         + GEMMS
         + ATTENTION
         + [case for model in MODELS for case in model.cases()])
