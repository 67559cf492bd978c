"""`tito export` through the real CLI. The course's full build is tested in tests/pipeline,
and the CLI tests use it (tests/conftest.py); here the command itself runs, on a one-module
repository, and reports what it wrote."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

Tito = Callable[..., subprocess.CompletedProcess[str]]


def test_export_builds_the_module_and_says_what_it_wrote(tito: Tito, tiny_repo: Path) -> None:
    result = tito("export", cwd=tiny_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    wrote = re.search(r"^Wrote (\d+) files for 1 modules into build/ and tinytorch/", result.stdout, re.MULTILINE)
    assert wrote, result.stdout
    assert re.search(r"^01_tensor: \d+ files, exported tinytorch/tensor\.py", result.stdout, re.MULTILINE), result.stdout
    assert "def double(" in (tiny_repo / "tinytorch" / "tensor.py").read_text(encoding="utf-8")
    for built in ("build/notebooks/01_tensor/tensor.ipynb", "build/course/release/01_tensor/tensor.ipynb"):
        assert (tiny_repo / built).is_file(), f"tito export did not write {built}"
    release = (tiny_repo / "build/course/release/01_tensor/tensor.ipynb").read_text(encoding="utf-8")
    assert "test-double" in release, "the release lacks the graded test cell"
