"""Trains MobileNetV2 on the bundled 8x8 digits and reports the test accuracy.

    python examples/train_mobilenet.py [--epochs N] [--width-mult W] [--seed S] [--threads T]

The model is fastcnn.models.mobilenet_v2 with in_channels=1 and input_size=8, so the strides are
reduced until the 8x8 image ends as a 2x2 map (see fastcnn.models.mobilenet). The test split is
only read for the final evaluation.
"""
from __future__ import annotations

import argparse

import fastcnn
from fastcnn import models, optim
from fastcnn.training import fit_digits


def train(epochs: int = 8, width_mult: float = 0.5, batch_size: int = 64, learning_rate: float = 5e-3,
          weight_decay: float = 1e-2, seed: int = 0, verbose: bool = True) -> dict:
    """Trains from scratch; returns the test accuracy and the training time in seconds."""
    fastcnn.manual_seed(seed)
    model = models.mobilenet_v2(num_classes=10, width_mult=width_mult, in_channels=1, input_size=8)
    optimizer = optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    test_accuracy, seconds, _ = fit_digits(model, optimizer, epochs, batch_size, scheduler=scheduler,
                                           log=print if verbose else None)
    if verbose:
        print(f"test accuracy {test_accuracy:.4f} after {seconds:.1f} s of training")
    return {"test_accuracy": test_accuracy, "train_seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--width-mult", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="OpenMP threads (default: fastcnn's)")
    arguments = parser.parse_args()
    if arguments.threads is not None:
        fastcnn.set_num_threads(arguments.threads)
    train(epochs=arguments.epochs, width_mult=arguments.width_mult, seed=arguments.seed)


if __name__ == "__main__":
    main()
