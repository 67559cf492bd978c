"""Where tinytorch's GPT spends the time of ``benchmarks.gpt``: a breakdown by phase and by op.

Run from the repository root::

    python -m benchmarks.profile_gpt [--steps 5] [--decode-tokens 255] [--blas-threads T] [--top 12]
                                     [--clock {wall,cpu}] [--backend {default,optimized}]

The same model, weights and batch as ``benchmarks.gpt`` (tinytorch candidate only). Every
kernel and every backward formula is wrapped with a timer through the dispatch seams
(``register_kernel`` / ``register_gradient`` return the entry they replace, which is put
back afterwards), so the time of each op's NumPy work is known; what is left of a phase is
the framework's own Python: dispatch, Tensor wrapping, graph recording, the backward
engine's bookkeeping, Module calls. Then ``cProfile`` lists the functions with the most
time of their own over the training steps. Timers add about a microsecond per op.
A profile, not a benchmark: nothing is compared. A busy machine inflates wall-clock
times; ``--clock cpu`` measures the process's CPU time instead (``time.process_time``,
all threads: with ``--blas-threads 1`` it is the work done, whatever else runs).
"""

from __future__ import annotations

import argparse
import cProfile
import contextlib
import io
import pstats
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from benchmarks import environment, gpt, numpy_gpt, tinytorch_gpt
from tinytorch import autograd, tensor
from tinytorch.backends import OptimizedBackend

Totals = dict[str, list[float]]  # name -> [calls, seconds]
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter  # set by main from --clock


def timed(entry: Callable[..., Any], name: str, totals: Totals) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return entry(*args, **kwargs)
        finally:
            record = totals[name]
            record[0] += 1
            record[1] += clock() - start

    return wrapper


@contextlib.contextmanager
def timed_ops() -> Iterator[tuple[Totals, Totals]]:
    """Time every registered kernel and backward formula while inside; (kernels, formulas) by op."""
    kernels: Totals = defaultdict(lambda: [0, 0.0])
    formulas: Totals = defaultdict(lambda: [0, 0.0])
    originals = {op: kernel for op, kernel in tensor.KERNELS.items()}
    gradients = {op: formula for op, formula in autograd.GRADIENTS.items()}
    for op, kernel in originals.items():
        tensor.register_kernel(op, timed(kernel, op, kernels))
    for op, formula in gradients.items():
        autograd.register_gradient(op, timed(formula, op, formulas))
    try:
        yield kernels, formulas
    finally:
        for op, kernel in originals.items():
            tensor.register_kernel(op, kernel)
        for op, formula in gradients.items():
            autograd.register_gradient(op, formula)


def seconds(totals: Totals) -> float:
    return sum(record[1] for record in totals.values())


def top(totals: Totals, per: int, count: int, total: float) -> str:
    rows = sorted(totals.items(), key=lambda item: -item[1][1])[:count]
    return "\n".join(f"      {op:<28} {calls / per:>7.1f} calls {seconds_ * 1e3 / per:>9.2f} ms  {seconds_ / total:>5.1%}"
                     for op, (calls, seconds_) in rows)


def profile_training(step: tinytorch_gpt.TinytorchTrainStep, steps: int, count: int) -> None:
    phases = {"forward + loss": 0.0, "backward": 0.0, "AdamW step": 0.0}
    with timed_ops() as (kernels, formulas):
        forward_kernels = backward_formulas = backward_kernels = 0.0
        for _ in range(steps):
            step.optimizer.zero_grad()
            t0 = clock()
            before = seconds(kernels)
            loss = step._loss()
            t1 = clock()
            forward_kernels += seconds(kernels) - before
            before_k, before_f = seconds(kernels), seconds(formulas)
            loss.backward()
            t2 = clock()
            backward_kernels += seconds(kernels) - before_k
            backward_formulas += seconds(formulas) - before_f
            step.optimizer.step()
            t3 = clock()
            phases["forward + loss"] += t1 - t0
            phases["backward"] += t2 - t1
            phases["AdamW step"] += t3 - t2
    total = sum(phases.values())
    print(f"training step, mean of {steps}: {total * 1e3 / steps:.1f} ms")
    work = {"forward + loss": forward_kernels, "backward": backward_formulas + backward_kernels, "AdamW step": None}
    for phase, spent in phases.items():
        numpy_work = work[phase]
        detail = "" if numpy_work is None else (
            f"; kernels/formulas {numpy_work * 1e3 / steps:.1f} ms, the rest (framework) "
            f"{(spent - numpy_work) * 1e3 / steps:.1f} ms = {(spent - numpy_work) / total:.1%} of the step")
        print(f"  {phase:<15} {spent * 1e3 / steps:8.1f} ms  {spent / total:>5.1%}{detail}")
    print("    forward kernels by op (per step, share of the step):")
    print(top(kernels, steps, count, total))
    print("    backward formulas by op (per step, share of the step):")
    print(top(formulas, steps, count, total))


def profile_decoding(decode: Callable[[], np.ndarray], new_tokens: int, count: int) -> None:
    with timed_ops() as (kernels, _):
        start = clock()
        decode()
        total = clock() - start
    work = seconds(kernels)
    print(f"greedy decoding of {new_tokens} tokens without a cache: {total:.2f} s ({new_tokens / total:.0f} tokens/s); "
          f"kernels {work:.2f} s, the rest (framework) {total - work:.2f} s = {(total - work) / total:.1%}")
    print("    kernels by op (per decode, share of it):")
    print(top(kernels, 1, count, total))


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
    if args.backend == "optimized":
        OptimizedBackend().enable()  # for the rest of this process; the timers wrap its kernels
    global clock
    clock = CLOCKS[args.clock]
    if args.blas_threads is not None:
        environment.set_blas_threads(args.blas_threads)
    config = gpt.DEFAULT
    env = environment.describe_environment()
    print(f"tinytorch GPT profile ({config.shape.describe()}) | {args.backend} kernels | {env['date']} | BLAS threads {env['blas_threads']} | "
          f"{args.clock} clock | load average (1 min) {environment.load_average_1min()}")
    weights = numpy_gpt.init_weights(config.shape, gpt.SEED)
    idx, targets = gpt.batch_of_tokens(config)
    step = tinytorch_gpt.TinytorchTrainStep(config.shape, weights, idx, targets, gpt.LR)
    step()  # warm-up
    profile_training(step, args.steps, args.top)
    prompt = np.zeros((1, config.prompt_len), dtype=np.int64)
    decode = tinytorch_gpt.greedy_decoder(config.shape, weights, prompt, args.decode_tokens)
    profile_decoding(decode, args.decode_tokens, args.top)
    cprofile(lambda: [step() for _ in range(args.steps)], f"{args.steps} training steps", args.top)
    cprofile(decode, f"greedy decoding of {args.decode_tokens} tokens", args.top)


if __name__ == "__main__":
    main()
