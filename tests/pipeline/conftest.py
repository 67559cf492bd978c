"""Session fixtures for the pipeline tests: a build and an nbgrader course per worker.

Each pytest-xdist worker is its own process with its own session fixtures, so each builds
the course once into its own temporary folders and grades in its own course folder: the
nbgrader work of different modules runs in parallel on different workers, and no two
workers ever share a gradebook. The repository's own ``build/`` and ``tinytorch/`` are
never written.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from pipeline_support import MODULES, REPO_ROOT, FakeRepo

from tito.build import BuildReport, build
from tito.course import ModuleInfo
from tito.export import export_notebook
from tito.notebooks import script_to_notebook
from tito.grading import Score, autograde, staging_package


@pytest.fixture(scope="session")
def first_build(tmp_path_factory: pytest.TempPathFactory) -> BuildReport:
    """A full build of this repository (with the nbgrader release) in a temporary folder."""
    where = tmp_path_factory.mktemp("first")
    return build(REPO_ROOT, build_dir=where / "build", package_dir=where / "tinytorch")


@pytest.fixture(scope="session")
def second_build(tmp_path_factory: pytest.TempPathFactory, first_build: BuildReport) -> BuildReport:
    """The same build again, into another folder.

    It depends on ``first_build`` so that it runs after it in the same process: whatever one
    build leaves behind in the process (nbdev's or nbgrader's caches) must not change the next.
    """
    where = tmp_path_factory.mktemp("second")
    return build(REPO_ROOT, build_dir=where / "build", package_dir=where / "tinytorch")


@pytest.fixture(scope="session")
def fresh_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tinytorch/`` exported from the module scripts alone (no nbgrader), in a temporary folder."""
    package = tmp_path_factory.mktemp("export") / "tinytorch"
    for info in MODULES:
        export_notebook(script_to_notebook(info.script), info, package)
    return package


@pytest.fixture(scope="session")
def grade_module(
    first_build: BuildReport, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[ModuleInfo], dict[str, Score]]:
    """Grade one module's ``reference`` solution and ``blank`` release; scores by submission.

    Module N is graded against the committed ``tinytorch/`` files of modules < N, as an
    instructor grades; the drift test checks that those equal a fresh export. Only the
    modules a worker's tests ask for are graded, in that worker's course folder.
    """

    def grade(info: ModuleInfo) -> dict[str, Score]:
        built = next(m for m in first_build.modules if m.info == info)
        staging = staging_package(REPO_ROOT, info, tmp_path_factory.mktemp(f"staging-{info.folder_name}"))
        submissions = {"reference": built.nbgrader_source, "blank": built.release}
        results = autograde(first_build.build_dir / "course", info, submissions, staging)
        return {student: result.score for student, result in results.items()}

    return grade


@pytest.fixture
def fake_repo(tmp_path: Path) -> FakeRepo:
    """Make a throwaway source repository holding the given module scripts.

    Keys are ``NN_slug`` folder names, values the percent script (dedented). The repository
    gets this repository's ``pyproject.toml`` (nbdev reads its settings from it) and
    hand-written ``tinytorch/__init__.py``.
    """

    def make(scripts: dict[str, str]) -> Path:
        root = tmp_path / "repo"
        (root / "tinytorch").mkdir(parents=True)
        (root / "pyproject.toml").write_text(
            (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8"
        )
        (root / "tinytorch" / "__init__.py").write_text('"""A fake tinytorch."""\n', encoding="utf-8")
        for folder, script in scripts.items():
            slug = folder.split("_", 1)[1]
            (root / "modules" / folder).mkdir(parents=True)
            (root / "modules" / folder / f"{slug}.py").write_text(
                textwrap.dedent(script).lstrip(), encoding="utf-8"
            )
        return root

    return make
