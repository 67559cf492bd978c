"""``tito module test``: grade a module's notebook, export it, run its pytest files.

The notebook part is the autograder's engine (``tito.grader``): the course's own notebook
(the module script in a source repository, the release kept in ``.tito/releases/`` in a
student copy) with the student's solution cells, run against the student's exported
earlier modules, under the same limits as grading. Locked tests and points therefore come
from the course, not from the student's file. There is no reference solution to compare
with here, so a graded cell passes when it raises nothing (autograding also requires its
observations to match the reference's on unseen inputs). The pytest part runs only the course's test
files (checked against the manifest a student copy carries), ignores ``conftest.py``
files, stops a test that hangs, and counts an empty or cut-short run as a failure.

This path is the student's own check, on the student's machine: it is not fooled by
accident or by simple edits, but its verdict is advisory; the recorded grade comes from
autograding (``tito.grading``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tito.course import MANIFEST_FILE, PACKAGE_NAME, ModuleInfo, data_environment, file_digest
from tito.errors import TitoError
from tito.export import export_notebook
from tito.grader import Grade, Isolation, Verdict, grade_notebook
from tito.grading import staging_package
from tito.limits import Limits, current_limits
from tito.notebooks import read_notebook
from tito.reasons import clean_text, load_failure_reason, pytest_failure_reason

# Run as a program by its path: importing it here would load pytest and hypothesis into tito.
PYTEST_DRIVER = Path(__file__).with_name("pytest_driver.py")


@dataclass(frozen=True)
class CheckResult:
    """One graded notebook test, notebook cell or pytest test, and its verdict."""

    name: str
    passed: bool
    reason: str = ""  # one line a student understands; empty when passed
    points: float = 0.0  # points possible; only graded notebook tests carry points
    detail: str = ""  # the whole message behind ``reason`` (`tito module test --verbose`)

    @property
    def earned(self) -> float:
        return self.points if self.passed else 0.0


@dataclass(frozen=True)
class Report:
    """Everything ``tito module test`` found out about one module."""

    module: ModuleInfo
    grade: Grade  # the notebook, graded as the autograder grades it
    pytest: dict[Path, list[CheckResult]]  # per test file, its tests by name
    exported: list[Path]
    seconds: float

    @property
    def graded(self) -> list[CheckResult]:
        return [CheckResult(c.name, c.passed, c.reason, c.points, c.detail) for c in self.grade.cells]

    @property
    def cell_errors(self) -> list[CheckResult]:
        return [CheckResult(c.name, False, c.reason, detail=c.detail) for c in self.grade.errors]

    @property
    def points(self) -> float:
        return self.grade.earned

    @property
    def possible(self) -> float:
        return self.grade.possible

    @property
    def pytest_results(self) -> list[CheckResult]:
        return [result for results in self.pytest.values() for result in results]

    @property
    def passed(self) -> bool:
        checks = [*self.graded, *self.cell_errors, *self.pytest_results]
        return self.grade.verdict is Verdict.GRADED and all(result.passed for result in checks)


def repo_environment(root: Path) -> dict[str, str]:
    """This process's environment with ``root`` first on PYTHONPATH, so that code run in it
    imports the ``tinytorch/`` of ``root`` rather than any installed copy, and finds
    ``root``'s bundled data."""
    env = {**os.environ, **data_environment(root)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


# --------------------------------------------------------------------------- the notebook


def grade_working_notebook(info: ModuleInfo, limits: Limits) -> tuple[Grade, nbformat.NotebookNode]:
    """The working notebook graded on the course's template; also the notebook itself (to export)."""
    submission = read_notebook(info.working_file)
    template = read_notebook(info.template)
    with tempfile.TemporaryDirectory(prefix="tito-staging-") as scratch:
        staging = staging_package(info.root, info, Path(scratch))
        isolation = Isolation(visible=(info.root.resolve() / "data",))
        grade = grade_notebook(
            template, submission, staging / PACKAGE_NAME, limits, isolation, data_environment(info.root)
        )
    return grade, submission


# --------------------------------------------------------------------------- pytest


def course_test_files(info: ModuleInfo) -> tuple[list[Path], list[CheckResult]]:
    """The module's test files to run, and a failure for each one that differs from the manifest.

    A student copy carries a manifest of the course's test files and their digests; only
    files listed there run, and a changed one fails with a reason. A source repository
    (no manifest) runs its ``tests/modules/test_NN_*.py`` files as they are.
    """
    manifest_path = info.root / MANIFEST_FILE
    if not manifest_path.exists():
        return info.test_files, []
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise TitoError(f"{manifest_path} is damaged; copy it again from the course release.") from None
    prefix = f"tests/modules/test_{info.number:02d}_"
    files, changed = [], []
    for relative, digest in sorted(manifest.items()):
        if not relative.startswith(prefix):
            continue
        path = info.root / relative
        if not path.exists() or file_digest(path) != digest:
            reason = f"{relative} is missing or changed since the course was released; restore it"
            changed.append(CheckResult("(the test file)", False, reason))
        else:
            files.append(path)
    return files, changed


def run_pytest(info: ModuleInfo, limits: Limits) -> dict[Path, list[CheckResult]]:
    """Run the module's course test files in a subprocess; results per file, per test."""
    files, changed = course_test_files(info)
    results: dict[Path, list[CheckResult]] = {path: [] for path in files}
    if changed:
        results[info.root / "tests" / "modules"] = changed
    if not files:
        return results
    with tempfile.TemporaryDirectory(prefix="tito-pytest-") as scratch:
        stream = Path(scratch) / "results.jsonl"
        ini = Path(scratch) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")  # the course's settings, not the folder's
        command = [
            sys.executable, str(PYTEST_DRIVER), str(stream), str(limits.cell_seconds),
            *map(str, files), "-c", str(ini), f"--rootdir={info.root}", "--noconftest",
            "-q", "--tb=native", "-p", "no:cacheprovider", "--continue-on-collection-errors",
        ]  # fmt: skip
        returncode, stopped = _run_with_cap(command, info.root, limits.pytest_seconds)
        records = [json.loads(line) for line in stream.read_text(encoding="utf-8").splitlines()] if stream.exists() else []
    for record in records:
        path = _file_of(record["nodeid"], files, info.root)
        results[path].append(_check_of(record))
    ran = sum(len(checks) for checks in results.values()) - len(changed)
    if stopped:
        results[files[0]].append(
            CheckResult("pytest", False, f"pytest was stopped after {limits.pytest_seconds} s; later tests did not run")
        )
    elif ran == 0:
        results[files[0]].append(CheckResult("pytest", False, f"pytest ran no test (exit code {returncode})"))
    elif returncode not in (0, 1):
        results[files[0]].append(CheckResult("pytest", False, f"pytest ended early (exit code {returncode})"))
    return results


def _run_with_cap(command: list[str], cwd: Path, seconds: int) -> tuple[int, bool]:
    """Run ``command``; kill its whole process group after ``seconds``. (exit code, stopped?)

    The group is killed too when tito itself is interrupted (Ctrl-C), so no test that ignores
    signals outlives the command that started it.
    """
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=repo_environment(cwd),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return _kill_group(process), True
    finally:
        if process.poll() is None:
            _kill_group(process)
    return process.returncode, False


def _kill_group(process: subprocess.Popen[bytes]) -> int:
    """SIGKILL ``process`` and everything in its session; its exit code."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # already gone
    return process.wait()


def _file_of(nodeid: str, files: list[Path], root: Path) -> Path:
    relative = nodeid.split("::", 1)[0]
    return next((path for path in files if path.relative_to(root).as_posix() == relative), files[0])


def _check_of(record: dict[str, str]) -> CheckResult:
    """A pytest record of the driver as a row: the test's name within its file, and why it failed."""
    if record["outcome"] == "load-error":
        return CheckResult("(loading the test file)", False, load_failure_reason(record["text"]))
    name = record["nodeid"].split("::", 1)[-1].replace("::", ".")
    if record["outcome"] == "failed":
        detail = clean_text(record["message"]).strip()
        return CheckResult(name, False, pytest_failure_reason(record["message"], record["text"]), detail=detail)
    return CheckResult(name, True)


# --------------------------------------------------------------------------- the whole test


def run_module_test(info: ModuleInfo, on_step: Callable[[str], None]) -> Report:
    """Test one module as a student does; ``on_step`` receives a short progress text.

    The caller has checked that ``info`` is present and its prerequisites are exported
    (``tito.cli`` does, once).
    """
    started = time.perf_counter()
    limits = current_limits()
    on_step("Running the notebook")
    grade, notebook = grade_working_notebook(info, limits)
    on_step("Exporting to tinytorch/")
    exported = export_notebook(notebook, info, source=info.working_file)
    on_step("Running pytest")
    pytest_results = run_pytest(info, limits)
    return Report(info, grade, pytest_results, exported, time.perf_counter() - started)

