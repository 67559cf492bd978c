"""Every graded test cell decides its grade on observations that depend on the run's unseen inputs.

The grader (``tito.grader``) grants a graded cell's points only when its observations match
the reference solution's on inputs drawn for that run. That protects a grade only if each
graded cell observes at least one value computed from those inputs: a cell whose
observations are the same for every seed could be passed by writing them down. This test
runs each module's reference with two seeds and names every graded cell without such an
observation. (That the reference matches itself on one seed is the battery's honest student.)
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
from pipeline_support import MODULES, REPO_ROOT

from tito.build import BuildReport
from tito.course import ModuleInfo, PACKAGE_NAME, data_environment
from tito.grader import Isolation, run_reference
from tito.grading import staging_package
from tito.limits import current_limits

pytestmark = pytest.mark.pipeline


@pytest.mark.parametrize("info", MODULES, ids=lambda info: info.folder_name)
def test_every_graded_cell_observes_what_the_unseen_inputs_change(
    info: ModuleInfo, course_build: BuildReport, tmp_path: Path
) -> None:
    built = next(m for m in course_build.modules if m.info.folder_name == info.folder_name)
    assert built.nbgrader_source is not None
    template = nbformat.read(built.nbgrader_source, as_version=4)
    staging = staging_package(REPO_ROOT, info, tmp_path)
    isolation = Isolation(visible=(REPO_ROOT / "data",))
    runs = [
        run_reference(template, staging / PACKAGE_NAME, current_limits(), isolation, data_environment(REPO_ROOT), seed)
        for seed in (1, 2)
    ]
    constant = [
        name
        for name, first in runs[0].observations.items()
        if all(
            a.value.shape == b.value.shape and np.array_equal(a.value, b.value)
            for a, b in zip(first, runs[1].observations[name])
        )
        and len(first) == len(runs[1].observations[name])
    ]
    assert not constant, (
        f"{info.folder_name}: these graded cells observe nothing that changes with the run's seed, so "
        f"their grade could be written down in advance: {constant}. Observe a value computed from "
        "inputs drawn with unseen_rng(...)."
    )
