"""A comparison of candidates against a baseline: ratios, goals, a text table, JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.timing import Timing
from tinytorch.profiler import timing_stats


@dataclass
class Comparison:
    """Timings of several candidates for one task, measured in the same interleaved rounds.

    ``goals`` maps a candidate to the largest acceptable ratio of its time to the
    baseline's. ``notes`` are extra lines for the table, computed from these timings.
    ``decisive`` is False when the conditions of the run made every time unreliable (see
    ``dispatch_overhead``); all verdicts are then "unclear".
    """

    key: str
    title: str
    baseline: str
    timings: dict[str, Timing]
    goals: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    decisive: bool = True

    def ratio(self, name: str, baseline: str | None = None) -> float:
        """Best time of ``name`` over best time of the baseline (or of ``baseline``)."""
        return self.timings[name].best / self.timings[baseline or self.baseline].best

    def paired_ratio(self, name: str) -> float:
        """Median over rounds of the per-round ratio to the baseline.

        The candidates of a round run within milliseconds of each other, so a slow patch
        of the machine inflates them alike; this ratio is a cross-check of ``ratio`` that
        uses every round, not only the fastest.
        """
        base = self.timings[self.baseline].per_call
        mine = self.timings[name].per_call
        return timing_stats([m / b for m, b in zip(mine, base)]).median

    def goal_met(self, name: str) -> bool | None:
        """Whether ``name`` met its goal by both ratios; None if it has no goal or they disagree.

        The best-time ratio fails when no round of a candidate caught a quiet moment; the
        paired ratio fails when noise differs between the halves of a round. When one says
        met and the other missed, the run cannot decide, and the answer is None.
        """
        goal = self.goals.get(name)
        if goal is None or not self.decisive:
            return None
        by_best, by_pairs = self.ratio(name) <= goal, self.paired_ratio(name) <= goal
        return by_best if by_best == by_pairs else None

    def verdict(self, name: str) -> str | None:
        """The goal's verdict, 'met', 'missed' or 'unclear'; None for a candidate without a goal."""
        if name not in self.goals:
            return None
        return {True: "met", False: "missed", None: "unclear"}[self.goal_met(name)]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "baseline": self.baseline,
            "candidates": {
                name: {
                    "best_seconds": timing.best,
                    "median_seconds": timing.median,
                    "calls_per_round": timing.calls_per_round,
                    "per_round_seconds": list(timing.per_call),
                    "ratio_to_baseline": self.ratio(name),
                    "paired_median_ratio": self.paired_ratio(name),
                    "goal_max_ratio": self.goals.get(name),
                    "goal_met": self.goal_met(name),
                    "verdict": self.verdict(name),
                }
                for name, timing in self.timings.items()
            },
            "notes": list(self.notes),
        }


def format_seconds(seconds: float) -> str:
    """A time with a unit that keeps three or four significant digits."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.2f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:8.3f} ms"
    return f"{seconds:8.3f} s "


_NAME_WIDTH = 34
_HEADER = f"  {'candidate':<{_NAME_WIDTH}} {'best':>11} {'median':>11} {'ratio':>7} {'paired':>7}  {'goal':<8} met"


def format_table(comparisons: list[Comparison]) -> str:
    """All comparisons as one text table; ratios are to each comparison's baseline.

    ``ratio`` compares best times; ``paired`` is the median of per-round ratios; a goal is
    "met" when both ratios are within it, "NO" when neither is, else "unclear".
    """
    lines = [_HEADER, "  " + "-" * (len(_HEADER) - 2)]
    for comparison in comparisons:
        rounds = len(comparison.timings[comparison.baseline].per_call)
        lines.append(f"{comparison.title} ({rounds} round{'' if rounds == 1 else 's'})")
        for name, timing in comparison.timings.items():
            if name == comparison.baseline:
                ratio, paired, goal, met = "1.00x", "", "baseline", ""
            else:
                ratio = f"{comparison.ratio(name):.2f}x"
                paired = f"{comparison.paired_ratio(name):.2f}x"
                limit = comparison.goals.get(name)
                goal = "" if limit is None else f"<= {limit:.2f}x"
                met = {None: "", "met": "yes", "missed": "NO", "unclear": "unclear"}[comparison.verdict(name)]
            lines.append(
                f"  {name:<{_NAME_WIDTH}} {format_seconds(timing.best):>11} {format_seconds(timing.median):>11} "
                f"{ratio:>7} {paired:>7}  {goal:<8} {met}".rstrip()
            )
        lines.extend(f"    {note}" for note in comparison.notes)
    return "\n".join(lines)
