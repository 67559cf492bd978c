"""The course built once per pytest-xdist worker, shared by the pipeline and security tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tito.build import BuildReport, build

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def course_build(tmp_path_factory: pytest.TempPathFactory) -> BuildReport:
    """A full build of this repository (notebooks, package, nbgrader source and release) in a
    temporary folder, once per worker. Read only: a test that grades copies its course folder."""
    where = tmp_path_factory.mktemp("course-build")
    return build(REPO_ROOT, build_dir=where / "build", package_dir=where / "tinytorch")
