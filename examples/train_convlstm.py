"""Train fastcnn.models.convlstm_predictor for next-frame prediction on moving digits.

Training sequences come from the digits' train split, held-out ones from the test split with
another seed. The result to beat is the copy-last-frame baseline (predict frame t + 1 = frame t):
the trained model must cut its test MSE by at least 30%.

    PYTHONPATH=python python examples/train_convlstm.py
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastcnn
import fastcnn.nn.functional as F
from fastcnn.data import moving_digits
from fastcnn.models import convlstm_predictor


def next_frame_mse(model, frames, batch_size=64):
    """Mean squared error of the model's next-frame predictions over frames 1..T-1."""
    model.eval()
    errors = []
    with fastcnn.no_grad():
        for start in range(0, frames.shape[0], batch_size):
            batch = frames[start:start + batch_size]
            predicted = model(batch[:, :-1])
            errors.append(F.mse_loss(predicted, batch[:, 1:], reduction="sum").item())
    return sum(errors) / frames[:, 1:].numel()


def copy_last_frame_mse(frames):
    """The baseline: predict that nothing moves."""
    return F.mse_loss(frames[:, :-1], frames[:, 1:]).item()


def train(train_sequences=384, test_sequences=256, seq_len=8, canvas=14, hidden=(12,), kernel_size=5, epochs=8,
          batch_size=16, lr=0.01, seed=0, log=print):
    """Trains the predictor and returns a dict with test_mse, baseline_mse, improvement
    (1 - test_mse / baseline_mse) and seconds (training wall time)."""
    fastcnn.manual_seed(seed)
    train_frames = moving_digits(train_sequences, seq_len=seq_len, canvas=canvas, split="train", seed=seed)
    test_frames = moving_digits(test_sequences, seq_len=seq_len, canvas=canvas, split="test", seed=seed + 1)
    model = convlstm_predictor(1, hidden=hidden, kernel_size=kernel_size)
    optimizer = fastcnn.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(train_sequences)
        total = 0.0
        for start in range(0, train_sequences, batch_size):
            batch = train_frames[order[start:start + batch_size]]
            loss = F.mse_loss(model(batch[:, :-1]), batch[:, 1:])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.shape[0]
        log(f"epoch {epoch + 1}/{epochs}: train mse {total / train_sequences:.5f} "
            f"({time.perf_counter() - started:.1f} s)")
    seconds = time.perf_counter() - started
    test_mse, baseline_mse = next_frame_mse(model, test_frames), copy_last_frame_mse(test_frames)
    return {"test_mse": test_mse, "baseline_mse": baseline_mse, "improvement": 1 - test_mse / baseline_mse,
            "seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-sequences", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = train(train_sequences=args.train_sequences, epochs=args.epochs, seed=args.seed)
    print(f"test mse {result['test_mse']:.5f} vs copy-last-frame {result['baseline_mse']:.5f}: "
          f"{100 * result['improvement']:.1f}% lower, trained in {result['seconds']:.1f} s")


if __name__ == "__main__":
    main()
