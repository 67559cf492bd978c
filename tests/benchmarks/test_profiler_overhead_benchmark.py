"""Smoke test of benchmarks/profiler_overhead: both measurements run once, and the profiled runs
compute what the plain ones do. Nothing here asserts anything about speed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import profiler_overhead
from benchmarks.mlp import GradientMismatch
from tinytorch.models.gpt import load_pretrained
from tinytorch.profiler import PerformanceProfiler


def test_main_runs_both_measurements_and_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "profiler_overhead.json"
    profiler_overhead.main(["--rounds", "1", "--target-ms", "0", "--budget-s", "0", "--output", str(output)])
    results = json.loads(output.read_text())
    assert [c["key"] for c in results["comparisons"]] == ["gpt_forward", "gpt_cached_generation"]
    for comparison in results["comparisons"]:
        assert set(comparison["candidates"]) == {profiler_overhead.PLAIN, profiler_overhead.PROFILED, profiler_overhead.WITH_FLOPS,
                                                 profiler_overhead.PER_CALL}
        for candidate in comparison["candidates"].values():
            assert math.isfinite(candidate["best_seconds"]) and candidate["best_seconds"] > 0
    assert results["comparisons"][0]["candidates"][profiler_overhead.PROFILED]["goal_max_ratio"] == profiler_overhead.GOAL
    assert "spans (ops and module calls) per call" in capsys.readouterr().out


def test_the_check_catches_a_different_result() -> None:
    model, _ = load_pretrained()
    tokens = np.zeros((1, 4), dtype=np.int64)
    with pytest.raises(GradientMismatch, match="something else"):
        profiler_overhead.check_profiled("wrong", PerformanceProfiler(model), lambda: model(tokens),
                                         np.zeros((1, 4, model.config.vocab_size), dtype=np.float32))
    profiler = PerformanceProfiler(model)
    with profiler:
        with pytest.raises(GradientMismatch, match="left a hook"):
            profiler_overhead.no_hook_left([model])
    profiler_overhead.no_hook_left([model])
