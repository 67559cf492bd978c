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

import argparse
import importlib.util
import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import tinytorch.autograd  # noqa: F401  (a real session has autograd loaded: its recorder runs on every op)
from benchmarks import environment
from benchmarks.mlp import MLPShape, TinytorchStep, check_gradients, make_problem, numpy_step
from benchmarks.report import Comparison, format_table
from benchmarks.timing import TimingSettings, interleaved
from tinytorch.tensor import Tensor

RESULTS = Path(__file__).resolve().parent / "results" / "dispatch_overhead.json"
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


def torch_available() -> bool:
    """PyTorch is optional; it is compared against only when it is installed."""
    return importlib.util.find_spec("torch") is not None


def match_torch_threads() -> str:
    """Give PyTorch as many intra-op threads as NumPy's BLAS uses; says what was done."""
    from benchmarks import torch_mlp  # imported only when torch is installed

    threads = environment.blas_threads()
    if threads is None:
        return f"NumPy's BLAS thread count is unknown; PyTorch keeps its default of {torch_mlp.threads()} threads"
    torch_mlp.set_threads(threads)
    return f"PyTorch intra-op threads set to {torch_mlp.threads()}, the number NumPy's OpenBLAS uses"


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

    def share(index: int) -> TimingSettings:
        if settings.max_seconds is None:
            return settings
        return TimingSettings(settings.rounds, settings.target_seconds, settings.max_seconds * BUDGET_SHARES[index])

    comparisons = [measure_matmul(MATMUL_SIZE, share(0)), measure_elementwise(ELEMENTWISE_SHAPE, share(1))]
    for index, (shape, goal) in enumerate(MLP_CASES, start=2):
        comparisons.append(measure_mlp(shape, goal, share(index), with_torch))
    return comparisons


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="most interleaved rounds per measurement (200)")
    parser.add_argument("--target-ms", type=float, default=5.0, help="one candidate's batch of calls per round (5 ms)")
    parser.add_argument("--budget-s", type=float, default=40.0, help="timing budget for all measurements (40 s)")
    parser.add_argument(
        "--blas-threads", type=int, default=None,
        help="set NumPy's OpenBLAS (and so PyTorch) to this many threads; default: the library's own choice",
    )
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if it is installed")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file (benchmarks/results/...)")
    return parser.parse_args(argv)


def _machine_busy(load_before: float | None, env: dict[str, Any]) -> bool:
    """Whether other processes already kept every CPU busy before the measurements began.

    The load average read just before measuring counts this process (about 1, importing
    and setting up) plus everything else runnable; reaching the CPU count means the
    benchmark has to share the CPUs with other work.
    """
    cpus = env.get("usable_cpus")
    return load_before is not None and isinstance(cpus, int) and load_before >= cpus


def _busy_machine_note(load_before: float, env: dict[str, Any]) -> str:
    """What a busy machine does to this run, and what to do about it."""
    cpus, threads = env["usable_cpus"], env.get("blas_threads")
    note = (
        f"WARNING: load average {load_before:.1f} on {cpus} CPUs before measuring: other processes compete "
        "for the CPUs, so times are inflated and ratios noisy."
    )
    if isinstance(threads, int) and threads == 1:
        return note + " Rerun on a quiet machine to confirm."
    # A multithreaded BLAS call ends when its slowest thread does; on an oversubscribed
    # machine one thread is often descheduled for a whole time slice, so every candidate's
    # best round can still contain milliseconds of waiting, and ratios of such times say
    # nothing about dispatch.
    return note + (
        " With a multithreaded BLAS, matmuls then stall waiting for descheduled threads, so every verdict "
        "is reported as unclear: rerun on a quiet machine or with --blas-threads 1."
    )


def _print_report(env: dict[str, Any], args: argparse.Namespace, loads: list[float | None],
                  notes: list[str], comparisons: list[Comparison]) -> None:
    blas, threads = env["blas"], env["blas_threads"]
    print(
        f"tinytorch dispatch overhead | {env['date']} | Python {env['python']} | NumPy {env['numpy']} | "
        f"{blas.get('name', 'unknown BLAS')} {blas.get('version', '')}, "
        f"{'unknown number of' if threads is None else threads} thread{'' if threads == 1 else 's'} | "
        f"{env['usable_cpus']} CPUs"
    )
    shown = ["unknown" if load is None else f"{load:.2f}" for load in loads]
    print(
        f"up to {args.rounds} interleaved rounds of ~{args.target_ms:g} ms per candidate, {args.budget_s:g} s budget; "
        f"load average (1 min) {shown[0]} before, {shown[1]} after"
    )
    for note in notes:
        print(textwrap.fill(note, width=100))
    print()
    print(format_table(comparisons))
    print()
    print(textwrap.fill(
        "best: fastest round's time per call; ratio: best / baseline's best; paired: median over rounds of "
        "(time / baseline's time in the same round). met: yes if both ratios are within the goal, NO if "
        "neither is, unclear if they disagree or the machine was too busy to decide. Goals are the issue's; "
        "nothing fails on them.",
        width=100,
    ))


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    if args.blas_threads is not None:
        environment.set_blas_threads(args.blas_threads)
    with_torch = torch_available() and not args.no_torch
    notes = [match_torch_threads()] if with_torch else [
        "PyTorch not compared: " + ("--no-torch given" if args.no_torch else "torch is not installed")
    ]
    env = environment.describe_environment()
    if with_torch:
        from benchmarks import torch_mlp  # imported only when torch is installed

        env["torch"] = {"version": torch_mlp.version(), "threads": torch_mlp.threads()}

    loads = [environment.load_average_1min()]
    comparisons = run(TimingSettings(args.rounds, args.target_ms / 1000, args.budget_s), with_torch)
    loads.append(environment.load_average_1min())

    if _machine_busy(loads[0], env):
        notes.append(_busy_machine_note(loads[0], env))
        if env.get("blas_threads") != 1:
            for comparison in comparisons:
                comparison.decisive = False
    _print_report(env, args, loads, notes, comparisons)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "dispatch_overhead",
        "environment": env,
        "settings": {
            "max_rounds": args.rounds, "target_ms": args.target_ms, "budget_s": args.budget_s,
            "seed": SEED, "blas_threads_requested": args.blas_threads,
        },
        "load_average_1min": {"before": loads[0], "after": loads[1]},
        "notes": notes,
        "comparisons": [comparison.to_json() for comparison in comparisons],
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
