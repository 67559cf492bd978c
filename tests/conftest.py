"""The course built once per pytest-xdist worker, shared by the pipeline, security and CLI tests."""

from __future__ import annotations

import pytest
from repo_copies import copy_repo

from tito.build import BuildReport, build


@pytest.fixture(scope="session")
def course_build(tmp_path_factory: pytest.TempPathFactory) -> BuildReport:
    """A copy of this repository with the course built in place, as ``tito export`` builds it
    (notebooks, package, nbgrader source and release in its build/ and tinytorch/), once per
    worker. Read only: a test that grades or changes files works in a copy of what it needs."""
    return build(copy_repo(tmp_path_factory.mktemp("course-build") / "source"))
