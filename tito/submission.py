"""What of a submitted notebook is graded, and what in it an instructor should look at.

A submission is graded on the course's own notebook (the *template*: the nbgrader source
for an instructor, the release for a student), with only the solution cells taken from
the submission, matched by their ``grade_id``. Every other cell, its points and its
metadata come from the template. So an edited or deleted test, a changed point value and
an added cell count for nothing: the graded notebook is the course's.

The static scan reads the submitted solutions for code that reaches into the interpreter
or the grading machinery (IPython, builtins, frames, tracing, process exits, monkey-patched
NumPy). It grades nothing; its findings go with the score for an instructor to review.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import nbformat

from tito.nbgrader_course import CODE_STUB

# The first line of a cell that defines something: "def as_array(" or "class Tensor:".
_DEFINITION = re.compile(r"^(?:@.*\n)*(?:def|class)\s+(\w+)", re.MULTILINE)
# Names whose use in a solution is worth a look: each reaches past the function being
# written into the interpreter, the test machinery or the process.
SUSPICIOUS_NAMES = {
    "get_ipython": "reaches into IPython",
    "IPython": "reaches into IPython",
    "builtins": "changes builtins",
    "__builtins__": "changes builtins",
    "gc": "walks the interpreter's objects",
    "inspect": "reads the interpreter's frames",
    "ctypes": "writes the interpreter's memory",
    "importlib": "imports by path",
    "__import__": "imports by path",
    "signal": "changes signal handling",
    "subprocess": "starts programs",
    "exit": "ends the process",
    "quit": "ends the process",
}
# Attributes worth a look on any object...
SUSPICIOUS_ATTRIBUTES = {
    "ast_transformers": "rewrites later cells (IPython)",
    "input_transformers_post": "rewrites later cells (IPython)",
    "input_transformers_cleanup": "rewrites later cells (IPython)",
    "set_custom_exc": "swallows errors (IPython)",
    "settrace": "installs a tracing hook",
    "setprofile": "installs a profiling hook",
    "_getframe": "reads the caller's frames",
    "f_back": "reads the caller's frames",
    "f_globals": "reads the caller's frames",
    "f_locals": "reads the caller's frames",
}
# ...and on the module named (a method called ``modules()`` or ``path`` elsewhere is fine).
SUSPICIOUS_MODULE_ATTRIBUTES = {
    ("sys", "modules"): "edits sys.modules",
    ("sys", "path"): "changes the import path",
    ("sys", "exit"): "ends the process",
    ("sys", "excepthook"): "changes error reporting",
    ("os", "_exit"): "ends the process",
    ("os", "system"): "starts programs",
    ("os", "kill"): "sends signals",
}
SCAN_MAX_CHARS = 200_000  # the course's longest solution cell is a few thousand characters
# Modules whose attributes a solution must not assign (monkey-patching what tests use).
PROTECTED_MODULES = {"np", "numpy", "math", "builtins", "sys", "pytest", "testing"}


@dataclass
class Assembly:
    """The notebook to grade, and what was ignored or filled in while assembling it."""

    notebook: nbformat.NotebookNode
    solutions: dict[str, str] = field(default_factory=dict)  # grade_id -> submitted source
    notes: list[str] = field(default_factory=list)


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    """The nbgrader ``grade_id`` of ``cell``, if it has one."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    found = meta.get("grade_id") if isinstance(meta, dict) else None
    return found if isinstance(found, str) else None  # a submission may put anything there


def cell_name(nb: nbformat.NotebookNode, index: int) -> str:
    """A notebook cell named by its task, as a student finds it (Jupyter numbers no cells).

    A graded or solution cell by its ``grade_id``; a cell that defines a function or class
    by that name; any other cell by the graded cell before it and its first line.
    """
    cell = nb.cells[index]
    own_id = grade_id(cell)
    if own_id:
        return own_id
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


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """Whether ``cell`` is a solution cell of the course (per the template's metadata)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return isinstance(meta, dict) and bool(meta.get("solution")) and cell.get("cell_type") == "code"


def assemble(template: nbformat.NotebookNode, submission: nbformat.NotebookNode) -> Assembly:
    """The template with each solution cell's source replaced by the submission's cell of
    the same ``grade_id`` (or cell id); a missing solution cell becomes the unwritten stub."""
    submitted: dict[str, str] = {}
    for cell in submission.cells:
        source = cell.get("source")
        if cell.get("cell_type") != "code" or not isinstance(source, str):
            continue
        for key in filter(None, (grade_id(cell), cell.get("id"))):
            submitted.setdefault(key, source)
    graded = nbformat.from_dict(template)
    assembly = Assembly(graded)
    for cell in graded.cells:
        if not is_solution(cell):
            if cell.cell_type == "code":
                cell.outputs = []
            continue
        key = grade_id(cell) or cell.id
        if key in submitted:
            cell.source = submitted[key]
            assembly.solutions[key] = submitted[key]
        else:
            cell.source = CODE_STUB
            assembly.notes.append(f"solution cell {key} is missing from the submission: graded as unwritten")
        cell.outputs = []
    template_keys = {key for cell in graded.cells for key in (grade_id(cell), cell.get("id")) if key}
    extra = [
        cell
        for cell in submission.cells
        if not ({grade_id(cell), cell.get("id")} & template_keys) and cell.get("cell_type") == "code"
    ]
    if extra:
        assembly.notes.append(f"{len(extra)} code cell(s) added to the notebook were not run")
    return assembly


def scan_solution(name: str, source: str) -> list[str]:
    """Findings for an instructor in one submitted solution: ``impl-x line 3: reaches into IPython``."""
    if len(source) > SCAN_MAX_CHARS:
        return [f"{name}: {len(source):,} characters, too long to scan (a solution cell holds one function)"]
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return [f"{name} line {error.lineno}: does not parse ({error.msg})"]
    except (RecursionError, MemoryError):
        return [f"{name}: nested too deeply to scan"]
    findings = set()
    try:
        for node in ast.walk(tree):
            found = _finding(node)
            if found:
                findings.add((getattr(node, "lineno", 0), found))
    except (RecursionError, MemoryError):
        findings.add((0, "nested too deeply to scan"))
    return [f"{name} line {line}: {found}" for line, found in sorted(findings)]


def _finding(node: ast.AST) -> str | None:
    """Why ``node`` is worth a look, or None."""
    if isinstance(node, ast.Name):
        return SUSPICIOUS_NAMES.get(node.id)
    if isinstance(node, ast.Attribute):
        root = _root_name(node)
        if isinstance(node.ctx, (ast.Store, ast.Del)) and root in PROTECTED_MODULES:
            return f"replaces {ast.unparse(node)}"
        return SUSPICIOUS_ATTRIBUTES.get(node.attr) or SUSPICIOUS_MODULE_ATTRIBUTES.get((root, node.attr))
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        module = node.module if isinstance(node, ast.ImportFrom) else None
        for name in [alias.name for alias in node.names] + ([module] if module else []):
            reason = SUSPICIOUS_NAMES.get(name.split(".")[0]) or SUSPICIOUS_ATTRIBUTES.get(name)
            if reason:
                return reason
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"setattr", "delattr"}:
        target = node.args[0] if node.args else None
        if isinstance(target, ast.Name) and target.id in PROTECTED_MODULES:
            return f"replaces an attribute of {target.id}"
    return None


def _root_name(node: ast.AST) -> str:
    """``np`` for ``np.testing.assert_allclose``; empty for anything not rooted in a name."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""
