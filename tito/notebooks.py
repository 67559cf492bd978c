"""Notebooks: convert module scripts, read and write notebooks, byte for byte reproducibly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
from nbformat.reader import NotJSONError

from tito.errors import TitoError

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
LANGUAGE_INFO = {"name": "python"}


def _stable_cell_ids(nb: nbformat.NotebookNode) -> None:
    """Give every cell an id that depends only on the cell, so rebuilds are byte-identical.

    The nbgrader ``grade_id`` when the cell has one, else the first 8 hex digits of the
    SHA-1 of its source; a repeated id gets ``-2``, ``-3``, ... in order of appearance.
    """
    used: set[str] = set()
    for cell in nb.cells:
        base = (
            cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            or hashlib.sha1(cell.source.encode("utf-8")).hexdigest()[:8]
        )
        candidate, n = base, 1
        while candidate in used:
            n += 1
            candidate = f"{base}-{n}"
        used.add(candidate)
        cell.id = candidate


def script_to_notebook(script: Path) -> nbformat.NotebookNode:
    """Convert a jupytext percent script into a notebook with fixed metadata and stable ids.

    The notebook metadata is exactly the python3 kernelspec and language_info (jupytext's
    own bookkeeping is dropped), so the same script always gives the same notebook.
    """
    import jupytext  # half a second to import; only builds and `tito module start` convert scripts

    nb = jupytext.read(script, fmt="py:percent")
    nb.nbformat, nb.nbformat_minor = 4, 5  # cell ids exist from nbformat 4.5 on
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO})
    _stable_cell_ids(nb)
    return nb


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path``: a ``.ipynb`` file as it is, a percent script converted.

    A broken or invalid notebook raises a one-line TitoError that says how to recover.
    """
    if path.suffix != ".ipynb":
        return script_to_notebook(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TitoError(f"{path} is not a readable notebook (it is not UTF-8 text). {RECOVER}") from None
    return parse_notebook(text, path)


RECOVER = "Restore it from .ipynb_checkpoints/ or your version control."


def parse_notebook(text: str, path: Path) -> nbformat.NotebookNode:
    """The notebook whose JSON is ``text`` (read from ``path``); TitoError if it is not one."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise TitoError(f"{path} is not a readable notebook (its JSON is broken). {RECOVER}") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list) or not all(
        isinstance(cell, dict) and isinstance(cell.get("source"), (str, list)) for cell in cells
    ):
        raise TitoError(f"{path} is not a valid notebook (its list of cells is damaged). {RECOVER}")
    try:
        return nbformat.reads(json.dumps(data), as_version=4)
    except (nbformat.ValidationError, NotJSONError, RecursionError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TitoError(f"{path} is not a valid notebook ({message}). {RECOVER}") from None


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> Path:
    """Write ``nb`` to ``path`` (parents created); nbformat's JSON is sorted, so deterministic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
