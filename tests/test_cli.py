"""The fastcnn command line: `info`, and the argument checks of `train` that stop before training
(training itself is covered by test_train.py)."""
import subprocess
import sys
from pathlib import Path

import pytest

import fastcnn
from fastcnn.cli import main

PYTHON_DIR = str(Path(fastcnn.__file__).resolve().parents[1])


def test_info_prints_the_config(capsys):
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{key}: {value}" for key, value in fastcnn.config().items()]


def test_python_dash_m_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "fastcnn", "info"], capture_output=True, text=True,
                            env={"PYTHONPATH": PYTHON_DIR, "PATH": ""}, check=False)
    assert result.returncode == 0 and f"version: {fastcnn.__version__}" in result.stdout


def test_save_refuses_an_existing_file_before_training(tmp_path, capsys):
    existing = tmp_path / "model.npz"
    existing.write_bytes(b"keep me")
    assert main(["train", "--save", str(existing)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"


@pytest.mark.parametrize("flag", ["--epochs", "--batch-size"])
def test_train_rejects_non_positive_sizes(flag, capsys):
    assert main(["train", flag, "0"]) == 2
    assert f"{flag} must be at least 1" in capsys.readouterr().err


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])
    assert exit_info.value.code == 2
