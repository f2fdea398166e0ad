"""Next-frame prediction with a ConvLSTM encoder (Shi et al. 2015, section 4.1's moving-digits
task, scaled down to the bundled 8x8 digits)."""
from __future__ import annotations

from .. import nn
from ..nn import functional as F


class ConvLSTMPredictor(nn.Module):
    """frames (B, T, C, H, W) in [0, 1] -> predictions (B, T, C, H, W), where prediction t is
    the model's guess of frame t + 1 from frames 0..t: a ConvLSTM stack, then a 1x1 convolution
    head with a sigmoid applied to every step's hidden state."""

    def __init__(self, channels: int, hidden=(16,), kernel_size=3):
        super().__init__()
        hidden = [hidden] if isinstance(hidden, int) else list(hidden)
        self.encoder = nn.ConvLSTM(channels, hidden, kernel_size, num_layers=len(hidden))
        self.head = nn.Conv2d(hidden[-1], channels, 1)

    def forward(self, frames):
        states, _ = self.encoder(frames)
        batch, steps = states.shape[:2]
        # One head convolution over all steps at once: fold time into the batch.
        logits = self.head(states.reshape(batch * steps, *states.shape[2:]))
        return F.sigmoid(logits).reshape(batch, steps, *logits.shape[1:])


def convlstm_predictor(channels: int = 1, hidden=(16,), kernel_size=3) -> ConvLSTMPredictor:
    """A ConvLSTMPredictor with one ConvLSTM layer per entry of hidden."""
    return ConvLSTMPredictor(channels, hidden, kernel_size)
