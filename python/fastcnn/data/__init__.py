"""fastcnn.data: the bundled digits data set and minimal batching."""
from .digits import load_digits
from .loader import DataLoader, TensorDataset
from .moving_digits import moving_digits

__all__ = ["load_digits", "DataLoader", "TensorDataset", "moving_digits"]
