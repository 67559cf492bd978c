"""Honest students who write a correct solution their own way keep full marks.

A graded cell earns its points only when its observations match the reference solution's on
the run's unseen inputs, so an observation that depends on how a correct solution is
written (the order random numbers are drawn, float64 inside, a different but exact
algorithm) would cost an honest student points. ``alternatives_NN.py`` beside this file
holds, for module NN, a second correct solution of every solution cell, written differently
from the reference; this test autogrades it on a fresh seed and requires full marks.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import nbformat
import pytest

from tito.build import BuildReport
from tito.course import present_modules
from tito.grading import autograde, staging_package
from tito.submission import grade_id, is_solution

pytestmark = pytest.mark.pipeline
HERE = Path(__file__).parent
REPO_ROOT = HERE.parents[1]
MODULES = {info.number: info for info in present_modules(REPO_ROOT)}
NUMBERS = sorted(int(path.stem.split("_")[1]) for path in HERE.glob("alternatives_[0-9][0-9].py"))


@pytest.mark.parametrize("number", NUMBERS, ids=[f"{n:02d}" for n in NUMBERS])
def test_a_different_correct_solution_earns_full_marks(
    number: int, course_build: BuildReport, tmp_path: Path
) -> None:
    info = MODULES[number]
    alternatives: dict[str, str] = importlib.import_module(f"alternatives_{number:02d}").ALTERNATIVES
    built = next(m for m in course_build.modules if m.info.folder_name == info.folder_name)
    assert built.release is not None
    notebook = nbformat.read(built.release, as_version=4)
    solution_ids = [grade_id(cell) for cell in notebook.cells if is_solution(cell)]
    assert sorted(alternatives) == sorted(solution_ids), "give an alternative for every solution cell, and no other"
    for cell in notebook.cells:
        if is_solution(cell):
            cell.source = alternatives[grade_id(cell)]
    course = tmp_path / "course"
    shutil.copytree(course_build.build_dir / "course", course)
    path = tmp_path / "submitted" / f"{info.slug}.ipynb"
    path.parent.mkdir()
    nbformat.write(notebook, path)
    result = autograde(course, info, {"alternative": path}, staging_package(REPO_ROOT, info, tmp_path / "staging"))
    grade = result["alternative"].grade
    failed = [f"{cell.name}: {cell.reason}" for cell in grade.cells if not cell.passed]
    assert not failed and grade.verdict.value == "graded", f"{grade.reason}; " + "; ".join(failed)
