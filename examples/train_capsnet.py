"""Trains CapsNet with dynamic routing on the bundled 8x8 digits and reports the test accuracy.

    python examples/train_capsnet.py [--epochs N] [--seed S] [--no-reconstruction]

fastcnn.models.capsnet(10, 1, 8) with 3 routing iterations, trained with CapsNetLoss (margin loss
plus 0.0005 times the reconstruction error of the decoder, which sees only the true class's
capsule) and Adam with cosine decay. A digit's prediction is its longest class capsule. The test
split is only read for the final evaluation.
"""
from __future__ import annotations

import argparse

import fastcnn
from fastcnn import models, optim
from fastcnn.training import fit_digits


def margin_and_reconstruction_step(loss_function):
    """fit's step for CapsNet: the class-capsule lengths are the scores, and the decoder (if any)
    reconstructs from the true class's capsule."""
    def step(model, images, labels):
        if model.decoder is None:
            lengths = model(images)
            return loss_function(lengths, labels), lengths
        lengths, reconstructed = model(images, labels)
        return loss_function(lengths, labels, reconstructed, images), lengths
    return step


def train(epochs: int = 10, batch_size: int = 64, learning_rate: float = 5e-3, reconstruction: bool = True,
          seed: int = 0, verbose: bool = True) -> dict:
    """Trains from scratch; returns the test accuracy and the training time in seconds."""
    fastcnn.manual_seed(seed)
    model = models.capsnet(num_classes=10, in_channels=1, input_size=8, reconstruction=reconstruction)
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    test_accuracy, seconds, _ = fit_digits(model, optimizer, epochs, batch_size,
                                           step=margin_and_reconstruction_step(models.CapsNetLoss()),
                                           scheduler=scheduler, log=print if verbose else None)
    if verbose:
        print(f"test accuracy {test_accuracy:.4f} after {seconds:.1f} s of training")
    return {"test_accuracy": test_accuracy, "train_seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-reconstruction", action="store_true")
    arguments = parser.parse_args()
    train(epochs=arguments.epochs, reconstruction=not arguments.no_reconstruction, seed=arguments.seed)


if __name__ == "__main__":
    main()
