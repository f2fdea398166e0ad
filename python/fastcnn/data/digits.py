"""The bundled handwritten digits (UCI Optical Recognition of Handwritten Digits; E. Alpaydin and
C. Kaynak; CC BY 4.0; see DIGITS_LICENSE.txt): 1,797 grey 8x8 images with values 0..16.

The train/test split is fixed and stratified, with no random numbers involved (so it never
changes with a NumPy version or a seed): within each class, taken in file order, every fifth
image (positions 4, 9, 14, ...) is a test image. That gives 1,442 training and 355 test images
with the class proportions of the whole set.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..tensor import Tensor

_DIGITS_PATH = Path(__file__).with_name("digits.npz")
TEST_EVERY = 5


def _test_mask(labels: np.ndarray) -> np.ndarray:
    """True for every TEST_EVERY-th image of each class, counted in file order."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    class_starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    position_in_class = np.arange(labels.size) - class_starts
    mask = np.zeros(labels.size, dtype=bool)
    mask[order] = position_in_class % TEST_EVERY == TEST_EVERY - 1
    return mask


def load_digits(split: str | None = None):
    """(images, labels): float32 images (N, 1, 8, 8) scaled to [0, 1] and int64 labels 0..9.

    split is None (all 1,797 images), 'train' (1,442) or 'test' (355); see the module docstring
    for how the split is made.
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"load_digits: split must be None, 'train' or 'test', got {split!r}")
    with np.load(_DIGITS_PATH, allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    if split is not None:
        keep = _test_mask(labels) == (split == "test")
        images, labels = images[keep], labels[keep]
    scaled = (images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    return Tensor._wrap(scaled), Tensor._wrap(labels.astype(np.int64))
