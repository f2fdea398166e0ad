"""TensorDataset and DataLoader: minimal versions of torch.utils.data's.

A DataLoader over a TensorDataset takes each batch with one fancy-indexing operation per tensor;
other datasets (anything with __len__ and __getitem__ returning a tuple of arrays or Tensors)
are gathered item by item and stacked.
"""
from __future__ import annotations

import numpy as np

from .. import random
from ..serialization import to_numpy
from ..tensor import Tensor


class TensorDataset:
    """Tensors sharing their first dimension; item i is the tuple of their i-th rows."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        sizes = [tensor.shape[0] if tensor.ndim else None for tensor in tensors]
        if None in sizes or len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: size mismatch between tensors (shapes "
                             f"{[tuple(tensor.shape) for tensor in tensors]})")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(tensor[index] for tensor in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class DataLoader:
    """Yields batches (tuples of Tensors, without autograd history) of batch_size items.

    With shuffle, each pass draws a fresh permutation from fastcnn's global generator (so
    fastcnn.manual_seed makes the order reproducible); drop_last skips a final short batch.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self):
        full, remainder = divmod(len(self.dataset), self.batch_size)
        return full + (1 if remainder and not self.drop_last else 0)

    def __iter__(self):
        count = len(self.dataset)
        order = random.generator().permutation(count) if self.shuffle else np.arange(count)
        for batch in range(len(self)):
            yield self._gather(order[batch * self.batch_size:(batch + 1) * self.batch_size])

    def _gather(self, indices: np.ndarray):
        if isinstance(self.dataset, TensorDataset):
            return tuple(Tensor._wrap(tensor.data[indices]) for tensor in self.dataset.tensors)
        items = [self.dataset[int(index)] for index in indices]
        return tuple(Tensor._wrap(np.stack([to_numpy(field) for field in fields])) for fields in zip(*items))
