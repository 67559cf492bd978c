"""The course rules: which file tito reads, what a module exports, when it counts as exported."""

import json
from pathlib import Path

import pytest

from tito.course import ModuleInfo, check_prerequisites, has_unfinished_stub, missing_prerequisites
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


def _write_module(root: Path, number: int, slug: str, exported: str | None) -> None:
    """A module script exporting to ``tinytorch/<slug>.py``, with that file holding ``exported``."""
    folder = root / "modules" / f"{number:02d}_{slug}"
    folder.mkdir(parents=True)
    (folder / f"{slug}.py").write_text(f"# %%\n#| default_exp {slug}\n", encoding="utf-8")
    if exported is not None:
        (root / "tinytorch").mkdir(exist_ok=True)
        (root / "tinytorch" / f"{slug}.py").write_text(exported, encoding="utf-8")


def test_only_earlier_modules_present_in_the_repository_are_prerequisites(tmp_path: Path) -> None:
    # Modules 03-07 are not in this repository: module 08 needs only 01 and 02 exported.
    _write_module(tmp_path, 1, "tensor", "x = 1\n")
    _write_module(tmp_path, 2, "autograd", "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")
    _write_module(tmp_path, 8, "dataloader", None)
    dataloader = ModuleInfo(8, "dataloader", "DataLoader", tmp_path)
    assert [info.folder_name for info in missing_prerequisites(dataloader)] == ["02_autograd"]
    (tmp_path / "tinytorch" / "autograd.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    assert missing_prerequisites(dataloader) == []
    check_prerequisites(dataloader)
    (tmp_path / "tinytorch" / "tensor.py").unlink()
    with pytest.raises(TitoError, match="needs module 01_tensor"):
        check_prerequisites(dataloader)
