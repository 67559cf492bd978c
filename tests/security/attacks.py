"""The grading attack battery: hostile and ordinary submissions of a module, and the grade each deserves.

Each ``Attack`` builds a submitted notebook (as file bytes) from the module's course
notebooks and says what grading must give it: points, verdict and words the reason must
hold. Most attacks start from the blank release, so the right score is 0 whatever the
attack does; the others start from the reference solution and keep exactly the points of
what ran before the attack struck.

Run as a script to write every submission of every module to a folder, for an
instructor to inspect or to grade by hand::

    python tests/security/attacks.py OUT_DIR
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tito.course import ModuleInfo, present_modules
from tito.grader import Verdict
from tito.submission import is_solution

REPO_ROOT = Path(__file__).resolve().parents[2]
# Limits while grading the battery. FAST: every cell of the reference runs well within it.
# HANG: short, so that the attacks that hang on purpose cost seconds.
FAST_LIMITS = {"TITO_LIMIT_CELL_SECONDS": "20", "TITO_LIMIT_GRACE_SECONDS": "1"}
HANG_LIMITS = {"TITO_LIMIT_CELL_SECONDS": "1", "TITO_LIMIT_GRACE_SECONDS": "1"}
# The modules in the battery: a new module joins with one line here. Each gets the attacks
# whose grade depends on the module's own cells: blank, reference, partial credit, a crash
# after the reference (the points up to it are kept) and its tests replaced by ``pass``.
# The attacks on the grader itself (``grader_only``: interpreter tampering, reaching the
# course folder, limits, broken files, and the other crashes and edits of locked cells,
# points and metadata, which one code path handles whatever the module) run on the first
# module only, the cheapest to grade: every notebook of the battery costs a kernel run.
ATTACK_MODULES = (
    "01_tensor",
    "02_autograd",
    "03_activations",
    "04_layers",
    "05_losses",
    "06_optimizers",
    "07_training",
    "08_dataloader",
    "09_spatial",
    "10_normalization",
    "11_tokenization",
    "12_embeddings",
    "13_attention",
    "14_transformers",
    "15_profiling",
    "16_acceleration",
)
_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)


# The Jupyter oracle fixture: (template, submission, module) -> points earned.
JupyterPoints = Callable[[nbformat.NotebookNode, nbformat.NotebookNode, ModuleInfo], float]


@dataclass(frozen=True)
class Course:
    """What an attack is built from: a module's course notebooks and the grader's sensitive paths."""

    info: ModuleInfo
    source: nbformat.NotebookNode  # the nbgrader source: solutions and hidden tests
    release: nbformat.NotebookNode  # the blank student release
    gradebook: Path  # the gradebook an attack tries to write
    source_path: Path  # the nbgrader source an attack tries to read

    def graded_points(self) -> list[tuple[str, float]]:
        """(grade_id, points) of every graded cell, in notebook order."""
        return [
            (cell.metadata.nbgrader["grade_id"], float(cell.metadata.nbgrader["points"]))
            for cell in self.source.cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
        ]

    @property
    def possible(self) -> float:
        return sum(points for _, points in self.graded_points())


@dataclass(frozen=True)
class Expected:
    """The grade a submission deserves. ``earned`` None: computed by the test (partial credit)."""

    earned: float | None
    verdict: Verdict
    reason: str = ""  # words the grade's reason must contain
    finding: str = ""  # words one of the static scan's findings must contain
    note: str = ""  # words one of the assembly notes must contain
    cell_reason: str = ""  # words the reason of some failed cell must contain


@dataclass(frozen=True)
class Attack:
    name: str
    build: Callable[[Course], bytes]
    expected: Callable[[Course], Expected]
    slow: bool = field(default=False)  # hits a time limit on purpose
    # Defeated only by the sandbox's hidden folders, which need bubblewrap (tito/sandbox.py).
    needs_bubblewrap: bool = field(default=False)
    # Tests the grader, not the module: run on GRADER_ATTACK_MODULES only (see ATTACK_MODULES).
    grader_only: bool = field(default=False)
    # Submitted as a symlink to the course's source notebook instead of a file (path (b) only).
    symlink_to_source: bool = field(default=False)
    # Defeated only by the comparison with the reference, which path (b) has and path (a), the
    # student's own check on the student's machine, has not (README: path (a) is advisory).
    needs_reference: bool = field(default=False)


# --------------------------------------------------------------------------- notebook edits


def _copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def _bytes(nb: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(nb).encode("utf-8")


def reference(course: Course) -> nbformat.NotebookNode:
    """The release with every solution cell holding the reference solution, as a student types it."""
    solutions = {cell.id: _MARKER.sub("", cell.source) for cell in course.source.cells if is_solution(cell)}
    nb = _copy(course.release)
    for cell in nb.cells:
        if is_solution(cell):
            cell.source = solutions[cell.id]
    return nb


ALTERNATIVES_FOLDER = REPO_ROOT / "tests" / "alternatives"


def alternative(course: Course) -> bytes | None:
    """The release with a second correct solution in every solution cell, written differently
    from the reference (``tests/alternatives/alternatives_NN.py``), or None if the module has none."""
    path = ALTERNATIVES_FOLDER / f"alternatives_{course.info.number:02d}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sources: dict[str, str] = module.ALTERNATIVES
    nb = _copy(course.release)
    solution_ids = [cell.metadata.nbgrader["grade_id"] for cell in _solution_cells(nb)]
    assert sorted(sources) == sorted(solution_ids), f"{path.name}: give an alternative for every solution cell, and no other"
    for cell in _solution_cells(nb):
        cell.source = sources[cell.metadata.nbgrader["grade_id"]]
    return _bytes(nb)


def _solution_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if is_solution(cell)]


def blank_with(code: str) -> Callable[[Course], bytes]:
    """The blank release with ``code`` at the top of its first solution cell; the words
    GRADEBOOK_PATH and SOURCE_PATH in ``code`` become the grader's real paths."""

    def build(course: Course) -> bytes:
        nb = _copy(course.release)
        first = _solution_cells(nb)[0]
        first.source = _filled(code, course) + "\n" + first.source
        return _bytes(nb)

    return build


def blank_with_added_cell(code: str) -> Callable[[Course], bytes]:
    """The blank release with a new code cell holding ``code`` at the top."""

    def build(course: Course) -> bytes:
        nb = _copy(course.release)
        nb.cells.insert(0, nbformat.v4.new_code_cell(code, id="added-by-student"))
        return _bytes(nb)

    return build


def blank_in_every_solution(first: str, each: str) -> Callable[[Course], bytes]:
    """The blank release with ``first`` at the top of its first solution cell and every
    solution cell's stub ``raise NotImplementedError()`` replaced by ``each`` (indented as
    the stub was). The words GRADEBOOK_PATH, SOURCE_PATH and REPO_SCRIPT become paths."""

    def build(course: Course) -> bytes:
        nb = _copy(course.release)
        cells = _solution_cells(nb)
        for cell in cells:
            cell.source = re.sub(
                r"^([ \t]*)raise NotImplementedError\(\)",
                lambda match: "\n".join(match.group(1) + line for line in each.splitlines()),
                cell.source,
                flags=re.MULTILINE,
            )
        cells[0].source = _filled(first, course) + "\n" + cells[0].source
        return _bytes(nb)

    return build


def solutions_replaced(first: str, each: str) -> Callable[[Course], bytes]:
    """The release with every solution cell replaced by ``each``, and ``first`` before it
    in the first solution cell."""

    def build(course: Course) -> bytes:
        nb = _copy(course.release)
        for cell in _solution_cells(nb):
            cell.source = each
        _solution_cells(nb)[0].source = _filled(first, course) + "\n" + each
        return _bytes(nb)

    return build


def _filled(code: str, course: Course) -> str:
    filled = code.replace("GRADEBOOK_PATH", repr(str(course.gradebook)))
    filled = filled.replace("SOURCE_PATH", repr(str(course.source_path)))
    return filled.replace("REPO_SCRIPT", repr(str(REPO_ROOT / "modules" / course.info.folder_name / f"{course.info.slug}.py")))


def _grade_ids_made_lists(nb: nbformat.NotebookNode) -> None:
    for cell in _solution_cells(nb):
        cell.metadata["nbgrader"]["grade_id"] = ["not", "a", "name"]


def _huge_first_solution(nb: nbformat.NotebookNode) -> None:
    _solution_cells(nb)[0].source = "x = 1\n" * 500_000


def _deep_first_solution(nb: nbformat.NotebookNode) -> None:
    _solution_cells(nb)[0].source = "x = " + "(" * 200_000 + "1" + ")" * 200_000


def _blank_edited(edit: Callable[[nbformat.NotebookNode], None]) -> Callable[[Course], bytes]:
    def build(course: Course) -> bytes:
        nb = _copy(course.release)
        edit(nb)
        return _bytes(nb)

    return build


def _tests_replaced_by_pass(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            cell.source = "pass"


def _tests_deleted(nb: nbformat.NotebookNode) -> None:
    nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def _thousand_points_cell(nb: nbformat.NotebookNode) -> None:
    meta = {"grade": True, "grade_id": "test-free-points", "locked": True, "points": 1000,
            "solution": False, "schema_version": 3}  # fmt: skip
    nb.cells.append(nbformat.v4.new_code_cell("assert True", id="test-free-points", metadata={"nbgrader": meta}))


def _points_raised(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            meta["points"] = 1000


def _metadata_stripped(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        cell.metadata = {}


def reference_ending_in(code: str) -> Callable[[Course], bytes]:
    """The reference solution with ``code`` run at the end of the last solution cell."""

    def build(course: Course) -> bytes:
        nb = reference(course)
        last = _solution_cells(nb)[-1]
        last.source = last.source + "\n" + code
        return _bytes(nb)

    return build


def points_before_last_solution(course: Course) -> float:
    """Points of the graded cells that come before the last solution cell (they ran before it)."""
    earned = 0.0
    for cell in course.source.cells:
        if is_solution(cell) and cell is _solution_cells(course.source)[-1]:
            break
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            earned += float(meta["points"])
    return earned


def partial(course: Course) -> bytes:
    """The reference solution of the first solution cell only; the rest left blank."""
    nb = _copy(course.release)
    first_reference = _solution_cells(reference(course))[0]
    _solution_cells(nb)[0].source = first_reference.source
    return _bytes(nb)


# --------------------------------------------------------------------------- the battery


def _zero(
    verdict: Verdict = Verdict.GRADED, reason: str = "", finding: str = "", note: str = "", cell_reason: str = ""
) -> Callable[[Course], Expected]:
    return lambda course: Expected(0.0, verdict, reason, finding, note, cell_reason)


ATTACKS: tuple[Attack, ...] = (
    # Ordinary submissions.
    Attack("blank", lambda c: _bytes(c.release), _zero()),
    Attack("reference", lambda c: _bytes(reference(c)), lambda c: Expected(c.possible, Verdict.GRADED, "graded")),
    Attack("partial", partial, lambda c: Expected(None, Verdict.GRADED, "graded")),
    # Tampering with the interpreter that runs the tests.
    Attack(
        "ipython-ast-transformer",
        blank_with(
            "import ast\nclass Neuter(ast.NodeTransformer):\n    def visit_Assert(self, node):\n        return ast.Pass()\n"
            "get_ipython().ast_transformers.append(Neuter())"
        ),
        _zero(finding="IPython"),
        grader_only=True,
    ),
    Attack(
        "ipython-ast-transformer-in-added-cell",
        blank_with_added_cell(
            "import ast\nclass Neuter(ast.NodeTransformer):\n    def visit_Assert(self, node):\n        return ast.Pass()\n"
            "get_ipython().ast_transformers.append(Neuter())"
        ),
        _zero(note="added to the notebook were not run"),
        grader_only=True,
    ),
    Attack(
        "ipython-input-transformer",
        blank_with("get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"),
        _zero(finding="IPython"),
        grader_only=True,
    ),
    Attack(
        "ipython-custom-exc",
        blank_with("get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)"),
        _zero(finding="swallows errors"),
        grader_only=True,
    ),
    Attack(
        "numpy-allclose-patched",
        blank_with("import numpy as np\nnp.allclose = lambda *args, **kwargs: True"),
        _zero(Verdict.TAMPERED, "numpy.allclose replaced", finding="replaces np.allclose"),
        grader_only=True,
    ),
    Attack(
        "assertion-error-patched",
        blank_with("import builtins\nbuiltins.AssertionError = type('Nothing', (Exception,), {})"),
        _zero(Verdict.TAMPERED, "builtins.AssertionError replaced", finding="builtins"),
        grader_only=True,
    ),
    Attack(
        "trace-hook-skips-asserts",
        blank_with("import sys\nsys.settrace(lambda frame, event, arg: None)"),
        _zero(Verdict.TAMPERED, "tracing", finding="tracing hook"),
        grader_only=True,
    ),
    Attack(
        "forged-results",
        blank_with(
            "import json, os\nfor i in range(500):\n"
            "    open('results.jsonl', 'a').write(json.dumps({'index': i, 'error': None, 'tampered': []}) + '\\n')"
        ),
        _zero(Verdict.TAMPERED, "not written by the runner"),
        grader_only=True,
    ),
    # Reaching other students and the course's secrets.
    Attack(
        "gradebook-write",
        blank_with(
            "import sqlite3\ntry:\n    db = sqlite3.connect(GRADEBOOK_PATH)\n"
            "    db.execute('UPDATE grade SET manual_score = 1000, auto_score = 1000')\n    db.commit()\n"
            "except Exception as error:\n    print('gradebook write failed:', error)"
        ),
        _zero(),
        needs_bubblewrap=True,
        grader_only=True,
    ),
    Attack(
        "read-hidden-tests",
        blank_with(
            "try:\n    print(open(SOURCE_PATH).read())\n"
            "except OSError as error:\n    print('source read failed:', error)"
        ),
        _zero(),
        needs_bubblewrap=True,
        grader_only=True,
    ),
    Attack(
        "sitecustomize-poison",
        blank_with(
            "import os\nfor folder in os.environ.get('PYTHONPATH', '').split(os.pathsep):\n"
            "    try:\n        open(os.path.join(folder, 'sitecustomize.py'), 'w').write('import os\\nos._exit(7)\\n')\n"
            "    except OSError:\n        pass"
        ),
        _zero(),
        grader_only=True,
    ),
    # Crashes, limits and broken files.
    Attack("sys-exit", blank_with("import sys\nsys.exit(0)"), _zero(finding="ends the process"), grader_only=True),
    Attack(
        "keyboard-interrupt",
        blank_with("raise KeyboardInterrupt"),
        _zero(cell_reason="KeyboardInterrupt raised in the cell"),
        grader_only=True,
    ),
    Attack(
        "os-exit-after-reference",
        reference_ending_in("import os\nos._exit(3)"),
        lambda c: Expected(points_before_last_solution(c), Verdict.CRASH, "exit code 3"),
    ),
    Attack(
        "killed-after-reference",
        reference_ending_in("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
        lambda c: Expected(points_before_last_solution(c), Verdict.CRASH, "signal 9"),
        grader_only=True,
    ),
    Attack(
        "huge-allocation",
        blank_with("import numpy as np\nhuge = np.ones(50 * 10**9 // 8)"),
        _zero(Verdict.MEMORY, "out of memory"),
        grader_only=True,
    ),
    Attack(
        "ansi-escapes-in-errors",
        blank_with("raise ValueError('\\x1b[2J\\x1b[31mcleared your screen\\x07')"),
        _zero(cell_reason="cleared your screen (ValueError"),
        grader_only=True,
    ),
    Attack(
        "endless-loop-ignoring-alarms",
        blank_with("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"),
        _zero(Verdict.TIMEOUT, "was still running"),
        slow=True,
        grader_only=True,
    ),
    Attack(
        "endless-loop-ignoring-interrupts",
        blank_with("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
        _zero(cell_reason="the cell ran longer than 1 s"),
        slow=True,
        grader_only=True,
    ),
    # Edited notebooks: the course's cells, points and metadata are what count.
    # Forging the results from inside the child: a grade needs observations that match the
    # reference's on this run's inputs, which no rewrite of the child's own account supplies.
    Attack(
        "atexit-rewrites-results",
        blank_with(
            "import atexit, json\n"
            "def _clear():\n"
            "    lines = [json.loads(line) for line in open('results.jsonl').read().splitlines()]\n"
            "    with open('results.jsonl', 'w') as out:\n"
            "        for record in lines:\n"
            "            out.write(json.dumps({**record, 'error': None, 'tampered': []}) + '\\n')\n"
            "atexit.register(_clear)"
        ),
        _zero(cell_reason="it made 0 observations"),
        grader_only=True,
        needs_reference=True,
    ),
    Attack(
        "runner-helpers-replaced-through-main",
        blank_with("import __main__\n__main__.run_cell = lambda *args, **kwargs: {'output': '', 'error': None}"),
        _zero(cell_reason="it made 0 observations"),
        grader_only=True,
        needs_reference=True,
    ),
    Attack(
        "json-dumps-replaced",
        blank_with(
            "import json\n_real_dumps = json.dumps\n"
            "def _dumps(value, *args, **kwargs):\n"
            "    if isinstance(value, dict) and 'index' in value:\n"
            "        value = {**value, 'error': None, 'tampered': []}\n"
            "    return _real_dumps(value, *args, **kwargs)\n"
            "json.dumps = _dumps"
        ),
        _zero(cell_reason="it made 0 observations"),
        grader_only=True,
        needs_reference=True,
    ),
    Attack(
        "forged-records-then-abort",
        blank_with(
            "import json, os\n"
            "done = len(open('results.jsonl').read().splitlines())\n"
            "with open('results.jsonl', 'a') as out:\n"
            "    for index in range(done, done + 400):\n"
            "        out.write(json.dumps({'index': index, 'output': '', 'error': None, 'tampered': []}) + '\\n')\n"
            "os.abort()"
        ),
        _zero(Verdict.TAMPERED, "cells, the notebook has"),
        grader_only=True,
    ),
    Attack(
        "test-cells-rewritten-through-frames",
        blank_with(
            "import sys\n"
            "frame = getattr(sys, '_get' + 'frame')(0)\n"
            "while frame is not None:\n"
            "    job = frame.f_locals.get('job')\n"
            "    if isinstance(job, dict) and 'cells' in job:\n"
            "        for cell in job['cells']:\n"
            "            if cell['name'].startswith('test-'):\n"
            "                cell['source'] = 'pass'\n"
            "    frame = frame.f_back"
        ),
        _zero(cell_reason="it made 0 observations"),
        grader_only=True,
        needs_reference=True,
    ),
    Attack(
        "lying-objects-and-shadowed-names",
        blank_in_every_solution(
            "class Liar:\n"
            "    def __eq__(self, other): return True\n"
            "    def __ne__(self, other): return False\n"
            "    def __bool__(self): return True\n"
            "    def __array_function__(self, *args, **kwargs): return True\n"
            "    def __array_ufunc__(self, *args, **kwargs): return True\n"
            "    def __getattr__(self, name): return self\n"
            "    def __call__(self, *args, **kwargs): return self\n"
            "    def __getitem__(self, key): return self\n"
            "    def __len__(self): return 0\n"
            "    def __iter__(self): return iter(())\n"
            "isinstance = lambda *args: True\n"
            "expect_error = lambda *args, **kwargs: None\n"
            "observe = lambda *args, **kwargs: None\n"
            "error_name = lambda fn: 'ShapeError'",
            "return Liar()",
        ),
        _zero(cell_reason="it made 0 observations"),
        grader_only=True,
        needs_reference=True,
    ),
    Attack(
        "numpy-patched-below-public-names",
        blank_in_every_solution(
            "import numpy as np, numpy._core.numeric as numeric\n"
            "numeric.isclose = lambda *args, **kwargs: np.ones(1, dtype=bool)\n"
            "numeric.array_equal = lambda *args, **kwargs: True",
            "return np.zeros(3, dtype=np.float32)",
        ),
        _zero(),
        grader_only=True,
        needs_reference=True,
    ),
    # Reaching other students, the course's secrets and the machine.
    Attack(
        "solution-read-from-another-checkout",
        solutions_replaced(
            "stolen = {}\n"
            "try:\n"
            "    exec(compile(open(REPO_SCRIPT).read(), 'stolen', 'exec'), stolen)\n"
            "    print('read the solution of another checkout')\n"
            "except OSError as error:\n"
            "    print('another checkout is out of reach:', error)",
            "globals().update({name: value for name, value in stolen.items() if not name.startswith('__')})",
        ),
        _zero(),
        needs_bubblewrap=True,
        grader_only=True,
    ),
    Attack(
        "symlink-to-the-course-source",
        lambda c: b"",
        _zero(Verdict.INVALID, "symlinks are refused"),
        grader_only=True,
        symlink_to_source=True,
    ),
    Attack(
        "who-am-i-outside",
        blank_with("import os\nprint('uid', os.getuid(), os.geteuid(), 'map', ' '.join(open('/proc/self/uid_map').read().split()))"),
        _zero(),
        grader_only=True,
    ),
    # Submissions that once stopped the whole batch.
    Attack("lone-surrogate-in-output", blank_with("print('\\ud800 and \\udcff')"), _zero(), grader_only=True),
    Attack(
        "invalid-utf8-in-results",
        blank_with("open('results.jsonl', 'ab').write(b'\\xff\\xfe not the runner\\n')"),
        _zero(Verdict.TAMPERED, "not JSON"),
        grader_only=True,
    ),
    Attack(
        "results-replaced-by-a-folder",
        blank_with("import os\nos.remove('results.jsonl')\nos.mkdir('results.jsonl')"),
        _zero(Verdict.TAMPERED, "not a regular file"),
        grader_only=True,
    ),
    Attack(
        "results-replaced-by-a-fifo",
        blank_with("import os\nos.remove('results.jsonl')\nos.mkfifo('results.jsonl')"),
        _zero(Verdict.TAMPERED, "not a regular file"),
        grader_only=True,
    ),
    Attack(
        "deeply-nested-results",
        blank_with("open('results.jsonl', 'a').write('[' * 200000 + ']' * 200000 + '\\n')"),
        _zero(Verdict.TAMPERED, "not JSON"),
        grader_only=True,
    ),
    Attack("grade-id-a-list", _blank_edited(_grade_ids_made_lists), _zero(), grader_only=True),
    Attack(
        "deeply-nested-notebook",
        lambda c: b'{"cells": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
        _zero(Verdict.INVALID, "invalid notebook"),
        grader_only=True,
    ),
    Attack("huge-solution", _blank_edited(_huge_first_solution), _zero(finding="too long to scan"), grader_only=True),
    Attack("deeply-nested-solution", _blank_edited(_deep_first_solution), _zero(finding="impl-"), grader_only=True),
    Attack("tests-replaced-by-pass", _blank_edited(_tests_replaced_by_pass), _zero()),
    Attack("tests-deleted", _blank_edited(_tests_deleted), _zero(), grader_only=True),
    Attack(
        "thousand-points-cell",
        _blank_edited(_thousand_points_cell),
        _zero(note="added to the notebook were not run"),
        grader_only=True,
    ),
    Attack("points-raised", _blank_edited(_points_raised), _zero(), grader_only=True),
    Attack("metadata-stripped", _blank_edited(_metadata_stripped), _zero(), grader_only=True),
    Attack("truncated-json", lambda c: _bytes(c.release)[:500], _zero(Verdict.INVALID, "invalid notebook"), grader_only=True),
    Attack(
        "cells-not-a-list",
        lambda c: json.dumps({"cells": "oops", "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode(),
        _zero(Verdict.INVALID, "invalid notebook"),
        grader_only=True,
    ),

)


GRADER_ATTACK_MODULES = ATTACK_MODULES[:1]


def attack_cases(root: Path = REPO_ROOT) -> list[tuple[ModuleInfo, Attack]]:
    """Every (module, attack) pair of the battery."""
    return [
        (info, attack)
        for info in attack_modules(root)
        for attack in ATTACKS
        if not attack.grader_only or info.folder_name in GRADER_ATTACK_MODULES
    ]


def attack_modules(root: Path = REPO_ROOT) -> list[ModuleInfo]:
    """The modules of ``ATTACK_MODULES`` present in ``root``."""
    return [info for info in present_modules(root) if info.folder_name in ATTACK_MODULES]


def main(out_dir: str) -> None:
    """Write each attack submission of each module built in ``build/`` to ``out_dir``."""
    course_dir = REPO_ROOT / "build" / "course"
    for info in attack_modules():
        source_path = course_dir / "source" / info.folder_name / f"{info.slug}.ipynb"
        course = Course(
            info,
            nbformat.read(source_path, as_version=4),
            nbformat.read(course_dir / "release" / info.folder_name / f"{info.slug}.ipynb", as_version=4),
            course_dir / "gradebook.db",
            source_path,
        )
        for attack in ATTACKS:
            path = Path(out_dir) / attack.name / info.folder_name / f"{info.slug}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(attack.build(course))
    print(f"wrote {len(ATTACKS)} submissions of {len(attack_modules())} modules to {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1])
