"""Grade one submitted notebook: the engine behind both ``tito module test`` and autograding.

1. Assemble: the course's template notebook with the submission's solution cells
   (``tito.submission``); scan those solutions for an instructor.
2. Run: the assembled cells, in plain Python, in a sandboxed child (``tito.sandbox``,
   ``tito/cell_runner.py``) in a fresh folder holding its own copy of the earlier
   modules' package, under the limits of ``tito.limits``.
3. Judge: each graded cell passes when it ran without error; a child that broke what the
   tests rely on, or forged its results, scores 0 as *tampered*; a last canary cell that
   must fail proves that errors were still being recorded.

Every submission gets a verdict and a one-line reason; nothing a submission does stops the
grading of the next one.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import nbformat

from tito import cell_runner
from tito.course import PACKAGE_NAME
from tito.limits import Limits
from tito.reasons import clean_text, describe_failure, shorten
from tito.sandbox import Outcome, run_sandboxed
from tito.submission import assemble, cell_name, scan_solution

RESULTS_FILE = "results.jsonl"


class Verdict(str, Enum):
    """How the grading of one submission ended."""

    GRADED = "graded"
    TAMPERED = "tampered"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASH = "crash"
    INVALID = "invalid notebook"


@dataclass(frozen=True)
class CellResult:
    """One graded test cell: its name (grade_id), points possible, and whether it passed."""

    name: str
    points: float
    passed: bool
    reason: str = ""

    @property
    def earned(self) -> float:
        return self.points if self.passed else 0.0


@dataclass
class Grade:
    """The outcome of grading one notebook."""

    verdict: Verdict
    reason: str  # one line: why this score
    cells: list[CellResult] = field(default_factory=list)  # graded test cells, in order
    errors: list[CellResult] = field(default_factory=list)  # other cells that raised
    findings: list[str] = field(default_factory=list)  # static scan, for an instructor
    notes: list[str] = field(default_factory=list)  # what assembling ignored or filled in
    executed: nbformat.NotebookNode | None = None  # the graded notebook with its outputs

    @property
    def earned(self) -> float:
        return sum(cell.earned for cell in self.cells)

    @property
    def possible(self) -> float:
        return sum(cell.points for cell in self.cells)


@dataclass(frozen=True)
class Isolation:
    """What the sandbox hides (folders shown empty) and shows again inside them (read-only)."""

    hidden: tuple[Path, ...] = ()
    visible: tuple[Path, ...] = ()


def invalid(reason: str) -> Grade:
    """The grade of a notebook that cannot be read: nothing ran, nothing earned."""
    return Grade(Verdict.INVALID, shorten(clean_text(reason)))


def _graded_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str, float]]:
    """(index, grade_id, points) of every graded cell of the template."""
    found = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade"):
            found.append((index, meta.get("grade_id") or cell.id, float(meta.get("points", 0))))
    return found


class _Watch:
    """Decides, from the results the child has written so far, whether it broke a time limit."""

    def __init__(self, results: Path, labels: list[str], limits: Limits) -> None:
        self.results, self.labels, self.limits = results, labels, limits
        self.done, self.since = 0, 0.0

    def __call__(self, elapsed: float) -> str:
        done = self.results.read_bytes().count(b"\n") if self.results.exists() else 0
        if done != self.done:
            self.done, self.since = done, elapsed
        # The child's own timer gets the first chance to stop a cell; a kill follows after the grace.
        if elapsed > self.limits.notebook_seconds + self.limits.grace_seconds:
            return f"the notebook ran longer than {self.limits.notebook_seconds} s in total"
        if elapsed - self.since > self.limits.cell_seconds + self.limits.grace_seconds:
            label = self.labels[min(done, len(self.labels) - 1)]
            return f"{label} was still running after {self.limits.cell_seconds} s and was stopped"
        return ""


def grade_notebook(
    template: nbformat.NotebookNode,
    submission: nbformat.NotebookNode,
    package: Path,
    limits: Limits,
    isolation: Isolation,
    environment: dict[str, str] | None = None,
) -> Grade:
    """Grade ``submission`` on ``template``; ``package`` is a ``tinytorch/`` folder of the
    earlier modules, copied for this submission alone."""
    assembly = assemble(template, submission)
    findings = [line for name, source in assembly.solutions.items() for line in scan_solution(name, source)]
    nb = assembly.notebook
    code = [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    labels = [cell_name(nb, index) for index in code] + ["the canary cell"]
    nonce, canary = secrets.token_hex(16), secrets.token_hex(8)
    cells = [{"name": label, "source": nb.cells[index].source} for label, index in zip(labels, code)]
    cells.append({"name": "canary", "source": f"raise AssertionError('tito canary {canary}')"})

    workdir = Path(tempfile.mkdtemp(prefix="tito-grade-"))
    try:
        shutil.copytree(package, workdir / "pythonpath" / PACKAGE_NAME)
        shutil.copy2(cell_runner.__file__, workdir / "runner.py")
        results = workdir / RESULTS_FILE
        job = {"nonce": nonce, "results": str(results), "cell_seconds": limits.cell_seconds, "cells": cells}
        outcome = run_sandboxed(
            [sys.executable, "-B", str(workdir / "runner.py")],
            workdir=workdir,
            stdin=json.dumps(job).encode(),
            environment={"PYTHONPATH": str(workdir / "pythonpath"), **(environment or {})},
            memory_bytes=limits.memory_bytes,
            hidden=list(isolation.hidden),
            keep=list(isolation.visible),
            deadline=_Watch(results, labels, limits),
        )
        records = results.read_text(encoding="utf-8").splitlines() if results.exists() else []
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    grade = _judge(nb, code, labels, records, nonce, canary, outcome)
    grade.findings, grade.notes = findings, assembly.notes
    return grade


def _judge(
    nb: nbformat.NotebookNode,
    code: list[int],
    labels: list[str],
    lines: list[str],
    nonce: str,
    canary: str,
    outcome: Outcome,
) -> Grade:
    """Scores and verdict from the child's result lines and how it ended."""
    records, forged = _read_records(lines, nonce)
    executed = nbformat.from_dict(nb)
    for position, record in enumerate(records[: len(code)]):
        executed.cells[code[position]].outputs = _outputs(record)
    cell_reasons: dict[int, str] = {}
    for position, record in enumerate(records[: len(code)]):
        if record.get("error"):
            cell_reasons[code[position]] = _error_reason(record["error"])
    tampering = forged or next(
        (f"{labels[record['index']]}: {', '.join(record['tampered'])}" for record in records if record.get("tampered")),
        "",
    )
    finished = len(records) == len(code) + 1
    if finished and not tampering:
        canary_error = records[-1].get("error") or {}
        if canary not in str(canary_error.get("evalue", "")):
            tampering = "the canary cell, which must fail, passed: errors were not being recorded"

    not_run = _not_run_reason(labels, len(records), outcome) if not finished else ""
    graded, errors = [], []
    for index, name, points in _graded_cells(nb):
        position = code.index(index)
        if position >= len(records):
            graded.append(CellResult(name, points, False, not_run))
        else:
            passed = not records[position].get("error") and not tampering
            graded.append(CellResult(name, points, passed, cell_reasons.get(index, "")))
    for position, index in enumerate(code[: len(records)]):
        if index in cell_reasons and not nb.cells[index].get("metadata", {}).get("nbgrader", {}).get("grade"):
            errors.append(CellResult(labels[position], 0.0, False, cell_reasons[index]))

    if tampering:
        verdict, reason = Verdict.TAMPERED, f"tampered: {tampering}"
        graded = [CellResult(c.name, c.points, False, "tampered") for c in graded]
    elif not finished:
        verdict, reason = _unfinished_verdict(outcome), not_run
    elif any((record.get("error") or {}).get("kind") == "memory" for record in records):
        verdict, reason = Verdict.MEMORY, "a cell ran out of memory (MemoryError); its tests score 0"
    else:
        verdict, reason = Verdict.GRADED, "graded"
    return Grade(verdict, shorten(reason), graded, errors, executed=executed)


def _read_records(lines: list[str], nonce: str) -> tuple[list[dict[str, object]], str]:
    """The child's records in order, and what was forged about them ("" when nothing)."""
    records = []
    for number, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return records, f"result line {number + 1} is not the runner's"
        if not isinstance(record, dict) or record.get("nonce") != nonce or record.get("index") != number:
            return records, f"result line {number + 1} was not written by the runner"
        records.append(record)
    return records, ""


def _error_reason(error: dict[str, object]) -> str:
    kind = error.get("kind")
    if kind == "timeout":
        return f"stopped: {error.get('evalue')} (does a loop never end?)"
    if kind == "memory":
        return "ran out of memory (MemoryError)"
    if error.get("ename") == "KeyboardInterrupt":
        return "KeyboardInterrupt raised in the cell"
    functions = [str(name) for name in error.get("functions", [])]  # type: ignore[union-attr]
    return describe_failure(
        str(error.get("ename", "Error")), str(error.get("evalue", "")), functions, str(error.get("failing_line", ""))
    )


def _outputs(record: dict[str, object]) -> list[nbformat.NotebookNode]:
    """Notebook outputs for one cell's record: its printed text and its error."""
    outputs = []
    if record.get("output"):
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=str(record["output"])))
    error = record.get("error")
    if isinstance(error, dict):
        outputs.append(
            nbformat.v4.new_output(
                "error", ename=str(error.get("ename")), evalue=str(error.get("evalue")), traceback=[]
            )
        )
    return outputs


def _not_run_reason(labels: list[str], done: int, outcome: Outcome) -> str:
    """Why the cells from ``labels[done]`` on never ran."""
    where = labels[min(done, len(labels) - 1)]
    if outcome.killed_for:
        return f"timeout: {outcome.killed_for}; later cells did not run"
    # A signal ends a process with a negative code; bubblewrap passes it on as 128 + the signal.
    signal = -outcome.returncode if outcome.returncode < 0 else outcome.returncode - 128
    if outcome.returncode < 0 or outcome.returncode > 128:
        return f"crash: the process was killed in {where} (signal {signal}; out of memory?)"
    return f"crash: the process ended in {where} (exit code {outcome.returncode}); later cells did not run"


def _unfinished_verdict(outcome: Outcome) -> Verdict:
    return Verdict.TIMEOUT if outcome.killed_for else Verdict.CRASH
