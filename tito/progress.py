"""A student's progress: the last test result of each module and what is completed.

Progress lives in ``.tito/progress.json`` at the repository root (gitignored), keyed by
module folder name::

    {"modules": {"01_tensor": {"last_test": {...}, "completed_at": "2025-01-31T10:00:00+00:00"}}}
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tito.course import ModuleInfo
from tito.errors import TitoError

PROGRESS_FILE = Path(".tito") / "progress.json"


@dataclass(frozen=True)
class RunSummary:
    """The outcome of one ``tito module test`` run, as stored in the progress file."""

    passed: bool
    points: float
    possible: float
    tests_passed: int
    tests_total: int
    at: str  # ISO 8601 UTC timestamp
    inputs: str  # digest of everything the run read (see tito.course.test_inputs_digest)


def now() -> str:
    """The current time as an ISO 8601 UTC timestamp, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _path(root: Path) -> Path:
    return root / PROGRESS_FILE


def load(root: Path) -> dict[str, dict[str, Any]]:
    """Per-module progress records keyed by folder name; empty if nothing was recorded."""
    path = _path(root)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise TitoError(
            f"{path} is not valid JSON ({error.msg}, line {error.lineno}); "
            "fix it or delete it to start the record over."
        ) from None
    modules = data.get("modules") if isinstance(data, dict) else None
    if not isinstance(modules, dict):
        raise TitoError(f"{path} has no 'modules' table; delete it to start the record over.")
    return modules


def _save(root: Path, modules: dict[str, dict[str, Any]]) -> None:
    path = _path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so an interrupted run never leaves a half-written file.
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps({"modules": modules}, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def record_test(root: Path, info: ModuleInfo, summary: RunSummary) -> None:
    """Store ``summary`` as the last test result of ``info``."""
    modules = load(root)
    modules.setdefault(info.folder_name, {})["last_test"] = asdict(summary)
    _save(root, modules)


def record_completion(root: Path, info: ModuleInfo, at: str) -> None:
    """Mark ``info`` completed at ``at``; an earlier completion time is replaced."""
    modules = load(root)
    modules.setdefault(info.folder_name, {})["completed_at"] = at
    _save(root, modules)


def last_test(record: dict[str, Any]) -> RunSummary | None:
    """The last test result stored in one module's record, if any."""
    stored = record.get("last_test")
    if stored is None:
        return None
    if not isinstance(stored, dict) or set(stored) != {field.name for field in fields(RunSummary)}:
        raise TitoError(f"A last_test entry in {PROGRESS_FILE} is damaged; delete the file to start over.")
    return RunSummary(**stored)
