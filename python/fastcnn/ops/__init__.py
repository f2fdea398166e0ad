"""One Function per op: forward and backward side by side, calling `fastcnn._C` for the heavy
work. `REGISTRY` maps each op's public name to its Function; `kernels()` is the one place where
the device picks the kernels. Families live one per file."""
from ._registry import REGISTRY, kernels, register
from .elementwise import (Abs, Add, Cast, Clamp, Clone, Div, Exp, Log, Maximum, Mul, Neg, Pow, Sqrt, Sub, Where,
                          unbroadcast)
from .reduce import Amax, Amin, Max, Mean, Min, Sum, Var, check_extremum_dims
from .shape import Cat, Expand, Index, Pad, Permute, Reshape, Split, Stack, Unbind, normalize_dim, normalize_dims
from .activation import Gelu, GeluTanh, LeakyRelu, Relu, Relu6, Sigmoid, Silu, Tanh
from .linalg import Linear, Matmul
from .capsule import MarginLoss, RoutingWeightedSum, Squash, routing_coupling
from .recurrent import ConvLSTMGates
from .conv import Conv2d, ConvTranspose2d
from .pool import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from .norm import BatchNorm
from .dropout import Dropout
from .softmax import LogSoftmax, Softmax
from .loss import BinaryCrossEntropyWithLogits, MseLoss, NllLoss
from .attention import ScaledDotProductAttention
