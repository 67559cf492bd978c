"""What training with tinytorch's layers, losses, optimizers, DataLoader and Trainer costs
compared with the same training hand-written in NumPy (and PyTorch, if installed).

Run from the repository root::

    python -m benchmarks.training [--rounds N] [--target-ms MS] [--budget-s S]
                                  [--blas-threads T] [--no-torch]

Three measurements on the digits MLP (64 -> 128 -> 10, ReLU), each with its candidates
interleaved in the same rounds (``benchmarks.timing``):

1. one training step at batch 64: forward, cross-entropy, backward, SGD step, vs
   ``benchmarks.numpy_training`` (goal: <= 2.0x NumPy; PyTorch eager, if installed:
   goal <= 0.8x PyTorch's time); also with ``Linear`` computed from three recorded ops
   instead of Module 04's single ``linear`` op, to show what fusing it saves;
2. one Adam step over the MLP's four parameters vs a hand-written NumPy Adam (goal <= 1.5x);
3. one training epoch over the digits' training split (1,079 images, batch 64, shuffled)
   through ``DataLoader`` + ``Trainer`` vs the same loop in NumPy (goal <= 2.0x), with the
   share of the epoch taken by data loading and by the progress bar.

Every candidate is first checked to compute the same numbers as the NumPy version.
Goals are reported, never enforced. Results go to ``benchmarks/results/training.json``.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from rich.console import Console

from benchmarks import harness, numpy_training
from benchmarks.harness import Benchmark, budget_shares
from benchmarks.mlp import GradientMismatch
from benchmarks.report import Comparison
from benchmarks.timing import TimingSettings, interleaved
from tinytorch.data import DataLoader, TensorDataset, load_digits
from tinytorch.nn import CrossEntropyLoss, Linear, ReLU, Sequential
from tinytorch.optim import SGD, Adam
from tinytorch.tensor import Tensor
from tinytorch.training import Trainer

SEED = 0
SIZES = (64, 128, 10)
BATCH = 64
LR = 0.1
STEP_GOAL, STEP_TORCH_GOAL, ADAM_GOAL, EPOCH_GOAL = 2.0, 0.8, 1.5, 2.0
BUDGET_SHARES = (0.35, 0.25, 0.4)
NUMPY, TINYTORCH, TORCH = "numpy hand-written", "tinytorch", "pytorch"
COMPOSED = "tinytorch, Linear as 3 ops"  # what fusing Linear into one op saves


class ComposedLinear(Linear):
    """``Linear`` computed from three recorded ops, ``x @ W.T + b``, as before Module 04 fused them."""

    def forward(self, input: Tensor) -> Tensor:
        return input @ self.weight.T + self.bias


def tinytorch_mlp(weights: numpy_training.NumpyMLP, linear: type[Linear] = Linear) -> Sequential:
    """The MLP as tinytorch layers of class ``linear``, holding copies of ``weights``."""
    model = Sequential(linear(SIZES[0], SIZES[1]), ReLU(), linear(SIZES[1], SIZES[2]))
    model.load_state_dict(dict(zip(("0.weight", "0.bias", "2.weight", "2.bias"), (Tensor(a.copy()) for a in weights.arrays()))))
    return model


def parameter_arrays(model: Sequential) -> list[np.ndarray]:
    return [parameter.data for parameter in model.parameters()]


def check_same(label: str, expected: list[np.ndarray], got: list[np.ndarray], rtol: float = 1e-4) -> None:
    """Raise ``GradientMismatch`` unless every array agrees relative to its largest element."""
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        scale = float(np.abs(want).max()) or 1.0
        error = float(np.abs(np.asarray(have) - want).max()) / scale
        if not np.isfinite(error) or error > rtol:
            raise GradientMismatch(f"{label}: parameter {index} differs from NumPy's by {error:.2e} (relative)")


def training_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The training split of ``load_digits()`` as arrays: images (1079, 64) float32, labels (1079,) int64."""
    train = load_digits().train
    images, labels = train.dataset.tensors
    return images.data[train.indices], labels.data[train.indices]


def batch_of_digits() -> tuple[np.ndarray, np.ndarray]:
    """The first ``BATCH`` images and labels of the training split."""
    x, labels = training_arrays()
    return x[:BATCH], labels[:BATCH]


def measure_step(settings: TimingSettings, with_torch: bool) -> Comparison:
    """One SGD training step of the MLP on one batch of digits."""
    x, labels = batch_of_digits()
    weights = numpy_training.init_mlp(SIZES, SEED)

    reference = weights.copy()
    for _ in range(3):
        numpy_training.sgd_step(reference, x, labels, LR)

    def tinytorch_step_on(model: Sequential) -> Callable[[], object]:
        loss_fn, optimizer = CrossEntropyLoss(), SGD(model.parameters(), lr=LR)
        inputs, targets = Tensor(x), Tensor(labels, dtype=np.int64)

        def step() -> object:
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            return loss

        return step

    checked = tinytorch_mlp(weights)
    step = tinytorch_step_on(checked)
    for _ in range(3):
        step()
    check_same("tinytorch SGD step", reference.arrays(), parameter_arrays(checked))

    composed = tinytorch_mlp(weights, ComposedLinear)
    composed_step = tinytorch_step_on(composed)
    for _ in range(3):
        composed_step()
    check_same("tinytorch SGD step, Linear as three ops", reference.arrays(), parameter_arrays(composed))

    mine = weights.copy()
    candidates: dict[str, Callable[[], object]] = {
        NUMPY: lambda: numpy_training.sgd_step(mine, x, labels, LR),
        TINYTORCH: tinytorch_step_on(tinytorch_mlp(weights)),
        COMPOSED: tinytorch_step_on(tinytorch_mlp(weights, ComposedLinear)),
    }
    torch_name = None
    if with_torch:
        from benchmarks import torch_training  # imported only when torch is installed

        checked_torch = torch_training.TorchMLPStep(weights, x, labels, LR)
        for _ in range(3):
            checked_torch()
        check_same("PyTorch SGD step", reference.arrays(), checked_torch.parameter_arrays())
        torch_name = f"{TORCH} {torch_training.version()} eager"
        candidates[torch_name] = torch_training.TorchMLPStep(weights, x, labels, LR)
    comparison = Comparison(
        key="digits_mlp_sgd_step",
        title=f"digits MLP step {SIZES[0]}->{SIZES[1]}->{SIZES[2]}, batch {BATCH}: forward, cross-entropy, backward, SGD",
        baseline=NUMPY,
        timings=interleaved(candidates, settings),
        goals={TINYTORCH: STEP_GOAL},
    )
    if torch_name is not None:
        ratio = comparison.ratio(TINYTORCH, torch_name)
        comparison.notes.append(
            f"tinytorch / PyTorch (best times): {ratio:.2f}x; goal <= {STEP_TORCH_GOAL:.2f}x: "
            f"{'met' if ratio <= STEP_TORCH_GOAL else 'NO'}"
        )
    return comparison


def measure_adam(settings: TimingSettings, with_torch: bool) -> Comparison:
    """``Adam.step()`` over the MLP's parameters, their gradients fixed."""
    weights = numpy_training.init_mlp(SIZES, SEED)
    rng = np.random.default_rng(SEED + 1)
    grads = [rng.standard_normal(a.shape).astype(np.float32) * np.float32(0.01) for a in weights.arrays()]

    def tinytorch_adam() -> tuple[Sequential, Adam]:
        model = tinytorch_mlp(weights)
        for parameter, grad in zip(model.parameters(), grads):
            parameter.grad = Tensor(grad.copy())
        return model, Adam(model.parameters(), lr=1e-3)

    reference = numpy_training.NumpyAdam([a.copy() for a in weights.arrays()])
    checked, optimizer = tinytorch_adam()
    for _ in range(5):
        reference.step(grads)
        optimizer.step()
    check_same("tinytorch Adam", reference.params, parameter_arrays(checked), rtol=1e-5)

    mine = numpy_training.NumpyAdam([a.copy() for a in weights.arrays()])
    _, timed = tinytorch_adam()
    candidates: dict[str, Callable[[], object]] = {NUMPY: lambda: mine.step(grads), TINYTORCH: timed.step}
    if with_torch:
        from benchmarks import torch_training  # imported only when torch is installed

        candidates[f"{TORCH} {torch_training.version()} eager"] = torch_training.torch_adam_step(weights, grads)
    return Comparison(
        key="digits_mlp_adam_step",
        title=f"Adam step over the digits MLP's parameters ({sum(a.size for a in weights.arrays()):,} values)",
        baseline=NUMPY,
        timings=interleaved(candidates, settings),
        goals={TINYTORCH: ADAM_GOAL},
    )


def measure_epoch(settings: TimingSettings, with_torch: bool) -> Comparison:
    """One shuffled epoch over the training split: DataLoader + Trainer vs a NumPy loop."""
    del with_torch  # PyTorch's DataLoader is a different machine altogether; not compared here
    x, y = training_arrays()
    weights = numpy_training.init_mlp(SIZES, SEED)
    dataset = TensorDataset(Tensor(x), Tensor(y, dtype=np.int64))

    def trainer_epoch(progress: bool) -> Callable[[], object]:
        model = tinytorch_mlp(weights)
        loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, generator=np.random.default_rng(SEED))
        # The progress bar is drawn for real, into a console that is not shown.
        console = Console(file=io.StringIO(), force_terminal=True, width=100)
        trainer = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=LR), progress=progress,
                          console=console)
        return lambda: trainer.fit(loader, epochs=1)

    reference = weights.copy()
    numpy_training.train_epoch(reference, x, y, BATCH, LR, np.random.default_rng(SEED))
    check_model = tinytorch_mlp(weights)
    check_loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, generator=np.random.default_rng(SEED))
    Trainer(check_model, CrossEntropyLoss(), SGD(check_model.parameters(), lr=LR), progress=False).fit(check_loader, epochs=1)
    check_same("tinytorch epoch", reference.arrays(), parameter_arrays(check_model))

    mine = weights.copy()
    rng = np.random.default_rng(SEED)
    data_only = DataLoader(dataset, batch_size=BATCH, shuffle=True, generator=np.random.default_rng(SEED))
    with_bar, without_bar = f"{TINYTORCH} DataLoader + Trainer", f"{TINYTORCH} same, progress=False"
    batches_only = f"{TINYTORCH} DataLoader alone"
    candidates: dict[str, Callable[[], object]] = {
        NUMPY: lambda: numpy_training.train_epoch(mine, x, y, BATCH, LR, rng),
        with_bar: trainer_epoch(progress=True),
        without_bar: trainer_epoch(progress=False),
        batches_only: lambda: sum(1 for _ in data_only),
    }
    comparison = Comparison(
        key="digits_mlp_epoch",
        title=f"one epoch, digits training split ({len(x):,} images, batch {BATCH}, shuffled), SGD",
        baseline=NUMPY,
        timings=interleaved(candidates, settings),
        goals={with_bar: EPOCH_GOAL},
    )
    epoch = comparison.timings[with_bar].best
    data_share = comparison.timings[batches_only].best / epoch
    bar_share = max(0.0, epoch - comparison.timings[without_bar].best) / epoch
    comparison.notes.append(
        f"of the Trainer's epoch (best times): data loading {data_share:.0%}, progress bar {bar_share:.0%}"
    )
    return comparison


def run(settings: TimingSettings, with_torch: bool) -> list[Comparison]:
    """All measurements of this benchmark, each capped at its share of ``max_seconds``."""
    shares = budget_shares(settings, BUDGET_SHARES)
    return [measure_step(shares[0], with_torch), measure_adam(shares[1], with_torch), measure_epoch(shares[2], with_torch)]


BENCHMARK = Benchmark(
    name="training",
    title="tinytorch training",
    description=__doc__.split("\n\n")[0],
    measure=run,
    seed=SEED,
)


def main(argv: list[str] | None = None) -> None:
    harness.main(BENCHMARK, argv)


if __name__ == "__main__":
    main()
