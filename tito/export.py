"""Export a module notebook's ``#| export`` cells into the ``tinytorch`` package with nbdev."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbdev.export import nb_export
from nbdev.maker import ModuleMaker

from tito.course import PACKAGE_NAME, ModuleInfo
from tito.errors import TitoError
from tito.notebooks import write_notebook

# nbdev directive lines (without a default_exp, nbdev only warns and exports nothing)
_EXPORT_DIRECTIVE = re.compile(r"^#\|\s*export", re.MULTILINE)
_DEFAULT_EXP_DIRECTIVE = re.compile(r"^#\|\s*default_exp\s+\S", re.MULTILINE)


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run the body with ``path`` as the current directory, and restore the old one after.

    nbdev reads its configuration from the current directory and writes a template
    ``pyproject.toml`` there when it finds none, so exports run from the repository root.
    """
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _ensure_subpackage_inits(exported: Path, package_dir: Path) -> list[Path]:
    """Create an empty ``__init__.py`` in each folder between ``package_dir`` and ``exported``.

    The top-level ``package_dir/__init__.py`` is hand-written and never touched (nbdev's
    ``add_init`` would rewrite its ``__version__`` and docstring, so it is not used).
    """
    created = []
    folder = exported.parent
    while folder != package_dir and package_dir in folder.parents:
        init = folder / "__init__.py"
        if not init.exists():
            init.write_text("", encoding="utf-8")
            created.append(init)
        folder = folder.parent
    return created


def export_notebook(
    nb: nbformat.NotebookNode,
    info: ModuleInfo,
    package_dir: Path | None = None,
    *,
    source: Path | None = None,
) -> list[Path]:
    """Export the ``#| export`` cells of ``nb`` into ``package_dir`` with nbdev; return files written.

    ``package_dir`` (default ``info.root / "tinytorch"``) must be a folder named
    ``tinytorch``: nbdev turns ``from tinytorch.x import y`` into relative imports from that
    name. The header of each file names ``source``, the file ``nb`` was read from (default
    ``info.source``), relative to the file's place in ``info.root / "tinytorch"``, so the
    output is the same wherever ``package_dir`` is and never names the temporary notebook
    nbdev reads.
    """
    package_dir = (package_dir or info.root / PACKAGE_NAME).resolve()
    if package_dir.name != PACKAGE_NAME:
        raise ValueError(f"package_dir must be a folder named {PACKAGE_NAME}, got {package_dir}")
    source = (source or info.source).resolve()
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    if any(map(_EXPORT_DIRECTIVE.search, code)) and not any(map(_DEFAULT_EXP_DIRECTIVE.search, code)):
        raise TitoError(
            f"{source.name} has '#| export' cells but no '#| default_exp NAME' cell; "
            "add one near the top (see modules/README.md)."
        )
    written: list[Path] = []

    def make_module(**kwargs: object) -> ModuleMaker:
        maker = ModuleMaker(**kwargs)
        # Relative to where the file sits in the repository's own package, wherever it is written.
        in_repo = info.root.resolve() / PACKAGE_NAME / Path(maker.fname).relative_to(package_dir)
        maker.dest2nb = Path(os.path.relpath(source, in_repo.parent)).as_posix()
        maker.hdr = f"# %% {maker.dest2nb}"
        written.append(Path(maker.fname))
        return maker

    with tempfile.TemporaryDirectory(prefix="tito-export-") as tmp:
        nb_path = write_notebook(nb, Path(tmp) / f"{info.slug}.ipynb")
        with working_directory(info.root):
            nb_export(str(nb_path), lib_path=str(package_dir), mod_maker=make_module)
    inits = [init for path in written for init in _ensure_subpackage_inits(path, package_dir)]
    return [*written, *inits]
