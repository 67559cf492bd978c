"""Fixtures for running the real ``tito`` executable in throwaway repositories.

Every test that runs a module works in its own copy of this repository under a temporary
folder, so the real ``tinytorch/``, ``modules/`` and ``.tito/`` are never touched. Each
expensive scenario is one test with function-scoped fixtures: no test depends on another
having run first or on the same xdist worker (``--dist loadgroup`` does not group tests
with pytest 9.2 and pytest-xdist 3.8, pytest-xdist issue #1386).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from repo_copies import REPO_ROOT, copy_repo

from tito.build import BuildReport

# The console script installed with the project, next to this interpreter.
TITO = Path(sys.executable).parent / "tito"
TITO_TIMEOUT_SECONDS = 300

Tito = Callable[..., subprocess.CompletedProcess[str]]

TINY_MODULE = '''# %% [markdown]
# # A one-function module for testing tito

# %%
#| default_exp tensor

# %% nbgrader={"grade": false, "grade_id": "impl-double", "locked": false, "solution": true, "schema_version": 3}
#| export
def double(x: float) -> float:
    """Twice ``x``."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"grade": true, "grade_id": "test-double", "locked": true, "points": 3, "solution": false, "schema_version": 3}
assert double(2) == 4, "double(2) should be 4"

# %%
print(double(21))
'''
TINY_TEST = """from tinytorch.tensor import double


def test_double():
    assert double(3) == 6
"""


def run_tito(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``tito ARGS`` in ``cwd`` and capture its output as text.

    COLUMNS keeps rich from wrapping table cells, so a reason reads as one line; the venv's
    bin goes first on PATH as in an activated environment (nbgrader runs ``alembic`` by name).
    """
    env = dict(os.environ, COLUMNS="400")
    env["PATH"] = os.pathsep.join([str(TITO.parent), env.get("PATH", "")])
    return subprocess.run(
        [str(TITO), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TITO_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture(scope="session")
def tito() -> Tito:
    """Run the ``tito`` executable: ``tito("module", "list", cwd=path)``."""
    assert TITO.exists(), f"{TITO} is missing: run `pip install -e .` in {REPO_ROOT}"
    return run_tito


@pytest.fixture()
def empty_repo(tmp_path: Path) -> Path:
    """A tinytorch repository with no module in it."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'empty'\n", encoding="utf-8")
    (tmp_path / "modules").mkdir()
    return tmp_path


@pytest.fixture()
def repo_copy(tmp_path: Path) -> Path:
    """A fresh copy of this repository."""
    return copy_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def built_source(course_build: BuildReport) -> Path:
    """A copy of this repository built as ``tito export`` builds it (tests/conftest.py, once per
    worker); do not modify it."""
    return course_build.root


@pytest.fixture(scope="session")
def pristine_student_copy(built_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A blank student copy of ``built_source`` (once per worker); do not modify it."""
    from tito.student_copy import make_student_copy

    return make_student_copy(built_source, tmp_path_factory.mktemp("pristine") / "student", built_source / "build")


@pytest.fixture()
def student_repo(tmp_path: Path, pristine_student_copy: Path) -> Path:
    """A blank student copy (release notebooks, stub package) of this repository, for one test."""
    return Path(shutil.copytree(pristine_student_copy, tmp_path / "student", symlinks=True))


@pytest.fixture()
def tiny_repo(tmp_path: Path) -> Path:
    """A repository whose module 01 is one unwritten function, ``double``, with one test."""
    shutil.copy2(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")  # nbdev and pytest settings
    (tmp_path / "modules" / "01_tensor").mkdir(parents=True)
    (tmp_path / "modules" / "01_tensor" / "tensor.py").write_text(TINY_MODULE, encoding="utf-8")
    (tmp_path / "tests" / "modules").mkdir(parents=True)
    (tmp_path / "tests" / "modules" / "test_01_tiny.py").write_text(TINY_TEST, encoding="utf-8")
    (tmp_path / "tinytorch").mkdir()
    (tmp_path / "tinytorch" / "__init__.py").write_text("", encoding="utf-8")
    return tmp_path
