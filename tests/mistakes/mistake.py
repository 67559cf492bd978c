"""A planted mistake: one edit to a reference solution that a student is likely to make, and
the words the notebook's own test cell must fail with (a unique module name: test folders are
not packages)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    """In solution cell ``solution``, replace ``find`` (which must occur once) by ``replace``;
    then graded cell ``test`` must fail with a reason that contains ``words``."""

    name: str
    solution: str
    find: str
    replace: str
    test: str
    words: str
