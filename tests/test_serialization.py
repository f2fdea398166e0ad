"""fastcnn.save / fastcnn.load: round trips of state dicts, atomic no-clobber writes and clear
errors for missing or corrupt files."""
import os

import numpy as np
import pytest

import fastcnn
import fastcnn.nn as nn


def test_state_dict_round_trip_by_name(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = tmp_path / "model.npz"
    fastcnn.save(model.state_dict(), path)
    loaded = fastcnn.load(path)
    assert list(loaded) == list(model.state_dict())
    assert all(isinstance(value, fastcnn.Tensor) for value in loaded.values())
    fresh = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fresh.load_state_dict(loaded)
    x = fastcnn.randn(2, 3)
    np.testing.assert_array_equal(fresh(x).data, model(x).data)
    # Plain NumPy reads the same file by parameter name.
    with np.load(path) as archive:
        np.testing.assert_array_equal(archive["0.weight"], model[0].weight.data)


def test_nested_structures_and_plain_values_survive(tmp_path):
    value = {"step": 3, "lr": 0.5, "name": "adam", "flag": None, "nested": {0: [1, 2.5, (True, "x")]},
             "array": np.arange(6, dtype=np.int64).reshape(2, 3), "tensor": fastcnn.ones(2, dtype=fastcnn.float64)}
    fastcnn.save(value, tmp_path / "mixed.npz")
    loaded = fastcnn.load(tmp_path / "mixed.npz")
    assert loaded["step"] == 3 and loaded["lr"] == 0.5 and loaded["name"] == "adam" and loaded["flag"] is None
    assert loaded["nested"] == {0: [1, 2.5, (True, "x")]}
    assert isinstance(loaded["array"], np.ndarray) and loaded["array"].dtype == np.int64
    assert isinstance(loaded["tensor"], fastcnn.Tensor) and loaded["tensor"].dtype == np.float64


def test_a_plain_npz_loads_as_named_tensors(tmp_path):
    np.savez(tmp_path / "plain.npz", weight=np.ones((2, 2), np.float32))
    loaded = fastcnn.load(tmp_path / "plain.npz")
    assert list(loaded) == ["weight"] and loaded["weight"].shape == (2, 2)


def test_overwrite_false_keeps_an_existing_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "keep.npz"
    fastcnn.save({"a": fastcnn.ones(1)}, path)
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        fastcnn.save({"a": fastcnn.zeros(1)}, path, overwrite=False)
    assert fastcnn.load(path)["a"].item() == 1.0
    fastcnn.save({"a": fastcnn.zeros(1)}, path)
    assert fastcnn.load(path)["a"].item() == 0.0
    assert os.listdir(tmp_path) == ["keep.npz"]


def test_failed_save_leaves_nothing_behind(tmp_path):
    with pytest.raises(TypeError, match="cannot store an object of type object at 'bad'"):
        fastcnn.save({"bad": object()}, tmp_path / "bad.npz")
    assert os.listdir(tmp_path) == []


def test_missing_and_corrupt_files_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file at"):
        fastcnn.load(tmp_path / "absent.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(ValueError, match="is not a readable fastcnn checkpoint"):
        fastcnn.load(corrupt)
    fastcnn.save({"a": fastcnn.ones(3)}, tmp_path / "truncated.npz")
    data = (tmp_path / "truncated.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="is not a readable fastcnn checkpoint"):
        fastcnn.load(tmp_path / "truncated.npz")


def test_keys_must_be_strings_or_ints(tmp_path):
    with pytest.raises(TypeError, match="dict keys must be str or int"):
        fastcnn.save({(1, 2): fastcnn.ones(1)}, tmp_path / "keys.npz")
