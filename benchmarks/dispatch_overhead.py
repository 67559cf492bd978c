"""What tinytorch's dispatch layer costs compared with raw NumPy (and PyTorch, if installed).

Run from the repository root::

    python -m benchmarks.dispatch_overhead [--rounds N] [--target-ms MS] [--budget-s S]
                                           [--blas-threads T] [--no-torch]

Four measurements, each with its candidates interleaved in the same rounds
(``benchmarks.timing``), reported as best and median time per call and as ratios to
the NumPy baseline:

1. a 512x512 @ 512x512 float32 matmul, ``Tensor @ Tensor`` vs ``np.matmul``
   (goal: ratio <= 1.05);
2. a small elementwise add, in microseconds per op, without and with graph recording;
3. forward plus backward of a 2-layer MLP vs the same maths hand-written in NumPy
   (goals: <= 1.5x at 784->256->10, batch 128; <= 2.5x at 64->128->10, batch 64);
4. the same MLP step in PyTorch eager mode, if torch is installed.

Goals are reported, never enforced: the exit status does not depend on timings. Results
go to ``benchmarks/results/dispatch_overhead.json``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import tinytorch.autograd  # noqa: F401  (a real session has autograd loaded: its recorder runs on every op)
from benchmarks import harness
from benchmarks.harness import Benchmark, budget_shares
from benchmarks.mlp import MLPShape, TinytorchStep, check_gradients, make_problem, numpy_step
from benchmarks.report import Comparison
from benchmarks.timing import TimingSettings, interleaved
from tinytorch.tensor import Tensor

SEED = 0

MATMUL_SIZE = 512
MATMUL_GOAL = 1.05
ELEMENTWISE_SHAPE = (8, 128)
# (shape, goal for tinytorch / NumPy) from the issue: at the small size Python overhead
# per op dominates, so the allowance is larger.
MLP_CASES: tuple[tuple[MLPShape, float], ...] = (
    (MLPShape(batch=128, d_in=784, hidden=256, d_out=10), 1.5),
    (MLPShape(batch=64, d_in=64, hidden=128, d_out=10), 2.5),
)
# Share of the time budget per measurement (matmul, elementwise, then one per MLP case).
BUDGET_SHARES = (0.2, 0.1, 0.35, 0.35)

NUMPY, TINYTORCH, TORCH = "numpy", "tinytorch", "pytorch"


def measure_matmul(size: int, settings: TimingSettings) -> Comparison:
    """``Tensor @ Tensor`` against ``np.matmul`` on the same float32 (size, size) arrays."""
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((size, size)).astype(np.float32)
    b = rng.standard_normal((size, size)).astype(np.float32)
    ta, tb = Tensor(a), Tensor(b)
    if not np.array_equal((ta @ tb).data, np.matmul(a, b)):
        raise AssertionError("Tensor @ Tensor differs from np.matmul on the same arrays")
    baseline, candidate = f"{NUMPY} np.matmul(a, b)", f"{TINYTORCH} Tensor @ Tensor"
    timings = interleaved({baseline: lambda: np.matmul(a, b), candidate: lambda: ta @ tb}, settings)
    comparison = Comparison(
        key=f"matmul_{size}",
        title=f"matmul ({size}, {size}) @ ({size}, {size}) float32, forward",
        baseline=baseline,
        timings=timings,
        goals={candidate: MATMUL_GOAL},
    )
    extra = timings[candidate].best - timings[baseline].best
    comparison.notes.append(f"best-time difference: {extra * 1e6:+.1f} µs per matmul")
    return comparison


def measure_elementwise(shape: tuple[int, ...], settings: TimingSettings) -> Comparison:
    """``a + b`` of small float32 arrays: NumPy, Tensor, and Tensor recording a graph node."""
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    ta, tb = Tensor(a), Tensor(b)
    ga, gb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    if not np.array_equal((ta + tb).data, a + b) or (ga + gb).grad_fn is None:
        raise AssertionError("Tensor add must equal NumPy's and record a node when inputs require grad")
    baseline = f"{NUMPY} a + b"
    plain, recorded = f"{TINYTORCH} Tensor + Tensor", f"{TINYTORCH} same, requires_grad"
    timings = interleaved({baseline: lambda: a + b, plain: lambda: ta + tb, recorded: lambda: ga + gb}, settings)
    comparison = Comparison(
        key="elementwise_add",
        title=f"elementwise add {shape} float32 ({int(np.prod(shape))} elements), time per op",
        baseline=baseline,
        timings=timings,
    )
    base = timings[baseline].best
    comparison.notes.append(
        f"dispatch overhead per op (best minus NumPy's best): {(timings[plain].best - base) * 1e6:.2f} µs, "
        f"{(timings[recorded].best - base) * 1e6:.2f} µs when it records a graph node"
    )
    return comparison


def measure_mlp(shape: MLPShape, goal: float | None, settings: TimingSettings, with_torch: bool) -> Comparison:
    """One forward+backward step: hand-written NumPy, tinytorch, and optionally PyTorch.

    Raises ``GradientMismatch`` before timing if any candidate's loss or gradients differ
    from the NumPy reference, so all candidates are known to do the same work.
    """
    problem = make_problem(shape, SEED)
    reference = numpy_step(problem)
    tinytorch_step = TinytorchStep(problem)
    loss = tinytorch_step()
    check_gradients(reference, (loss.item(), tinytorch_step.gradients()), f"tinytorch MLP {shape.describe()}")
    baseline = f"{NUMPY} hand-written"
    candidates: dict[str, Callable[[], object]] = {baseline: lambda: numpy_step(problem), TINYTORCH: tinytorch_step}
    torch_name = None
    if with_torch:
        from benchmarks import torch_mlp  # imported only when torch is installed

        torch_step = torch_mlp.TorchStep(problem)
        loss = torch_step()
        check_gradients(reference, (loss.item(), torch_step.gradients()), f"PyTorch MLP {shape.describe()}")
        torch_name = f"{TORCH} {torch_mlp.version()} eager"
        candidates[torch_name] = torch_step
    comparison = Comparison(
        key=f"mlp_{shape.d_in}_{shape.hidden}_{shape.d_out}_b{shape.batch}",
        title=f"MLP {shape.describe()}, forward + backward, float32",
        baseline=baseline,
        timings=interleaved(candidates, settings),
        goals={} if goal is None else {TINYTORCH: goal},
    )
    if torch_name is not None:
        comparison.notes.append(f"tinytorch / PyTorch (best times): {comparison.ratio(TINYTORCH, torch_name):.2f}x")
    return comparison


def run(settings: TimingSettings, with_torch: bool) -> list[Comparison]:
    """All measurements of this benchmark, each capped at its share of ``max_seconds``."""
    shares = budget_shares(settings, BUDGET_SHARES)
    comparisons = [measure_matmul(MATMUL_SIZE, shares[0]), measure_elementwise(ELEMENTWISE_SHAPE, shares[1])]
    for index, (shape, goal) in enumerate(MLP_CASES, start=2):
        comparisons.append(measure_mlp(shape, goal, shares[index], with_torch))
    return comparisons


BENCHMARK = Benchmark(
    name="dispatch_overhead",
    title="tinytorch dispatch overhead",
    description=__doc__.split("\n\n")[0],
    measure=run,
    seed=SEED,
)


def main(argv: list[str] | None = None) -> None:
    harness.main(BENCHMARK, argv)


if __name__ == "__main__":
    main()
