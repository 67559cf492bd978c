"""Smoke test of benchmarks/gpt at a tiny size: every measurement runs once, its candidates
are checked to agree first, the table prints and the results file is written.

Nothing here asserts anything about speed; timings on a shared machine are not a test result.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import gpt, harness, numpy_gpt
from benchmarks.mlp import GradientMismatch
from benchmarks.numpy_gpt import GPTShape

TINY = gpt.BenchConfig(GPTShape(vocab_size=40, max_seq_len=12, n_layer=2, n_head=2, n_embd=16), batch=2, seq_len=8)
ONE_ROUND = ["--rounds", "1", "--target-ms", "0", "--budget-s", "0"]
HAS_TORCH = importlib.util.find_spec("torch") is not None


def run_tiny(tmp_path: Path, extra: list[str]) -> dict:
    output = tmp_path / "gpt.json"
    harness.main(gpt.make_benchmark(TINY), ONE_ROUND + extra + ["--output", str(output)])
    return json.loads(output.read_text())


def test_main_runs_both_measurements_and_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = run_tiny(tmp_path, ["--no-torch"])
    assert [c["key"] for c in results["comparisons"]] == ["gpt_train_step", "gpt_greedy_decode"]
    for comparison in results["comparisons"]:
        for candidate in comparison["candidates"].values():
            assert math.isfinite(candidate["best_seconds"]) and candidate["best_seconds"] > 0
        assert list(comparison["candidates"]) == [gpt.NUMPY, gpt.TINYTORCH, gpt.OPTIMIZED]
        phase = "training" if comparison["key"] == "gpt_train_step" else "decoding"
        for name in (gpt.TINYTORCH, gpt.OPTIMIZED):
            assert comparison["candidates"][name]["goal_max_ratio"] == gpt.FLOOR_GOALS[phase][name]
    printed = capsys.readouterr().out
    assert "tinytorch vs the floor" in printed and f"{gpt.OPTIMIZED} vs the floor" in printed
    assert "GPT training step, batch 2 x 8 tokens" in printed and "11 new tokens" in printed
    assert printed.count("tokens/s (best rounds)") == 2
    assert "decoded the same 12 tokens" in printed


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is an optional extra and is not installed")
def test_torch_candidate_is_checked_and_timed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = run_tiny(tmp_path, [])
    for comparison in results["comparisons"]:
        assert any(name.startswith(gpt.TORCH) for name in comparison["candidates"])
    printed = capsys.readouterr().out
    assert "PyTorch vs the floor" in printed and "tinytorch tokens/s / PyTorch's" in printed
    assert f"{gpt.OPTIMIZED} tokens/s / PyTorch's" in printed


def test_the_checks_catch_a_difference() -> None:
    shape = TINY.shape
    weights = numpy_gpt.init_weights(shape, 0)
    gpt.check_close("same", weights, numpy_gpt.copy_weights(weights), gpt.GRAD_RTOL)
    wrong = numpy_gpt.copy_weights(weights)
    wrong["blocks.1.mlp.fc.bias"][3] += 0.01
    with pytest.raises(GradientMismatch, match="blocks.1.mlp.fc.bias"):
        gpt.check_close("perturbed", weights, wrong, gpt.GRAD_RTOL)

    idx, targets = gpt.batch_of_tokens(TINY)
    stepped = gpt.NumpyTrainStep(TINY, weights, idx, targets)
    for _ in range(2):
        stepped()
    assert gpt.check_updated_weights("same", weights, stepped.weights, stepped.weights, 2) == (0.0, 0)
    # One step fewer: every weight is off by about one update.
    fewer = gpt.NumpyTrainStep(TINY, weights, idx, targets)
    fewer()
    with pytest.raises(GradientMismatch, match="weights differ"):
        gpt.check_updated_weights("one step short", weights, stepped.weights, fewer.weights, 2)
    # The key bias may differ by up to 2 lr per step (its gradient is rounding noise), no more.
    noisy = numpy_gpt.copy_weights(stepped.weights)
    noisy["blocks.0.attn.in_proj.bias"][shape.n_embd:2 * shape.n_embd] += 1.5 * gpt.LR
    assert gpt.check_updated_weights("key bias", weights, stepped.weights, noisy, 2)[1] == 0
    noisy["blocks.0.attn.in_proj.bias"][0] += 1.5 * gpt.LR  # a query bias: a real difference
    with pytest.raises(GradientMismatch, match="1 of"):
        gpt.check_updated_weights("query bias", weights, stepped.weights, noisy, 2)
    noisy["blocks.0.attn.in_proj.bias"][shape.n_embd] += 5 * gpt.LR
    with pytest.raises(GradientMismatch, match="updates of 2 lr"):
        gpt.check_updated_weights("too far", weights, stepped.weights, noisy, 2)


def test_key_bias_gradient_is_rounding_noise() -> None:
    # The reason check_updated_weights exempts it: exactly zero in exact arithmetic.
    shape = TINY.shape
    weights = {name: array.astype(np.float64) for name, array in numpy_gpt.init_weights(shape, 1).items()}
    idx, targets = gpt.batch_of_tokens(TINY)
    _, grads = numpy_gpt.loss_and_grads(weights, idx, targets, shape)
    bias = grads["blocks.0.attn.in_proj.bias"]
    E = shape.n_embd
    assert np.abs(bias[E:2 * E]).max() <= 1e-12 * np.abs(bias).max()
    assert np.abs(bias[:E]).max() > 0 and np.abs(bias[2 * E:]).max() > 0
