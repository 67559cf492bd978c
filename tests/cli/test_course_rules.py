"""The course rules: which file tito reads, what a module exports, when it counts as exported."""

import json
from pathlib import Path

import pytest

from tito.course import ModuleInfo, has_unfinished_stub
from tito.errors import TitoError


def test_a_stub_left_in_place_is_unfinished() -> None:
    assert has_unfinished_stub("def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")


def test_code_written_below_the_kept_comment_is_finished() -> None:
    assert not has_unfinished_stub("def f():\n    # YOUR CODE HERE\n    return 1\n")
    assert not has_unfinished_stub("def f():\n    raise NotImplementedError('only on purpose')\n")


def _module_with(tmp_path: Path, files: dict[str, str]) -> ModuleInfo:
    folder = tmp_path / "modules" / "04_layers"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return ModuleInfo(4, "layers", "Layers", tmp_path)


NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["#| default_exp not.this\n"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["#| default_exp nn.layers\n", "x = 1"]},
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def test_export_targets_are_read_from_the_cells_of_a_notebook(tmp_path: Path) -> None:
    # In the file's JSON the directive sits inside a quoted, indented string.
    info = _module_with(tmp_path, {"layers.ipynb": json.dumps(NOTEBOOK, indent=1)})
    assert info.export_targets() == ["nn.layers"]
    assert info.source == info.working_file == info.notebook


def test_the_script_is_the_source_and_a_notebook_beside_it_the_working_file(tmp_path: Path) -> None:
    info = _module_with(
        tmp_path, {"layers.py": "# %%\n#| default_exp nn.layers\n", "layers.ipynb": json.dumps(NOTEBOOK)}
    )
    assert (info.source, info.working_file) == (info.script, info.notebook)


@pytest.mark.parametrize("text", ["{not json", json.dumps({"cells": "oops"}), "[]"])
def test_a_damaged_notebook_is_a_one_line_error(tmp_path: Path, text: str) -> None:
    info = _module_with(tmp_path, {"layers.ipynb": text})
    with pytest.raises(TitoError, match="layers.ipynb is not a (readable|valid) notebook"):
        info.export_targets()
