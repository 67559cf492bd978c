"""Lay out a student repository from a finished build: release notebooks, no solutions.

The copy holds what a student works with: the released notebook of every module (stubs
where the solutions were, hidden tests removed), the ``tinytorch/`` package exported from
those notebooks, the tests, the ``tito`` CLI and the bundled data. It holds no module
script, and a scan of everything copied for solution and hidden-test text must come back
clean before the copy appears at its destination.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from tito.course import MANIFEST_FILE, PACKAGE_NAME, ModuleInfo, copy_package_inits, file_digest, present_modules
from tito.export import export_notebook
from tito.leaks import SecretRegion, find_leaks, secret_regions
from tito.errors import TitoError

# Copied as they are, source path -> path in the copy. The student README and Makefile
# replace the instructor's: they name only what a student copy holds. (The source
# repository's .gitignore is not copied: it ignores the very notebooks that hold a student's work.)
COPIED_FILES = {
    "pyproject.toml": "pyproject.toml",
    "LICENSE": "LICENSE",
    "modules/README.md": "modules/README.md",
    "student/README.md": "README.md",
    "student/Makefile": "Makefile",
}
# Only the module tests: the other test folders exercise the instructor's build, the module
# scripts and benchmarks/, none of which a student copy holds.
COPIED_FOLDERS = ("tests/modules", "tito", "data", "examples")
_JUNK = ("__pycache__", "*.pyc", ".ipynb_checkpoints", ".pytest_cache")


def _built(path: Path) -> Path:
    """``path``, which a student copy needs, or a TitoError saying what is missing."""
    if not path.exists():
        raise TitoError(
            f"{path} is missing; a student copy is made from a source repository after "
            "`tito export` (a build with the nbgrader release)."
        )
    return path


def _copy_repository_files(root: Path, dest: Path) -> None:
    """The hand-written files a student needs, copied from ``root``; a missing one is a TitoError."""
    for name, target in COPIED_FILES.items():
        (dest / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_built(root / name), dest / target)
    for name in COPIED_FOLDERS:
        shutil.copytree(_built(root / name), dest / name, ignore=shutil.ignore_patterns(*_JUNK))


def _write_manifest(copy: Path) -> None:
    """Record the digest of every course test file, so ``tito module test`` runs only those."""
    tests = sorted((copy / "tests" / "modules").rglob("*.py"))
    manifest = {path.relative_to(copy).as_posix(): file_digest(path) for path in tests}
    (copy / MANIFEST_FILE).parent.mkdir(parents=True, exist_ok=True)
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def copy_leaks(copy: Path, regions: list[SecretRegion]) -> list[str]:
    """Every text file under ``copy`` that gives away one of ``regions`` (see ``find_leaks``)."""
    problems = []
    for path in sorted(p for p in copy.rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary data (datasets) holds no code
        relative = path.relative_to(copy)
        # Markers are a leak only in notebooks and package code; prose (modules/README.md)
        # and tito's own code name them on purpose.
        scan_markers = path.suffix == ".ipynb" or relative.parts[0] == PACKAGE_NAME
        if path.suffix == ".ipynb":
            cells = nbformat.reads(text, as_version=4).cells
            problems += [
                leak
                for cell in cells
                for leak in find_leaks(
                    regions, f"{relative} cell {cell.get('id', '?')}", cell.source, markers=scan_markers
                )
            ]
        else:
            problems += find_leaks(regions, str(relative), text, markers=scan_markers)
    return problems


def make_student_copy(root: Path, dest: Path, build_dir: Path) -> Path:
    """Write a student repository for the modules of ``root`` at ``dest``; return ``dest``.

    ``build_dir`` holds a finished build of ``root`` with ``release=True``. Each module gets
    its release notebook as ``modules/NN_slug/slug.ipynb``; ``tinytorch/`` is the
    hand-written ``__init__.py`` files plus an export of those notebooks. ``dest`` must not
    exist yet (or be an empty folder): nothing a student wrote is ever overwritten. The
    copy is assembled next to ``dest`` and moved into place only when no file in it gives
    away a solution or hidden test; otherwise TitoError lists what leaked.
    """
    root, dest, build_dir = root.resolve(), dest.resolve(), build_dir.resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise TitoError(f"{dest} already exists and is not empty; choose a new folder for the student copy.")
    modules = present_modules(root)
    if not modules:
        raise TitoError(f"No module found under {root / 'modules'}; nothing to copy.")
    releases = {
        info: _built(build_dir / "course" / "release" / info.folder_name / f"{info.slug}.ipynb")
        for info in modules
    }
    sources = [_built(build_dir / "notebooks" / info.folder_name / f"{info.slug}.ipynb") for info in modules]

    staging = dest.parent / f".{dest.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        _copy_repository_files(root, staging)
        copy_package_inits(root, staging)
        for info in modules:
            student_info = ModuleInfo(info.number, info.slug, info.title, staging)
            student_info.folder.mkdir(parents=True, exist_ok=True)
            student_info.release_copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(releases[info], student_info.notebook)
            shutil.copyfile(releases[info], student_info.release_copy)
            export_notebook(nbformat.read(student_info.notebook, as_version=4), student_info)
        _write_manifest(staging)
        regions = [region for path in sources for region in secret_regions(nbformat.read(path, as_version=4))]
        leaks = copy_leaks(staging, regions)
        if leaks:
            raise TitoError("The student copy would give away solutions:\n  " + "\n  ".join(leaks))
        if dest.exists():
            dest.rmdir()  # empty, checked above
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dest
