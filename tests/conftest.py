"""The course built once per pytest-xdist worker, shared by the pipeline, security and CLI tests;
and where the suite keeps its temporary files."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from repo_copies import copy_repo

from tito.build import BuildReport, build

# Every graded run creates, fills and deletes a folder of small files, and every graded
# submission commits the gradebook. On a disk those metadata writes are slow (here about
# 0.2 s of waiting per run, against 3 ms in memory), so the suite keeps its temporary files,
# and tito's, in a RAM-backed folder when the machine has one with room to spare.
RAM_FOLDER = Path("/dev/shm")
RAM_FOLDER_MIN_FREE_BYTES = 2 * 1024**3  # a run writes about 70 MB; pytest keeps the last three


def pytest_configure(config: pytest.Config) -> None:
    """Point TMPDIR at ``RAM_FOLDER`` unless TMPDIR is set already (an explicit choice wins).

    This runs in the xdist controller before it picks the base folder of ``tmp_path`` and
    starts the workers, which inherit TMPDIR, as does everything the tests start (tito, its
    graded children, Jupyter kernels, pytest).
    """
    if "TMPDIR" in os.environ or not RAM_FOLDER.is_dir() or not os.access(RAM_FOLDER, os.W_OK | os.X_OK):
        return
    if shutil.disk_usage(RAM_FOLDER).free < RAM_FOLDER_MIN_FREE_BYTES:
        return
    os.environ["TMPDIR"] = str(RAM_FOLDER)
    tempfile.tempdir = None  # tempfile remembers the folder it chose first; this makes it look again


@pytest.fixture(scope="session")
def course_build(tmp_path_factory: pytest.TempPathFactory) -> BuildReport:
    """A copy of this repository with the course built in place, as ``tito export`` builds it
    (notebooks, package, nbgrader source and release in its build/ and tinytorch/), once per
    worker. Read only: a test that grades or changes files works in a copy of what it needs."""
    return build(copy_repo(tmp_path_factory.mktemp("course-build") / "source"))
