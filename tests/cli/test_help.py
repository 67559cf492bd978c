"""`tito --help` and each command's help list what exists and say how to name a module."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

Tito = Callable[..., CompletedProcess[str]]

GROUPS = {
    (): ("export", "module", "system"),
    ("module",): ("start", "test", "complete", "list", "status"),
    ("system",): ("doctor",),
}
LEAF_COMMANDS = [
    (*group, name) for group, names in GROUPS.items() for name in names if name not in ("module", "system")
]
TAKES_A_MODULE = {("module", "start"), ("module", "test"), ("module", "complete")}


@pytest.mark.parametrize("group", list(GROUPS))
def test_group_help_lists_its_commands(tito: Tito, empty_repo: Path, group: tuple[str, ...]) -> None:
    result = tito(*group, "--help", cwd=empty_repo)
    assert result.returncode == 0, result.stderr
    listed = set(re.findall(r"^│ (\w+) ", result.stdout, re.MULTILINE)) - {"Usage"}
    assert listed >= set(GROUPS[group]), result.stdout


@pytest.mark.parametrize("command", LEAF_COMMANDS, ids=" ".join)
def test_command_help(tito: Tito, empty_repo: Path, command: tuple[str, ...]) -> None:
    result = tito(*command, "--help", cwd=empty_repo)
    assert result.returncode == 0, result.stderr
    assert f"Usage: tito {' '.join(command)}" in result.stdout
    if command in TAKES_A_MODULE:
        assert "17_quantization" in result.stdout, "the help should show how to name a module"


def test_no_arguments_shows_help(tito: Tito, empty_repo: Path) -> None:
    result = tito(cwd=empty_repo)
    assert "Usage: tito" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
