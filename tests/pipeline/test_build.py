"""The build: deterministic output, the expected files, and the package committed in tinytorch/."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from pipeline_support import MODULES, REPO_ROOT, FakeRepo, module_id

from tito.build import BuildReport, build
from tito.course import ModuleInfo
from tito.errors import TitoError
from tito.notebooks import KERNELSPEC

pytestmark = pytest.mark.pipeline

# Folders a build writes; a grading run adds submitted/ and autograded/ beside them.
BUILD_OUTPUTS = ("notebooks", "course/source", "course/release")


def _outputs(report: BuildReport) -> dict[str, bytes]:
    """Every file the build wrote, by path relative to its build or package folder."""
    files = {}
    for path in report.files:
        base = report.package_dir if report.package_dir in path.parents else report.build_dir
        files[f"{base.name}/{path.relative_to(base).as_posix()}"] = path.read_bytes()
    return files


def test_report_lists_every_output(first_build: BuildReport) -> None:
    # The build runs in a copy of the repository: its package folder also holds the
    # hand-written __init__.py files, which the build reads and does not write.
    hand_written = {first_build.package_dir / init.relative_to(REPO_ROOT / "tinytorch") for init in (REPO_ROOT / "tinytorch").rglob("__init__.py")}
    on_disk = {
        path
        for folder in (*(first_build.build_dir / name for name in BUILD_OUTPUTS), first_build.package_dir)
        for path in folder.rglob("*")
        if path.is_file() and path not in hand_written and "__pycache__" not in path.parts
    }
    listed = set(first_build.files)
    assert on_disk <= listed, f"the build wrote files its report does not list: {sorted(on_disk - listed)}"
    assert first_build.build_dir / "course" / "nbgrader_config.py" in listed
    # A gradebook's bytes change on every write: the build keeps its gradebook out of the output.
    assert not list(first_build.build_dir.rglob("*.db")), "the build left a database in its output"


def test_building_twice_changes_no_byte(first_build: BuildReport, second_build: BuildReport) -> None:
    first, second = _outputs(first_build), _outputs(second_build)
    assert sorted(first) == sorted(second), "two builds wrote different sets of files"
    differing = [name for name in first if first[name] != second[name]]
    assert not differing, f"files differ between two builds of the same sources: {differing}"


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_module_notebooks_are_built(first_build: BuildReport, info: ModuleInfo) -> None:
    built = next(m for m in first_build.modules if m.info.folder_name == info.folder_name)
    assert built.notebook == first_build.build_dir / "notebooks" / info.folder_name / f"{info.slug}.ipynb"
    assert (
        built.release
        == first_build.build_dir / "course" / "release" / info.folder_name / f"{info.slug}.ipynb"
    )
    for path in (built.notebook, built.nbgrader_source, built.release):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec == KERNELSPEC, (
            f"{path}: kernelspec must be the python3 kernel nbgrader runs"
        )
        ids = [cell.id for cell in nb.cells]
        assert len(ids) == len(set(ids)), f"{path}: duplicate cell ids"
        graded = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade_id")]
        assert all(cell.id == cell.metadata.nbgrader.grade_id for cell in graded), (
            f"{path}: ids must be grade_ids"
        )


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_committed_package_matches_a_fresh_export(fresh_package: Path, info: ModuleInfo) -> None:
    for committed in info.exported_files():
        relative = committed.relative_to(REPO_ROOT / "tinytorch")
        fresh = fresh_package / relative
        assert fresh.exists(), f"{info.script.name} no longer exports tinytorch/{relative}"
        assert committed.exists(), f"tinytorch/{relative} is missing: run `tito export` and commit the result"
        assert committed.read_bytes() == fresh.read_bytes(), (
            f"tinytorch/{relative} differs from what {info.folder_name}/{info.script.name} exports: "
            "run `tito export` and commit the result (never edit tinytorch/ by hand)"
        )


def test_committed_package_has_no_stale_files(fresh_package: Path) -> None:
    package = REPO_ROOT / "tinytorch"
    generated = {path.relative_to(fresh_package) for path in fresh_package.rglob("*.py")}
    committed = {
        path.relative_to(package) for path in package.rglob("*.py") if "__pycache__" not in path.parts
    }
    stale = sorted(str(p) for p in committed - generated if p.name != "__init__.py")
    assert not stale, f"tinytorch/ holds files no module exports: {stale}; delete them, or run `tito export`"


SUBPACKAGE_MODULES = {
    "01_tensor": """
        # %%
        #| default_exp tensor

        # %%
        #| export
        class Tensor:
            pass
        """,
    "03_activations": """
        # %%
        #| default_exp nn.activations

        # %%
        #| export
        from tinytorch.tensor import Tensor


        def relu(x: Tensor) -> Tensor:
            return x
        """,
}


def test_export_makes_subpackages_and_keeps_the_hand_written_init(fake_repo: FakeRepo) -> None:
    root = fake_repo(SUBPACKAGE_MODULES)
    init_before = (root / "tinytorch" / "__init__.py").read_bytes()
    report = build(root, release=False)
    activations = root / "tinytorch" / "nn" / "activations.py"
    assert report.modules[1].exported == [activations, root / "tinytorch" / "nn" / "__init__.py"]
    assert (root / "tinytorch" / "__init__.py").read_bytes() == init_before
    text = activations.read_text(encoding="utf-8")
    assert "File to edit: ../../modules/03_activations/activations.py." in text
    assert "from ..tensor import Tensor" in text
    assert not (root / "build" / "course").exists()


def test_export_cells_without_default_exp_are_an_error(fake_repo: FakeRepo) -> None:
    root = fake_repo({"01_tensor": "# %%\n#| export\nX = 1\n"})
    with pytest.raises(TitoError, match="default_exp"):
        build(root, release=False)
