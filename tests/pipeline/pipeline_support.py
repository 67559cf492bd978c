"""Constants the pipeline tests and their fixtures share (a unique name: test folders are not packages)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tito.course import ModuleInfo, present_modules

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every module present in this repository: each pipeline check runs once per module.
MODULES = present_modules(REPO_ROOT)


def module_id(info: ModuleInfo) -> str:
    """The pytest id of a module parameter: its folder name, e.g. ``01_tensor``."""
    return info.folder_name


# The ``fake_repo`` fixture: module scripts by ``NN_slug`` folder name -> repository root.
FakeRepo = Callable[[dict[str, str]], Path]
