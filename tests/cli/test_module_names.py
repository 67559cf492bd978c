"""Module names resolve the same way everywhere; user mistakes are one red line, exit code 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

Tito = Callable[..., CompletedProcess[str]]
USER_ERROR = 2


def assert_one_line_error(result: CompletedProcess[str], *expected: str) -> None:
    """The run failed as a user mistake: exit 2, one line on stderr, no traceback."""
    assert result.returncode == USER_ERROR, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for text in expected:
        assert text in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["test", "17"],
        ["test", "017"],
        ["test", "17_quantization"],
        ["test", "quantization"],
        ["complete", "17"],
        ["start", "quantization", "--no-browser"],
    ],
    ids=" ".join,
)
def test_absent_module_is_not_in_the_repository(tito: Tito, empty_repo: Path, command: list[str]) -> None:
    result = tito("module", *command, cwd=empty_repo)
    assert_one_line_error(result, "Module 17_quantization is not in this repository")


@pytest.mark.parametrize("name", ["banana", "21", "17_tensor"])
def test_nonsense_name_is_an_unknown_module(tito: Tito, empty_repo: Path, name: str) -> None:
    result = tito("module", "test", name, cwd=empty_repo)
    assert_one_line_error(result, f"Unknown module '{name}'", "01_tensor", "20_benchmarking")


@pytest.mark.parametrize("command", [["module", "status"], ["module", "test", "01"]], ids=" ".join)
def test_outside_a_repository(tito: Tito, tmp_path: Path, command: list[str]) -> None:
    result = tito(*command, cwd=tmp_path)
    assert_one_line_error(result, "is not inside a tinytorch repository")


def test_module_02_without_exported_01_names_the_missing_module(tito: Tito, repo_copy: Path) -> None:
    (repo_copy / "tinytorch" / "tensor.py").unlink(missing_ok=True)
    result = tito("module", "test", "02", cwd=repo_copy)
    assert_one_line_error(result, "needs module 01_tensor", "`tito module test 01`")
    assert result.stdout == ""
