"""The training loop behind `python -m fastcnn train`: epochs of mini-batch Adam on the bundled
digits, with a text progress bar, per-epoch loss and accuracy, and a final test accuracy."""
from __future__ import annotations

import sys
import time

from . import data, models, nn, optim
from .random import manual_seed
from .tensor import no_grad


class ProgressBar:
    """A one-line bar on a stream, redrawn in place on terminals and written once when done
    elsewhere (so logs don't fill with carriage returns)."""

    def __init__(self, total: int, label: str, stream=None, width: int = 30):
        self.total, self.label, self.width = total, label, width
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()

    def _line(self, done: int, suffix: str) -> str:
        filled = self.width * done // max(self.total, 1)
        elapsed = time.perf_counter() - self.start
        return f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {elapsed:5.1f}s {suffix}"

    def update(self, done: int, suffix: str = "") -> None:
        if self.interactive:
            self.stream.write("\r" + self._line(done, suffix))
            self.stream.flush()

    def close(self, suffix: str = "") -> None:
        self.stream.write(("\r" if self.interactive else "") + self._line(self.total, suffix) + "\n")
        self.stream.flush()


def evaluate(model: nn.Module, images, labels, batch_size: int = 512) -> float:
    """Accuracy of model (in eval mode, without autograd) on images and int labels."""
    model.eval()
    correct = 0
    with no_grad():
        for batch_images, batch_labels in data.DataLoader(data.TensorDataset(images, labels), batch_size):
            correct += int((model(batch_images).data.argmax(axis=1) == batch_labels.data).sum())
    return correct / len(labels)


def train_epoch(model, loader, loss_function, optimizer, progress: ProgressBar | None = None):
    """One pass over loader; returns (mean loss, accuracy) over the epoch's training batches."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for batch, (images, labels) in enumerate(loader, start=1):
        optimizer.zero_grad()
        logits = model(images)
        loss = loss_function(logits, labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)
        correct += int((logits.data.argmax(axis=1) == labels.data).sum())
        seen += len(labels)
        if progress is not None:
            progress.update(batch, f"loss {total_loss / seen:.4f}")
    return total_loss / seen, correct / seen


def train_digits(epochs: int = 6, batch_size: int = 32, lr: float = 2e-3, seed: int = 0, log=None,
                 progress_stream=None):
    """Trains models.digits_cnn() with Adam and cosine learning-rate decay on the digits' train
    split. Returns (model, test_accuracy, history) where history holds one (loss, accuracy) pair
    per epoch. log(str) receives the per-epoch lines; progress_stream (stderr by default) the bar."""
    manual_seed(seed)
    train_images, train_labels = data.load_digits("train")
    test_images, test_labels = data.load_digits("test")
    model = models.digits_cnn()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loss_function = nn.CrossEntropyLoss()
    loader = data.DataLoader(data.TensorDataset(train_images, train_labels), batch_size, shuffle=True)
    history = []
    for epoch in range(1, epochs + 1):
        progress = ProgressBar(len(loader), f"epoch {epoch}/{epochs}", progress_stream)
        loss, accuracy = train_epoch(model, loader, loss_function, optimizer, progress)
        progress.close(f"loss {loss:.4f}")
        scheduler.step()
        history.append((loss, accuracy))
        if log is not None:
            log(f"epoch {epoch}/{epochs}: loss {loss:.4f}, train accuracy {100 * accuracy:.2f}%")
    test_accuracy = evaluate(model, test_images, test_labels)
    return model, test_accuracy, history
