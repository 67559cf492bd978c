"""Find solution and hidden-test text where a student could read it.

A source notebook's *secret regions* are its solution and hidden-test regions; any text a
student receives (the release, every file of a student copy) is checked against them.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

import nbformat

SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_TEST_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+")


@dataclass(frozen=True)
class SecretRegion:
    """One solution or hidden-test region of a source notebook, as its significant lines.

    ``telling`` are the lines that give the region away on their own: a hidden test's asserts.
    """

    label: str
    lines: frozenset[str]
    telling: frozenset[str] = frozenset()


def significant_line(line: str) -> str | None:
    """``line`` stripped, or None when it gives nothing away.

    Blank lines, comments and lines with fewer than two names or numbers besides Python
    keywords (``else:``, ``return out``, ``except ShapeError:``) occur everywhere.
    """
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    names = [token for token in _TOKEN.findall(text) if not keyword.iskeyword(token)]
    return text if len(names) >= 2 else None


def secret_regions(nb: nbformat.NotebookNode) -> list[SecretRegion]:
    """Every solution and hidden-test region of a source notebook, as its significant lines.

    A region runs between nbgrader's BEGIN/END markers; a solution cell without markers is
    a region as a whole (nbgrader replaces all of it).
    """
    regions = []
    for cell in nb.cells:
        is_solution_cell = cell.get("metadata", {}).get("nbgrader", {}).get("solution", False)
        if is_solution_cell and SOLUTION_MARKERS[0] not in cell.source:
            spans = [("solution", cell.source.splitlines())]
        else:
            spans, kind, current = [], None, []
            for line in cell.source.splitlines():
                if SOLUTION_MARKERS[0] in line or HIDDEN_TEST_MARKERS[0] in line:
                    kind, current = ("solution" if SOLUTION_MARKERS[0] in line else "hidden tests"), []
                elif kind and (SOLUTION_MARKERS[1] in line or HIDDEN_TEST_MARKERS[1] in line):
                    spans.append((kind, current))
                    kind = None
                elif kind:
                    current.append(line)
        for kind, lines in spans:
            significant = frozenset(filter(None, map(significant_line, lines)))
            telling = frozenset(
                line for line in significant if kind == "hidden tests" and line.startswith("assert")
            )
            if significant:
                regions.append(
                    SecretRegion(f"the {kind} in cell {cell.get('id', '?')}", significant, telling)
                )
    return regions


def find_leaks(regions: list[SecretRegion], place: str, text: str, *, markers: bool = True) -> list[str]:
    """Why ``text`` (found at ``place``) gives away a solution or hidden test; empty if it does not.

    It leaks when it holds an nbgrader marker (with ``markers``), any telling line of a
    region (a hidden assert), or more than half of the significant lines of any one region.
    Half, not one line, because a solution may share a line such as
    ``if tensor.grad_fn is not None:`` with code the student is given.
    """
    problems = []
    if markers:
        problems += [
            f"{place}: contains '{m}'" for m in (*SOLUTION_MARKERS, *HIDDEN_TEST_MARKERS) if m in text
        ]
    present = set(filter(None, map(significant_line, text.splitlines())))
    for region in regions:
        shared, telling = sorted(region.lines & present), sorted(region.telling & present)
        if telling or 2 * len(shared) > len(region.lines):
            problems.append(
                f"{place}: holds {len(shared)} of {len(region.lines)} lines of {region.label}, "
                f"e.g. {(telling or shared)[0]!r}"
            )
    return problems


def release_leaks(source: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """What the student ``release`` gives away of the solutions and hidden tests of ``source``."""
    regions = secret_regions(source)
    return [
        problem
        for cell in release.cells
        for problem in find_leaks(regions, f"release cell {cell.get('id', '?')}", cell.source)
    ]
