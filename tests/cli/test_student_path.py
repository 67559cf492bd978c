"""The course as a student walks it, in a student copy, through the real ``tito``.

A student copy is made from a build of this repository. For each module present, one test
takes a fresh copy whose earlier modules are done (reference typed in, package files
exported), types the reference into the module's release notebook, and runs ``tito module
test NN`` and ``tito module complete NN``. The tests cover every module present, so they
grow with the course, and they run in parallel.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from test_module_test import assert_full_marks, status_rows

from tito.course import present_modules

Tito = Callable[..., subprocess.CompletedProcess[str]]
REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "modules"
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


def test_a_blank_student_copy_shows_every_module_unwritten(tito: Tito, student_repo: Path) -> None:
    modules = present_modules(student_repo)
    assert modules, "the student copy holds no module"
    rows = status_rows(tito("module", "status", cwd=student_repo).stdout)
    for info in modules:
        assert rows[info.folder_name][:2] == ("yes", "stubs"), rows[info.folder_name]


@pytest.mark.parametrize("folder", [info.folder_name for info in present_modules(REPO_ROOT)])
def test_a_student_who_writes_the_reference_completes_the_module(
    folder: str, tito: Tito, student_repo: Path, built_source: Path
) -> None:
    """Module ``folder`` in a student copy whose earlier modules are done.

    One test per module, so that the modules run in parallel: the earlier modules are done
    as a student who completed them has them (the reference typed into the notebook, the
    package files exported), and this module is then written, tested and completed through
    the real ``tito``.
    """
    source_course = built_source / "build" / "course" / "source"
    modules = present_modules(student_repo)
    target = next(info for info in modules if info.folder_name == folder)
    for info in modules:
        if info.number > target.number:
            break
        typed = type_in_solutions(info.notebook, source_course / info.folder_name / f"{info.slug}.ipynb")
        assert typed > 0, f"{info.folder_name} has no solution cell"
        if info is not target:  # exported, as its own `tito module test` did when the student passed it
            for path in info.exported_files():
                shutil.copy2(built_source / path.relative_to(student_repo), path)

    script = SCRIPTS / target.folder_name / f"{target.slug}.py"
    assert_full_marks(tito("module", "test", f"{target.number:02d}", cwd=student_repo), script)
    # The test just passed and nothing changed: complete records it without testing again.
    completed = tito("module", "complete", target.slug, cwd=student_repo)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "nothing it reads has changed since" in completed.stdout, completed.stdout
    assert f"Module {target.folder_name} completed." in completed.stdout

    status = tito("module", "status", cwd=student_repo)
    rows = status_rows(status.stdout)
    in_repo, export, last_test, completed_at = rows[target.folder_name]
    assert (in_repo, export) == ("yes", "exported"), rows[target.folder_name]
    assert last_test.startswith("passed") and completed_at, rows[target.folder_name]
    for info in modules:
        if info.number < target.number:
            assert rows[info.folder_name][1] == "exported", rows[info.folder_name]
    assert "Completed 1 of 20 modules." in status.stdout


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
