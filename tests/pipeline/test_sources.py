"""Module scripts follow modules/README.md, so conversions round-trip and nbgrader accepts them."""

from __future__ import annotations

import ast

import jupytext
import pytest
from pipeline_support import MODULES, module_id

from tito.course import ModuleInfo

REQUIRED_NBGRADER_KEYS = {"grade", "grade_id", "locked", "solution", "schema_version"}


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_script_round_trips_without_spacing_metadata(info: ModuleInfo) -> None:
    nb = jupytext.read(info.script, fmt="py:percent")
    uneven = [cell.source.splitlines()[0][:60] for cell in nb.cells if "lines_to_next_cell" in cell.metadata]
    assert not uneven, (
        f"{info.script.name}: put two blank lines around cells with def/class; jupytext adds "
        f"lines_to_next_cell to the cells starting with {uneven}"
    )


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_nbgrader_cells_are_complete_and_ids_unique(info: ModuleInfo) -> None:
    nb = jupytext.read(info.script, fmt="py:percent")
    grade_ids = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        missing = REQUIRED_NBGRADER_KEYS - meta.keys()
        assert not missing, f"{info.script.name}: nbgrader cell {meta.get('grade_id')} lacks {sorted(missing)}"
        if meta["grade"]:
            assert meta.get("points", 0) > 0, f"{meta['grade_id']}: a graded cell needs points"
        if meta["solution"]:
            assert "### BEGIN SOLUTION" in cell.source, f"{meta['grade_id']}: a solution cell needs a solution region"
        grade_ids.append(meta["grade_id"])
    assert len(grade_ids) == len(set(grade_ids)), f"{info.script.name}: repeated grade_id"
    assert any(cell.metadata.get("nbgrader", {}).get("grade") for cell in nb.cells), "no graded test cell"


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_graded_cells_hold_no_hidden_tests_and_end_in_a_statement(info: ModuleInfo) -> None:
    # Hidden test code would run in the student's process and could be printed into the
    # feedback; unseen inputs do its work (modules/README.md). nbgrader reads the value of a
    # graded cell's last expression as partial credit, so there must be none.
    nb = jupytext.read(info.script, fmt="py:percent")
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        assert "BEGIN HIDDEN TESTS" not in cell.source, f"{meta['grade_id']}: hidden tests; observe unseen inputs instead"
        last = ast.parse(cell.source).body[-1]
        assert not isinstance(last, ast.Expr) or _is_call_of(last, "observe", "observe_state", "print"), (
            f"{meta['grade_id']}: the last line is an expression whose value nbgrader would read as a score; "
            "assign it (`_ = ...`) or end on observe(...)"
        )


def _is_call_of(node: ast.stmt, *names: str) -> bool:
    """Whether ``node`` is a call of a function named in ``names`` (which returns None)."""
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id in names
    )


# What a student copy lacks: prose, hints and messages must not send a student there.
UNFOLLOWABLE = ("DESIGN.md", "TOOLCHAIN", "benchmarks/", "make gpt", "make bench", "tests/security", "tests/pipeline")


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_modules_cite_only_what_a_student_copy_has(info: ModuleInfo) -> None:
    text = info.script.read_text(encoding="utf-8")
    cited = [
        f"line {number}: {name}"
        for number, line in enumerate(text.splitlines(), 1)
        for name in UNFOLLOWABLE
        if name in line
    ]
    assert not cited, f"{info.script.name} cites what a student copy does not have: {cited}"
