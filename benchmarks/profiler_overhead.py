"""What Module 15's profiler costs: the reference GPT with and without ``PerformanceProfiler``.

Run from the repository root::

    python -m benchmarks.profiler_overhead [--rounds N] [--target-ms MS] [--budget-s S] [--blas-threads T]

The trained reference GPT of Module 14 (``load_pretrained()``, ``data/gpt/``: 3 layers,
width 96, 4 heads), in eval mode under ``no_grad``, on validation tokens. Two measurements,
each with its candidates interleaved in the same rounds (``benchmarks.timing``):

1. one forward pass over 4 sequences of 64 tokens (the module's payoff batch);
2. greedy generation of 16 tokens after a 16-token prompt with a KV cache, where every step
   runs the model on one token, so that ops are short and the profiler's cost per op weighs
   most.

Candidates, each on its own copy of the model (a profiler's hooks sit on the model it
profiles): no profiler (the baseline); each call inside ``profiler.profile(...)`` of a
``PerformanceProfiler(model)`` that stays attached for the whole run (``with profiler:``, as
when profiling a loop: the observer on every op, the hooks on every module; goal for the
forward pass: at most 1.10x the baseline); the same with ``with_flops=True``; and a fresh
profiler per call, which also attaches and removes the observer and the hooks every time
(as a single ``with profiler.profile(...)`` around one call does). Spans are dropped after
each call, so memory stays flat. Before timing, every candidate is checked to compute
exactly the same logits (or tokens) as the baseline and to record its ops; afterwards, that
no hook is left behind. Goals are reported, never enforced. Results go to
``benchmarks/results/profiler_overhead.json``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks import harness
from benchmarks.harness import Benchmark, budget_shares
from benchmarks.mlp import GradientMismatch
from benchmarks.report import Comparison
from benchmarks.timing import TimingSettings, interleaved
from tinytorch.autograd import no_grad
from tinytorch.models.gpt import GPT, load_pretrained
from tinytorch.nn.attention import ConcatKVCache
from tinytorch.profiler import PerformanceProfiler
from tinytorch.text import load_corpus

SEED = 0
BATCH, SEQ_LEN = 4, 64
PROMPT_LEN, NEW_TOKENS = 16, 16
GOAL = 1.10  # the issue's: the profiler's overhead on the GPT forward at most 10%
BUDGET_SHARES = (0.6, 0.4)  # forward, generation
PLAIN, PROFILED, WITH_FLOPS, PER_CALL = "no profiler", "profiler attached", "profiler attached, with_flops", "profiler attached per call"


def validation_tokens(count: int) -> np.ndarray:
    """The first ``count`` tokens of the validation stories, as the module's payoff uses them."""
    _, tokenizer = load_pretrained()
    tokens = np.asarray(tokenizer.encode(load_corpus("val")[:6000]), dtype=np.int64)
    if len(tokens) < count:
        raise ValueError(f"the validation text gives {len(tokens)} tokens, fewer than {count}")
    return tokens[:count]


def as_array(result: object) -> np.ndarray:
    return result.numpy() if hasattr(result, "numpy") else np.asarray(result)


def recorded(profiler: PerformanceProfiler, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` inside ``profiler.profile(...)``, the spans dropped after each call."""

    def profiled_call() -> object:
        with profiler.profile("benchmark"):
            result = fn()
        profiler.reset()
        return result

    return profiled_call


def check_profiled(name: str, profiler: PerformanceProfiler, fn: Callable[[], object], expected: np.ndarray) -> int:
    """``fn`` inside the profiler gives ``expected`` exactly and its ops are recorded; returns
    the number of spans of one call (ops and module calls)."""
    with profiler.profile("check"):
        result = fn()
    spans = profiler.spans
    profiler.reset()
    if not np.array_equal(as_array(result), expected):
        raise GradientMismatch(f"{name}: the profiled run computes something else than the plain one")
    if not any(span.kind == "op" for span in spans):
        raise GradientMismatch(f"{name}: the profiler recorded no op")
    return len(spans) - 1  # without the region


def no_hook_left(models: list[GPT]) -> None:
    if any(m._forward_hooks or m._forward_pre_hooks for model in models for m in model.modules()):
        raise GradientMismatch("a profiler left a hook behind")


def measure(key: str, title: str, work: Callable[[GPT], object], goal: float | None,
            settings: TimingSettings) -> Comparison:
    """``work(model)`` without a profiler and under each profiler candidate, interleaved."""
    models = {name: load_pretrained()[0] for name in (PLAIN, PROFILED, WITH_FLOPS)}
    expected = as_array(work(models[PLAIN]))
    candidates: dict[str, Callable[[], object]] = {PLAIN: lambda: work(models[PLAIN])}
    attached = {name: PerformanceProfiler(models[name], with_flops=name == WITH_FLOPS) for name in (PROFILED, WITH_FLOPS)}
    spans = 0
    for name, profiler in attached.items():
        spans = check_profiled(name, profiler, lambda model=models[name]: work(model), expected)
        candidates[name] = recorded(profiler, lambda model=models[name]: work(model))
    check_profiled(PER_CALL, PerformanceProfiler(models[PLAIN]), lambda: work(models[PLAIN]), expected)
    candidates[PER_CALL] = lambda: recorded(PerformanceProfiler(models[PLAIN]), lambda: work(models[PLAIN]))()
    with attached[PROFILED], attached[WITH_FLOPS]:
        timings = interleaved(candidates, settings)
    no_hook_left(list(models.values()))
    comparison = Comparison(key=key, title=title, baseline=PLAIN, timings=timings,
                            goals={PROFILED: goal} if goal is not None else {})
    extra = timings[PROFILED].best - timings[PLAIN].best
    attach = timings[PER_CALL].best - timings[PROFILED].best
    comparison.notes.append(
        f"{spans} spans (ops and module calls) per call; attached: {extra * 1e6:+.1f} µs per call over the baseline's "
        f"best, {extra / spans * 1e9:+.0f} ns per span; attaching and removing per call: {attach * 1e6:+.1f} µs more"
    )
    return comparison


def run(settings: TimingSettings, with_torch: bool) -> list[Comparison]:
    """Both measurements (PyTorch takes no part), each with its share of ``max_seconds``."""
    tokens = validation_tokens(BATCH * SEQ_LEN)
    batch, prompt = tokens.reshape(BATCH, SEQ_LEN), tokens[None, :PROMPT_LEN]
    shares = budget_shares(settings, BUDGET_SHARES)

    def forward(model: GPT) -> object:
        with no_grad():
            return model(batch)

    def generation(model: GPT) -> object:
        return model.generate(prompt, NEW_TOKENS, temperature=0, cache=ConcatKVCache())

    return [
        measure("gpt_forward", f"reference GPT forward, {BATCH} x {SEQ_LEN} tokens, no_grad", forward, GOAL, shares[0]),
        measure("gpt_cached_generation", f"reference GPT greedy generation, {NEW_TOKENS} tokens after {PROMPT_LEN}, KV cache",
                generation, None, shares[1]),
    ]


BENCHMARK = Benchmark(
    name="profiler_overhead",
    title="tinytorch profiler overhead",
    description=__doc__.split("\n\n")[0],
    measure=run,
    budget_s=30.0,
    seed=SEED,
)


def main(argv: list[str] | None = None) -> None:
    harness.main(BENCHMARK, argv)


if __name__ == "__main__":
    main()
