"""Every attack of the battery, graded through both paths, gets exactly the grade it deserves.

Path (b) is autograding: one batch per module, the attacks after an honest student (and,
where they attack the grader, before a second one), scores read back from the gradebook.
Path (a) is ``tito module test``'s grading of the working notebook in a student copy.
Partial credit is checked against an independent oracle: the same solutions run in a
Jupyter kernel, as nbgrader runs them.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from attacks import (
    ATTACK_MODULES,
    FAST_LIMITS,
    GRADER_ATTACK_MODULES,
    HANG_LIMITS,
    REPO_ROOT,
    Attack,
    Course,
    Expected,
    JupyterPoints,
    alternative,
    attack_cases,
    attack_modules,
    reference,
)

from tito.course import ModuleInfo, present_modules, resolve_module
from tito.errors import TitoError
from tito.grader import Grade
from tito.grading import Result, autograde, grading_problems, read_scores, staging_package
from tito.limits import current_limits
from tito.runner import grade_working_notebook
from tito.sandbox import bubblewrap

pytestmark = pytest.mark.pipeline

HONEST = ("honest-first", "honest-last")
ALTERNATIVE = "honest-alternative"  # a correct solution written differently from the reference
SYMLINKED = {attack.name for _, attack in attack_cases() if attack.symlink_to_source}


def honest_students(folder: str) -> tuple[str, ...]:
    """The honest students around a module's attacks. The second, graded after every attack,
    shows that none changed a later grade: only the grader-attack modules' batches hold
    attacks that try (a module's other attacks are its own blank, partial or broken notebooks)."""
    return HONEST if folder in GRADER_ATTACK_MODULES else HONEST[:1]
HAVE_BUBBLEWRAP = bubblewrap() is not None
NO_BUBBLEWRAP = "bubblewrap is not installed: without it the sandbox cannot hide the course folder"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
CASES = attack_cases()
# One xdist group per module: its autograde batches are computed once, in one worker.
BATCH_CASES = [
    pytest.param((info, attack), marks=pytest.mark.xdist_group(f"battery-{info.folder_name}"))
    for info, attack in CASES
]


def case_id(case: tuple[ModuleInfo, Attack]) -> str:
    return f"{case[0].folder_name}-{case[1].name}"


@contextmanager
def limits(values: dict[str, str]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in values.items():
            patch.setenv(name, value)
        yield


def expected_of(attack: Attack, course: Course, template: nbformat.NotebookNode, oracle: JupyterPoints) -> Expected:
    expected = attack.expected(course)
    if expected.earned is None:
        submitted = nbformat.reads(attack.build(course).decode("utf-8"), as_version=4)
        expected = Expected(oracle(template, submitted, course.info), expected.verdict, expected.reason)
    assert expected.earned is not None
    return expected


def check_grade(grade: Grade, earned: float, expected: Expected) -> None:
    summary = f"{grade.verdict.value}: {grade.reason} / findings {grade.findings} / notes {grade.notes}"
    assert grade.verdict is expected.verdict, summary
    assert earned == expected.earned, summary
    assert expected.reason in grade.reason, summary
    assert not expected.finding or any(expected.finding in found for found in grade.findings), summary
    assert not expected.note or any(expected.note in note for note in grade.notes), summary
    reasons = [cell.reason for cell in [*grade.cells, *grade.errors]]
    assert not expected.cell_reason or any(expected.cell_reason in reason for reason in reasons), reasons
    for text in [grade.reason, *(cell.reason for cell in [*grade.cells, *grade.errors])]:
        assert not _CONTROL.search(text), f"control characters reach the reader: {text!r}"


# --------------------------------------------------------------------------- path (b): autograde


@pytest.fixture(scope="session")
def batches(course_dir: Path, courses: dict[str, Course], tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, bool], dict[str, Result]]:
    """Grade one module's battery in one batch (the slow attacks in a second one); cached."""
    cache: dict[tuple[str, bool], dict[str, Result]] = {}

    def grade(folder: str, slow: bool) -> dict[str, Result]:
        if (folder, slow) not in cache:
            course = courses[folder]
            where = tmp_path_factory.mktemp(f"batch-{folder}-{slow}")
            submissions = {}
            chosen = [
                attack
                for info, attack in CASES
                if info.folder_name == folder and attack.slow == slow and attack.name != "reference"
                and (HAVE_BUBBLEWRAP or not attack.needs_bubblewrap)
            ]  # fmt: skip
            first, *last = honest_students(folder)
            order = [(first, _reference_bytes), *((a.name, a.build) for a in chosen), *((name, _reference_bytes) for name in last)]
            if not slow and alternative(course) is not None:
                order.append((ALTERNATIVE, lambda course: alternative(course)))
            for name, build in order:
                path = where / "submitted" / name / f"{course.info.slug}.ipynb"
                path.parent.mkdir(parents=True)
                if name in SYMLINKED:
                    path.symlink_to(course.source_path)
                else:
                    path.write_bytes(build(course))
                submissions[name] = path
            staging = staging_package(course.info.root, course.info, where / "staging")
            with limits(HANG_LIMITS if slow else FAST_LIMITS):
                cache[folder, slow] = autograde(course_dir, course.info, submissions, staging)
        return cache[folder, slow]

    return grade


def _reference_bytes(course: Course) -> bytes:
    return nbformat.writes(reference(course)).encode("utf-8")


@pytest.mark.parametrize("case", BATCH_CASES, ids=case_id)
def test_autograde_gives_each_attack_its_grade(
    case: tuple[ModuleInfo, Attack], batches: Callable[[str, bool], dict[str, Result]],
    courses: dict[str, Course], jupyter_points: JupyterPoints,
) -> None:  # fmt: skip
    info, attack = case
    if attack.needs_bubblewrap and not HAVE_BUBBLEWRAP:
        pytest.skip(NO_BUBBLEWRAP)
    course = courses[info.folder_name]
    results = batches(info.folder_name, attack.slow)
    result = results[HONEST[0] if attack.name == "reference" else attack.name]
    expected = expected_of(attack, course, course.source, jupyter_points)
    check_grade(result.grade, result.score.earned, expected)
    assert result.score.possible == course.possible


# Each module's batches: the fast one, and the slow one where the module has slow attacks.
BATCHES = [
    pytest.param(info, slow, marks=pytest.mark.xdist_group(f"battery-{info.folder_name}"), id=f"{speed}-{info.folder_name}")
    for info in attack_modules()
    for slow, speed in ((False, "fast"), (True, "slow"))
    if not slow or any(attack.slow for case_info, attack in CASES if case_info == info)
]


@pytest.mark.parametrize(("info", "slow"), BATCHES)
def test_hostile_submissions_change_nobody_elses_grade(
    info: ModuleInfo, slow: bool, batches: Callable[[str, bool], dict[str, Result]],
    courses: dict[str, Course], course_dir: Path,
) -> None:  # fmt: skip
    course = courses[info.folder_name]
    results = batches(info.folder_name, slow)
    if not slow:
        # The module's own grading: the reference earns every point of every graded cell, and
        # the blank release none (a test that passes on it tests nothing the student writes).
        problems = grading_problems(results[HONEST[0]].score, results["blank"].score)
        assert not problems, f"{info.folder_name} grades wrongly:\n  " + "\n  ".join(problems)
    for honest in honest_students(info.folder_name):
        # Read again after the whole batch: nothing graded later changed it.
        score = read_scores(course_dir, info, honest)
        assert (score.earned, score.possible) == (course.possible, course.possible), honest
        assert results[honest].grade.reason == "graded"
        # The graded notebook written for feedback is a valid notebook.
        graded = course_dir / "autograded" / honest / info.folder_name / f"{info.slug}.ipynb"
        nbformat.validate(nbformat.read(graded, as_version=4))
    if not slow and HAVE_BUBBLEWRAP and info.folder_name in GRADER_ATTACK_MODULES:
        # The attempt to print the solutions and hidden tests into its own output failed.
        graded = course_dir / "autograded" / "read-hidden-tests" / info.folder_name / f"{info.slug}.ipynb"
        assert "source read failed" in graded.read_text(encoding="utf-8")
        # The attempt to write the gradebook failed too (the honest scores above are intact).
        graded = course_dir / "autograded" / "gradebook-write" / info.folder_name / f"{info.slug}.ipynb"
        assert "gradebook write failed" in graded.read_text(encoding="utf-8")
        # Another checkout of the course was not in the sandbox's view.
        graded = course_dir / "autograded" / "solution-read-from-another-checkout" / info.folder_name / f"{info.slug}.ipynb"
        assert "another checkout is out of reach" in graded.read_text(encoding="utf-8")
        if os.geteuid() == 0:
            # Run by root, the child was the real nobody: no user namespace maps it to root.
            graded = course_dir / "autograded" / "who-am-i-outside" / info.folder_name / f"{info.slug}.ipynb"
            nobody = pwd.getpwnam("nobody").pw_uid
            assert f"uid {nobody} {nobody} map 0 0 4294967295" in graded.read_text(encoding="utf-8")


ALTERNATIVE_MODULES = [
    pytest.param(info, marks=pytest.mark.xdist_group(f"battery-{info.folder_name}"), id=info.folder_name)
    for info in attack_modules()
]


@pytest.mark.parametrize("info", ALTERNATIVE_MODULES)
def test_a_different_correct_solution_earns_full_marks(
    info: ModuleInfo, batches: Callable[[str, bool], dict[str, Result]], courses: dict[str, Course]
) -> None:
    # The reference's observations must not depend on how a correct solution is written: an
    # honest student with their own correct code keeps every point, on this batch's fresh seed.
    course = courses[info.folder_name]
    assert alternative(course) is not None, f"add tests/alternatives/alternatives_{info.number:02d}.py"
    grade = batches(info.folder_name, False)[ALTERNATIVE].grade
    failed = [f"{cell.name}: {cell.reason}" for cell in grade.cells if not cell.passed]
    assert not failed and grade.verdict.value == "graded", f"{grade.reason}; " + "; ".join(failed)


def test_every_module_is_in_the_battery() -> None:
    # The battery is also where each module's reference and blank release are autograded
    # (full marks and zero): a module missing from ATTACK_MODULES would go unchecked.
    missing = [info.folder_name for info in present_modules(REPO_ROOT) if info.folder_name not in ATTACK_MODULES]
    assert not missing, f"add {missing} to ATTACK_MODULES in tests/security/attacks.py"


def test_a_student_id_that_is_a_path_is_refused(course_dir: Path, courses: dict[str, Course], tmp_path: Path) -> None:
    info = next(iter(courses.values())).info
    before = sorted(path.relative_to(course_dir) for path in course_dir.rglob("*"))
    for student in ("..", ".", "../other", "a/b", ""):
        with pytest.raises(TitoError, match="Student id"):
            autograde(course_dir, info, {student: tmp_path / "x.ipynb"}, tmp_path)
    assert sorted(path.relative_to(course_dir) for path in course_dir.rglob("*")) == before


# --------------------------------------------------------------------------- path (a): tito module test


# Path (a) runs the same grader as path (b), with the release's tests instead of the source's.
# The reference through path (a) on the other modules is what tests/cli/test_student_path.py
# does for every module, through the real CLI: it is not run twice. Partial credit needs an
# oracle run in a Jupyter kernel (3 s); path (b) checks it for every module, path (a) for the
# grader-attack modules.
ORACLE_ATTACKS = ("reference", "partial")
MODULE_TEST_CASES = [
    (info, attack) for info, attack in CASES
    if (attack.name not in ORACLE_ATTACKS or info.folder_name in GRADER_ATTACK_MODULES)
    and not attack.needs_reference and not attack.symlink_to_source
]  # fmt: skip


@pytest.mark.parametrize("case", MODULE_TEST_CASES, ids=case_id)
def test_module_test_gives_each_attack_its_grade(
    case: tuple[ModuleInfo, Attack], solved_student_copy: Path, courses: dict[str, Course],
    jupyter_points: JupyterPoints,
) -> None:  # fmt: skip
    info, attack = case
    course = courses[info.folder_name]
    student_info = resolve_module(info.folder_name, solved_student_copy)
    solved = student_info.notebook.read_bytes()
    student_info.notebook.write_bytes(attack.build(course))
    try:
        expected = attack.expected(course)
        with limits(HANG_LIMITS if attack.slow else FAST_LIMITS):
            if expected.verdict.value == "invalid notebook":
                with pytest.raises(TitoError, match="not a (readable|valid) notebook"):
                    grade_working_notebook(student_info, current_limits())
                return
            grade, _ = grade_working_notebook(student_info, current_limits())
    finally:
        student_info.notebook.write_bytes(solved)
    expected = expected_of(attack, course, course.release, jupyter_points)
    check_grade(grade, grade.earned, expected)
    assert grade.possible == course.possible
