"""The nn modules, one family per file (STYLE.md)."""
from .module import Module, Parameter
from .container import ModuleDict, ModuleList, Sequential
from .linear import Flatten, Identity, Linear
from .conv import Conv2d, ConvTranspose2d
from .pooling import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d,
                      SpatialPyramidPooling)
from .norm import BatchNorm1d, BatchNorm2d
from .dropout import Dropout
from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Tanh
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .recurrent import ConvLSTM, ConvLSTMCell
from .nonlocal_block import NonLocalBlock2d
from .graph import FeatureMapGraph, GraphConv, grid_adjacency, knn_adjacency
from .blocks import Residual, SeparableConv2d
from .attention import MultiheadAttention, SelfAttention2d
from .mobilenet import InvertedResidual
from .capsule import MarginLoss, PrimaryCapsules, RoutingCapsules

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Linear", "Identity", "Flatten",
           "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
           "BatchNorm1d", "BatchNorm2d", "Dropout", "ReLU", "ReLU6", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "SiLU",
           "Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss", "MSELoss",
           "ConvLSTMCell", "ConvLSTM", "NonLocalBlock2d", "GraphConv", "FeatureMapGraph", "grid_adjacency",
           "knn_adjacency",
           "Residual", "SeparableConv2d", "GlobalAvgPool2d", "SpatialPyramidPooling", "SelfAttention2d",
           "MultiheadAttention", "InvertedResidual",
           "PrimaryCapsules", "RoutingCapsules", "MarginLoss"]
