"""Interleaved timing: candidates measured in alternating rounds so machine noise hits all.

On a shared machine, load from other processes comes and goes in bursts. Timing candidate
A for ten seconds and then B for ten seconds lets a burst land on one of them only. Here
each round runs every candidate once (for a batch of calls sized to ``target_seconds``),
and the order reverses every other round (A, B, B, A, ...) so neither candidate always
runs first (warm caches, CPU frequency ramps). Per candidate we keep the time per call of
every round; the minimum is the least-disturbed estimate of its cost.

One way to time things in the repository: a batch is timed by Module 15's ``time_calls``
on the profiler's clock (``time.perf_counter_ns``), and the per-call statistics are its
``timing_stats``, the same code that ``tinytorch.profiler.Timer`` runs.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from tinytorch.profiler import time_calls, timing_stats

CLOCK = time.perf_counter_ns  # the profiler's clock (Timer's default): integer nanoseconds


@dataclass(frozen=True)
class TimingSettings:
    """How long to measure: rounds, the length of one batch of calls, and a time cap."""

    rounds: int
    target_seconds: float
    max_seconds: float | None = None


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one candidate, one entry per round."""

    name: str
    calls_per_round: int
    per_call: tuple[float, ...]

    @property
    def best(self) -> float:
        """Fastest round: the cost with the least interference from the machine."""
        return timing_stats(self.per_call).min

    @property
    def median(self) -> float:
        return timing_stats(self.per_call).median


def _time_batch(fn: Callable[[], object], calls: int) -> float:
    """Seconds per call over ``calls`` back-to-back calls, garbage collector paused.

    The collector is paused like ``timeit`` does, so a collection triggered by one
    candidate's allocations is not billed to whichever candidate happens to run next.
    """
    def batch() -> None:
        for _ in range(calls):
            fn()

    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        (elapsed_ns,) = time_calls(batch, warmup=0, repeats=1, clock=CLOCK)
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed_ns / 1e9 / calls


def calls_for(fn: Callable[[], object], target_seconds: float) -> int:
    """How many calls of ``fn`` take about ``target_seconds`` (at least 1).

    Calls ``fn`` up to three times first, which also warms it up (first-call allocations,
    lazy imports, BLAS thread start-up) so that cost is not timed. Two calls suffice when
    both last at least twice ``target_seconds``: the answer is then 1 whatever a third
    says, and a candidate of seconds per call (a whole decode) saves that call.
    """
    times: list[float] = []
    while len(times) < 3 and not (len(times) == 2 and min(times) >= 2 * target_seconds):
        times.append(_time_batch(fn, 1))
    single = min(times)
    if target_seconds <= 0 or single <= 0:
        return 1
    return max(1, round(target_seconds / single))


def interleaved(candidates: Mapping[str, Callable[[], object]], settings: TimingSettings,
                contexts: Mapping[str, AbstractContextManager[object]] | None = None) -> dict[str, Timing]:
    """Time every candidate in up to ``settings.rounds`` alternating rounds; a Timing per name.

    Each round gives each candidate a batch of calls lasting about ``target_seconds``.
    Short batches and many rounds suit a noisy machine: the best round of each candidate
    is more likely to have caught a quiet moment. If ``max_seconds`` is set, no new round
    starts after that much time, so a heavily loaded machine ends the measurement with
    fewer rounds (every candidate always has the same number of rounds, at least one).

    ``contexts`` maps a candidate to a reusable context manager entered around each of its
    batches (and its warm-up), outside the timed region: a candidate that must run with a
    setting only it uses (a kernel backend, a thread limit) is timed without the cost of
    switching it on and off.
    """
    rounds, max_seconds = settings.rounds, settings.max_seconds
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    names = list(candidates)
    contexts = contexts or {}
    unknown = sorted(set(contexts) - set(names))
    if unknown:
        raise ValueError(f"contexts given for names that are not candidates: {unknown}")

    def around(name: str) -> AbstractContextManager[object]:
        return contexts[name] if name in contexts else nullcontext()

    calls: dict[str, int] = {}
    for name in names:
        with around(name):
            calls[name] = calls_for(candidates[name], settings.target_seconds)
    gc.collect()
    samples: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    for round_index in range(rounds):
        if round_index > 0 and max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            with around(name):
                samples[name].append(_time_batch(candidates[name], calls[name]))
    return {name: Timing(name, calls[name], tuple(samples[name])) for name in names}
