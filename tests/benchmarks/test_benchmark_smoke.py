"""Smoke test of benchmarks/dispatch_overhead: every measurement runs, at tiny sizes.

Checks only that results are finite and positive, that the gradient agreement check
passes (and would catch a difference), and that the results file is written. Nothing
here asserts anything about speed: timings on a shared machine are not a test result.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import dispatch_overhead
from benchmarks.mlp import GradientMismatch, MLPShape, TinytorchStep, check_gradients, make_problem, numpy_step
from benchmarks.report import Comparison, format_table
from benchmarks.timing import Timing, TimingSettings, interleaved

ONE_ROUND = TimingSettings(rounds=1, target_seconds=0.0)
TINY_MLP = MLPShape(batch=4, d_in=6, hidden=5, d_out=3)
HAS_TORCH = importlib.util.find_spec("torch") is not None


def assert_finite_positive(comparison: Comparison) -> None:
    for name, timing in comparison.timings.items():
        assert timing.per_call, f"{comparison.key}: {name} has no timings"
        assert all(math.isfinite(t) and t > 0 for t in timing.per_call), f"{comparison.key}: {name}: {timing.per_call}"
        ratio = comparison.ratio(name)
        assert math.isfinite(ratio) and ratio > 0, f"{comparison.key}: ratio of {name} is {ratio}"
    assert comparison.title in format_table([comparison])


def test_interleaved_gives_every_candidate_every_round() -> None:
    timings = interleaved({"a": lambda: None, "b": lambda: None}, TimingSettings(rounds=3, target_seconds=0.0))
    assert [len(t.per_call) for t in timings.values()] == [3, 3]


def test_verdicts_need_both_ratios() -> None:
    # Synthetic per-round times (no clock involved): the best-time ratio is 1.0 while the
    # paired ratio is 2.0, so a goal of 1.5 is met by one and missed by the other.
    timings = {
        "base": Timing("base", 1, (1.0, 1.0, 4.0)),
        "cand": Timing("cand", 1, (1.0, 2.0, 8.0)),
    }
    comparison = Comparison("k", "title", "base", timings, goals={"cand": 1.5})
    assert comparison.ratio("cand") == 1.0 and comparison.paired_ratio("cand") == 2.0
    assert comparison.verdict("cand") == "unclear" and comparison.verdict("base") is None
    comparison.goals["cand"] = 2.5
    assert comparison.verdict("cand") == "met"
    comparison.goals["cand"] = 0.5
    assert comparison.verdict("cand") == "missed"
    comparison.decisive = False
    assert comparison.verdict("cand") == "unclear"


def test_matmul_measurement_runs() -> None:
    comparison = dispatch_overhead.measure_matmul(8, ONE_ROUND)
    assert_finite_positive(comparison)
    assert len(comparison.timings) == 2


def test_elementwise_measurement_runs() -> None:
    comparison = dispatch_overhead.measure_elementwise((4,), ONE_ROUND)
    assert_finite_positive(comparison)
    assert len(comparison.timings) == 3


def test_mlp_gradients_agree_with_numpy() -> None:
    problem = make_problem(TINY_MLP, seed=1)
    step = TinytorchStep(problem)
    loss = step()
    worst = check_gradients(numpy_step(problem), (loss.item(), step.gradients()), "tiny MLP")
    assert 0.0 <= worst <= 1e-4


def test_gradient_check_catches_a_wrong_gradient() -> None:
    problem = make_problem(TINY_MLP, seed=1)
    loss, grads = numpy_step(problem)
    wrong = dict(grads, b1=grads["b1"] + np.float32(0.1) * np.abs(grads["b1"]).max())
    with pytest.raises(GradientMismatch, match="b1"):
        check_gradients((loss, grads), (loss, wrong), "perturbed")


def test_mlp_measurement_runs_without_torch() -> None:
    comparison = dispatch_overhead.measure_mlp(TINY_MLP, 2.5, ONE_ROUND, with_torch=False)
    assert_finite_positive(comparison)
    assert list(comparison.timings) == ["numpy hand-written", "tinytorch"]
    # With one round both ratios are the same number, so the goal verdict is decided.
    assert comparison.paired_ratio("tinytorch") == pytest.approx(comparison.ratio("tinytorch"))
    assert comparison.goal_met("tinytorch") in (True, False)


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is an optional extra and is not installed")
def test_mlp_measurement_runs_with_torch() -> None:
    comparison = dispatch_overhead.measure_mlp(TINY_MLP, None, ONE_ROUND, with_torch=True)
    assert_finite_positive(comparison)
    assert len(comparison.timings) == 3


def test_main_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "dispatch_overhead.json"
    dispatch_overhead.main(["--rounds", "1", "--target-ms", "0", "--budget-s", "0", "--no-torch", "--output", str(output)])
    results = json.loads(output.read_text())
    assert results["environment"]["numpy"] == np.__version__
    assert [c["key"] for c in results["comparisons"]][:2] == ["matmul_512", "elementwise_add"]
    for comparison in results["comparisons"]:
        for candidate in comparison["candidates"].values():
            assert math.isfinite(candidate["best_seconds"]) and candidate["best_seconds"] > 0
    assert "ratio" in capsys.readouterr().out
