"""Module 15: ``tinytorch.profiler`` (Timer, MemoryProfiler, FLOPCounter, PerformanceProfiler, bottlenecks, comparisons).

Modules 16-20 measure their claims with these tools, so the tests pin their contracts: the
statistics against the ``statistics`` module's closed forms, FLOP counts against closed
forms (Linear, Conv2d, attention, the whole GPT per token), the trace against the Trace
Event format, report shares that sum to 1 for every grouping, hooks and observers removed
after profiling (also after an error), and the errors for misuse. Every timing here runs on
a fake clock: what a real clock measures belongs to the benchmarks, not to unit tests.
"""

from __future__ import annotations

import json
import math
import statistics
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import tinytorch.autograd  # noqa: F401  (gradients for .backward())
import tinytorch.tensor as tensor_module
from tinytorch.autograd import no_grad
from tinytorch.models.gpt import GPT, GPTConfig, count_parameters_by_component, load_pretrained
from tinytorch.nn.attention import MultiHeadAttention
from tinytorch.nn.conv import Conv2d
from tinytorch.nn.embedding import Embedding
from tinytorch.nn.layers import GELU, Identity, Linear, Module, ReLU, Sequential
from tinytorch.nn.normalization import LayerNorm
from tinytorch.optim import SGD, AdamW
from tinytorch.profiler import (
    LAYER_TYPE_NAMES,
    BottleneckAnalyzer,
    FLOPCounter,
    InteractionAnalyzer,
    MemoryProfiler,
    OptimizationComparer,
    PerformanceProfiler,
    Span,
    Timer,
    bound_verdict,
    classify_layer,
    interaction_effect,
    measure_fixed_costs,
    model_bytes,
    op_flops,
    peak_bytes,
    self_times,
    shares,
    time_calls,
    timing_stats,
    trace_events,
    training_memory_bytes,
)
from tinytorch.tensor import Tensor, manual_seed

SMALL = GPTConfig(vocab_size=31, max_seq_len=24, n_layer=2, n_head=2, n_embd=16)


class FakeClock:
    """Nanoseconds that move only by ``advance``."""

    def __init__(self, start: int = 1_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> None:
        self.now += ns


class TickingClock(FakeClock):
    """Moves 1,000 ns on every reading: every span lasts as long as the readings inside it."""

    def __call__(self) -> int:
        self.now += 1_000
        return self.now


def small_gpt(seed: int = 0) -> GPT:
    manual_seed(seed)
    return GPT(SMALL).eval()


def ids(batch: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, SMALL.vocab_size, size=(batch, length))


def no_hooks_left(model: Module) -> bool:
    return all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())


def no_observers_left() -> bool:
    return tensor_module._STATE.observers == ()


# ------------------------------------------------------------------------------- timing


@pytest.mark.parametrize("size", [1, 2, 3, 8, 25])
def test_timing_stats_match_the_closed_forms(size: int) -> None:
    samples = list(np.random.default_rng(size).lognormal(-3.0, 0.7, size))
    stats = timing_stats(samples)
    assert stats.count == size and isinstance(stats.count, int)
    assert math.isclose(stats.mean, statistics.fmean(samples), rel_tol=1e-12)
    assert math.isclose(stats.median, statistics.median(samples), rel_tol=1e-12)
    assert (stats.min, stats.max) == (min(samples), max(samples))
    if size == 1:
        assert stats.std == 0.0 and stats.p90 == samples[0]
    else:
        assert math.isclose(stats.std, statistics.stdev(samples), rel_tol=1e-9)
        # "inclusive" quantiles interpolate linearly at (n - 1) * p, as np.percentile does
        assert math.isclose(stats.p90, statistics.quantiles(samples, n=10, method="inclusive")[-1], rel_tol=1e-12)


def test_timing_stats_refuses_no_samples() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        timing_stats([])


def test_time_calls_times_each_call_after_the_warm_up() -> None:
    clock = FakeClock()
    durations = iter([900, 800, 10, 20, 30, 40])
    calls = []

    def work() -> None:
        calls.append(1)
        clock.advance(next(durations))

    assert time_calls(work, 2, 4, clock) == [10, 20, 30, 40]
    assert len(calls) == 6
    for warmup, repeats in ((-1, 1), (0, 0)):
        with pytest.raises(ValueError):
            time_calls(work, warmup, repeats, clock)


def test_timer_callable_and_context_manager_forms_on_a_fake_clock() -> None:
    clock = FakeClock()
    steps = iter([5_000_000, 1_000_000, 2_000_000, 3_000_000])
    timer = Timer(warmup=1, repeats=3, clock=clock)
    stats = timer(lambda: clock.advance(next(steps)))
    assert timer.samples_ns == [1_000_000, 2_000_000, 3_000_000]
    assert (stats.count, stats.median, stats.min, stats.max) == (3, 0.002, 0.001, 0.003)
    with timer:
        clock.advance(7_000_000)
    assert timer.elapsed == 0.007 and timer.stats().count == 4
    fresh = Timer(clock=clock)
    with pytest.raises(RuntimeError, match="nothing timed"):
        fresh.stats()
    with pytest.raises(RuntimeError, match="nothing timed"):
        _ = fresh.elapsed
    with pytest.raises(ValueError):
        Timer(repeats=0)


# ------------------------------------------------------------------------------- memory


def test_peak_bytes_measures_the_peak_above_the_start_and_restores_tracing() -> None:
    assert not tracemalloc.is_tracing()

    def make_and_free() -> int:
        return int(np.ones(300_000).size)  # 2.4 MB, freed on return

    result, peak = peak_bytes(make_and_free)
    assert result == 300_000 and 2_400_000 <= peak < 2_400_000 + 65_536
    assert not tracemalloc.is_tracing()
    with pytest.raises(KeyError):
        peak_bytes(lambda: {}["missing"])
    assert not tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        kept = np.ones(400_000)  # traced before the measurement: not counted
        _, nested = peak_bytes(make_and_free)
        assert tracemalloc.is_tracing() and 2_400_000 <= nested < 2_400_000 + 65_536
        del kept
    finally:
        tracemalloc.stop()


def test_training_memory_counts_parameters_gradients_and_adamw_state() -> None:
    model = Sequential(Linear(5, 7), ReLU(), Linear(7, 3))
    params = (5 * 7 + 7 + 7 * 3 + 3) * 4
    assert training_memory_bytes(model) == {"parameters": params, "gradients": 0, "optimizer_state": 0, "total": params}
    optimizer = AdamW(model.parameters(), lr=1e-3)
    model(Tensor(np.ones((4, 5), dtype=np.float32))).sum().backward()
    optimizer.step()
    memory = MemoryProfiler().training_memory(model, optimizer)
    assert memory == {"parameters": params, "gradients": params, "optimizer_state": 2 * params, "total": 4 * params}
    plain_sgd = SGD(model.parameters(), lr=0.1)
    plain_sgd.step()
    assert training_memory_bytes(model, plain_sgd)["optimizer_state"] == 0


def test_tied_weights_count_once() -> None:
    model = small_gpt()
    assert model.lm_head.weight is model.tok_emb.weight
    assert training_memory_bytes(model)["parameters"] == 4 * count_parameters_by_component(model)["total"]
    assert model_bytes(model) == sum(t.nbytes for t in model.state_dict().values())
    assert model_bytes(3) is None


def test_activation_estimate_adds_up_new_op_outputs() -> None:
    layer = Linear(6, 10)
    x = Tensor(np.ones((4, 6), dtype=np.float32))
    out, estimate = MemoryProfiler().activation_estimate(lambda: layer(x).reshape(40) * 2.0)
    assert out.shape == (40,)
    assert estimate == 2 * 4 * 10 * 4  # the linear and mul outputs; the reshape is a view
    assert no_observers_left()
    assert MemoryProfiler.rss_bytes() > 1_000_000


# ------------------------------------------------------------------------------- FLOPs


def test_op_flops_closed_forms() -> None:
    assert op_flops("matmul", [(7, 3, 5), (5, 2)], (7, 3, 2)) == 2 * 7 * 3 * 2 * 5
    assert op_flops("matmul", [(5,), (5, 4)], (4,)) == 2 * 4 * 5
    assert op_flops("linear", [(9, 6), (11, 6), (11,)], (9, 11)) == 2 * 9 * 11 * 6
    assert op_flops("conv2d", [(2, 3, 9, 9), (8, 3, 3, 3)], (2, 8, 4, 4)) == 2 * (2 * 8 * 4 * 4) * 27
    assert op_flops("attention", [(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)], (2, 3, 4, 7)) == 2 * 6 * 4 * 6 * (5 + 7)
    assert op_flops("softmax", [(3, 3)], (3, 3)) == 0


def test_flop_counter_on_linear_conv_and_attention() -> None:
    with FLOPCounter() as counter:
        Linear(12, 20)(Tensor(np.ones((3, 5, 12), dtype=np.float32)))
    assert counter.get_total_flops() == 2 * 15 * 12 * 20
    with FLOPCounter() as counter:
        Conv2d(3, 6, 3, stride=2, padding=1)(Tensor(np.ones((2, 3, 9, 9), dtype=np.float32)))
    assert counter.get_total_flops() == 2 * (2 * 6 * 5 * 5) * (3 * 9)
    attention = MultiHeadAttention(16, 4)
    with FLOPCounter(attention) as counter:
        attention(Tensor(np.ones((2, 10, 16), dtype=np.float32)), is_causal=True)
    tokens, E, T = 20, 16, 10
    assert counter.get_total_flops() == 2 * tokens * 3 * E * E + 2 * tokens * E * E + 2 * 4 * T * T * E
    counts = counter.get_flop_counts()
    assert counts["MultiHeadAttention"] == counts["Global"]  # the root's count includes its children
    assert counts["in_proj"] == {"linear": 2 * tokens * 3 * E * E}
    assert counts["Global"]["attention"] == 2 * 4 * T * T * E
    assert no_hooks_left(attention) and no_observers_left()


@pytest.mark.parametrize(("batch", "length"), [(1, 1), (2, 7), (3, 24)])
def test_gpt_flops_per_token_closed_form(batch: int, length: int) -> None:
    model = small_gpt()
    with no_grad(), FLOPCounter(model) as counter:
        model(ids(batch, length))
    L, E, V = SMALL.n_layer, SMALL.n_embd, SMALL.vocab_size
    per_token = counter.get_total_flops() / (batch * length)
    assert per_token == 2 * (12 * L * E * E + V * E) + 4 * L * length * E
    by_module = counter.get_flop_counts()
    block = sum(by_module["blocks.0"].values())
    assert block == sum(by_module["blocks.0.attn"].values()) + sum(by_module["blocks.0.mlp"].values())


def test_reference_gpt_flops_per_token() -> None:
    model, _ = load_pretrained()
    config, T = model.config, 32
    with no_grad(), FLOPCounter(model) as counter:
        model(np.zeros((2, T), dtype=np.int64))
    L, E, V = config.n_layer, config.n_embd, config.vocab_size
    per_token = counter.get_total_flops() / (2 * T)
    assert per_token == 2 * (12 * L * E * E + V * E) + 4 * L * T * E
    counts = count_parameters_by_component(model)
    non_embedding = counts["total"] - counts["token_embedding"] - counts["position_embedding"]
    # "2 x non-embedding parameters + the attention term", plus the tied output head's 2VE; the
    # biases and norms, which no matrix product uses, are about 1% of the parameters at E = 96
    approximation = 2 * non_embedding + 2 * V * E + 4 * L * T * E
    assert abs(per_token - approximation) / per_token < 0.02


def test_flop_counter_cleans_up_after_an_error_and_refuses_reentry() -> None:
    model = small_gpt()
    counter = FLOPCounter(model)
    with pytest.raises(ValueError), counter:
        model(np.zeros((1, SMALL.max_seq_len + 1), dtype=np.int64))
    assert no_hooks_left(model) and no_observers_left()
    with counter, pytest.raises(RuntimeError, match="already counting"):
        counter.__enter__()
    assert no_hooks_left(model) and no_observers_left()


# ------------------------------------------------------------------------------- profiler parts


def test_classify_layer_takes_the_outermost_typed_module() -> None:
    attention, linear, norm = MultiHeadAttention(8, 2), Linear(2, 2), LayerNorm(4)
    assert classify_layer([Sequential(), attention, linear]) == "attention"
    assert classify_layer([linear]) == "feed-forward"
    assert classify_layer([GELU()]) == "feed-forward"
    assert classify_layer([Sequential(), norm, linear]) == "normalization"
    assert classify_layer([Embedding(3, 2)]) == "embedding"
    assert classify_layer([Sequential(), Identity()]) == "other"
    assert classify_layer([]) == "other"


def test_self_times_and_their_errors() -> None:
    spans = [Span("region", "r", 0, 50, -1), Span("module", "m", 5, 45, 0), Span("op", "o", 10, 20, 1),
             Span("region", "r2", 60, 70, -1)]
    assert self_times(spans) == [10, 30, 10, 10]
    with pytest.raises(ValueError, match="outside its parent"):
        self_times([Span("region", "r", 0, 50, -1), Span("op", "o", 40, 60, 0)])
    with pytest.raises(ValueError, match="outside its parent"):
        self_times([Span("op", "o", 1, 2, 1), Span("region", "r", 0, 50, -1)])  # the parent comes later


def test_shares_sort_and_refuse_nothing() -> None:
    assert shares({"b": 1.0, "a": 1.0, "c": 2.0}) == [("c", 2.0, 0.5), ("a", 1.0, 0.25), ("b", 1.0, 0.25)]
    for bad, words in (({}, "nothing to share"), ({"a": 0.0}, "nothing to share"), ({"a": -1.0, "b": 2.0}, "negative")):
        with pytest.raises(ValueError, match=words):
            shares(bad)


def test_trace_events_in_microseconds_from_the_first_start() -> None:
    spans = [Span("region", "r", 2_000, 9_500, -1), Span("op", "linear", 3_000, 4_250, 0)]
    assert trace_events(spans, 3, 4) == [
        {"name": "r", "cat": "region", "ph": "X", "ts": 0.0, "dur": 7.5, "pid": 3, "tid": 4},
        {"name": "linear", "cat": "op", "ph": "X", "ts": 1.0, "dur": 1.25, "pid": 3, "tid": 4},
    ]


# ------------------------------------------------------------------------------- the profiler


def profiled_gpt(clock: FakeClock | None = None, with_flops: bool = False) -> tuple[GPT, PerformanceProfiler]:
    model = small_gpt()
    profiler = PerformanceProfiler(model, clock=clock or TickingClock(), with_flops=with_flops)
    with no_grad():
        for _ in range(2):
            with profiler.profile("forward"):
                model(ids(2, 9))
    return model, profiler


def test_profiler_records_a_consistent_tree_and_cleans_up() -> None:
    model, profiler = profiled_gpt()
    assert no_hooks_left(model) and no_observers_left()
    spans = profiler.spans
    assert [s.kind for s in spans if s.parent < 0] == ["region", "region"]
    assert all(s.parent < i for i, s in enumerate(spans))
    own = self_times(spans)  # raises if a child is outside its parent
    assert all(t >= 0 for t in own)
    assert sum(own) == sum(s.end_ns - s.start_ns for s in spans if s.parent < 0)
    module_names = {s.name for s in spans if s.kind == "module"}
    assert {"GPT", "blocks.0.attn", "blocks.1.mlp.fc", "lm_head", "ln_f"} <= module_names
    op_names = [s.name for s in spans if s.kind == "op"]
    with FLOPCounter() as counter, no_grad():
        model(ids(2, 9))
    assert op_names.count("linear") == 2 * (4 * SMALL.n_layer + 1)  # every block's four and the head, twice
    # the model runs exactly as before: no hook or observer is left behind
    before = len(profiler.spans)
    with no_grad():
        model(ids(1, 3))
    assert len(profiler.spans) == before and counter.get_total_flops() > 0


@pytest.mark.parametrize("group_by", ["layer_type", "op", "module", "region"])
def test_report_shares_sum_to_one(group_by: str) -> None:
    _, profiler = profiled_gpt()
    report = profiler.report(group_by)
    assert math.isclose(sum(row.share for row in report.rows), 1.0, rel_tol=1e-12)
    assert math.isclose(report.total_seconds, sum(s.end_ns - s.start_ns for s in profiler.spans if s.parent < 0) / 1e9)
    assert [row.seconds for row in report.rows] == sorted((row.seconds for row in report.rows), reverse=True)
    assert str(report).startswith("profile of forward")
    if group_by == "layer_type":
        assert {row.key for row in report.rows} == set(LAYER_TYPE_NAMES)
        assert all(report.share(name) > 0 for name in ("attention", "feed-forward", "normalization", "embedding", "other"))
    if group_by == "region":
        assert [(row.key, row.calls) for row in report.rows] == [("forward", 2)]


def test_ops_inside_attention_projections_are_attention_time() -> None:
    model, profiler = profiled_gpt()
    spans = profiler.spans
    layer_types = profiler.attribution(spans)["layer_type"]
    for span, layer_type in zip(spans, layer_types):
        parent = spans[span.parent] if span.parent >= 0 else None
        if span.kind == "op" and parent is not None and parent.name.endswith("attn.in_proj"):
            assert layer_type == "attention"
        if span.kind == "op" and parent is not None and parent.name == "lm_head":
            assert layer_type == "feed-forward"
        if span.kind == "op" and span.name == "add" and parent is not None and parent.kind == "module" and parent.name.startswith("blocks.") and parent.name.count(".") == 1:
            assert layer_type == "other"  # a residual addition belongs to no typed module


def test_report_by_region_bills_the_innermost_region() -> None:
    clock = FakeClock()
    profiler = PerformanceProfiler(clock=clock)
    with profiler.profile("step"):
        clock.advance(100)
        with profiler.profile("forward"):
            clock.advance(300)
        with profiler.profile("backward"):
            clock.advance(600)
    report = profiler.report("region")
    assert [(row.key, row.seconds) for row in report.rows] == [("backward", 6e-7), ("forward", 3e-7), ("step", 1e-7)]


def test_chrome_trace_follows_the_trace_event_format(tmp_path: Path) -> None:
    model, profiler = profiled_gpt(TickingClock(), with_flops=True)
    path = profiler.export_chrome_trace(tmp_path / "sub" / "trace.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data["traceEvents"], list)
    complete = [event for event in data["traceEvents"] if event["ph"] == "X"]
    metadata = [event for event in data["traceEvents"] if event["ph"] == "M"]
    assert len(complete) == len(profiler.spans) and {e["name"] for e in metadata} == {"process_name", "thread_name"}
    for event in data["traceEvents"]:
        assert isinstance(event["name"], str) and isinstance(event["pid"], int) and isinstance(event["tid"], int)
        assert event["ph"] in ("X", "M")
    for event in complete:
        assert isinstance(event["cat"], str) and event["cat"] in ("region", "module", "op")
        assert isinstance(event["ts"], (int, float)) and isinstance(event["dur"], (int, float))
        assert event["ts"] >= 0 and event["dur"] >= 0
        assert isinstance(event.get("args", {}), dict)
    # nesting, as a viewer reads it: events of one thread sorted by start (longer first on a tie)
    # form a proper tree, each inside the one that encloses it
    stack: list[tuple[float, float]] = []
    tolerance = 1e-6  # microseconds: float rounding of ns / 1000
    for event in sorted(complete, key=lambda e: (e["ts"], -e["dur"])):
        start, end = event["ts"], event["ts"] + event["dur"]
        while stack and start >= stack[-1][1] - tolerance:
            stack.pop()
        if stack:
            assert end <= stack[-1][1] + tolerance, f"{event['name']} overlaps its enclosing event"
        stack.append((start, end))
    flops = sum(event.get("args", {}).get("flops", 0) for event in complete)
    with FLOPCounter() as counter, no_grad():
        model(ids(2, 9))
    assert flops == 2 * counter.get_total_flops()


def test_entering_the_profiler_attaches_once_for_many_regions() -> None:
    model = small_gpt()
    profiler = PerformanceProfiler(model, clock=TickingClock())
    with no_grad(), profiler:
        assert not no_hooks_left(model) and not no_observers_left()
        model(ids(1, 2))  # outside every region: not recorded
        assert profiler._spans == []
        for step in range(3):
            with profiler.profile(f"step {step}"):
                model(ids(1, 2))
            assert not no_hooks_left(model)  # still attached between the regions
        with pytest.raises(RuntimeError, match="already entered"):
            profiler.__enter__()
    assert no_hooks_left(model) and no_observers_left()
    spans = profiler.spans
    assert [s.name for s in spans if s.kind == "region"] == ["step 0", "step 1", "step 2"]
    assert all(s.parent < i for i, s in enumerate(spans)) and min(self_times(spans)) >= 0
    assert math.isclose(sum(row.share for row in profiler.report().rows), 1.0)


def test_profiler_misuse_errors() -> None:
    profiler = PerformanceProfiler(clock=TickingClock())
    with pytest.raises(RuntimeError, match="nothing was profiled"):
        profiler.report()
    with pytest.raises(RuntimeError, match="nothing was profiled"):
        profiler.export_chrome_trace("unused.json")
    with profiler.profile("outer"):
        with pytest.raises(ValueError, match="already open"):
            with profiler.profile("outer"):
                pass
        with pytest.raises(RuntimeError, match="still recording"):
            profiler.report()
    with pytest.raises(ValueError, match="group_by"):
        profiler.report("layer")
    with pytest.raises(ValueError):
        with profiler.profile(""):
            pass
    profiler.reset()
    with pytest.raises(RuntimeError, match="nothing was profiled"):
        profiler.report()


def test_profiler_cleans_up_after_an_error_and_keeps_a_consistent_tree() -> None:
    model = small_gpt()
    profiler = PerformanceProfiler(model, clock=TickingClock())
    with pytest.raises(ValueError, match="max_seq_len"), profiler.profile("failing"):
        model(np.zeros((1, SMALL.max_seq_len + 1), dtype=np.int64))
    assert no_hooks_left(model) and no_observers_left()

    class Flaky(Module):
        """Runs an op that fails (and catches it), then a good one."""

        def forward(self, x: Tensor) -> Tensor:
            with pytest.raises(Exception):
                x @ Tensor(np.ones((5, 5), dtype=np.float32))  # a shape error inside the kernel
            return x * 2.0

    flaky = Sequential(Flaky(), Linear(3, 2))
    profiler = PerformanceProfiler(flaky, clock=TickingClock())
    with profiler.profile("caught"):
        flaky(Tensor(np.ones((4, 3), dtype=np.float32)))
    spans = profiler.spans
    assert all(s.end_ns is not None for s in spans) and all(t >= 0 for t in self_times(spans))
    assert math.isclose(sum(row.share for row in profiler.report("module").rows), 1.0)
    assert no_hooks_left(flaky) and no_observers_left()


# ------------------------------------------------------------------------------- bottlenecks and comparisons


def test_bound_verdict_rule() -> None:
    assert bound_verdict(4e8, 0.01, 1, 50.0, 1e-6) == "compute-bound"
    assert bound_verdict(4e7, 0.01, 1, 50.0, 1e-6) == "memory-bound"
    assert bound_verdict(0, 0.01, 1, 50.0, 1e-6) == "memory-bound"
    assert bound_verdict(4e8, 1.5e-5, 10, 50.0, 1e-6) == "overhead-bound"
    for args, words in (((1, 1.0, 0, 1.0, 1.0), "calls"), ((1, 0.0, 1, 1.0, 1.0), "seconds")):
        with pytest.raises(ValueError, match=words):
            bound_verdict(*args)


def test_bottleneck_analyzer_ranks_ops_and_modules() -> None:
    _, profiler = profiled_gpt(with_flops=True)
    analyzer = BottleneckAnalyzer(profiler, peak_gflops=1e-3, overhead_seconds=1e-9)
    by_flops = analyzer.rank("flops", "op")
    assert by_flops[0].name == "linear" and by_flops[0].flops == sum(s.flops for s in profiler.spans if s.name == "linear")
    assert [r.flops for r in by_flops] == sorted((r.flops for r in by_flops), reverse=True)
    modules = analyzer.rank("time", "module", top=3)
    assert len(modules) == 3 and modules[0].name == "GPT" and modules[0].calls == 2
    assert {r.verdict for r in analyzer.rank("time", "op")} <= {"compute-bound", "memory-bound", "overhead-bound"}
    fixed = BottleneckAnalyzer(profiler, 1e-3, 1e-9, fixed_costs={"linear": 1.0})
    assert next(r for r in fixed.rank() if r.name == "linear").verdict == "overhead-bound"
    with pytest.raises(ValueError, match="with_flops"):
        BottleneckAnalyzer(PerformanceProfiler(), 1.0, 1.0)
    with pytest.raises(ValueError):
        analyzer.rank("speed")


def test_measure_fixed_costs_gives_every_op_and_module() -> None:
    model = small_gpt()
    with no_grad():
        costs = measure_fixed_costs(lambda: model(ids(1, 1)), model, runs=2)
    assert {"linear", "attention", "layer_norm", "GPT", "blocks.0.attn"} <= set(costs)
    assert all(seconds > 0 for seconds in costs.values())
    assert no_hooks_left(model) and no_observers_left()


@pytest.mark.parametrize(("times", "verdict"), [
    ((100.0, 50.0, 80.0, 40.0), "multiply"),
    ((100.0, 75.0, 75.0, 50.0), "add"),
    ((100.0, 50.0, 80.0, 60.0), "interfere"),
    ((100.0, 50.0, 80.0, 25.0), "amplify"),
    ((100.0, 120.0, 50.0, 60.0), "multiply"),  # a slowdown and a speedup that compose
])
def test_interaction_effect(times: tuple[float, float, float, float], verdict: str) -> None:
    base, a, b, both = times
    factor, got = interaction_effect(base, a, b, both)
    assert got == verdict and math.isclose(factor, a * b / (base * both))


def test_interaction_effect_refuses_non_positive_times() -> None:
    with pytest.raises(ValueError, match="positive"):
        interaction_effect(1.0, 1.0, -1.0, 1.0)


def test_optimization_comparer_on_a_fake_clock() -> None:
    clock = FakeClock()
    cost = {"slow": 4_000_000, "fast": 1_000_000, "faster": 500_000}
    order: list[str] = []

    def workload(variant: str) -> None:
        order.append(variant)
        clock.advance(cost[variant])

    comparer = OptimizationComparer(workload, quality=lambda v: float(len(v)), size=lambda v: cost[v] // 1000,
                                    items=lambda v: 2, warmup=2, repeats=4, clock=clock)
    report = comparer.compare_optimizations(baseline="slow", fast="fast", faster="faster")
    assert [row.name for row in report.rows] == ["baseline", "fast", "faster"]
    assert [row.speedup for row in report.rows] == [1.0, 4.0, 8.0]
    assert report["fast"].seconds == 0.001 and report["fast"].items_per_second == 2000.0
    assert report["faster"].model_bytes == 500 and report["baseline"].quality == 4.0
    assert report["faster"].peak_bytes is not None and report["faster"].peak_bytes >= 0
    timed = order[6:18]  # after 2 warm-up calls per variant; then 4 rounds, every other one reversed
    assert timed == ["slow", "fast", "faster", "faster", "fast", "slow"] * 2
    assert "speedup" in str(report)
    with pytest.raises(KeyError):
        report["missing"]


def test_interaction_analyzer_on_a_fake_clock() -> None:
    clock = FakeClock()
    per_call = {("f64", 1): 1_000_000, ("f32", 1): 500_000, ("f64", 8): 2_000_000, ("f32", 8): 1_000_000}
    comparer = OptimizationComparer(lambda v: clock.advance(per_call[v]), items=lambda v: v[1], memory=False,
                                    size=None, warmup=0, repeats=3, clock=clock)
    result = InteractionAnalyzer(comparer).analyze(("f64", 1), ("f32", 1), ("f64", 8), ("f32", 8), names=("float32", "batch"))
    # per item: 1 ms, 0.5 ms, 0.25 ms, 0.125 ms: float32 halves, batching quarters, both multiply
    assert result.speedups == {"baseline": 1.0, "float32": 2.0, "batch": 4.0, "both": 8.0}
    assert result.verdict == "multiply" and math.isclose(result.factor, 1.0)
    assert math.isclose(result.seconds["both"], 0.000125)


# ------------------------------------------------------------------------------- backward formulas


def test_backward_formulas_are_spans_billed_to_their_forward_layers() -> None:
    from tinytorch.autograd import GRADIENTS
    from tinytorch.nn.functional import cross_entropy

    model = small_gpt().train()
    tokens, targets = ids(2, 9), ids(2, 9, seed=1)
    formulas_before = dict(GRADIENTS)
    profiler = PerformanceProfiler(model, clock=TickingClock())
    with profiler.profile("step"):
        with profiler.profile("forward"):
            logits = model(tokens)
            loss = cross_entropy(logits.reshape(-1, SMALL.vocab_size), Tensor(targets.reshape(-1), dtype=np.int64))
        with profiler.profile("backward"):
            loss.backward()
    assert dict(GRADIENTS) == formulas_before and no_hooks_left(model) and no_observers_left()
    spans = profiler.spans
    keys = profiler.attribution(spans)
    backward = [(i, s) for i, s in enumerate(spans) if s.kind == "backward"]
    # one formula run per recorded forward node that gradients reach: the engine's own count
    assert sorted(s.name for _, s in backward).count("linear") == 4 * SMALL.n_layer + 1
    assert all(t >= 0 for t in self_times(spans))
    for index, span in backward:
        origin = spans[span.origin]
        assert origin.kind == "op" and origin.name == span.name and span.origin < index
        assert keys["region"][index] == "backward"
        assert keys["layer_type"][index] == keys["layer_type"][span.origin]
        assert keys["module"][index] == keys["module"][span.origin]
        assert keys["op"][index] == f"{span.name} (backward)"
    by_module = {keys["module"][i] for i, s in backward if s.name == "linear"}
    assert {"blocks.0.attn.in_proj", "blocks.1.mlp.fc", "lm_head"} <= by_module
    report = profiler.report("op")
    assert report.share("linear (backward)") > 0 and math.isclose(sum(r.share for r in report.rows), 1.0, rel_tol=1e-12)
    layer_report = profiler.report("layer_type")
    backward_attention = sum(1 for i, s in backward if keys["layer_type"][i] == "attention")
    assert backward_attention >= SMALL.n_layer  # each block's attention formula and projections
    assert layer_report.share("attention") > 0


def test_backward_outside_a_region_and_unprofiled_forwards() -> None:
    from tinytorch.autograd import GRADIENTS

    layer = Linear(3, 2)
    x = Tensor(np.ones((4, 3), dtype=np.float32), requires_grad=True)
    out = layer(x).sum()  # recorded before the profiler is attached: no origin
    profiler = PerformanceProfiler(layer, clock=TickingClock())
    with profiler:
        with profiler.profile("backward only"):
            out.backward()
        layer(x).sum().backward()  # entered, but outside every region: nothing recorded
    spans = profiler.spans
    assert [s.kind for s in spans] == ["region", "backward", "backward"]
    assert all(s.origin == -1 for s in spans[1:])
    keys = profiler.attribution(spans)
    assert keys["layer_type"][1] == "other" and keys["module"][1] == "(no module)"
    assert GRADIENTS["linear"].__name__ != "timed"


def test_profiler_restores_formulas_after_an_error_and_keeps_a_backend_s_formula() -> None:
    from tinytorch.autograd import GRADIENTS
    from tinytorch.nn.activations import gelu

    before = dict(GRADIENTS)
    profiler = PerformanceProfiler()
    with pytest.raises(KeyError), profiler.profile("boom"):
        assert GRADIENTS["gelu"] is not before["gelu"]
        raise KeyError("inside")
    assert dict(GRADIENTS) == before
    # a formula installed while the profiler is attached, and not removed, is left in place
    def replacement(grad, node):
        return before["gelu"](grad, node)

    with profiler.profile("swap"):
        previous = tinytorch.autograd.register_gradient("gelu", replacement)
        x = Tensor(np.linspace(-2, 2, 5), requires_grad=True)
        gelu(x).sum().backward()
    assert GRADIENTS["gelu"] is replacement
    tinytorch.autograd.register_gradient("gelu", before["gelu"])
    assert previous is not before["gelu"]  # it replaced the profiler's timed wrapper
