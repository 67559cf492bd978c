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
from nbformat.reader import NotJSONError

from tito.build import export_notebook, read_module_notebook
from tito.course import ModuleInfo, require_present
from tito.errors import TitoError
from tito.progress import check_prerequisites

KERNEL_NAME = "python3"
# Module cells run in seconds; a cell still busy after this long is a student's endless loop.
CELL_TIMEOUT_SECONDS = 120
# A module's whole pytest run takes seconds to a minute; far beyond that, something hangs.
PYTEST_TIMEOUT_SECONDS = 900
REASON_MAX_CHARS = 200

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# IPython frame headers: "Cell In[3], line 5, in as_array(data, dtype)" or
# "File ~/x/tensor.py:12, in Tensor.matmul(self, other)".
_IPYTHON_FRAME = re.compile(r"^(?:Cell In\[\d+\], line \d+|File .*:\d+), in ([\w.<>]+)\(", re.MULTILINE)
# Plain Python frames (pytest --tb=native): 'File "/x/tensor.py", line 12, in as_array'.
_NATIVE_FRAME = re.compile(r'^\s*File ".*", line \d+, in ([\w.<>]+)\s*$', re.MULTILINE)
# The "----> 5 assert x == y" line IPython puts under the failing line of a frame.
_IPYTHON_ARROW = re.compile(r"^-+> +\d+ (.*)$", re.MULTILINE)
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
# The headers np.testing.assert_* put before the err_msg a test passes to them.
_NUMPY_TESTING_HEADER = re.compile(r"^(Not equal to tolerance|Arrays are not|Items are not)")
# The first line of a JUnit failure message, "ShapeError: ..." or "NotImplementedError";
# pytest's own assertion messages ("assert 1 == 2") do not match and are shown as they are.
_EXCEPTION_MESSAGE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")


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


def describe_failure(ename: str, evalue: str, functions: list[str], failing_line: str = "") -> str:
    """One line for a student: the function still to write, else what went wrong and where.

    ``functions`` are the traceback's function names, outermost first; ``failing_line`` is
    the source line that raised, used when an ``assert`` has no message.
    """
    ename = ename.rsplit(".", 1)[-1]
    message = _first_message_line(evalue)
    # A bare `raise NotImplementedError()` is the stub nbgrader leaves in a solution.
    if ename == "NotImplementedError" and not message and functions:
        return f"{functions[-1]} is not written yet (NotImplementedError)"
    if ename == "KeyboardInterrupt":
        return f"stopped after {CELL_TIMEOUT_SECONDS} s: does a loop never end?"
    if ename == "AssertionError":
        failing = failing_line.strip()
        reason = message or (f"assertion failed: {failing}" if failing else "an assertion failed")
    elif functions and not functions[-1].startswith(("<", "test")):
        # Name the function that raised, unless it is the test itself (already named).
        reason = f"{ename} in {functions[-1]}: {message}" if message else f"{ename} in {functions[-1]}"
    else:
        reason = f"{ename}: {message}" if message else ename
    return _shorten(reason)


def _first_message_line(evalue: str) -> str:
    """The first line of an error message that says something.

    ``np.testing`` puts a generic header ("Not equal to tolerance rtol=..., atol=...")
    before the test's own ``err_msg``; the two lines are joined so the student sees both.
    """
    lines = [line.strip() for line in evalue.splitlines() if line.strip()]
    if len(lines) > 1 and _NUMPY_TESTING_HEADER.match(lines[0]):
        return f"{lines[1]} ({lines[0]})"
    return lines[0] if lines else ""


def _shorten(text: str) -> str:
    return text if len(text) <= REASON_MAX_CHARS else text[: REASON_MAX_CHARS - 1] + "…"


def notebook_error_reason(output: nbformat.NotebookNode) -> str:
    """The one-line reason for an ``error`` output of an executed cell."""
    traceback = _ANSI.sub("", "\n".join(output.get("traceback", [])))
    arrows = _IPYTHON_ARROW.findall(traceback)
    return describe_failure(
        output.get("ename", "Error"),
        output.get("evalue", ""),
        _IPYTHON_FRAME.findall(traceback),
        arrows[-1] if arrows else "",
    )


def _cell_name(cell: nbformat.NotebookNode, index: int) -> str:
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    if grade_id:
        return grade_id
    first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
    return _shorten(f"cell {index + 1}: {first_line.strip()[:40]}")


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
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_SECONDS,
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
            reason = (
                f"not run: the kernel died in cell {died_at + 1} (out of memory, or the process was ended)"
            )
            passed = False
        else:
            error = next((o for o in cell.get("outputs", []) if o.output_type == "error"), None)
            reason = notebook_error_reason(error) if error else ""
            passed = error is None
        name = _cell_name(cell, index)
        if meta.get("grade"):
            graded.append(CheckResult(name, passed, reason, float(meta.get("points", 0))))
        elif not passed and (died_at is None or index == died_at):
            errors.append(CheckResult(name, passed, reason))
    return graded, errors


def run_pytest(info: ModuleInfo) -> dict[Path, list[CheckResult]]:
    """Run the module's pytest files in a subprocess; results per file, per test."""
    if not info.test_files:
        return {}
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
                timeout=PYTEST_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            reason = f"pytest stopped after {PYTEST_TIMEOUT_SECONDS} s: does a loop never end?"
            return {info.test_files[0]: [CheckResult("pytest", False, reason)]}
        if not junit.exists():
            last = (completed.stdout + completed.stderr).strip().splitlines() or ["no output"]
            failure = CheckResult("pytest", False, _shorten(f"pytest did not run: {last[-1]}"))
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
            reason = _load_failure_reason(problem) if problem is not None else ""
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


def _load_failure_reason(problem: ET.Element) -> str:
    """pytest's collection error: its last "E   SomeError: ..." line says what broke."""
    errors = [line[1:].strip() for line in (problem.text or "").splitlines() if line.startswith("E ")]
    return _shorten(
        f"the test file could not be loaded: {errors[-1] if errors else problem.get('message', '')}"
    )


def stub_functions(traceback_text: str) -> list[str]:
    """Functions that raised a bare ``NotImplementedError`` (a stub), in order of appearance.

    Reads plain Python tracebacks anywhere in ``traceback_text``, including indented ones
    (a subprocess's stderr inside an assert message) and exception groups (``|`` margins).
    """
    found: list[str] = []
    current = ""
    for raw in traceback_text.splitlines():
        line = raw.lstrip(" |+")
        frame = _NATIVE_FRAME.match(line)
        if frame:
            current = frame.group(1)
        elif line.rstrip(": ") == "NotImplementedError" and current and current not in found:
            found.append(current)
    return found


def junit_failure_reason(problem: ET.Element) -> str:
    """The one-line reason for a JUnit ``<failure>`` or ``<error>`` of pytest ``--tb=native``."""
    message = problem.get("message", "").strip()
    text = problem.text or ""
    stubs = stub_functions(text)
    if stubs:
        return describe_failure("NotImplementedError", "", stubs[:1])
    first, _, rest = message.partition("\n")
    match = _EXCEPTION_MESSAGE.match(first)
    if match is None:  # pytest's rewritten assert without a message: "assert 1 == 2"
        return describe_failure("AssertionError", message, [])
    evalue = _last_line_if_traceback("\n".join([match.group(2) or "", rest]))
    return describe_failure(match.group(1), evalue, _NATIVE_FRAME.findall(text))


def _last_line_if_traceback(message: str) -> str:
    """A message that is itself a traceback (a subprocess's stderr) is summed up by its last line."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1] if lines and lines[0].startswith("Traceback (most recent call last)") else message


def _read_notebook(info: ModuleInfo) -> nbformat.NotebookNode:
    try:
        return read_module_notebook(info)
    except NotJSONError:
        raise TitoError(
            f"{info.notebook} is not a readable notebook (its JSON is broken). Restore it "
            "from .ipynb_checkpoints/ or your version control."
        ) from None


def run_module_test(info: ModuleInfo, on_step: Callable[[str], None]) -> Report:
    """Test one module as a student does; ``on_step`` receives a short progress text.

    Raises TitoError when the module is absent or an earlier module is not exported.
    """
    require_present(info)
    check_prerequisites(info)
    started = time.perf_counter()
    notebook = _read_notebook(info)
    executed = copy.deepcopy(notebook)
    graded, cell_errors = execute_notebook(
        executed, info, lambda i, n: on_step(f"Running notebook cell {i + 1}/{n}")
    )
    on_step("Exporting to tinytorch/")
    exported = export_notebook(notebook, info)
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
