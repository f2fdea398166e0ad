"""Trains SeedNet, the seed's example architecture, on the bundled 8x8 digits and reports the
test accuracy.

    python examples/train_seednet.py [--epochs N] [--seed S]

The model is fastcnn.models.seednet(in_channels=1) trained with cross-entropy (the softmax of the
seed's output layer lives in the loss) and Adam with cosine decay. The test split is only read
for the final evaluation.
"""
from __future__ import annotations

import argparse
import time

import fastcnn
from fastcnn import data, models, nn, optim
from fastcnn.training import evaluate, train_epoch


def train(epochs: int = 6, batch_size: int = 64, learning_rate: float = 5e-3, seed: int = 0,
          verbose: bool = True) -> dict:
    """Trains from scratch; returns the test accuracy and the training time in seconds."""
    fastcnn.manual_seed(seed)
    train_images, train_labels = data.load_digits(split="train")
    test_images, test_labels = data.load_digits(split="test")
    model = models.seednet(num_classes=10, in_channels=1)
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loader = data.DataLoader(data.TensorDataset(train_images, train_labels), batch_size=batch_size, shuffle=True)
    loss_function = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for epoch in range(epochs):
        loss, train_accuracy = train_epoch(model, loader, loss_function, optimizer)
        scheduler.step()
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: loss {loss:.4f}, train accuracy {train_accuracy:.4f}")
    seconds = time.perf_counter() - start
    test_accuracy = evaluate(model, test_images, test_labels)
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
