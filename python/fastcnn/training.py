"""The training loop: `fit` (epochs of mini-batch steps with per-epoch loss and accuracy, an
optional text progress bar), `fit_digits` (fit on the bundled digits, then the test accuracy) and
`train_digits`, the job behind `python -m fastcnn train`; the examples/ scripts use them too."""
from __future__ import annotations

import sys
import time

from . import data, models, nn, optim
from .nn import functional as F
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


def _scores(output):
    """The class scores of a model's output: models that also return extras, like CapsNet's
    (lengths, reconstruction), put the scores first."""
    return output[0] if isinstance(output, tuple) else output


def evaluate(model: nn.Module, images, labels, batch_size: int = 512) -> float:
    """Accuracy of model (in eval mode, without autograd) on images and int labels; a prediction
    is the argmax of the scores (the first element when the model returns a tuple)."""
    model.eval()
    correct = 0
    with no_grad():
        for batch_images, batch_labels in data.DataLoader(data.TensorDataset(images, labels), batch_size):
            correct += int((_scores(model(batch_images)).data.argmax(axis=1) == batch_labels.data).sum())
    return correct / len(labels)


def cross_entropy_step(model: nn.Module, images, labels):
    """The default batch loss of fit: cross-entropy of the model's logits; returns (loss, logits)."""
    logits = model(images)
    return F.cross_entropy(logits, labels), logits


def fit(model: nn.Module, loader, optimizer, epochs: int, step=cross_entropy_step, scheduler=None, log=None,
        line: str = "epoch {epoch}/{epochs}: loss {loss:.4f}", progress_stream=None):
    """Trains model for epochs passes over loader and returns one (mean loss, accuracy) pair per
    epoch, both averaged over the epoch's training images.

    step(model, images, labels) returns (loss Tensor, class scores) for a batch; fit then runs the
    backward pass and the optimizer step. scheduler (if any) steps once per epoch. After each epoch,
    log(str) (if any) receives line formatted with epoch, epochs, loss and accuracy;
    progress_stream (if any) shows a ProgressBar during the epoch.
    """
    history = []
    for epoch in range(1, epochs + 1):
        progress = None if progress_stream is None else ProgressBar(len(loader), f"epoch {epoch}/{epochs}",
                                                                    progress_stream)
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for batch, (images, labels) in enumerate(loader, start=1):
            optimizer.zero_grad()
            loss, scores = step(model, images, labels)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(labels)
            correct += int((scores.data.argmax(axis=1) == labels.data).sum())
            seen += len(labels)
            if progress is not None:
                progress.update(batch, f"loss {total_loss / seen:.4f}")
        loss, accuracy = total_loss / seen, correct / seen
        if progress is not None:
            progress.close(f"loss {loss:.4f}")
        if scheduler is not None:
            scheduler.step()
        history.append((loss, accuracy))
        if log is not None:
            log(line.format(epoch=epoch, epochs=epochs, loss=loss, accuracy=accuracy))
    return history


def fit_digits(model: nn.Module, optimizer, epochs: int, batch_size: int, step=cross_entropy_step, scheduler=None,
               log=None, line: str = "epoch {epoch}/{epochs}: loss {loss:.4f}", progress_stream=None):
    """fit on shuffled batches of the digits' train split, then evaluate on the test split (read
    only for that). Returns (test accuracy, training seconds, fit's history)."""
    train_images, train_labels = data.load_digits("train")
    loader = data.DataLoader(data.TensorDataset(train_images, train_labels), batch_size, shuffle=True)
    start = time.perf_counter()
    history = fit(model, loader, optimizer, epochs, step, scheduler, log, line, progress_stream)
    seconds = time.perf_counter() - start
    return evaluate(model, *data.load_digits("test")), seconds, history


def train_digits(epochs: int = 6, batch_size: int = 32, lr: float = 2e-3, seed: int = 0, log=None,
                 progress_stream=None):
    """Trains models.digits_cnn() with Adam and cosine learning-rate decay on the digits' train
    split. Returns (model, test_accuracy, history) where history holds one (loss, accuracy) pair
    per epoch. log(str) receives the per-epoch lines; progress_stream (stderr by default) the bar."""
    manual_seed(seed)
    model = models.digits_cnn()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    test_accuracy, _, history = fit_digits(
        model, optimizer, epochs, batch_size, scheduler=scheduler, log=log,
        line="epoch {epoch}/{epochs}: loss {loss:.4f}, train accuracy {accuracy:.2%}",
        progress_stream=sys.stderr if progress_stream is None else progress_stream)
    return model, test_accuracy, history
