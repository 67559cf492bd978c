"""Build every generated artefact of the course from the module sources, in one process.

For each present module, in course order:

1. the notebook, ``build/notebooks/NN_slug/slug.ipynb``, converted from the percent script
   (a source repository) or read from the released notebook (a student copy);
2. the package file(s) in ``tinytorch/``, exported by nbdev from that notebook's
   ``#| export`` cells;
3. with ``release=True``: the nbgrader source ``build/course/source/NN_slug/slug.ipynb``
   and the student release ``build/course/release/NN_slug/slug.ipynb``.

Every output is byte-deterministic: cell ids are derived from the cells, the nbdev header
names the committed source rather than a temporary path, and nothing records a time.
Running the build twice changes no byte (the nbgrader gradebook excepted).
"""

from __future__ import annotations

import hashlib
import keyword
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jupytext
import nbformat
from nbdev.export import nb_export
from nbdev.maker import ModuleMaker

from tito.course import STUB_MARKER, ModuleInfo, present_modules, require_present
from tito.errors import TitoError

if TYPE_CHECKING:
    from nbgrader.apps import NbGraderAPI

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
LANGUAGE_INFO = {"name": "python"}
PACKAGE_NAME = "tinytorch"
COURSE_ID = "tinytorch"
# What nbgrader leaves in place of a solution; tito.course.STUB_MARKER finds unfinished work by it.
CODE_STUB = f"{STUB_MARKER}\nraise NotImplementedError()"
# Seconds a single cell may run during autograding before it is interrupted and scored 0.
CELL_TIMEOUT = 60

# The nbgrader settings, written to build/course/nbgrader_config.py for the command line and
# given to the in-process API, so both grade the same way.
NBGRADER_SETTINGS: dict[str, dict[str, object]] = {
    "CourseDirectory": {
        "course_id": COURSE_ID,
        # Files of a submission that autograde must not copy next to the notebook. A submitted
        # tinytorch/ folder would shadow the reference package the notebook is graded against.
        "ignore": [
            ".ipynb_checkpoints",
            "*.pyc",
            "__pycache__",
            "feedback",
            PACKAGE_NAME,
            "*.egg-info",
            ".git",
            ".venv",
            "build",
        ],
    },
    "Execute": {"timeout": CELL_TIMEOUT},
    "ClearSolutions": {
        "code_stub": {"python": CODE_STUB},
        "text_stub": "YOUR ANSWER HERE",
    },
}


@dataclass
class ModuleBuild:
    """The files one module's build wrote, and how long it took."""

    info: ModuleInfo
    notebook: Path
    exported: list[Path]
    nbgrader_source: Path | None = None
    release: Path | None = None
    seconds: float = 0.0

    @property
    def files(self) -> list[Path]:
        """Every file written for this module, notebooks first."""
        extra = [p for p in (self.nbgrader_source, self.release) if p is not None]
        return [self.notebook, *extra, *self.exported]


@dataclass
class BuildReport:
    """What a build wrote, per module, plus the one-off files and the total time."""

    root: Path
    build_dir: Path
    package_dir: Path
    modules: list[ModuleBuild] = field(default_factory=list)
    course_files: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def files(self) -> list[Path]:
        """Every file the build wrote (the gradebook database is not listed)."""
        return [*self.course_files, *(p for m in self.modules for p in m.files)]


# --------------------------------------------------------------------------- notebooks


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
    nb = jupytext.read(script, fmt="py:percent")
    nb.nbformat, nb.nbformat_minor = 4, 5  # cell ids exist from nbformat 4.5 on
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO})
    _stable_cell_ids(nb)
    return nb


def read_module_notebook(info: ModuleInfo) -> nbformat.NotebookNode:
    """The notebook a person edits (``info.notebook``) if it exists, else one from the script."""
    require_present(info)
    if info.notebook.exists():
        return nbformat.read(info.notebook, as_version=4)
    return script_to_notebook(info.script)


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> Path:
    """Write ``nb`` to ``path`` (parents created); nbformat's JSON is sorted, so deterministic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# --------------------------------------------------------------------------- export

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


def _source_of(info: ModuleInfo) -> Path:
    """The file a person edits to change this module's package code."""
    return info.script if info.script.exists() else info.notebook


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
    nb: nbformat.NotebookNode, info: ModuleInfo, package_dir: Path | None = None
) -> list[Path]:
    """Export the ``#| export`` cells of ``nb`` into ``package_dir`` with nbdev; return files written.

    ``package_dir`` (default ``info.root / "tinytorch"``) must be a folder named
    ``tinytorch``: nbdev turns ``from tinytorch.x import y`` into relative imports from that
    name. The header of each file names the module's script (or, in a student copy, its
    notebook) relative to the file's place in ``info.root / "tinytorch"``, so the output
    is the same wherever ``package_dir`` is and never names the temporary notebook nbdev reads.
    """
    package_dir = (package_dir or info.root / PACKAGE_NAME).resolve()
    if package_dir.name != PACKAGE_NAME:
        raise ValueError(f"package_dir must be a folder named {PACKAGE_NAME}, got {package_dir}")
    source = _source_of(info).resolve()
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


# --------------------------------------------------------------------------- leak check

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


# --------------------------------------------------------------------------- nbgrader


def nbgrader_config_text() -> str:
    """The ``nbgrader_config.py`` that makes the nbgrader CLI behave like the in-process API."""
    lines = [
        "# Written by tito/build.py from NBGRADER_SETTINGS; do not edit.",
        "c = get_config()  # noqa: F821",
    ]
    for section, values in NBGRADER_SETTINGS.items():
        lines += [f"c.{section}.{key} = {value!r}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _create_gradebook(database: Path) -> None:
    """Create an empty, current nbgrader gradebook at ``database`` unless one exists.

    nbgrader would create it on first use, but it learns the schema version by running the
    ``alembic`` program in a subprocess, which costs seconds here and needs the virtual
    environment's ``bin`` on PATH. Reading the same version in-process avoids both; the
    tables come from nbgrader's own SQLAlchemy metadata, so the result is identical.
    """
    if database.exists():
        return
    from alembic.script import ScriptDirectory
    from nbgrader.api import Base
    from nbgrader.dbutil import ALEMBIC_DIR
    from sqlalchemy import create_engine, text

    head = ScriptDirectory(ALEMBIC_DIR).get_current_head()
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            Base.metadata.create_all(connection)
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            connection.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head}
            )
    finally:
        engine.dispose()


def nbgrader_api(course_dir: Path) -> NbGraderAPI:
    """An nbgrader API for ``course_dir``, configured by ``NBGRADER_SETTINGS``.

    Writes ``course_dir/nbgrader_config.py`` so that ``nbgrader`` run in that folder agrees.
    nbgrader is imported here, not at module level: it costs over a second and only the
    release and grading steps need it.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    course_dir = course_dir.resolve()
    course_dir.mkdir(parents=True, exist_ok=True)
    (course_dir / "nbgrader_config.py").write_text(nbgrader_config_text(), encoding="utf-8")
    database = course_dir / "gradebook.db"
    _create_gradebook(database)
    config = Config({section: dict(values) for section, values in NBGRADER_SETTINGS.items()})
    config.CourseDirectory.root = str(course_dir)
    config.CourseDirectory.db_url = f"sqlite:///{database}"
    # The exchange is for JupyterHub deployments; keep it inside the course folder.
    config.Exchange.root = str(course_dir / "exchange")
    config.NbGraderAPI.log_level = "WARN"
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def nbgrader_call(action: str, result: dict[str, object]) -> None:
    """Raise a readable error when an nbgrader API call reports failure.

    Success only means that nbgrader ran; it says nothing about test results (read those
    from the gradebook).
    """
    if not result.get("success"):
        detail = result.get("error") or result.get("log") or "no details"
        raise TitoError(f"nbgrader {action} failed; fix the notebook and rebuild. Details:\n{detail}")


def generate_release(
    api: NbGraderAPI, course_dir: Path, nb: nbformat.NotebookNode, info: ModuleInfo
) -> tuple[Path, Path]:
    """Write the nbgrader source notebook for ``info`` and generate its student release.

    A release that gives away a solution or hidden test (``release_leaks``) is deleted and
    reported as a TitoError.
    """
    source = write_notebook(nb, course_dir / "source" / info.folder_name / f"{info.slug}.ipynb")
    nbgrader_call(f"generate_assignment {info.folder_name}", api.generate_assignment(info.folder_name))
    release = course_dir / "release" / info.folder_name / f"{info.slug}.ipynb"
    if not release.exists():
        raise TitoError(f"nbgrader did not write {release}; run `tito export` again and read its log.")
    leaks = release_leaks(nb, nbformat.read(release, as_version=4))
    if leaks:
        release.unlink()
        raise TitoError(
            f"The student release of {info.folder_name} would give away solutions; move that code "
            "between ### BEGIN SOLUTION and ### END SOLUTION (or out of the notebook):\n  "
            + "\n  ".join(leaks)
        )
    return source, release


# --------------------------------------------------------------------------- build


def build(
    root: Path,
    *,
    build_dir: Path | None = None,
    package_dir: Path | None = None,
    release: bool = True,
) -> BuildReport:
    """Build notebooks, package files and (with ``release``) the nbgrader course for all present modules.

    The notebook comes from the script in a source repository and from the notebook in a
    student copy without scripts. Only modules built from a script get an nbgrader release:
    a student's notebook has no solutions to strip. Outputs go to ``build_dir`` (default
    ``root/build``) and ``package_dir`` (default ``root/tinytorch``). Raises TitoError when
    no module is present.
    """
    started = time.perf_counter()
    root = root.resolve()
    build_dir = (build_dir or root / "build").resolve()
    package_dir = (package_dir or root / PACKAGE_NAME).resolve()
    modules = present_modules(root)
    if not modules:
        raise TitoError(f"No module found under {root / 'modules'}; nothing to build.")
    report = BuildReport(root=root, build_dir=build_dir, package_dir=package_dir)
    course_dir = build_dir / "course"
    api = nbgrader_api(course_dir) if release and any(info.script.exists() for info in modules) else None
    if api is not None:
        report.course_files.append(course_dir / "nbgrader_config.py")

    for info in modules:
        module_started = time.perf_counter()
        from_script = info.script.exists()
        nb = script_to_notebook(info.script) if from_script else nbformat.read(info.notebook, as_version=4)
        notebook = write_notebook(nb, build_dir / "notebooks" / info.folder_name / f"{info.slug}.ipynb")
        built = ModuleBuild(info=info, notebook=notebook, exported=export_notebook(nb, info, package_dir))
        if api is not None and from_script:
            built.nbgrader_source, built.release = generate_release(api, course_dir, nb, info)
        built.seconds = time.perf_counter() - module_started
        report.modules.append(built)

    report.seconds = time.perf_counter() - started
    return report
