"""What Module 09's ``Conv2d`` costs, forward and backward, against hand-written NumPy (and PyTorch, if installed).

Run from the repository root::

    python -m benchmarks.conv [--rounds N] [--target-ms MS] [--budget-s S] [--blas-threads T] [--no-torch]

Two measurements, each with its candidates interleaved in the same rounds (``benchmarks.timing``):

1. the digits CNN's first layer, ``Conv2d(1, 16, 3, padding=1)`` on a batch of 64 digits
   (8x8): forward, then backward of a fixed output gradient; the images do not require
   grad, so no input gradient is computed;
2. its second layer, ``Conv2d(16, 32, 3, padding=1)`` on a batch of 64 maps of 4x4 that
   require grad, so the backward pass also runs col2im.

The baseline is the same algorithm hand-written in NumPy (``benchmarks.numpy_conv``,
columns kept from the forward pass): the floor. The candidates are tinytorch with Module 09's
kernels, and tinytorch under Module 16's ``OptimizedBackend`` (its channels-last ``conv2d``
kernel and backward formula; the backend is entered and left around every call, so that
cost is timed too). PyTorch eager on the CPU is compared when installed; the goals are
tinytorch within 3x of PyTorch's time, and, on the second layer, tinytorch with
``OptimizedBackend`` within 2x. Every candidate is first checked to compute the same output
and gradients as the NumPy version. Goals are reported, never enforced. Results go to
``benchmarks/results/conv.json``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import numpy as np

from benchmarks import harness, numpy_conv
from benchmarks.harness import Benchmark, budget_shares
from benchmarks.mlp import GradientMismatch
from benchmarks.report import Comparison
from benchmarks.timing import TimingSettings, interleaved
from tinytorch.backends import Backend, OptimizedBackend
from tinytorch.data import fetch_batch, load_digits
from tinytorch.nn import Conv2d
from tinytorch.tensor import Tensor

SEED = 0
BATCH = 64
PADDING = 1
TORCH_GOAL = 3.0  # tinytorch with Module 09's kernels, both layers
OPTIMIZED_TORCH_GOAL = 2.0  # tinytorch under OptimizedBackend, the second layer
NUMPY, TINYTORCH, TORCH = "numpy hand-written", "tinytorch", "pytorch"
OPTIMIZED = "tinytorch + OptimizedBackend"


def check_same(label: str, expected: list[np.ndarray], got: list[np.ndarray], rtol: float = 1e-4) -> None:
    """Raise ``GradientMismatch`` unless every array agrees relative to its largest element."""
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        scale = float(np.abs(want).max()) or 1.0
        error = float(np.abs(np.asarray(have) - want).max()) / scale
        if not math.isfinite(error) or error > rtol:
            raise GradientMismatch(f"{label}: array {index} (output, weight grad, bias grad, input grad) differs "
                                   f"from NumPy's by {error:.2e} (relative)")


def digits_batch() -> np.ndarray:
    """The first ``BATCH`` training digits as images (BATCH, 1, 8, 8) float32."""
    pixels, _ = fetch_batch(load_digits().train, np.arange(BATCH))
    return pixels.numpy().reshape(BATCH, 1, 8, 8)


def layer_weights(in_channels: int, out_channels: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Weight (out, in, 3, 3) and bias drawn like PyTorch's default, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1 / math.sqrt(in_channels * 9)
    weight = rng.uniform(-bound, bound, (out_channels, in_channels, 3, 3)).astype(np.float32)
    return weight, rng.uniform(-bound, bound, out_channels).astype(np.float32)


class TinytorchConvStep:
    """``Conv2d`` holding ``weight`` and ``bias``: forward on ``x``, backward of ``grad``."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, x: np.ndarray, grad: np.ndarray, input_grad: bool) -> None:
        self.layer = Conv2d(weight.shape[1], weight.shape[0], 3, padding=PADDING)
        self.layer.load_state_dict({"weight": weight, "bias": bias})
        self.x = Tensor(x, requires_grad=input_grad)
        self.grad = Tensor(grad)

    def __call__(self) -> Tensor:
        self.layer.zero_grad()
        self.x.grad = None
        out = self.layer(self.x)
        out.backward(self.grad)
        return out

    def arrays(self) -> list[np.ndarray]:
        out = self().numpy().copy()
        grads = [self.layer.weight.grad.numpy(), self.layer.bias.grad.numpy()]
        return [out, *grads] + ([self.x.grad.numpy()] if self.x.requires_grad else [])


class BackendConvStep(TinytorchConvStep):
    """``TinytorchConvStep`` run inside ``with backend:``, entered and left on every call."""

    def __init__(self, backend: Backend, weight: np.ndarray, bias: np.ndarray, x: np.ndarray, grad: np.ndarray,
                 input_grad: bool) -> None:
        super().__init__(weight, bias, x, grad, input_grad)
        self.backend = backend

    def __call__(self) -> Tensor:
        with self.backend:
            return super().__call__()


def numpy_step(weight: np.ndarray, bias: np.ndarray, x: np.ndarray, grad: np.ndarray,
               input_grad: bool) -> Callable[[], list[np.ndarray]]:
    """The hand-written forward and backward: returns output, weight and bias gradients (and the input's)."""
    def step() -> list[np.ndarray]:
        out, cols = numpy_conv.conv_forward(x, weight, bias, PADDING)
        grad_x, grad_w, grad_b = numpy_conv.conv_backward(grad, cols, weight, x.shape, PADDING, input_grad)
        return [out, grad_w, grad_b] + ([grad_x] if input_grad else [])

    return step


def torch_note(comparison: Comparison, name: str, torch_name: str, goal: float | None) -> str:
    """``name``'s time over PyTorch's, by best times and paired per round, and the goal's verdict (if any)."""
    best = comparison.ratio(name, torch_name)
    paired = statistics.median(m / t for m, t in zip(comparison.timings[name].per_call,
                                                     comparison.timings[torch_name].per_call, strict=True))
    note = f"{name} / PyTorch: {best:.2f}x best, {paired:.2f}x paired"
    if goal is None:
        return note + "; no goal for this layer"
    met = "met" if max(best, paired) <= goal else "NO" if min(best, paired) > goal else "unclear"
    return note + f"; goal <= {goal:.2f}x: {met}"


def measure_layer(key: str, title: str, x: np.ndarray, out_channels: int, input_grad: bool,
                  settings: TimingSettings, with_torch: bool, optimized_goal: float | None = None) -> Comparison:
    """One Conv2d forward + backward: NumPy floor, tinytorch (without and with ``OptimizedBackend``) and
    (if installed) PyTorch, checked equal first. ``optimized_goal``: the goal of the backend's time over PyTorch's."""
    rng = np.random.default_rng(SEED)
    weight, bias = layer_weights(x.shape[1], out_channels, rng)
    grad = rng.standard_normal((x.shape[0], out_channels, x.shape[2], x.shape[3])).astype(np.float32)
    floor = numpy_step(weight, bias, x, grad, input_grad)
    reference = floor()
    mine = TinytorchConvStep(weight, bias, x, grad, input_grad)
    check_same(f"tinytorch {key}", reference, mine.arrays())
    optimized = BackendConvStep(OptimizedBackend(), weight, bias, x, grad, input_grad)
    check_same(f"{OPTIMIZED} {key}", reference, optimized.arrays())
    candidates: dict[str, Callable[[], object]] = {NUMPY: floor, TINYTORCH: mine, OPTIMIZED: optimized}
    torch_name = None
    if with_torch:
        from benchmarks import torch_conv  # imported only when torch is installed

        theirs = torch_conv.TorchConvStep(weight, bias, x, grad, PADDING, input_grad)
        check_same(f"PyTorch {key}", reference, theirs.arrays())
        torch_name = f"{TORCH} {torch_conv.version()} eager"
        candidates[torch_name] = theirs
    comparison = Comparison(key=key, title=title, baseline=NUMPY, timings=interleaved(candidates, settings))
    if torch_name is not None:
        comparison.notes.append(torch_note(comparison, TINYTORCH, torch_name, TORCH_GOAL))
        comparison.notes.append(torch_note(comparison, OPTIMIZED, torch_name, optimized_goal))
    return comparison


def run(settings: TimingSettings, with_torch: bool) -> list[Comparison]:
    """Both measurements, each with half of ``max_seconds``."""
    first, second = budget_shares(settings, (0.5, 0.5))
    maps = np.random.default_rng(SEED + 1).standard_normal((BATCH, 16, 4, 4)).astype(np.float32)
    return [
        measure_layer("conv2d_1to16_8x8", f"Conv2d(1, 16, 3, padding=1) forward + backward, {BATCH} digits 8x8 (no input grad)",
                      digits_batch(), 16, False, first, with_torch),
        measure_layer("conv2d_16to32_4x4", f"Conv2d(16, 32, 3, padding=1) forward + backward, {BATCH} maps 4x4 (input grad too)",
                      maps, 32, True, second, with_torch, OPTIMIZED_TORCH_GOAL),
    ]


BENCHMARK = Benchmark(
    name="conv",
    title="tinytorch Conv2d",
    description=__doc__.split("\n\n")[0],
    measure=run,
    budget_s=30.0,
    seed=SEED,
)


def main(argv: list[str] | None = None) -> None:
    harness.main(BENCHMARK, argv)


if __name__ == "__main__":
    main()
