"""The main job end to end: `fastcnn train` learns the bundled digits (test accuracy >= 97% after
a few epochs), reports progress and per-epoch results, and its checkpoint reproduces the result."""
import re

import fastcnn
from fastcnn.cli import main
from fastcnn.data import load_digits
from fastcnn.models import digits_cnn
from fastcnn.training import evaluate


def test_train_reaches_97_percent_and_saves_a_reproducible_checkpoint(tmp_path, capsys):
    path = tmp_path / "digits.npz"
    assert main(["train", "--epochs", "4", "--seed", "1", "--save", str(path)]) == 0
    captured = capsys.readouterr()
    epoch_lines = [line for line in captured.out.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 4 and all(re.search(r"loss \d+\.\d+, train accuracy \d+\.\d+%", line)
                                         for line in epoch_lines)
    assert "epoch 4/4 [" in captured.err and "46/46" in captured.err
    accuracy = float(re.search(r"test accuracy: (\d+\.\d+)%", captured.out).group(1))
    assert accuracy >= 97.0

    model = digits_cnn()
    model.load_state_dict(fastcnn.load(path))
    assert round(100 * evaluate(model, *load_digits("test")), 2) == accuracy
