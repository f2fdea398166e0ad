"""fastcnn.data: the bundled digits data set and minimal batching."""
from .digits import load_digits
from .loader import DataLoader, TensorDataset

__all__ = ["load_digits", "DataLoader", "TensorDataset"]
