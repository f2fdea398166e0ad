import importlib.util
from pathlib import Path

import numpy as np
import pytest

import fastcnn
from fastcnn.data import moving_digits
from fastcnn.models import convlstm_predictor
from checks import check_gradients

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_convlstm.py"


def _example():
    spec = importlib.util.spec_from_file_location("train_convlstm", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("num_digits, canvas, seq_len", [(1, 16, 10), (2, 12, 5), (3, 9, 1)])
def test_moving_digits_frames(num_digits, canvas, seq_len):
    frames = moving_digits(6, seq_len=seq_len, canvas=canvas, num_digits=num_digits, seed=3).numpy()
    assert frames.shape == (6, seq_len, 1, canvas, canvas) and frames.dtype == np.float32
    assert frames.min() >= 0 and frames.max() <= 1
    np.testing.assert_array_equal(frames, moving_digits(6, seq_len=seq_len, canvas=canvas, num_digits=num_digits,
                                                        seed=3).numpy())
    assert not np.array_equal(frames, moving_digits(6, seq_len=seq_len, canvas=canvas, num_digits=num_digits,
                                                    seed=4).numpy())


def test_moving_digit_moves_rigidly_and_bounces():
    """One digit never leaves the canvas (its ink is conserved), and its centre of ink moves by at
    most max_speed per axis and frame, reversing direction only where it meets a wall."""
    frames = moving_digits(20, seq_len=12, canvas=13, max_speed=2, seed=5).numpy()[:, :, 0].astype(np.float64)
    ink = frames.sum(axis=(2, 3))
    np.testing.assert_allclose(ink, ink[:, :1].repeat(12, 1), rtol=1e-6)
    grid = np.arange(13)
    centre = np.stack([(frames.sum(3) * grid).sum(2), (frames.sum(2) * grid).sum(2)], -1) / ink[..., None]
    step = np.diff(centre, axis=1)
    assert np.abs(step).max() <= 2 + 1e-6 and (np.abs(step) > 0.5).any()
    reversed_direction = step[:, 1:] * step[:, :-1] < 0
    assert reversed_direction.any()
    lowest, highest = centre.min(axis=1, keepdims=True), centre.max(axis=1, keepdims=True)
    at_wall = (np.minimum(centre[:, 1:-1] - lowest, highest - centre[:, 1:-1]) < 2 + 1e-6)
    assert at_wall[reversed_direction].all()


def test_moving_digits_rejects_bad_arguments():
    with pytest.raises(ValueError, match="moving_digits: canvas must be an int >= 9"):
        moving_digits(2, canvas=8)
    with pytest.raises(ValueError, match="moving_digits: num_sequences must be an int >= 1"):
        moving_digits(0)


def test_predictor_shapes_and_gradients():
    fastcnn.manual_seed(0)
    model = convlstm_predictor(1, hidden=(3, 2), kernel_size=3).double()
    frames = moving_digits(2, seq_len=3, canvas=10, seed=1).numpy().astype(np.float64)
    predicted = model(fastcnn.tensor(frames))
    assert tuple(predicted.shape) == frames.shape
    assert 0 < predicted.detach().numpy().min() and predicted.detach().numpy().max() < 1
    check_gradients(model, [frames], max_points=20)


def test_training_beats_copy_last_frame_by_30_percent():
    result = _example().train(log=lambda line: None)
    assert result["improvement"] >= 0.30, result
