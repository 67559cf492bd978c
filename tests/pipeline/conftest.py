"""Session fixtures for the pipeline tests: a build and an nbgrader course per worker.

Each pytest-xdist worker is its own process with its own session fixtures, so each builds
the course once into its own temporary folders: no two workers ever share a gradebook. The
repository's own ``build/`` and ``tinytorch/`` are never written.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pipeline_support import MODULES, REPO_ROOT, FakeRepo
from repo_copies import copy_repo

from tito.build import BuildReport, build
from tito.export import export_notebook
from tito.notebooks import script_to_notebook


@pytest.fixture(scope="session")
def first_build(course_build: BuildReport) -> BuildReport:
    """The worker's build of this repository (tests/conftest.py), shared with the security tests."""
    return course_build


@pytest.fixture(scope="session")
def second_build(tmp_path_factory: pytest.TempPathFactory, first_build: BuildReport) -> BuildReport:
    """The same build again, in another copy of the repository.

    It depends on ``first_build`` so that it runs after it in the same process: whatever one
    build leaves behind in the process (nbdev's or nbgrader's caches) must not change the next.
    """
    return build(copy_repo(tmp_path_factory.mktemp("second") / "source"))


@pytest.fixture(scope="session")
def fresh_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tinytorch/`` exported from the module scripts alone (no nbgrader), in a temporary folder."""
    package = tmp_path_factory.mktemp("export") / "tinytorch"
    for info in MODULES:
        export_notebook(script_to_notebook(info.script), info, package)
    return package


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
