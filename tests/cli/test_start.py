"""`tito module start --no-browser` makes the notebook once and never overwrites it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

Tito = Callable[..., CompletedProcess[str]]


def test_start_creates_the_notebook_once_and_keeps_a_students_edits(tito: Tito, repo_copy: Path) -> None:
    notebook = repo_copy / "modules" / "01_tensor" / "tensor.ipynb"
    assert not notebook.exists()

    first = tito("module", "start", "01", "--no-browser", cwd=repo_copy)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Created modules/01_tensor/tensor.ipynb" in first.stdout
    assert str(notebook) in first.stdout
    assert "-m jupyterlab modules/01_tensor/tensor.ipynb" in first.stdout, "the command to open it"
    content = json.loads(notebook.read_text(encoding="utf-8"))
    assert any(cell["metadata"].get("nbgrader", {}).get("grade") for cell in content["cells"]), "graded tests"

    content["cells"][0]["source"] = "my own notes"
    edited = json.dumps(content).encode()
    notebook.write_bytes(edited)
    for name in ("1", "001", "01_tensor", "tensor"):
        again = tito("module", "start", name, "--no-browser", cwd=repo_copy)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Using your existing modules/01_tensor/tensor.ipynb" in again.stdout
        assert notebook.read_bytes() == edited, f"`tito module start {name}` changed the student's notebook"
