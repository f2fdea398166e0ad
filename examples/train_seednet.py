"""Trains SeedNet, the seed's example architecture, on the bundled 8x8 digits and reports the
test accuracy.

    python examples/train_seednet.py [--epochs N] [--seed S]

The model is fastcnn.models.seednet(in_channels=1) trained with cross-entropy (the softmax of the
seed's output layer lives in the loss) and Adam with cosine decay. The test split is only read
for the final evaluation.
"""
from __future__ import annotations

import argparse

import fastcnn
from fastcnn import models, optim
from fastcnn.training import fit_digits


def train(epochs: int = 6, batch_size: int = 64, learning_rate: float = 5e-3, seed: int = 0,
          verbose: bool = True) -> dict:
    """Trains from scratch; returns the test accuracy and the training time in seconds."""
    fastcnn.manual_seed(seed)
    model = models.seednet(num_classes=10, in_channels=1)
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    test_accuracy, seconds, _ = fit_digits(
        model, optimizer, epochs, batch_size, scheduler=scheduler, log=print if verbose else None,
        line="epoch {epoch}/{epochs}: loss {loss:.4f}, train accuracy {accuracy:.4f}")
    if verbose:
        print(f"test accuracy {test_accuracy:.4f} after {seconds:.1f} s of training")
    return {"test_accuracy": test_accuracy, "train_seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    train(epochs=arguments.epochs, seed=arguments.seed)


if __name__ == "__main__":
    main()
