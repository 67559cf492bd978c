"""Run a graded notebook's cells in plain Python and report each cell's outcome: the grading child.

tito copies this file into a fresh folder and runs it there, in a sandbox, as a program of
its own: it imports nothing from tito, so nothing of the course tree needs to be visible.
It reads its job from the JSON file named by its first argument::

    {"results": "results.jsonl", "observations": "observations", "cell_seconds": 60,
     "cells": [{"name": "impl-as-array", "source": "..."}, ...]}

and runs the cells in order in one namespace, as plain Python: there is no IPython, so
no input or AST transformer and no custom exception handler can rewrite a later cell.
While cell ``i`` runs, ``TITO_OBSERVATIONS`` names the folder ``observations/i``, where the
course's ``observe()`` writes what the tests observe. After each cell the runner appends one
JSON line to the results file: the cell's index, its output and its error, if any. It also
checks that the cell left alone what the tests rely on (builtins, NumPy's comparison
functions, tracing hooks) and reports a change as tampering.

Nothing here is trusted. Student code runs in this process and can rewrite anything it
writes; tito reads the results as plain data, and a grade needs observations that match the
reference solution's, computed in another process on inputs drawn for the run.

A cell that runs longer than ``cell_seconds`` is stopped with ``CellTimeout``; one that
ignores that is killed by tito from outside.
"""

from __future__ import annotations

import __future__
import builtins
import contextlib
import io
import json
import os
import signal
import sys
import threading
import traceback
from types import FrameType, ModuleType
from typing import Any

OUTPUT_MAX_CHARS = 20_000
# Where the course's observe() (tinytorch.tensor, module 01) writes; the same name is there.
OBSERVATIONS_VARIABLE = "TITO_OBSERVATIONS"
# Functions whose replacement would make a failing test pass; checked after every cell.
GUARDED_FUNCTIONS = {
    "numpy": ("allclose", "isclose", "array_equal", "array_equiv", "all", "any", "abs", "asarray", "array"),
    "numpy.testing": (
        "assert_allclose", "assert_array_equal", "assert_equal", "assert_array_almost_equal",
        "assert_almost_equal", "assert_raises",
    ),
    "math": ("isclose", "isfinite", "isnan"),
}  # fmt: skip


# Compiler flags of every __future__ feature: a cell's ``from __future__ import ...`` holds for
# the cells after it, as in IPython (and not because this file has such an import).
_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag


class CellTimeout(BaseException):
    """Raised inside a cell that runs past its time limit (a BaseException: not an ordinary error)."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise CellTimeout


class Guard:
    """Remembers what the graded tests rely on and tells what a cell changed."""

    def __init__(self) -> None:
        self.builtins = dict(vars(builtins))
        self.functions: dict[tuple[str, str], object] = {}
        self.learn()

    def learn(self) -> None:
        """Remember the guarded functions of modules imported since the last call."""
        for module_name, names in GUARDED_FUNCTIONS.items():
            module = sys.modules.get(module_name)
            if isinstance(module, ModuleType):
                for name in names:
                    key = (module_name, name)
                    if key not in self.functions and hasattr(module, name):
                        self.functions[key] = getattr(module, name)

    def changes(self) -> list[str]:
        """What differs from what was remembered, e.g. ``numpy.allclose replaced``."""
        found = []
        current = vars(builtins)
        for name, value in self.builtins.items():
            if current.get(name) is not value:
                found.append(f"builtins.{name} replaced")
        for (module_name, name), value in self.functions.items():
            module = sys.modules.get(module_name)
            if module is None or getattr(module, name, None) is not value:
                found.append(f"{module_name}.{name} replaced")
        if sys.gettrace() is not None or sys.getprofile() is not None:
            found.append("a tracing or profiling hook installed")
        if threading.gettrace() is not None or threading.getprofile() is not None:
            found.append("a thread tracing hook installed")
        if signal.getsignal(signal.SIGALRM) is not _on_alarm:
            found.append("the cell time limit disabled")
        return found


def _error_record(error: BaseException, seconds: int) -> dict[str, Any]:
    """The error of a cell as plain data: type, message, the functions it passed through."""
    if isinstance(error, CellTimeout):
        return {"kind": "timeout", "ename": "CellTimeout", "evalue": f"the cell ran longer than {seconds} s"}
    if isinstance(error, MemoryError):
        return {"kind": "memory", "ename": "MemoryError", "evalue": str(error)}
    frames = traceback.extract_tb(error.__traceback__)[1:]  # the first frame is this runner
    return {
        "kind": "error",
        "ename": type(error).__qualname__,
        "evalue": str(error)[:OUTPUT_MAX_CHARS],
        "functions": [frame.name for frame in frames],
        "failing_line": (frames[-1].line or "") if frames else "",
    }


def run_cell(source: str, name: str, namespace: dict[str, Any], seconds: int, flags: list[int]) -> dict[str, Any]:
    """Run one cell's ``source`` in ``namespace``; its output and error (None when it passed).

    ``flags`` holds the __future__ flags in force; a cell's own future imports are added.
    """
    output = io.StringIO()
    error: dict[str, Any] | None = None
    try:
        code = compile(source, f"<cell {name}>", "exec", flags=flags[0], dont_inherit=True)
        flags[0] |= code.co_flags & _FUTURE_FLAGS
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                exec(code, namespace)  # noqa: S102  (running the notebook is the point)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    # A cell may raise anything, SystemExit and KeyboardInterrupt included; each is its
    # outcome, recorded, and the next cell runs (as in Jupyter).
    except BaseException as caught:  # noqa: BLE001
        error = _error_record(caught, seconds)
    text = output.getvalue()
    return {"output": text[:OUTPUT_MAX_CHARS], "error": error}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as file:
        job = json.load(file)
    seconds = int(job["cell_seconds"])
    signal.signal(signal.SIGALRM, _on_alarm)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    guard = Guard()
    flags = [0]
    with open(job["results"], "a", encoding="utf-8") as results:
        for index, cell in enumerate(job["cells"]):
            observations = os.path.join(job["observations"], str(index))
            os.makedirs(observations, exist_ok=True)
            os.environ[OBSERVATIONS_VARIABLE] = observations
            record = run_cell(cell["source"], cell["name"], namespace, seconds, flags)
            changes = guard.changes()
            guard.learn()
            record.update(index=index, tampered=changes)
            results.write(json.dumps(record) + "\n")
            results.flush()


if __name__ == "__main__":
    main()
