"""Smoke test of benchmarks/conv: both measurements run once and their candidates agree.

Nothing here asserts anything about speed; timings on a shared machine are not a test result.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import conv, numpy_conv
from benchmarks.mlp import GradientMismatch


def test_main_runs_both_measurements_and_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "conv.json"
    conv.main(["--rounds", "1", "--target-ms", "0", "--budget-s", "0", "--no-torch", "--output", str(output)])
    results = json.loads(output.read_text())
    assert [c["key"] for c in results["comparisons"]] == ["conv2d_1to16_8x8", "conv2d_16to32_4x4"]
    for comparison in results["comparisons"]:
        assert set(comparison["candidates"]) == {"numpy hand-written", "tinytorch", "tinytorch + OptimizedBackend"}
        for candidate in comparison["candidates"].values():
            assert math.isfinite(candidate["best_seconds"]) and candidate["best_seconds"] > 0
    assert "Conv2d(1, 16, 3, padding=1)" in capsys.readouterr().out


def test_numpy_floor_is_a_convolution_and_the_check_catches_a_difference() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    weight, bias = conv.layer_weights(3, 4, rng)
    out, cols = numpy_conv.conv_forward(x, weight, bias, 1)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    direct = np.array([[[[np.sum(padded[n, :, i:i + 3, j:j + 3] * weight[o]) + bias[o] for j in range(4)]
                         for i in range(5)] for o in range(4)] for n in range(2)])
    np.testing.assert_allclose(out, direct, rtol=1e-5, atol=1e-5)
    grad = rng.standard_normal(out.shape).astype(np.float32)
    step = conv.TinytorchConvStep(weight, bias, x, grad, input_grad=True)
    expected = [out, *numpy_conv.conv_backward(grad, cols, weight, x.shape, 1, True)[1:],
                numpy_conv.conv_backward(grad, cols, weight, x.shape, 1, True)[0]]
    got = step.arrays()
    conv.check_same("same", expected, got)
    with pytest.raises(GradientMismatch, match="array 3"):
        conv.check_same("perturbed", expected, [*got[:3], got[3] + 0.1 * np.abs(got[3]).max()])


def test_backend_candidate_equals_the_floor_and_restores_the_kernels() -> None:
    from tinytorch.backends import OptimizedBackend
    from tinytorch.tensor import KERNELS

    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 16, 4, 4)).astype(np.float32)
    weight, bias = conv.layer_weights(16, 8, rng)
    out, cols = numpy_conv.conv_forward(x, weight, bias, 1)
    grad = rng.standard_normal(out.shape).astype(np.float32)
    grad_x, grad_w, grad_b = numpy_conv.conv_backward(grad, cols, weight, x.shape, 1, True)
    backend = OptimizedBackend()
    before = dict(KERNELS)
    step = conv.BackendConvStep(backend, weight, bias, x, grad, input_grad=True)
    conv.check_same("optimized", [out, grad_w, grad_b, grad_x], step.arrays())
    assert KERNELS == before
