"""Module scripts follow modules/README.md, so conversions round-trip and nbgrader accepts them."""

from __future__ import annotations

import jupytext
import pytest
from pipeline_support import MODULES, module_id

from tito.course import ModuleInfo

REQUIRED_NBGRADER_KEYS = {"grade", "grade_id", "locked", "solution", "schema_version"}


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_script_round_trips_without_spacing_metadata(info: ModuleInfo) -> None:
    nb = jupytext.read(info.script, fmt="py:percent")
    uneven = [cell.source.splitlines()[0][:60] for cell in nb.cells if "lines_to_next_cell" in cell.metadata]
    assert not uneven, (
        f"{info.script.name}: put two blank lines around cells with def/class; jupytext adds "
        f"lines_to_next_cell to the cells starting with {uneven}"
    )


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_nbgrader_cells_are_complete_and_ids_unique(info: ModuleInfo) -> None:
    nb = jupytext.read(info.script, fmt="py:percent")
    grade_ids = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        missing = REQUIRED_NBGRADER_KEYS - meta.keys()
        assert not missing, f"{info.script.name}: nbgrader cell {meta.get('grade_id')} lacks {sorted(missing)}"
        if meta["grade"]:
            assert meta.get("points", 0) > 0, f"{meta['grade_id']}: a graded cell needs points"
        if meta["solution"]:
            assert "### BEGIN SOLUTION" in cell.source, f"{meta['grade_id']}: a solution cell needs a solution region"
        grade_ids.append(meta["grade_id"])
    assert len(grade_ids) == len(set(grade_ids)), f"{info.script.name}: repeated grade_id"
    assert any(cell.metadata.get("nbgrader", {}).get("grade") for cell in nb.cells), "no graded test cell"
