# %% [markdown]
# # Module 15: Profiling
#
# Modules 01–14 built a framework and a GPT that writes stories. The second half of the
# course makes it fast and small, and it starts with a rule every performance engineer
# learns the hard way: **measure first**. A guess about where the time goes is wrong more
# often than not, and an optimization of the wrong part costs effort and readability for
# nothing. In this module you build the measuring instruments, then turn them on your GPT.
#
# **What you will build**
#
# - `timing_stats` and `time_calls`: the statistics of repeated measurements (mean, median,
#   p90, standard deviation, minimum) and a timing loop with warm-up calls, behind a `Timer`;
# - `peak_bytes` and `training_memory_bytes`: the peak memory a call allocates, and the bytes
#   that parameters, gradients and optimizer state hold, behind a `MemoryProfiler`;
# - `op_flops`: the floating-point operations of one op from its shapes, behind a
#   `FLOPCounter` that counts every op of a forward pass, in total and per layer;
# - `classify_layer`, `self_times`, `shares` and `trace_events`: the parts of the
#   `PerformanceProfiler`, which records every op and every module call, reports where the
#   time goes by layer type (a table and a chart), and writes a trace you can open in
#   Perfetto or `chrome://tracing`;
# - `bound_verdict`: whether an op is compute-bound, memory-bound or overhead-bound, behind a
#   `BottleneckAnalyzer`;
# - `interaction_effect`: whether two optimizations' effects multiply, add or interfere,
#   behind an `OptimizationComparer` and an `InteractionAnalyzer`.
#
# The classes around your functions are given: they attach to the framework, run the
# measurements and draw the results.
#
# **Why a systems engineer cares.** A profile answers three questions before any
# optimization: where does the time go (which layers, which ops), is each part limited by
# arithmetic, by memory traffic or by fixed per-call overhead, and how far is it from what
# the machine can do. The answers decide what Module 16 accelerates, what Module 17
# quantizes, what Module 18 prunes and what Module 19 caches, and Module 20 uses the same
# comparer to judge the results.
#
# **Connections.** The profiler plugs into the two seams the framework was built with:
# Module 01's op dispatch, which tells an *observer* about every op
# (`add_observer(obj)` calls `obj.before(op, inputs, attrs)` and `obj.after(op, inputs,
# attrs, out)`), and Module 04's forward hooks, which run around every module call. It never
# changes a line of the earlier modules. At the end you profile the trained GPT of Module 14.

# %%
#| default_exp profiler

# %%
#| export
from __future__ import annotations

import gc
import json
import math
import os
import threading
import time
import tracemalloc
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tinytorch.nn.attention import MultiHeadAttention
from tinytorch.nn.conv import Conv2d
from tinytorch.nn.embedding import Embedding, PositionalEmbedding, SinusoidalPositionalEncoding
from tinytorch.nn.layers import GELU, Linear, Module, ReLU, Sigmoid, Tanh
from tinytorch.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from tinytorch.autograd import GRADIENTS, Node, register_gradient
from tinytorch.tensor import Tensor, add_observer, bytes_for, remove_observer


# %% [markdown]
# ## 1. Timing: one run is not a measurement
#
# Time a function once and you get one sample of a random variable. The operating system
# schedules other processes, the CPU changes its clock speed, caches are cold on the first
# call, the garbage collector runs when it likes, and on a shared machine other jobs compete
# for the same cores. So a timing is a *distribution*, and a measurement is a summary of
# many samples:
#
# | statistic | what it tells | formula for samples $x_1..x_n$ (sorted: $x_{(1)} \le \dots \le x_{(n)}$) |
# |---|---|---|
# | mean | the average cost, sensitive to outliers | $\bar x = \frac1n \sum x_i$ |
# | median | the typical run; half the runs are faster | middle sorted value; mean of the two middle ones for even $n$ |
# | p90 | the slow tail: 90% of runs are at least this fast | linear interpolation at position $0.9\,(n-1)$ of the sorted samples (0-based) |
# | std | the spread | sample standard deviation $\sqrt{\sum (x_i - \bar x)^2 / (n-1)}$ (0 for one sample) |
# | min | the least-disturbed run: the cost of the work itself | $x_{(1)}$ |
#
# Which to quote? The minimum estimates what the code costs when nothing interferes (the
# benchmarks of this course compare minimums); the median describes what a user sees;
# p90 says how bad the slow runs get, which matters when a request must answer in time.
#
# The percentile rule is NumPy's default (`np.percentile(x, 90)`): at position
# $p = 0.9\,(n-1)$ with $i = \lfloor p \rfloor$, the p90 is
# $x_{(i)} + (p - i)(x_{(i+1)} - x_{(i)})$. For the 8 samples `3 1 4 1 5 9 2 6`
# (sorted `1 1 2 3 4 5 6 9`), $p = 6.3$ and the p90 is $6 + 0.3 \cdot (9 - 6) = 6.9$.
#
# The statistics are a pure function of the samples, in whatever unit the samples have, so
# they can be tested without timing anything. They come back as a `TimingStats`:

# %%
#| export
@dataclass(frozen=True)
class TimingStats:
    """A summary of repeated measurements, in the unit of the samples (seconds for a ``Timer``)."""

    count: int
    mean: float
    median: float
    p90: float
    std: float
    min: float
    max: float

    def describe(self, unit: str = "ms") -> str:
        """One line for samples in seconds, shown in ``unit`` ("s", "ms" or "us")."""
        scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
        return (f"median {self.median * scale:.3f} {unit}, mean {self.mean * scale:.3f}, p90 {self.p90 * scale:.3f}, "
                f"std {self.std * scale:.3f}, min {self.min * scale:.3f}, max {self.max * scale:.3f} ({self.count} runs)")


# %% [markdown]
# ### Your task: `timing_stats`

# %% nbgrader={"grade": false, "grade_id": "impl-timing-stats", "locked": false, "solution": true, "schema_version": 3}
#| export
def timing_stats(samples: Sequence[float]) -> TimingStats:
    """The ``TimingStats`` of ``samples`` (a non-empty sequence of numbers), as Python floats and an int count.

    ``median``: the middle sorted sample, the mean of the two middle ones for an even count;
    ``p90``: linear interpolation at position ``0.9 * (n - 1)`` of the sorted samples;
    ``std``: the sample standard deviation (divide by ``n - 1``), 0.0 for a single sample.
    ValueError mentioning "at least one sample" for an empty sequence.
    Hint: turn the samples into a float64 array; NumPy has a function for every statistic
    (look at ``np.percentile`` and the ``ddof`` argument of ``std``).
    """
    ### BEGIN SOLUTION
    values = np.asarray(samples, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("timing_stats needs at least one sample, got none")
    return TimingStats(
        count=int(values.size),
        mean=float(values.mean()),
        median=float(np.median(values)),
        p90=float(np.percentile(values, 90)),
        std=float(values.std(ddof=1)) if values.size > 1 else 0.0,
        min=float(values.min()),
        max=float(values.max()),
    )
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-timing-stats", "locked": true, "points": 2, "solution": false, "schema_version": 3}
from tinytorch.tensor import error_name, expect_error, observe, unseen_rng

stats = timing_stats([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
assert isinstance(stats, TimingStats), f"timing_stats: return a TimingStats, got {type(stats).__name__}"
assert isinstance(stats.count, int) and stats.count == 8, f"timing_stats: count is the number of samples as an int (8), got {stats.count!r}"
assert math.isclose(stats.mean, 3.875), f"timing_stats: the mean of 3 1 4 1 5 9 2 6 is 3.875, got {stats.mean}"
assert math.isclose(stats.median, 3.5), (
    f"timing_stats: the median of an even number of samples is the mean of the two middle sorted ones "
    f"(3 and 4 here: 3.5), got {stats.median}"
)
assert math.isclose(stats.p90, 6.9), (
    f"timing_stats: p90 interpolates linearly between the sorted samples at position 0.9 * (n - 1) = 6.3, "
    f"so 6 + 0.3 * (9 - 6) = 6.9; got {stats.p90}"
)
assert math.isclose(stats.std, math.sqrt(52.875 / 7)), (
    f"timing_stats: std is the sample standard deviation, which divides the squared deviations by n - 1 "
    f"(sqrt(52.875 / 7) = {math.sqrt(52.875 / 7):.6f}), got {stats.std}"
)
assert (stats.min, stats.max) == (1.0, 9.0), f"timing_stats: min 1.0 and max 9.0, got {stats.min} and {stats.max}"
single = timing_stats([0.25])
assert (single.count, single.mean, single.median, single.p90, single.std) == (1, 0.25, 0.25, 0.25, 0.0), (
    f"timing_stats of one sample: every statistic is that sample and std is 0.0, got {single}"
)
expect_error(ValueError, lambda: timing_stats([]), "at least one sample", what="timing_stats([])")

# Graded: the same function on samples drawn for each graded run, compared with the reference.
rng = unseen_rng("test-timing-stats")
for size in (int(rng.integers(2, 9)), int(rng.integers(10, 40))):
    drawn = timing_stats(list(rng.lognormal(-4.0, 0.6, size)))
    observe("timing_stats: count", int(drawn.count))
    observe("timing_stats: mean, median, p90, std, min, max",
            np.array([drawn.mean, drawn.median, drawn.p90, drawn.std, drawn.min, drawn.max], dtype=np.float64), rtol=1e-9, atol=0.0)


# %% [markdown]
# ### Timing with warm-up and repeats
#
# A timing loop has two phases. **Warm-up** calls run first and are not timed: the first
# call of a function pays one-time costs (memory pages touched for the first time, lazy
# imports, BLAS threads starting, caches filling) that no later call pays. Then **repeats**:
# each call is timed on its own, so that every call gives one sample:
#
# ```
#   warm-up (untimed)      repeats (each timed on its own)
#   fn() fn()              t0=clock() fn() t1=clock()   t0=clock() fn() t1=clock()   ...
#                          sample 1 = t1 - t0           sample 2 = t1 - t0
# ```
#
# The clock is a parameter: a function that returns the time in **nanoseconds** as an
# integer. The real one is `time.perf_counter_ns` (a monotonic clock: it never goes back when
# the system clock is adjusted, and an integer of nanoseconds loses no precision). A test
# passes a *fake* clock instead, one that moves only when the test says so, so that its
# numbers are exact and the same on every machine.
#
# The tests below use two read-only helpers: `FakeClock`, which returns its `now` and moves
# only by `advance(ns)`, and `ScriptedWork`, a stand-in for a function to time whose call
# number $k$ advances the clock by `durations[k]` nanoseconds.

# %% nbgrader={"grade": false, "grade_id": "given-fake-clock", "locked": true, "solution": false, "schema_version": 3}
class FakeClock:
    """A clock for tests, in nanoseconds: reading it never moves it; ``advance(ns)`` does."""

    def __init__(self, start: int = 10_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> None:
        self.now += int(ns)


class ScriptedWork:
    """Stands in for a function to time: call number k advances ``clock`` by ``durations[k]`` ns."""

    def __init__(self, clock: FakeClock, durations: Sequence[int]) -> None:
        self.clock, self.durations, self.calls = clock, [int(d) for d in durations], 0

    def __call__(self) -> None:
        self.clock.advance(self.durations[self.calls])
        self.calls += 1


# %% [markdown]
# ### Your task: `time_calls`

# %% nbgrader={"grade": false, "grade_id": "impl-time-calls", "locked": false, "solution": true, "schema_version": 3}
#| export
def time_calls(fn: Callable[[], object], warmup: int, repeats: int, clock: Callable[[], int]) -> list[int]:
    """Call ``fn()`` ``warmup`` times untimed, then ``repeats`` times, each timed on its own.

    Returns the ``repeats`` samples ``clock() after - clock() before`` of the timed calls, in
    order (nanoseconds for a nanosecond clock). ValueError naming ``warmup`` when it is
    negative, naming ``repeats`` when it is below 1 (checked before any call).
    Hint: read the clock right before and right after each timed call, nothing else in between.
    """
    ### BEGIN SOLUTION
    if warmup < 0:
        raise ValueError(f"time_calls: warmup must be >= 0, got {warmup}")
    if repeats < 1:
        raise ValueError(f"time_calls: repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = clock()
        fn()
        samples.append(clock() - start)
    return samples
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-time-calls", "locked": true, "points": 2, "solution": false, "schema_version": 3}
clock = FakeClock()
work = ScriptedWork(clock, [500, 700, 100, 120, 90])
samples = time_calls(work, warmup=2, repeats=3, clock=clock)
assert work.calls == 5, f"time_calls: call fn warmup + repeats = 2 + 3 = 5 times, it was called {work.calls} times"
assert len(samples) == 3, (
    f"time_calls: one sample per timed call (repeats=3), without the 2 warm-up calls; got {len(samples)} samples {samples}"
)
assert list(samples) == [100, 120, 90], (
    f"time_calls: the timed calls took 100, 120 and 90 ns, each measured on its own; got {list(samples)}"
)
clock, work = FakeClock(), ScriptedWork(FakeClock(), [1])
expect_error(ValueError, lambda: time_calls(work, 0, 0, clock), "repeats", what="time_calls(fn, warmup=0, repeats=0, clock)")
expect_error(ValueError, lambda: time_calls(work, -1, 3, clock), "warmup", what="time_calls(fn, warmup=-1, repeats=3, clock)")
assert work.calls == 0, "time_calls: check warmup and repeats before calling fn"

# Graded: durations, warm-up and repeats drawn for each graded run, compared with the reference.
rng = unseen_rng("test-time-calls")
warmup, repeats = int(rng.integers(0, 4)), int(rng.integers(1, 7))
clock = FakeClock(int(rng.integers(0, 10**9)))
work = ScriptedWork(clock, rng.integers(1, 10**6, size=warmup + repeats))
observe("time_calls: the samples", np.asarray(time_calls(work, warmup, repeats, clock), dtype=np.int64))
observe("time_calls: calls of fn", work.calls)


# %% [markdown]
# The `Timer` puts both functions behind PyTorch-like conveniences. Its **callable form**
# runs the warm-up and the repeats and returns the statistics in seconds (the garbage
# collector is paused while it times, as Python's `timeit` does, so a collection that one
# call triggered is not billed to another). Its **context-manager form** times one block
# and adds one sample:
#
# ```python
# stats = Timer(warmup=2, repeats=20)(model, batch)   # TimingStats in seconds
# timer = Timer()
# with timer:
#     model(batch)
# timer.elapsed, timer.stats()
# ```

# %%
#| export
class Timer:
    """Times code with warm-up runs and repeats; ``clock()`` returns nanoseconds (``time.perf_counter_ns``).

    Callable form: ``Timer(warmup, repeats)(fn, *args, **kwargs)`` calls ``fn`` ``warmup`` times
    untimed, then ``repeats`` timed calls, with the garbage collector paused, and returns their
    ``TimingStats`` in seconds (the samples replace ``samples_ns``). Context-manager form:
    ``with timer: ...`` times the block once and appends one sample; ``timer.elapsed`` is the
    last one in seconds and ``timer.stats()`` summarizes all of them.
    """

    def __init__(self, warmup: int = 1, repeats: int = 10, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        if warmup < 0 or repeats < 1:
            raise ValueError(f"Timer: need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
        self.warmup, self.repeats, self.clock = warmup, repeats, clock
        self.samples_ns: list[int] = []
        self._start: int | None = None

    def __call__(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> TimingStats:
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self.samples_ns = list(time_calls(lambda: fn(*args, **kwargs), self.warmup, self.repeats, self.clock))
        finally:
            if gc_was_enabled:
                gc.enable()
        return self.stats()

    def __enter__(self) -> Timer:
        self._start = self.clock()
        return self

    def __exit__(self, *exc_info: object) -> None:
        end = self.clock()
        if self._start is not None:
            self.samples_ns.append(end - self._start)
        self._start = None

    @property
    def elapsed(self) -> float:
        """Seconds of the last sample."""
        if not self.samples_ns:
            raise RuntimeError("Timer.elapsed: nothing timed yet; use `with timer:` or call timer(fn)")
        return self.samples_ns[-1] / 1e9

    def stats(self) -> TimingStats:
        """``TimingStats`` of all samples, in seconds."""
        if not self.samples_ns:
            raise RuntimeError("Timer.stats: nothing timed yet; use `with timer:` or call timer(fn)")
        return timing_stats([ns / 1e9 for ns in self.samples_ns])


# %% [markdown]
# ### How much do runs of the same forward pass differ?
#
# The trained GPT of Module 14 (`load_pretrained()`), one forward pass over a batch of
# 4 sequences of 64 tokens from the validation stories, without gradients: first its very
# first call alone, then 20 timed calls after 2 warm-ups. The spread is this machine's,
# today: another run prints other numbers, which is the point.

# %%
from tinytorch.autograd import no_grad
from tinytorch.models.gpt import load_pretrained
from tinytorch.text import load_corpus

reference, tokenizer = load_pretrained()
config = reference.config
val_tokens = np.asarray(tokenizer.encode(load_corpus("val")[:6000]), dtype=np.int64)
batch = val_tokens[: 4 * 64].reshape(4, 64)

with no_grad():
    first_call = Timer(warmup=0, repeats=1)(reference, batch)
    forward_stats = Timer(warmup=2, repeats=20)(reference, batch)
print(f"GPT forward, batch {batch.shape}: the first call alone {first_call.min * 1e3:.2f} ms")
print(f"then 20 timed calls: {forward_stats.describe('ms')}")
print(f"slowest / fastest: {forward_stats.max / forward_stats.min:.2f}x; p90 / median: {forward_stats.p90 / forward_stats.median:.2f}x")


# %% [markdown]
# Compare the slowest run with the fastest, and the first call with the median: a single
# run could have been any of them. From here on, every time this module prints sums up
# many calls: repeated runs, or every call of an op in a profile.
#
# ## 2. Memory
#
# Time is one budget; memory is the other. Training a model holds four kinds of arrays:
#
# | what | size | lives |
# |---|---|---|
# | parameters | the model | always |
# | gradients | one per parameter that has one | from `backward()` to `zero_grad()` |
# | optimizer state | SGD with momentum: 1 per parameter; Adam/AdamW: 2 (the moment estimates) | from the first `step()` on |
# | activations | every op output the graph keeps for the backward pass | from forward to backward |
#
# The first three can be counted from the arrays themselves. Activations are created and
# freed while a call runs, so they are *measured*: Python's `tracemalloc` module records
# every allocation made through Python's allocator, and NumPy reports its array buffers to
# it. `tracemalloc.start()` begins tracing, `tracemalloc.get_traced_memory()` returns
# `(current, peak)` bytes, `tracemalloc.reset_peak()` sets the peak to the current value,
# `tracemalloc.stop()` ends tracing and forgets everything.
#
# The peak a call allocates is its peak *above* what was allocated when it started. If
# someone is already tracing (an outer measurement), use their tracing and leave it on;
# otherwise start it and stop it again, even when the call raises.
#
# ### Your task: `peak_bytes`

# %% nbgrader={"grade": false, "grade_id": "impl-peak-bytes", "locked": false, "solution": true, "schema_version": 3}
#| export
def peak_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``(fn(), peak)``: ``peak`` is the most memory traced while ``fn`` ran, in bytes above what
    was traced when it started (``tracemalloc``, which sees NumPy's arrays).

    Starts tracemalloc if it is not tracing and then stops it at the end, also when ``fn``
    raises; leaves it on if it was already tracing.
    Hint: ``tracemalloc.is_tracing()``, ``reset_peak()`` and ``get_traced_memory()``, which
    returns ``(current, peak)``; a ``try``/``finally`` for the stop.
    """
    ### BEGIN SOLUTION
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started_here:
            tracemalloc.stop()
    return result, peak - before
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-peak-bytes", "locked": true, "points": 2, "solution": false, "schema_version": 3}
import tracemalloc


def allocate_and_free(count: int) -> float:
    """Allocates ``count`` float64 numbers (8 * count bytes), frees them, returns a small float."""
    temporary = np.ones(count)
    return float(temporary[:10].sum())


SLACK = 65_536  # bytes of Python objects a call may allocate besides its arrays
assert not tracemalloc.is_tracing(), "tracemalloc is tracing already: restart the kernel, then run the cells in order"
result, peak = peak_bytes(lambda: allocate_and_free(250_000))
assert result == 10.0, f"peak_bytes: return fn's result first, got {result!r}"
assert 2_000_000 <= peak < 2_000_000 + SLACK, (
    f"peak_bytes: a call that allocates 2,000,000 bytes and frees them before it returns peaks about 2,000,000 bytes "
    f"above its start; got {peak} (measure the peak, not what is still allocated at the end)"
)
assert not tracemalloc.is_tracing(), "peak_bytes: stop tracemalloc at the end when you started it"
_ = expect_error(ZeroDivisionError, lambda: peak_bytes(lambda: 1 / 0), what="peak_bytes of a call that divides by zero")
assert not tracemalloc.is_tracing(), "peak_bytes: stop tracemalloc also when fn raises (try/finally)"
tracemalloc.start()
held = np.ones(500_000)  # 4,000,000 bytes traced before the measurement starts
_, nested_peak = peak_bytes(lambda: allocate_and_free(125_000))
still_tracing = tracemalloc.is_tracing()
tracemalloc.stop()
assert 1_000_000 <= nested_peak < 1_000_000 + SLACK, (
    f"peak_bytes inside an outer tracemalloc run: 1,000,000 bytes above what was traced when the call started "
    f"(subtract get_traced_memory()[0] read at the start, and reset_peak() first); got {nested_peak}"
)
assert still_tracing, "peak_bytes: leave tracemalloc on when it was already tracing before the call"

# Graded: sizes drawn for each graded run, compared with the reference (within 64 KiB).
rng = unseen_rng("test-peak-bytes")
for count in rng.integers(100_000, 400_000, size=2):
    observe("peak_bytes of a call allocating and freeing an array", float(peak_bytes(lambda: allocate_and_free(int(count)))[1]),
            rtol=0.0, atol=float(SLACK))
kept: list[np.ndarray] = []
count = int(rng.integers(50_000, 200_000))
observe("peak_bytes of a call keeping an array", float(peak_bytes(lambda: kept.append(np.ones(count)))[1]), rtol=0.0, atol=float(SLACK))
observe("peak_bytes: tracing after the calls", bool(tracemalloc.is_tracing()))


# %% [markdown]
# ### The bytes of training
#
# Parameters, gradients and optimizer state are arrays you can add up: `p.nbytes` for each
# parameter, `p.grad.nbytes` for each gradient that exists (a parameter whose `grad` is
# `None` holds none), and the arrays in `optimizer.state`, Module 06's per-parameter
# dictionaries (`{"exp_avg": Tensor, "exp_avg_sq": Tensor, "step": 3}` for Adam; the step
# counter is a number, not an array, and is not counted). `model.parameters()` lists a
# shared (tied) parameter once, so it is counted once.
#
# ### Your task: `training_memory_bytes`

# %% nbgrader={"grade": false, "grade_id": "impl-training-memory", "locked": false, "solution": true, "schema_version": 3}
#| export
def training_memory_bytes(model: Module, optimizer: Any = None) -> dict[str, int]:
    """Bytes held for training ``model``: ``{"parameters", "gradients", "optimizer_state", "total"}`` (ints).

    ``parameters``: every parameter of ``model.parameters()`` (a tied one once); ``gradients``:
    ``p.grad.nbytes`` of the parameters whose ``grad`` is not None; ``optimizer_state``: the
    Tensors and NumPy arrays in ``optimizer.state``'s dictionaries (0 without an optimizer);
    ``total``: the sum of the three.
    Hint: ``optimizer.state`` maps each parameter to a dict; look at each value's type.
    """
    ### BEGIN SOLUTION
    params = list(model.parameters())
    parameters = sum(p.nbytes for p in params)
    gradients = sum(p.grad.nbytes for p in params if p.grad is not None)
    state = 0
    if optimizer is not None:
        for entries in optimizer.state.values():
            for value in entries.values():
                if isinstance(value, (Tensor, np.ndarray)):
                    state += value.nbytes
    return {"parameters": int(parameters), "gradients": int(gradients), "optimizer_state": int(state),
            "total": int(parameters + gradients + state)}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-training-memory", "locked": true, "points": 2, "solution": false, "schema_version": 3}
import tinytorch.autograd  # noqa: F401  (gradients for .backward())
from tinytorch.nn.layers import Sequential
from tinytorch.optim import SGD, Adam

layer = Linear(3, 4)  # weight (4, 3) and bias (4,): 16 float32 numbers, 64 bytes
memory = training_memory_bytes(layer)
assert memory == {"parameters": 64, "gradients": 0, "optimizer_state": 0, "total": 64}, (
    f"training_memory_bytes(Linear(3, 4)) before any backward: 64 bytes of parameters, no gradients (grad is None), "
    f"no optimizer; got {memory}"
)
adam = Adam(layer.parameters(), lr=0.1)
layer(Tensor(np.ones((2, 3), dtype=np.float32))).sum().backward()
adam.step()
memory = training_memory_bytes(layer, adam)
assert memory["gradients"] == 64, f"training_memory_bytes: after backward every parameter has a gradient of its size (64 bytes), got {memory}"
assert memory["optimizer_state"] == 128, (
    f"training_memory_bytes: Adam keeps two arrays per parameter (exp_avg, exp_avg_sq), 2 x 64 = 128 bytes; its step "
    f"counter is a number, not an array; got {memory}"
)
assert memory["total"] == 256 and all(isinstance(v, int) for v in memory.values()), f"training_memory_bytes: total = 64 + 64 + 128 as ints, got {memory}"
tied = Sequential(layer, Linear(4, 3))
tied[1].weight = layer.weight  # shapes (4, 3) and (3, 4) differ, but parameters() lists a shared Parameter once
assert training_memory_bytes(tied)["parameters"] == 64 + 12, (
    "training_memory_bytes: a parameter shared by two layers counts once (model.parameters() lists it once)"
)

# Graded: layer sizes and an optimizer drawn for each graded run, compared with the reference.
rng = unseen_rng("test-training-memory")
inputs, hidden = (int(n) for n in rng.integers(1, 20, size=2))
model = Sequential(Linear(inputs, hidden), Linear(hidden, 2, bias=bool(rng.integers(0, 2))))
optimizer = (Adam if rng.integers(0, 2) else lambda ps, lr: SGD(ps, lr=lr, momentum=0.9))(list(model.parameters()), lr=0.01)
observe("training_memory_bytes before backward", [training_memory_bytes(model, optimizer)[k] for k in ("parameters", "gradients", "optimizer_state", "total")])
model[0].weight.requires_grad = False  # a frozen weight gets no gradient
model(Tensor(rng.standard_normal((3, inputs)).astype(np.float32))).sum().backward()
optimizer.step()
observe("training_memory_bytes after a step", [training_memory_bytes(model, optimizer)[k] for k in ("parameters", "gradients", "optimizer_state", "total")])

# %% [markdown]
# The `MemoryProfiler` gathers the measurements: the peak of a call (your `peak_bytes`),
# the bytes of training (your `training_memory_bytes`), an **estimate** of a forward pass's
# activations from shapes alone (a dispatch observer adds up `bytes_for(out.shape,
# out.dtype)`, Module 01's function, for the output of every op that computes a new array;
# reshapes, permutes and head splits return views of their input and cost nothing), and the
# resident set size of the whole process (RSS, from `psutil`: the memory the operating
# system has given the process, Python, NumPy and everything imported included).

# %%
#| export
VIEW_OPS = frozenset({"reshape", "permute", "split_heads"})  # ops whose output is a view of their input


class _OutputBytes:
    """A dispatch observer adding up the bytes of the new arrays ops return."""

    def __init__(self) -> None:
        self.total = 0

    def before(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any]) -> None:
        pass

    def after(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any], out: Tensor) -> None:
        if op not in VIEW_OPS:
            self.total += bytes_for(out.shape, out.dtype)


class MemoryProfiler:
    """Memory of a computation: a call's peak (tracemalloc), the bytes of training, an activation
    estimate from shapes, and the process's resident set size (psutil)."""

    def peak(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
        """Peak bytes ``fn(*args, **kwargs)`` allocates above what was allocated when it started."""
        return peak_bytes(lambda: fn(*args, **kwargs))[1]

    def training_memory(self, model: Module, optimizer: Any = None) -> dict[str, int]:
        """Bytes of parameters, gradients and optimizer state (``training_memory_bytes``)."""
        return training_memory_bytes(model, optimizer)

    def activation_estimate(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
        """``(fn(*args, **kwargs), bytes)``: the bytes of every new op output while ``fn`` runs,
        from their shapes and dtypes (the most a recorded graph can keep alive)."""
        counter = _OutputBytes()
        add_observer(counter)
        try:
            result = fn(*args, **kwargs)
        finally:
            remove_observer(counter)
        return result, counter.total

    @staticmethod
    def rss_bytes() -> int:
        """Resident set size of this process (psutil)."""
        import psutil  # imported here: only this method needs it

        return int(psutil.Process().memory_info().rss)


# %% [markdown]
# ### What training the GPT holds
#
# The reference GPT with AdamW after one training step on the batch above, then the
# activations of one forward pass with gradients on: estimated from shapes, and measured as
# the peak of the call with `tracemalloc` (the logits, and the graph behind them, are kept
# until the measurement ends, as they are until `backward()` in training).

# %%
from tinytorch.nn.functional import cross_entropy
from tinytorch.optim import AdamW

memory_profiler = MemoryProfiler()
trained, _ = load_pretrained()  # a copy to train: the reference stays as it was
trained.train()
adamw = AdamW(trained.parameters(), lr=1e-4)
targets = Tensor(val_tokens[1 : 4 * 64 + 1].reshape(4, 64), dtype=np.int64)


def training_loss(model: Module, inputs: np.ndarray, labels: Tensor) -> Tensor:
    """Mean next-token cross-entropy of ``model`` on ``inputs`` (B, T) against ``labels`` (B, T)."""
    logits = model(inputs)
    return cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


training_loss(trained, batch, targets).backward()
adamw.step()
held_bytes = memory_profiler.training_memory(trained, adamw)
for part, size in held_bytes.items():
    print(f"{part:>16}: {size / 2**20:6.2f} MiB")
logits, estimate = memory_profiler.activation_estimate(trained, batch)
del logits
measured = memory_profiler.peak(lambda: trained(batch))
print(f"activations of one forward pass of {batch.shape}: estimated from shapes {estimate / 2**20:.2f} MiB, "
      f"measured peak {measured / 2**20:.2f} MiB ({measured / estimate:.2f}x the estimate)")
print(f"the whole process (RSS): {MemoryProfiler.rss_bytes() / 2**20:.0f} MiB")
adamw.zero_grad()


# %% [markdown]
# Read the printed lines against each other: AdamW's state is twice the parameters, as its
# two moment estimates per parameter say it must. The activations of a single forward pass
# of 256 tokens already take several times the bytes of all the weights, and they grow
# with the batch and with the sequence length (attention's probabilities grow with its
# square), while the weights do not. The estimate counts every op output once; the
# measured peak also holds what the ops keep beside their outputs for the backward pass
# and the temporaries inside the kernels, so the two differ by the ratio the cell printed.
# And the process as a whole is dominated by Python and the libraries it imported, not by
# this model.
#
# ## 3. Counting FLOPs
#
# Time depends on the machine; the amount of arithmetic does not. A **FLOP** is one
# floating-point operation, and the convention used here, as in PyTorch's
# `torch.utils.flop_counter`, is:
#
# - **a multiply-add counts as 2 FLOPs**, so a product of an $(M, K)$ and a $(K, N)$ matrix
#   costs $2MNK$;
# - **only the contractions are counted**: matmuls, `Linear`, convolutions and attention.
#   Elementwise ops, reductions, softmax and normalization cost $O(\text{elements})$ against
#   their $O(\text{elements} \times K)$, and are left out (their cost is time spent moving
#   memory, which the profiler measures directly);
# - **a bias is not counted** (PyTorch's `addmm` counts only its matrix product);
# - **what the kernel computes is counted**: causal attention computes the full
#   $L \times S$ score matrix and masks half of it afterwards, so both halves count.
#
# Per op, from the shapes of its inputs and its output:
#
# | op | inputs | output | FLOPs |
# |---|---|---|---|
# | `matmul` | $a$ `(..., M, K)`, $b$ `(..., K, N)` (1-D operands allowed) | `(..., M, N)` | $2 \cdot \text{size(out)} \cdot K$ |
# | `linear` | $x$ `(..., in)`, $W$ `(out, in)`, bias `(out,)` | `(..., out)` | $2 \cdot \text{size(out)} \cdot \text{in}$ |
# | `conv2d` | $x$ `(N, C, H, W)`, $W$ `(O, C, kh, kw)`, bias | `(N, O, OH, OW)` | $2 \cdot \text{size(out)} \cdot C\,kh\,kw$ |
# | `attention` | $q$ `(..., L, E)`, $k$ `(..., S, E)`, $v$ `(..., S, Ev)` | `(..., L, Ev)` | $2 \cdot \text{batch} \cdot L S E + 2 \cdot \text{batch} \cdot L S E_v$ |
# | anything else | | | 0 |
#
# Attention is two matrix products per head: the scores $QK^\top$ ($L \times S$, each a
# dot product of length $E$) and the weighted sum $PV$ ($L \times E_v$, each a sum over
# $S$). "batch" is the product of the leading dimensions of the output (batch × heads).
# `size(out)` is the number of elements of the output (1 for a 0-d output: a dot product of
# two vectors).
#
# ### Your task: `op_flops`

# %% nbgrader={"grade": false, "grade_id": "impl-op-flops", "locked": false, "solution": true, "schema_version": 3}
#| export
def op_flops(op: str, input_shapes: Sequence[tuple[int, ...]], output_shape: tuple[int, ...]) -> int:
    """FLOPs of one op (a multiply-add is 2) from its inputs' shapes and its output's shape, as a Python int.

    ``matmul``: ``2 * size(out) * K`` with ``K = input_shapes[0][-1]``; ``linear``:
    ``2 * size(out) * in`` with the weight ``(out, in)`` second; ``conv2d``:
    ``2 * size(out) * C * kh * kw`` from the weight ``(O, C, kh, kw)``; ``attention``:
    ``2 * batch * L * S * (E + Ev)`` for ``q (..., L, E)``, ``k (..., S, E)``,
    ``v (..., S, Ev)``; every other op: 0. Biases are not counted.
    Hint: ``math.prod(shape)`` is the number of elements (1 for ``()``); for attention, ``S`` is
    the key's second to last size and everything before ``L`` in the output is the batch.
    """
    ### BEGIN SOLUTION
    out_size = math.prod(output_shape)
    if op == "matmul":
        return 2 * out_size * int(input_shapes[0][-1])
    if op == "linear":
        return 2 * out_size * int(input_shapes[1][1])
    if op == "conv2d":
        return 2 * out_size * math.prod(input_shapes[1][1:])
    if op == "attention":
        query, key, value = input_shapes[:3]
        rows = math.prod(output_shape[:-1])  # batch x heads x L
        return 2 * rows * int(key[-2]) * (int(query[-1]) + int(value[-1]))
    return 0
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-op-flops", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks = [
    ("matmul", [(2, 3), (3, 4)], (2, 4), 2 * 2 * 4 * 3,
     "a (2, 3) @ (3, 4) product is 2 * 4 dot products of length 3, and a multiply-add is 2 FLOPs: 2 * 2 * 4 * 3"),
    ("matmul", [(5, 2, 3), (3, 4)], (5, 2, 4), 5 * 2 * 2 * 4 * 3,
     "a batched (5, 2, 3) @ (3, 4) product counts every batch: 2 * size(out) * K"),
    ("matmul", [(3,), (3,)], (), 2 * 3, "the dot product of two vectors of length 3 (a 0-d output): 2 * 1 * 3"),
    ("linear", [(8, 16), (32, 16), (32,)], (8, 32), 2 * 8 * 32 * 16,
     "linear of x (8, 16) with a weight (out=32, in=16): 2 * size(out) * in_features, where the weight is (out, in); the bias is not counted"),
    ("linear", [(2, 3, 16), (32, 16)], (2, 3, 32), 2 * 6 * 32 * 16, "linear of x (2, 3, 16) without bias: every row of every batch"),
    ("conv2d", [(2, 3, 8, 8), (4, 3, 3, 3), (4,)], (2, 4, 6, 6), 2 * (2 * 4 * 6 * 6) * (3 * 3 * 3),
     "conv2d: every output element is a dot product of length C * kh * kw = 27"),
    ("attention", [(2, 4, 5, 8), (2, 4, 7, 8), (2, 4, 7, 6)], (2, 4, 5, 6), 2 * 8 * 5 * 7 * 8 + 2 * 8 * 5 * 7 * 6,
     "attention is two matmuls per (batch, head): the scores q k^T (2 * L * S * E) and the weighted sum of the values (2 * L * S * Ev)"),
    ("add", [(4, 4), (4, 4)], (4, 4), 0, "an elementwise op such as add is not counted (0)"),
    ("gelu", [(4, 4)], (4, 4), 0, "gelu is not a contraction: 0"),
]
for op, shapes, out_shape, expected, reason in checks:
    got = op_flops(op, shapes, out_shape)
    assert isinstance(got, int) and not isinstance(got, bool), f"op_flops({op!r}, ...): return a Python int, got {type(got).__name__}"
    assert got == expected, f"op_flops({op!r}, {shapes}, {out_shape}) = {expected}: {reason}; got {got}"

# Graded: shapes drawn for each graded run, compared with the reference.
rng = unseen_rng("test-op-flops")
batch_size, m, k, n = (int(v) for v in rng.integers(1, 30, size=4))
observe("op_flops matmul", op_flops("matmul", [(batch_size, m, k), (batch_size, k, n)], (batch_size, m, n)))
observe("op_flops matmul of a vector", op_flops("matmul", [(k,), (k, n)], (n,)))
observe("op_flops linear", op_flops("linear", [(batch_size, m, k), (n, k), (n,)], (batch_size, m, n)))
channels, out_channels, size, kernel = (int(v) for v in rng.integers([1, 1, 4, 1], [6, 6, 12, 4]))
observe("op_flops conv2d", op_flops("conv2d", [(batch_size, channels, size, size), (out_channels, channels, kernel, kernel)],
                                    (batch_size, out_channels, size - kernel + 1, size - kernel + 1)))
heads, queries, keys, e, ev = (int(v) for v in rng.integers(1, 12, size=5))
observe("op_flops attention", op_flops("attention", [(batch_size, heads, queries, e), (batch_size, heads, keys, e), (batch_size, heads, keys, ev)],
                                       (batch_size, heads, queries, ev)))
observe("op_flops of an elementwise op", op_flops("mul", [(m, n), (m, n)], (m, n)))

# %% [markdown]
# ### The `FLOPCounter`
#
# Given: a dispatch observer that calls your `op_flops` after every op, with the shapes of
# its inputs and output, and adds the count to a total. Per layer, it uses Module 04's
# forward hooks: a pre-hook pushes the module's name onto a stack when the module is
# called, a forward hook pops it, and every op adds its FLOPs to every module on the stack
# (so a module's count includes its children's, as in PyTorch's `FlopCounterMode`). Its
# API mirrors that class: `get_total_flops()` and `get_flop_counts()`, a dictionary from
# `"Global"` and each module's dotted name to FLOPs by op. Everything is attached on
# `__enter__` and removed on `__exit__`, also on an error, so nothing outlives the `with`.

# %%
#| export
GLOBAL = "Global"  # the name of the whole count in get_flop_counts(), as PyTorch's FlopCounterMode


def module_label(name: str, module: Module) -> str:
    """The name a profile shows for a module: its dotted name, or its class name for the root."""
    return name or type(module).__name__


class FLOPCounter:
    """Counts the FLOPs (``op_flops``) of every op dispatched while active, in total, by op and per module.

    ``with FLOPCounter(model) as counter: model(x)``; then ``counter.get_total_flops()`` and
    ``counter.get_flop_counts()`` (``{"Global": {op: n}, "blocks.0.attn": {op: n}, ...}``; a
    module's counts include its children's). Without ``model``, only the total and "Global".
    """

    def __init__(self, model: Module | None = None) -> None:
        self.model = model
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._stack: list[str] = []
        self._handles: list[Any] = []
        self._active = False

    def __enter__(self) -> FLOPCounter:
        if self._active:
            raise RuntimeError("FLOPCounter is already counting: a counter can be entered once at a time")
        self._active = True
        self._stack.clear()
        try:
            if self.model is not None:
                for name, module in self.model.named_modules():
                    self._handles.append(module.register_forward_pre_hook(self._pusher(module_label(name, module))))
                    self._handles.append(module.register_forward_hook(self._pop))
            add_observer(self)
        except BaseException:
            self._remove_hooks()
            self._active = False
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            remove_observer(self)
        finally:
            self._remove_hooks()
            self._active = False

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _pusher(self, label: str) -> Callable[[Module, tuple[Any, ...]], None]:
        def push(module: Module, args: tuple[Any, ...]) -> None:
            self._stack.append(label)

        return push

    def _pop(self, module: Module, args: tuple[Any, ...], output: Any) -> None:
        if self._stack:
            self._stack.pop()

    def before(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any]) -> None:
        pass

    def after(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any], out: Tensor) -> None:
        flops = op_flops(op, [t.shape for t in inputs], out.shape)
        if flops:
            self.counts[GLOBAL][op] += flops
            for label in set(self._stack):  # a module called inside itself counts once
                self.counts[label][op] += flops

    def get_total_flops(self) -> int:
        """All FLOPs counted so far."""
        return int(sum(self.counts[GLOBAL].values())) if GLOBAL in self.counts else 0

    def get_flop_counts(self) -> dict[str, dict[str, int]]:
        """FLOPs by op for ``"Global"`` and every module that ran ops that count."""
        return {name: dict(ops) for name, ops in self.counts.items()}


# %% [markdown]
# ### Checking the counter against closed forms
#
# A `Linear(in, out)` on $B$ rows is $2B \cdot \text{in} \cdot \text{out}$; a
# `Conv2d(C, O, k)` is $2 \cdot N\,O\,OH\,OW \cdot C k^2$; a `MultiHeadAttention(E, H)`
# on $(B, T, E)$ is its two projections, $2BT \cdot 3E^2 + 2BT \cdot E^2$, plus the
# attention, $4 B T^2 E$ (each of the $H$ heads does $4 T^2 D$ with $D = E/H$). And a
# whole GPT forward pass on $B \times T$ tokens, per token: every weight matrix once,
# $2(12LE^2 + VE)$ (the four matrices of each block, $3E^2 + E^2 + 4E^2 + 4E^2$, and the
# output head $VE$), plus attention over the $T$ positions, $4LTE$. The weight matrices of
# the blocks are nearly all of the non-embedding parameters ($12LE^2$ of $12LE^2 + 13LE +
# 2E$), hence the rule of thumb "2 × the non-embedding parameters + the attention term"
# (Kaplan et al., 2020), to which the output head adds its $2VE$ here.

# %%
from tinytorch.models.gpt import count_parameters_by_component
from tinytorch.nn.conv import Conv2d

cases = []
with FLOPCounter() as counter:
    Linear(96, 384)(Tensor(np.ones((256, 96), dtype=np.float32)))
cases.append(("Linear(96, 384) on 256 rows", counter.get_total_flops(), 2 * 256 * 96 * 384))
with FLOPCounter() as counter:
    Conv2d(16, 32, 3, padding=1)(Tensor(np.ones((64, 16, 4, 4), dtype=np.float32)))
cases.append(("Conv2d(16, 32, 3, padding=1) on (64, 16, 4, 4)", counter.get_total_flops(), 2 * (64 * 32 * 4 * 4) * (16 * 9)))
with FLOPCounter() as counter:
    MultiHeadAttention(96, 4)(Tensor(np.ones((4, 64, 96), dtype=np.float32)), is_causal=True)
cases.append(("MultiHeadAttention(96, 4) on (4, 64, 96)", counter.get_total_flops(),
              2 * 256 * 3 * 96 * 96 + 2 * 256 * 96 * 96 + 4 * 4 * 64 * 64 * 96))
L, E, V, (B, T) = config.n_layer, config.n_embd, config.vocab_size, batch.shape
with no_grad(), FLOPCounter(reference) as gpt_counter:
    reference(batch)
cases.append((f"the reference GPT on {B} x {T} tokens", gpt_counter.get_total_flops(), B * T * (2 * (12 * L * E * E + V * E) + 4 * L * T * E)))
for label, counted, closed_form in cases:
    print(f"{label:<48} counted {counted:>12,}  closed form {closed_form:>12,}  {'equal' if counted == closed_form else 'DIFFERENT'}")
counts = count_parameters_by_component(reference)
non_embedding = counts["total"] - counts["token_embedding"] - counts["position_embedding"]
per_token = gpt_counter.get_total_flops() / (B * T)
print(f"per token: {per_token:,.0f} FLOPs; 2 x {non_embedding:,} non-embedding parameters = {2 * non_embedding:,}, "
      f"+ the head 2VE = {2 * V * E:,}, + attention 4LTE = {4 * L * T * E:,}")
by_module = gpt_counter.get_flop_counts()
print("per layer (block 0):", {name: sum(ops.values()) for name, ops in by_module.items() if name.startswith("blocks.0.")})

# %% [markdown]
# The counter and the closed forms agree to the FLOP, because both count the same
# matrix products from the same shapes. The per-layer line comes from the hooks: block 0's
# attention includes its two projections, its MLP the two `Linear` layers.
#
# ## 4. Where the time goes: the `PerformanceProfiler`
#
# A FLOP count says how much arithmetic a model does; a profile says where its *time* goes,
# which includes everything that is not arithmetic: Python, memory traffic, copies. The
# profiler records **spans**, intervals of time with a name, of three kinds:
#
# - **region**: what you wrap in `with profiler.profile("gpt_forward"):` (PyTorch's
#   `record_function`);
# - **module**: one call of a module (from Module 04's forward pre-hook to its forward hook);
# - **op**: one dispatched op (from the observer's `before` to its `after`).
#
# Spans nest: a region holds module calls, which hold other module calls and ops. Each
# span records the index of the span that encloses it, its **parent** (-1 for a span at
# the top), so the list of spans is a tree, stored in the order the spans started (a parent
# before its children):
#
# ```
#   region "gpt_forward" ├──────────────────────────────────────────────────────────────┤
#   module blocks.0        ├─────────────────────────────┤  module blocks.1  ├────── ...
#   module blocks.0.attn     ├────────────┤
#   op                         ├linear┤├attention┤   ├add┤ ...
# ```
#
# ### Which layer type is an op in?
#
# The report groups time by layer type: **attention**, **feed-forward**, **embedding**,
# **normalization** and **other**. A module class has a type by the table `LAYER_TYPES`
# below (subclasses included); containers (`Sequential`, `ModuleList`, a transformer block,
# the GPT itself) have none. An op belongs to the type of the **outermost** typed module
# among those enclosing it: the `Linear` layers inside `MultiHeadAttention` (`in_proj`,
# `out_proj`) are attention's time, not feed-forward's, because attention encloses them. An
# op enclosed by no typed module (the residual additions of a block, a loss computed
# outside the model) is "other". The GPT's output head is a `Linear` of its own, so it
# counts as feed-forward.

# %%
#| export
LAYER_TYPES: tuple[tuple[type, str], ...] = (
    (MultiHeadAttention, "attention"),
    (Linear, "feed-forward"),
    (Conv2d, "feed-forward"),
    (ReLU, "feed-forward"),
    (GELU, "feed-forward"),
    (Sigmoid, "feed-forward"),
    (Tanh, "feed-forward"),
    (Embedding, "embedding"),
    (PositionalEmbedding, "embedding"),
    (SinusoidalPositionalEncoding, "embedding"),
    (LayerNorm, "normalization"),
    (BatchNorm1d, "normalization"),
    (BatchNorm2d, "normalization"),
)
LAYER_TYPE_NAMES = ("attention", "feed-forward", "embedding", "normalization", "other")


# %% [markdown]
# ### Your task: `classify_layer`

# %% nbgrader={"grade": false, "grade_id": "impl-classify-layer", "locked": false, "solution": true, "schema_version": 3}
#| export
def classify_layer(path: Sequence[Module]) -> str:
    """The layer type of an op enclosed by the modules ``path`` (outermost first).

    The type of the outermost module in ``path`` that is an instance of a class of
    ``LAYER_TYPES`` (a subclass counts: check with ``isinstance``, in the table's order), or
    ``"other"`` when none is (or ``path`` is empty).
    Hint: two loops: over the path from the outside in, then over the ``(class, type)`` pairs.
    """
    ### BEGIN SOLUTION
    for module in path:
        for layer_class, layer_type in LAYER_TYPES:
            if isinstance(module, layer_class):
                return layer_type
    return "other"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-classify-layer", "locked": true, "points": 2, "solution": false, "schema_version": 3}
from tinytorch.nn.layers import Identity, ModuleList


class ScaledLayerNorm(LayerNorm):
    """A subclass of LayerNorm: still a normalization layer."""


attn, fc, norm, emb, act, seq = MultiHeadAttention(8, 2), Linear(8, 8), LayerNorm(8), Embedding(10, 8), GELU("tanh"), Sequential()
assert classify_layer([seq, ModuleList([]), attn, fc]) == "attention", (
    "classify_layer: an op of attn.in_proj (a Linear inside MultiHeadAttention) belongs to attention: the outermost "
    f"module with a type decides; got {classify_layer([seq, ModuleList([]), attn, fc])!r}"
)
assert classify_layer([seq, fc]) == "feed-forward", f"classify_layer: an op inside a Linear is feed-forward, got {classify_layer([seq, fc])!r}"
assert classify_layer([seq, act]) == "feed-forward", "classify_layer: an activation module (GELU) is feed-forward"
assert classify_layer([seq, emb]) == "embedding", "classify_layer: an Embedding is embedding"
assert classify_layer([seq, Identity()]) == "other", "classify_layer: modules without a type (Sequential, Identity) give 'other'"
assert classify_layer([]) == "other", "classify_layer: an op outside every module (an empty path) is 'other'"
assert classify_layer([seq, ScaledLayerNorm(8)]) == "normalization", (
    "classify_layer: a subclass of LayerNorm is a normalization layer too (use isinstance, not type(...) ==)"
)

# Graded: paths drawn for each graded run, compared with the reference.
rng = unseen_rng("test-classify-layer")
pool = [seq, ModuleList([]), attn, fc, norm, emb, act, Identity(), ScaledLayerNorm(8), Conv2d(1, 1, 1)]
paths = [[pool[i] for i in rng.integers(0, len(pool), size=int(rng.integers(0, 5)))] for _ in range(12)]
observe("classify_layer of drawn paths", [classify_layer(path) for path in paths])


# %% [markdown]
# ### Self time
#
# A span's duration includes its children's. To split the total time among layer types
# (or ops, or modules) without counting anything twice, each span is billed only for its
# **self time**: its duration minus the durations of its **direct** children. A
# grandchild's time is already inside its parent's duration, so subtracting it again would
# count it twice. The self times of all spans then add up to the total time of the spans
# at the top, exactly.
#
# ```
#   region [0, 100]                 self 100 - (70 + 10)        = 20
#     module [10, 80]               self  70 - (10 + 30)        = 30
#       op [20, 30]                 self  10
#       op [40, 70]                 self  30
#     op [85, 95]                   self  10          sum: 20 + 30 + 10 + 30 + 10 = 100
# ```
#
# The function also checks that the tree is consistent: a child must lie inside its
# parent's interval (`parent.start <= child.start` and `child.end <= parent.end`), and a
# parent must come before its children in the list. A `Span` is a named tuple, given:

# %%
#| export
class Span(NamedTuple):
    """One timed interval: a region (``profile(name)``), a module call, a dispatched op or a backward formula."""

    kind: str  # "region", "module", "op" or "backward" (an op's gradient formula run by backward())
    name: str  # the region's name, the module's dotted name (its class for the root), or the op
    start_ns: int
    end_ns: int
    parent: int  # index of the enclosing span in the same list; -1 at the top
    module: Any = None  # the Module of a "module" span
    flops: int = 0  # an op's FLOPs, when the profiler counts them
    origin: int = -1  # a "backward" span's forward "op" span (-1 if the forward ran unprofiled)


# %% [markdown]
# ### Your task: `self_times`

# %% nbgrader={"grade": false, "grade_id": "impl-self-times", "locked": false, "solution": true, "schema_version": 3}
#| export
def self_times(spans: Sequence[Span]) -> list[int]:
    """Each span's duration minus the durations of its direct children (``span.parent == i``), in ns.

    ValueError mentioning "outside its parent" when a span does not lie inside its parent's
    interval or its parent does not come before it in ``spans``.
    Hint: start from every span's duration, then walk the spans once: each one with a parent
    takes its own duration off its parent's entry.
    """
    ### BEGIN SOLUTION
    own = [span.end_ns - span.start_ns for span in spans]
    for index, span in enumerate(spans):
        if span.parent < 0:
            continue
        parent = spans[span.parent] if span.parent < index else None
        if parent is None or span.start_ns < parent.start_ns or span.end_ns > parent.end_ns:
            raise ValueError(f"self_times: span {index} ({span.kind} {span.name!r}) lies outside its parent {span.parent}")
        own[span.parent] -= span.end_ns - span.start_ns
    return own
    ### END SOLUTION


# %% [markdown]
# The test draws random trees of spans with a read-only helper, `random_spans`: regions at
# the top, modules inside, ops at the bottom, each child inside its parent, in start order.

# %% nbgrader={"grade": false, "grade_id": "given-random-spans", "locked": true, "solution": false, "schema_version": 3}
def random_spans(rng: np.random.Generator, regions: int = 2, depth: int = 3) -> list[Span]:
    """A random, consistent tree of spans: ``regions`` regions one after the other, modules
    inside them, ops at the bottom; in start order, starting at an arbitrary time."""
    spans: list[Span] = []

    def add(kind: str, start: int, end: int, parent: int, level: int) -> None:
        index = len(spans)
        spans.append(Span(kind, f"{kind}-{index}", start, end, parent))
        children = int(rng.integers(0, 4)) if level < depth and end - start > 16 else 0
        if children:
            cuts = np.sort(rng.choice(np.arange(start, end + 1), size=2 * children, replace=False))
            for child in range(children):
                add("op" if level == depth - 1 else "module", int(cuts[2 * child]), int(cuts[2 * child + 1]), index, level + 1)

    now = int(rng.integers(10**9, 10**12))
    for _ in range(regions):
        length = int(rng.integers(1_000, 100_000))
        add("region", now, now + length, -1, 0)
        now += length + int(rng.integers(0, 1_000))
    return spans


# %% nbgrader={"grade": true, "grade_id": "test-self-times", "locked": true, "points": 2, "solution": false, "schema_version": 3}
example = [
    Span("region", "step", 0, 100, -1),
    Span("module", "block", 10, 80, 0),
    Span("op", "linear", 20, 30, 1),
    Span("op", "gelu", 40, 70, 1),
    Span("op", "add", 85, 95, 0),
]
own = self_times(example)
assert list(own) == [20, 30, 10, 30, 10], (
    f"self_times: the example of the text gives [20, 30, 10, 30, 10], got {list(own)}: each span's duration minus "
    "the durations of its direct children only (a grandchild is already inside its parent's duration)"
)
assert sum(own) == 100, "self_times: the self times add up to the duration of the span at the top"
assert self_times([]) == [], "self_times([]) is []"
broken = [Span("region", "step", 0, 100, -1), Span("op", "late", 90, 120, 0)]
expect_error(ValueError, lambda: self_times(broken), "outside its parent", what="self_times with a child ending after its parent")
early = [Span("region", "step", 10, 100, -1), Span("op", "early", 5, 20, 0)]
expect_error(ValueError, lambda: self_times(early), "outside its parent", what="self_times with a child starting before its parent")

# Graded: random trees drawn for each graded run, compared with the reference.
rng = unseen_rng("test-self-times")
for _ in range(3):
    observe("self_times of a random tree", np.asarray(self_times(random_spans(rng)), dtype=np.int64))


# %% [markdown]
# ### Shares that sum to 100%
#
# A report lists each group's time and its **share** of the total: the group's time
# divided by the sum over all groups. Because every nanosecond belongs to exactly one group
# (each span's self time to the group of that span), the shares sum to 1, that is 100%.
# Rows come sorted from the largest time down, and groups with equal times in the order of
# their names, so that a report is the same on every run that measures the same times.
#
# ### Your task: `shares`

# %% nbgrader={"grade": false, "grade_id": "impl-shares", "locked": false, "solution": true, "schema_version": 3}
#| export
def shares(times: dict[str, float]) -> list[tuple[str, float, float]]:
    """``(name, time, share)`` rows, ``share = time / sum of all times``, sorted by time from the
    largest, equal times by name. ValueError mentioning "negative" for a negative time, and
    "nothing to share" when the times sum to 0 (or there are none).
    Hint: ``sorted`` with a key of two parts: the time negated, then the name.
    """
    ### BEGIN SOLUTION
    if any(value < 0 for value in times.values()):
        raise ValueError(f"shares: times must not be negative, got {times}")
    total = sum(times.values())
    if total <= 0:
        raise ValueError("shares: nothing to share, the times sum to 0")
    ordered = sorted(times.items(), key=lambda item: (-item[1], item[0]))
    return [(name, value, value / total) for name, value in ordered]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-shares", "locked": true, "points": 2, "solution": false, "schema_version": 3}
rows = shares({"attention": 3.0, "other": 0.0, "feed-forward": 5.0, "embedding": 2.0, "normalization": 0.0})
names = [row[0] for row in rows]
assert names == ["feed-forward", "attention", "embedding", "normalization", "other"], (
    f"shares: rows sorted by time from the largest, equal times by name; got {names}"
)
assert np.allclose([row[2] for row in rows], [0.5, 0.3, 0.2, 0.0, 0.0], rtol=1e-12, atol=0.0), (
    f"shares: a share is the group's time over the sum of all times (5 / 10 = 0.5 for feed-forward), got {[row[2] for row in rows]}"
)
assert [row[1] for row in rows] == [5.0, 3.0, 2.0, 0.0, 0.0], "shares: each row keeps its time as the second element"
expect_error(ValueError, lambda: shares({"a": 0.0}), "nothing to share", what="shares of times summing to 0")
expect_error(ValueError, lambda: shares({}), "nothing to share", what="shares of no times")
expect_error(ValueError, lambda: shares({"a": 1.0, "b": -0.5}), "negative", what="shares with a negative time")

# Graded: times drawn for each graded run, compared with the reference.
rng = unseen_rng("test-shares")
drawn = {name: float(value) for name, value in zip(LAYER_TYPE_NAMES, rng.exponential(1.0, size=5))}
drawn["extra"] = drawn["other"]  # a tie, broken by name
rows = shares(drawn)
observe("shares: the order of the rows", [row[0] for row in rows])
observe("shares: the shares", np.array([row[2] for row in rows], dtype=np.float64), rtol=1e-9, atol=1e-12)
observe("shares: the sum of the shares", float(sum(row[2] for row in rows)), rtol=0.0, atol=1e-9)


# %% [markdown]
# ### A trace for Perfetto and `chrome://tracing`
#
# A table sums time up; a **trace** shows it on a timeline, every span as a bar, nested
# under its parent. Both [Perfetto](https://ui.perfetto.dev) and Chrome's
# `chrome://tracing` open the **Trace Event Format**, a JSON file that `torch.profiler`
# writes too (`prof.export_chrome_trace(path)`). It holds `{"traceEvents": [...]}`, and a
# span becomes one *complete event*:
#
# | field | value |
# |---|---|
# | `name` | the span's name |
# | `cat` | its category: the span's kind here (`"region"`, `"module"`, `"op"`) |
# | `ph` | the phase: `"X"` for a complete event (a start and a duration in one event) |
# | `ts` | its start, in **microseconds** (a float), here counted from the earliest start of all spans |
# | `dur` | its duration, in microseconds (a float) |
# | `pid`, `tid` | the process and thread it ran in: the viewer draws one row per thread |
#
# The viewer nests the events of one thread by their times: an event that starts and ends
# inside another is drawn under it.
#
# ### Your task: `trace_events`

# %% nbgrader={"grade": false, "grade_id": "impl-trace-events", "locked": false, "solution": true, "schema_version": 3}
#| export
def trace_events(spans: Sequence[Span], pid: int, tid: int) -> list[dict[str, Any]]:
    """One complete trace event per span, in the order of ``spans``: ``{"name", "cat" (the
    kind), "ph": "X", "ts", "dur", "pid", "tid"}``, with ``ts`` the span's start minus the
    earliest start of all spans and ``dur`` its duration, both in microseconds as floats.
    Hint: the spans hold nanoseconds; a microsecond is 1,000 of them.
    """
    ### BEGIN SOLUTION
    if not spans:
        return []
    origin = min(span.start_ns for span in spans)
    return [
        {"name": span.name, "cat": span.kind, "ph": "X", "ts": (span.start_ns - origin) / 1000,
         "dur": (span.end_ns - span.start_ns) / 1000, "pid": pid, "tid": tid}
        for span in spans
    ]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-trace-events", "locked": true, "points": 2, "solution": false, "schema_version": 3}
shifted = [span._replace(start_ns=span.start_ns + 5_000_000, end_ns=span.end_ns + 5_000_000) for span in example]
events = trace_events(shifted, pid=42, tid=7)
assert isinstance(events, list) and len(events) == 5, f"trace_events: one event per span (5), got {events!r:.200}"
assert all({"name", "cat", "ph", "ts", "dur", "pid", "tid"} <= set(event) for event in events), (
    "trace_events: every event needs name, cat, ph, ts, dur, pid and tid"
)
assert [event["ph"] for event in events] == ["X"] * 5, "trace_events: a span is a complete event, phase 'X'"
assert [(event["name"], event["cat"]) for event in events] == [(s.name, s.kind) for s in shifted], (
    "trace_events: name is the span's name and cat its kind, in the order of the spans"
)
assert np.allclose([event["ts"] for event in events], [0.0, 0.01, 0.02, 0.04, 0.085], rtol=1e-12, atol=0.0), (
    f"trace_events: ts is the start in microseconds (ns / 1000) counted from the earliest start; got {[event['ts'] for event in events]}"
)
assert np.allclose([event["dur"] for event in events], [0.1, 0.07, 0.01, 0.03, 0.01], rtol=1e-12, atol=0.0), (
    f"trace_events: dur is end - start in microseconds; got {[event['dur'] for event in events]}"
)
assert all(isinstance(event["ts"], float) and isinstance(event["dur"], float) for event in events), "trace_events: ts and dur are floats"
assert all((event["pid"], event["tid"]) == (42, 7) for event in events), "trace_events: pid and tid as given"
assert trace_events([], pid=1, tid=1) == [], "trace_events([]) is []"

# Graded: random trees drawn for each graded run, compared with the reference.
rng = unseen_rng("test-trace-events")
drawn_spans = random_spans(rng)
pid, tid = (int(v) for v in rng.integers(1, 2**15, size=2))
events = trace_events(drawn_spans, pid, tid)
observe("trace_events: ts", np.array([event["ts"] for event in events], dtype=np.float64), rtol=1e-9, atol=1e-9)
observe("trace_events: dur", np.array([event["dur"] for event in events], dtype=np.float64), rtol=1e-9, atol=1e-9)
observe("trace_events: name, cat, ph", [f"{event['name']} {event['cat']} {event['ph']}" for event in events])
observe("trace_events: pid and tid", [int(v) for event in events for v in (event["pid"], event["tid"])])

# %% [markdown]
# ### The profiler
#
# Given: the `PerformanceProfiler` records the spans and hands them to your functions. Its
# use mirrors `torch.profiler`:
#
# ```python
# profiler = PerformanceProfiler(model)            # clock=time.perf_counter_ns, with_flops=False
# with profiler.profile("gpt_forward"):             # regions may nest, with different names
#     model(x)
# profiler.report()                                 # by layer type; group_by="op", "module" or "region"
# profiler.report().show()                          # a rich table;  .plot(path) a matplotlib chart
# profiler.export_chrome_trace("trace.json")       # for Perfetto / chrome://tracing
# ```
#
# When the outermost `profile(...)` opens, the profiler adds itself as a dispatch observer,
# registers a pre-hook and a forward hook on every module of the model, and wraps every
# backward formula through Module 02's seam `register_gradient` (keeping what it replaced),
# so the backward pass is timed formula by formula as spans of kind `"backward"`, each billed
# to the layer of the forward op that recorded it. When the region closes, it removes all of
# them, also after an error, so later code runs exactly as before. (To
# profile a loop, `with profiler:` around it attaches them once for all its regions; only
# what runs inside a region is recorded.) It records as little as possible while it runs
# (a clock reading and a list append per event) and does the arithmetic (self times, layer
# types, shares) only when asked for a report.
# Grouped `by="op"`, time spent outside every op (Python in the modules, the hooks, the
# profiler itself) shows as `(outside ops)`; `by="region"` bills each span to the innermost
# region that encloses it. With `with_flops=True` it also counts each op's FLOPs (your
# `op_flops`), which the bottleneck analysis needs. The clock is injectable, as the
# `Timer`'s.

# %%
#| export
GROUPS = ("layer_type", "op", "module", "region")
OUTSIDE_OPS = "(outside ops)"  # the "op" of time spent outside every op
NO_MODULE = "(no module)"


@dataclass(frozen=True)
class ReportRow:
    """One row of a profile report: a group, its self time in seconds, its share of the total, its calls."""

    key: str
    seconds: float
    share: float
    calls: int


@dataclass(frozen=True)
class ProfileReport:
    """Where the time went, by one grouping; the shares of the rows sum to 1."""

    title: str
    group_by: str
    rows: tuple[ReportRow, ...]

    @property
    def total_seconds(self) -> float:
        return sum(row.seconds for row in self.rows)

    def share(self, key: str) -> float:
        """The share of group ``key`` (0.0 for a group that is not in the report)."""
        return next((row.share for row in self.rows if row.key == key), 0.0)

    def __str__(self) -> str:
        width = max(len("group"), *(len(row.key) for row in self.rows))
        lines = [f"{self.title}: {self.total_seconds * 1e3:.3f} ms by {self.group_by}",
                 f"  {'group':<{width}}  {'time (ms)':>10}  {'share':>7}  {'calls':>6}"]
        lines += [f"  {row.key:<{width}}  {row.seconds * 1e3:>10.3f}  {row.share:>7.1%}  {row.calls:>6}" for row in self.rows]
        return "\n".join(lines)

    def table(self) -> Any:
        """The report as a ``rich.table.Table``."""
        from rich.table import Table  # imported here: rich takes a moment to import

        table = Table(title=f"{self.title}: {self.total_seconds * 1e3:.3f} ms", title_justify="left")
        table.add_column(self.group_by.replace("_", " "))
        for column in ("time (ms)", "share", "calls"):
            table.add_column(column, justify="right")
        for row in self.rows:
            table.add_row(row.key, f"{row.seconds * 1e3:.3f}", f"{row.share:.1%}", str(row.calls))
        return table

    def show(self, console: Any = None) -> None:
        """Print the rich table (to ``console``, a ``rich.console.Console``, or to stdout)."""
        from rich.console import Console

        (console or Console(width=100)).print(self.table())

    def plot(self, path: str | os.PathLike[str] | None = None) -> Any:
        """A horizontal bar chart of the shares; writes a PNG to ``path`` when given."""
        from tinytorch.training import history_figure_class  # a Figure that shows itself in a notebook

        figure = history_figure_class()(figsize=(7, 0.45 * len(self.rows) + 1.2), layout="constrained")
        axes = figure.subplots()
        rows = list(reversed(self.rows))
        axes.barh([row.key for row in rows], [row.share * 100 for row in rows], color="tab:blue")
        for position, row in enumerate(rows):
            axes.text(row.share * 100, position, f" {row.share:.1%} ({row.seconds * 1e3:.1f} ms)", va="center", fontsize=8)
        axes.set_xlim(0, 118)
        axes.set_xlabel("share of the profiled time (%)")
        axes.set_title(f"{self.title} by {self.group_by.replace('_', ' ')}")
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=100)
        return figure


class PerformanceProfiler:
    """Records the time of every op (dispatch observer) and module call (forward hooks) inside
    ``profile(name)`` regions; reports it by layer type, op, module or region, and exports a trace.

    ``clock()`` returns nanoseconds. With ``with_flops=True`` every op's FLOPs are counted too.
    The observer and hooks are attached while a region is open, or for as long as the
    profiler itself is entered (``with profiler:``, to attach them once around many regions).
    """

    def __init__(self, model: Module | None = None, *, clock: Callable[[], int] = time.perf_counter_ns,
                 with_flops: bool = False) -> None:
        self.model, self.with_flops = model, with_flops
        self._clock = clock
        self._spans: list[list[Any]] = []  # [kind, name, start, end, parent, module, flops]: Span fields
        self._open: list[int] = []  # indices of the open spans, innermost last
        self._regions: list[str] = []  # names of the open regions
        self._handles: list[Any] = []
        self._formulas: dict[str, Any] = {}  # op -> the backward formula its timed wrapper replaced
        self._wrappers: dict[str, Any] = {}  # op -> that wrapper
        # id(node.out) -> (weak reference to that array, index of the forward op span that recorded
        # the node); the weak reference tells a live entry from a reused id and drops the entry
        # when the array dies, so the profiler never keeps a graph alive.
        self._origins: dict[int, tuple[weakref.ref, int]] = {}
        self._attached = False
        self._entered = False

    # ---- recording -------------------------------------------------------------------------
    @contextmanager
    def profile(self, name: str) -> Iterator[PerformanceProfiler]:
        """Record everything that runs inside as the region ``name``; ValueError if ``name`` is open already."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"profile: name a region with a non-empty string, got {name!r}")
        if name in self._regions:
            raise ValueError(f"profile({name!r}) is already open: nested regions need different names")
        if not self._attached:
            self._attach()
        self._regions.append(name)
        index = len(self._spans)
        self._spans.append(["region", name, 0, None, self._open[-1] if self._open else -1, None, 0, -1])
        self._open.append(index)
        self._spans[index][2] = self._clock()  # read last: the bookkeeping above is not in the region
        try:
            yield self
        finally:
            self._close_through(index)
            self._regions.pop()
            if not self._regions and not self._entered:
                self._detach()

    def __enter__(self) -> PerformanceProfiler:
        """Attach the observer and the hooks until ``__exit__``; only regions are recorded."""
        if self._entered:
            raise RuntimeError("PerformanceProfiler is already entered: use `with profiler:` once at a time")
        if not self._attached:
            self._attach()
        self._entered = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._entered = False
        if not self._regions:
            self._detach()

    def _attach(self) -> None:
        try:
            if self.model is not None:
                for name, module in self.model.named_modules():
                    self._handles.append(module.register_forward_pre_hook(self._module_starts(module_label(name, module))))
                    self._handles.append(module.register_forward_hook(self._module_ends))
            for op, formula in list(GRADIENTS.items()):
                self._wrappers[op] = wrapper = self._timed_formula(op, formula)
                self._formulas[op] = register_gradient(op, wrapper)
            add_observer(self)
        except BaseException:
            self._remove_hooks()
            raise
        self._attached = True

    def _detach(self) -> None:
        self._attached = False
        try:
            remove_observer(self)
        finally:
            self._remove_hooks()

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for op, formula in self._formulas.items():
            if GRADIENTS.get(op) is self._wrappers[op]:  # a formula installed since then stays
                register_gradient(op, formula)
        self._formulas.clear()
        self._wrappers.clear()

    def _timed_formula(self, op: str, formula: Any) -> Any:
        """``formula`` recording a "backward" span while a region is open (and only then)."""
        spans, open_spans, clock, origins = self._spans, self._open, self._clock, self._origins

        def timed(grad: np.ndarray, node: Node) -> Any:
            if not open_spans:
                return formula(grad, node)
            entry = origins.get(id(node.out))
            origin = entry[1] if entry is not None and entry[0]() is node.out else -1
            index = len(spans)
            spans.append(["backward", op, 0, None, open_spans[-1], None, 0, origin])
            open_spans.append(index)
            spans[index][2] = clock()
            try:
                return formula(grad, node)
            finally:
                self._close_through(index)

        return timed

    def _close_through(self, index: int) -> None:
        """Close every open span down to and including ``index`` (spans left open by an error end now)."""
        now = self._clock()
        while self._open:
            top = self._open.pop()
            if self._spans[top][3] is None:
                self._spans[top][3] = now
            if top == index:
                return

    def _module_starts(self, label: str) -> Callable[[Module, tuple[Any, ...]], None]:
        spans, open_spans, clock = self._spans, self._open, self._clock  # locals: this runs at every module call

        def hook(module: Module, args: tuple[Any, ...]) -> None:
            if not open_spans:  # entered, but outside every region: not recorded
                return
            parent = open_spans[-1]
            open_spans.append(len(spans))
            spans.append(["module", label, clock(), None, parent, module, 0, -1])

        return hook

    def _module_ends(self, module: Module, args: tuple[Any, ...], output: Any) -> None:
        end = self._clock()
        open_spans = self._open
        if not open_spans:
            return
        if self._spans[open_spans[-1]][5] is module:
            self._spans[open_spans.pop()][3] = end
            return
        for index in reversed(open_spans):  # an op or module below raised and was caught inside this one
            if self._spans[index][5] is module:
                self._close_through(index)
                return

    def before(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any]) -> None:
        spans, open_spans = self._spans, self._open
        if not open_spans:  # entered, but outside every region: not recorded
            return
        parent = open_spans[-1]
        if spans[parent][0] == "op":  # an op whose kernel raised never got its after(): it ends now
            self._close_through(parent)
            parent = open_spans[-1]
        open_spans.append(len(spans))
        spans.append(["op", op, self._clock(), None, parent, None, 0, -1])

    def after(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any], out: Tensor) -> None:
        end = self._clock()
        if not self._open:
            return
        index = self._open.pop()
        span = self._spans[index]
        span[3] = end
        if self.with_flops:
            span[6] = op_flops(op, [t.shape for t in inputs], out.shape)
        node = out.grad_fn
        if node is not None:  # recorded for backward(): its formula's span is billed to this op's layer
            key, origins = id(node.out), self._origins
            origins[key] = (weakref.ref(node.out, lambda _, key=key: origins.pop(key, None)), index)

    # ---- results ---------------------------------------------------------------------------
    @property
    def spans(self) -> list[Span]:
        """Every recorded span, in start order; RuntimeError inside ``profile(...)``."""
        if self._regions:
            raise RuntimeError(f"the profile is still recording (inside profile({self._regions[-1]!r})); "
                               "ask for results after the `with` block")
        return [Span(*span) for span in self._spans]

    def reset(self) -> None:
        """Forget every recorded span; RuntimeError inside ``profile(...)``."""
        if self._regions:
            raise RuntimeError("reset(): the profile is still recording; reset it after the `with` block")
        self._spans.clear()

    def _recorded(self, caller: str) -> list[Span]:
        spans = self.spans
        if not spans:
            raise RuntimeError(f"{caller}: nothing was profiled yet; run the code inside `with profiler.profile(name):` first")
        return spans

    def attribution(self, spans: Sequence[Span]) -> dict[str, list[str]]:
        """For every span: its layer type, innermost module and innermost region, by grouping name.

        A "backward" span takes the layer type and module of its forward op (``origin``), its
        region from where it ran; in the "op" grouping it is ``"<op> (backward)"``.
        """
        layer_types: list[str] = []
        modules: list[str] = []
        regions: list[str] = []
        paths: list[tuple[Module, ...]] = []
        known: dict[tuple[int, ...], str] = {}
        for span in spans:
            parent = span.parent
            from_forward = span.kind == "backward" and span.origin >= 0
            path = paths[span.origin] if from_forward else paths[parent] if parent >= 0 else ()
            if span.kind == "module":
                path = (*path, span.module)
            paths.append(path)
            key = tuple(id(module) for module in path)
            if key not in known:
                known[key] = classify_layer(path)
            layer_types.append(known[key])
            if span.kind == "module":
                modules.append(span.name)
            else:
                modules.append(modules[span.origin] if from_forward else modules[parent] if parent >= 0 else NO_MODULE)
            regions.append(span.name if span.kind == "region" else (regions[parent] if parent >= 0 else span.name))
        ops = [span.name if span.kind == "op" else f"{span.name} (backward)" if span.kind == "backward" else OUTSIDE_OPS
               for span in spans]
        return {"layer_type": layer_types, "op": ops, "module": modules, "region": regions}

    def report(self, group_by: str = "layer_type") -> ProfileReport:
        """Self time by ``group_by`` (``"layer_type"``, ``"op"``, ``"module"`` or ``"region"``); shares sum to 1.

        Calls count the ops (and backward formulas) of a layer type or op, the calls of a module,
        the runs of a region.
        RuntimeError before anything was profiled.
        """
        if group_by not in GROUPS:
            raise ValueError(f"report: group_by must be one of {', '.join(GROUPS)}; got {group_by!r}")
        spans = self._recorded("report()")
        keys = self.attribution(spans)[group_by]
        counted_kind = {"layer_type": "op", "op": "op", "module": "module", "region": "region"}[group_by]
        seconds: dict[str, float] = dict.fromkeys(LAYER_TYPE_NAMES, 0.0) if group_by == "layer_type" else {}
        calls: dict[str, int] = defaultdict(int)
        for span, key, own in zip(spans, keys, self_times(spans)):
            seconds[key] = seconds.get(key, 0.0) + own / 1e9
            calls[key] += span.kind == counted_kind or (counted_kind == "op" and span.kind == "backward")
        regions = sorted({span.name for span in spans if span.parent < 0})
        title = f"profile of {', '.join(regions)}"
        return ProfileReport(title, group_by, tuple(ReportRow(key, value, share, calls[key]) for key, value, share in shares(seconds)))

    def export_chrome_trace(self, path: str | os.PathLike[str]) -> Path:
        """Write the spans as Trace Event JSON (Perfetto, chrome://tracing); returns the path."""
        spans = self._recorded("export_chrome_trace()")
        pid, tid = os.getpid(), threading.get_native_id()
        layer_types = self.attribution(spans)["layer_type"]
        events = trace_events(spans, pid, tid)
        for event, span, layer_type in zip(events, spans, layer_types):
            event["args"] = {"layer type": layer_type}
            if span.kind == "module":
                event["args"]["class"] = type(span.module).__name__
            if span.flops:
                event["args"]["flops"] = span.flops
        metadata = [
            {"name": "process_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": "tinytorch"}},
            {"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": "main thread"}},
        ]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"traceEvents": metadata + events, "displayTimeUnit": "ms"}), encoding="utf-8")
        return path


# %% [markdown]
# A first profile: a small model of two `Linear` layers with a `LayerNorm` between, timed
# with a `FakeClock` that a tiny stand-in moves by a fixed amount on every reading, so that
# the numbers are the same on every machine (a test of the profiler, not of this computer).
# Every clock reading costs 1 µs here, so every span is as long as the readings inside it.

# %%
class TickingClock(FakeClock):
    """Moves 1,000 ns forward on every reading."""

    def __call__(self) -> int:
        self.now += 1_000
        return self.now


small = Sequential(Linear(8, 16), LayerNorm(16), Linear(16, 4))
small_profiler = PerformanceProfiler(small, clock=TickingClock())
with small_profiler.profile("small_forward"):
    small(Tensor(np.ones((2, 8), dtype=np.float32)))
for group_by in ("layer_type", "module"):
    print(small_profiler.report(group_by))
print([f"{span.kind}:{span.name}" for span in small_profiler.spans])


# %% [markdown]
# With the ticking clock every number above can be checked by hand from the list of spans:
# a span lasts 1 µs for every clock reading after its start, up to and including its end:
# an op 1 µs, a `Linear` module 3 µs (its op's two readings and its own end). The `Linear`
# layers are feed-forward time, the `LayerNorm` normalization, and what the `Sequential`
# and the region spend around them (their own self time) is "other", since neither has a
# layer type. By module, each layer's time goes to the layer, `0`, `1` or `2`, and the
# region's own time to `(no module)`. The shares of both tables sum to 100%.
#
# ## 5. Bottlenecks: compute, memory or overhead?
#
# A profile says *where* the time goes; the next question is *why*, because the remedy
# depends on it. Compare each op's **achieved** rate, its FLOPs divided by its time, with
# what this machine can do, the **peak**: the GFLOP/s of a float32 matrix product
# (256 × 256 by default) through NumPy's BLAS library, measured here (`measure_blas_peak`).
# Three verdicts:
#
# - **overhead-bound**: a call takes hardly longer than the same op on the smallest input
#   it ever gets, so its time does not grow with the work. It is the fixed cost per call
#   (Python, dispatch, the handful of NumPy calls inside the kernel, allocating the output),
#   which fewer and larger ops remove (batching, fusing: Module 16), and no faster
#   arithmetic can;
# - **compute-bound**: the op reaches a good fraction of the peak (half or more). Only less
#   arithmetic makes it faster (smaller models, Modules 17–18, or a cache, Module 19);
# - **memory-bound**: neither. An elementwise op does a few FLOPs per number it loads and
#   stores; its time grows with the data it moves, so fusing ops that read the same data,
#   or using fewer bytes per number (float32 instead of float64, int8 in Module 17), helps.
#
# The fixed cost of each op is measured too: `measure_fixed_costs(fn)` profiles `fn` on
# the smallest input (for the GPT: one token) and keeps, for every op and module, its
# average time per call in the fastest of a few runs. Without such a figure, the analyzer
# uses the cost of an op that does no work at all (`measure_dispatch_overhead`: a `Tensor`
# addition of two one-element tensors). The rule, in this order, with `overhead_seconds` the fixed cost of one call:
#
# 1. time per call = `seconds / calls`; if it is at most twice `overhead_seconds`:
#    **overhead-bound**;
# 2. else if `flops / seconds` is at least half of `peak_gflops * 1e9`: **compute-bound**;
# 3. else **memory-bound** (an op without FLOPs that is not overhead-bound is memory-bound).
#
# ### Your task: `bound_verdict`

# %% nbgrader={"grade": false, "grade_id": "impl-bound-verdict", "locked": false, "solution": true, "schema_version": 3}
#| export
def bound_verdict(flops: float, seconds: float, calls: int, peak_gflops: float, overhead_seconds: float) -> str:
    """``"overhead-bound"``, ``"compute-bound"`` or ``"memory-bound"`` for an op that ran ``calls``
    times in ``seconds`` in all and did ``flops`` FLOPs in all, by the rule of the text:
    overhead-bound if a call takes at most ``2 * overhead_seconds``; else compute-bound if it
    achieves at least half of ``peak_gflops`` (GFLOP/s); else memory-bound.
    ValueError mentioning "calls" when ``calls < 1``, "seconds" when ``seconds <= 0``.
    Hint: compare in one unit: ``flops / seconds`` is FLOP/s, ``peak_gflops * 1e9`` too.
    """
    ### BEGIN SOLUTION
    if calls < 1:
        raise ValueError(f"bound_verdict: calls must be at least 1, got {calls}")
    if seconds <= 0:
        raise ValueError(f"bound_verdict: seconds must be positive, got {seconds}")
    if seconds / calls <= 2 * overhead_seconds:
        return "overhead-bound"
    if flops / seconds >= 0.5 * peak_gflops * 1e9:
        return "compute-bound"
    return "memory-bound"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-bound-verdict", "locked": true, "points": 2, "solution": false, "schema_version": 3}
peak, fixed = 50.0, 2e-6  # a 50 GFLOP/s peak; a fixed cost of 2 us per call
assert bound_verdict(2e8, 0.005, 1, peak, fixed) == "compute-bound", (
    "bound_verdict: 2e8 FLOPs in 5 ms is 40 GFLOP/s, at least half of a 50 GFLOP/s peak: compute-bound"
)
assert bound_verdict(2e7, 0.005, 1, peak, fixed) == "memory-bound", (
    "bound_verdict: 4 GFLOP/s in 5 ms per call is far from the peak and far longer than the fixed cost: memory-bound"
)
assert bound_verdict(0, 0.002, 10, peak, fixed) == "memory-bound", "bound_verdict: 200 us per call without FLOPs is memory-bound"
assert bound_verdict(4e5, 3e-5, 10, peak, fixed) == "overhead-bound", (
    "bound_verdict: 3 us per call is at most twice the fixed cost of 2 us: overhead-bound, even at 13 GFLOP/s; "
    "divide the time by the number of calls"
)
assert bound_verdict(1e6, 2.0**-16, 4, peak, 2.0**-19) == "overhead-bound", (
    "bound_verdict: a call of exactly twice the fixed cost is overhead-bound (at most 2x)"
)
assert bound_verdict(1.25e10, 0.5, 1, peak, fixed) == "compute-bound", (
    "bound_verdict: exactly half the peak (25 of 50 GFLOP/s) is compute-bound (at least half)"
)
expect_error(ValueError, lambda: bound_verdict(1.0, 1.0, 0, peak, fixed), "calls", what="bound_verdict with calls=0")
expect_error(ValueError, lambda: bound_verdict(1.0, 0.0, 1, peak, fixed), "seconds", what="bound_verdict with seconds=0")

# Graded: ops drawn for each graded run, compared with the reference.
rng = unseen_rng("test-bound-verdict")
peak, fixed = float(rng.uniform(10, 100)), float(rng.uniform(1e-6, 5e-6))
verdicts = []
for _ in range(12):
    calls = int(rng.integers(1, 50))
    per_call = fixed * float(rng.choice([rng.uniform(0.5, 1.9), rng.uniform(2.1, 1000)]))
    rate = peak * 1e9 * float(rng.choice([0.0, rng.uniform(0.01, 0.45), rng.uniform(0.55, 1.0)]))
    verdicts.append(bound_verdict(rate * per_call * calls, per_call * calls, calls, peak, fixed))
observe("bound_verdict of drawn ops", verdicts)


# %% [markdown]
# Given: `measure_blas_peak` (the best GFLOP/s of a float32 matrix product of a given size),
# `measure_dispatch_overhead`, `measure_fixed_costs`, and the `BottleneckAnalyzer`, which
# takes a profiler that counted FLOPs and ranks its ops (or its modules, with their
# children) by time, FLOPs or achieved GFLOP/s, each with its share of the machine's peak
# and your verdict.

# %%
#| export
def measure_blas_peak(size: int = 256, timer: Timer | None = None) -> float:
    """GFLOP/s of the fastest of repeated float32 ``(size, size) @ (size, size)`` products (NumPy's BLAS)."""
    generator = np.random.default_rng(0)
    a, b = (generator.standard_normal((size, size)).astype(np.float32) for _ in range(2))
    stats = (timer or Timer(warmup=2, repeats=20))(np.matmul, a, b)
    return 2 * size**3 / stats.min / 1e9


def measure_dispatch_overhead(timer: Timer | None = None, ops_per_sample: int = 200) -> float:
    """Seconds per ``Tensor + Tensor`` of two one-element tensors: the cost of an op that does no work (median)."""
    a, b = Tensor(np.ones(1, dtype=np.float32)), Tensor(np.ones(1, dtype=np.float32))

    def many_adds() -> None:
        for _ in range(ops_per_sample):
            a + b

    return (timer or Timer(warmup=1, repeats=15))(many_adds).median / ops_per_sample


def measure_fixed_costs(fn: Callable[[], object], model: Module | None = None, runs: int = 3) -> dict[str, float]:
    """Seconds per call of every op (and every module of ``model``) when ``fn`` is the smallest
    workload (e.g. a forward pass of one token): the mean over the calls of one run, in the
    fastest of ``runs`` profiled runs after one warm-up. The mean keeps the mix of calls (a
    model's ``linear`` ops have several sizes) that a run of the same model has."""
    fn()
    fastest: dict[str, float] = {}
    for _ in range(runs):
        profiler = PerformanceProfiler(model)
        with profiler.profile("fixed_costs"):
            fn()
        totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        for span in profiler.spans:
            if span.kind != "region":
                totals[span.name][0] += (span.end_ns - span.start_ns) / 1e9
                totals[span.name][1] += 1
        for name, (seconds, calls) in totals.items():
            fastest[name] = min(seconds / calls, fastest.get(name, math.inf))
    return fastest


@dataclass(frozen=True)
class Bottleneck:
    """One op or module of a profile: its calls, time, FLOPs, achieved rate and verdict."""

    name: str
    calls: int
    seconds: float
    flops: int
    gflops: float  # achieved: flops / seconds / 1e9
    fraction_of_peak: float
    verdict: str


class BottleneckAnalyzer:
    """Ranks the ops (or modules) of a profile recorded with ``with_flops=True`` against the machine's peak.

    ``overhead_seconds``: the fixed cost of a call, for every op and module not in
    ``fixed_costs`` (a mapping from op or module name to seconds, from ``measure_fixed_costs``).
    """

    def __init__(self, profiler: PerformanceProfiler, peak_gflops: float, overhead_seconds: float,
                 fixed_costs: dict[str, float] | None = None) -> None:
        if not profiler.with_flops:
            raise ValueError("BottleneckAnalyzer needs FLOPs: record with PerformanceProfiler(model, with_flops=True)")
        self.profiler, self.peak_gflops, self.overhead_seconds = profiler, peak_gflops, overhead_seconds
        self.fixed_costs = dict(fixed_costs or {})

    def rank(self, by: str = "time", group_by: str = "op", top: int | None = None) -> list[Bottleneck]:
        """Ops (``group_by="op"``) or modules (``"module"``, children included) sorted by ``by``:
        ``"time"``, ``"flops"`` or ``"gflops"``, largest first; the first ``top`` of them."""
        if by not in ("time", "flops", "gflops") or group_by not in ("op", "module"):
            raise ValueError(f"rank: by is 'time', 'flops' or 'gflops' and group_by 'op' or 'module'; got {by!r}, {group_by!r}")
        spans = self.profiler._recorded("BottleneckAnalyzer.rank()")
        totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])  # calls, seconds, flops
        subtree_flops = [0] * len(spans)
        for index in range(len(spans) - 1, -1, -1):  # children come after their parents: add up from the end
            span = spans[index]
            subtree_flops[index] += span.flops
            if span.parent >= 0:
                subtree_flops[span.parent] += subtree_flops[index]
        for span, flops in zip(spans, subtree_flops):
            if span.kind == group_by:
                entry = totals[span.name]
                entry[0] += 1
                entry[1] += (span.end_ns - span.start_ns) / 1e9
                entry[2] += flops
        rows = []
        for name, (calls, seconds, flops) in totals.items():
            seconds = max(seconds, 1e-9)  # a fake clock can give 0
            gflops = flops / seconds / 1e9
            fixed = self.fixed_costs.get(name, self.overhead_seconds)
            verdict = bound_verdict(flops, seconds, int(calls), self.peak_gflops, fixed)
            rows.append(Bottleneck(name, int(calls), seconds, int(flops), gflops, gflops / self.peak_gflops, verdict))
        key = {"time": lambda r: r.seconds, "flops": lambda r: r.flops, "gflops": lambda r: r.gflops}[by]
        rows.sort(key=lambda row: (-key(row), row.name))
        return rows[:top]

    @staticmethod
    def format(rows: Sequence[Bottleneck]) -> str:
        """The rows as a text table."""
        width = max([len("name"), *(len(row.name) for row in rows)])
        lines = [f"  {'name':<{width}} {'calls':>6} {'ms':>9} {'MFLOP':>9} {'GFLOP/s':>8} {'of peak':>8}  verdict"]
        lines += [f"  {row.name:<{width}} {row.calls:>6} {row.seconds * 1e3:>9.3f} {row.flops / 1e6:>9.2f} {row.gflops:>8.2f} "
                  f"{row.fraction_of_peak:>8.1%}  {row.verdict}" for row in rows]
        return "\n".join(lines)


# %% [markdown]
# ## 6. Comparing optimizations
#
# Every later module claims that something is faster or smaller. The
# `OptimizationComparer` checks such claims under one set of rules: the same workload for
# every variant, warm-up calls first, then rounds in which every variant runs once, in an
# order that reverses every other round (so a burst of load from another process, or a
# cache warmed by the previous variant, hits all alike), the median time per call, the
# peak memory of one call, the bytes of the model (its `state_dict`'s arrays) and a quality
# metric, side by side with the baseline:
#
# ```python
# comparer = OptimizationComparer(workload=lambda model: model(batch), quality=validation_loss)
# comparer.compare_optimizations(baseline=model, quantized=q_model, pruned=p_model)
# ```
#
# A variant is whatever the workload takes: a model, or a batch size, or a setting. With
# `items=` (a function giving the work items of one call, such as tokens), it also reports
# items per second, so variants that do different amounts of work per call can be compared.

# %%
#| export
def model_bytes(variant: Any) -> int | None:
    """Bytes of a Module's ``state_dict`` arrays (each array once); None for anything else."""
    if not isinstance(variant, Module):
        return None
    seen: dict[int, int] = {}
    for tensor in variant.state_dict().values():
        seen[id(tensor)] = tensor.nbytes
    return int(sum(seen.values()))


@dataclass(frozen=True)
class VariantResult:
    """One variant of a comparison, measured under the comparer's rules."""

    name: str
    stats: TimingStats  # seconds per call
    speedup: float  # the baseline's median time per call over this one's (or per item, with items)
    peak_bytes: int | None
    model_bytes: int | None
    quality: float | None
    items_per_second: float | None

    @property
    def seconds(self) -> float:
        return self.stats.median


@dataclass(frozen=True)
class OptimizationReport:
    """The variants of one comparison, the baseline first."""

    rows: tuple[VariantResult, ...]

    def __getitem__(self, name: str) -> VariantResult:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no variant named {name!r}; the variants are {[row.name for row in self.rows]}")

    def __str__(self) -> str:
        width = max(len("variant"), *(len(row.name) for row in self.rows))

        def number(value: float | None, fmt: str) -> str:
            return "-" if value is None else format(value, fmt)

        lines = [f"  {'variant':<{width}} {'median ms':>10} {'speedup':>8} {'items/s':>10} {'peak MiB':>9} {'model MiB':>10} {'quality':>9}"]
        for row in self.rows:
            lines.append(
                f"  {row.name:<{width}} {row.seconds * 1e3:>10.3f} {row.speedup:>7.2f}x {number(row.items_per_second, ',.0f'):>10} "
                f"{number(None if row.peak_bytes is None else row.peak_bytes / 2**20, '.2f'):>9} "
                f"{number(None if row.model_bytes is None else row.model_bytes / 2**20, '.2f'):>10} {number(row.quality, '.4f'):>9}"
            )
        return "\n".join(lines)


class OptimizationComparer:
    """Runs ``workload(variant)`` for a baseline and its variants under the same rules (see the text)."""

    def __init__(self, workload: Callable[[Any], object], *, quality: Callable[[Any], float] | None = None,
                 items: Callable[[Any], int] | None = None, size: Callable[[Any], int | None] = model_bytes,
                 warmup: int = 1, repeats: int = 5, memory: bool = True,
                 clock: Callable[[], int] = time.perf_counter_ns) -> None:
        if warmup < 0 or repeats < 1:
            raise ValueError(f"OptimizationComparer: need warmup >= 0 and repeats >= 1, got {warmup}, {repeats}")
        self.workload, self.quality, self.items, self.size = workload, quality, items, size
        self.warmup, self.repeats, self.memory, self.clock = warmup, repeats, memory, clock

    def compare_optimizations(self, baseline: Any, **variants: Any) -> OptimizationReport:
        """Measure ``baseline`` (named "baseline") and every named variant; the baseline row comes first."""
        candidates = {"baseline": baseline, **variants}
        for variant in candidates.values():
            for _ in range(self.warmup):
                self.workload(variant)
        samples: dict[str, list[int]] = {name: [] for name in candidates}
        names = list(candidates)
        for round_index in range(self.repeats):
            for name in names if round_index % 2 == 0 else reversed(names):
                start = self.clock()
                self.workload(candidates[name])
                samples[name].append(self.clock() - start)
        stats = {name: timing_stats([ns / 1e9 for ns in samples[name]]) for name in names}
        per_item = {name: (stats[name].median / self.items(candidates[name]) if self.items else stats[name].median) for name in names}
        rows = []
        for name, variant in candidates.items():
            peak = peak_bytes(lambda: self.workload(variant))[1] if self.memory else None
            rows.append(VariantResult(
                name=name, stats=stats[name], speedup=per_item["baseline"] / per_item[name], peak_bytes=peak,
                model_bytes=self.size(variant) if self.size else None,
                quality=float(self.quality(variant)) if self.quality else None,
                items_per_second=(self.items(variant) / stats[name].median) if self.items else None,
            ))
        return OptimizationReport(tuple(rows))


# %% [markdown]
# ### Do two optimizations combine?
#
# Suppose optimization A alone takes a workload from time $T_0$ to $T_A$, B alone to $T_B$,
# and both together to $T_{AB}$. Two ways they could combine without affecting each other:
#
# - **multiply**: each speeds up the *whole* workload by its own factor, so
#   $T_{AB} = T_A T_B / T_0$ (speedups multiply: $s_{AB} = s_A s_B$ with $s = T_0 / T$);
# - **add**: each removes time from a *different part* of the workload, so the savings
#   add: $T_0 - T_{AB} = (T_0 - T_A) + (T_0 - T_B)$, that is $T_{AB} = T_A + T_B - T_0$.
#
# And two ways they could affect each other: they **interfere** when together they do
# worse than both predictions (they speed up the same part, or one undoes the other), and
# they **amplify** when together they do better than both (each makes the other more
# effective). The **interaction factor** $f = s_{AB} / (s_A s_B) = T_A T_B / (T_0 T_{AB})$
# is 1 when the speedups multiply. The rule, with a relative `tolerance` (5% by default):
#
# 1. $p_\times = T_A T_B / T_0$ and $p_+ = T_A + T_B - T_0$; `low`, `high` = the smaller
#    and the larger of the two;
# 2. $T_{AB} >$ `high` $\cdot (1 + \text{tolerance})$: **interfere**;
# 3. else $T_{AB} <$ `low` $\cdot (1 - \text{tolerance})$: **amplify**;
# 4. else the prediction nearer to $T_{AB}$: **multiply** or **add** (multiply on a tie).
#
# For example $T_0 = 100$, $T_A = 50$, $T_B = 80$, $T_{AB} = 40$: $p_\times = 40$,
# $p_+ = 30$, so "multiply" with $f = 1$; with $T_{AB} = 70$ they interfere.
#
# ### Your task: `interaction_effect`

# %% nbgrader={"grade": false, "grade_id": "impl-interaction-effect", "locked": false, "solution": true, "schema_version": 3}
#| export
def interaction_effect(base: float, a: float, b: float, both: float, tolerance: float = 0.05) -> tuple[float, str]:
    """``(factor, verdict)`` for times of a workload: ``base`` (neither optimization), ``a`` (A
    only), ``b`` (B only), ``both``. ``factor = a * b / (base * both)``; ``verdict`` is
    ``"interfere"``, ``"amplify"``, ``"multiply"`` or ``"add"`` by the rule of the text.
    ValueError mentioning "positive" unless all four times are positive.
    Hint: compute both predictions first; ``min`` and ``max`` give the band between them.
    """
    ### BEGIN SOLUTION
    if min(base, a, b, both) <= 0:
        raise ValueError(f"interaction_effect: times must be positive, got {base}, {a}, {b}, {both}")
    multiplied = a * b / base
    added = a + b - base
    low, high = min(multiplied, added), max(multiplied, added)
    factor = a * b / (base * both)
    if both > high * (1 + tolerance):
        return factor, "interfere"
    if both < low * (1 - tolerance):
        return factor, "amplify"
    return factor, "add" if abs(both - added) < abs(both - multiplied) else "multiply"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-interaction-effect", "locked": true, "points": 2, "solution": false, "schema_version": 3}
factor, verdict = interaction_effect(100.0, 50.0, 80.0, 40.0)
assert math.isclose(factor, 1.0) and verdict == "multiply", (
    f"interaction_effect(100, 50, 80, 40): A halves, B takes 20% off, both give 40 = 50 * 80 / 100: the speedups multiply "
    f"(factor a * b / (base * both) = 1); got {factor}, {verdict!r}"
)
assert interaction_effect(100.0, 75.0, 75.0, 50.0)[1] == "add", (
    "interaction_effect(100, 75, 75, 50): each saves 25 of a different part, together 50 = 75 + 75 - 100: the savings add"
)
factor, verdict = interaction_effect(100.0, 50.0, 80.0, 70.0)
assert verdict == "interfere" and math.isclose(factor, 4000 / 7000), (
    f"interaction_effect(100, 50, 80, 70): together worse than both predictions (40 and 30): interfere, factor 4/7; got {factor}, {verdict!r}"
)
assert interaction_effect(100.0, 50.0, 80.0, 20.0)[1] == "amplify", (
    "interaction_effect(100, 50, 80, 20): together better than both predictions (40 and 30): amplify"
)
assert interaction_effect(100.0, 50.0, 80.0, 41.5)[1] == "multiply", "interaction_effect: within the 5% tolerance of 40 is still multiply"
expect_error(ValueError, lambda: interaction_effect(100.0, 0.0, 80.0, 40.0), "positive", what="interaction_effect with a time of 0")

# Graded: times drawn for each graded run, compared with the reference.
rng = unseen_rng("test-interaction-effect")
results = []
for _ in range(8):
    base = float(rng.uniform(10, 100))
    a, b = base / rng.uniform(0.8, 4.0, size=2)
    both = float(a * b / base * rng.choice([rng.uniform(0.3, 0.9), rng.uniform(0.97, 1.03), rng.uniform(1.1, 2.0)]))
    results.append(interaction_effect(base, float(a), float(b), both))
observe("interaction_effect: factors", np.array([factor for factor, _ in results], dtype=np.float64), rtol=1e-9, atol=0.0)
observe("interaction_effect: verdicts", [verdict for _, verdict in results])


# %% [markdown]
# The `InteractionAnalyzer` measures the four combinations with a comparer (interleaved, in
# one run, per item when the comparer counts items) and applies your rule:

# %%
#| export
@dataclass(frozen=True)
class InteractionResult:
    """Times (per call, or per item), speedups, the interaction factor and the verdict of two optimizations."""

    names: tuple[str, str]
    seconds: dict[str, float]
    speedups: dict[str, float]
    factor: float
    verdict: str
    report: OptimizationReport

    def __str__(self) -> str:
        first, second = self.names
        return (f"{first}: {self.speedups[first]:.2f}x, {second}: {self.speedups[second]:.2f}x, both: {self.speedups['both']:.2f}x "
                f"(the product would be {self.speedups[first] * self.speedups[second]:.2f}x); interaction factor "
                f"{self.factor:.2f}: the effects {self.verdict}")


class InteractionAnalyzer:
    """Whether two optimizations' effects multiply, add, interfere or amplify, measured with ``comparer``."""

    def __init__(self, comparer: OptimizationComparer, tolerance: float = 0.05) -> None:
        self.comparer, self.tolerance = comparer, tolerance

    def analyze(self, baseline: Any, first: Any, second: Any, both: Any,
                names: tuple[str, str] = ("first", "second")) -> InteractionResult:
        """Measure the four variants in one comparison and classify their interaction."""
        variants = {"baseline": baseline, names[0]: first, names[1]: second, "both": both}
        report = self.comparer.compare_optimizations(baseline, **{name: variants[name] for name in (*names, "both")})
        items = self.comparer.items or (lambda variant: 1)  # seconds per item when the comparer counts items
        seconds = {row.name: row.seconds / items(variants[row.name]) for row in report.rows}
        factor, verdict = interaction_effect(seconds["baseline"], seconds[names[0]], seconds[names[1]], seconds["both"], self.tolerance)
        speedups = {row.name: row.speedup for row in report.rows}
        return InteractionResult(names, seconds, speedups, factor, verdict, report)


# %% [markdown]
# Two simple variants of the reference GPT's forward pass. First **precision**: the same
# weights in float64 against float32 (each multiply-add moves twice the bytes in float64,
# and BLAS does half as many per instruction), with the validation loss as the quality
# metric, which must not change beyond rounding. Then **batching** crossed with precision:
# one sequence of 64 tokens per call against 8, timed per token, and whether the two
# effects combine. (Each comparison runs a handful of rounds to keep this notebook fast;
# the differences are large enough to show.)

# %%
from tinytorch.models.gpt import lm_loss


def float64_copy() -> Module:
    """The reference GPT with its parameters in float64 (a tied weight stays shared)."""
    model, _ = load_pretrained()
    for parameter in model.parameters():
        parameter.data = parameter.data.astype(np.float64)
    return model


reference64 = float64_copy()
quality_tokens = val_tokens[: 4 * 64 + 1]
with no_grad():
    precision = OptimizationComparer(lambda model: model(batch), quality=lambda model: lm_loss(model, quality_tokens, seq_len=64),
                                     repeats=5)
    print(precision.compare_optimizations(baseline=reference64, float32=reference))

    rows_of = {1: val_tokens[:64].reshape(1, 64), 8: val_tokens[: 8 * 64].reshape(8, 64)}
    per_token = OptimizationComparer(lambda variant: variant[0](rows_of[variant[1]]), items=lambda variant: variant[1] * 64,
                                     size=lambda variant: model_bytes(variant[0]), repeats=5)
    interaction = InteractionAnalyzer(per_token).analyze(
        baseline=(reference64, 1), first=(reference, 1), second=(reference64, 8), both=(reference, 8), names=("float32", "batch 8"))
print(interaction.report)
print(interaction)
speedups = interaction.speedups
print(f"float32's speedup per token: {speedups['float32']:.2f}x at batch 1, {speedups['both'] / speedups['batch 8']:.2f}x at batch 8")

# %% [markdown]
# Read the first table: float32 against float64 at the same batch, with the memory of a
# call, the bytes of the model (half) and a validation loss equal to rounding. The second
# table is per token. Batching removes a fixed cost per call (every op's Python and
# dispatch, paid once for 8 sequences instead of once for each), while float32 speeds up
# the arithmetic, which is a larger part of the time at batch 8 than at batch 1: the last
# line printed float32's speedup at both batch sizes. If float32 helped equally at both
# sizes, the speedups would multiply (factor 1); because it helps more where batching has
# left more arithmetic, expect a factor above 1, and compare with the factor and the verdict
# this run printed. Module 20 uses the same comparer and analyzer
# on quantized, pruned and cached models.
#
# ## 7. Profiling the GPT
#
# Now the instruments on the real workload: the trained GPT of Module 14, three times.
#
# ### A forward pass
#
# The batch of 4 sequences of 64 validation tokens, without gradients, three times inside
# the region `gpt_forward` after one warm-up call. The report by layer type (rich table),
# then by op, and a chart and a trace written to a temporary folder.

# %%
import tempfile

output_folder = Path(tempfile.mkdtemp(prefix="tinytorch-profile-"))
profiler = PerformanceProfiler(reference)
with no_grad():
    reference(batch)  # warm-up, not profiled
    for _ in range(3):
        with profiler.profile("gpt_forward"):
            reference(batch)
forward_report = profiler.report()
forward_report.show()
print(profiler.report("op"))
chart_path = output_folder / "gpt_forward_by_layer_type.png"
forward_report.plot(chart_path)
trace_path = profiler.export_chrome_trace(output_folder / "gpt_forward_trace.json")
trace = json.loads(trace_path.read_text(encoding="utf-8"))
print(f"chart: {chart_path}\ntrace: {trace_path} ({len(trace['traceEvents'])} events; open it in https://ui.perfetto.dev)")

# %%
forward_report.plot()


# %% [markdown]
# The shares above sum to 100% of the profiled time, and the layer types split it as this
# run printed. With 4 × 64 tokens of width 96, the two feed-forward matrices of each block
# ($E \times 4E$ and $4E \times E$) are the largest products, and attention adds its
# $T \times T$ scores per head. The table by op shows what the layer types are made of, and
# its `(outside ops)` row is the time spent in Python between the ops: module calls, the
# hooks, the profiler's own bookkeeping.
#
# ### What does the profiler cost?
#
# A profiler that slows down what it measures distorts it. The profiler's overhead is
# measured the only way that is honest: the same forward pass with and without it,
# alternating, several times, comparing medians. (A fresh profiler each time, so the cost of
# attaching and removing the hooks is included.)

# %%
def profiled_forward() -> None:
    fresh = PerformanceProfiler(reference)
    with fresh.profile("gpt_forward"):
        reference(batch)


plain_ns: list[int] = []
profiled_ns: list[int] = []
with no_grad():
    for round_index in range(6):
        pair = [(plain_ns, lambda: reference(batch)), (profiled_ns, profiled_forward)]
        for samples, run in pair if round_index % 2 == 0 else reversed(pair):
            samples.extend(time_calls(run, warmup=0, repeats=1, clock=time.perf_counter_ns))
plain, profiled = timing_stats(plain_ns), timing_stats(profiled_ns)
print(f"GPT forward {batch.shape}: without the profiler median {plain.median / 1e6:.2f} ms (min {plain.min / 1e6:.2f}), "
      f"with it {profiled.median / 1e6:.2f} ms (min {profiled.min / 1e6:.2f}): overhead {profiled.median / plain.median - 1:+.1%} "
      f"by the medians, {profiled.min / plain.min - 1:+.1%} by the minimums")

# %% [markdown]
# Six alternating runs on a shared machine are a small sample, and the two ratios the
# cell printed can even disagree in sign when the true overhead is small against the
# noise; to quote a figure, measure over many more rounds. A forward pass of 256 tokens
# runs about fifty ops and forty module calls, most of them tens to hundreds of
# microseconds long, and the profiler adds two clock readings and a few list operations
# per op and per module call (plus attaching and removing its hooks once per region),
# which is why it stays a small fraction here. On a one-token
# generation step, whose ops take a few microseconds each, the same bookkeeping is a larger
# fraction: profile such a step to see its structure, not to time it to the microsecond.
#
# ### A training step
#
# Forward, loss, backward and the AdamW step, each in a region of its own inside
# `training_step` (three steps after one warm-up), reported by region, then the forward
# region by layer type. The backward pass runs the gradient formulas of Module 02's engine,
# which do not go through dispatch; the profiler times each of them through the gradient seam
# and bills it to the layer whose forward op recorded it, so the layer-type table covers the
# forward and the backward pass, and the op table lists each formula as `op (backward)`.

# %%
import contextlib

step_profiler = PerformanceProfiler(trained)


def training_step(profiled: PerformanceProfiler | None = None) -> None:
    def region(name: str) -> Any:
        return profiled.profile(name) if profiled is not None else contextlib.nullcontext()

    with region("training_step"):
        with region("forward + loss"):
            loss = training_loss(trained, batch, targets)
        with region("backward"):
            loss.backward()
        with region("optimizer"):
            adamw.step()
            adamw.zero_grad()


training_step()  # warm-up
for _ in range(3):
    training_step(step_profiler)
print(step_profiler.report("region"))
step_layers = step_profiler.report("layer_type")
print(step_layers)

# %% [markdown]
# The region table is where a training step's time goes at the top level. Compare the
# backward region with the forward one: the backward pass does twice the matrix-product
# FLOPs of the forward (for every product, the gradient of its input and of its weight), so
# where its time is not about twice the forward's, the products are not all that matters;
# the optimizer touches every parameter a few times, with no matrix product at all. In the
# layer-type table the optimizer, the loss and the engine's own bookkeeping between formulas
# fall under "other", because no layer encloses them; each gradient formula counts for the
# layer of its forward op.
#
# ### A generation step
#
# Generating 24 tokens after a prompt of 16, with a KV cache (Module 13's `ConcatKVCache`):
# after the prompt, every step runs the model on one token. Profiled with FLOPs, and ranked
# by the `BottleneckAnalyzer` against this machine's measured BLAS peak and the fixed cost
# of each op, measured on a forward pass of one token; then the ops of the forward pass of
# the batch above, ranked the same way.

# %%
from tinytorch.nn.attention import ConcatKVCache

generation_profiler = PerformanceProfiler(reference, with_flops=True)
prompt = val_tokens[None, :16]
reference.generate(prompt, 24, temperature=0, cache=ConcatKVCache())  # warm-up
with generation_profiler.profile("generate"):
    reference.generate(prompt, 24, temperature=0, cache=ConcatKVCache())
print(generation_profiler.report("layer_type"))
blas_peak = measure_blas_peak(256)
empty_op = measure_dispatch_overhead()
with no_grad():
    fixed_costs = measure_fixed_costs(lambda: reference(val_tokens[None, :1]), reference)
print(f"BLAS peak (float32 256 x 256 matmul): {blas_peak:.1f} GFLOP/s; an empty op: {empty_op * 1e6:.2f} us; "
      f"fixed costs of one-token calls: linear {fixed_costs['linear'] * 1e6:.1f} us, layer_norm {fixed_costs['layer_norm'] * 1e6:.1f} us")
analyzer = BottleneckAnalyzer(generation_profiler, blas_peak, empty_op, fixed_costs)
print("ops of the generation, by time:")
print(BottleneckAnalyzer.format(analyzer.rank("time", "op", top=8)))
forward_flops = PerformanceProfiler(reference, with_flops=True)
with no_grad(), forward_flops.profile("gpt_forward"):
    reference(batch)
print(f"ops of a forward pass of {batch.shape}, by achieved GFLOP/s:")
print(BottleneckAnalyzer.format(BottleneckAnalyzer(forward_flops, blas_peak, empty_op, fixed_costs).rank("gflops", "op", top=6)))

# %% [markdown]
# Put the two rankings side by side. In the generation, each step multiplies a single
# token's vector by each weight matrix: tens of thousands of FLOPs per op, which BLAS
# finishes in far less time than the call around it takes, so the `linear` ops reach only
# a small fraction of the peak, and the verdicts say which ops cost no more than their
# fixed cost. In the forward pass over 256 tokens at once, the same `linear` ops have 256
# rows to work on: compare their achieved GFLOP/s in the two tables. That is the argument
# of the next modules, in this run's numbers: a one-token step is dominated by fixed costs
# per op, which fusing ops and batching requests remove (Module 16), and a cache keeps
# from growing with the length (Module 19); a large batch is dominated by arithmetic and
# memory traffic, which less arithmetic (Modules 17 and 18) or better kernels reduce.
#
# ## Summary
#
# You built the instruments of the optimization half of the course: statistics over
# repeated timings (`timing_stats`) and a timing loop with warm-up (`time_calls`), the peak
# memory of a call (`peak_bytes`) and the bytes of training (`training_memory_bytes`), FLOPs
# per op by the convention that PyTorch uses (`op_flops`), the attribution of time to layer
# types (`classify_layer`), self times that add up exactly (`self_times`), shares that sum
# to 100% (`shares`), a trace for Perfetto (`trace_events`), the verdict of a bottleneck
# (`bound_verdict`) and the interaction of two optimizations (`interaction_effect`). The
# given classes attach them to the framework through its seams, the dispatch observer and
# the forward hooks, and remove them afterwards. On the trained GPT they showed where the
# time of a forward pass, a training step and a generation step goes, at a measured cost.
#
# **Reflection questions**
#
# 1. The first timing cell printed the first call and the spread of 20 calls. Which
#    statistic would you report for a latency target ("95% of requests within X ms"), and
#    which to compare two implementations of the same op? Why not the mean?
# 2. The FLOP counter counts the full $T \times T$ attention scores of a causal model. How
#    many of them does a causal kernel need, and what share of the reference GPT's FLOPs per
#    token at $T = 128$ would it save?
# 3. In the forward profile, what does the `(outside ops)` row contain, and how would it
#    change with a batch of 1 sequence instead of 4? Check your answer by profiling it.
# 4. The generation ranking called some `linear` ops overhead-bound or memory-bound, even
#    though `linear` is compute-bound in a large batch. What changed, and which optimization
#    of Modules 16–19 would you try first for generation, and which for training?
# 5. The profiler's overhead grows with the number of ops and module calls per second.
#    Estimate it for the generation step from the per-op cost the overhead cell implies,
#    and say when you would switch the module hooks off.
