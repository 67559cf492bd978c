"""Grade one submitted notebook: the engine behind both ``tito module test`` and autograding.

1. Assemble: the course's template notebook with the submission's solution cells
   (``tito.submission``); scan those solutions for an instructor.
2. Run: the assembled cells, in plain Python, in a sandboxed child (``tito.sandbox``,
   ``tito/cell_runner.py``) in a fresh folder holding its own copy of the earlier
   modules' package, under the limits of ``tito.limits``. The test cells draw their graded
   inputs from ``unseen_rng`` with the run's seed and hand what the student's code computed
   to ``observe``; the child writes that down as plain data (JSON and ``.npy``).
3. Decide, here, in a process that student code never runs in. With a reference (the
   course's own solution run on the same seed in a clean child: ``run_reference``), a graded
   cell passes only when it raised nothing and every observation matches the reference's:
   same labels in the same order, same dtype and shape, values within the reference's
   tolerance. The child's own account can only lower a score (an error, tampering): forged
   records cannot raise one, because the values they would need are the reference's, which
   the child never sees. Without a reference (``tito module test``, the student's own check)
   a cell passes when it raised nothing.

Every submission gets a verdict and a one-line reason; nothing a submission does stops the
grading of the next one.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import nbformat
import numpy as np

from tito import cell_runner
from tito.child_data import Budget, ChildDataError, Observation, clean, read_observations, read_records, size_of
from tito.course import PACKAGE_NAME
from tito.errors import TitoError
from tito.limits import Limits
from tito.reasons import clean_text, describe_failure, shorten
from tito.sandbox import Outcome, prepare_folder, run_sandboxed
from tito.submission import assemble, cell_name, scan_solution

JOB_FILE = "job.json"
RESULTS_FILE = "results.jsonl"
OBSERVATIONS_FOLDER = "observations"
# The seed of a run's unseen inputs; tinytorch.tensor.unseen_rng (module 01) reads the same name.
SEED_VARIABLE = "TITO_SEED"
NOTEBOOK_SEED = 0  # what a notebook run by the student uses


class Verdict(str, Enum):
    """How the grading of one submission ended."""

    GRADED = "graded"
    TAMPERED = "tampered"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASH = "crash"
    INVALID = "invalid notebook"
    UNGRADABLE = "ungradable"  # the grader itself failed on this submission


@dataclass(frozen=True)
class CellResult:
    """One graded test cell: its name (grade_id), points possible, and whether it passed."""

    name: str
    points: float
    passed: bool
    reason: str = ""
    detail: str = ""  # the whole message behind ``reason``, for `tito module test --verbose`

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
    """What the sandbox shows besides the interpreter and the child's own folder (read-only)."""

    visible: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Reference:
    """The reference solution's observations for one seed, per graded cell (by grade_id)."""

    seed: int
    observations: dict[str, list[Observation]]


def invalid(reason: str) -> Grade:
    """The grade of a notebook that cannot be read: nothing ran, nothing earned."""
    return Grade(Verdict.INVALID, shorten(clean_text(reason)))


def ungradable(error: BaseException) -> Grade:
    """The grade of a submission on which the grader itself failed: nothing earned, and why."""
    return Grade(Verdict.UNGRADABLE, shorten(clean_text(f"the grader failed on this submission: {type(error).__name__}: {error}")))


def _graded_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str, float]]:
    """(index, grade_id, points) of every graded cell of the template."""
    found = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade"):
            found.append((index, meta.get("grade_id") or cell.id, float(meta.get("points", 0))))
    return found


class _Watch:
    """Decides, from how the results file grows, whether the child broke a time limit.

    It only ever ``lstat``s the file, so nothing the child puts there (a FIFO, a folder)
    can block it.
    """

    def __init__(self, results: Path, limits: Limits) -> None:
        self.results, self.limits = results, limits
        self.size, self.since = 0, 0.0

    def __call__(self, elapsed: float) -> str:
        size = size_of(self.results)
        if size != self.size:
            self.size, self.since = size, elapsed
        # The child's own timer gets the first chance to stop a cell; a kill follows after the grace.
        if elapsed > self.limits.notebook_seconds + self.limits.grace_seconds:
            return f"the notebook ran longer than {self.limits.notebook_seconds} s in total"
        if elapsed - self.since > self.limits.cell_seconds + self.limits.grace_seconds:
            return f"was still running after {self.limits.cell_seconds} s and was stopped"
        return ""


@dataclass
class _Run:
    """What one child run left: its records, why reading them stopped, its observations, how it ended."""

    records: list[dict[str, object]]
    unreadable: str
    observations: list[list[Observation] | str]  # per record: the observations, or why unreadable
    outcome: Outcome


def _run_cells(
    nb: nbformat.NotebookNode,
    labels: list[str],
    package: Path,
    limits: Limits,
    isolation: Isolation,
    environment: dict[str, str],
    seed: int,
) -> _Run:
    """Run the code cells of ``nb`` in a sandboxed child; read back what it left, as data."""
    cells = [{"name": label, "source": cell.source} for label, cell in zip(labels, _code_cells(nb))]
    workdir = Path(tempfile.mkdtemp(prefix="tito-grade-"))
    try:
        shutil.copytree(package, workdir / "pythonpath" / PACKAGE_NAME)
        shutil.copy2(cell_runner.__file__, workdir / "runner.py")
        (workdir / OBSERVATIONS_FOLDER).mkdir()
        job = {
            "results": str(workdir / RESULTS_FILE),
            "observations": str(workdir / OBSERVATIONS_FOLDER),
            "cell_seconds": limits.cell_seconds,
            "cells": cells,
        }
        (workdir / JOB_FILE).write_text(json.dumps(job), encoding="utf-8")
        prepare_folder(workdir)
        outcome = run_sandboxed(
            [sys.executable, "-B", str(workdir / "runner.py"), str(workdir / JOB_FILE)],
            workdir=workdir,
            environment={"PYTHONPATH": str(workdir / "pythonpath"), SEED_VARIABLE: str(seed), **environment},
            memory_bytes=limits.memory_bytes,
            visible=list(isolation.visible),
            deadline=_Watch(workdir / RESULTS_FILE, limits),
        )
        records, unreadable = read_records(workdir, RESULTS_FILE)
        graded = {position for position, cell in enumerate(_code_cells(nb)) if _is_graded(cell)}
        observations: list[list[Observation] | str] = []
        budget = Budget()
        for index in range(len(records)):
            try:
                observations.append(read_observations(workdir, index, budget) if index in graded else [])
            except ChildDataError as error:
                observations.append(str(error))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _Run(records, unreadable, observations, outcome)


def _is_graded(cell: nbformat.NotebookNode) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def _code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _labels(nb: nbformat.NotebookNode) -> list[str]:
    return [cell_name(nb, index) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def run_reference(
    template: nbformat.NotebookNode,
    package: Path,
    limits: Limits,
    isolation: Isolation,
    environment: dict[str, str],
    seed: int,
) -> Reference:
    """Run the course's own notebook (solutions included) with ``seed``; its observations per
    graded cell. Raises TitoError if the reference fails a cell or a graded cell observes
    nothing: such a course cannot decide a grade, and no student should be graded on it."""
    labels = _labels(template)
    run = _run_cells(template, labels, package, limits, isolation, environment, seed)
    code = [index for index, cell in enumerate(template.cells) if cell.cell_type == "code"]
    problems = []
    if run.unreadable or len(run.records) < len(code):
        problems.append(f"it stopped after {len(run.records)} of {len(code)} cells ({run.unreadable or run.outcome})")
    for position, record in enumerate(run.records):
        if record.get("error"):
            problems.append(f"{labels[position]} raised {_error_reason(record['error'])}")  # type: ignore[arg-type]
    observations = {}
    for index, name, _ in _graded_cells(template):
        position = code.index(index)
        found = run.observations[position] if position < len(run.observations) else []
        if isinstance(found, str) or not found:
            problems.append(f"{name} observes nothing, so no grade can be decided for it ({found or 'no observe() call'})")
        else:
            observations[name] = found
    if problems:
        raise TitoError("The reference solution cannot grade this notebook: " + "; ".join(problems))
    return Reference(seed, observations)


def grade_notebook(
    template: nbformat.NotebookNode,
    submission: nbformat.NotebookNode,
    package: Path,
    limits: Limits,
    isolation: Isolation,
    environment: dict[str, str] | None = None,
    reference: Reference | None = None,
) -> Grade:
    """Grade ``submission`` on ``template``; ``package`` is a ``tinytorch/`` folder of the
    earlier modules, copied for this submission alone. With ``reference``, each graded cell
    must also observe what the reference observed on the same seed."""
    assembly = assemble(template, submission)
    findings = [line for name, source in assembly.solutions.items() for line in scan_solution(name, source)]
    nb = assembly.notebook
    labels = _labels(nb)
    seed = reference.seed if reference is not None else NOTEBOOK_SEED
    run = _run_cells(nb, labels, package, limits, isolation, environment or {}, seed)
    grade = _judge(nb, labels, run, reference)
    grade.findings, grade.notes = findings, assembly.notes
    return grade


def _judge(nb: nbformat.NotebookNode, labels: list[str], run: _Run, reference: Reference | None) -> Grade:
    """Scores and verdict from what the child left and how it ended."""
    code = [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    records = run.records[: len(code)]
    executed = nbformat.from_dict(nb)
    reasons: dict[int, str] = {}  # cell index -> why it failed
    details: dict[int, str] = {}  # cell index -> the whole error message
    for position, record in enumerate(records):
        executed.cells[code[position]].outputs = _outputs(record)
        error = record.get("error")
        if isinstance(error, dict):
            reasons[code[position]] = _error_reason(error)
            details[code[position]] = clean_text(clean(f"{error.get('ename')}: {error.get('evalue')}"))
    tampering = run.unreadable or next(
        (f"{labels[int(record['index'])]}: {', '.join(map(str, record['tampered']))}" for record in records if record.get("tampered")),  # type: ignore[call-overload]
        "",
    )
    if not tampering and len(run.records) > len(code):
        tampering = f"the child reported {len(run.records)} cells, the notebook has {len(code)}"
    finished = len(run.records) >= len(code)
    not_run = "" if finished else _not_run_reason(labels, len(records), run.outcome)
    graded, errors = [], []
    for index, name, points in _graded_cells(nb):
        position = code.index(index)
        if position >= len(records):
            graded.append(CellResult(name, points, False, not_run))
            continue
        reason = reasons.get(index, "")
        if not reason and reference is not None:
            reason = _compare(run.observations[position], reference.observations.get(name, []))
            if reason:
                executed.cells[index].outputs.append(
                    nbformat.v4.new_output("stream", name="stderr", text=f"Graded on unseen inputs: {reason}\n")
                )
        graded.append(CellResult(name, points, not reason, shorten(reason), details.get(index, reason)))
    for position, index in enumerate(code[: len(records)]):
        if index in reasons and not nb.cells[index].get("metadata", {}).get("nbgrader", {}).get("grade"):
            errors.append(CellResult(labels[position], 0.0, False, reasons[index], details[index]))

    if tampering:
        verdict, reason = Verdict.TAMPERED, f"tampered: {tampering}"
        graded = [CellResult(c.name, c.points, False, "tampered") for c in graded]
    elif not finished:
        verdict, reason = _unfinished_verdict(run.outcome), not_run
    elif any((record.get("error") or {}).get("kind") == "memory" for record in records):  # type: ignore[union-attr]
        verdict, reason = Verdict.MEMORY, "a cell ran out of memory (MemoryError); its tests score 0"
    else:
        verdict, reason = Verdict.GRADED, "graded"
    return Grade(verdict, shorten(clean_text(reason)), graded, errors, executed=executed)


def _compare(observed: list[Observation] | str, expected: list[Observation]) -> str:
    """Why ``observed`` does not match the reference's ``expected`` ("" when it does)."""
    if isinstance(observed, str):
        return f"its observations are unreadable: {observed}"
    for number, want in enumerate(expected):
        if number >= len(observed):
            return f"it made {len(observed)} observations, the reference {len(expected)}; missing: {want.label}"
        got = observed[number]
        if got.label != want.label:
            return f"observation {number + 1} is {got.label!r}, the reference's is {want.label!r}"
        mismatch = _value_mismatch(got.value, want)
        if mismatch:
            return f"{want.label}: {mismatch}"
    if len(observed) > len(expected):
        return f"it made {len(observed)} observations, the reference {len(expected)}"
    return ""


def _value_mismatch(value: np.ndarray, want: Observation) -> str:
    """How ``value`` differs from the reference's observation ("" when it matches)."""
    expected = want.value
    same_kind = value.dtype == expected.dtype or (value.dtype.kind == expected.dtype.kind == "U")
    if not same_kind:
        return f"dtype {value.dtype}, the reference gives {expected.dtype}"
    if value.shape != expected.shape:
        return f"shape {value.shape}, the reference gives {expected.shape}"
    if expected.dtype.kind == "f":
        close = np.isclose(value, expected, rtol=want.rtol, atol=want.atol, equal_nan=True)
    else:
        close = value == expected
    if np.all(close):
        return ""
    where = tuple(int(i) for i in np.argwhere(~np.asarray(close))[0]) if value.ndim else ()
    got_item, want_item = value[where], expected[where]
    at = f" at index {where}" if where else ""
    return f"differs from the reference solution{at}: got {got_item!r}, the reference gives {want_item!r}"


def _error_reason(error: dict[str, object]) -> str:
    kind = error.get("kind")
    if kind == "timeout":
        return f"stopped: {error.get('evalue')} (does a loop never end?)"
    if kind == "memory":
        return "ran out of memory (MemoryError)"
    if error.get("ename") == "KeyboardInterrupt":
        return "KeyboardInterrupt raised in the cell"
    functions = error.get("functions")
    names = [str(name) for name in functions] if isinstance(functions, list) else []
    return describe_failure(
        clean(str(error.get("ename", "Error"))), clean(str(error.get("evalue", ""))), names, clean(str(error.get("failing_line", "")))
    )


def _outputs(record: dict[str, object]) -> list[nbformat.NotebookNode]:
    """Notebook outputs for one cell's record: its printed text and its error."""
    outputs = []
    if record.get("output"):
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=clean(str(record["output"]))))
    error = record.get("error")
    if isinstance(error, dict):
        outputs.append(
            nbformat.v4.new_output(
                "error", ename=clean(str(error.get("ename"))), evalue=clean(str(error.get("evalue"))), traceback=[]
            )
        )
    return outputs


def _not_run_reason(labels: list[str], done: int, outcome: Outcome) -> str:
    """Why the cells from ``labels[done]`` on never ran."""
    where = labels[min(done, len(labels) - 1)]
    if outcome.killed_for:
        if outcome.killed_for.startswith("was still running"):
            return f"timeout: {where} {outcome.killed_for}; later cells did not run"
        return f"timeout: {outcome.killed_for}; later cells did not run"
    # A signal ends a process with a negative code; bubblewrap passes it on as 128 + the signal.
    signal = -outcome.returncode if outcome.returncode < 0 else outcome.returncode - 128
    if outcome.returncode < 0 or outcome.returncode > 128:
        return f"crash: the process was killed in {where} (signal {signal}; out of memory?)"
    return f"crash: the process ended in {where} (exit code {outcome.returncode}); later cells did not run"


def _unfinished_verdict(outcome: Outcome) -> Verdict:
    return Verdict.TIMEOUT if outcome.killed_for else Verdict.CRASH


def new_seed() -> int:
    """A seed for one grading run's unseen inputs, unpredictable to anyone who wrote a notebook."""
    return int.from_bytes(os.urandom(4), "little")
