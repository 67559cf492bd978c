"""Unit tests of Module 08: ``tinytorch.data`` (datasets, the DataLoader, splits, the digits).

The expected behaviour is PyTorch's ``torch.utils.data`` written out by hand (no torch here):
batches of consecutive indices of one order per epoch, ``len(loader)`` as the number of
batches, ``random_split`` with counts or fractions (PyTorch >= 1.13 rounding), and the
documented differences (a NumPy Generator, required whenever something is shuffled).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.data import (
    DATA_DIR_VARIABLE,
    DIGITS_SPLIT_SEED,
    DataLoader,
    Dataset,
    Digits,
    Subset,
    TensorDataset,
    collate,
    common_length,
    count_batches,
    data_dir,
    fetch_batch,
    load_digits,
    random_split,
    split_lengths,
)
from tinytorch.tensor import ShapeError, Tensor

PROPERTY = settings(max_examples=40, deadline=None, derandomize=True, database=None)
REPO_DATA = Path(__file__).resolve().parents[2] / "data"


def labelled(n: int, features: int = 3) -> TensorDataset:
    """Row i of the inputs is [i, i, ...] (float32) and its label i (int64): batches name their rows."""
    rows = np.repeat(np.arange(n, dtype=np.float32)[:, None], features, axis=1)
    return TensorDataset(Tensor(rows), Tensor(np.arange(n), dtype=np.int64))


class Squares(Dataset):
    """A data set without ``__getitems__``: sample i is (float array [i, i*i], int i)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return np.array([index, index * index], dtype=np.float64), index

    def __len__(self) -> int:
        return self.n


def epoch_labels(loader: DataLoader) -> list[list[int]]:
    return [labels.numpy().tolist() for _, labels in loader]


# ------------------------------------------------------------------------ datasets
def test_tensor_dataset_items_are_tuples_of_rows() -> None:
    data = labelled(5)
    assert len(data) == 5
    x, y = data[3]
    assert x.shape == (3,) and x.numpy().tolist() == [3.0, 3.0, 3.0] and y.item() == 3 and y.dtype == np.int64
    assert data[-1][1].item() == 4, "negative indices count from the end, as in PyTorch"
    xs, ys = data.__getitems__(np.array([4, 0, 2]))
    assert xs.shape == (3, 3) and ys.numpy().tolist() == [4, 0, 2]
    with pytest.raises(IndexError):
        data[5]


def test_tensor_dataset_shape_errors_name_the_shapes() -> None:
    with pytest.raises(ShapeError, match=r"\(4, 2\).*\(3,\)"):
        TensorDataset(Tensor(np.zeros((4, 2))), Tensor(np.zeros(3)))
    with pytest.raises(ShapeError):
        TensorDataset(Tensor(1.0))
    with pytest.raises(TypeError):
        TensorDataset(np.zeros(3))
    with pytest.raises(ValueError):
        TensorDataset()
    assert common_length([Tensor(np.zeros((0, 4)))]) == 0


def test_dataset_base_asks_for_its_methods() -> None:
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]
    with pytest.raises(NotImplementedError, match="__len__"):
        len(Dataset())


# ------------------------------------------------------------------------ batches
@PROPERTY
@given(n=st.integers(0, 60), batch_size=st.integers(1, 20), shuffle=st.booleans(), drop_last=st.booleans())
def test_every_sample_exactly_once_per_epoch(n: int, batch_size: int, shuffle: bool, drop_last: bool) -> None:
    generator = np.random.default_rng(n) if shuffle else None
    loader = DataLoader(labelled(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, generator=generator)
    for _ in range(2):
        batches = epoch_labels(loader)
        assert len(batches) == len(loader) == count_batches(n, batch_size, drop_last)
        seen = [i for batch in batches for i in batch]
        kept = n - n % batch_size if drop_last else n
        assert len(seen) == len(set(seen)) == kept, "no sample twice, none missing (beyond a dropped last batch)"
        assert all(len(batch) == batch_size for batch in batches[:-1] if batches)
        if not shuffle:
            assert seen == list(range(kept))
        if batches:
            assert 1 <= len(batches[-1]) <= batch_size and (not drop_last or len(batches[-1]) == batch_size)


def test_len_is_the_number_of_batches() -> None:
    assert len(DataLoader(labelled(10), batch_size=4)) == 3
    assert len(DataLoader(labelled(10), batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(labelled(3), batch_size=5, drop_last=True)) == 0
    assert len(DataLoader(labelled(7))) == 7, "batch_size defaults to 1, as in PyTorch"
    assert list(DataLoader(labelled(0), batch_size=2)) == []


def test_same_seed_same_epochs_and_a_new_order_each_epoch() -> None:
    def run(seed: int) -> list[list[list[int]]]:
        loader = DataLoader(labelled(50), batch_size=8, shuffle=True, generator=np.random.default_rng(seed))
        return [epoch_labels(loader) for _ in range(3)]

    first, again, other = run(1), run(1), run(2)
    assert first == again, "the same seed must give the same sequence of epochs"
    assert first[0] != first[1] != first[2], "each epoch (each iter) must draw a new order"
    assert first != other
    order = np.random.default_rng(1).permutation(50)
    assert sum(first[0], []) == order.tolist(), "epoch 1 follows generator.permutation(n)"


def test_unshuffled_epochs_repeat() -> None:
    loader = DataLoader(labelled(9), batch_size=4)
    assert epoch_labels(loader) == epoch_labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]


def test_tensor_batches_keep_shapes_and_dtypes() -> None:
    data = TensorDataset(
        Tensor(np.zeros((10, 2, 3), dtype=np.float32)),
        Tensor(np.arange(10), dtype=np.int32),
        Tensor(np.ones(10, dtype=bool)),
    )
    images, labels, mask = next(iter(DataLoader(data, batch_size=4)))
    assert images.shape == (4, 2, 3) and images.dtype == np.float32
    assert labels.shape == (4,) and labels.dtype == np.int32, "labels keep their integer dtype"
    assert mask.dtype == np.bool_


def test_tensor_dataset_batch_is_one_fancy_index_per_tensor() -> None:
    from tinytorch.tensor import add_observer, remove_observer

    class Ops:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def before(self, op, inputs, attrs) -> None:
            self.seen.append(op)

        def after(self, op, inputs, attrs, out) -> None:
            pass

    loader = DataLoader(labelled(100), batch_size=25)
    ops = Ops()
    add_observer(ops)
    try:
        batches = list(loader)
    finally:
        remove_observer(ops)
    assert len(batches) == 4
    assert ops.seen == ["getitem"] * 8, "a TensorDataset batch is gathered with one getitem per tensor, no per-sample loop"


def test_generic_datasets_are_collated_sample_by_sample() -> None:
    loader = DataLoader(Squares(5), batch_size=2, shuffle=True, generator=np.random.default_rng(3))
    batches = list(loader)
    assert [len(y) for _, y in batches] == [2, 2, 1]
    for x, y in batches:
        assert x.dtype == np.float32 and y.dtype == np.int64, "float arrays become float32, Python ints int64"
        assert np.array_equal(x.numpy(), np.stack([y.numpy(), y.numpy() ** 2], axis=1))


def test_subset_batches_use_the_base_dataset_vectorized_path() -> None:
    base = labelled(20)
    part = Subset(base, [19, 3, 7, 11])
    assert len(part) == 4 and part[1][1].item() == 3
    _, labels = fetch_batch(part, np.array([0, 2]))
    assert labels.numpy().tolist() == [19, 7]
    generic = Subset(Squares(10), np.array([9, 2]))
    _, y = fetch_batch(generic, np.array([1, 0]))
    assert y.numpy().tolist() == [2, 9]


# ------------------------------------------------------------------------ collate
def test_collate_stacks_fields() -> None:
    x, y = collate([(Tensor([1.0, 2.0]), 0), (Tensor([3.0, 4.0]), 1)])
    assert x.numpy().tolist() == [[1, 2], [3, 4]] and x.dtype == np.float32
    assert y.numpy().tolist() == [0, 1] and y.dtype == np.int64
    assert collate([np.float64(1.0), 2.0]).dtype == np.float32
    assert collate([Tensor([1.0], dtype=np.float64)] * 2).dtype == np.float64, "Tensors keep their dtype"
    nested = collate([(1, (2.0, 3)), (4, (5.0, 6))])
    assert nested[0].numpy().tolist() == [1, 4] and nested[1][1].numpy().tolist() == [3, 6]


def test_collate_errors() -> None:
    with pytest.raises(ValueError):
        collate([])
    with pytest.raises(ValueError):
        collate([(1, 2), (1, 2, 3)])
    with pytest.raises(ShapeError, match=r"\(2,\).*\(3,\)"):
        collate([np.zeros(2), np.zeros(3)])


# ------------------------------------------------------------------------ argument errors
@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": -3}, ValueError, "batch_size"),
        ({"batch_size": 2.0}, TypeError, "batch_size"),
        ({"batch_size": True}, TypeError, "batch_size"),
        ({"shuffle": 1}, TypeError, "shuffle"),
        ({"drop_last": "yes"}, TypeError, "drop_last"),
        ({"shuffle": True}, ValueError, "default_rng"),
        ({"shuffle": True, "generator": 0}, TypeError, "default_rng"),
    ],
)
def test_bad_loader_arguments(kwargs: dict, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        DataLoader(labelled(4), **kwargs)


def test_loader_needs_a_dataset() -> None:
    with pytest.raises(TypeError, match="__len__"):
        DataLoader(42)
    assert len(DataLoader(labelled(4), batch_size=np.int64(2))) == 2, "a NumPy integer is a valid batch size"


# ------------------------------------------------------------------------ random_split
def test_split_lengths_counts_and_fractions() -> None:
    assert split_lengths(10, [3, 7]) == [3, 7]
    assert split_lengths(10, [0.3, 0.3, 0.4]) == [3, 3, 4]
    assert split_lengths(11, [0.5, 0.5]) == [6, 5]
    assert split_lengths(3, [0.1, 0.1, 0.8]) == [1, 0, 2], "floors [0, 0, 2], the left-over 1 goes to the first part"
    assert split_lengths(1797, [0.6, 0.2, 0.2]) == [1079, 359, 359]
    assert split_lengths(0, [0.5, 0.5]) == [0, 0]


@pytest.mark.parametrize("lengths", [[6, 3], [0.5, 0.4], [1.5, -0.5], [11, -1], [5, 0.5], [], [True, 9]])
def test_split_lengths_rejects(lengths: list) -> None:
    with pytest.raises(ValueError):
        split_lengths(10, lengths)


@PROPERTY
@given(n=st.integers(0, 300), parts=st.lists(st.integers(1, 10), min_size=1, max_size=5))
def test_fractions_always_cover_every_sample(n: int, parts: list[int]) -> None:
    fractions = [p / sum(parts) for p in parts]
    counts = split_lengths(n, fractions)
    assert sum(counts) == n and all(c >= 0 for c in counts)
    assert all(abs(c - n * f) < 1 + 1e-9 for c, f in zip(counts, fractions))


def test_random_split_is_disjoint_complete_and_seeded() -> None:
    data = labelled(100)
    parts = random_split(data, [0.7, 0.2, 0.1], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [70, 20, 10] and all(isinstance(p, Subset) for p in parts)
    indices = np.concatenate([p.indices for p in parts])
    assert sorted(indices.tolist()) == list(range(100)), "disjoint parts that cover the data set"
    again = random_split(data, [70, 20, 10], generator=np.random.default_rng(0))
    assert all(np.array_equal(a.indices, b.indices) for a, b in zip(parts, again)), "same seed, same split"
    other = random_split(data, [70, 20, 10], generator=np.random.default_rng(1))
    assert not np.array_equal(parts[0].indices, other[0].indices)
    assert parts[1][0][1].item() == parts[1].indices[0], "a Subset renumbers the samples it holds"


def test_random_split_needs_a_generator() -> None:
    with pytest.raises(ValueError, match="generator"):
        random_split(labelled(4), [2, 2])
    with pytest.raises(TypeError, match="Generator"):
        random_split(labelled(4), [2, 2], generator=7)
    with pytest.raises(ValueError):
        random_split(labelled(4), [2, 1], generator=np.random.default_rng(0))


# ------------------------------------------------------------------------ the digits
@pytest.fixture(scope="module")
def digits() -> Digits:
    return load_digits()


def _all(part: Subset) -> tuple[np.ndarray, np.ndarray]:
    images, labels = fetch_batch(part, np.arange(len(part)))
    return images.numpy(), labels.numpy()


def test_digits_shapes_dtypes_ranges_and_sizes(digits: Digits) -> None:
    assert [len(digits.train), len(digits.val), len(digits.test)] == [1079, 359, 359]
    for part in (digits.train, digits.val, digits.test):
        images, labels = _all(part)
        assert images.shape == (len(part), 64) and images.dtype == np.float32
        assert labels.shape == (len(part),) and labels.dtype == np.int64
        assert images.min() >= 0.0 and images.max() <= 1.0
        assert set(np.unique(labels).tolist()) == set(range(10)), "every digit occurs in every split"
        assert np.allclose(images * 16, np.round(images * 16)), "pixels are counts 0..16 divided by 16"


def test_digits_match_the_file_and_the_split_is_disjoint(digits: Digits) -> None:
    with gzip.open(REPO_DATA / "digits" / "digits.csv.gz", "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    base = digits.train.dataset
    assert digits.val.dataset is base and digits.test.dataset is base
    assert np.array_equal(base.tensors[0].numpy() * 16, table[:, :64])
    assert np.array_equal(base.tensors[1].numpy(), table[:, 64])
    indices = np.concatenate([digits.train.indices, digits.val.indices, digits.test.indices])
    assert sorted(indices.tolist()) == list(range(len(table))), "train, val and test are disjoint and cover all"
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(table))
    assert np.array_equal(indices, order), "the documented split: permutation with DIGITS_SPLIT_SEED, cut 60/20/20"


def test_digits_split_is_the_same_on_every_call(digits: Digits) -> None:
    again = load_digits()
    for name in ("train", "val", "test"):
        assert np.array_equal(getattr(digits, name).indices, getattr(again, name).indices)


def test_digits_train_with_a_loader(digits: Digits) -> None:
    loader = DataLoader(digits.train, batch_size=64, shuffle=True, generator=np.random.default_rng(0))
    images, labels = next(iter(loader))
    assert images.shape == (64, 64) and labels.dtype == np.int64
    assert len(loader) == 17


def test_data_folder_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DATA_DIR_VARIABLE, raising=False)
    assert data_dir() == REPO_DATA, "without the variable, data/ beside the tinytorch package"
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(REPO_DATA))
    assert len(load_digits().test) == 359
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(FileNotFoundError) as caught:
        load_digits()
    message = str(caught.value)
    assert str(tmp_path / "digits" / "digits.csv.gz") in message and DATA_DIR_VARIABLE in message


def test_the_variable_is_the_one_tito_sets() -> None:
    from tito.course import DATA_DIR_VARIABLE as SET_BY_TITO

    assert DATA_DIR_VARIABLE == SET_BY_TITO
