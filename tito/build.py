"""Build every generated artefact of the course from the module sources, in one process.

For each present module, in course order:

1. the notebook, ``build/notebooks/NN_slug/slug.ipynb``, from the module's ``source``
   (the percent script in a source repository, the released notebook in a student copy);
2. the package file(s) in ``tinytorch/``, exported by nbdev from that notebook's
   ``#| export`` cells;
3. with ``release=True``, for a module built from a script: the nbgrader source
   ``build/course/source/NN_slug/slug.ipynb`` and the student release
   ``build/course/release/NN_slug/slug.ipynb``.

Every output is byte-deterministic: cell ids are derived from the cells, the nbdev header
names the committed source rather than a temporary path, and nothing records a time.
nbgrader needs a gradebook to generate a release; the build uses a temporary one, so that
no database (whose bytes change on every write) is part of the output. Running the build
twice changes no byte.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tito.course import PACKAGE_NAME, ModuleInfo, present_modules
from tito.errors import TitoError
from tito.export import export_notebook
from tito.nbgrader_course import generate_release, nbgrader_api
from tito.notebooks import read_notebook, write_notebook


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
        """Every file the build wrote."""
        return [*self.course_files, *(p for m in self.modules for p in m.files)]


def build(
    root: Path,
    *,
    build_dir: Path | None = None,
    package_dir: Path | None = None,
    release: bool = True,
) -> BuildReport:
    """Build notebooks, package files and (with ``release``) the nbgrader course for all present modules.

    Only modules built from a script get an nbgrader release: a student's notebook has no
    solutions to strip. Outputs go to ``build_dir`` (default ``root/build``) and
    ``package_dir`` (default ``root/tinytorch``). Raises TitoError when no module is present.
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
    releasing = release and any(info.source == info.script for info in modules)
    with tempfile.TemporaryDirectory(prefix="tito-gradebook-") as scratch:
        api = nbgrader_api(course_dir, Path(scratch) / "gradebook.db") if releasing else None
        if api is not None:
            report.course_files.append(course_dir / "nbgrader_config.py")
        for info in modules:
            module_started = time.perf_counter()
            nb = read_notebook(info.source)
            notebook = write_notebook(nb, build_dir / "notebooks" / info.folder_name / f"{info.slug}.ipynb")
            built = ModuleBuild(info=info, notebook=notebook, exported=export_notebook(nb, info, package_dir))
            if api is not None and info.source == info.script:
                built.nbgrader_source, built.release = generate_release(api, course_dir, nb, info)
            built.seconds = time.perf_counter() - module_started
            report.modules.append(built)
    report.seconds = time.perf_counter() - started
    return report
