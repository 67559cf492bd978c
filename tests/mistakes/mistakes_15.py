"""Likely mistakes in module 15 (profiling) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("timing_stats divides by n for the standard deviation", "impl-timing-stats",
            "std=float(values.std(ddof=1))", "std=float(values.std())",
            "test-timing-stats", "divides the squared deviations by n - 1"),
    Mistake("time_calls times the warm-up calls too", "impl-time-calls",
            "    for _ in range(warmup):\n        fn()\n    samples = []\n    for _ in range(repeats):",
            "    samples = []\n    for _ in range(warmup + repeats):",
            "test-time-calls", "without the 2 warm-up calls"),
    Mistake("peak_bytes reports what is still allocated instead of the peak", "impl-peak-bytes",
            "_, peak = tracemalloc.get_traced_memory()", "peak, _ = tracemalloc.get_traced_memory()",
            "test-peak-bytes", "measure the peak, not what is still allocated at the end"),
    Mistake("op_flops counts a multiply-add as one FLOP", "impl-op-flops",
            "return 2 * out_size * int(input_shapes[0][-1])", "return out_size * int(input_shapes[0][-1])",
            "test-op-flops", "a multiply-add is 2 FLOPs"),
    Mistake("op_flops counts only the scores of attention", "impl-op-flops",
            "(int(query[-1]) + int(value[-1]))", "int(query[-1])",
            "test-op-flops", "two matmuls per (batch, head)"),
    Mistake("classify_layer lets the innermost module decide", "impl-classify-layer",
            "for module in path:", "for module in reversed(path):",
            "test-classify-layer", "the outermost module with a type decides"),
    Mistake("shares divides by the largest time instead of the total", "impl-shares",
            "total = sum(times.values())", "total = max(times.values(), default=0.0)",
            "test-shares", "over the sum of all times"),
    Mistake("trace_events writes nanoseconds where the format wants microseconds", "impl-trace-events",
            '"ts": (span.start_ns - origin) / 1000', '"ts": float(span.start_ns - origin)',
            "test-trace-events", "in microseconds (ns / 1000)"),
)
