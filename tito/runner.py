"""``tito module test``: run a module's notebook, export it, run its pytest files.

The notebook runs top to bottom in one Jupyter kernel, past errors, so every graded test
cell gets a verdict. The kernel and pytest both see ``PYTHONPATH=<repo root>``: the
``tinytorch/`` of *this* repository (a student's copy included) is the one imported.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from tito.course import ModuleInfo
from tito.errors import TitoError
from tito.export import export_notebook
from tito.limits import current_limits
from tito.notebooks import read_notebook
from tito.reasons import junit_failure_reason, junit_load_failure_reason, notebook_error_reason, shorten

KERNEL_NAME = "python3"

# pytest, with a hypothesis profile that reports the first failing example as it is. On an
# unfinished module every property test fails, and shrinking each failure costs tens of
# seconds while telling a student nothing more (the reason names the stub either way).
_PYTEST_WITH_FAST_HYPOTHESIS = """
import sys
import pytest
from hypothesis import Phase, settings
settings.register_profile(
    "tito", phases=(Phase.explicit, Phase.reuse, Phase.generate), report_multiple_bugs=False
)
sys.exit(pytest.main(sys.argv[1:]))
"""
# The first line of a cell that defines something: "def as_array(" or "class Tensor:".
_DEFINITION = re.compile(r"^(?:@.*\n)*(?:def|class)\s+(\w+)", re.MULTILINE)


@dataclass(frozen=True)
class CheckResult:
    """One graded notebook test, notebook cell or pytest test, and its verdict."""

    name: str
    passed: bool
    reason: str = ""  # one line a student understands; empty when passed
    points: float = 0.0  # points possible; only graded notebook tests carry points

    @property
    def earned(self) -> float:
        return self.points if self.passed else 0.0


@dataclass(frozen=True)
class Report:
    """Everything ``tito module test`` found out about one module."""

    module: ModuleInfo
    graded: list[CheckResult]  # graded test cells of the notebook, in order
    cell_errors: list[CheckResult]  # other notebook cells that raised an error
    pytest: dict[Path, list[CheckResult]]  # per test file, its tests by name
    exported: list[Path]
    seconds: float

    @property
    def points(self) -> float:
        return sum(result.earned for result in self.graded)

    @property
    def possible(self) -> float:
        return sum(result.points for result in self.graded)

    @property
    def pytest_results(self) -> list[CheckResult]:
        return [result for results in self.pytest.values() for result in results]

    @property
    def passed(self) -> bool:
        checks = [*self.graded, *self.cell_errors, *self.pytest_results]
        return all(result.passed for result in checks)


def cell_name(nb: nbformat.NotebookNode, index: int) -> str:
    """A notebook cell named by its task, as a student finds it (Jupyter numbers no cells).

    A graded or solution cell by its ``grade_id``; a cell that defines a function or class
    by that name; any other cell by the graded cell before it and its first line.
    """
    cell = nb.cells[index]
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    if grade_id:
        return grade_id
    defined = _DEFINITION.search(cell.source)
    if defined:
        return f"the cell defining {defined.group(1)}"
    first_line = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    first_line = first_line if len(first_line) <= 60 else first_line[:59] + "…"
    before = next(
        (
            earlier.metadata.get("nbgrader", {}).get("grade_id")
            for earlier in reversed(nb.cells[:index])
            if earlier.metadata.get("nbgrader", {}).get("grade_id")
        ),
        None,
    )
    place = f"the cell after {before}" if before else "a cell at the top"
    return f"{place}: {first_line}"


def repo_environment(root: Path) -> dict[str, str]:
    """This process's environment with ``root`` first on PYTHONPATH, so that code run in it
    imports the ``tinytorch/`` of ``root`` rather than any installed copy."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


def _start_kernel(client: NotebookClient, stack: ExitStack, info: ModuleInfo) -> None:
    try:
        # The kernel's own log (e.g. ipykernel's TCP warning) is noise to a student; cell
        # output, including stderr, still arrives through Jupyter messages.
        stack.enter_context(
            client.setup_kernel(
                env=repo_environment(info.root), cwd=str(info.folder), stderr=subprocess.DEVNULL
            )
        )
    except NoSuchKernel:
        raise TitoError(
            f"The Jupyter kernel '{KERNEL_NAME}' is not installed. Run `tito system doctor`."
        ) from None
    except RuntimeError as error:  # nbclient: "Kernel didn't respond in 60 seconds"
        raise TitoError(f"The Jupyter kernel did not start ({error}). Run `tito system doctor`.") from None


def execute_notebook(
    nb: nbformat.NotebookNode, info: ModuleInfo, on_cell: Callable[[int, int], None]
) -> tuple[list[CheckResult], list[CheckResult]]:
    """Run ``nb`` in place, top to bottom, in one kernel, continuing past errors.

    Returns (graded test cells, other cells that raised). ``on_cell(i, n)`` is called
    before cell ``i`` of ``n`` runs.
    """
    limits = current_limits()
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=limits.cell_seconds,
        interrupt_on_timeout=True,
        allow_errors=True,
    )
    died_at: int | None = None
    with ExitStack() as stack:
        _start_kernel(client, stack, info)
        for index, cell in enumerate(nb.cells):
            on_cell(index, len(nb.cells))
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except DeadKernelError:
                died_at = index
                break
    return _collect_results(nb, died_at)


def _collect_results(
    nb: nbformat.NotebookNode, died_at: int | None
) -> tuple[list[CheckResult], list[CheckResult]]:
    graded: list[CheckResult] = []
    errors: list[CheckResult] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if died_at is not None and index >= died_at:
            reason = f"not run: the kernel died in {cell_name(nb, died_at)} (out of memory, or the process was ended)"
            passed = False
        else:
            error = next((o for o in cell.get("outputs", []) if o.output_type == "error"), None)
            reason = notebook_error_reason(error) if error else ""
            passed = error is None
        name = cell_name(nb, index)
        if meta.get("grade"):
            graded.append(CheckResult(name, passed, reason, float(meta.get("points", 0))))
        elif not passed and (died_at is None or index == died_at):
            errors.append(CheckResult(name, passed, reason))
    return graded, errors


def run_pytest(info: ModuleInfo) -> dict[Path, list[CheckResult]]:
    """Run the module's pytest files in a subprocess; results per file, per test."""
    if not info.test_files:
        return {}
    seconds = current_limits().pytest_seconds
    with tempfile.TemporaryDirectory(prefix="tito-pytest-") as scratch:
        junit = Path(scratch) / "junit.xml"
        command = [
            sys.executable, "-c", _PYTEST_WITH_FAST_HYPOTHESIS, *map(str, info.test_files),
            "--hypothesis-profile=tito",
            "-q", "--tb=native", "-p", "no:cacheprovider", f"--junitxml={junit}",
            "--continue-on-collection-errors",  # one broken test file must not hide the others
        ]  # fmt: skip
        try:
            completed = subprocess.run(
                command,
                cwd=info.root,
                env=repo_environment(info.root),
                capture_output=True,
                text=True,
                check=False,
                timeout=seconds,
            )
        except subprocess.TimeoutExpired:
            reason = f"pytest stopped after {seconds} s: does a loop never end?"
            return {info.test_files[0]: [CheckResult("pytest", False, reason)]}
        if not junit.exists():
            last = (completed.stdout + completed.stderr).strip().splitlines() or ["no output"]
            failure = CheckResult("pytest", False, shorten(f"pytest did not run: {last[-1]}"))
            return {info.test_files[0]: [failure]}
        return _read_junit(junit, info)


def _read_junit(junit: Path, info: ModuleInfo) -> dict[Path, list[CheckResult]]:
    results: dict[Path, list[CheckResult]] = {path: [] for path in info.test_files}
    dotted = {path: ".".join(path.relative_to(info.root).with_suffix("").parts) for path in info.test_files}
    for case in ET.parse(junit).getroot().iter("testcase"):
        classname = case.get("classname", "")
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if not classname:  # a file that failed to load: one case named by its module
            path = next((p for p, name in dotted.items() if name == case.get("name")), info.test_files[0])
            reason = junit_load_failure_reason(problem) if problem is not None else ""
            results[path].append(CheckResult("(loading the test file)", problem is None, reason))
            continue
        path = next(
            (p for p, name in dotted.items() if classname == name or classname.startswith(name + ".")),
            info.test_files[0],
        )
        # Tests in a class: "TestShapes.test_reshape"; module-level tests: "test_reshape".
        owner = classname[len(dotted[path]) + 1 :] if classname.startswith(dotted[path] + ".") else ""
        name = ".".join(filter(None, [owner, case.get("name", "?")]))
        reason = junit_failure_reason(problem) if problem is not None else ""
        results[path].append(CheckResult(name, problem is None, reason))
    return results


def run_module_test(info: ModuleInfo, on_step: Callable[[str], None]) -> Report:
    """Test one module as a student does; ``on_step`` receives a short progress text.

    The caller has checked that ``info`` is present and its prerequisites are exported
    (``tito.cli`` does, once). Runs ``info.working_file``, exports it into ``tinytorch/``,
    then runs the module's pytest files.
    """
    started = time.perf_counter()
    source = info.working_file
    notebook = read_notebook(source)
    executed = copy.deepcopy(notebook)
    graded, cell_errors = execute_notebook(
        executed, info, lambda i, n: on_step(f"Running notebook cell {i + 1}/{n}")
    )
    on_step("Exporting to tinytorch/")
    exported = export_notebook(notebook, info, source=source)
    on_step("Running pytest")
    pytest_results = run_pytest(info)
    return Report(
        module=info,
        graded=graded,
        cell_errors=cell_errors,
        pytest=pytest_results,
        exported=exported,
        seconds=time.perf_counter() - started,
    )
