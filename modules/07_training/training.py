# %% [markdown]
# # Module 07: Training
#
# Modules 01–06 gave you every part of learning: tensors, gradients, layers, a loss and an
# optimizer. A **training loop** puts them together and runs them thousands of times:
#
# ```
#   for epoch in range(epochs):
#       model.train()
#       for inputs, targets in train_data:            one step per batch
#           optimizer.zero_grad()                       forget last step's gradients
#           loss = loss_fn(model(inputs), targets)      forward
#           loss.backward()                             backward (Module 02)
#           clip_grad_norm_(model.parameters(), 1.0)    optional: cap the step's size
#           optimizer.step()                            update (Module 06)
#       scheduler.step()                                new learning rate (Module 06)
#       model.eval(); with no_grad(): evaluate(...)     how good is it on held-out data?
#       save_checkpoint(...)                            survive a crash
# ```
#
# In this module you write the parts of that loop that are easy to get subtly wrong, and
# you are given a `Trainer` that runs them, with a progress bar, a history of every epoch,
# a plot of the learning curves and checkpoints that resume a run bit for bit.
#
# **What you will write**
#
# - `clip_grad_norm_`: PyTorch's gradient clipping over all parameters together;
# - `train_step`: one optimization step, in the right order;
# - `evaluate`: loss and accuracy over a data set, in evaluation mode, without a graph,
#   averaged per sample;
# - `write_atomically`: save a file so that a crash mid-save never destroys the last good
#   checkpoint;
# - `read_checkpoint`: open a checkpoint without ever running code from it, and refuse a
#   damaged or foreign file with a clear error.
#
# **Why a systems engineer cares.** Training runs are long, expensive and fragile. A loop
# that forgets `zero_grad()` silently sums gradients; an evaluation that builds a graph
# wastes memory; a checkpoint written in place is destroyed by a crash at the wrong
# moment, and a pickled checkpoint runs whatever code it holds when it is loaded. And only
# a checkpoint that restores *everything* (the weights, the optimizer's moments, the
# learning-rate schedule, the random generators) lets a resumed run continue as if it had
# never stopped: you will check that it does, bit for bit. At the end you measure where an
# epoch's time goes and what a checkpoint weighs.
#
# **Connections.** The loop uses Module 04's `Module` (`train()`, `eval()`, `state_dict()`),
# Module 05's losses and Module 06's optimizers and schedulers. Module 08's `DataLoader`
# is exactly the kind of `train_data` the `Trainer` takes; here the digits are loaded by a
# small given cell. Modules 09–20 train and measure their models with this `Trainer`.

# %%
#| default_exp training

# %%
#| export
from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

import tinytorch.autograd  # noqa: F401  (installs the backward engine behind loss.backward())
from tinytorch.autograd import no_grad
from tinytorch.nn.layers import Module
from tinytorch.tensor import Tensor, get_rng_state, set_rng_state

# %% [markdown]
# ## 1. The data, and what the tests use
#
# The digits of Module 08's data set: 1,797 images of 8×8 pixels, scaled to $[0, 1]$, with
# labels 0–9, split 60/20/20 into training, validation and test samples with the same
# seeded split as Module 08's `load_digits()`. Module 07 comes before the `DataLoader`, so a
# small given class serves the batches: `Batches(images, labels, batch_size, generator)` is
# re-iterable (every `for` over it is one epoch), shuffles with the NumPy generator it
# holds in its `generator` attribute when one is given (a new order every epoch), and yields
# `(inputs, targets)` pairs of Tensors: float32 `(B, 64)` and int64 `(B,)`.

# %% nbgrader={"grade": false, "grade_id": "given-digits", "locked": true, "solution": false, "schema_version": 3}
import gzip
import inspect
from collections.abc import Iterator

from tinytorch.tensor import error_name, expect_error, observe, unseen_rng


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits: images (N, 64) float32 in [0, 1] and labels (N,) int64.

    The file is found as Module 08 finds it: ``$TINYTORCH_DATA_DIR``, else ``data/`` beside
    the ``tinytorch`` package.
    """
    folder = os.environ.get("TINYTORCH_DATA_DIR") or Path(inspect.getfile(Tensor)).resolve().parent.parent / "data"
    with gzip.open(Path(folder) / "digits" / "digits.csv.gz", "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64, ndmin=2)
    return table[:, :64].astype(np.float32) / np.float32(16.0), table[:, 64]


def digits_split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train, val and test arrays: Module 08's seeded 60/20/20 split (1079, 359, 359 samples)."""
    images, labels = digits_arrays()
    order = np.random.default_rng(0).permutation(len(labels))
    counts = [math.floor(len(labels) * f) for f in (0.6, 0.2, 0.2)]
    counts[0] += len(labels) - sum(counts)  # the one sample left over goes to the first part
    ends = np.cumsum(counts)
    return {name: (images[order[end - count:end]], labels[order[end - count:end]])
            for name, count, end in zip(("train", "val", "test"), counts, ends)}


class Batches:
    """Re-iterable ``(inputs (B, 64) float32, targets (B,) int64)`` batches of arrays; a new
    shuffled order per epoch when ``generator`` (a NumPy Generator) is given."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int,
                 generator: np.random.Generator | None = None) -> None:
        self.images, self.labels, self.batch_size, self.generator = images, labels, batch_size, generator

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.labels)
        order = self.generator.permutation(n) if self.generator is not None else np.arange(n)
        for start in range(0, n, self.batch_size):
            rows = order[start:start + self.batch_size]
            yield Tensor(self.images[rows]), Tensor(self.labels[rows], dtype=np.int64)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)


digits = digits_split()
train_images, train_labels = digits["train"]
val_images, val_labels = digits["val"]

# %%
print(f"{sum(len(labels) for _, labels in digits.values())} digits:")
for name, (images, labels) in digits.items():
    print(f"{name:>5}: images {images.shape} {images.dtype}, labels {labels.shape} {labels.dtype}")

# %% [markdown]
# The graded tests must not depend on your Modules 05 and 06 (a bug there would fail a test
# here), so they use their own small loss, optimizer and scheduler, written out in the
# next cell from the published rules: cross-entropy from primitive Tensor operations, SGD
# with momentum (PyTorch's rule: $b \leftarrow \mu b + g$, $p \leftarrow p - \eta b$), and a
# step schedule ($\eta_t = \eta_0 \gamma^{\lfloor t / s \rfloor}$), each with a
# `state_dict()` in PyTorch's format. The demonstrations further down use Module 05's
# `CrossEntropyLoss` and Module 06's `Adam`.

# %% nbgrader={"grade": false, "grade_id": "given-reference-parts", "locked": true, "solution": false, "schema_version": 3}
from tinytorch.nn.layers import Linear, ReLU, Sequential
from tinytorch.tensor import manual_seed


def reference_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of (B, C) logits and int64 targets (B,), from Tensor operations only."""
    shifted = logits - logits.max(axis=-1, keepdims=True).detach()  # stability: cancels exactly
    log_probs = shifted - shifted.exp().sum(axis=-1, keepdims=True).log()
    return -log_probs[np.arange(targets.shape[0]), targets.numpy()].mean()


class ReferenceSGD:
    """SGD with momentum on the parameters' arrays, in place; torch's state_dict format."""

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0) -> None:
        self.params = list(params)
        self.param_groups = [{"params": self.params, "lr": lr, "momentum": momentum}]
        self.state: dict[int, dict[str, np.ndarray]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        group = self.param_groups[0]
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            step = p.grad.data
            if group["momentum"]:
                buffer = self.state.setdefault(i, {"momentum_buffer": np.zeros_like(p.data)})["momentum_buffer"]
                buffer *= group["momentum"]
                buffer += step
                step = buffer
            p.data -= group["lr"] * step

    def state_dict(self) -> dict[str, Any]:
        group = {key: value for key, value in self.param_groups[0].items() if key != "params"}
        return {"state": {i: {k: v.copy() for k, v in s.items()} for i, s in self.state.items()},
                "param_groups": [{**group, "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.state = {int(i): {k: np.array(v) for k, v in s.items()} for i, s in state_dict["state"].items()}
        self.param_groups[0].update({k: v for k, v in state_dict["param_groups"][0].items() if k != "params"})


class ReferenceStepLR:
    """lr = initial lr * gamma ** (epoch // step_size), one step() per epoch."""

    def __init__(self, optimizer: ReferenceSGD, step_size: int, gamma: float) -> None:
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.base_lr, self.last_epoch = optimizer.param_groups[0]["lr"], 0

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.param_groups[0]["lr"] = self.base_lr * self.gamma ** (self.last_epoch // self.step_size)

    def state_dict(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "last_epoch": self.last_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base_lr, self.last_epoch = state_dict["base_lr"], state_dict["last_epoch"]


class WatchedSGD(ReferenceSGD):
    """ReferenceSGD that records what it is asked to do, and the gradients it sees at each step
    (None for a parameter without a gradient)."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        super().__init__(params, lr)
        self.calls: list[str] = []
        self.seen: list[list[np.ndarray]] = []

    def zero_grad(self) -> None:
        self.calls.append("zero_grad")
        super().zero_grad()

    def step(self) -> None:
        self.calls.append("step")
        self.seen.append([None if p.grad is None else p.grad.numpy().copy() for p in self.params])
        super().step()


def small_mlp(seed: int = 0, hidden: int = 16) -> Sequential:
    """A small seeded 64 -> hidden -> 10 MLP for the tests."""
    manual_seed(seed)
    return Sequential(Linear(64, hidden), ReLU(), Linear(hidden, 10))


# %% [markdown]
# ## 2. Gradient clipping
#
# One unlucky batch can produce a huge gradient, and one huge step can throw a model far
# from where it was learning (recurrent networks and transformers are prone to it). The
# cure used everywhere is to cap the size of the step: treat **all** gradients of the model
# as one long vector $g$ and compute its norm,
#
# $$\|g\|_p = \Big(\sum_{\text{params}} \sum_{i} |g_i|^p\Big)^{1/p}, \qquad
#   \|g\|_\infty = \max_{\text{params}} \max_i |g_i| .$$
#
# If that total exceeds `max_norm`, multiply every gradient by the same factor
#
# $$c = \frac{\text{max\_norm}}{\|g\| + 10^{-6}}$$
#
# (the $10^{-6}$ keeps the division safe). The direction of the step is unchanged, only its
# length shrinks to about `max_norm`. A total at or below `max_norm` leaves every gradient
# exactly as it was. Clipping each parameter separately would be simpler, but it would
# change the direction of the step.
#
# `clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False)` is
# PyTorch's function (the trailing `_` says that it works in place, on each
# `parameter.grad`):
#
# - `parameters`: a Tensor or an iterable of them; those whose `.grad` is None are skipped.
#   No gradient at all gives a total of 0.
# - It returns the total norm **before** clipping, as a 0-d Tensor of the gradients' dtype
#   (a training loop logs it: a growing norm is an early warning).
# - `norm_type` is any $p > 0$, or `math.inf` (`float("inf")`) for the largest absolute value.
#   Anything else (0, negative) raises `ValueError`, and so does a negative `max_norm`.
# - If the total is `nan` or `inf` and `error_if_nonfinite=True`, raise `RuntimeError`
#   saying that the total norm is non-finite; with the default `False`, scale by the
#   non-finite factor as PyTorch does (the step is then garbage, which the loss will show).
#
# (PyTorch multiplies by $\min(1, c)$, which for a total within $10^{-6}$ below `max_norm`
# also scales by a factor a hair under 1; here such gradients stay exactly as they were.)
#
# ### Your task: `clip_grad_norm_`

# %% nbgrader={"grade": false, "grade_id": "impl-clip-grad-norm", "locked": false, "solution": true, "schema_version": 3}
#| export
def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients together so that their total ``norm_type``-norm is at most ``max_norm``.

    Returns the total norm before clipping as a 0-d Tensor (the gradients' dtype; float32
    when there are none, then 0). Gradients are scaled in place by
    ``max_norm / (total + 1e-6)`` only when ``total > max_norm``. ValueError for
    ``norm_type <= 0`` or a negative ``max_norm``; RuntimeError for a non-finite total when
    ``error_if_nonfinite``.

    Hint: collect the gradient arrays of the parameters that have one (each of its own
    shape); the total is one norm over all their elements together, computed in float64;
    then multiply each array by the one factor, in place, so that ``p.grad.data`` stays
    the same array.

    If you are stuck: the total p-norm is the sum over the arrays of
    ``(np.abs(g.astype(np.float64)) ** p).sum()``, to the power ``1 / p``; the inf-norm is
    the largest ``np.abs(g).max()``; ``g *= factor`` scales in place.
    """
    ### BEGIN SOLUTION
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    if not (norm_type > 0):
        raise ValueError(f"clip_grad_norm_: norm_type must be positive or math.inf, got {norm_type}")
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    grads = [p.grad.data for p in params if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    if math.isinf(norm_type):
        total = max(float(np.abs(g).max()) if g.size else 0.0 for g in grads)
    else:
        total = sum(float((np.abs(g.astype(np.float64)) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite ({total}), "
            "so it cannot be clipped; pass error_if_nonfinite=False to scale by it anyway"
        )
    if not total <= max_norm:  # also true for nan: PyTorch scales by the nan factor too
        factor = max_norm / (total + 1e-6)
        for g in grads:
            g *= factor
    return Tensor(total, dtype=grads[0].dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-clip-grad-norm", "locked": true, "points": 3, "solution": false, "schema_version": 3}
def with_grads(*arrays: list, dtype: Any = None) -> list[Tensor]:
    """Parameters whose .grad holds the given values (float32 unless ``dtype`` says otherwise)."""
    params = []
    for values in arrays:
        p = Tensor(np.zeros(np.shape(values)), dtype=dtype, requires_grad=True)
        p.grad = Tensor(values, dtype=dtype)
        params.append(p)
    return params


def flat_grads(params: list[Tensor]) -> np.ndarray:
    """All gradients of ``params`` (those that have one) as one flat array."""
    return np.concatenate([p.grad.numpy().ravel() for p in params if p.grad is not None])


params = with_grads([3.0, 0.0], [[4.0]])  # all gradients together: (3, 0, 4), norm 5
grad_arrays = [p.grad.data for p in params]
total = clip_grad_norm_(params, max_norm=1.0)
assert isinstance(total, Tensor) and total.shape == (), f"clip_grad_norm_ returns a 0-d Tensor, got {total!r}"
assert abs(total.item() - 5.0) < 1e-5, (
    f"clip_grad_norm_: return the total 2-norm of all gradients before clipping; for (3, 0, 4) it is 5, got {total.item()}")
assert total.dtype == np.float32, f"clip_grad_norm_: the total has the gradients' dtype (float32 here), got {total.dtype}"
clipped = flat_grads(params)
assert np.allclose(clipped, np.array([3.0, 0.0, 4.0]) / (5.0 + 1e-6), rtol=1e-6), (
    "clip_grad_norm_: scale every gradient by the same factor max_norm / (total + 1e-6), where total is the norm of "
    f"all gradients together, not of each parameter on its own: (3, 0) and (4) should become (0.6, 0, 0.8), got {clipped}")
assert all(p.grad.data is a for p, a in zip(params, grad_arrays)), (
    "clip_grad_norm_: scale each p.grad.data in place (g *= factor), don't replace it")
assert params[0].grad.dtype == np.float32, "clip_grad_norm_: the gradients keep their dtype"

tiny = with_grads([3e-4, -4e-4])  # total 5e-4: here the 1e-6 changes the factor by 0.2 %
clip_grad_norm_(tiny, 1e-4)
assert np.allclose(tiny[0].grad.numpy(), np.array([3e-4, -4e-4]) * 1e-4 / (5e-4 + 1e-6), rtol=1e-5, atol=0), (
    f"clip_grad_norm_: the factor is max_norm / (total + 1e-6), with the + 1e-6: (3e-4, -4e-4) clipped to 1e-4 "
    f"should become about (5.988e-5, -7.984e-5), got {tiny[0].grad.numpy()}")

untouched = with_grads([0.3, -0.4])
assert abs(clip_grad_norm_(untouched, 1.0).item() - 0.5) < 1e-6, "clip_grad_norm_: the norm of (0.3, -0.4) is 0.5"
assert np.array_equal(untouched[0].grad.data, np.float32([0.3, -0.4])), (
    f"clip_grad_norm_: a total <= max_norm changes nothing; (0.3, -0.4) with max_norm 1 became {untouched[0].grad.data}")

inf_params = with_grads([1.0, -7.0], [2.0])
assert clip_grad_norm_(inf_params, 3.5, norm_type=math.inf).item() == 7.0, "clip_grad_norm_: the inf-norm is max |g|"
assert np.allclose(inf_params[0].grad.numpy(), np.array([1.0, -7.0]) * 3.5 / (7.0 + 1e-6)), "clip_grad_norm_ with inf-norm"
one_norm = clip_grad_norm_(with_grads([1.0, -7.0], [2.0]), 100.0, norm_type=1)
assert abs(one_norm.item() - 10.0) < 1e-5, f"clip_grad_norm_: the 1-norm of (1, -7, 2) is 10, got {one_norm.item()}"
doubles = with_grads([6.0, 8.0], dtype=np.float64)
assert clip_grad_norm_(doubles, 1.0).dtype == np.float64, "clip_grad_norm_: float64 gradients give a float64 total"
single = with_grads([6.0, 8.0])[0]
assert abs(clip_grad_norm_(single, 100.0).item() - 10.0) < 1e-5, "clip_grad_norm_: a single Tensor is accepted too"
skipped = with_grads([6.0, 8.0]) + [Tensor([1.0], requires_grad=True)]  # the last one has no .grad
assert abs(clip_grad_norm_(skipped, 1.0).item() - 10.0) < 1e-5, "clip_grad_norm_: parameters without .grad are skipped"
assert clip_grad_norm_([Tensor([1.0], requires_grad=True)], 1.0).item() == 0.0, "clip_grad_norm_: no gradients, total 0"
expect_error(ValueError, lambda: clip_grad_norm_(with_grads([1.0]), 1.0, norm_type=0), what="clip_grad_norm_ with norm_type=0")
expect_error(ValueError, lambda: clip_grad_norm_(with_grads([1.0]), -1.0), what="clip_grad_norm_ with max_norm=-1")
expect_error(RuntimeError, lambda: clip_grad_norm_(with_grads([np.inf, 1.0]), 1.0, error_if_nonfinite=True),
             "non-finite", what="clip_grad_norm_ of an infinite gradient with error_if_nonfinite=True")

# Graded: the same rules on gradients drawn for each graded run, compared with the reference.
rng = unseen_rng("test-clip-grad-norm")
for norm_type in (1.0, 2.0, 3.0, math.inf):
    drawn = with_grads(rng.standard_normal((4, 3)) * 10, rng.standard_normal(5))
    drawn_arrays = [p.grad.data for p in drawn]
    total = clip_grad_norm_(drawn, float(rng.uniform(0.5, 3.0)), norm_type=norm_type)
    observe(f"clip_grad_norm_(norm_type={norm_type}): the total", total.data, rtol=1e-5)
    observe(f"clip_grad_norm_(norm_type={norm_type}): the clipped gradients", flat_grads(drawn), rtol=1e-5, atol=1e-7)
    observe(f"clip_grad_norm_(norm_type={norm_type}) scales in place",
            all(p.grad.data is a for p, a in zip(drawn, drawn_arrays)))
small = with_grads(rng.uniform(-0.1, 0.1, size=(2, 3)))  # total at most 0.25: below max_norm
observe("clip_grad_norm_ below max_norm: the total", clip_grad_norm_(small, float(rng.uniform(0.5, 2.0))).data, rtol=1e-5)
observe("clip_grad_norm_ below max_norm: the gradients", flat_grads(small))
drawn = with_grads(rng.standard_normal(4) * 10, rng.standard_normal((2, 2)), dtype=np.float64)
observe("clip_grad_norm_ of float64 gradients: the total", clip_grad_norm_(drawn, 1.0).data, rtol=1e-7)
observe("clip_grad_norm_ of float64 gradients: the clipped gradients", flat_grads(drawn), rtol=1e-7, atol=1e-9)
drawn = with_grads(rng.standard_normal(6) * 5)[0]
observe("clip_grad_norm_ of a single Tensor: the total", clip_grad_norm_(drawn, 1.0).data, rtol=1e-5)
drawn = with_grads(rng.standard_normal(3) * 5) + [Tensor(rng.standard_normal(2), requires_grad=True)]
observe("clip_grad_norm_ skipping a parameter without .grad: the total", clip_grad_norm_(drawn, 1.0).data, rtol=1e-5)
observe("clip_grad_norm_ skipping a parameter without .grad: the gradients", flat_grads(drawn), rtol=1e-5, atol=1e-7)
observe("clip_grad_norm_ of no gradients: the total", clip_grad_norm_([Tensor(rng.standard_normal(2), requires_grad=True)], 1.0).data)
observe("clip_grad_norm_(norm_type=0) raises", error_name(lambda: clip_grad_norm_(with_grads(rng.standard_normal(3)), 1.0, norm_type=0)))
observe("clip_grad_norm_(norm_type < 0) raises",
        error_name(lambda: clip_grad_norm_(with_grads(rng.standard_normal(3)), 1.0, norm_type=-float(rng.uniform(1, 3)))))
observe("clip_grad_norm_(max_norm < 0) raises",
        error_name(lambda: clip_grad_norm_(with_grads(rng.standard_normal(3)), -float(rng.uniform(0.1, 2)))))
observe("clip_grad_norm_ of a non-finite total, error_if_nonfinite=True, raises",
        error_name(lambda: clip_grad_norm_(with_grads([np.nan, *rng.standard_normal(2)]), 1.0, error_if_nonfinite=True)))


# %% [markdown]
# ## 3. One training step
#
# A step turns one batch into one update of the parameters, in this order:
#
# 1. `optimizer.zero_grad()`: `backward()` **adds** into `.grad` (Module 02), so the
#    previous step's gradients must go first, or every step would use the sum of all
#    gradients so far;
# 2. `outputs = model(inputs)` and `loss = loss_fn(outputs, targets)`: the forward pass,
#    recording the graph;
# 3. `loss.backward()`: gradients of the loss for every parameter;
# 4. if `max_grad_norm` is not None: `clip_grad_norm_(model.parameters(), max_grad_norm)`,
#    after the gradients exist and before they are used;
# 5. `optimizer.step()`: the update.
#
# `train_step` returns the loss as a Python float (`loss.item()`) and the outputs
# **detached** (`outputs.detach()`, Module 01): the caller counts correct predictions from
# them, and a detached tensor does not keep the whole graph of the step alive.
#
# The test below checks the order with an optimizer that records its calls. Step 4 uses
# your `clip_grad_norm_`, so it is checked at the end of the module, together with the
# `Trainer`: a mistake in clipping should not cost you the points of this step.
#
# ### Your task: `train_step`

# %% nbgrader={"grade": false, "grade_id": "impl-train-step", "locked": false, "solution": true, "schema_version": 3}
#| export
def train_step(
    model: Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: Any,
    inputs: Tensor,
    targets: Tensor,
    max_grad_norm: float | None = None,
) -> tuple[float, Tensor]:
    """One optimization step on one batch; returns ``(loss as a float, outputs detached)``.

    Order: ``optimizer.zero_grad()``, forward, loss, ``backward()``, then (when
    ``max_grad_norm`` is not None) ``clip_grad_norm_(model.parameters(), max_grad_norm)``,
    then ``optimizer.step()``. ``outputs`` has the model's output shape, e.g. ``(B, 10)``.

    Hint: six lines, in the order of the list above.
    """
    ### BEGIN SOLUTION
    optimizer.zero_grad()
    outputs = model(inputs)
    loss = loss_fn(outputs, targets)
    loss.backward()
    if max_grad_norm is not None:
        clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return loss.item(), outputs.detach()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-train-step", "locked": true, "points": 3, "solution": false, "schema_version": 3}
def all_values(arrays: Iterable[Any]) -> np.ndarray:
    """The arrays (or Tensors) as one flat array, e.g. every parameter of a model."""
    return np.concatenate([np.ravel(a.data if isinstance(a, Tensor) else a) for a in arrays])


x_batch, y_batch = Tensor(train_images[:32]), Tensor(train_labels[:32], dtype=np.int64)
model = small_mlp()
before = [p.numpy().copy() for p in model.parameters()]
watched = WatchedSGD(model.parameters(), lr=0.1)
expected_loss = reference_cross_entropy(model(x_batch), y_batch).item()
loss, outputs = train_step(model, reference_cross_entropy, watched, x_batch, y_batch)
assert isinstance(loss, float) and abs(loss - expected_loss) < 1e-6, (
    f"train_step: return the batch's loss as a float (loss.item()), expected {expected_loss}, got {loss!r}")
assert isinstance(outputs, Tensor) and outputs.shape == (32, 10), "train_step: return the model's outputs, shape (32, 10)"
assert outputs.grad_fn is None and not outputs.requires_grad, "train_step: return the outputs detached (outputs.detach())"
assert watched.calls == ["zero_grad", "step"], f"train_step: call zero_grad() once, then step() once; got {watched.calls}"
assert all(g is not None for g in watched.seen[0]), (
    "train_step: step() found parameters without gradients: zero_grad() must come before backward(), "
    "not between backward() and step()")
assert all(not np.array_equal(a, p.numpy()) for a, p in zip(before, model.parameters())), (
    "train_step: every parameter should change after the step")

twice = small_mlp(seed=4)
twice_opt = WatchedSGD(twice.parameters(), lr=0.0)  # lr 0: the weights stay, so both steps see the same gradient
train_step(twice, reference_cross_entropy, twice_opt, x_batch, y_batch)
train_step(twice, reference_cross_entropy, twice_opt, x_batch, y_batch)
assert all(np.allclose(a, b) for a, b in zip(twice_opt.seen[0], twice_opt.seen[1])), (
    "train_step: the second step saw summed gradients: call optimizer.zero_grad() before backward()")
plain_norm = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in watched.seen[0]))
assert plain_norm > 0.01, "train_step: without max_grad_norm the gradients must not be clipped"

# Graded: two steps of a model, a batch and a learning rate drawn for each graded run.
rng = unseen_rng("test-train-step")
rows = rng.choice(len(train_labels), size=int(rng.integers(8, 48)), replace=False)
x_unseen, y_unseen = Tensor(train_images[rows]), Tensor(train_labels[rows], dtype=np.int64)
unseen_model = small_mlp(seed=int(rng.integers(1000)), hidden=int(rng.integers(4, 24)))
unseen_opt = WatchedSGD(unseen_model.parameters(), lr=float(rng.uniform(0.05, 0.5)))
for step in (1, 2):
    loss, outputs = train_step(unseen_model, reference_cross_entropy, unseen_opt, x_unseen, y_unseen)
    observe(f"train_step, step {step}: the loss", loss, rtol=1e-5)
    observe(f"train_step, step {step}: the outputs", outputs.data, rtol=1e-5, atol=1e-6)
    observe(f"train_step, step {step}: the outputs are detached", outputs.grad_fn is None and not outputs.requires_grad)
observe("train_step: the optimizer calls of two steps", unseen_opt.calls)
observe("train_step: the gradients step() saw at step 2", all_values(unseen_opt.seen[1]), rtol=1e-4, atol=1e-6)
observe("train_step: the parameters after two steps", all_values(unseen_model.parameters()), rtol=1e-5, atol=1e-6)


# %% [markdown]
# ## 4. Evaluation
#
# How good is the model on data it did not train on? `evaluate(model, loss_fn, data)`
# runs over every batch of `data` and returns `{"loss": ..., "accuracy": ..., "samples": N}`:
#
# - **evaluation mode**: `model.eval()` first (Dropout and BatchNorm behave differently
#   when evaluating, Module 10), and afterwards the mode the model was in before,
#   `model.train(was_training)`, even when an error interrupts the loop (`try`/`finally`);
# - **no graph**: the forward passes run inside `with no_grad():` (Module 02): nothing
#   will call `backward()`, so recording a graph would only cost time and memory;
# - **a mean per sample**: `loss_fn` returns the *mean* loss of a batch. Batches can differ
#   in size (the last one is often shorter), so the mean over the data set is
#   $\frac{\sum_b n_b \,\ell_b}{\sum_b n_b}$, each batch's loss weighted by its size
#   $n_b$ = `len(targets)`, not the plain mean of the batch losses;
# - **accuracy**: the fraction of samples whose largest output is the target class. The
#   given `count_correct(outputs, targets)` counts the correct samples of one batch, or
#   returns None when the outputs are not class scores (e.g. a regression); then the
#   accuracy is None too;
# - no batches at all: `ValueError` (there is nothing to average).

# %%
#| export
def count_correct(outputs: Tensor, targets: Tensor) -> int | None:
    """How many samples have ``argmax(outputs, -1) == targets``, for class scores ``(B, C)``
    (or ``(B, ..., C)``) and integer targets ``(B,)`` (or ``(B, ...)``); None when that does not
    apply (float targets, or shapes that are not scores and classes)."""
    if targets.dtype.kind not in "iu" or outputs.ndim != targets.ndim + 1 or outputs.shape[:-1] != targets.shape:
        return None
    return int((outputs.data.argmax(axis=-1) == targets.data).sum())


# %% nbgrader={"grade": false, "grade_id": "impl-evaluate", "locked": false, "solution": true, "schema_version": 3}
#| export
def evaluate(model: Module, loss_fn: Callable[[Tensor, Tensor], Tensor], data: Iterable[Any]) -> dict[str, Any]:
    """Mean loss and accuracy of ``model`` over ``data``, an iterable of ``(inputs, targets)`` batches.

    Returns ``{"loss": float, "accuracy": float or None, "samples": int}``; both means are
    per sample (each batch weighted by ``len(targets)``). Runs in eval mode under
    ``no_grad()`` and restores the model's previous mode. ValueError when ``data`` has no batches.

    Hint: remember ``model.training`` before switching to eval mode; inside a
    ``try``/``finally``, add up over the batches each batch's mean loss times its size, the
    correct samples (``count_correct``) and the sizes, then divide; one None from
    ``count_correct`` makes the accuracy None.
    """
    ### BEGIN SOLUTION
    was_training = model.training
    model.eval()
    total_loss, correct, samples = 0.0, 0, 0
    try:
        with no_grad():
            for inputs, targets in data:
                outputs = model(inputs)
                n = len(targets)
                total_loss += loss_fn(outputs, targets).item() * n
                batch_correct = count_correct(outputs, targets)
                correct = None if correct is None or batch_correct is None else correct + batch_correct
                samples += n
    finally:
        model.train(was_training)
    if samples == 0:
        raise ValueError("evaluate: the data gave no batches (no samples), so there is nothing to average")
    return {"loss": total_loss / samples, "accuracy": None if correct is None else correct / samples, "samples": samples}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-evaluate", "locked": true, "points": 3, "solution": false, "schema_version": 3}
model = small_mlp(seed=1)
uneven = Batches(val_images, val_labels, batch_size=100)  # 359 samples: batches of 100, 100, 100, 59
result = evaluate(model, reference_cross_entropy, uneven)
logits = model(Tensor(val_images)).numpy().astype(np.float64)
log_probs = logits - logits.max(axis=1, keepdims=True)
log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
expected_loss = -log_probs[np.arange(len(val_labels)), val_labels].mean()
expected_accuracy = (logits.argmax(axis=1) == val_labels).mean()
assert set(result) >= {"loss", "accuracy", "samples"}, f"evaluate: return a dict with loss, accuracy, samples; got {result}"
assert result["samples"] == 359, f"evaluate: 359 validation samples, got {result['samples']}"
assert abs(result["loss"] - expected_loss) < 1e-5, (
    f"evaluate: the loss is the per-sample mean over all 359 samples ({expected_loss:.6f}), got {result['loss']:.6f}; "
    "weight each batch's mean loss by its size")
assert abs(result["accuracy"] - expected_accuracy) < 1e-9, (
    f"evaluate: accuracy should be {expected_accuracy:.4f}, got {result['accuracy']}")
assert model.training, "evaluate: put the model back into training mode if it was in it"
model.eval()
evaluate(model, reference_cross_entropy, uneven)
assert not model.training, "evaluate: a model that was in eval mode stays in eval mode"


class Recorder(Sequential):
    """Remembers, for each forward, whether it ran in eval mode and whether its output has a graph."""

    def __init__(self, *layers: Module) -> None:
        super().__init__(*layers)
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, input: Tensor) -> Tensor:
        output = super().forward(input)
        self.seen.append((self.training, output.grad_fn is not None))
        return output


recorder = Recorder(Linear(64, 10))
evaluate(recorder, reference_cross_entropy, uneven)
assert recorder.seen and all(mode is False for mode, _ in recorder.seen), "evaluate: call model.eval() before the forward passes"
assert all(graph is False for _, graph in recorder.seen), "evaluate: run the forward passes inside `with no_grad():`"


def squared_error(outputs: Tensor, targets: Tensor) -> Tensor:
    return ((outputs - targets) ** 2).mean()


regression = [(Tensor(np.ones((3, 2))), Tensor(np.zeros((3, 2))))]
assert evaluate(Sequential(), squared_error, regression)["accuracy"] is None, "evaluate: float targets give accuracy None"
expect_error(ValueError, lambda: evaluate(model, reference_cross_entropy, []), what="evaluate of no batches")


def failing_loss(outputs: Tensor, targets: Tensor) -> Tensor:
    raise ValueError("boom")


broken = Recorder(Linear(64, 10))
broken.train()
expect_error(ValueError, lambda: evaluate(broken, failing_loss, uneven), "boom", what="evaluate with a failing loss")
assert broken.training, "evaluate: restore the mode even when the loop raises (try/finally)"

# Graded: a model, a sample of the validation digits and a batch size drawn for each graded run.
rng = unseen_rng("test-evaluate")
rows = rng.choice(len(val_labels), size=int(rng.integers(60, 240)), replace=False)
drawn_batches = Batches(val_images[rows], val_labels[rows], batch_size=int(rng.integers(7, 50)))
unseen_model = small_mlp(seed=int(rng.integers(1000)), hidden=int(rng.integers(4, 24)))
for mode in ("training", "eval"):
    unseen_model.train(mode == "training")
    result = evaluate(unseen_model, reference_cross_entropy, drawn_batches)
    observe(f"evaluate, model in {mode} mode: the loss", float(result["loss"]), rtol=1e-5)
    observe(f"evaluate, model in {mode} mode: the accuracy", float(result["accuracy"]))
    observe(f"evaluate, model in {mode} mode: the samples", int(result["samples"]))
    observe(f"evaluate, model in {mode} mode: model.training afterwards", unseen_model.training)
recorder = Recorder(Linear(64, 10))
evaluate(recorder, reference_cross_entropy, drawn_batches)
observe("evaluate: (training mode, graph recorded) of each forward pass", recorder.seen)
targets = rng.standard_normal((int(rng.integers(2, 9)), 3))
result = evaluate(Sequential(), squared_error, [(Tensor(targets + rng.standard_normal(targets.shape)), Tensor(targets))])
observe("evaluate of a regression: the loss", float(result["loss"]), rtol=1e-5)
observe("evaluate of a regression: the accuracy is None", result["accuracy"] is None)
observe("evaluate of no batches raises", error_name(lambda: evaluate(unseen_model, reference_cross_entropy, [])))
broken = Recorder(Linear(64, 10))
broken.train(bool(rng.integers(2)))
mode_before = broken.training
observe("evaluate with a failing loss raises", error_name(lambda: evaluate(broken, failing_loss, drawn_batches)))
observe("evaluate with a failing loss: the mode is restored", broken.training == mode_before)

# %% [markdown]
# ## 5. The `Trainer`
#
# Given. `Trainer(model, loss_fn, optimizer, *, scheduler=None, max_grad_norm=None,
# progress=True)` runs your functions:
#
# - `fit(train_data, epochs, val_data=None)` trains `epochs` more epochs. Each epoch:
#   `model.train()`, one `train_step` per batch, then `evaluate` on `val_data` (if given),
#   then `scheduler.step()` (once per epoch, as PyTorch's epoch schedulers expect). It
#   returns `trainer.history`, a `History`: a list with one dict per epoch, holding
#   `epoch` (counted from 1, and counting on after a resume), `train_loss` and
#   `train_accuracy` (per-sample means over the epoch, from the training steps' outputs,
#   so they lag behind the weights at the end of the epoch), `val_loss`, `val_accuracy`
#   (None without `val_data`), `lr` (the learning rate of the epoch, from
#   `optimizer.param_groups[0]["lr"]`) and `seconds`.
# - `evaluate(data)` is your `evaluate` with the trainer's model and loss.
# - `train_data` and `val_data` are anything iterable again and again that yields
#   `(inputs, targets)` batches: the `Batches` above, Module 08's `DataLoader`, a list.
# - With `progress=True`, a progress bar (the `rich` library, which `tito` also uses)
#   shows the batches of the running epoch, on a terminal or in Jupyter (as a widget), and a
#   line is printed per epoch. Written to a file or a pipe, only the lines appear.
#   `console=` (a `rich.console.Console`) sends the bar and the lines elsewhere. Drawing a
#   bar costs time, so `EpochProgress` redraws at most every 0.1 s, not at every batch (the
#   analysis below measures the difference), and starts only 0.1 s into an epoch: an epoch
#   shorter than that shows just its line.
# - `save_checkpoint(path)` and `load_checkpoint(path)`: section 6.

# %%
#| export
HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


class History(list):
    """The per-epoch records of ``Trainer.fit``: a list of dicts with the keys ``HISTORY_KEYS``."""

    def metric(self, key: str) -> list[Any]:
        """One entry of every epoch, e.g. ``history.metric("val_loss")``."""
        if key not in HISTORY_KEYS:
            raise KeyError(f"History has no metric {key!r}; the keys are {', '.join(HISTORY_KEYS)}")
        return [record[key] for record in self]


class EpochProgress:
    """A rich progress bar over the batches of one epoch, redrawn at most every ``refresh_seconds``.

    ``with EpochProgress(total, "epoch 1") as bar: bar.advance()`` per batch; ``total`` may
    be None (data without ``len``). ``console`` defaults to rich's console on stdout. The bar
    is drawn on a terminal and in Jupyter (rich updates one ipywidgets output in place); when
    the output goes to a file or a pipe it stays silent (there is no line to redraw) and the
    ``Trainer``'s per-epoch lines remain. It disappears when the epoch ends.
    """

    def __init__(self, total: int | None, description: str, refresh_seconds: float = 0.1, console: Any = None) -> None:
        from rich.console import Console  # imported here: importing rich takes time

        self.console = console if console is not None else Console()
        self.shown = self.console.is_terminal or self.console.is_jupyter
        self.total, self.description, self.refresh_seconds = total, description, refresh_seconds
        self.done = 0
        self.progress: Any = None  # the rich Progress, made at the first redraw
        self.last_drawn = -math.inf

    def __enter__(self) -> EpochProgress:
        # The bar starts at its first redraw, ``refresh_seconds`` into the epoch: an epoch
        # shorter than that draws nothing, and pays nothing for starting and clearing a bar.
        self.last_drawn = time.perf_counter()
        return self

    def advance(self, note: str = "") -> None:
        """One more batch done; redraw only if ``refresh_seconds`` have passed since the last redraw."""
        self.done += 1
        if not self.shown:
            return
        now = time.perf_counter()
        if now - self.last_drawn >= self.refresh_seconds:
            if self.progress is None:
                self.start()
            self.progress.update(self.task, completed=self.done, description=f"{self.description} {note}")
            self.progress.refresh()
            self.last_drawn = now

    def start(self) -> None:
        """Make and show the bar."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), auto_refresh=False, transient=True, console=self.console)
        self.progress.start()
        self.task = self.progress.add_task(self.description, total=self.total)

    def __exit__(self, *exc_info: object) -> None:
        if self.progress is not None:
            self.progress.stop()


class Trainer:
    """Fit ``model`` with ``loss_fn`` and ``optimizer`` (and an optional per-epoch ``scheduler``).

    ``optimizer`` needs ``zero_grad()``, ``step()`` and ``param_groups`` (PyTorch's), and for
    checkpoints ``state_dict()`` / ``load_state_dict()``; so does ``scheduler`` (``step()``).
    ``max_grad_norm`` clips every step's gradients (``clip_grad_norm_``). ``progress`` shows a
    bar per epoch and prints a line per epoch; ``console`` (a rich Console) is where the bar
    goes (default: stdout). ``epoch`` counts the epochs done; ``history`` holds one record per epoch.
    """

    def __init__(self, model: Module, loss_fn: Callable[[Tensor, Tensor], Tensor], optimizer: Any, *,
                 scheduler: Any = None, max_grad_norm: float | None = None, progress: bool = True,
                 console: Any = None) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"Trainer needs a tinytorch Module as its model, got {type(model).__name__}")
        self.model, self.loss_fn, self.optimizer, self.scheduler = model, loss_fn, optimizer, scheduler
        self.max_grad_norm, self.progress = max_grad_norm, progress
        self.console = console  # where the progress bar is drawn (a rich Console; None: stdout)
        self.epoch = 0
        self.history = History()
        self.train_data: Any = None  # the last data fit() trained on: its generator goes into checkpoints
        self.pending_data_rng: dict[str, Any] | None = None  # a loaded data generator state, for the next fit()

    def fit(self, train_data: Iterable[Any], epochs: int, val_data: Iterable[Any] | None = None) -> History:
        """Train ``epochs`` more epochs (numbered on from ``self.epoch``); returns ``self.history``."""
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"Trainer.fit: epochs must be a whole number >= 0, got {epochs!r}")
        self.train_data = train_data
        if self.pending_data_rng is not None:
            restore_data_rng(train_data, self.pending_data_rng)
            self.pending_data_rng = None
        for _ in range(int(epochs)):
            start = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            train = self.train_epoch(train_data)
            val = self.evaluate(val_data) if val_data is not None else {"loss": None, "accuracy": None}
            if self.scheduler is not None:
                self.scheduler.step()
            self.epoch += 1
            self.history.append({"epoch": self.epoch, "train_loss": train["loss"], "train_accuracy": train["accuracy"],
                                 "val_loss": val["loss"], "val_accuracy": val["accuracy"], "lr": lr,
                                 "seconds": time.perf_counter() - start})
            if self.progress:
                self.report(describe_epoch(self.history[-1]))
        return self.history

    def report(self, line: str) -> None:
        """Print ``line`` to the file of the trainer's console, or to stdout without one.

        A plain ``print``: one line per epoch needs none of rich's rendering, which costs more.
        """
        print(line, file=None if self.console is None else self.console.file, flush=True)

    def train_epoch(self, data: Iterable[Any]) -> dict[str, Any]:
        """One pass of ``train_step`` over ``data``; per-sample mean loss and accuracy."""
        self.model.train()
        total_loss, correct, samples = 0.0, 0, 0
        total = len(data) if hasattr(data, "__len__") else None
        display = (EpochProgress(total, f"epoch {self.epoch + 1}", console=self.console) if self.progress
                   else contextlib.nullcontext())
        with display as bar:
            for inputs, targets in data:
                loss, outputs = train_step(self.model, self.loss_fn, self.optimizer, inputs, targets, self.max_grad_norm)
                n = len(targets)
                total_loss += loss * n
                batch_correct = count_correct(outputs, targets)
                correct = None if correct is None or batch_correct is None else correct + batch_correct
                samples += n
                if bar is not None:
                    bar.advance(f"loss {loss:.4f}")
        if samples == 0:
            raise ValueError("Trainer.fit: train_data gave no batches; check the data (and the batch size)")
        return {"loss": total_loss / samples, "accuracy": None if correct is None else correct / samples}

    def evaluate(self, data: Iterable[Any]) -> dict[str, Any]:
        """``evaluate(self.model, self.loss_fn, data)``."""
        return evaluate(self.model, self.loss_fn, data)

    def save_checkpoint(self, path: str | os.PathLike[str], extra: Any = None) -> None:
        """Everything needed to resume: see ``save_checkpoint``."""
        save_checkpoint(path, self.model, self.optimizer, self.scheduler, epoch=self.epoch, history=self.history,
                        data=self.train_data, extra=extra)

    def load_checkpoint(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Restore a checkpoint; the next ``fit`` continues at the epoch after the saved one and
        puts the saved data generator state into its ``train_data``."""
        info = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        self.epoch = info["epoch"]
        self.history = History(info["history"] or [])
        self.pending_data_rng = info["data_rng"]
        return info


def describe_epoch(record: dict[str, Any]) -> str:
    """One line of figures for one epoch's history record."""
    def percent(value: float | None) -> str:
        return "  n/a " if value is None else f"{value:6.1%}"

    val = "" if record["val_loss"] is None else f" | val loss {record['val_loss']:.4f} acc {percent(record['val_accuracy'])}"
    return (f"epoch {record['epoch']:3d} | train loss {record['train_loss']:.4f} acc {percent(record['train_accuracy'])}"
            f"{val} | lr {record['lr']:.3g} | {record['seconds']:.2f} s")


# %% [markdown]
# ### Training the digits MLP
#
# The model of Module 04, 64 → 128 → 10 with a ReLU, trained with Module 05's
# `CrossEntropyLoss` and Module 06's `Adam` (learning rate 0.01, lowered along a cosine by
# `CosineAnnealingLR` over 15 epochs) on the 1,079 training digits in batches of 32,
# checked on the 359 validation digits after each epoch. The cell prints the validation
# accuracy before training, one line per epoch (from the `Trainer`), and then the accuracy
# on the 359 test digits, which played no part in training. The settings were chosen by
# validation accuracy over four seeds (the test digits were not looked at to choose them):
# the repository's `examples/choose_digits_settings.py` prints that comparison.

# %%
from tinytorch.nn import CrossEntropyLoss
from tinytorch.optim import SGD, Adam
from tinytorch.optim.lr_scheduler import CosineAnnealingLR


DIGITS_EPOCHS = 15


def digits_trainer(progress: bool = True) -> Trainer:
    """The digits MLP with its loss, optimizer and schedule, seeded: the same start every time."""
    manual_seed(0)
    model = Sequential(Linear(64, 128), ReLU(), Linear(128, 10))
    optimizer = Adam(model.parameters(), lr=1e-2)
    return Trainer(model, CrossEntropyLoss(), optimizer, scheduler=CosineAnnealingLR(optimizer, T_max=DIGITS_EPOCHS),
                   progress=progress)


trainer = digits_trainer()
train_batches = Batches(*digits["train"], batch_size=32, generator=np.random.default_rng(0))
val_batches, test_batches = Batches(*digits["val"], batch_size=256), Batches(*digits["test"], batch_size=256)
print(f"before training: validation accuracy {trainer.evaluate(val_batches)['accuracy']:.1%}")
history = trainer.fit(train_batches, epochs=DIGITS_EPOCHS, val_data=val_batches)
print(f"test accuracy after {trainer.epoch} epochs: {trainer.evaluate(test_batches)['accuracy']:.1%}")


# %% [markdown]
# ### Learning curves
#
# `plot_history(history, path=None)` draws the loss and the accuracy per epoch, training
# and validation, side by side, and writes a PNG when given a `path` (creating its
# folders). It builds a `matplotlib.figure.Figure` directly, without `pyplot`: that works
# on a machine without a display and never opens a window. Without pyplot, a notebook
# would show a plain `Figure` as the text `<Figure size ...>`, so the figure is of a
# small subclass that also renders itself as a PNG (`_repr_png_`, IPython's protocol),
# and a notebook shows it when it is the last expression of a cell.

# %%
#| export
@functools.cache
def history_figure_class() -> type:
    """``matplotlib.figure.Figure`` with ``_repr_png_``, so that IPython shows it as a picture."""
    from matplotlib.figure import Figure  # imported here: matplotlib takes a while to import

    class HistoryFigure(Figure):
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=100)
            return buffer.getvalue()

    return HistoryFigure


def plot_history(history: Iterable[dict[str, Any]], path: str | os.PathLike[str] | None = None) -> Any:
    """Loss and accuracy curves of ``history`` (``Trainer.history``); a ``matplotlib.figure.Figure``.

    Metrics that are None (no validation data, no accuracy) are left out. Writes a PNG to
    ``path`` when given, creating its parent folders.
    """
    records = list(history)
    if not records:
        raise ValueError("plot_history: the history is empty; train at least one epoch first")
    figure = history_figure_class()(figsize=(9, 3.5), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    epochs = [record["epoch"] for record in records]
    for axes, metric, scale in ((loss_axes, "loss", 1.0), (accuracy_axes, "accuracy", 100.0)):
        for split in ("train", "val"):
            values = [record[f"{split}_{metric}"] for record in records]
            if all(value is not None for value in values):
                axes.plot(epochs, [value * scale for value in values], marker="o", label=split)
        axes.set_xlabel("epoch")
        axes.set_ylabel("accuracy (%)" if metric == "accuracy" else "loss")
        axes.set_title(metric)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)
    return figure


# %%
plot_history(history)

# %% [markdown]
# ## 6. Checkpoints
#
# A checkpoint is everything a run needs to continue: the model's `state_dict()`, the
# optimizer's (Adam's moment estimates are as big as the model), the scheduler's, the epoch
# and the history, and the states of the random generators (tinytorch's default one from
# Module 01, which initializes weights, and the data's shuffling generator). Restore only
# the weights and the resumed run takes different steps: Adam restarts its moments, the
# learning rate jumps back, the batches come in another order.
#
# **No pickle.** PyTorch's `torch.save` uses Python's `pickle`, and loading a pickle can
# run any code the file's author chose (hence `torch.load(weights_only=True)`). Here a
# checkpoint is one NumPy `.npz` file (a zip of `.npy` arrays): every array of the state is
# an entry `a0`, `a1`, ..., and one entry, `checkpoint`, holds the structure as JSON text
# (as UTF-8 bytes in a `uint8` array), where each array appears as a reference such as
# `{"__array__": "a0"}`. It is read with `np.load(path, allow_pickle=False)`, which refuses
# any entry that would need pickle. `pack_state` and `unpack_state` (given) translate
# between a state and JSON plus arrays:
#
# ```
#   {"model": {"0.weight": Tensor(128, 64), ...},          checkpoint.npz
#    "optimizer": {"state": {0: {"step": 3, ...}}},   ──►    checkpoint.npy  {"format": "tinytorch-checkpoint", "version": 1,
#    "epoch": 2, ...}                                                         "model": {"0.weight": {"__tensor__": "a0"}, ...}, ...}
#                                                            a0.npy          float32 (128, 64)
#                                                            a1.npy          ...
# ```

# %%
#| export
CHECKPOINT_FORMAT = "tinytorch-checkpoint"
CHECKPOINT_VERSION = 1
HEADER_ENTRY = "checkpoint"  # the npz entry holding the JSON structure


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint (damaged, foreign, or not fitting the model)."""


def pack_state(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``value`` as JSON-ready data; each array or Tensor is stored in ``arrays`` (``"a0"``, ...)
    and replaced by a reference. Handles dicts, lists, tuples, str, int, float, bool, None,
    NumPy scalars and arrays (not of dtype object) and Tensors; TypeError for anything else."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (Tensor, np.ndarray, np.generic)):
        array = np.array(value.data if isinstance(value, Tensor) else value)  # a copy, 0-d for a scalar
        if array.dtype.hasobject:
            raise TypeError("pack_state: arrays of Python objects cannot be saved without pickle")
        name = f"a{len(arrays)}"
        arrays[name] = array
        kind = "__tensor__" if isinstance(value, Tensor) else "__scalar__" if isinstance(value, np.generic) else "__array__"
        return {kind: name}
    if isinstance(value, dict):
        if all(isinstance(key, str) and not key.startswith("__") for key in value):
            return {key: pack_state(item, arrays) for key, item in value.items()}
        return {"__dict__": [[pack_state(key, arrays), pack_state(item, arrays)] for key, item in value.items()]}
    if isinstance(value, list):
        return [pack_state(item, arrays) for item in value]
    if isinstance(value, tuple):
        return {"__tuple__": [pack_state(item, arrays) for item in value]}
    raise TypeError(f"pack_state: cannot save a {type(value).__name__} in a checkpoint (no pickle); "
                    "use numbers, strings, lists, dicts, arrays or Tensors")


def unpack_state(packed: Any, arrays: dict[str, np.ndarray], where: str = "checkpoint") -> Any:
    """The inverse of ``pack_state``; CheckpointError naming ``where`` for a reference to a
    missing entry or a structure ``pack_state`` does not write."""
    if packed is None or isinstance(packed, (bool, int, float, str)):
        return packed
    if isinstance(packed, list):
        return [unpack_state(item, arrays, where) for item in packed]
    if not isinstance(packed, dict):
        raise CheckpointError(f"{where}: unexpected {type(packed).__name__} in the structure")
    if len(packed) == 1:
        (kind, content), = packed.items()
        if kind in ("__tensor__", "__array__", "__scalar__"):
            if not isinstance(content, str) or content not in arrays:
                raise CheckpointError(f"{where}: the structure refers to an array entry {content!r} the file lacks")
            array = arrays[content]
            return Tensor(array, dtype=array.dtype) if kind == "__tensor__" else array[()] if kind == "__scalar__" else array
        if kind == "__tuple__" and isinstance(content, list):
            return tuple(unpack_state(item, arrays, where) for item in content)
        if kind == "__dict__" and isinstance(content, list) and all(isinstance(p, list) and len(p) == 2 for p in content):
            return {unpack_state(key, arrays, where): unpack_state(item, arrays, where) for key, item in content}
        if kind.startswith("__"):
            raise CheckpointError(f"{where}: unknown entry {kind!r} in the structure")
    return {key: unpack_state(item, arrays, where) for key, item in packed.items()}


# %%
packed_arrays: dict[str, np.ndarray] = {}
packed = pack_state({"weights": Tensor([[1.0, 2.0]]), "state": {0: {"step": np.int64(3)}}, "betas": (0.9, 0.999)},
                    packed_arrays)
print("JSON structure:", json.dumps(packed))
print("array entries: ", {name: (array.dtype.name, array.shape) for name, array in packed_arrays.items()})
print("unpacked:      ", unpack_state(packed, packed_arrays))


# %% [markdown]
# ### Saving atomically
#
# Writing a checkpoint over the previous one in place is a trap: if the process dies
# halfway (out of memory, a killed job, a full disk), the old checkpoint is already
# overwritten and the new one is incomplete, and hours of training are lost. The safe
# way, used by databases and editors alike:
#
# 1. write the new file under a **temporary name in the same folder** (the same file
#    system, so that step 3 is a rename, not a copy): `tempfile.NamedTemporaryFile(mode="wb",
#    dir=folder, prefix="." + name + ".", suffix=".tmp", delete=False)`;
# 2. `handle.flush()` (Python's buffer to the operating system) and
#    `os.fsync(handle.fileno())` (the operating system's cache to the disk), so that the
#    bytes are really stored before the file gets its name;
# 3. `os.replace(temporary, path)`: an atomic rename that replaces any old file; a reader
#    sees either the whole old file or the whole new one, never a mix;
# 4. if anything fails before the rename, delete the temporary file and let the error
#    propagate: the old checkpoint is untouched. A `try`/`finally` with a flag that says
#    whether the rename happened does both without catching the error.
#
# ### Your task: `write_atomically`

# %% nbgrader={"grade": false, "grade_id": "impl-write-atomically", "locked": false, "solution": true, "schema_version": 3}
#| export
def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Create or replace the file ``path`` with what ``write(handle)`` writes, atomically.

    ``write`` gets a binary file handle of a temporary file in ``path``'s folder. After it
    returns: flush, fsync, close, ``os.replace`` onto ``path``. If ``write`` (or anything
    before the rename) raises, the temporary file is deleted, ``path`` is left as it was,
    and the error propagates.

    Hint: open the temporary file yourself (so that you know its name), write, flush and
    fsync inside a ``with`` that closes it, rename after the ``with``; a flag set after the
    rename tells a ``finally`` whether the temporary file must be deleted.

    If you are stuck: ``tempfile.NamedTemporaryFile(..., delete=False)`` keeps the file when
    it is closed, ``handle.name`` is its path, and ``Path(name).unlink(missing_ok=True)``
    deletes it.
    """
    ### BEGIN SOLUTION
    path = Path(path)
    handle = tempfile.NamedTemporaryFile(mode="wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    replaced = False
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
        replaced = True
    finally:
        if not replaced:
            Path(handle.name).unlink(missing_ok=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-write-atomically", "locked": true, "points": 3, "solution": false, "schema_version": 3}
folder = Path(tempfile.mkdtemp(prefix="tinytorch-atomic-"))
target = folder / "run.ckpt"
seen_names = []


def names_of_handle(handle: BinaryIO, folder: Path) -> list[str]:
    """The names in ``folder`` of the file ``handle`` writes to, found by its inode (its
    ``.name`` need not be a path: ``os.fdopen`` gives the descriptor)."""
    written = os.fstat(handle.fileno())
    return sorted(entry.name for entry in folder.iterdir()
                  if (entry.stat().st_dev, entry.stat().st_ino) == (written.st_dev, written.st_ino))


def write_hello(handle: BinaryIO) -> None:
    seen_names.append(names_of_handle(handle, folder))
    handle.write(b"hello")


write_atomically(target, write_hello)
assert target.read_bytes() == b"hello", "write_atomically: the file must hold what write() wrote"
assert seen_names[0] and target.name not in seen_names[0], (
    "write_atomically: write() must get a temporary file in the same folder, not the target itself")
write_atomically(str(target), lambda handle: handle.write(b"second"))
assert target.read_bytes() == b"second", "write_atomically: an existing file is replaced (a str path works too)"


def write_half_then_fail(handle: BinaryIO) -> None:
    handle.write(b"half of a new checkpoint")
    raise OSError("disk full (simulated)")


expect_error(OSError, lambda: write_atomically(target, write_half_then_fail), "disk full",
             what="write_atomically when write() fails")
assert target.read_bytes() == b"second", "write_atomically: a failed write must leave the old file intact"
assert sorted(p.name for p in folder.iterdir()) == ["run.ckpt"], (
    f"write_atomically: remove the temporary file after a failure; the folder holds {sorted(p.name for p in folder.iterdir())}")


def interrupted(handle: BinaryIO) -> None:
    handle.write(b"partial")
    raise KeyboardInterrupt  # Ctrl-C: not an Exception, but the temporary file must go all the same


expect_error(KeyboardInterrupt, lambda: write_atomically(folder / "new.ckpt", interrupted), what="write_atomically interrupted")
assert sorted(p.name for p in folder.iterdir()) == ["run.ckpt"], (
    "write_atomically: clean up after any exception, even a KeyboardInterrupt (use finally, not except Exception); "
    f"the folder holds {sorted(p.name for p in folder.iterdir())}")

# Graded: file names and bytes drawn for each graded run.
rng = unseen_rng("test-write-atomically")
folder = Path(tempfile.mkdtemp(prefix="tinytorch-atomic-"))
target = folder / f"run-{int(rng.integers(10**6))}.ckpt"
drawn_bytes = [rng.integers(0, 256, size=int(rng.integers(1, 400)), dtype=np.uint8).tobytes() for _ in range(3)]
seen_names.clear()


def write_drawn(handle: BinaryIO) -> None:
    seen_names.append(names_of_handle(handle, folder))
    handle.write(drawn_bytes[0])


write_atomically(target, write_drawn)
observe("write_atomically: the bytes of a new file", np.frombuffer(target.read_bytes(), dtype=np.uint8))
observe("write_atomically: write() got a file in the same folder, not the target itself",
        bool(seen_names[0]) and target.name not in seen_names[0])
write_atomically(str(target), lambda handle: handle.write(drawn_bytes[1]))
observe("write_atomically: the bytes of a replaced file", np.frombuffer(target.read_bytes(), dtype=np.uint8))


def write_then_fail(handle: BinaryIO) -> None:
    handle.write(drawn_bytes[2])
    raise OSError("disk full (simulated)")


observe("write_atomically when write() fails raises", error_name(lambda: write_atomically(target, write_then_fail)))
observe("write_atomically: the file after a failed write", np.frombuffer(target.read_bytes(), dtype=np.uint8))
observe("write_atomically: the files in the folder after a failed write", sorted(p.name for p in folder.iterdir()))


# %% [markdown]
# ### Reading a checkpoint safely
#
# A file can be wrong in many ways: cut short by a crash of a program that did not save
# atomically, damaged on disk, a different kind of file (a `.npy`, a text file, a pickle),
# or a checkpoint of a later format. Each must become one clear error,
# `CheckpointError(ValueError)`, whose message names the **file**, the **problem**, and
# **what to do**, instead of a `BadZipFile` or a `KeyError` from deep inside NumPy.
#
# `read_checkpoint(path)` opens and checks the file and returns `(structure, arrays)`:
#
# 1. `np.load(path, allow_pickle=False)`; a file that does not exist raises
#    `FileNotFoundError` as usual. Reading can raise `zipfile.BadZipFile` (truncated or
#    damaged zip, including a wrong checksum of an entry), `ValueError` (pickled data,
#    a damaged `.npy` header), `EOFError` (empty file) or `OSError`: turn each into a
#    `CheckpointError`. Read every entry while the file is open
#    (`{name: loaded[name] for name in loaded.files}` inside `with loaded:`), since NpzFile
#    reads lazily: a damaged entry only shows when it is read.
# 2. `np.load` of a plain `.npy` file returns an array, not an `np.lib.npyio.NpzFile`:
#    `CheckpointError`.
# 3. The entry `HEADER_ENTRY` must exist; it holds UTF-8 bytes
#    (`arrays.pop(HEADER_ENTRY).tobytes().decode("utf-8")`) of a JSON object
#    (`json.loads`); a decoding error, a JSON error or a non-dict: `CheckpointError`.
# 4. Its `"format"` must be `CHECKPOINT_FORMAT` and its `"version"` `CHECKPOINT_VERSION`;
#    otherwise `CheckpointError` naming what the file says.
#
# Every message includes `str(path)`, and says what to do (for example, "resave it with
# save_checkpoint, or load another file").
#
# ### Your task: `read_checkpoint`

# %% nbgrader={"grade": false, "grade_id": "impl-read-checkpoint", "locked": false, "solution": true, "schema_version": 3}
#| export
def read_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Open the checkpoint ``path`` without pickle and check it; returns ``(structure, arrays)``:
    the JSON structure (a dict, with ``"format"`` and ``"version"``) and the other entries.

    CheckpointError (naming ``path``, the problem and what to do) for a file that is not a
    readable npz, lacks the ``HEADER_ENTRY`` entry, holds a header that is not a JSON
    object, or has another format or version. FileNotFoundError for a missing file.

    Hint: one ``try`` around ``np.load`` and the reading of every entry, whose ``except``
    catches the four kinds of error of step 1 and raises a CheckpointError from it; a missing
    file must stay a FileNotFoundError, which is an OSError too, so check that the file
    exists before the ``try``. Then the checks of steps 2 to 4, in that order.
    """
    ### BEGIN SOLUTION
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    advice = "resave it with save_checkpoint, or load another file"
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                arrays = {name: loaded[name] for name in loaded.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(error).__name__}: {error}); "
                              f"the file is damaged, truncated or of another kind: {advice}") from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{path} holds a single .npy array, not a tinytorch checkpoint (.npz); load another file")
    if HEADER_ENTRY not in arrays:
        raise CheckpointError(f"{path} has no {HEADER_ENTRY!r} entry, so it is not a tinytorch checkpoint; {advice}")
    try:
        structure = json.loads(arrays.pop(HEADER_ENTRY).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: its {HEADER_ENTRY!r} entry is damaged ({error}); {advice}") from error
    if not isinstance(structure, dict):
        raise CheckpointError(f"{path}: its {HEADER_ENTRY!r} entry is not a JSON object; {advice}")
    if structure.get("format") != CHECKPOINT_FORMAT or structure.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} says format {structure.get('format')!r} version {structure.get('version')!r}; this tinytorch "
            f"reads {CHECKPOINT_FORMAT!r} version {CHECKPOINT_VERSION}: {advice}")
    return structure, arrays
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-read-checkpoint", "locked": true, "points": 4, "solution": false, "schema_version": 3}
folder = Path(tempfile.mkdtemp(prefix="tinytorch-read-"))


def npz_file(name: str, header: Any = None, **arrays: np.ndarray) -> Path:
    """An npz written directly with NumPy; ``header`` (a dict) becomes the JSON header entry."""
    if header is not None:
        arrays[HEADER_ENTRY] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    np.savez(folder / name, **arrays)
    return folder / name


def raw_header_file(name: str, header_bytes: bytes) -> Path:
    """An npz whose header entry holds ``header_bytes`` as they are (bad JSON, bad UTF-8)."""
    np.savez(folder / name, **{HEADER_ENTRY: np.frombuffer(header_bytes, dtype=np.uint8)})
    return folder / name


def damaged_copy(good: Path, name: str, array: np.ndarray, offset: int) -> Path:
    """A copy of ``good`` with byte ``offset`` of ``array``'s data flipped (the entry's checksum no longer fits)."""
    content = bytearray(good.read_bytes())
    content[content.find(array.tobytes()) + offset] ^= 0xFF
    (folder / name).write_bytes(bytes(content))
    return folder / name


good_header = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": 3}
good = npz_file("good.npz", good_header, a0=np.arange(6, dtype=np.float32).reshape(2, 3))
structure, arrays = read_checkpoint(good)
assert structure == good_header, f"read_checkpoint: the structure is the header's JSON object; got {structure}"
assert list(arrays) == ["a0"] and np.array_equal(arrays["a0"], np.arange(6).reshape(2, 3)), (
    "read_checkpoint: return the other entries by name (without the header entry)")
assert read_checkpoint(str(good))[0]["epoch"] == 3, "read_checkpoint: a str path works too"

(folder / "truncated.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
(folder / "notes.txt").write_text("not a checkpoint at all\n")
np.save(folder / "single.npy", np.zeros(3))
damaged_copy(good, "damaged.npz", np.arange(6, dtype=np.float32), 5)  # one byte of a0's data
(folder / "empty.npz").write_bytes(b"")
np.savez(folder / "pickled.npz", a0=np.array([{"x": 1}], dtype=object), **{HEADER_ENTRY: np.frombuffer(
    json.dumps(good_header).encode(), dtype=np.uint8)})
cases = [
    ("truncated.npz", "a truncated file"), ("notes.txt", "a text file"), ("single.npy", "a .npy array"),
    ("damaged.npz", "a file with a damaged entry"), ("empty.npz", "an empty file"),
    ("pickled.npz", "a file with a pickled entry"),
    (npz_file("no_header.npz", a0=np.zeros(2)).name, "an npz without the header entry"),
    (raw_header_file("badjson.npz", b"{not json").name, "a header that is not JSON"),
    (raw_header_file("badutf.npz", b"\xff\xfe\x00").name, "a header that is not UTF-8"),
    (npz_file("other.npz", {"format": "something-else", "version": 1}).name, "another format"),
    (npz_file("future.npz", {"format": CHECKPOINT_FORMAT, "version": 99}).name, "version 99"),
    (npz_file("list.npz", [1, 2]).name, "a header that is a JSON list"),
]
for name, what in cases:
    error = expect_error(CheckpointError, lambda: read_checkpoint(folder / name), name, what=f"read_checkpoint of {what}")
    assert isinstance(error, ValueError), "CheckpointError is a ValueError"
expect_error(FileNotFoundError, lambda: read_checkpoint(folder / "missing.npz"), what="read_checkpoint of a missing file")

# Graded: a checkpoint and damaged files drawn for each graded run.
rng = unseen_rng("test-read-checkpoint")
tag = int(rng.integers(10**6))
drawn_header = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": int(rng.integers(100)),
                "history": rng.uniform(size=int(rng.integers(1, 4))).round(3).tolist()}
drawn_arrays = {f"a{i}": rng.standard_normal(tuple(rng.integers(1, 5, size=int(rng.integers(1, 3))))).astype(np.float32)
                for i in range(int(rng.integers(1, 4)))}
drawn = npz_file(f"good-{tag}.npz", drawn_header, **drawn_arrays)
structure, arrays = read_checkpoint(drawn)
observe("read_checkpoint: the structure, as JSON", json.dumps(structure, sort_keys=True))
observe("read_checkpoint: the names of the entries", sorted(arrays))
for i in range(len(drawn_arrays)):
    observe(f"read_checkpoint: entry a{i}", arrays[f"a{i}"])
size = drawn.stat().st_size
(folder / f"cut-{tag}.npz").write_bytes(drawn.read_bytes()[: int(rng.integers(10, size - 1))])
(folder / f"text-{tag}.txt").write_text("".join(rng.choice(list("abcdefgh ,.\n"), size=int(rng.integers(10, 200)))))
np.save(folder / f"single-{tag}.npy", rng.standard_normal(int(rng.integers(1, 5))))
damaged_copy(drawn, f"damaged-{tag}.npz", drawn_arrays["a0"], int(rng.integers(drawn_arrays["a0"].nbytes)))
drawn_cases = [
    (f"cut-{tag}.npz", "a truncated file"), (f"text-{tag}.txt", "a text file"), (f"single-{tag}.npy", "a .npy array"),
    (f"damaged-{tag}.npz", "a file with a damaged entry"),
    (npz_file(f"no-header-{tag}.npz", a0=rng.standard_normal(2)).name, "an npz without the header entry"),
    (raw_header_file(f"bad-json-{tag}.npz", json.dumps(drawn_header).encode()[:-1]).name, "a header that is not JSON"),
    (npz_file(f"other-{tag}.npz", {"format": f"format-{tag}", "version": 1}).name, "another format"),
    (npz_file(f"future-{tag}.npz", {"format": CHECKPOINT_FORMAT, "version": int(rng.integers(2, 100))}).name,
     "a later version"),
    (npz_file(f"list-{tag}.npz", rng.integers(10, size=3).tolist()).name, "a header that is a JSON list"),
    (f"missing-{tag}.npz", "a missing file"),
]
for name, what in drawn_cases:
    observe(f"read_checkpoint of {what} raises", error_name(lambda: read_checkpoint(folder / name)))


# %% [markdown]
# ### Saving and loading, given
#
# `save_checkpoint(path, model, optimizer=None, scheduler=None, *, epoch, history=None,
# data=None, extra=None)` packs the states (also the class names of the optimizer and the
# scheduler, and the random generator states: `tinytorch.tensor.get_rng_state()` and, when
# `data` has a `generator` attribute that is a NumPy Generator, as Module 08's
# `DataLoader` does, its state) and writes them with your `write_atomically`, creating
# the folder. `extra` is anything JSON-like of your own (a config, a note).
#
# `load_checkpoint(path, model, optimizer=None, scheduler=None, *, data=None)` reads the
# file with your `read_checkpoint`, then **checks everything before it changes anything**:
# the model's keys and shapes, the optimizer's class, its parameter groups and the shapes
# of its per-parameter state, the scheduler's class; a checkpoint without an optimizer or
# scheduler state cannot restore one that was passed. Any mismatch is a `CheckpointError`
# listing the problems. Then it loads the states, restores tinytorch's generator (and
# `data`'s), and returns `{"epoch", "history", "extra", "data_rng"}`.

# %%
#| export
def write_entries(handle: BinaryIO, entries: dict[str, np.ndarray]) -> None:
    """The npz bytes of ``entries`` into ``handle`` (uncompressed: saving stays fast)."""
    np.savez(handle, **entries)


def data_generator(data: Any) -> np.random.Generator | None:
    """``data.generator`` when it is a NumPy Generator (a shuffling DataLoader's), else None."""
    generator = getattr(data, "generator", None)
    return generator if isinstance(generator, np.random.Generator) else None


def restore_data_rng(data: Any, state: dict[str, Any]) -> None:
    """Put ``data``'s generator back at ``state``; warns when ``data`` has no generator to restore."""
    generator = data_generator(data)
    if generator is None:
        warnings.warn("the checkpoint holds a data shuffling state, but this train_data has no NumPy generator "
                      "attribute: the batches will come in another order than in the original run", stacklevel=3)
        return
    generator.bit_generator.state = state


def save_checkpoint(path: str | os.PathLike[str], model: Module, optimizer: Any = None, scheduler: Any = None, *,
                    epoch: int, history: Iterable[dict[str, Any]] | None = None, data: Any = None,
                    extra: Any = None) -> None:
    """Write everything needed to resume training to ``path`` (one .npz, no pickle), atomically."""
    generator = data_generator(data)
    arrays: dict[str, np.ndarray] = {}
    structure = pack_state({
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer_class": None if optimizer is None else type(optimizer).__name__,
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler_class": None if scheduler is None else type(scheduler).__name__,
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "history": None if history is None else list(history),
        "rng": {"tinytorch": get_rng_state(),
                "data": None if generator is None else generator.bit_generator.state},
        "extra": extra,
    }, arrays)  # everything is packed before the file is touched: a bad `extra` fails here
    arrays[HEADER_ENTRY] = np.frombuffer(json.dumps(structure).encode("utf-8"), dtype=np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda handle: write_entries(handle, arrays))


def state_problems(name: str, saved: dict[str, Any], live: dict[str, Any]) -> list[str]:
    """Missing and unexpected keys and shape mismatches between two state dicts of arrays/Tensors."""
    problems = [f"{name} key {key!r} is missing from the checkpoint" for key in live if key not in saved]
    problems += [f"{name} key {key!r} in the checkpoint does not exist here" for key in saved if key not in live]
    problems += [f"{name} {key!r} has shape {np.shape(saved[key])} in the checkpoint but {np.shape(live[key])} here"
                 for key in live if key in saved and np.shape(saved[key]) != np.shape(live[key])]
    return problems


def optimizer_problems(saved: dict[str, Any], optimizer: Any) -> list[str]:
    """Parameter groups that differ in size, and per-parameter state of the wrong shape."""
    live_groups = optimizer.state_dict()["param_groups"]
    saved_groups = saved.get("param_groups") if isinstance(saved, dict) else None
    if not isinstance(saved_groups, list) or not isinstance(saved.get("state"), dict):
        return ["the optimizer state has no param_groups list or no state dict"]
    sizes = [len(group["params"]) for group in live_groups]
    saved_sizes = [len(group.get("params", [])) for group in saved_groups]
    if sizes != saved_sizes:
        return [f"the optimizer has parameter groups of sizes {sizes}, the checkpoint {saved_sizes}"]
    params = [p for group in optimizer.param_groups for p in group["params"]]
    problems = []
    for index, state in saved["state"].items():
        if not isinstance(index, int) or not 0 <= index < len(params) or not isinstance(state, dict):
            problems.append(f"the optimizer state refers to parameter {index!r}, which does not exist here")
            continue
        problems += [f"optimizer state {key!r} of parameter {index} has shape {np.shape(value)} but the parameter "
                     f"{params[index].shape}" for key, value in state.items()
                     if isinstance(value, (np.ndarray, Tensor)) and np.ndim(value) > 0 and np.shape(value) != params[index].shape]
    return problems


def load_checkpoint(path: str | os.PathLike[str], model: Module, optimizer: Any = None, scheduler: Any = None, *,
                    data: Any = None) -> dict[str, Any]:
    """Restore ``model`` (and ``optimizer``, ``scheduler``, the random generators) from ``path``.

    Returns ``{"epoch", "history", "extra", "data_rng"}``. CheckpointError, with nothing
    changed, when the file is damaged or does not fit what was passed.
    """
    structure, arrays = read_checkpoint(path)
    state = unpack_state(structure, arrays, where=str(path))
    problems = state_problems("model", state.get("model") or {}, model.state_dict())
    for part, live in (("optimizer", optimizer), ("scheduler", scheduler)):
        if live is None:
            continue
        if state.get(part) is None:
            problems.append(f"it holds no {part} state (pass {part}=None to load without one)")
        elif state.get(f"{part}_class") != type(live).__name__:
            problems.append(f"it holds the state of a {state.get(f'{part}_class')}, not of a {type(live).__name__}")
        elif part == "optimizer":
            problems += optimizer_problems(state["optimizer"], optimizer)
    if problems:
        raise CheckpointError(f"{path} does not fit: " + "; ".join(problems) +
                              ". Build the same model, optimizer and scheduler as the run that saved it, or load another file")
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    rng = state.get("rng") or {}
    if rng.get("tinytorch") is not None:
        set_rng_state(rng["tinytorch"])
    if data is not None and rng.get("data") is not None:
        restore_data_rng(data, rng["data"])
    return {"epoch": state.get("epoch", 0), "history": state.get("history"), "extra": state.get("extra"),
            "data_rng": rng.get("data")}


# %% [markdown]
# ### Resuming, bit for bit
#
# The test of a checkpoint: train 4 epochs in one go; separately, train 2 epochs, save,
# build **new** model, optimizer, scheduler and data objects (as a restarted program
# would), load, train 2 more. Both runs must end with exactly the same parameters, bit for
# bit (`np.array_equal`, not `allclose`), and the same losses in their histories. Anything
# a checkpoint forgets (the momentum buffers, the scheduler's epoch, the shuffling
# generator) shows up as a difference. The test uses SGD with momentum and a step
# schedule, on shuffled batches of 200 training digits.
#
# This last test runs the whole chain through the given `Trainer`: your `train_step`
# (with clipping by your `clip_grad_norm_` when `max_grad_norm` is set), `write_atomically`
# and `read_checkpoint`. The tests above check each of them on its own.

# %% nbgrader={"grade": true, "grade_id": "test-trainer-resume", "locked": true, "points": 3, "solution": false, "schema_version": 3}
def resume_run(folder: Path, split_at: int | None, epochs: int = 4, seed: int = 0, momentum: float = 0.9) -> Trainer:
    """Train ``epochs`` epochs; with ``split_at``, stop there, save, and continue in new objects."""
    def build() -> tuple[Trainer, Batches]:
        model = small_mlp(seed)
        optimizer = ReferenceSGD(model.parameters(), lr=0.1, momentum=momentum)
        trainer = Trainer(model, reference_cross_entropy, optimizer, scheduler=ReferenceStepLR(optimizer, 1, 0.5), progress=False)
        return trainer, Batches(train_images[:200], train_labels[:200], 32, np.random.default_rng(seed))

    trainer, batches = build()
    if split_at is None:
        trainer.fit(batches, epochs)
        return trainer
    trainer.fit(batches, split_at)
    trainer.save_checkpoint(folder / f"resume-{seed}.npz")
    trainer, batches = build()
    trainer.load_checkpoint(folder / f"resume-{seed}.npz")
    trainer.fit(batches, epochs - split_at)
    return trainer


clip_model = small_mlp()
clipping = WatchedSGD(clip_model.parameters(), lr=0.1)
Trainer(clip_model, reference_cross_entropy, clipping, max_grad_norm=0.01, progress=False).fit(
    Batches(train_images[:64], train_labels[:64], 32), 1)
seen_norms = [math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)) for grads in clipping.seen]
assert len(seen_norms) == 2 and max(seen_norms) <= 0.01 + 1e-6, (
    f"train_step with max_grad_norm=0.01 (via Trainer): the optimizer must see gradients clipped by clip_grad_norm_ "
    f"to a norm <= 0.01, saw norms {seen_norms}")

folder = Path(tempfile.mkdtemp(prefix="tinytorch-resume-"))
straight, resumed = resume_run(folder, None), resume_run(folder, 2)
assert resumed.epoch == 4 and resumed.history.metric("epoch") == [1, 2, 3, 4], (
    f"resume: the history goes on from the saved epoch, got epochs {resumed.history.metric('epoch')}")
assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(straight.model.parameters(), resumed.model.parameters())), (
    "resume: 2 epochs + save + load + 2 epochs must give exactly the parameters of 4 epochs in one go "
    "(check train_step, write_atomically and read_checkpoint)")
assert straight.history.metric("train_loss") == resumed.history.metric("train_loss"), "resume: identical losses"
assert straight.history.metric("lr") == resumed.history.metric("lr"), (
    f"resume: the learning rates of the schedule go on from the saved epoch: {straight.history.metric('lr')} in one go, "
    f"{resumed.history.metric('lr')} resumed")

# Graded: clipping and a resumed run with a seed, a momentum, a length and a split drawn for each graded run.
rng = unseen_rng("test-trainer-resume")
rows = rng.choice(len(train_labels), size=64, replace=False)
clip_model = small_mlp(seed=int(rng.integers(1000)))
clipping = WatchedSGD(clip_model.parameters(), lr=0.1)
Trainer(clip_model, reference_cross_entropy, clipping, max_grad_norm=float(rng.uniform(0.002, 0.05)), progress=False).fit(
    Batches(train_images[rows], train_labels[rows], 32), 1)
observe("Trainer(max_grad_norm=...): the clipped gradients of step 1", all_values(clipping.seen[0]), rtol=1e-4, atol=1e-8)
observe("Trainer(max_grad_norm=...): the clipped gradients of step 2", all_values(clipping.seen[1]), rtol=1e-4, atol=1e-8)
epochs = int(rng.integers(3, 6))
resumed = resume_run(folder, int(rng.integers(1, epochs)), epochs=epochs, seed=int(rng.integers(1000)),
                     momentum=float(rng.uniform(0.1, 0.9)))
observe("resume: the epochs of the history", resumed.history.metric("epoch"))
observe("resume: the training losses", resumed.history.metric("train_loss"), rtol=1e-5)
observe("resume: the training accuracies", resumed.history.metric("train_accuracy"))
observe("resume: the learning rates", resumed.history.metric("lr"))
observe("resume: the parameters at the end", all_values(resumed.model.parameters()), rtol=1e-5, atol=1e-6)

# %% [markdown]
# The digits model trained above, saved and loaded into a fresh model, and some of the
# errors a checkpoint can raise:

# %%
checkpoint_folder = Path(tempfile.mkdtemp(prefix="tinytorch-checkpoints-"))
checkpoint_path = checkpoint_folder / "digits.npz"
trainer.save_checkpoint(checkpoint_path, extra={"note": "digits MLP, Module 07"})
restored_trainer = digits_trainer(progress=False)  # a fresh, untrained model
restored = restored_trainer.model
info = restored_trainer.load_checkpoint(checkpoint_path)
print(f"loaded epoch {info['epoch']}, extra {info['extra']}; test accuracy of the restored model "
      f"{restored_trainer.evaluate(test_batches)['accuracy']:.1%}")
wider = Sequential(Linear(64, 256), ReLU(), Linear(256, 10))
print("a wider model:", expect_error(CheckpointError, lambda: load_checkpoint(checkpoint_path, wider)))
checkpoint_folder.joinpath("cut.npz").write_bytes(checkpoint_path.read_bytes()[:1000])
print("a truncated file:", expect_error(CheckpointError, lambda: load_checkpoint(checkpoint_folder / "cut.npz", restored)))

# %% [markdown]
# ## 7. Systems analysis
#
# ### Where an epoch's time goes
# One epoch of the digits MLP (batches of 32, `CrossEntropyLoss`, `Adam`) split into its
# phases, each timed with `time.perf_counter()` around it: fetching the batch from the
# data, the forward pass, the loss, the backward pass, the optimizer step (with
# `zero_grad`), and the progress display (`EpochProgress.advance`, drawing to an in-memory
# terminal so that nothing is printed). The progress display is timed two ways: redrawn at
# every batch, and throttled to one redraw per 0.1 s as the `Trainer` does (a bar that also
# starts only 0.1 s into the epoch, so an epoch shorter than that draws nothing). Each way runs
# one untimed warm-up epoch, then five timed ones; the table shows milliseconds per epoch
# and each phase's share of the epoch.

# %%
from rich.console import Console


def timed_epochs(refresh_seconds: float, epochs: int = 5) -> dict[str, float]:
    """Seconds per epoch in each phase of training the digits MLP: the median over ``epochs``
    epochs (the median shrugs off a disturbed epoch), after one warm-up epoch."""
    timed = digits_trainer(progress=False)
    timed_model, timed_loss, timed_optimizer = timed.model, timed.loss_fn, timed.optimizer
    batches = Batches(*digits["train"], batch_size=32, generator=np.random.default_rng(0))
    names = ("data batching", "forward", "loss", "backward", "optimizer step", "progress display")
    # an in-memory terminal: draws as on a screen, prints nothing (force_jupyter=False: even in a notebook)
    console = Console(file=io.StringIO(), force_terminal=True, force_jupyter=False, width=100)
    per_epoch = []
    for epoch in range(epochs + 1):
        phases = dict.fromkeys(names, 0.0)
        with EpochProgress(len(batches), f"epoch {epoch + 1}", refresh_seconds, console=console) as bar:
            batch_iterator = iter(batches)
            while True:
                t0 = time.perf_counter()
                batch = next(batch_iterator, None)
                t1 = time.perf_counter()
                phases["data batching"] += t1 - t0
                if batch is None:
                    break
                outputs = timed_model(batch[0])
                t2 = time.perf_counter()
                loss = timed_loss(outputs, batch[1])
                t3 = time.perf_counter()
                loss.backward()
                t4 = time.perf_counter()
                timed_optimizer.step()
                timed_optimizer.zero_grad()  # (for the next batch; timed with the step)
                t5 = time.perf_counter()
                bar.advance(f"loss {loss.item():.4f}")
                t6 = time.perf_counter()
                for phase, seconds in zip(names[1:], (t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
                    phases[phase] += seconds
        per_epoch.append(phases)
    return {phase: float(np.median([phases[phase] for phases in per_epoch[1:]])) for phase in names}


every_batch, throttled = timed_epochs(refresh_seconds=0.0), timed_epochs(refresh_seconds=0.1)
print(f"one epoch, {len(train_batches)} batches of 32:{'redraw every batch':>30}{'throttled (0.1 s)':>26}")
for phase in throttled:
    print(f"  {phase:<18}" + "".join(f"{times[phase] * 1e3:12.2f} ms ({times[phase] / sum(times.values()):6.1%})"
                                    for times in (every_batch, throttled)))
print(f"  {'total':<18}" + "".join(f"{sum(times.values()) * 1e3:12.2f} ms {'':9}" for times in (every_batch, throttled)))

# %% [markdown]
# ### What a checkpoint weighs
# The checkpoint file of the digits MLP, in bytes, against the bytes of its parameters,
# for three optimizers: SGD without momentum keeps no state, SGD with momentum one buffer
# per parameter, Adam two (the first and second moment estimates). Each is saved after
# one training step (the states exist only after a step).

# %%
parameter_bytes = sum(p.nbytes for p in trainer.model.parameters())
for name, make in (("SGD", lambda ps: SGD(ps, lr=0.1)), ("SGD momentum 0.9", lambda ps: SGD(ps, lr=0.1, momentum=0.9)),
                   ("Adam", lambda ps: Adam(ps, lr=1e-3))):
    manual_seed(0)
    sized = Sequential(Linear(64, 128), ReLU(), Linear(128, 10))
    sized_optimizer = make(sized.parameters())
    x_batch, y_batch = next(iter(train_batches))
    train_step(sized, CrossEntropyLoss(), sized_optimizer, x_batch, y_batch)
    save_checkpoint(checkpoint_folder / "sized.npz", sized, sized_optimizer, epoch=0)
    size = (checkpoint_folder / "sized.npz").stat().st_size
    print(f"{name:<17}: checkpoint {size:8,d} bytes = {size / parameter_bytes:4.2f} x the parameters ({parameter_bytes:,d} bytes)")

# %% [markdown]
# ## Summary
#
# You wrote the parts of a training loop that decide whether it is correct and whether
# its results survive: `clip_grad_norm_` caps a step over all gradients at once,
# `train_step` runs a step in the only right order, `evaluate` measures without a graph,
# in eval mode, averaged per sample, `write_atomically` never leaves a half-written
# checkpoint, and `read_checkpoint` opens one without running code from it and refuses what
# it cannot trust. The given `Trainer` turns them into `fit`, a history, a curve, and
# checkpoints that resume bit for bit.
#
# **Reflection questions**
#
# 1. In the timing above, which phase dominates an epoch of this small MLP? Would the
#    answer change for a model 100 times wider, and what does that mean for where to
#    optimize (Modules 15 and 16)?
# 2. In the same table, compare the progress display's share when it redraws at every
#    batch with its share when throttled. Why does throttling by time, rather than every
#    $k$ batches, keep the cost low for both fast and slow models?
# 3. The last cell prints the Adam checkpoint at about three times the parameters. What
#    else would a checkpoint of a large language model hold, and why do large runs shard it?
# 4. The bit-for-bit test restores two random generators. Which difference would you see
#    if the data's generator were not saved, and which if tinytorch's were not (think of
#    Dropout in Module 10)?
# 5. `evaluate` weights batches by their size. By how much can the unweighted mean of
#    batch losses be off with 359 validation samples in batches of 100?
