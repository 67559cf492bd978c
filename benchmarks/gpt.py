"""What training and decoding Module 14's GPT costs: tinytorch against a plain-NumPy floor
and PyTorch eager (if installed), in tokens per second.

Run from the repository root::

    python -m benchmarks.gpt [--rounds N] [--target-ms MS] [--budget-s S]
                             [--blas-threads T] [--no-torch]

The model (the same in all three): GPT with the reference GPT's vocabulary (512, read from
``data/gpt/config.json``), n_embd 128, 4 layers, 4 heads, max_seq_len 256, float32, pre-norm blocks, tied lm_head (``benchmarks.numpy_gpt``
describes it). Two measurements, each with its candidates interleaved in the same rounds
(``benchmarks.timing``):

1. one training step on a batch of 16 x 64 tokens: forward, cross-entropy, backward and
   an AdamW step (lr 1e-3, weight decay 0.01, torch's defaults otherwise);
2. greedy decoding of 255 new tokens from a 1-token prompt without a cache (the whole
   sequence recomputed at each step), up to the model's max_seq_len of 256.

Candidates: ``benchmarks.numpy_gpt`` (the floor: plain NumPy written for speed with a
hand-written backward), PyTorch eager (``benchmarks.torch_gpt``, optional), tinytorch's
GPT on the kernels of modules 01-14, and the same GPT under Module 16's ``OptimizedBackend``
(enabled around each call). Goals (``FLOOR_GOALS``, ``TORCH_GOALS``): tinytorch within 1.3x
the floor's time and at least 0.4x PyTorch's tokens/s in training, 0.5x in decoding; under
``OptimizedBackend``, training within 1.2x the floor and at least 0.7x PyTorch's tokens/s.
Every candidate is first checked to
compute the same loss, gradients, updated weights, logits and greedy tokens as the floor
from the same weights (tolerances in ``check_*``). Goals are reported, never enforced.
Results go to ``benchmarks/results/gpt.json``.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from benchmarks import harness, numpy_gpt, tinytorch_gpt
from benchmarks.harness import Benchmark, budget_shares
from benchmarks.mlp import GradientMismatch
from benchmarks.numpy_gpt import GPTShape, Weights
from benchmarks.report import Comparison
from benchmarks.timing import TimingSettings, interleaved
from tinytorch.backends import OptimizedBackend

SEED = 0
LR = 1e-3
NUMPY, TINYTORCH, OPTIMIZED, TORCH = "numpy floor", "tinytorch", "tinytorch + OptimizedBackend", "pytorch"
# Goals per tinytorch candidate: its time / the NumPy floor's, at most; its tokens/s / PyTorch's, at least.
# The plain one (modules 01-14's kernels) has the goals of Module 14's issue, the optimized one
# (Module 16's OptimizedBackend) those of Module 16's; decoding has no Module 16 goal of its own.
FLOOR_GOALS = {"training": {TINYTORCH: 1.3, OPTIMIZED: 1.2}, "decoding": {TINYTORCH: 1.3, OPTIMIZED: 1.3}}
TORCH_GOALS = {"training": {TINYTORCH: 0.4, OPTIMIZED: 0.7}, "decoding": {TINYTORCH: 0.5, OPTIMIZED: 0.5}}
BUDGET_SHARES = (0.45, 0.55)  # training, decoding
# Tolerances of the equivalence checks, relative to each array's largest element (float32
# sums taken in another order differ by a few units in the last place of the largest terms).
GRAD_RTOL, LOGITS_RTOL, LOSS_RTOL = 1e-4, 1e-4, 1e-5


@dataclass(frozen=True)
class BenchConfig:
    """The model and the work of one benchmark run."""

    shape: GPTShape = field(default_factory=GPTShape)
    batch: int = 16
    seq_len: int = 64  # tokens per sequence in a training batch
    prompt_len: int = 1

    @property
    def new_tokens(self) -> int:
        """Decoded tokens per call: up to max_seq_len."""
        return self.shape.max_seq_len - self.prompt_len


REFERENCE_CONFIG = Path(__file__).resolve().parent.parent / "data" / "gpt" / "config.json"
# The issue's model, with the vocabulary of the reference GPT's tokenizer (Module 14's data/gpt/).
DEFAULT = BenchConfig(GPTShape(vocab_size=json.loads(REFERENCE_CONFIG.read_text())["vocab_size"]))



def batch_of_tokens(config: BenchConfig) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-token targets (B, T) int64 from a seeded generator.

    Random ids: time per step does not depend on which tokens they are.
    """
    rng = np.random.default_rng(SEED + 1)
    ids = rng.integers(0, config.shape.vocab_size, size=(config.batch, config.seq_len + 1))
    return ids[:, :-1].copy(), ids[:, 1:].copy()


def relative_error(expected: np.ndarray, got: np.ndarray) -> float:
    scale = float(np.abs(expected).max()) or 1.0
    return float(np.abs(np.asarray(got, dtype=np.float64) - expected).max()) / scale


def check_close(label: str, expected: Weights, got: Weights, rtol: float) -> float:
    """Raise ``GradientMismatch`` unless every array of ``got`` is within ``rtol`` of ``expected``
    (relative to the array's largest element); returns the worst relative error."""
    if set(expected) != set(got):
        raise GradientMismatch(f"{label}: names differ: {sorted(set(expected) ^ set(got))}")
    worst = 0.0
    for name, want in expected.items():
        if np.shape(got[name]) != want.shape:
            raise GradientMismatch(f"{label}: {name} has shape {np.shape(got[name])}, expected {want.shape}")
        error = relative_error(want, got[name])
        if not np.isfinite(error) or error > rtol:
            raise GradientMismatch(f"{label}: {name} differs from the NumPy floor's by {error:.2e} (relative)")
        worst = max(worst, error)
    return worst


def check_updated_weights(label: str, start: Weights, expected: Weights, got: Weights,
                          steps: int) -> tuple[float, int]:
    """Raise ``GradientMismatch`` unless AdamW moved the weights as the floor did; (worst error, outliers).

    Adam divides each gradient by its own running magnitude, so where a gradient is within
    float32 rounding of zero, its sign and so the element's update (about ``lr`` per step)
    can differ between two correct implementations. Two cases:

    - the key part of ``attn.in_proj.bias``: its gradient is exactly zero in exact
      arithmetic (adding a constant vector to every key adds the same number to all the
      scores of a query, which softmax ignores), so its computed gradient is rounding noise
      and the only requirement is the bound below;
    - every other weight must agree within 1% of the floor's move plus ``1e-6`` of the
      array's largest element, except at most 1 in 10,000 ("outliers", gradients near zero).

    No element may differ by more than ``2 lr`` per step.
    """
    worst, outliers, total = 0.0, 0, 0
    for name, want in expected.items():
        moved = np.abs(want - start[name])
        diff = np.abs(np.asarray(got[name], dtype=np.float64) - want)
        scale = float(np.abs(want).max()) or 1.0
        if np.any(diff > 2 * LR * steps + 1e-6 * scale):
            raise GradientMismatch(f"{label}: {name} after {steps} AdamW steps differs by {diff.max():.2e}, "
                                   f"more than {steps} updates of 2 lr")
        checked = np.ones(want.shape, dtype=bool)
        if name.endswith("attn.in_proj.bias"):
            width = want.shape[0] // 3
            checked[width:2 * width] = False  # the key bias: zero gradient in exact arithmetic
        loose = (diff > 0.01 * moved + 1e-6 * scale) & checked
        outliers += int(loose.sum())
        total += int(checked.sum())
        worst = max(worst, float(diff[checked & ~loose].max(initial=0.0)) / scale)
    if outliers > total // 10_000:
        raise GradientMismatch(f"{label}: {outliers} of {total:,} weights differ from the floor's "
                               f"after {steps} AdamW steps")
    return worst, outliers


# ----------------------------------------------------------------------------- candidates
class NumpyTrainStep:
    """The floor's training step on a fixed batch, from its own copy of the weights."""

    def __init__(self, config: BenchConfig, weights: Weights, idx: np.ndarray, targets: np.ndarray) -> None:
        self.config, self.idx, self.targets = config, idx, targets
        self.weights = numpy_gpt.copy_weights(weights)
        self.optimizer = numpy_gpt.AdamW(self.weights, lr=LR)

    def __call__(self) -> float:
        return numpy_gpt.train_step(self.weights, self.optimizer, self.idx, self.targets, self.config.shape)


def numpy_decoder(config: BenchConfig, weights: Weights, prompt: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: numpy_gpt.greedy_decode(weights, prompt, config.new_tokens, config.shape)


class CheckedStep(Protocol):
    """What a training candidate offers besides being called for one step (``__call__``)."""

    def __call__(self) -> object: ...

    def logits(self, idx: np.ndarray) -> np.ndarray:
        """Logits (B, T, V) of the current weights for ``idx`` (B, T), without recording a graph."""

    def loss_and_grads(self) -> tuple[float, Weights]:
        """Loss and gradients of the current weights on the fixed batch, without a step."""

    def weight_arrays(self) -> Weights:
        """The current weights as NumPy copies keyed as ``numpy_gpt``'s."""


@dataclass
class Reference:
    """What the floor computes from the shared weights; every candidate must match it."""

    weights: Weights
    long_ids: np.ndarray  # (2, max_seq_len): logits are compared over the whole context
    logits: np.ndarray
    loss: float
    grads: Weights
    stepped: Weights  # after CHECK_STEPS training steps


CHECK_STEPS = 3


def floor_reference(config: BenchConfig, weights: Weights, idx: np.ndarray, targets: np.ndarray) -> Reference:
    shape = config.shape
    long_ids = np.random.default_rng(SEED + 2).integers(0, shape.vocab_size, size=(2, shape.max_seq_len))
    loss, grads = numpy_gpt.loss_and_grads(numpy_gpt.copy_weights(weights), idx, targets, shape)
    stepped = NumpyTrainStep(config, weights, idx, targets)
    for _ in range(CHECK_STEPS):
        stepped()
    return Reference(weights, long_ids, numpy_gpt.forward(weights, long_ids, shape), loss, grads, stepped.weights)


def check_candidate(label: str, step: CheckedStep, reference: Reference) -> str:
    """Raise ``GradientMismatch`` unless ``step`` (fresh from the shared weights) computes the
    floor's logits, loss, gradients and weights after ``CHECK_STEPS`` steps; a note of the errors."""
    logits_error = relative_error(reference.logits, step.logits(reference.long_ids))
    if not logits_error <= LOGITS_RTOL:
        raise GradientMismatch(f"{label}: logits differ from the NumPy floor's by {logits_error:.2e} (relative)")
    loss, grads = step.loss_and_grads()
    if not np.isclose(loss, reference.loss, rtol=LOSS_RTOL, atol=0.0):
        raise GradientMismatch(f"{label}: loss {loss!r} differs from the NumPy floor's {reference.loss!r}")
    grad_error = check_close(f"{label} gradients", reference.grads, grads, GRAD_RTOL)
    for _ in range(CHECK_STEPS):
        step()
    update_error, outliers = check_updated_weights(
        f"{label} AdamW", reference.weights, reference.stepped, step.weight_arrays(), CHECK_STEPS)
    return (f"{label} vs the floor (relative to each array's largest element): logits at "
            f"T={reference.long_ids.shape[1]} {logits_error:.1e}, loss {abs(loss / reference.loss - 1):.1e}, "
            f"gradients {grad_error:.1e}, weights after {CHECK_STEPS} AdamW steps {update_error:.1e} "
            f"({outliers} outliers)")


@dataclass
class Candidates:
    """Each measurement's candidates by name, and notes on what was checked."""

    training: dict[str, Callable[[], object]]
    decoding: dict[str, Callable[[], np.ndarray]]
    notes: list[str]


def checked_candidates(config: BenchConfig, with_torch: bool) -> Candidates:
    """Build every candidate from the same weights and check each against the floor first."""
    shape = config.shape
    weights = numpy_gpt.init_weights(shape, SEED)
    idx, targets = batch_of_tokens(config)
    prompt = np.zeros((1, config.prompt_len), dtype=np.int64)
    reference = floor_reference(config, weights, idx, targets)
    candidates = Candidates(
        training={NUMPY: NumpyTrainStep(config, weights, idx, targets)},
        decoding={NUMPY: numpy_decoder(config, weights, prompt)},
        notes=[],
    )
    candidates.notes.append(
        check_candidate("tinytorch", tinytorch_gpt.TinytorchTrainStep(shape, weights, idx, targets, LR), reference))
    candidates.training[TINYTORCH] = tinytorch_gpt.TinytorchTrainStep(shape, weights, idx, targets, LR)
    candidates.decoding[TINYTORCH] = tinytorch_gpt.greedy_decoder(shape, weights, prompt, config.new_tokens)
    backend = OptimizedBackend()
    candidates.notes.append(check_candidate(OPTIMIZED, tinytorch_gpt.UnderBackend(
        tinytorch_gpt.TinytorchTrainStep(shape, weights, idx, targets, LR), backend), reference))
    candidates.training[OPTIMIZED] = tinytorch_gpt.UnderBackend(
        tinytorch_gpt.TinytorchTrainStep(shape, weights, idx, targets, LR), backend)
    candidates.decoding[OPTIMIZED] = tinytorch_gpt.decoder_under(
        backend, tinytorch_gpt.greedy_decoder(shape, weights, prompt, config.new_tokens))
    if with_torch:
        from benchmarks import torch_gpt  # imported only when torch is installed

        name = f"{TORCH} {torch_gpt.version()} eager"
        candidates.notes.append(
            check_candidate("PyTorch", torch_gpt.TorchTrainStep(shape, weights, idx, targets, LR), reference))
        candidates.training[name] = torch_gpt.TorchTrainStep(shape, weights, idx, targets, LR)
        candidates.decoding[name] = torch_gpt.greedy_decoder(shape, weights, prompt, config.new_tokens)
    return candidates


# ----------------------------------------------------------------------------- measurements
def throughput_notes(comparison: Comparison, tokens_per_call: int, torch_goals: dict[str, float]) -> list[str]:
    """Tokens/s of every candidate (best round) and each tinytorch candidate's share of PyTorch's, with its goal."""
    rates = ", ".join(f"{name} {tokens_per_call / timing.best:,.0f}" for name, timing in comparison.timings.items())
    notes = [f"tokens/s (best rounds): {rates}"]
    torch_names = [name for name in comparison.timings if name.startswith(TORCH)]
    for candidate, torch_goal in torch_goals.items():
        if candidate not in comparison.timings or not torch_names:
            continue
        mine, theirs = comparison.timings[candidate].per_call, comparison.timings[torch_names[0]].per_call
        best = comparison.timings[torch_names[0]].best / comparison.timings[candidate].best
        paired = statistics.median(t / m for m, t in zip(mine, theirs))
        met = "met" if min(best, paired) >= torch_goal else "NO" if max(best, paired) < torch_goal else "unclear"
        notes.append(f"{candidate} tokens/s / PyTorch's: {best:.2f}x best, {paired:.2f}x paired; "
                     f"goal >= {torch_goal:.2f}x: {met if comparison.decisive else 'unclear'}")
    return notes


def measure_training(config: BenchConfig, candidates: Candidates, settings: TimingSettings) -> Comparison:
    tokens = config.batch * config.seq_len
    comparison = Comparison(
        key="gpt_train_step",
        title=f"GPT training step, batch {config.batch} x {config.seq_len} tokens: forward, cross-entropy, "
              "backward, AdamW",
        baseline=NUMPY,
        timings=interleaved(candidates.training, settings),
        goals={name: goal for name, goal in FLOOR_GOALS["training"].items() if name in candidates.training},
    )
    comparison.notes.extend(throughput_notes(comparison, tokens, TORCH_GOALS["training"]))
    return comparison


class Recorded:
    """Wraps a decoder, keeping its last output so the timed runs can be compared afterwards."""

    def __init__(self, decode: Callable[[], np.ndarray]) -> None:
        self.decode = decode
        self.last: np.ndarray | None = None

    def __call__(self) -> np.ndarray:
        self.last = np.asarray(self.decode())
        return self.last


def measure_decoding(config: BenchConfig, candidates: Candidates, settings: TimingSettings) -> Comparison:
    recorded = {name: Recorded(decode) for name, decode in candidates.decoding.items()}
    comparison = Comparison(
        key="gpt_greedy_decode",
        title=f"GPT greedy decoding without a cache, {config.new_tokens} new tokens from a "
              f"{config.prompt_len}-token prompt, batch 1",
        baseline=NUMPY,
        timings=interleaved(recorded, settings),
        goals={name: goal for name, goal in FLOOR_GOALS["decoding"].items() if name in recorded},
    )
    reference = recorded[NUMPY].last
    for name, decoder in recorded.items():
        if decoder.last is None or not np.array_equal(decoder.last, reference):
            raise GradientMismatch(f"{name}: greedy tokens differ from the NumPy floor's")
    distinct = len(np.unique(reference))
    comparison.notes.append(f"every candidate's timed runs decoded the same {reference.shape[1]} tokens "
                            f"({distinct} distinct ids)")
    comparison.notes.extend(throughput_notes(comparison, config.new_tokens, TORCH_GOALS["decoding"]))
    return comparison


def run(settings: TimingSettings, with_torch: bool, config: BenchConfig = DEFAULT) -> list[Comparison]:
    """Both measurements, each capped at its share of ``max_seconds``."""
    shares = budget_shares(settings, BUDGET_SHARES)
    candidates = checked_candidates(config, with_torch)
    comparisons = [measure_training(config, candidates, shares[0]), measure_decoding(config, candidates, shares[1])]
    comparisons[0].notes.extend(candidates.notes)
    return comparisons


def make_benchmark(config: BenchConfig = DEFAULT) -> Benchmark:
    return Benchmark(
        name="gpt",
        title=f"tinytorch GPT ({config.shape.describe()})",
        description=__doc__.split("\n\n")[0],
        measure=lambda settings, with_torch: run(settings, with_torch, config),
        budget_s=120.0,
        seed=SEED,
    )


def main(argv: list[str] | None = None) -> None:
    harness.main(make_benchmark(), argv)


if __name__ == "__main__":
    main()
