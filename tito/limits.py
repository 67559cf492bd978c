"""How long and how large a graded notebook may run: one setting for every grading path.

``tito module test`` (a student's own check) and autograding (the grade an instructor
records) read the same limits, so a cell that passes for the student is not cut off when
graded. Each limit can be lowered or raised with an environment variable, e.g. for a slow
laptop or for tests that must finish fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from tito.errors import TitoError

_ENVIRONMENT_PREFIX = "TITO_LIMIT_"


@dataclass(frozen=True)
class Limits:
    """Seconds and bytes a graded run may use; set ``TITO_LIMIT_<FIELD>`` to change one."""

    cell_seconds: int = 60  # one notebook cell; module cells run in seconds
    notebook_seconds: int = 600  # all cells of one notebook together
    pytest_seconds: int = 600  # one module's whole pytest run
    memory_bytes: int = 4 * 1024**3  # address space of a graded notebook's process
    grace_seconds: int = 3  # past a time limit, how long the child may take to stop before a kill


def current_limits() -> Limits:
    """The limits in force: the defaults, overridden by ``TITO_LIMIT_<FIELD>`` variables."""
    values = {}
    for field in fields(Limits):
        name = _ENVIRONMENT_PREFIX + field.name.upper()
        text = os.environ.get(name)
        if text is None:
            continue
        if not text.isdigit() or int(text) <= 0:
            raise TitoError(f"{name}={text!r} must be a positive whole number.")
        values[field.name] = int(text)
    return Limits(**values)
