"""fastcnn.data: the bundled digits (shapes, dtypes, scaling, the fixed stratified split) and
DataLoader/TensorDataset batching."""
import numpy as np
import pytest

import fastcnn
from fastcnn.data import DataLoader, TensorDataset, load_digits
from fastcnn.data.digits import _test_mask


@pytest.mark.parametrize("split, count", [(None, 1797), ("train", 1442), ("test", 355)])
def test_shapes_dtypes_and_scaling(split, count):
    images, labels = load_digits(split)
    assert isinstance(images, fastcnn.Tensor) and isinstance(labels, fastcnn.Tensor)
    assert images.shape == (count, 1, 8, 8) and images.dtype == np.float32
    assert labels.shape == (count,) and labels.dtype == np.int64
    assert images.numpy().min() == 0.0 and images.numpy().max() == 1.0
    # The raw values are integers 0..16, so every scaled pixel is a multiple of 1/16.
    np.testing.assert_array_equal(images.numpy() * 16, np.round(images.numpy() * 16))
    assert set(np.unique(labels.numpy())) == set(range(10))


def test_split_is_fixed():
    """Pinned so that a change of the split (which would silently change reported accuracies) fails."""
    images, labels = load_digits("test")
    assert labels.numpy()[:12].tolist() == [5, 0, 9, 8, 7, 1, 2, 6, 3, 4, 0, 2]
    assert int(round(float(images.numpy().sum() * 16))) == 111152
    assert int(round(float(load_digits("train")[0].numpy().sum() * 16))) == 450566


def test_split_is_disjoint_complete_and_stratified():
    _, labels = load_digits()
    mask = _test_mask(labels.numpy())
    all_images = load_digits()[0].numpy()
    np.testing.assert_array_equal(load_digits("test")[0].numpy(), all_images[mask])
    np.testing.assert_array_equal(load_digits("train")[0].numpy(), all_images[~mask])
    per_class = np.bincount(labels.numpy())
    test_per_class = np.bincount(labels.numpy()[mask], minlength=10)
    np.testing.assert_array_equal(test_per_class, per_class // 5)


def test_bad_split_raises():
    with pytest.raises(ValueError, match="split must be"):
        load_digits("validation")


def _dataset(count=10):
    features = fastcnn.tensor(np.arange(count * 3, dtype=np.float32).reshape(count, 3))
    targets = fastcnn.tensor(np.arange(count))
    return TensorDataset(features, targets)


@pytest.mark.parametrize("batch_size, drop_last, sizes", [(4, False, [4, 4, 2]), (4, True, [4, 4]),
                                                          (5, False, [5, 5]), (16, False, [10]), (16, True, [])])
def test_loader_batches(batch_size, drop_last, sizes):
    loader = DataLoader(_dataset(), batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(sizes) and [len(targets) for _, targets in batches] == sizes
    for features, targets in batches:
        assert features.dtype == np.float32 and targets.dtype == np.int64
        np.testing.assert_array_equal(features.numpy()[:, 0], targets.numpy() * 3)
    if sizes:
        assert np.concatenate([t.numpy() for _, t in batches]).tolist() == list(range(sum(sizes)))


def test_shuffle_covers_every_item_once_and_follows_the_seed():
    loader = DataLoader(_dataset(), batch_size=3, shuffle=True)
    fastcnn.manual_seed(5)
    first = np.concatenate([t.numpy() for _, t in loader])
    second = np.concatenate([t.numpy() for _, t in loader])
    fastcnn.manual_seed(5)
    repeated = np.concatenate([t.numpy() for _, t in loader])
    assert sorted(first.tolist()) == list(range(10)) and not np.array_equal(first, second)
    np.testing.assert_array_equal(first, repeated)


def test_loader_over_a_plain_dataset_stacks_items():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, index):
            return np.full((2,), index, np.float32), index * index

    features, targets = next(iter(DataLoader(Squares(), batch_size=4)))
    assert features.shape == (4, 2) and targets.numpy().tolist() == [0, 1, 4, 9]


def test_tensor_dataset_indexing_and_errors():
    dataset = _dataset()
    features, target = dataset[3]
    assert len(dataset) == 10 and features.numpy().tolist() == [9.0, 10.0, 11.0] and target.item() == 3
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(fastcnn.zeros(3, 2), fastcnn.zeros(4))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(dataset, batch_size=0)
