"""Fixtures for the grading attack battery: the course built once per worker, a student copy
holding the reference of every module, and the score Jupyter itself gives a notebook."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from attacks import REPO_ROOT, Course, JupyterPoints, attack_modules, reference
from nbclient import NotebookClient

from tito.build import BuildReport
from tito.course import ModuleInfo, data_environment
from tito.export import export_notebook
from tito.grading import staging_package
from tito.student_copy import make_student_copy
from tito.submission import assemble

@pytest.fixture(scope="session")
def course_dir(course_build: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The battery's own copy of the built nbgrader course folder: its gradebook and
    autograded/ fill up here, and the shared build stays as it was built."""
    return Path(shutil.copytree(course_build.build_dir / "course", tmp_path_factory.mktemp("battery") / "course"))


@pytest.fixture(scope="session")
def courses(course_build: BuildReport, course_dir: Path) -> dict[str, Course]:
    """Each battery module's course notebooks, by folder name; the paths an attack aims at
    (gradebook, nbgrader source) are those of the course folder the battery grades in."""
    found = {}
    battery = {info.folder_name for info in attack_modules()}
    for built in course_build.modules:
        if built.info.folder_name in battery:
            assert built.nbgrader_source is not None and built.release is not None
            found[built.info.folder_name] = Course(
                built.info,
                nbformat.read(built.nbgrader_source, as_version=4),
                nbformat.read(built.release, as_version=4),
                course_dir / "gradebook.db",
                course_dir / "source" / built.info.folder_name / built.nbgrader_source.name,
            )
    return found


@pytest.fixture(scope="session")
def solved_student_copy(
    course_build: BuildReport, courses: dict[str, Course], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A student copy whose every notebook holds the reference solution, exported to its tinytorch/."""
    copy = make_student_copy(REPO_ROOT, tmp_path_factory.mktemp("solved") / "student", course_build.build_dir)
    for info in attack_modules(copy):
        solved = reference(courses[info.folder_name])
        nbformat.write(solved, info.notebook)
        export_notebook(solved, info)
    return copy


@pytest.fixture()
def jupyter_points(tmp_path: Path) -> JupyterPoints:
    """The points a submission earns when its solutions run with a template in a Jupyter
    kernel, as nbgrader runs a notebook: an oracle independent of tito's own runner."""

    def points(template: nbformat.NotebookNode, submission: nbformat.NotebookNode, info: ModuleInfo) -> float:
        nb = assemble(template, submission).notebook
        staging = staging_package(REPO_ROOT, info, tmp_path / "staging")
        workdir = tmp_path / "run"
        workdir.mkdir()
        environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        client = NotebookClient(nb, kernel_name="python3", timeout=60, allow_errors=True)
        kernel_environment = {**environment, **data_environment(REPO_ROOT), "PYTHONPATH": str(staging)}
        with client.setup_kernel(env=kernel_environment, cwd=str(workdir)):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    client.execute_cell(cell, index)
        shutil.rmtree(workdir)
        return sum(
            float(cell.metadata.nbgrader["points"])
            for cell in nb.cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
            and not any(output.output_type == "error" for output in cell.outputs)
        )

    return points
