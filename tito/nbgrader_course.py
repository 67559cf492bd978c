"""The nbgrader course: its settings, its gradebook and the student release of a module.

nbgrader is imported inside the functions that need it: it costs over a second to import.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from tito.course import PACKAGE_NAME, STUB_MARKER, ModuleInfo
from tito.errors import TitoError
from tito.leaks import release_leaks
from tito.limits import current_limits
from tito.notebooks import write_notebook

if TYPE_CHECKING:
    from nbgrader.apps import NbGraderAPI

COURSE_ID = "tinytorch"
# What nbgrader leaves in place of a solution; tito.course.STUB_MARKER finds unfinished work by it.
CODE_STUB = f"{STUB_MARKER}\nraise NotImplementedError()"


def nbgrader_settings() -> dict[str, dict[str, object]]:
    """The nbgrader settings, for the command line (``nbgrader_config.py``) and the in-process API."""
    return {
        "CourseDirectory": {
            "course_id": COURSE_ID,
            # Files of a submission that autograde must not copy next to the notebook. A submitted
            # tinytorch/ folder would shadow the reference package the notebook is graded against.
            "ignore": [
                ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", PACKAGE_NAME,
                "*.egg-info", ".git", ".venv", "build",
            ],
        },
        "Execute": {"timeout": current_limits().cell_seconds},
        "ClearSolutions": {
            "code_stub": {"python": CODE_STUB},
            "text_stub": "YOUR ANSWER HERE",
        },
    }  # fmt: skip


def nbgrader_config_text() -> str:
    """The ``nbgrader_config.py`` that makes the nbgrader CLI behave like the in-process API."""
    lines = [
        "# Written by tito/nbgrader_course.py from nbgrader_settings(); do not edit.",
        "c = get_config()  # noqa: F821",
    ]
    for section, values in nbgrader_settings().items():
        lines += [f"c.{section}.{key} = {value!r}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _create_gradebook(database: Path) -> None:
    """Create an empty, current nbgrader gradebook at ``database`` unless one exists.

    nbgrader would create it on first use, but it learns the schema version by running the
    ``alembic`` program in a subprocess, which costs seconds here and needs the virtual
    environment's ``bin`` on PATH. Reading the same version in-process avoids both; the
    tables come from nbgrader's own SQLAlchemy metadata, so the result is identical.
    """
    if database.exists():
        return
    from alembic.script import ScriptDirectory
    from nbgrader.api import Base
    from nbgrader.dbutil import ALEMBIC_DIR
    from sqlalchemy import create_engine, text

    head = ScriptDirectory(ALEMBIC_DIR).get_current_head()
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            Base.metadata.create_all(connection)
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            connection.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head}
            )
    finally:
        engine.dispose()


def nbgrader_api(course_dir: Path, database: Path | None = None) -> NbGraderAPI:
    """An nbgrader API for ``course_dir``, configured by ``nbgrader_settings()``.

    The gradebook is ``database`` (default ``course_dir/gradebook.db``), created if missing.
    Writes ``course_dir/nbgrader_config.py`` so that ``nbgrader`` run in that folder agrees.
    nbgrader is imported here, not at module level: it costs over a second and only the
    release and grading steps need it.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    course_dir = course_dir.resolve()
    course_dir.mkdir(parents=True, exist_ok=True)
    (course_dir / "nbgrader_config.py").write_text(nbgrader_config_text(), encoding="utf-8")
    database = (database or course_dir / "gradebook.db").resolve()
    _create_gradebook(database)
    config = Config({section: dict(values) for section, values in nbgrader_settings().items()})
    config.CourseDirectory.root = str(course_dir)
    config.CourseDirectory.db_url = f"sqlite:///{database}"
    # The exchange is for JupyterHub deployments; keep it inside the course folder.
    (course_dir / "exchange").mkdir(exist_ok=True)
    config.Exchange.root = str(course_dir / "exchange")
    config.NbGraderAPI.log_level = "WARN"
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def nbgrader_call(action: str, result: dict[str, object]) -> None:
    """Raise a readable error when an nbgrader API call reports failure.

    Success only means that nbgrader ran; it says nothing about test results (read those
    from the gradebook).
    """
    if not result.get("success"):
        detail = result.get("error") or result.get("log") or "no details"
        raise TitoError(f"nbgrader {action} failed; fix the notebook and rebuild. Details:\n{detail}")


def generate_release(
    api: NbGraderAPI, course_dir: Path, nb: nbformat.NotebookNode, info: ModuleInfo
) -> tuple[Path, Path]:
    """Write the nbgrader source notebook for ``info`` and generate its student release.

    A release that gives away a solution or hidden test (``release_leaks``) is deleted and
    reported as a TitoError.
    """
    source = write_notebook(nb, course_dir / "source" / info.folder_name / f"{info.slug}.ipynb")
    nbgrader_call(f"generate_assignment {info.folder_name}", api.generate_assignment(info.folder_name))
    release = course_dir / "release" / info.folder_name / f"{info.slug}.ipynb"
    if not release.exists():
        raise TitoError(f"nbgrader did not write {release}; run `tito export` again and read its log.")
    leaks = release_leaks(nb, nbformat.read(release, as_version=4))
    if leaks:
        release.unlink()
        raise TitoError(
            f"The student release of {info.folder_name} would give away solutions; move that code "
            "between ### BEGIN SOLUTION and ### END SOLUTION (or out of the notebook):\n  "
            + "\n  ".join(leaks)
        )
    return source, release
