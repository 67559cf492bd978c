# %% [markdown]
# # Module 08: DataLoader
#
# A training loop never sees a whole data set at once. It asks for **batches**: 32 images
# and their 32 labels, then the next 32, in a new random order every epoch. In this module
# you build the pieces that serve those batches, with the names and behaviour of PyTorch's
# `torch.utils.data`:
#
# - `Dataset`, `TensorDataset` and `Subset`: something with a length that returns sample `i`;
# - `DataLoader`: turns a dataset into an iterable of batches, shuffled or in order;
# - `random_split`: a reproducible train/validation split;
# - `load_digits()`: the bundled 8×8 handwritten digits, split into train, validation and test.
#
# **What you will write**
#
# - `common_length`: the number of samples a `TensorDataset` holds, checking that all its
#   tensors agree;
# - `batch_indices`: the indices of every batch of one epoch (shuffled or not, with or
#   without the last short batch);
# - `count_batches`: how many batches an epoch has, which is `len(loader)`;
# - `collate`: stack a list of samples into one batch of tensors;
# - `split_lengths`: turn `[0.6, 0.2, 0.2]` into whole sample counts for `random_split`.
#
# **Why a systems engineer cares.** A GPU that waits for its next batch is a GPU that is
# not training. The data path has a fixed cost per batch (Python calls, index arithmetic,
# allocating the batch) and a cost per sample (copying it). Gathering a batch with one
# vectorized index instead of one Python call per sample is the difference between a loader
# that keeps up and one that does not; at the end you measure both, side by side.
#
# **Connections.** The loader yields `Tensor`s from Module 01; a training step (Modules
# 04–07) runs the model, the loss and `backward()` of Module 02 on each batch. Modules 09
# (convolutions) and 15–20 (profiling, benchmarking) train and measure models on the digits
# this module loads.

# %%
#| default_exp data

# %%
#| export
from __future__ import annotations

import gzip
import inspect
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinytorch.tensor import ShapeError, Tensor


# %% [markdown]
# ## 1. Datasets
#
# PyTorch's contract for a data set is small: `len(dataset)` says how many samples it holds
# and `dataset[i]` returns sample `i` (for supervised learning, a tuple `(input, label)`).
# Anything that keeps that promise can be loaded: files on disk, rows of an array, text
# generated on the fly. `Dataset` below is the base class that states the promise.
#
# The most common data set is a few tensors that share their first dimension: `N` images of
# shape `(N, 64)` and `N` labels of shape `(N,)`. `TensorDataset(images, labels)` holds
# them, and sample `i` is `(images[i], labels[i])`. Labels are class indices, so build them
# as integers: `Tensor(labels, dtype=np.int64)` (a plain `Tensor(labels)` converts them to
# float32, Module 01's default).
#
# ### Your task: `common_length`
# `TensorDataset(*tensors)` calls `common_length(tensors)` to find `N`. Rules:
#
# 1. At least one tensor: otherwise raise `ValueError`.
# 2. Every argument is a `Tensor` (not a NumPy array or a list): otherwise `TypeError`.
# 3. Every tensor has at least one dimension (a 0-d tensor has no rows): otherwise `ShapeError`.
# 4. All first dimensions are equal: otherwise `ShapeError` whose message lists every shape,
#    e.g. `(100, 64)` and `(99,)`, so the person can see which tensor is off.

# %% nbgrader={"grade": false, "grade_id": "impl-common-length", "locked": false, "solution": true, "schema_version": 3}
#| export
def common_length(tensors: Sequence[Tensor]) -> int:
    """The shared first dimension ``N`` of ``tensors`` (shapes ``(N, ...)``).

    ``common_length([zeros(5, 3), zeros(5)]) == 5``. Raises ``ValueError`` for no tensors,
    ``TypeError`` for something that is not a ``Tensor``, ``ShapeError`` for a 0-d tensor or
    for first dimensions that differ (the message lists all the shapes).

    Hint: check the types first, then collect ``t.shape[0]`` of each tensor into a set.
    """
    ### BEGIN SOLUTION
    if len(tensors) == 0:
        raise ValueError("TensorDataset needs at least one tensor, e.g. TensorDataset(images, labels)")
    for tensor in tensors:
        if not isinstance(tensor, Tensor):
            raise TypeError(
                f"TensorDataset takes Tensors, got {type(tensor).__name__}; wrap arrays with "
                "Tensor(array) (labels: Tensor(labels, dtype=np.int64))"
            )
    shapes = [tensor.shape for tensor in tensors]
    if any(len(shape) == 0 for shape in shapes):
        raise ShapeError(f"TensorDataset needs tensors with a first (sample) dimension, got shapes {shapes}")
    if len({shape[0] for shape in shapes}) > 1:
        raise ShapeError(
            f"TensorDataset tensors must share their first dimension (one row per sample), "
            f"got shapes {', '.join(map(str, shapes))}"
        )
    return shapes[0][0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-common-length", "locked": true, "points": 2, "solution": false, "schema_version": 3}
from tinytorch.tensor import error_name, expect_error, observe, unseen_rng, zeros

assert common_length([zeros(5, 3), zeros(5)]) == 5, "common_length: (5, 3) and (5,) share N = 5"
assert common_length([zeros(0, 2)]) == 0, "common_length: an empty tensor holds 0 samples"
assert common_length((zeros(7, 2, 2),)) == 7, "common_length: works on a tuple of one tensor"
expect_error(ShapeError, lambda: common_length([zeros(100, 64), zeros(99)]), "(100, 64)", "(99,)",
             what="common_length of shapes (100, 64) and (99,)")
expect_error(ShapeError, lambda: common_length([zeros(3), Tensor(1.0)]), what="common_length with a 0-d tensor")
expect_error(TypeError, lambda: common_length([np.zeros(3)]), what="common_length of a NumPy array")
expect_error(TypeError, lambda: common_length([zeros(3), [1.0, 2.0, 3.0]]), what="common_length of a Tensor and a list")
expect_error(ValueError, lambda: common_length([]), what="common_length of no tensors")

# Graded: the same rules on shapes drawn for each graded run, compared with the reference.
rng = unseen_rng("test-common-length")
n = int(rng.integers(0, 50))
shapes = [(n, *(int(d) for d in rng.integers(1, 4, size=int(rng.integers(0, 3))))) for _ in range(int(rng.integers(1, 4)))]
observe("common_length of tensors of shapes (N, ...)", common_length([zeros(*shape) for shape in shapes]))
observe("common_length of a tuple of tensors", common_length(tuple(zeros(*shape) for shape in shapes)))
observe("common_length, first dimensions N and N + 1, raises",
        error_name(lambda: common_length([zeros(*shapes[0]), zeros(n + 1, 2)])))
observe("common_length with a 0-d tensor raises", error_name(lambda: common_length([zeros(*shapes[0]), Tensor(1.0)])))
observe("common_length with a NumPy array raises", error_name(lambda: common_length([zeros(*shapes[0]), np.zeros(shapes[0])])))
observe("common_length of no tensors raises", error_name(lambda: common_length([])))


# %% [markdown]
# The classes, given. `TensorDataset` also has `__getitems__(indices)`, which returns a
# whole batch at once: one fancy index `tensor[indices]` per tensor gathers all the rows of
# the batch in a single vectorized step, keeping each tensor's dtype. The `DataLoader` uses
# it when a data set has it (PyTorch 2 added the same optional method); other data sets are
# read one sample at a time and stacked by `collate` (your task in section 3).
# `Subset(dataset, indices)` is the view of a data set that `random_split` returns.

# %%
#| export
class Dataset:
    """A data set: ``len(dataset)`` samples, sample ``i`` is ``dataset[i]``.

    Subclasses implement ``__getitem__`` and ``__len__``; they may also implement
    ``__getitems__(indices)`` returning a whole collated batch at once.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__()")


class TensorDataset(Dataset):
    """Tensors sharing their first dimension; sample ``i`` is the tuple of their ``i``-th rows."""

    def __init__(self, *tensors: Tensor) -> None:
        self._length = common_length(tensors)
        self.tensors = tensors

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(tensor[index] for tensor in self.tensors)

    def __getitems__(self, indices: np.ndarray) -> tuple[Tensor, ...]:
        """The batch of rows ``indices`` (an integer array): one fancy index per tensor."""
        return tuple(tensor[indices] for tensor in self.tensors)

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        return f"TensorDataset({len(self)} samples, shapes {[t.shape for t in self.tensors]})"


class Subset(Dataset):
    """The samples ``indices`` of ``dataset``, renumbered from 0."""

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices: np.ndarray) -> Any:
        return fetch_batch(self.dataset, self.indices[indices])

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {len(self.dataset)} samples)"


# %%
digits_like = TensorDataset(Tensor(np.arange(12.0).reshape(6, 2)), Tensor([0, 1, 2, 0, 1, 2], dtype=np.int64))
image, label = digits_like[4]
print(digits_like, "| sample 4:", image, label)
print("rows [5, 0, 3] at once:", digits_like.__getitems__(np.array([5, 0, 3])))


# %% [markdown]
# ## 2. Batches: which samples, in which order
#
# One **epoch** visits every sample exactly once. The loader first decides the order:
#
# - `shuffle=False`: `0, 1, ..., N-1`, the same every epoch (evaluation);
# - `shuffle=True`: a random permutation, a **new one every epoch** (training: a model that
#   sees the batches in the same order every epoch can learn the order).
#
# It then cuts the order into consecutive batches of `batch_size`. When `N` is not a
# multiple of the batch size the last batch is shorter; `drop_last=True` drops it (some
# layers, such as BatchNorm in Module 10, dislike tiny batches).
#
# ```
#   N = 10, batch_size = 4, shuffle=True:
#   order    = [7 2 9 | 0 4 1 | ...]  = generator.permutation(10)
#   batches  = [7 2 9 0] [4 1 8 3] [5 6]        drop_last=True:  [7 2 9 0] [4 1 8 3]
# ```
#
# **Reproducibility.** The randomness comes from a NumPy `Generator` that you pass in
# (`np.random.default_rng(seed)`): the same seed gives the same sequence of epochs, on every
# run and every machine. Each epoch draws `generator.permutation(N)`, which advances the
# generator, so epoch 2 has a different order from epoch 1. (PyTorch takes a
# `torch.Generator` and falls back to a global one; here the generator is required whenever
# something is shuffled, so no run depends on hidden global state.)
#
# ### Your task: `batch_indices`
# Return the list of index arrays of one epoch. With `shuffle=True` the order is
# `generator.permutation(n)`, otherwise `np.arange(n)`; batches are consecutive pieces of
# that order, `batch_size` long, the last one shorter unless `drop_last` drops it. Each is
# a NumPy integer array. `n = 0` gives no batches.

# %% nbgrader={"grade": false, "grade_id": "impl-batch-indices", "locked": false, "solution": true, "schema_version": 3}
#| export
def batch_indices(
    n: int, batch_size: int, shuffle: bool, drop_last: bool, generator: np.random.Generator | None
) -> list[np.ndarray]:
    """The sample indices of each batch of one epoch over ``n`` samples.

    ``batch_indices(10, 4, False, False, None)`` gives ``[0..3], [4..7], [8, 9]``; with
    ``drop_last=True`` the short ``[8, 9]`` is left out. With ``shuffle=True`` the order is
    ``generator.permutation(n)`` (a new one per call); ``generator`` may be None only when
    ``shuffle`` is False.

    Hint: first the order of the ``n`` indices (one array), then consecutive slices of it,
    each ``batch_size`` long, starting at 0, ``batch_size``, ``2 * batch_size``, ...; with
    ``drop_last`` the starts stop where fewer than ``batch_size`` indices are left.

    If you are stuck: the full batches end at ``n - n % batch_size``.
    """
    ### BEGIN SOLUTION
    order = generator.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-batch-indices", "locked": true, "points": 4, "solution": false, "schema_version": 3}
in_order = batch_indices(10, 4, shuffle=False, drop_last=False, generator=None)
assert [b.tolist() for b in in_order] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], (
    f"batch_indices(10, 4) without shuffle should be [0..3], [4..7], [8, 9]; got {[b.tolist() for b in in_order]}")
assert all(np.issubdtype(b.dtype, np.integer) for b in in_order), "batch_indices: batches must be integer arrays"
dropped = batch_indices(10, 4, shuffle=False, drop_last=True, generator=None)
assert [b.tolist() for b in dropped] == [[0, 1, 2, 3], [4, 5, 6, 7]], "batch_indices: drop_last=True drops the short [8, 9]"
assert [len(b) for b in batch_indices(8, 4, False, True, None)] == [4, 4], "batch_indices: drop_last keeps full batches"
assert batch_indices(0, 4, False, False, None) == [], "batch_indices: no samples, no batches"

generator = np.random.default_rng(0)
epoch_1 = np.concatenate(batch_indices(10, 4, True, False, generator))
epoch_2 = np.concatenate(batch_indices(10, 4, True, False, generator))
assert sorted(epoch_1.tolist()) == list(range(10)), "batch_indices: a shuffled epoch must visit every sample exactly once"
assert epoch_1.tolist() == np.random.default_rng(0).permutation(10).tolist(), (
    "batch_indices: with shuffle=True the order must be generator.permutation(n)")
assert epoch_1.tolist() != epoch_2.tolist(), "batch_indices: each call (epoch) must draw a new permutation"
shuffled = batch_indices(10, 4, True, True, np.random.default_rng(0))
assert [b.tolist() for b in shuffled] == [epoch_1[:4].tolist(), epoch_1[4:8].tolist()], (
    "batch_indices: with shuffle=True and drop_last=True, the batches are the first full slices of the shuffled order")

# Graded: sizes and generators drawn for each graded run, compared with the reference.
rng = unseen_rng("test-batch-indices")
for case in range(4):
    n, size, seed = int(rng.integers(0, 40)), int(rng.integers(1, 12)), int(rng.integers(2**31))
    for shuffle, drop in ((False, False), (False, True), (True, False), (True, True)):
        generator = np.random.default_rng(seed) if shuffle else None
        for epoch in (1, 2) if shuffle else (1,):
            batches = batch_indices(n, size, shuffle, drop, generator)
            what = f"batch_indices, case {case}, shuffle={shuffle}, drop_last={drop}, epoch {epoch}"
            observe(f"{what}: the batch sizes", np.array([len(b) for b in batches], dtype=np.int64))
            observe(f"{what}: the indices, batch after batch",
                    np.concatenate([np.asarray(b, dtype=np.int64) for b in batches] + [np.zeros(0, np.int64)]))
            observe(f"{what}: every batch is an integer array",
                    all(isinstance(b, np.ndarray) and np.issubdtype(b.dtype, np.integer) for b in batches))


# %% [markdown]
# ### Your task: `count_batches`
# `len(loader)` is the number of batches per epoch, known without building them:
#
# $$\text{batches} = \begin{cases} \lfloor N / B \rfloor & \text{drop\_last} \\
#   \lceil N / B \rceil & \text{otherwise} \end{cases}$$
#
# A training loop uses it to size a progress bar or a learning-rate schedule (Module 06).
# Use integer arithmetic only (`//`), no floats: `math.ceil(n / b)` is wrong for huge `n`.

# %% nbgrader={"grade": false, "grade_id": "impl-count-batches", "locked": false, "solution": true, "schema_version": 3}
#| export
def count_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """Batches in one epoch of ``n`` samples: ``count_batches(10, 4, False) == 3``, ``(10, 4, True) == 2``.

    Hint: without ``drop_last`` a short last batch counts too: round up, in integers.

    If you are stuck: adding ``b - 1`` before a floor division by ``b`` rounds up.
    """
    ### BEGIN SOLUTION
    return n // batch_size if drop_last else (n + batch_size - 1) // batch_size
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-count-batches", "locked": true, "points": 1, "solution": false, "schema_version": 3}
for n, size, drop, expected in ((10, 4, False, 3), (10, 4, True, 2), (8, 4, False, 2), (8, 4, True, 2),
                                (0, 3, False, 0), (3, 5, False, 1), (3, 5, True, 0), (10**20 + 1, 10, False, 10**19 + 1)):
    got = count_batches(n, size, drop)
    assert got == expected, f"count_batches(n={n}, batch_size={size}, drop_last={drop}) should be {expected}, got {got}"
    assert isinstance(got, (int, np.integer)), f"count_batches should return an int, got {type(got).__name__}"

# Graded: sizes drawn for each graded run, compared with the reference.
rng = unseen_rng("test-count-batches")
for case in range(8):
    n, size = int(rng.integers(0, 1000)), int(rng.integers(1, 50))
    for drop in (False, True):
        observe(f"count_batches, case {case}, drop_last={drop}", int(count_batches(n, size, drop)))
huge, size = 10**20 + int(rng.integers(1, 10**9)), int(rng.integers(3, 1000))
for drop in (False, True):
    observe(f"count_batches of more than 10**20 samples, drop_last={drop}", str(count_batches(huge, size, drop)))


# %% [markdown]
# ## 3. Collating samples into a batch
#
# A data set without `__getitems__` hands out one sample at a time. `collate(samples)`
# stacks a list of `B` samples into a batch along a new first dimension:
#
# ```
#   samples = [(x0, y0), (x1, y1), (x2, y2)]      x_i: shape (64,), y_i: a Python int
#   collate -> (X, Y)                             X: (3, 64) float32,  Y: (3,) int64
# ```
#
# The rules (PyTorch's `default_collate` does the same, except for the float dtype):
#
# 1. A sample that is a tuple or list is a set of **fields**; each field is collated on its
#    own and the result is a tuple with one batch per field. All samples must have the same
#    number of fields, or raise `ValueError`.
# 2. Otherwise the samples (Tensors, NumPy arrays or Python numbers) are stacked with
#    `np.stack`. They must all have the same shape, or raise `ShapeError` naming the shapes.
# 3. The dtype: Tensors keep theirs; other integers become int64 (class labels stay
#    integers), booleans stay bool, and floats become float32, the course's default
#    (PyTorch would keep Python floats as float64).
# 4. An empty list of samples raises `ValueError` (there is nothing to stack).

# %% nbgrader={"grade": false, "grade_id": "impl-collate", "locked": false, "solution": true, "schema_version": 3}
#| export
def collate(samples: Sequence[Any]) -> Tensor | tuple[Tensor, ...]:
    """Stack ``B`` samples into a batch: a Tensor of shape ``(B, ...)``, or a tuple of them.

    ``collate([(x0, 3), (x1, 5)])`` with ``x_i`` of shape ``(64,)`` gives ``(X, Y)`` with ``X``
    of shape ``(2, 64)`` and ``Y == [3, 5]`` as int64. Raises ``ValueError`` for no samples or
    samples with different numbers of fields, ``ShapeError`` for fields of different shapes.

    Hint: for tuples, ``zip(*samples)`` groups the fields; call ``collate`` on each group.
    ``Tensor(array, dtype=...)`` with ``dtype=None`` gives float32 for floats.
    """
    ### BEGIN SOLUTION
    if len(samples) == 0:
        raise ValueError("collate needs at least one sample")
    first = samples[0]
    if isinstance(first, (tuple, list)):
        if any(len(sample) != len(first) for sample in samples):
            raise ValueError(
                f"collate: samples have different numbers of fields {sorted({len(s) for s in samples})}; "
                "every sample must be a tuple of the same length"
            )
        return tuple(collate(field) for field in zip(*samples))
    arrays = [sample.data if isinstance(sample, Tensor) else np.asarray(sample) for sample in samples]
    shapes = sorted({array.shape for array in arrays})
    if len(shapes) > 1:
        raise ShapeError(f"collate: cannot stack samples of different shapes {', '.join(map(str, shapes))}")
    stacked = np.stack(arrays)
    if isinstance(first, Tensor):
        dtype = first.dtype
    elif stacked.dtype.kind in "iu":
        dtype = np.int64
    elif stacked.dtype.kind == "b":
        dtype = np.bool_
    else:
        dtype = None
    return Tensor(stacked, dtype=dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-collate", "locked": true, "points": 3, "solution": false, "schema_version": 3}
samples = [(Tensor([1.0, 2.0]), 3), (Tensor([3.0, 4.0]), 5), (Tensor([5.0, 6.0]), 7)]
batch = collate(samples)
assert isinstance(batch, tuple) and len(batch) == 2, "collate: a batch of (x, y) samples is a tuple (X, Y)"
images, labels = batch
assert isinstance(images, Tensor) and images.shape == (3, 2), f"collate: X should be a (3, 2) Tensor, got {images!r}"
assert images.dtype == np.float32 and np.array_equal(images.numpy(), [[1, 2], [3, 4], [5, 6]]), "collate: wrong X"
assert labels.dtype == np.int64, f"collate: integer labels must stay integers (int64), got {labels.dtype}"
assert labels.numpy().tolist() == [3, 5, 7], "collate: wrong Y"
single = collate([1.5, 2.5])
assert isinstance(single, Tensor) and single.shape == (2,) and single.dtype == np.float32, (
    "collate: samples that are plain numbers give one float32 Tensor of shape (B,)")
kept = collate([Tensor([1, 2], dtype=np.int32), Tensor([3, 4], dtype=np.int32)])
assert kept.dtype == np.int32, "collate: stacked Tensors keep their dtype"
assert collate([True, False]).dtype == np.bool_, "collate: booleans stay bool"
expect_error(ShapeError, lambda: collate([np.zeros(2), np.zeros(3)]), "(2,)", "(3,)", what="collate of shapes (2,) and (3,)")
expect_error(ValueError, lambda: collate([(1, 2), (3,)]), what="collate of samples with 2 and 1 fields")
expect_error(ValueError, lambda: collate([]), what="collate of no samples")

# Graded: samples drawn for each graded run, compared with the reference.
rng = unseen_rng("test-collate")
b, d = int(rng.integers(1, 6)), int(rng.integers(1, 5))
rows, classes = rng.standard_normal((b, d)).astype(np.float32), rng.integers(0, 10, size=b)
images, labels = collate([(Tensor(x), int(y)) for x, y in zip(rows, classes)])
observe("collate of (Tensor, int) samples: X", images.data)
observe("collate of (Tensor, int) samples: Y", labels.data)
fields = collate([[x, float(y), bool(y % 2)] for x, y in zip(rng.standard_normal((b, d)), rng.standard_normal(b))])
for name, field in zip(("NumPy float64 rows", "Python floats", "bools"), fields):
    observe(f"collate of list samples, field of {name}", field.data)
observe("collate of Python floats", collate([float(v) for v in rng.standard_normal(b)]).data)
observe("collate of int32 Tensors", collate([Tensor(row, dtype=np.int32) for row in rng.integers(-9, 9, size=(b, d))]).data)
observe("collate of NumPy int64 arrays", collate(list(rng.integers(-9, 9, size=(b, d)))).data)
observe("collate of samples of shapes (d,) and (d + 1,) raises",
        error_name(lambda: collate([rng.standard_normal(d), rng.standard_normal(d + 1)])))
observe("collate of samples with 2 and 3 fields raises", error_name(lambda: collate([(rows[0], 1), (rows[0], 1, 2)])))
observe("collate of no samples raises", error_name(lambda: collate([])))


# %% [markdown]
# ## 4. The `DataLoader`
#
# Given. It checks its arguments once, when it is built, and then each `iter(loader)` (each
# `for batch in loader:`) runs one epoch: your `batch_indices` picks the samples, and
# `fetch_batch` gathers them, in one step through `__getitems__` when the data set has it,
# else one sample at a time through your `collate`. `len(loader)` is your `count_batches`.
#
# | argument | PyTorch | here |
# |---|---|---|
# | `batch_size=1` | positive int | positive int, else `TypeError`/`ValueError` |
# | `shuffle=False` | new order every epoch | the same |
# | `drop_last=False` | drop the short last batch | the same |
# | `generator=None` | `torch.Generator`; a global one if None | `np.random.Generator`; **required** when `shuffle=True` (`ValueError` otherwise) |
#
# A batch of a data set whose samples are `(x, y)` tuples is a tuple `(X, Y)` of Tensors
# (PyTorch gives a list; both unpack with `for x, y in loader`).

# %%
#| export
def fetch_batch(dataset: Dataset, indices: np.ndarray) -> Any:
    """The collated samples ``indices`` of ``dataset``: its ``__getitems__`` if it has one,
    else ``collate`` of its samples read one by one."""
    getitems = getattr(dataset, "__getitems__", None)
    if getitems is not None:
        return getitems(indices)
    return collate([dataset[int(i)] for i in indices])


def _check_generator(generator: Any, needed: bool, caller: str) -> None:
    """A ``np.random.Generator`` when ``needed``, and nothing else ever."""
    if generator is None:
        if needed:
            raise ValueError(
                f"{caller} draws random numbers and needs generator=np.random.default_rng(seed), "
                "so that the run can be repeated exactly"
            )
    elif not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"{caller}: generator must be a numpy.random.Generator, got {type(generator).__name__}; "
            "use generator=np.random.default_rng(seed)"
        )


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size``; ``len(loader)`` batches per epoch.

    ``shuffle=True`` draws a new order each epoch from ``generator`` (a NumPy Generator,
    required when shuffling); ``drop_last=True`` leaves out a short last batch.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: np.random.Generator | None = None,
    ) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader needs a dataset with __len__ and __getitem__, got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size}")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, bool):
                raise TypeError(f"DataLoader: {name} must be True or False, got {flag!r}")
        _check_generator(generator, needed=shuffle, caller="DataLoader(shuffle=True)")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator

    def __iter__(self) -> Iterator[Any]:
        for indices in batch_indices(len(self.dataset), self.batch_size, self.shuffle, self.drop_last, self.generator):
            yield fetch_batch(self.dataset, indices)

    def __len__(self) -> int:
        return count_batches(len(self.dataset), self.batch_size, self.drop_last)


# %%
loader = DataLoader(digits_like, batch_size=4, shuffle=True, generator=np.random.default_rng(0))
for epoch in range(2):
    print(f"epoch {epoch}: {len(loader)} batches,", [(x.shape, y.numpy().tolist()) for x, y in loader])
print("batch_size=0 raises:", expect_error(ValueError, lambda: DataLoader(digits_like, batch_size=0)))
print("shuffle without a generator raises:", expect_error(ValueError, lambda: DataLoader(digits_like, shuffle=True)))


# %% [markdown]
# ## 5. Splitting a data set
#
# A model is fitted on a **training** set, its hyper-parameters (learning rate, epochs) are
# chosen on a **validation** set, and its final accuracy is reported once, on a **test** set
# it never influenced. `random_split(dataset, lengths, generator)` shuffles the indices
# once and cuts them into disjoint `Subset`s. As in PyTorch (since 1.13), `lengths` is
# either whole counts that add up to `len(dataset)`, or fractions that add up to 1.
#
# Fractions rarely give whole numbers: 60/20/20 of 1797 samples is 1078.2, 359.4, 359.4 (a
# cell after the test prints them). PyTorch's rule, which you implement: take the floor of
# each, $\lfloor N f_i \rfloor$, then hand the samples left over out one at a time to the
# parts in order, first part first, wrapping around. So $N = 11$ with `[0.5, 0.5]` gives `[6, 5]`.
#
# ### Your task: `split_lengths`
# Return the whole counts. Raise `ValueError` (message containing the sum you got) when:
# `lengths` is empty; a length is negative; whole counts do not add up to `n`; fractions
# are above 1 or do not add up to 1 (within `math.isclose`); or ints and fractions are mixed.
# All ints (Python or NumPy integers, not bools) means counts; any float means fractions.

# %% nbgrader={"grade": false, "grade_id": "impl-split-lengths", "locked": false, "solution": true, "schema_version": 3}
#| export
def split_lengths(n: int, lengths: Sequence[int | float]) -> list[int]:
    """Whole sample counts for splitting ``n`` samples by ``lengths`` (counts or fractions).

    ``split_lengths(10, [7, 3]) == [7, 3]``; ``split_lengths(11, [0.5, 0.5]) == [6, 5]``.
    Raises ``ValueError`` for lengths that are empty, negative, mixed, or do not add up.

    Hint: check the kinds first (all counts, or all fractions); for fractions take the
    floor of ``n`` times each, then hand out the samples left over one by one, to part 0,
    1, 2, ..., wrapping around to part 0 after the last part.
    """
    ### BEGIN SOLUTION
    if len(lengths) == 0:
        raise ValueError("random_split needs at least one length")
    is_count = [isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in lengths]
    if any(x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must not be negative, got {list(lengths)}")
    if all(is_count):
        total = sum(int(x) for x in lengths)
        if total != n:
            raise ValueError(f"random_split: lengths {list(lengths)} add up to {total}, but the dataset has {n} samples")
        return [int(x) for x in lengths]
    if any(is_count):
        raise ValueError(f"random_split: lengths {list(lengths)} mix counts and fractions; use one kind")
    total = float(sum(lengths))
    if any(x > 1 for x in lengths) or not math.isclose(total, 1.0):
        raise ValueError(f"random_split: fractions {list(lengths)} add up to {total}, they must add up to 1")
    counts = [math.floor(n * x) for x in lengths]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-split-lengths", "locked": true, "points": 3, "solution": false, "schema_version": 3}
assert split_lengths(10, [7, 3]) == [7, 3], "split_lengths: whole counts are returned as they are"
assert split_lengths(11, [0.5, 0.5]) == [6, 5], f"split_lengths(11, [0.5, 0.5]) should be [6, 5], got {split_lengths(11, [0.5, 0.5])}"
assert split_lengths(10, [0.3, 0.3, 0.4]) == [3, 3, 4], "split_lengths(10, [0.3, 0.3, 0.4]) should be [3, 3, 4]"
assert split_lengths(1797, [0.6, 0.2, 0.2]) == [1079, 359, 359], "split_lengths(1797, [0.6, 0.2, 0.2]) should be [1079, 359, 359]"
assert split_lengths(5, [np.int64(5), 0]) == [5, 0], "split_lengths: NumPy integers are counts too"
assert all(type(x) is int for x in split_lengths(11, [0.5, 0.5])), "split_lengths: return Python ints"
expect_error(ValueError, lambda: split_lengths(10, [6, 3]), "9", what="split_lengths(10, [6, 3]) (adds up to 9)")
expect_error(ValueError, lambda: split_lengths(10, [0.5, 0.4]), "0.9", what="split_lengths(10, [0.5, 0.4])")
expect_error(ValueError, lambda: split_lengths(10, [11, -1]), what="split_lengths with a negative length")
expect_error(ValueError, lambda: split_lengths(10, [5, 0.5]), what="split_lengths mixing counts and fractions")
expect_error(ValueError, lambda: split_lengths(1, [1, 0.0]), what="split_lengths(1, [1, 0.0]) (a count and a fraction)")
expect_error(ValueError, lambda: split_lengths(10, []), what="split_lengths of no lengths")

# Graded: sizes, fractions and counts drawn for each graded run, compared with the reference.
rng = unseen_rng("test-split-lengths")
for case in range(12):
    n, parts = int(rng.integers(0, 2000)), int(rng.integers(1, 6))
    fractions = rng.dirichlet(np.ones(parts))
    fractions = (fractions / fractions.sum()).tolist()
    observe(f"split_lengths(n, fractions), case {case}", split_lengths(n, fractions))
counts = rng.multinomial(n, np.ones(parts) / parts)
observe("split_lengths(n, counts)", split_lengths(n, [int(c) for c in counts]))
observe("split_lengths(n, NumPy integer counts)", split_lengths(n, list(counts)))
observe("split_lengths, counts adding up to n + 1, raises", error_name(lambda: split_lengths(n, [*map(int, counts), 1])))
observe("split_lengths, fractions adding up to less than 1, raises",
        error_name(lambda: split_lengths(n, [f * 0.9 for f in fractions])))
observe("split_lengths with a negative count raises", error_name(lambda: split_lengths(n, [n + 1, -1])))
observe("split_lengths mixing counts and fractions raises", error_name(lambda: split_lengths(n, [n, 0.0])))
observe("split_lengths of no lengths raises", error_name(lambda: split_lengths(n, [])))

# %% [markdown]
# The numbers of the digits split below, before and after rounding:

# %%
print("1797 x [0.6, 0.2, 0.2] =", [round(1797 * f, 1) for f in (0.6, 0.2, 0.2)], "->", split_lengths(1797, [0.6, 0.2, 0.2]))


# %% [markdown]
# `random_split`, given, shuffles once with the generator and cuts the shuffled indices at
# the cumulative counts.

# %%
#| export
def random_split(
    dataset: Dataset, lengths: Sequence[int | float], generator: np.random.Generator | None = None
) -> list[Subset]:
    """Disjoint random ``Subset``s of ``dataset`` with the given ``lengths`` (counts or fractions).

    ``generator`` (a NumPy Generator) is required: the same seed gives the same split.
    """
    counts = split_lengths(len(dataset), lengths)
    _check_generator(generator, needed=True, caller="random_split")
    order = generator.permutation(len(dataset))
    ends = np.cumsum(counts)
    return [Subset(dataset, order[end - count:end]) for count, end in zip(counts, ends)]


# %% [markdown]
# ## 6. The bundled digits
#
# `data/digits/digits.csv.gz` holds 1,797 handwritten digits of 8×8 pixels (provenance and
# licence in `data/digits/README.md`): 64 pixel values from 0 to 16 and a label 0–9 per line.
# `load_digits()` reads it (no network, no scikit-learn), scales pixels to float32 in
# $[0, 1]$ by dividing by 16, keeps the labels as int64, and splits the samples with
# `random_split(..., [0.6, 0.2, 0.2], generator=np.random.default_rng(DIGITS_SPLIT_SEED))`:
# a fixed seeded split, the same on every call and every machine. It is **not stratified**:
# each class gets about, not exactly, its share of every split (the cell below prints the
# counts). The three parts are `Subset`s of one `TensorDataset`, in a small dataclass.
#
# Where the file is: the folder named by the environment variable `TINYTORCH_DATA_DIR` if it
# is set (`tito` sets it when it grades a notebook, whose package copy lives outside the
# repository), else the `data/` folder next to the installed `tinytorch/` package.

# %%
#| export
DATA_DIR_VARIABLE = "TINYTORCH_DATA_DIR"
DIGITS_FILE = Path("digits") / "digits.csv.gz"
DIGITS_SPLIT = (0.6, 0.2, 0.2)
DIGITS_SPLIT_SEED = 0


@dataclass(frozen=True)
class Digits:
    """The digits split three ways; each part yields ``(image (64,) float32, label int64)``."""

    train: Subset
    val: Subset
    test: Subset


def data_dir() -> Path:
    """``$TINYTORCH_DATA_DIR`` if set, else ``data/`` beside the ``tinytorch`` package."""
    configured = os.environ.get(DATA_DIR_VARIABLE)
    if configured:
        return Path(configured)
    return Path(inspect.getfile(Tensor)).resolve().parent.parent / "data"


def load_digits() -> Digits:
    """The bundled 8×8 digits: 1,797 images (64,) in [0, 1] float32, labels int64, split
    60/20/20 at random with seed ``DIGITS_SPLIT_SEED`` (not stratified)."""
    path = data_dir() / DIGITS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"the digits data set is not at {path}; set {DATA_DIR_VARIABLE} to the folder that "
            f"holds {DIGITS_FILE} (the repository's data/ folder)"
        )
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 65:
        raise ShapeError(f"{path}: expected 65 columns (64 pixels and a label) per line, got {table.shape[1]}")
    images = Tensor(table[:, :64].astype(np.float32) / np.float32(16.0))
    labels = Tensor(table[:, 64], dtype=np.int64)
    parts = random_split(TensorDataset(images, labels), DIGITS_SPLIT, np.random.default_rng(DIGITS_SPLIT_SEED))
    return Digits(*parts)


# %%
digits = load_digits()
for name in ("train", "val", "test"):
    part = getattr(digits, name)
    pixels, classes = fetch_batch(part, np.arange(len(part)))
    print(f"{name:>5}: {len(part):4d} samples, images {pixels.shape} {pixels.dtype} in "
          f"[{pixels.numpy().min():.1f}, {pixels.numpy().max():.1f}], labels {classes.dtype}, "
          f"per class {np.bincount(classes.numpy(), minlength=10).tolist()}")

# %% [markdown]
# One digit of the training set, drawn in text (darker characters are higher pixel values):

# %%
picture, digit = digits.train[0]
shades = np.array(list(" .:-=+*#%@"))
print(f"label {digit.item()}")
print("\n".join("".join(row) for row in shades[np.minimum((picture.numpy().reshape(8, 8) * 10).astype(int), 9)]))

# %% [markdown]
# ## 7. Systems analysis: what a batch costs
#
# ### Time per epoch and per batch
# One epoch over the training digits, shuffled, for several batch sizes, three ways side by
# side in one run:
#
# - **loader**: `DataLoader` over the `Subset` (one fancy index per tensor per batch);
# - **slicing**: the same shuffled batches cut from the NumPy arrays directly, the least a
#   loader can do;
# - **per sample**: the same data set wrapped so that it has no `__getitems__`, so every
#   batch is `B` calls of `dataset[i]` and your `collate`.
#
# The first two grow with the number of batches (a fixed cost each); the third grows with
# the number of samples, whatever the batch size. The cell prints the times and the
# loader's overhead per batch over plain slicing.

# %%
import time


class OneByOne(Dataset):
    """The same samples with no ``__getitems__``: the loader must read them one at a time."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)


def best_of(fn: Any, repeats: int = 3) -> float:
    """The fastest of ``repeats`` runs of ``fn()``, in seconds (the least disturbed run)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


train = digits.train
all_images, all_labels = fetch_batch(train, np.arange(len(train)))
image_array, label_array = all_images.numpy(), all_labels.numpy()


def epoch_with_loader(size: int) -> None:
    for _ in DataLoader(train, batch_size=size, shuffle=True, generator=np.random.default_rng(0)):
        pass


def epoch_by_slicing(size: int) -> None:
    order = np.random.default_rng(0).permutation(len(image_array))
    for start in range(0, len(order), size):
        rows = order[start:start + size]
        image_array[rows], label_array[rows]


def epoch_one_by_one(size: int) -> None:
    for _ in DataLoader(OneByOne(train), batch_size=size, shuffle=True, generator=np.random.default_rng(0)):
        pass


print(f"one epoch over {len(train)} training samples:")
for size in (1, 16, 64, 256):
    batches = count_batches(len(train), size, drop_last=False)
    loader_s, slicing_s = best_of(lambda: epoch_with_loader(size)), best_of(lambda: epoch_by_slicing(size))
    one_s = best_of(lambda: epoch_one_by_one(size))
    print(f"  batch {size:>3} ({batches:4d} batches): loader {loader_s * 1e3:7.2f} ms, slicing {slicing_s * 1e3:6.2f} ms, "
          f"per sample {one_s * 1e3:7.2f} ms | loader overhead {(loader_s - slicing_s) / batches * 1e6:5.1f} us/batch")

# %% [markdown]
# ### Memory of a batch
# A batch of `B` digits holds `B × 64` float32 pixels and `B` int64 labels:
# $B \times (64 \times 4 + 8)$ bytes. Module 01's `nbytes` counts them; the cell checks the
# formula and prints the totals. Bigger models make this count matter: a batch of 256
# ImageNet images at 224×224×3 in float32 is 256 × 602,112 bytes, about 154 MB, before a
# single activation is stored.

# %%
for size in (1, 64, 256):
    images, labels = next(iter(DataLoader(train, batch_size=size)))
    total = images.nbytes + labels.nbytes
    assert total == size * (64 * 4 + 8)
    print(f"batch {size:>3}: images {images.shape} {images.nbytes:6d} B + labels {labels.shape} "
          f"{labels.nbytes:5d} B = {total / 1024:6.2f} KiB")
print(f"ImageNet-sized float32 batch of 256: {256 * 224 * 224 * 3 * 4 / 1e6:.0f} MB")

# %% [markdown]
# ## Summary
#
# You wrote the parts of a data pipeline that decide what a training step sees:
# `common_length` guards `TensorDataset`, `batch_indices` and `count_batches` define an
# epoch (order, batches, `len`), `collate` stacks samples of any data set, and
# `split_lengths` turns fractions into the counts of a reproducible `random_split`.
# `load_digits()` gives every later module the same seeded train/validation/test split.
#
# **Reflection questions**
#
# 1. In the timing above, the loader's epoch gets cheaper as batches grow, while the
#    per-sample path stays far slower at every batch size. Where does the per-sample time
#    go, and how does PyTorch hide it (think of `num_workers`)?
# 2. Why must the validation and test sets never be shuffled together with the training
#    set between epochs? What goes wrong if the split itself changed from run to run?
# 3. `load_digits` is not stratified. With 359 validation samples, how far can one class's
#    count drift from its share, and when would you want a stratified split?
# 4. The loader copies each batch out of the data set (a fancy index). When could it hand
#    out views instead, and what would that cost in randomness?
