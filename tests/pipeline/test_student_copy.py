"""A student copy made from the build: release notebooks, a stub package, no solution anywhere."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from pipeline_support import MODULES

from tito.build import BuildReport, build
from tito.course import STUB_MARKER, present_modules
from tito.errors import TitoError
from tito.leaks import secret_regions
from tito.student_copy import copy_leaks, make_student_copy

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def student_copy(first_build: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_student_copy(
        first_build.root, tmp_path_factory.mktemp("copy") / "student", first_build.build_dir
    )


def test_copy_holds_release_notebooks_and_no_scripts(student_copy: Path, first_build: BuildReport) -> None:
    assert [m.folder_name for m in present_modules(student_copy)] == [m.folder_name for m in MODULES]
    assert not list((student_copy / "modules").rglob("*.py")), "a student copy must hold no module script"
    for built in first_build.modules:
        copied = student_copy / "modules" / built.info.folder_name / f"{built.info.slug}.ipynb"
        assert copied.read_bytes() == built.release.read_bytes()
    for name in ("pyproject.toml", "modules/README.md", "tinytorch/__init__.py"):
        assert (student_copy / name).is_file(), f"{name} missing from the student copy"
    assert not (student_copy / "tests" / "pipeline").exists()


def test_copy_package_is_exported_from_the_stubs(student_copy: Path) -> None:
    for info in present_modules(student_copy):
        has_solutions = any(
            cell.metadata.get("nbgrader", {}).get("solution")
            for cell in nbformat.read(info.notebook, as_version=4).cells
        )
        for path in info.exported_files():
            text = path.read_text(encoding="utf-8")
            source = Path(os.path.relpath(info.notebook, path.parent)).as_posix()
            assert f"File to edit: {source}." in text, f"{path} should name the notebook a student edits"
            assert STUB_MARKER in text or not has_solutions, f"{path} should hold the stubs of the release"


def test_copy_gives_nothing_away(student_copy: Path, first_build: BuildReport) -> None:
    regions = [
        r for m in first_build.modules for r in secret_regions(nbformat.read(m.notebook, as_version=4))
    ]
    assert copy_leaks(student_copy, regions) == []


def test_copy_never_overwrites_a_folder_with_work_in_it(first_build: BuildReport, tmp_path: Path) -> None:
    dest = tmp_path / "student"
    (dest / "modules" / "01_tensor").mkdir(parents=True)
    work = dest / "modules" / "01_tensor" / "tensor.ipynb"
    work.write_text("my work", encoding="utf-8")
    with pytest.raises(TitoError, match="not empty"):
        make_student_copy(first_build.root, dest, first_build.build_dir)
    assert work.read_text(encoding="utf-8") == "my work"


def test_copy_package_matches_its_own_export(student_copy: Path, tmp_path: Path) -> None:
    # What `tito export` in the student copy would write, before the student changes anything.
    report = build(student_copy, build_dir=tmp_path / "build", package_dir=tmp_path / "tinytorch")
    assert not (tmp_path / "build" / "course").exists(), "a student copy has no solutions to release"
    for built in report.modules:
        for path in built.exported:
            if path.name == "__init__.py":
                continue  # hand-written and copied (copy_package_inits); an export into an empty folder makes a blank one
            committed = student_copy / "tinytorch" / path.relative_to(tmp_path / "tinytorch")
            assert committed.read_bytes() == path.read_bytes(), f"{committed} differs from a fresh export"
