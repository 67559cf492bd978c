"""Smoke test of benchmarks/backends at tiny sizes: every measurement runs once, its candidates
are checked to compute the same product first, the table prints and the results file is written.

Nothing here asserts anything about speed; timings on a shared machine are not a test result.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from benchmarks import backends, harness
from benchmarks.timing import Timing, TimingSettings, interleaved
from tinytorch.tensor import KERNELS

# The full naive product is checked whatever the budget (it is tiny here).
TINY = backends.Sizes(naive=24, naive_rows=3, blas=32, backend=(4, 8), naive_backend_max=4, full_naive_min_budget_s=0.0)
ONE_ROUND = ["--rounds", "1", "--target-ms", "0", "--budget-s", "0", "--no-torch"]


def test_main_runs_every_measurement_and_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "backends.json"
    kernels_before = dict(KERNELS)
    harness.main(backends.make_benchmark(TINY), ONE_ROUND + ["--output", str(output)])
    assert all(KERNELS[op] is kernel for op, kernel in kernels_before.items()), "a backend was left installed"
    results = json.loads(output.read_text())
    assert [c["key"] for c in results["comparisons"]] == [
        "blocked_vs_naive_24", "blocked_vs_blas_32", "optimized_backend_4", "optimized_backend_8",
    ]
    naive_vs_blocked, _, at_4, at_8 = results["comparisons"]
    naive = next(name for name in naive_vs_blocked["candidates"] if name.startswith("matmul_naive"))
    assert naive_vs_blocked["candidates"][naive]["time_scaled_by"] == 8.0  # 24 rows / 3
    assert naive_vs_blocked["candidates"][naive]["flops_per_call"] == 2 * 3 * 24 * 24
    assert any(candidate.startswith("naive kernel") for candidate in at_4["candidates"])
    assert not any(candidate.startswith("naive kernel") for candidate in at_8["candidates"])
    for comparison in results["comparisons"]:
        peak = comparison["peak_gflops"]
        assert math.isfinite(peak) and peak > 0
        for candidate in comparison["candidates"].values():
            assert math.isfinite(candidate["best_seconds"]) and candidate["best_seconds"] > 0
            # the peak is the fastest rate of the run, so no candidate's share exceeds it
            assert 0 < candidate["fraction_of_peak"] <= 1
        if comparison["key"].startswith("optimized_backend"):
            goals = {name: c["goal_max_ratio"] for name, c in comparison["candidates"].items() if c["goal_max_ratio"]}
            assert list(goals.values()) == [backends.BACKEND_GOAL]
            assert next(iter(goals)).startswith(backends.OPTIMIZED)
            assert comparison["baseline"].endswith("kernel alone")
    printed = capsys.readouterr().out
    assert "check of the scaling: one full naive product" in printed
    assert "GFLOP/s (share of the BLAS peak)" in printed


def test_the_scaling_check_is_skipped_on_a_small_budget_and_says_so() -> None:
    sizes = backends.Sizes(naive=16, naive_rows=4, blas=16, backend=(4,), naive_backend_max=4, full_naive_min_budget_s=1.0)
    comparisons = backends.run(TimingSettings(rounds=1, target_seconds=0.0, max_seconds=0.0), False, sizes)
    assert any("check of the scaling skipped" in note for note in comparisons[0].notes)


def test_check_product_catches_a_wrong_product_or_dtype() -> None:
    rng = np.random.default_rng(0)
    a, b = backends.square(6, rng)
    expected = backends.reference_product(a, b)
    backends.check_product("same", expected, a @ b)
    with pytest.raises(backends.ProductMismatch, match="differs"):
        backends.check_product("perturbed", expected, (a @ b) + np.float32(0.01 * np.abs(expected).max()))
    with pytest.raises(backends.ProductMismatch, match="float64"):
        backends.check_product("float64", expected, expected)
    with pytest.raises(backends.ProductMismatch, match="differs"):
        backends.check_product("nan", expected, np.full_like(a, np.nan))


def test_rates_use_the_work_actually_done() -> None:
    timings = {"full": Timing("full", 1, (2.0, 3.0)), "block": Timing("block", 1, (4.0, 5.0))}
    comparison = backends.RatedComparison("k", "t", "full", timings, flops={"full": 8e9, "block": 1e9},
                                          scale={"block": 8.0}, peak=8.0)
    assert comparison.rate("full") == pytest.approx(4.0)  # 8 GFLOP in 2 s
    assert comparison.rate("block") == pytest.approx(2.0)  # 1 GFLOP in 4 / 8 s, as measured
    entry = comparison.to_json()["candidates"]["block"]
    assert entry["time_scaled_by"] == 8.0 and entry["fraction_of_peak"] == pytest.approx(0.25)


def test_interleaved_enters_each_candidates_context_around_its_batches_only() -> None:
    state = {"inside": None}
    seen: list[tuple[str, str | None]] = []

    @contextmanager
    def marked(name: str) -> Iterator[None]:
        state["inside"] = name
        try:
            yield
        finally:
            state["inside"] = None

    class Reusable:
        """A context manager that can be entered again, as a Backend can."""

        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> None:
            self._cm = marked(self.name)
            self._cm.__enter__()

        def __exit__(self, *exc: object) -> None:
            self._cm.__exit__(None, None, None)

    candidates = {"a": lambda: seen.append(("a", state["inside"])), "b": lambda: seen.append(("b", state["inside"]))}
    interleaved(candidates, TimingSettings(rounds=3, target_seconds=0.0), {"a": Reusable("a")})
    assert {inside for name, inside in seen if name == "a"} == {"a"}
    assert {inside for name, inside in seen if name == "b"} == {None}
    assert state["inside"] is None
    with pytest.raises(ValueError, match="not candidates"):
        interleaved(candidates, TimingSettings(rounds=1, target_seconds=0.0), {"c": Reusable("c")})
