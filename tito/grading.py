"""Autograde module notebooks the way an instructor does, and record the scores in nbgrader's gradebook.

A module's notebook is graded against the reference package files of the *earlier* modules
only (DESIGN §5): ``staging_package`` lays them out, ``autograde`` checks that the module's
own reference (and any later one) cannot be imported from anywhere else, and each
submission gets its own copy of them. The grading itself is ``tito.grader``: the course's
notebook with the student's solution cells, run in a sandbox whose view holds only the
interpreter, the data and its own fresh folder; each graded cell is decided here by
comparing what it observed with the reference solution's observations on the batch's seed.

Only tito writes the gradebook, and only autograder scores are read back: a manual score
written there by anyone else does not change a grade tito reports.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from tito.course import PACKAGE_NAME, ModuleInfo, all_modules, copy_package_inits, data_environment, present_modules
from tito.errors import TitoError
from tito.grader import Grade, Isolation, Reference, grade_notebook, invalid, new_seed, run_reference, ungradable
from tito.limits import current_limits
from tito.nbgrader_course import COURSE_ID, nbgrader_api, nbgrader_call
from tito.notebooks import parse_notebook, read_notebook, write_notebook

if TYPE_CHECKING:
    from nbgrader.api import Gradebook

_STUDENT_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
SUBMISSION_MAX_BYTES = 20 * 1024**2  # the course's largest notebook is well under 1 MiB

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
    """The submitted notebook, or the grade of one that cannot be read.

    Only a regular file counts, read without following a symlink (a link could point at the
    course's own solution notebook) and up to ``SUBMISSION_MAX_BYTES``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        return invalid(f"invalid notebook: {path.name} cannot be opened ({error.strerror}; symlinks are refused)")
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return invalid(f"invalid notebook: {path.name} is not a regular file")
        data = file.read(SUBMISSION_MAX_BYTES + 1)
    if len(data) > SUBMISSION_MAX_BYTES:
        return invalid(f"invalid notebook: {path.name} is larger than {SUBMISSION_MAX_BYTES // 1024**2} MiB")
    try:
        return parse_notebook(data.decode("utf-8"), path)
    except UnicodeDecodeError:
        return invalid(f"invalid notebook: {path.name} is not UTF-8 text")
    except TitoError as error:
        return invalid(f"invalid notebook: {error}")


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
    course_dir: Path, info: ModuleInfo, submissions: dict[str, Path], staging: Path, seed: int | None = None
) -> dict[str, Result]:
    """Grade each ``student -> notebook`` submission of ``info``; record and return the results.

    ``course_dir`` must hold the nbgrader source of ``info`` (a build with ``release=True``).
    ``staging`` holds the earlier modules' reference package (``staging_package``); a staging
    that does not hide module ``info`` raises TitoError before anything runs. Every
    submission gets a result, whatever it does: a crash, a timeout or a broken notebook is
    its own verdict and never stops the others.

    The batch's unseen inputs come from ``seed`` (a fresh random one by default). The
    reference solution runs once on it, in a sandboxed child like the submissions; each
    graded cell of a submission must observe what it observed (``tito.grader``).
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
    isolation = Isolation(visible=(info.root.resolve() / "data",))
    environment = data_environment(info.root)
    reference = run_reference(
        template, staging / PACKAGE_NAME, limits, isolation, environment, new_seed() if seed is None else seed
    )
    results = {}
    with _gradebook(course_dir) as gradebook, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SAWarning)
        for student, path in submissions.items():
            grade = _grade_one(path, template, staging / PACKAGE_NAME, isolation, environment, reference)
            _record(gradebook, course_dir, info, student, grade)
            results[student] = Result(_scores(gradebook, info, student), grade)
    return results


def _grade_one(
    path: Path,
    template: nbformat.NotebookNode,
    package: Path,
    isolation: Isolation,
    environment: dict[str, str],
    reference: Reference,
) -> Grade:
    """One submission's grade. The exception boundary of a batch: whatever goes wrong while
    grading this submission is its verdict, with the reason, and the next one is graded."""
    try:
        submitted = _read_submission(path)
        if isinstance(submitted, Grade):
            return submitted
        return grade_notebook(template, submitted, package, current_limits(), isolation, environment, reference)
    except Exception as error:  # noqa: BLE001 (the boundary: any failure is this submission's verdict)
        return ungradable(error)


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
