"""The course as a student walks it, in a student copy, through the real ``tito``.

A student copy is made from a build of this repository; every module's release notebook
then gets its reference solution typed into the solution cells, module by module in
course order, and ``tito module test NN`` and ``tito module complete NN`` must pass for
each. This test covers every module present, so it grows with the course.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
from test_module_test import assert_full_marks, status_rows

from tito.course import present_modules

Tito = Callable[..., subprocess.CompletedProcess[str]]
SCRIPTS = Path(__file__).resolve().parents[2] / "modules"
_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)


def type_in_solutions(release: Path, source: Path) -> int:
    """Put the reference solution of each solution cell of ``source`` into ``release``, as a
    student would type it (nbgrader's markers left out); returns how many cells changed."""
    solutions = {
        cell.id: _MARKER.sub("", cell.source)
        for cell in nbformat.read(source, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    nb = nbformat.read(release, as_version=4)
    changed = 0
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = solutions[cell.id]
            changed += 1
    nbformat.write(nb, release)
    return changed


def test_a_student_who_writes_the_reference_completes_every_module(
    tito: Tito, student_repo: Path, built_source: Path
) -> None:
    source_course = built_source / "build" / "course" / "source"
    modules = present_modules(student_repo)
    assert modules, "the student copy holds no module"
    before = status_rows(tito("module", "status", cwd=student_repo).stdout)
    for info in modules:
        assert before[info.folder_name][:2] == ("yes", "stubs"), before[info.folder_name]

    for info in modules:
        script = SCRIPTS / info.folder_name / f"{info.slug}.py"
        typed = type_in_solutions(info.notebook, source_course / info.folder_name / f"{info.slug}.ipynb")
        assert typed > 0, f"{info.folder_name} has no solution cell"
        assert_full_marks(tito("module", "test", f"{info.number:02d}", cwd=student_repo), script)
        # The test just passed and nothing changed: complete records it without testing again.
        completed = tito("module", "complete", info.slug, cwd=student_repo)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        assert "nothing it reads has changed since" in completed.stdout, completed.stdout
        assert f"Module {info.folder_name} completed." in completed.stdout

    status = tito("module", "status", cwd=student_repo)
    rows = status_rows(status.stdout)
    for info in modules:
        in_repo, export, last_test, completed_at = rows[info.folder_name]
        assert (in_repo, export) == ("yes", "exported"), rows[info.folder_name]
        assert last_test.startswith("passed") and completed_at, rows[info.folder_name]
    assert f"Completed {len(modules)} of 20 modules." in status.stdout


def test_the_student_copy_set_up_is_true_for_the_copy(student_repo: Path) -> None:
    readme = (student_repo / "README.md").read_text(encoding="utf-8")
    makefile = (student_repo / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, re.MULTILINE))
    for target in re.findall(r"`make (\w+)`", readme):
        assert target in targets, f"the student README names `make {target}`, which the copy's Makefile lacks"
    for folder in re.findall(r"^- `([a-z_]+)/", readme, re.MULTILINE):
        assert (student_repo / folder).is_dir(), f"the student README describes {folder}/, missing from the copy"
    for instructor_only in ("benchmarks", "make bench", "make export", "tests/pipeline"):
        assert instructor_only not in readme + makefile, f"the student copy mentions {instructor_only}"
    # pip reads pyproject.toml (its readme and license files) exactly as `make install` would.
    dry_run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--quiet", "-e", str(student_repo)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert dry_run.returncode == 0, dry_run.stdout + dry_run.stderr
    listed = subprocess.run(
        ["make", "-s", "help"], cwd=student_repo, capture_output=True, text=True, timeout=60, check=True
    )
    assert "make install" in listed.stdout
