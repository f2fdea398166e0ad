"""Trains MobileNetV2 on the bundled 8x8 digits and reports the test accuracy.

    python examples/train_mobilenet.py [--epochs N] [--width-mult W] [--seed S] [--threads T]

The model is fastcnn.models.mobilenet_v2 with in_channels=1 and input_size=8, so the strides are
reduced until the 8x8 image ends as a 2x2 map (see fastcnn.models.mobilenet). The test split is
only read for the final evaluation.
"""
from __future__ import annotations

import argparse
import time

import fastcnn
import fastcnn.nn.functional as F
from fastcnn import data, models, optim


def accuracy(model, images, labels, batch_size: int = 256) -> float:
    model.eval()
    correct = 0
    with fastcnn.no_grad():
        for start in range(0, len(labels), batch_size):
            logits = model(images[start:start + batch_size])
            correct += int((logits.argmax(dim=1) == labels[start:start + batch_size]).sum().item())
    return correct / len(labels)


def train(epochs: int = 8, width_mult: float = 0.5, batch_size: int = 64, learning_rate: float = 5e-3,
          weight_decay: float = 1e-2, seed: int = 0, verbose: bool = True) -> dict:
    """Trains from scratch; returns the test accuracy and the training time in seconds."""
    fastcnn.manual_seed(seed)
    train_images, train_labels = data.load_digits(split="train")
    test_images, test_labels = data.load_digits(split="test")
    model = models.mobilenet_v2(num_classes=10, width_mult=width_mult, in_channels=1, input_size=8)
    optimizer = optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loader = data.DataLoader(data.TensorDataset(train_images, train_labels), batch_size=batch_size, shuffle=True)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        total_loss, batches = 0.0, 0
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss, batches = total_loss + loss.item(), batches + 1
        scheduler.step()
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: loss {total_loss / batches:.4f}")
    seconds = time.perf_counter() - start
    test_accuracy = accuracy(model, test_images, test_labels)
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
