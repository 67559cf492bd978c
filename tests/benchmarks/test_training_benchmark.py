"""Smoke test of benchmarks/training: every measurement runs once and its candidates agree.

Nothing here asserts anything about speed; timings on a shared machine are not a test result.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import numpy_training, training
from benchmarks.mlp import GradientMismatch


def test_main_runs_every_measurement_and_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "training.json"
    training.main(["--rounds", "1", "--target-ms", "0", "--budget-s", "0", "--no-torch", "--output", str(output)])
    results = json.loads(output.read_text())
    assert [c["key"] for c in results["comparisons"]] == ["digits_mlp_sgd_step", "digits_mlp_adam_step", "digits_mlp_epoch"]
    for comparison in results["comparisons"]:
        for candidate in comparison["candidates"].values():
            assert math.isfinite(candidate["best_seconds"]) and candidate["best_seconds"] > 0
    printed = capsys.readouterr().out
    assert "data loading" in printed and "progress bar" in printed and "Linear as 3 ops" in printed
    assert "epoch   1" not in printed  # the Trainer's lines go to the benchmark's hidden console


def test_numpy_epoch_learns_and_the_agreement_check_catches_a_difference() -> None:
    x, y = training.training_arrays()
    mlp = numpy_training.init_mlp(training.SIZES, 0)
    rng = np.random.default_rng(0)
    losses = [numpy_training.train_epoch(mlp, x, y, 64, 0.1, rng)[0] for _ in range(3)]
    assert losses[-1] < losses[0] < math.log(10) + 0.2  # starts near chance, then learns
    arrays = mlp.arrays()
    training.check_same("same", arrays, [a.copy() for a in arrays])
    with pytest.raises(GradientMismatch, match="parameter 1"):
        training.check_same("perturbed", arrays, [arrays[0], arrays[1] + 0.1, arrays[2], arrays[3]])
