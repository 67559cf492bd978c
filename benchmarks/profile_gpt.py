"""Where tinytorch's GPT spends the time of ``benchmarks.gpt``: a breakdown by phase, by op and by layer.

Run from the repository root::

    python -m benchmarks.profile_gpt [--steps 5] [--decode-tokens 255] [--blas-threads T] [--top 12]
                                     [--clock {wall,cpu}] [--backend {default,optimized}]

The same model, weights and batch as ``benchmarks.gpt`` (tinytorch candidate only), under
the kernels of modules 01-14 or Module 16's ``OptimizedBackend``. Module 15's
``PerformanceProfiler`` records every op (dispatch observer), every module call (hooks) and
every backward formula (gradient seam); the tables give each op's self time, backward
formulas as ``op (backward)``, and ``(outside ops)``: the framework's own Python between
ops (dispatch, Tensor wrapping, graph recording, the engine's bookkeeping, Module calls,
the profiler's own recording). Then ``cProfile`` lists the functions with the most time of
their own over the training steps. A profile, not a benchmark: nothing is compared. A busy
machine inflates wall-clock times; ``--clock cpu`` measures the process's CPU time instead
(``time.process_time_ns``, all threads: with ``--blas-threads 1`` it is the work done,
whatever else runs).
"""

from __future__ import annotations

import argparse
import cProfile
import contextlib
import io
import pstats
import time
from collections.abc import Callable

import numpy as np

from benchmarks import environment, gpt, numpy_gpt, tinytorch_gpt
from tinytorch.backends import OptimizedBackend
from tinytorch.profiler import PerformanceProfiler, ProfileReport

CLOCKS: dict[str, Callable[[], int]] = {"wall": time.perf_counter_ns, "cpu": time.process_time_ns}


def top_rows(report: ProfileReport, per: int, count: int) -> str:
    return "\n".join(f"      {row.key:<28} {row.calls / per:>7.1f} calls {row.seconds * 1e3 / per:>9.2f} ms  {row.share:>5.1%}"
                     for row in report.rows[:count])


def profile_training(step: tinytorch_gpt.TinytorchTrainStep, steps: int, count: int, clock: Callable[[], int]) -> None:
    profiler = PerformanceProfiler(step.model, clock=clock)
    with profiler:
        for _ in range(steps):
            with profiler.profile("training step"):
                with profiler.profile("forward + loss"):
                    loss = step._loss()
                with profiler.profile("backward"):
                    loss.backward()
                with profiler.profile("AdamW step"):
                    step.optimizer.step()
                    step.optimizer.zero_grad()
    regions = profiler.report("region")
    print(f"training step, mean of {steps}: {regions.total_seconds * 1e3 / steps:.1f} ms")
    print(top_rows(regions, steps, count))
    print("    by op, forward ops and backward formulas (per step, share of the step):")
    print(top_rows(profiler.report("op"), steps, count))
    print("    by layer type (per step, share of the step):")
    print(top_rows(profiler.report("layer_type"), steps, count))


def profile_decoding(model_decode: tuple[object, Callable[[], np.ndarray]], new_tokens: int, count: int,
                     clock: Callable[[], int]) -> None:
    model, decode = model_decode
    profiler = PerformanceProfiler(model, clock=clock)
    with profiler.profile("decode"):
        decode()
    report = profiler.report("op")
    print(f"greedy decoding of {new_tokens} tokens without a cache: {report.total_seconds:.2f} s "
          f"({new_tokens / report.total_seconds:.0f} tokens/s)")
    print("    by op (per decode, share of it):")
    print(top_rows(report, 1, count))


def cprofile(run: Callable[[], object], label: str, count: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(count)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    print(f"cProfile of {label}, functions by own time (cProfile slows Python calls down):")
    print("\n".join(lines[start:start + count + 1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="training steps profiled (5)")
    parser.add_argument("--decode-tokens", type=int, default=gpt.DEFAULT.new_tokens,
                        help=f"tokens decoded ({gpt.DEFAULT.new_tokens})")
    parser.add_argument("--blas-threads", type=int, default=None, help="NumPy's OpenBLAS threads")
    parser.add_argument("--top", type=int, default=12, help="rows per table (12)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall-clock time, or the process's CPU time (wall)")
    parser.add_argument("--backend", choices=("default", "optimized"), default="default",
                        help="the kernels of modules 01-14, or Module 16's OptimizedBackend (default)")
    args = parser.parse_args(argv)
    if args.blas_threads is not None:
        environment.set_blas_threads(args.blas_threads)
    clock = CLOCKS[args.clock]
    config = gpt.DEFAULT
    env = environment.describe_environment()
    print(f"tinytorch GPT profile ({config.shape.describe()}) | {args.backend} kernels | {env['date']} | "
          f"BLAS threads {env['blas_threads']} | {args.clock} clock | load average (1 min) {environment.load_average_1min()}")
    weights = numpy_gpt.init_weights(config.shape, gpt.SEED)
    idx, targets = gpt.batch_of_tokens(config)
    backend = OptimizedBackend() if args.backend == "optimized" else contextlib.nullcontext()
    with backend:
        step = tinytorch_gpt.TinytorchTrainStep(config.shape, weights, idx, targets, gpt.LR)
        step()  # warm-up
        profile_training(step, args.steps, args.top, clock)
        prompt = np.zeros((1, config.prompt_len), dtype=np.int64)
        decoder_model = tinytorch_gpt.tinytorch_gpt(config.shape, weights)
        decode = lambda: decoder_model.generate(prompt, args.decode_tokens, temperature=0.0)  # noqa: E731
        profile_decoding((decoder_model, decode), args.decode_tokens, args.top, clock)
        cprofile(lambda: [step() for _ in range(args.steps)], f"{args.steps} training steps", args.top)
        cprofile(decode, f"greedy decoding of {args.decode_tokens} tokens", args.top)


if __name__ == "__main__":
    main()
