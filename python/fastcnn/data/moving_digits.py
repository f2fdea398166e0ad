"""Moving digits: short videos of the bundled 8x8 digits drifting over a larger canvas and
bouncing off its edges, in the spirit of Moving MNIST (Srivastava et al. 2015), for next-frame
prediction with ConvLSTM."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .digits import load_digits

DIGIT_SIZE = 8


def _bounce(unfolded: np.ndarray, span: int) -> np.ndarray:
    """Positions of a point moving freely on the line, reflected into [0, span]: the walls
    act as mirrors, so the path unfolds into a triangle wave of period 2 * span."""
    folded = np.mod(unfolded, 2 * span)
    return np.where(folded > span, 2 * span - folded, folded)


def moving_digits(num_sequences: int, seq_len: int = 10, canvas: int = 16, num_digits: int = 1,
                  max_speed: int = 2, split: str = "train", seed: int = 0) -> Tensor:
    """(num_sequences, seq_len, 1, canvas, canvas) float32 frames in [0, 1].

    Each sequence shows num_digits digits drawn from load_digits(split), each starting at a random
    place with a constant velocity of 1..max_speed pixels per frame along each axis (random
    signs) and bouncing off the canvas edges; overlapping digits combine by their maximum. The
    same arguments always give the same sequences; use another seed (and the 'test' split) for
    held-out data.
    """
    for name, value, low in (("num_sequences", num_sequences, 1), ("seq_len", seq_len, 1),
                             ("canvas", canvas, DIGIT_SIZE + 1), ("num_digits", num_digits, 1),
                             ("max_speed", max_speed, 1)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"moving_digits: {name} must be an int >= {low}, got {value!r}")
    images, _ = load_digits(split)
    digits = images.numpy()[:, 0]
    rng = np.random.default_rng(seed)
    span = canvas - DIGIT_SIZE
    shape = (num_sequences, num_digits)
    chosen = digits[rng.integers(0, len(digits), size=shape)]
    start = rng.integers(0, span + 1, size=shape + (2,))
    velocity = rng.integers(1, max_speed + 1, size=shape + (2,)) * rng.choice([-1, 1], size=shape + (2,))
    steps = np.arange(seq_len)
    position = _bounce(start[:, :, None, :] + velocity[:, :, None, :] * steps[:, None], span)  # (B, D, T, 2)
    # Every pixel of every digit in every frame, as broadcast index arrays of shape (B, D, T, 8, 8).
    offsets = np.arange(DIGIT_SIZE)
    rows = position[..., 0, None, None] + offsets[:, None]
    cols = position[..., 1, None, None] + offsets[None, :]
    sequence = np.arange(num_sequences)[:, None, None, None, None]
    frame = steps[:, None, None]
    index = np.broadcast_arrays(sequence, frame, rows, cols)
    values = np.broadcast_to(chosen[:, :, None], index[0].shape)
    frames = np.zeros((num_sequences, seq_len, canvas, canvas), dtype=np.float32)
    np.maximum.at(frames, tuple(index), values)
    return Tensor._wrap(frames[:, :, None])
