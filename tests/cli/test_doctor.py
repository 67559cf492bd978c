"""`tito system doctor` passes on this machine and names what to fix when a check fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

Tito = Callable[..., CompletedProcess[str]]


def test_doctor_passes_here(tito: Tito, repo_copy: Path) -> None:
    result = tito("system", "doctor", cwd=repo_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in (
        "Python",
        "package nbgrader",
        "Jupyter kernel python3",
        "loopback",
        "writable tinytorch/",
    ):
        assert name in result.stdout
    assert "FAIL" not in result.stdout


def test_doctor_fails_with_a_fix_when_a_folder_is_not_writable(tito: Tito, empty_repo: Path) -> None:
    (empty_repo / ".tito").write_text("not a folder", encoding="utf-8")
    result = tito("system", "doctor", cwd=empty_repo)
    assert result.returncode == 1, result.stdout
    assert "FAIL" in result.stdout
    assert "is a file, not a folder" in result.stdout and "move" in result.stdout
    assert "1 of" in result.stdout and "checks failed" in result.stdout
