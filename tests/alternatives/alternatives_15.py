"""Module 15 (profiling): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-timing-stats": '''
def timing_stats(samples):
    ordered = sorted(float(x) for x in samples)
    n = len(ordered)
    if n == 0:
        raise ValueError("timing_stats: give at least one sample")
    mean = math.fsum(ordered) / n
    middle = n // 2
    median = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    position = 0.9 * (n - 1)
    low = int(math.floor(position))
    high = min(low + 1, n - 1)
    p90 = ordered[low] + (position - low) * (ordered[high] - ordered[low])
    spread = math.sqrt(math.fsum((x - mean) ** 2 for x in ordered) / (n - 1)) if n > 1 else 0.0
    return TimingStats(n, mean, median, p90, spread, ordered[0], ordered[-1])
''',
    "impl-time-calls": '''
def time_calls(fn, warmup, repeats, clock):
    if not warmup >= 0:
        raise ValueError(f"warmup={warmup}: the number of warm-up calls cannot be negative")
    if not repeats >= 1:
        raise ValueError(f"repeats={repeats}: time at least one call")
    done = 0
    while done < warmup:
        fn()
        done += 1
    result = []
    while len(result) < repeats:
        before = clock()
        fn()
        after = clock()
        result.append(after - before)
    return result
''',
    "impl-peak-bytes": '''
def peak_bytes(fn):
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    try:
        start_current = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        value = fn()
        highest = tracemalloc.get_traced_memory()[1]
    finally:
        if not already:
            tracemalloc.stop()
    return value, highest - start_current
''',
    "impl-training-memory": '''
def training_memory_bytes(model, optimizer=None):
    unique = {}
    for _, parameter in model.named_parameters():
        unique[id(parameter)] = parameter
    sizes = {"parameters": 0, "gradients": 0, "optimizer_state": 0}
    for parameter in unique.values():
        sizes["parameters"] += parameter.data.nbytes
        if parameter.grad is not None:
            sizes["gradients"] += parameter.grad.data.nbytes
    state = getattr(optimizer, "state", {}) if optimizer is not None else {}
    for per_parameter in state.values():
        for item in per_parameter.values():
            if isinstance(item, Tensor):
                sizes["optimizer_state"] += item.data.nbytes
            elif isinstance(item, np.ndarray):
                sizes["optimizer_state"] += item.nbytes
    sizes["total"] = sum(sizes.values())
    return {key: int(value) for key, value in sizes.items()}
''',
    "impl-op-flops": '''
def op_flops(op, input_shapes, output_shape):
    elements = 1
    for size in output_shape:
        elements *= int(size)
    if op == "attention":
        q, k, v = (tuple(shape) for shape in input_shapes[:3])
        length, keys = int(output_shape[-2]), int(k[-2])
        batch = elements // int(output_shape[-1]) // length
        scores = 2 * batch * length * keys * int(q[-1])
        weighted = 2 * batch * length * keys * int(v[-1])
        return scores + weighted
    inner = {
        "matmul": lambda: int(input_shapes[0][-1]),
        "linear": lambda: int(input_shapes[1][-1]),
        "conv2d": lambda: int(np.prod(input_shapes[1][1:])),
    }.get(op)
    return 0 if inner is None else int(2 * elements * inner())
''',
    "impl-classify-layer": '''
def classify_layer(path):
    matches = (layer_type for module in path for layer_class, layer_type in LAYER_TYPES if isinstance(module, layer_class))
    return next(matches, "other")
''',
    "impl-self-times": '''
def self_times(spans):
    children = [0] * len(spans)
    for position, span in enumerate(spans):
        owner = span.parent
        if owner == -1 or owner < 0:
            continue
        if owner >= position:
            raise ValueError(f"span {position} comes before its parent: it is outside its parent")
        enclosing = spans[owner]
        if not (enclosing.start_ns <= span.start_ns and span.end_ns <= enclosing.end_ns):
            raise ValueError(f"span {position} is outside its parent {owner}")
        children[owner] += span.end_ns - span.start_ns
    return [span.end_ns - span.start_ns - taken for span, taken in zip(spans, children)]
''',
    "impl-shares": '''
def shares(times):
    for name, value in times.items():
        if value < 0:
            raise ValueError(f"{name} has a negative time ({value})")
    total = math.fsum(times.values())
    if not total > 0:
        raise ValueError("there is nothing to share: no time at all")
    by_name = sorted(times)
    by_time = sorted(by_name, key=lambda name: times[name], reverse=True)  # stable: ties stay by name
    return [(name, times[name], times[name] * (1.0 / total)) for name in by_time]
''',
    "impl-trace-events": '''
def trace_events(spans, pid, tid):
    events = []
    if len(spans) == 0:
        return events
    first = spans[0].start_ns
    for span in spans:
        first = min(first, span.start_ns)
    for span in spans:
        event = dict(name=span.name, cat=span.kind, ph="X", pid=pid, tid=tid)
        event["ts"] = float(span.start_ns - first) * 1e-3
        event["dur"] = float(span.end_ns - span.start_ns) * 1e-3
        events.append(event)
    return events
''',
    "impl-bound-verdict": '''
def bound_verdict(flops, seconds, calls, peak_gflops, overhead_seconds):
    if not calls >= 1:
        raise ValueError(f"need calls >= 1, got calls={calls}")
    if not seconds > 0:
        raise ValueError(f"need seconds > 0, got seconds={seconds}")
    per_call = seconds / calls
    achieved_gflops = flops / seconds / 1e9
    if per_call / overhead_seconds <= 2:
        return "overhead-bound"
    return "compute-bound" if achieved_gflops / peak_gflops >= 0.5 else "memory-bound"
''',
    "impl-interaction-effect": '''
def interaction_effect(base, a, b, both, tolerance=0.05):
    if not all(t > 0 for t in (base, a, b, both)):
        raise ValueError("all four times must be positive")
    speedup_a, speedup_b, speedup_both = base / a, base / b, base / both
    factor = speedup_both / (speedup_a * speedup_b)
    predicted = {"multiply": base / (speedup_a * speedup_b), "add": base - (base - a) - (base - b)}
    if both > max(predicted.values()) * (1 + tolerance):
        return factor, "interfere"
    if both < min(predicted.values()) * (1 - tolerance):
        return factor, "amplify"
    verdict = min(("multiply", "add"), key=lambda name: abs(both - predicted[name]))
    return factor, verdict
''',
}
