"""fastcnn.models: reference architectures built from fastcnn.nn."""
from .capsnet import CapsNet, CapsNetLoss, capsnet
from .seednet import SeedNet, seednet
