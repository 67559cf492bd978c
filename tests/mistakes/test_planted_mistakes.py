"""Each module's likely mistakes are named where the student works: planted one at a time
into the reference, each makes the notebook's own test cell fail with a sentence that names it.

The mistakes of module ``NN_name`` live in ``mistakes_NN.py`` beside this file. Each run
stops after the test cell that must fail, in the grader's child (the same runner a
student's ``tito module test`` uses), with no reference to compare against: what is checked
is the message the student reads in the notebook.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import nbformat
import pytest
from mistake import Mistake

from tito.build import BuildReport
from tito.course import PACKAGE_NAME, ModuleInfo, data_environment, present_modules
from tito.grader import Isolation, grade_notebook
from tito.grading import staging_package
from tito.limits import current_limits
from tito.submission import grade_id

pytestmark = pytest.mark.pipeline
HERE = Path(__file__).parent
REPO_ROOT = HERE.parents[1]
MODULES = {info.number: info for info in present_modules(REPO_ROOT)}


def _cases() -> list[tuple[ModuleInfo, Mistake]]:
    cases = []
    for path in sorted(HERE.glob("mistakes_[0-9][0-9].py")):
        number = int(path.stem.split("_")[1])
        cases += [(MODULES[number], mistake) for mistake in importlib.import_module(path.stem).MISTAKES]
    return cases


CASES = _cases()


def test_every_module_plants_mistakes() -> None:
    planted = {info.number for info, _ in CASES}
    missing = [info.folder_name for number, info in MODULES.items() if number not in planted]
    assert not missing, f"no planted mistakes for {missing}: add tests/mistakes/mistakes_NN.py"


@pytest.mark.parametrize(
    ("info", "mistake"), CASES, ids=[f"{info.number:02d}-{mistake.name}" for info, mistake in CASES]
)
def test_the_notebook_names_the_planted_mistake(
    info: ModuleInfo, mistake: Mistake, course_build: BuildReport, tmp_path: Path
) -> None:
    built = next(m for m in course_build.modules if m.info.folder_name == info.folder_name)
    assert built.nbgrader_source is not None
    nb = nbformat.read(built.nbgrader_source, as_version=4)
    ids = [grade_id(cell) for cell in nb.cells]
    solution = nb.cells[ids.index(mistake.solution)]
    assert solution.source.count(mistake.find) == 1, f"{mistake.name}: {mistake.find!r} is not in {mistake.solution} once"
    solution.source = solution.source.replace(mistake.find, mistake.replace)
    nb.cells = nb.cells[: ids.index(mistake.test) + 1]
    staging = staging_package(REPO_ROOT, info, tmp_path)
    isolation = Isolation(visible=(REPO_ROOT / "data",))
    grade = grade_notebook(nb, nb, staging / PACKAGE_NAME, current_limits(), isolation, data_environment(REPO_ROOT))
    cell = next(cell for cell in grade.cells if cell.name == mistake.test)
    assert not cell.passed, f"{mistake.name}: {mistake.test} passes with the mistake planted"
    assert mistake.words in cell.reason, f"{mistake.name}: {mistake.test} fails, but its message does not say {mistake.words!r}: {cell.reason}"
