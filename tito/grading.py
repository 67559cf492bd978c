"""Autograde module notebooks the way an instructor does, and record the scores in nbgrader's gradebook.

A module's notebook is graded against the reference package files of the *earlier* modules
only (DESIGN §5): ``staging_package`` lays them out, ``autograde`` checks that the module's
own reference (and any later one) cannot be imported from anywhere else, and each
submission gets its own copy of them. The grading itself is ``tito.grader``: the course's
notebook with the student's solution cells, run in a sandbox that cannot see the course
folder (solutions, hidden tests, gradebook) or write anything but its own fresh folder.

Only tito writes the gradebook, and only autograder scores are read back: a manual score
written there by anyone else does not change a grade tito reports.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from tito.course import PACKAGE_NAME, ModuleInfo, all_modules, copy_package_inits, data_environment, present_modules
from tito.errors import TitoError
from tito.grader import Grade, Isolation, grade_notebook, invalid
from tito.limits import current_limits
from tito.nbgrader_course import COURSE_ID, nbgrader_api, nbgrader_call
from tito.notebooks import read_notebook, write_notebook

if TYPE_CHECKING:
    from nbgrader.api import Gradebook

_STUDENT_ID = re.compile(r"^[A-Za-z0-9_.-]+$")

# Run by a fresh interpreter with the grading environment: prints each named module that
# the import system can find. A missing parent package means the module is not findable.
_FIND_MODULES = """
import importlib.util, sys
for name in sys.argv[1:]:
    try:
        found = importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        found = False
    if found:
        print(name)
"""


@dataclass
class Score:
    """Points of one graded notebook: totals and ``grade_id -> (earned, possible)``."""

    earned: float
    possible: float
    per_cell: dict[str, tuple[float, float]] = field(default_factory=dict)


# --------------------------------------------------------------------------- staging


def _package_relative(path: Path, package: Path) -> Path:
    """``path`` relative to ``package``, with a readable error when it lies outside."""
    if package not in path.parents:
        raise TitoError(f"{path} is not inside {package}; check the module's '#| default_exp' line.")
    return path.relative_to(package)


def staging_package(root: Path, info: ModuleInfo, dest: Path) -> Path:
    """Lay out ``dest/tinytorch`` with the reference package files of modules before ``info``.

    It holds every hand-written ``__init__.py`` of the package (``copy_package_inits``: they
    import nothing eagerly) and each earlier module's exported files copied from
    ``root/tinytorch``. Module ``info`` and later modules are absent. ``dest`` is returned:
    put it on ``PYTHONPATH``. An existing ``dest/tinytorch`` is replaced.
    """
    package = (root / PACKAGE_NAME).resolve()
    staged = dest / PACKAGE_NAME
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    copy_package_inits(root.resolve(), dest)
    for earlier in all_modules(root.resolve())[: info.number - 1]:
        for exported in earlier.exported_files():
            relative = _package_relative(exported.resolve(), package)
            subpackages = list(reversed(relative.parents[:-1]))  # outermost first
            needed = [exported, *(package / folder / "__init__.py" for folder in subpackages)]
            missing = [str(path) for path in needed if not path.exists()]
            if missing:
                raise TitoError(
                    f"{', '.join(missing)} missing, but module {earlier.folder_name} exports there; "
                    "run `tito export`."
                )
            shutil.copy2(exported, staged / relative)
    return dest


def importable_modules(pythonpath: Path, names: list[str]) -> list[str]:
    """Which of ``names`` a fresh Python finds with ``PYTHONPATH=pythonpath`` (cwd = that folder).

    This is the interpreter and environment the autograde kernel gets, so an editable
    install that serves modules outside ``pythonpath`` shows up here.
    """
    if not names:
        return []
    completed = subprocess.run(
        [sys.executable, "-c", _FIND_MODULES, *names],
        env={**os.environ, "PYTHONPATH": str(pythonpath)},
        cwd=pythonpath,
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.split()


def hidden_module_names(info: ModuleInfo) -> list[str]:
    """Dotted names of the package modules of ``info`` and of every later present module."""
    later = [m for m in present_modules(info.root) if m.number >= info.number]
    return [f"{PACKAGE_NAME}.{target}" for m in later for target in m.export_targets()]


def check_staging_hides(staging: Path, info: ModuleInfo) -> None:
    """Raise TitoError if the reference of ``info`` (or a later module) is importable under ``staging``."""
    leaked = importable_modules(staging, hidden_module_names(info))
    if leaked:
        raise TitoError(
            f"Grading {info.folder_name} would see the reference of {', '.join(leaked)} from outside "
            f"{staging}: the project is installed in setuptools' editable *finder* mode, which serves "
            "tinytorch submodules that PYTHONPATH does not hold. Reinstall it as a plain path entry: "
            "`pip install -e . --config-settings editable_mode=compat` (or set "
            '`package-dir = {"" = "."}` under [tool.setuptools] in pyproject.toml then `pip install -e .`).'
        )


# --------------------------------------------------------------------------- autograde


@dataclass
class Result:
    """One submission's grade as recorded: the score, and why (verdict, reason, findings)."""

    score: Score
    grade: Grade


def _check_student_id(student: str) -> None:
    if not _STUDENT_ID.match(student) or set(student) <= {"."}:
        raise TitoError(
            f"Student id {student!r} may hold only letters, digits, '.', '_' and '-', and not only dots."
        )


def _read_submission(path: Path) -> nbformat.NotebookNode | Grade:
    """The submitted notebook, or the grade of one that cannot be read."""
    try:
        return read_notebook(path)
    except TitoError as error:
        return invalid(f"invalid notebook: {error}")
    except (OSError, ValueError, UnicodeDecodeError) as error:
        return invalid(f"invalid notebook: {path.name} cannot be read ({type(error).__name__})")


def _gradebook(course_dir: Path) -> Gradebook:
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{course_dir.resolve() / 'gradebook.db'}", COURSE_ID)


def _record(gradebook: Gradebook, course_dir: Path, info: ModuleInfo, student: str, grade: Grade) -> None:
    """Store ``grade`` as ``student``'s autograded submission of ``info``, replacing any earlier one,
    and write the graded notebook to ``autograded/`` (what nbgrader's feedback reads)."""
    from nbgrader.api import MissingEntry

    passed = {cell.name: cell.earned for cell in grade.cells}
    gradebook.update_or_create_student(student)
    try:
        gradebook.remove_submission(info.folder_name, student)
    except MissingEntry:
        pass  # first submission
    submission = gradebook.add_submission(info.folder_name, student)
    for notebook in submission.notebooks:
        for entry in notebook.grades:
            entry.auto_score = passed.get(entry.name, 0.0)
            entry.manual_score = None
    gradebook.db.commit()
    folder = course_dir / "autograded" / student / info.folder_name
    if folder.exists():
        shutil.rmtree(folder)
    if grade.executed is not None:
        write_notebook(grade.executed, folder / f"{info.slug}.ipynb")


def read_scores(course_dir: Path, info: ModuleInfo, student: str) -> Score:
    """The autograded points of ``student``'s notebook for ``info``, from the gradebook.

    Only ``auto_score`` counts: a manual score, whoever wrote it, is not part of this grade.
    """
    with _gradebook(course_dir) as gradebook:
        return _scores(gradebook, info, student)


def _scores(gradebook: Gradebook, info: ModuleInfo, student: str) -> Score:
    from nbgrader.api import MissingEntry

    try:
        notebook = gradebook.find_submission_notebook(info.slug, info.folder_name, student)
    except MissingEntry as error:
        raise TitoError(f"No graded {info.folder_name} notebook for '{student}' in the gradebook: {error}") from error
    per_cell = {grade.name: (float(grade.auto_score or 0.0), float(grade.max_score)) for grade in notebook.grades}
    return Score(
        earned=sum(earned for earned, _ in per_cell.values()),
        possible=sum(possible for _, possible in per_cell.values()),
        per_cell=dict(sorted(per_cell.items())),
    )


def autograde(
    course_dir: Path, info: ModuleInfo, submissions: dict[str, Path], staging: Path
) -> dict[str, Result]:
    """Grade each ``student -> notebook`` submission of ``info``; record and return the results.

    ``course_dir`` must hold the nbgrader source of ``info`` (a build with ``release=True``).
    ``staging`` holds the earlier modules' reference package (``staging_package``); a staging
    that does not hide module ``info`` raises TitoError before anything runs. Every
    submission gets a result, whatever it does: a crash, a timeout or a broken notebook is
    its own verdict and never stops the others.
    """
    course_dir, staging = course_dir.resolve(), staging.resolve()
    template_path = course_dir / "source" / info.folder_name / f"{info.slug}.ipynb"
    if not template_path.exists():
        raise TitoError(f"{course_dir} has no nbgrader source for {info.folder_name}; run the build first.")
    for student in submissions:
        _check_student_id(student)
    check_staging_hides(staging, info)
    template = read_notebook(template_path)
    from sqlalchemy.exc import SAWarning  # imported here: `tito module test` stages without nbgrader

    api = nbgrader_api(course_dir)
    # The build's gradebook is temporary; this one learns the assignment from the source notebook.
    with warnings.catch_warnings():
        # nbgrader 0.9's gradebook code trips SQLAlchemy 2's autoflush warnings; they are harmless.
        warnings.filterwarnings("ignore", category=SAWarning)
        nbgrader_call(f"generate_assignment {info.folder_name}", api.generate_assignment(info.folder_name))
    limits = current_limits()
    isolation = Isolation(hidden=(course_dir, info.root.resolve()), visible=(info.root.resolve() / "data",))
    results = {}
    with _gradebook(course_dir) as gradebook, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SAWarning)
        for student, path in submissions.items():
            submitted = _read_submission(path)
            grade = (
                submitted
                if isinstance(submitted, Grade)
                else grade_notebook(
                    template, submitted, staging / PACKAGE_NAME, limits, isolation, data_environment(info.root)
                )
            )
            _record(gradebook, course_dir, info, student, grade)
            results[student] = Result(_scores(gradebook, info, student), grade)
    return results


def grading_problems(reference: Score, blank: Score) -> list[str]:
    """What is wrong with a module's grading, given the scores of its solution and blank release.

    The reference must earn every point of every graded cell, the blank release none; an
    empty list means both hold. A test that passes on the blank notebook tests nothing the
    student writes.
    """
    problems = []
    if reference.possible <= 0:
        problems.append("the notebook has no graded test cells")
    for cell, (earned, possible) in reference.per_cell.items():
        if earned < possible:
            problems.append(f"{cell}: the reference solution earns {earned:g} of {possible:g} points")
    for cell, (earned, _) in blank.per_cell.items():
        if earned > 0:
            problems.append(
                f"{cell}: the blank release earns {earned:g} points (the test passes without a solution)"
            )
    return problems
