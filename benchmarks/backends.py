"""What Module 16's matmul kernels and its ``OptimizedBackend`` cost, side by side, as rates against the BLAS peak.

Run from the repository root::

    python -m benchmarks.backends [--rounds N] [--target-ms MS] [--budget-s S] [--blas-threads T]

Three measurements of float32 square products, each with its candidates interleaved in the
same rounds (``benchmarks.timing``):

1. ``matmul_blocked`` (its default tile, 64) against ``matmul_naive`` at 256x256, with
   ``matmul_blas`` for scale. One naive product of that size takes seconds, so the naive
   kernel is timed on the first 8 rows of the product, ``a[:8] @ b`` of shape (8, 256) @
   (256, 256), and that time is multiplied by 256 / 8 = 32: the candidate's name says so,
   and the JSON keeps the factor. The scaling is exact in the work done (the naive kernel
   runs the same Python loop body once per multiply-add, 8 x 256 x 256 times for the block,
   32 times as many for the whole product); what it leaves out is only the allocation of a
   larger output. When the budget allows (at least 20 s), one full naive product is also
   timed once, to check the scaled figure, and both are printed.
2. ``matmul_blocked`` against ``matmul_blas`` at 512x512.
3. ``OptimizedBackend()`` with its default choices against each single kernel installed alone
   (``Backend.from_matmul``), all through ``Tensor @ Tensor`` so that dispatch and the
   backend's choice of kernel are part of every time, at 16, 64, 256 and 512 (the naive
   kernel only at 16). The backend is switched on around each batch of calls, outside the
   timed region. The baseline at each size is the fastest single kernel there; the goal: the
   backend at most 1.10x its time. Module 01's own kernel (no backend) is shown for reference.

Before anything is timed, every candidate's product is checked against the float64 product of
the same float32 inputs (within 1e-4 of its largest entry). Every rate is GFLOP/s (2 M K N /
time, of the work actually done) and a fraction of the BLAS peak: the fastest rate this run
measured, Module 15's ``measure_blas_peak`` at 512 before the comparisons or any candidate's
best round. Goals are reported, never enforced. Results go to
``benchmarks/results/backends.json``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks import harness
from benchmarks.harness import Benchmark, budget_shares
from benchmarks.report import Comparison
from benchmarks.timing import Timing, TimingSettings, interleaved
from tinytorch.backends import Backend, OptimizedBackend, gflops, matmul_blas, matmul_blocked, matmul_naive
from tinytorch.profiler import Timer, measure_blas_peak
from tinytorch.tensor import Tensor

SEED = 0
BACKEND_GOAL = 1.10  # the issue's: OptimizedBackend never more than 10% slower than the best single kernel
TOLERANCE = 1e-4  # largest difference from the float64 product, relative to its largest entry
BUDGET_SHARES = (0.3, 0.15, 0.55)  # naive vs blocked, blocked vs BLAS, the backend sizes (split evenly)

BLOCKED, BLAS = "matmul_blocked (tile 64)", "matmul_blas (np.matmul)"
OPTIMIZED = "OptimizedBackend()"
NO_BACKEND = "no backend (Module 01 kernel)"
SINGLE_KERNELS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "naive": matmul_naive, "blocked": matmul_blocked, "blas": matmul_blas,
}


class ProductMismatch(AssertionError):
    """A candidate computes another product than the reference, so timing it would compare different work."""


@dataclass(frozen=True)
class Sizes:
    """The products measured; the smoke test passes tiny ones."""

    naive: int = 256  # measurement 1: blocked vs naive (n x n)
    naive_rows: int = 8  # rows of the product the naive kernel is timed on
    blas: int = 512  # measurement 2: blocked vs BLAS
    backend: tuple[int, ...] = (16, 64, 256, 512)  # measurement 3: OptimizedBackend vs single kernels
    naive_backend_max: int = 16  # the naive kernel is a candidate of measurement 3 up to this size
    full_naive_min_budget_s: float = 20.0  # time one full naive product only with at least this budget


DEFAULT = Sizes()


@dataclass
class RatedComparison(Comparison):
    """A comparison of product kernels that also knows each candidate's FLOPs and time scaling.

    ``flops`` is the work of one call as actually run; ``scale`` the factor its times were
    multiplied by to stand for the full product (1 unless stated); ``peak`` the BLAS peak the
    rates are a fraction of, in GFLOP/s, set once the whole run is measured.
    """

    flops: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    peak: float | None = None

    def rate(self, name: str) -> float:
        """GFLOP/s of ``name``'s best round, from the work it actually did in the time it actually took."""
        unscaled_best = self.timings[name].best / self.scale.get(name, 1.0)
        return self.flops[name] / unscaled_best / 1e9

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["peak_gflops"] = self.peak
        for name, entry in data["candidates"].items():
            entry["flops_per_call"] = self.flops[name]
            entry["time_scaled_by"] = self.scale.get(name, 1.0)
            entry["gflops_best"] = self.rate(name)
            entry["fraction_of_peak"] = None if self.peak is None else self.rate(name) / self.peak
        return data

    def rates_note(self) -> str:
        """Every candidate's rate and its fraction of the peak, as one line."""
        assert self.peak is not None, "rates_note needs the peak"
        parts = [f"{name} {format_rate(self.rate(name))} ({self.rate(name) / self.peak:.2%})" for name in self.timings]
        return "GFLOP/s (share of the BLAS peak): " + "; ".join(parts)


def format_rate(rate: float) -> str:
    """GFLOP/s with three significant digits (naive rates are thousandths)."""
    return f"{rate:.3g}"


def square(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 (n, n) operands drawn from a standard normal."""
    return rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32)


def check_product(label: str, expected: np.ndarray, got: np.ndarray) -> None:
    """Raise ``ProductMismatch`` unless ``got`` is float32, of ``expected``'s shape, and within
    ``TOLERANCE`` of it relative to its largest entry."""
    if got.shape != expected.shape or got.dtype != np.float32:
        raise ProductMismatch(f"{label}: gave {got.dtype} {got.shape}, expected float32 {expected.shape}")
    error = float(np.abs(got.astype(np.float64) - expected).max()) / (float(np.abs(expected).max()) or 1.0)
    if not math.isfinite(error) or error > TOLERANCE:
        raise ProductMismatch(f"{label}: differs from the float64 product by {error:.2e} (relative to its largest entry)")


def reference_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The float64 product of the float32 operands: what every candidate is checked against."""
    return a.astype(np.float64) @ b.astype(np.float64)


def scaled(timing: Timing, factor: float, name: str) -> Timing:
    """``timing`` with every round's time multiplied by ``factor``, under ``name``."""
    return Timing(name, timing.calls_per_round, tuple(t * factor for t in timing.per_call))


def measure_naive_vs_blocked(sizes: Sizes, settings: TimingSettings, full_check: bool) -> RatedComparison:
    """Measurement 1: blocked (and BLAS) on the full n x n product, naive on its first rows, scaled."""
    n, rows = sizes.naive, sizes.naive_rows
    if not 1 <= rows <= n:
        raise ValueError(f"naive_rows must be between 1 and {n}, got {rows}")
    a, b = square(n, np.random.default_rng(SEED))
    block = np.ascontiguousarray(a[:rows])
    expected = reference_product(a, b)
    factor = n / rows
    naive_name = f"matmul_naive, {rows} of {n} rows, x{factor:g}"
    check_product(naive_name, expected[:rows], matmul_naive(block, b))
    check_product(BLOCKED, expected, matmul_blocked(a, b))
    check_product(BLAS, expected, matmul_blas(a, b))
    timings = interleaved({BLOCKED: lambda: matmul_blocked(a, b), naive_name: lambda: matmul_naive(block, b),
                           BLAS: lambda: matmul_blas(a, b)}, settings)
    timings[naive_name] = scaled(timings[naive_name], factor, naive_name)
    full = float(2 * n**3)
    comparison = RatedComparison(
        key=f"blocked_vs_naive_{n}", title=f"matmul kernels, ({n}, {n}) @ ({n}, {n}) float32",
        baseline=BLOCKED, timings=timings, flops={BLOCKED: full, BLAS: full, naive_name: full / factor},
        scale={naive_name: factor},
    )
    comparison.notes.append(
        f"matmul_blocked is {comparison.ratio(naive_name):,.0f}x faster than matmul_naive by best times "
        f"({comparison.paired_ratio(naive_name):,.0f}x paired); the naive time is that of rows 0-{rows - 1} "
        f"(a[:{rows}] @ b) times {factor:g}"
    )
    if full_check:
        product: list[np.ndarray] = []
        seconds = Timer(warmup=0, repeats=1)(lambda: product.append(matmul_naive(a, b))).min
        check_product("matmul_naive, full product", expected, product[0])
        best_scaled, median_scaled = timings[naive_name].best, timings[naive_name].median
        comparison.notes.append(
            f"check of the scaling: one full naive product, timed once after the rounds, took {seconds:.2f} s "
            f"({format_rate(gflops(n, n, n, seconds))} GFLOP/s); the scaled rounds give {best_scaled:.2f} s best, "
            f"{median_scaled:.2f} s median (full / scaled best = {seconds / best_scaled:.2f})"
        )
    else:
        comparison.notes.append(
            f"check of the scaling skipped: one full naive product takes seconds and the budget is below "
            f"{sizes.full_naive_min_budget_s:g} s"
        )
    return comparison


def measure_blocked_vs_blas(sizes: Sizes, settings: TimingSettings) -> RatedComparison:
    """Measurement 2: the blocked kernel against BLAS on the same n x n operands."""
    n = sizes.blas
    a, b = square(n, np.random.default_rng(SEED + 1))
    expected = reference_product(a, b)
    check_product(BLOCKED, expected, matmul_blocked(a, b))
    check_product(BLAS, expected, matmul_blas(a, b))
    timings = interleaved({BLAS: lambda: matmul_blas(a, b), BLOCKED: lambda: matmul_blocked(a, b)}, settings)
    comparison = RatedComparison(
        key=f"blocked_vs_blas_{n}", title=f"matmul kernels, ({n}, {n}) @ ({n}, {n}) float32",
        baseline=BLAS, timings=timings, flops={BLAS: float(2 * n**3), BLOCKED: float(2 * n**3)},
    )
    comparison.notes.append(
        f"matmul_blocked takes {comparison.ratio(BLOCKED):.2f}x BLAS's time by best rounds "
        f"({comparison.paired_ratio(BLOCKED):.2f}x paired)"
    )
    return comparison


def backend_candidates(n: int, sizes: Sizes) -> dict[str, AbstractContextManager[object] | None]:
    """The backends compared at size ``n``: OptimizedBackend, each single kernel alone, and none."""
    backend = OptimizedBackend()
    chosen: dict[str, AbstractContextManager[object] | None] = {
        f"{OPTIMIZED} -> {backend.kernel_name(n, n, n)}": backend,
    }
    for kernel_name, kernel in SINGLE_KERNELS.items():
        if kernel_name == "naive" and n > sizes.naive_backend_max:
            continue
        chosen[f"{kernel_name} kernel alone"] = Backend.from_matmul(kernel)
    chosen[NO_BACKEND] = None
    return chosen


def measure_backend(n: int, sizes: Sizes, settings: TimingSettings) -> RatedComparison:
    """Measurement 3 at one size: ``Tensor @ Tensor`` under each backend, the fastest single kernel as baseline."""
    a, b = square(n, np.random.default_rng(SEED + 2 + n))
    expected = reference_product(a, b)
    ta, tb = Tensor(a), Tensor(b)
    backends = backend_candidates(n, sizes)
    for name, backend in backends.items():
        if backend is None:
            check_product(name, expected, (ta @ tb).data)
        else:
            with backend:
                check_product(name, expected, (ta @ tb).data)
    contexts = {name: backend for name, backend in backends.items() if backend is not None}
    timings = interleaved({name: lambda: ta @ tb for name in backends}, settings, contexts)
    singles = [name for name in backends if name.endswith("kernel alone")]
    fastest = min(singles, key=lambda name: timings[name].best)
    optimized = next(name for name in backends if name.startswith(OPTIMIZED))
    comparison = RatedComparison(
        key=f"optimized_backend_{n}",
        title=f"Tensor @ Tensor, ({n}, {n}) @ ({n}, {n}) float32, under each backend",
        baseline=fastest, timings=timings, goals={optimized: BACKEND_GOAL},
        flops={name: float(2 * n**3) for name in backends},
    )
    extra = timings[optimized].best - timings[fastest].best
    comparison.notes.append(
        f"baseline: the fastest single kernel here, {fastest.removesuffix(' alone')}; OptimizedBackend "
        f"{extra * 1e6:+.2f} µs per product over it (best rounds), {comparison.ratio(optimized, NO_BACKEND):.2f}x "
        f"Module 01's kernel"
    )
    return comparison


def run(settings: TimingSettings, with_torch: bool, sizes: Sizes = DEFAULT) -> list[Comparison]:
    """All three measurements (PyTorch takes no part); the rates are set against this run's peak."""
    del with_torch  # PyTorch is not a candidate here
    first, second, third = budget_shares(settings, BUDGET_SHARES)
    per_size = budget_shares(third, tuple(1 / len(sizes.backend) for _ in sizes.backend))
    peak_before = measure_blas_peak(sizes.blas)
    full_check = settings.max_seconds is None or settings.max_seconds >= sizes.full_naive_min_budget_s
    comparisons = [measure_naive_vs_blocked(sizes, first, full_check), measure_blocked_vs_blas(sizes, second)]
    comparisons += [measure_backend(n, sizes, share) for n, share in zip(sizes.backend, per_size, strict=True)]
    fastest = max(((c.rate(name), name, c.title) for c in comparisons for name in c.timings), key=lambda item: item[0])
    peak = max(peak_before, fastest[0])
    for comparison in comparisons:
        comparison.peak = peak
        comparison.notes.append(comparison.rates_note())
    comparisons[0].notes.insert(0, (
        f"BLAS peak for the shares below: {format_rate(peak)} GFLOP/s, the fastest rate of the run "
        f"(measure_blas_peak({sizes.blas}) before measuring: {format_rate(peak_before)}; best round of any "
        f"candidate: {format_rate(fastest[0])}, {fastest[1]} in \"{fastest[2]}\")"
    ))
    return list(comparisons)


def make_benchmark(sizes: Sizes = DEFAULT) -> Benchmark:
    return Benchmark(
        name="backends",
        title="tinytorch matmul kernels and backends",
        description=__doc__.split("\n\n")[0],
        measure=lambda settings, with_torch: run(settings, with_torch, sizes),
        budget_s=40.0,
        seed=SEED,
    )


def main(argv: list[str] | None = None) -> None:
    harness.main(make_benchmark(), argv)


if __name__ == "__main__":
    main()
