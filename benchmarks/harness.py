"""What every benchmark of ``benchmarks/`` does around its measurements.

A benchmark supplies its measurements as a function ``run(settings, with_torch)`` that
returns ``Comparison``s; ``main`` parses the common options, sets BLAS threads, matches
PyTorch's threads, records the machine and its load, flags a busy machine, prints the
table and writes the JSON results. Timings are reported, never enforced.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import environment
from benchmarks.report import Comparison, format_table
from benchmarks.timing import TimingSettings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
Measurements = Callable[[TimingSettings, bool], list[Comparison]]


@dataclass(frozen=True)
class Benchmark:
    """One runnable benchmark: its results name, title, description and measurements."""

    name: str  # results file stem, e.g. "dispatch_overhead"
    title: str  # first words of the printed header
    description: str
    measure: Measurements
    budget_s: float = 40.0  # default timing budget for all its measurements
    seed: int = 0


def torch_available() -> bool:
    """PyTorch is optional; it is compared against only when it is installed."""
    return importlib.util.find_spec("torch") is not None


def match_torch_threads() -> str:
    """Give PyTorch as many intra-op threads as NumPy's BLAS uses; says what was done."""
    import torch  # imported only when torch is installed

    threads = environment.blas_threads()
    if threads is None:
        return f"NumPy's BLAS thread count is unknown; PyTorch keeps its default of {torch.get_num_threads()} threads"
    torch.set_num_threads(threads)
    return f"PyTorch intra-op threads set to {torch.get_num_threads()}, the number NumPy's OpenBLAS uses"


def parse_args(benchmark: Benchmark, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=benchmark.description)
    parser.add_argument("--rounds", type=int, default=200, help="most interleaved rounds per measurement (200)")
    parser.add_argument("--target-ms", type=float, default=5.0, help="one candidate's batch of calls per round (5 ms)")
    parser.add_argument(
        "--budget-s", type=float, default=benchmark.budget_s,
        help=f"timing budget for all measurements ({benchmark.budget_s:g} s)",
    )
    parser.add_argument(
        "--blas-threads", type=int, default=None,
        help="set NumPy's OpenBLAS (and so PyTorch) to this many threads; default: the library's own choice",
    )
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if it is installed")
    parser.add_argument(
        "--output", type=Path, default=RESULTS_DIR / f"{benchmark.name}.json",
        help=f"results file (benchmarks/results/{benchmark.name}.json)",
    )
    return parser.parse_args(argv)


def machine_busy(load_before: float | None, env: dict[str, Any]) -> bool:
    """Whether other processes already kept every CPU busy before the measurements began.

    The load average read just before measuring counts this process (about 1, importing
    and setting up) plus everything else runnable; reaching the CPU count means the
    benchmark has to share the CPUs with other work.
    """
    cpus = env.get("usable_cpus")
    return load_before is not None and isinstance(cpus, int) and load_before >= cpus


def busy_machine_note(load_before: float, env: dict[str, Any]) -> str:
    """What a busy machine does to this run, and what to do about it."""
    cpus, threads = env["usable_cpus"], env.get("blas_threads")
    note = (
        f"WARNING: load average {load_before:.1f} on {cpus} CPUs before measuring: other processes compete "
        "for the CPUs, so times are inflated and ratios noisy."
    )
    if isinstance(threads, int) and threads == 1:
        return note + " Rerun on a quiet machine to confirm."
    # A multithreaded BLAS call ends when its slowest thread does; on an oversubscribed
    # machine one thread is often descheduled for a whole time slice, so every candidate's
    # best round can still contain milliseconds of waiting, and ratios of such times say
    # nothing about dispatch.
    return note + (
        " With a multithreaded BLAS, matmuls then stall waiting for descheduled threads, so every verdict "
        "is reported as unclear: rerun on a quiet machine or with --blas-threads 1."
    )


def print_report(benchmark: Benchmark, env: dict[str, Any], args: argparse.Namespace,
                 loads: list[float | None], notes: list[str], comparisons: list[Comparison]) -> None:
    blas, threads = env["blas"], env["blas_threads"]
    print(
        f"{benchmark.title} | {env['date']} | Python {env['python']} | NumPy {env['numpy']} | "
        f"{blas.get('name', 'unknown BLAS')} {blas.get('version', '')}, "
        f"{'unknown number of' if threads is None else threads} thread{'' if threads == 1 else 's'} | "
        f"{env['usable_cpus']} CPUs"
    )
    shown = ["unknown" if load is None else f"{load:.2f}" for load in loads]
    print(
        f"up to {args.rounds} interleaved rounds of ~{args.target_ms:g} ms per candidate, {args.budget_s:g} s budget; "
        f"load average (1 min) {shown[0]} before, {shown[1]} after"
    )
    for note in notes:
        print(textwrap.fill(note, width=100))
    print()
    print(format_table(comparisons))
    print()
    print(textwrap.fill(
        "best: fastest round's time per call; ratio: best / baseline's best; paired: median over rounds of "
        "(time / baseline's time in the same round). met: yes if both ratios are within the goal, NO if "
        "neither is, unclear if they disagree or the machine was too busy to decide. Goals are the issue's; "
        "nothing fails on them.",
        width=100,
    ))


def main(benchmark: Benchmark, argv: list[str] | None = None) -> None:
    """Run ``benchmark`` with the command-line options ``argv``; print and save the results."""
    args = parse_args(benchmark, argv)
    if args.blas_threads is not None:
        environment.set_blas_threads(args.blas_threads)
    with_torch = torch_available() and not args.no_torch
    notes = [match_torch_threads()] if with_torch else [
        "PyTorch not compared: " + ("--no-torch given" if args.no_torch else "torch is not installed")
    ]
    env = environment.describe_environment()
    if with_torch:
        import torch  # imported only when torch is installed

        env["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads()}

    loads = [environment.load_average_1min()]
    comparisons = benchmark.measure(TimingSettings(args.rounds, args.target_ms / 1000, args.budget_s), with_torch)
    loads.append(environment.load_average_1min())

    if machine_busy(loads[0], env):
        notes.append(busy_machine_note(loads[0], env))
        if env.get("blas_threads") != 1:
            for comparison in comparisons:
                comparison.decisive = False
    print_report(benchmark, env, args, loads, notes, comparisons)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": benchmark.name,
        "environment": env,
        "settings": {
            "max_rounds": args.rounds, "target_ms": args.target_ms, "budget_s": args.budget_s,
            "seed": benchmark.seed, "blas_threads_requested": args.blas_threads,
        },
        "load_average_1min": {"before": loads[0], "after": loads[1]},
        "notes": notes,
        "comparisons": [comparison.to_json() for comparison in comparisons],
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.output}")


def budget_shares(settings: TimingSettings, shares: tuple[float, ...]) -> list[TimingSettings]:
    """``settings`` with ``max_seconds`` split into the given shares (unchanged if unset)."""
    if settings.max_seconds is None:
        return [settings for _ in shares]
    return [TimingSettings(settings.rounds, settings.target_seconds, settings.max_seconds * share) for share in shares]
