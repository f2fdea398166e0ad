"""Trains CapsNet with dynamic routing on the bundled 8x8 digits and reports the test accuracy.

    python examples/train_capsnet.py [--epochs N] [--seed S] [--no-reconstruction]

fastcnn.models.capsnet(10, 1, 8) with 3 routing iterations, trained with CapsNetLoss (margin loss
plus 0.0005 times the reconstruction error of the decoder, which sees only the true class's
capsule) and Adam with cosine decay. A digit's prediction is its longest class capsule. The test
split is only read for the final evaluation.
"""
from __future__ import annotations

import argparse
import time

import fastcnn
from fastcnn import data, models, optim


def class_lengths(model, images):
    output = model(images)
    return output[0] if isinstance(output, tuple) else output


def accuracy(model, images, labels, batch_size: int = 512) -> float:
    """The fraction of images whose longest class capsule is the label."""
    model.eval()
    correct = 0
    with fastcnn.no_grad():
        for batch_images, batch_labels in data.DataLoader(data.TensorDataset(images, labels), batch_size):
            correct += int((class_lengths(model, batch_images).data.argmax(axis=1) == batch_labels.data).sum())
    return correct / len(labels)


def train_step(model, loss_function, optimizer, images, labels) -> float:
    """One Adam step on a batch; the decoder (if any) reconstructs from the true class's capsule."""
    if model.decoder is not None:
        lengths, reconstructed = model(images, labels)
        loss = loss_function(lengths, labels, reconstructed, images)
    else:
        loss = loss_function(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def train(epochs: int = 10, batch_size: int = 64, learning_rate: float = 5e-3, reconstruction: bool = True,
          seed: int = 0, verbose: bool = True) -> dict:
    """Trains from scratch; returns the test accuracy and the training time in seconds."""
    fastcnn.manual_seed(seed)
    train_images, train_labels = data.load_digits(split="train")
    test_images, test_labels = data.load_digits(split="test")
    model = models.capsnet(num_classes=10, in_channels=1, input_size=8, reconstruction=reconstruction)
    loss_function = models.CapsNetLoss()
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loader = data.DataLoader(data.TensorDataset(train_images, train_labels), batch_size=batch_size, shuffle=True)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        losses = [train_step(model, loss_function, optimizer, images, labels) for images, labels in loader]
        scheduler.step()
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: loss {sum(losses) / len(losses):.4f}")
    seconds = time.perf_counter() - start
    test_accuracy = accuracy(model, test_images, test_labels)
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
