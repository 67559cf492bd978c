"""Copies of this repository's sources for tests that build, export or grade in them, so that
the real ``tinytorch/``, ``modules/``, ``build/`` and ``.tito/`` are never written."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# What a copy of the repository needs to build and test modules; build products,
# the venv and a person's working notebooks stay behind.
COPIED = ("pyproject.toml", "LICENSE", "modules", "tinytorch", "tests", "data", "examples", "student", "tito")
IGNORED = shutil.ignore_patterns("__pycache__", "*.ipynb", ".ipynb_checkpoints", "cli", ".pytest_cache")


def copy_repo(dest: Path) -> Path:
    """A copy of this repository's sources at ``dest``, without build products."""
    dest.mkdir(parents=True)
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=IGNORED)
        elif source.is_file():
            shutil.copy2(source, dest / name)
    return dest
