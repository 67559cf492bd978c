"""The course plan and how its modules are laid out on disk.

A *source repository* (this one) holds each module as a jupytext percent script with
its solutions, ``modules/NN_slug/slug.py``. A *student copy* holds the released notebook
``modules/NN_slug/slug.ipynb`` instead. Either may hold both: a notebook made by
``tito module start`` next to the script is the copy that a person edits.

Which file tito reads is decided here and nowhere else, by two properties of ``ModuleInfo``:
``source`` (what the course is built from: the script when there is one) and
``working_file`` (what a person edits and ``tito module test`` runs: the notebook when there
is one).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from tito.errors import TitoError

PACKAGE_NAME = "tinytorch"
# Where tinytorch finds the bundled data sets when its package is not inside a repository
# (a graded notebook runs on a copy of the package in a folder of its own).
DATA_DIR_VARIABLE = "TINYTORCH_DATA_DIR"
# A student copy keeps the course's release of each module here (the template that
# ``tito module test`` grades on) and a manifest of the course's test files and digests.
RELEASES_FOLDER = Path(".tito") / "releases"
MANIFEST_FILE = Path(".tito") / "manifest.json"
# Fixed by DESIGN.md: numbers, folder slugs and titles of all twenty modules.
COURSE_PLAN: tuple[tuple[int, str, str], ...] = (
    (1, "tensor", "Tensor"),
    (2, "autograd", "Autograd"),
    (3, "activations", "Activations"),
    (4, "layers", "Layers"),
    (5, "losses", "Losses"),
    (6, "optimizers", "Optimizers"),
    (7, "training", "Training"),
    (8, "dataloader", "DataLoader"),
    (9, "spatial", "Spatial (CNN)"),
    (10, "normalization", "Normalization"),
    (11, "tokenization", "Tokenization"),
    (12, "embeddings", "Embeddings"),
    (13, "attention", "Attention"),
    (14, "transformers", "Transformers"),
    (15, "profiling", "Profiling"),
    (16, "acceleration", "Acceleration"),
    (17, "quantization", "Quantization"),
    (18, "compression", "Compression"),
    (19, "caching", "KV caching"),
    (20, "benchmarking", "Benchmarking"),
)

_DEFAULT_EXP = re.compile(r"^#\|\s*default_exp\s+(\S+)\s*$", re.MULTILINE)
# The stub nbgrader puts in place of every solution (see tito/build.py).
STUB_MARKER = "# YOUR CODE HERE"
# An unfinished solution: the marker directly followed by the stub's raise. Students often
# keep the comment and write their code below it, so the comment alone proves nothing.
_UNFINISHED_STUB = re.compile(re.escape(STUB_MARKER) + r"[ \t]*\n[ \t]*raise NotImplementedError\(\)")


class ExportState(str, Enum):
    """Whether a module's code is in the package, as later modules will import it."""

    EXPORTED = "exported"
    STUBS = "stubs"  # exported, but a solution is still the unfinished stub
    MISSING = "not exported"


@dataclass(frozen=True)
class ModuleInfo:
    """One course module and the paths that belong to it inside a repository."""

    number: int
    slug: str
    title: str
    root: Path

    @property
    def folder_name(self) -> str:
        return f"{self.number:02d}_{self.slug}"

    @property
    def folder(self) -> Path:
        return self.root / "modules" / self.folder_name

    @property
    def script(self) -> Path:
        """The percent-script source (solution version); only in a source repository."""
        return self.folder / f"{self.slug}.py"

    @property
    def notebook(self) -> Path:
        """The notebook a person edits: a student's release copy or one made by `start`."""
        return self.folder / f"{self.slug}.ipynb"

    @property
    def present(self) -> bool:
        return self.script.exists() or self.notebook.exists()

    @property
    def source(self) -> Path:
        """What the course is built from (``tito export``): the script in a source
        repository, the released notebook in a student copy."""
        return self.script if self.script.exists() else self.notebook

    @property
    def release_copy(self) -> Path:
        """The course's release of this module as a student copy received it (kept by tito)."""
        return self.root / RELEASES_FOLDER / f"{self.folder_name}.ipynb"

    @property
    def template(self) -> Path:
        """The course's own notebook that ``tito module test`` grades the working file on:
        the script in a source repository, the kept release in a student copy (a copy
        without one falls back to the working notebook itself)."""
        if self.script.exists():
            return self.script
        return self.release_copy if self.release_copy.exists() else self.notebook

    @property
    def working_file(self) -> Path:
        """What a person edits and ``tito module test`` runs: the notebook when one exists
        (a student's copy, or one made by ``tito module start``), else the script."""
        return self.notebook if self.notebook.exists() else self.script

    @property
    def test_files(self) -> list[Path]:
        """This module's pytest files: ``tests/modules/test_NN_*.py``."""
        return sorted((self.root / "tests" / "modules").glob(f"test_{self.number:02d}_*.py"))

    def export_targets(self) -> list[str]:
        """Dotted module names (relative to ``tinytorch``) this module exports to.

        Read from the ``#| default_exp`` line of ``source``. Empty when the module is not present.
        """
        if not self.present:
            return []
        return sorted({name for cell in code_cells(self.source) for name in _DEFAULT_EXP.findall(cell)})

    def exported_files(self) -> list[Path]:
        """Package files this module writes, e.g. ``tinytorch/tensor.py``."""
        return [
            self.root / "tinytorch" / (target.replace(".", "/") + ".py")
            for target in self.export_targets()
        ]


def code_cells(path: Path) -> list[str]:
    """The source of every code cell of a percent script or a notebook, without converting it.

    A script is one block of text (its cell markers are comments). A notebook is JSON whose
    cells are read as cells: a ``#| default_exp`` line sits inside a quoted, indented string
    in the file's text, where a line-based search would never find it. Plain ``json`` keeps
    ``tito module status`` fast (importing nbformat costs seconds).
    """
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return [text]
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise TitoError(
            f"{path} is not a readable notebook (its JSON is broken). Restore it from "
            ".ipynb_checkpoints/ or your version control."
        ) from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise TitoError(f"{path} is not a valid notebook: it has no list of cells.")
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else str(source))
    return sources


def copy_package_inits(root: Path, dest: Path) -> None:
    """Copy every ``__init__.py`` of ``root/tinytorch`` to the same place under ``dest/tinytorch``.

    They are hand-written, hold no solution and import nothing eagerly (``tinytorch.nn``
    and ``tinytorch.nn.functional`` re-export lazily), so student copies and grading
    staging both carry all of them, including those of subpackages no built module uses yet.
    """
    package = root / PACKAGE_NAME
    for init in sorted(package.rglob("__init__.py")):
        target = dest / PACKAGE_NAME / init.relative_to(package)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(init, target)


def data_environment(root: Path) -> dict[str, str]:
    """The environment variable that points tinytorch at ``root``'s bundled data."""
    return {DATA_DIR_VARIABLE: str((root / "data").resolve())}


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, as the manifest of a student copy records it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_inputs_digest(info: ModuleInfo) -> str:
    """One digest of everything ``tito module test`` reads for ``info``: the working file, the
    template, the module's test files and the package files of the modules before it. Two
    runs with the same digest test the same thing."""
    digest = hashlib.sha256()
    earlier = [path for module in all_modules(info.root)[: info.number - 1] for path in module.exported_files()]
    for path in (info.working_file, info.template, *info.test_files, *earlier):
        digest.update(path.as_posix().encode() + b"\0")
        digest.update(file_digest(path).encode() if path.exists() else b"missing")
    return digest.hexdigest()


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding ``modules/`` and ``pyproject.toml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "modules").is_dir() and (candidate / "pyproject.toml").is_file():
            return candidate
    raise TitoError(
        f"{here} is not inside a tinytorch repository (no modules/ and pyproject.toml "
        "found above it). Run tito from your tinytorch folder."
    )


def all_modules(root: Path) -> list[ModuleInfo]:
    """All twenty modules of the course plan, present in this repository or not."""
    return [ModuleInfo(number, slug, title, root) for number, slug, title in COURSE_PLAN]


def present_modules(root: Path) -> list[ModuleInfo]:
    """The modules whose script or notebook exists in this repository, in order."""
    return [info for info in all_modules(root) if info.present]


def resolve_module(text: str, root: Path) -> ModuleInfo:
    """Find a module from what a person typed: ``17``, ``017``, ``17_quantization`` or ``quantization``."""
    wanted = text.strip().lower()
    for info in all_modules(root):
        names = {str(info.number), f"{info.number:02d}", f"{info.number:03d}", info.slug, info.folder_name}
        if wanted in names or (wanted.isdigit() and int(wanted) == info.number):
            return info
    known = ", ".join(f"{n:02d}_{slug}" for n, slug, _ in COURSE_PLAN)
    raise TitoError(f"Unknown module '{text}'. Use a number or a name, one of: {known}.")


def require_present(info: ModuleInfo) -> ModuleInfo:
    """Raise a one-line error if neither the script nor the notebook of ``info`` exists."""
    if not info.present:
        raise TitoError(
            f"Module {info.folder_name} is not in this repository: neither {info.script.name} "
            f"nor {info.notebook.name} exists in {info.folder}. Check `tito module list`."
        )
    return info


def has_unfinished_stub(text: str) -> bool:
    """Whether ``text`` still holds a solution stub nbgrader left and nobody replaced."""
    return _UNFINISHED_STUB.search(text) is not None


def export_state(info: ModuleInfo) -> ExportState:
    """Whether ``info``'s package files exist and hold finished code."""
    files = info.exported_files()
    if not files or not all(path.exists() for path in files):
        return ExportState.MISSING
    if any(has_unfinished_stub(path.read_text(encoding="utf-8")) for path in files):
        return ExportState.STUBS
    return ExportState.EXPORTED


def missing_prerequisites(info: ModuleInfo) -> list[ModuleInfo]:
    """Earlier modules present in this repository whose package files are absent or still
    contain unfinished stubs.

    An earlier module that is not in the repository at all does not count: a course may be
    built (or a module written) before all the modules in front of it exist, and module N
    imports only the earlier modules it needs, which then are present.
    """
    return [
        earlier
        for earlier in all_modules(info.root)[: info.number - 1]
        if earlier.present and export_state(earlier) is not ExportState.EXPORTED
    ]


def check_prerequisites(info: ModuleInfo) -> None:
    """Raise a one-line error naming the first earlier module that is not exported."""
    missing = missing_prerequisites(info)
    if missing:
        first = missing[0]
        raise TitoError(
            f"Module {info.folder_name} needs module {first.folder_name}, which is not exported "
            f"to tinytorch/ yet (or still has unfinished stubs). Finish it, then run "
            f"`tito module test {first.number:02d}`."
        )
