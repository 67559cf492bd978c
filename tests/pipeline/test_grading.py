"""Autograding sees modules < N only; grading checks catch vacuous and wrong tests; the
reference passes nbgrader's own validate (in a Jupyter kernel) and the blank release fails it.

That each module's reference earns every point and its blank release none, under nbgrader,
is checked by the grading attack battery (tests/security), which autogrades both for every
module anyway; ``test_every_module_is_in_the_battery`` there keeps that true for new modules.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from pipeline_support import MODULES, REPO_ROOT, FakeRepo, module_id

from tito.build import BuildReport, build
from tito.course import ModuleInfo, all_modules, data_environment
from tito.errors import TitoError
from tito.grading import autograde, check_staging_hides, staging_package
from tito.limits import current_limits
from tito.nbgrader_course import nbgrader_settings
from tito.submission import assemble

pytestmark = pytest.mark.pipeline


def _run_in(staging: Path, code: str) -> subprocess.CompletedProcess[str]:
    """``python -c CODE`` in the environment the autograde kernel gets."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(staging)},
        cwd=staging,
        capture_output=True,
        text=True,
        check=False,
    )


# Imports each module named on the command line in turn; prints {name: "ok" or the error}.
_IMPORT_PROBE = """
import importlib, json, sys
outcomes = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        outcomes[name] = "ok"
    except Exception as error:  # reported, whatever the import raised
        outcomes[name] = f"{type(error).__name__}: {error}"
print(json.dumps(outcomes))
"""


def _imports_in(staging: Path, modules: list[str]) -> dict[str, str]:
    """Import each of ``modules`` in one ``python`` in the environment the autograde kernel
    gets; "ok" or the error, by module."""
    run = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, *modules],
        env={**os.environ, "PYTHONPATH": str(staging)},
        cwd=staging,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_staging_hides_the_module_and_offers_earlier_ones(tmp_path: Path, info: ModuleInfo) -> None:
    staging = staging_package(REPO_ROOT, info, tmp_path)
    hidden = [f"tinytorch.{target}" for target in info.export_targets()]
    earlier = [f"tinytorch.{target}" for module in all_modules(REPO_ROOT)[: info.number - 1] for target in module.export_targets()]
    # The hidden ones first: an earlier module's import cannot have loaded them already.
    outcomes = _imports_in(staging, hidden + earlier)
    for name in hidden:
        assert outcomes[name].startswith("ModuleNotFoundError"), f"{name} while grading {info.folder_name}: {outcomes[name]}"
    for name in earlier:
        assert outcomes[name] == "ok", f"grading {info.folder_name} needs {name}: {outcomes[name]}"
    check_staging_hides(staging, info)


def test_staging_holds_every_hand_written_init(tmp_path: Path) -> None:
    # tinytorch/nn/functional/__init__.py lies on no exported file's path, yet a notebook
    # graded against modules < N may `import tinytorch.nn.functional as F`.
    first = all_modules(REPO_ROOT)[0]
    staging = staging_package(REPO_ROOT, first, tmp_path)
    package = REPO_ROOT / "tinytorch"
    for init in package.rglob("__init__.py"):
        staged = staging / "tinytorch" / init.relative_to(package)
        assert staged.read_bytes() == init.read_bytes(), f"{staged} should be a copy of {init}"
    # lazy: importing the namespaces loads nothing, and an unbuilt name says which module to complete
    run = _run_in(staging, "import sys, tinytorch.nn.functional as F; "
                           "print(sorted(m for m in sys.modules if m.startswith('tinytorch')))")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['tinytorch', 'tinytorch.nn', 'tinytorch.nn.functional']"
    run = _run_in(staging, "import tinytorch.nn.functional as F; F.relu")
    assert run.returncode != 0 and "ImportError" in run.stderr and "03_activations" in run.stderr, run.stderr


@pytest.mark.parametrize("info", [m for m in MODULES if m.export_targets() and m.number < 20], ids=module_id)
def test_staging_check_catches_a_visible_reference(tmp_path: Path, info: ModuleInfo) -> None:
    # The staging for the *next* module holds this module's reference: grading this one with it would leak.
    next_module = all_modules(REPO_ROOT)[info.number]
    staging = staging_package(REPO_ROOT, next_module, tmp_path)
    with pytest.raises(TitoError, match=f"tinytorch.{info.export_targets()[0]}"):
        check_staging_hides(staging, info)


SELF_TEST_MODULE = '''
# %%
#| default_exp autograd

# %% nbgrader={"grade": false, "grade_id": "impl-add", "locked": false, "solution": true, "schema_version": 3}
#| export
def add(a: int, b: int) -> int:
    """Sum of a and b."""
    ### BEGIN SOLUTION
    total = a + b
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-add", "locked": true, "points": 2, "solution": false, "schema_version": 3}
from tinytorch.tensor import observe, unseen_rng

assert add(2, 3) == 5, "add: 2 + 3 should be 5"
a, b = (int(n) for n in unseen_rng("test-add").integers(-99, 99, size=2))
observe("add(a, b)", add(a, b))
'''
VACUOUS_TEST = '''
# %% nbgrader={"grade": true, "grade_id": "test-vacuous", "locked": true, "points": 1, "solution": false, "schema_version": 3}
assert True
'''
WRONG_TEST = '''
# %% nbgrader={"grade": true, "grade_id": "test-wrong", "locked": true, "points": 1, "solution": false, "schema_version": 3}
assert add(2, 2) == 5, "add: this test is wrong on purpose"
observe("add(2, 2)", add(2, 2))
'''


def _autograde_fake_module(fake_repo: FakeRepo, tmp_path: Path, script: str) -> dict[str, float]:
    """Build a repository of the real module 01 and ``script`` as module 02; autograde the
    reference and the blank release; points earned of each."""
    module_01 = (REPO_ROOT / "modules" / "01_tensor" / "tensor.py").read_text(encoding="utf-8")
    root = fake_repo({"01_tensor": module_01, "02_autograd": script})
    report = build(root)
    built = report.modules[1]
    staging = staging_package(root, built.info, tmp_path / "staging")
    submissions = {"reference": built.nbgrader_source, "blank": built.release}
    results = autograde(report.build_dir / "course", built.info, submissions, staging)
    return {name: result.score.earned for name, result in results.items()}


def test_a_test_that_observes_decides_the_grade(fake_repo: FakeRepo, tmp_path: Path) -> None:
    assert _autograde_fake_module(fake_repo, tmp_path, SELF_TEST_MODULE) == {"reference": 2.0, "blank": 0.0}


@pytest.mark.parametrize(
    ("extra", "named"),
    [(VACUOUS_TEST, "test-vacuous observes nothing"), (WRONG_TEST, "test-wrong raised add: this test is wrong")],
    ids=["vacuous", "wrong"],
)
def test_a_course_whose_reference_cannot_decide_grades_nobody(
    fake_repo: FakeRepo, tmp_path: Path, extra: str, named: str
) -> None:
    # A test that observes nothing could be passed by anything; a test the reference fails is
    # wrong. Either stops the batch before any student is graded, naming the test.
    with pytest.raises(TitoError, match=named):
        _autograde_fake_module(fake_repo, tmp_path, SELF_TEST_MODULE + extra)


LAYERED_MODULES = {
    "01_tensor": "# %%\n#| default_exp tensor\n\n# %%\n#| export\nTENSOR = 1\n",
    "03_activations": "# %%\n#| default_exp nn.activations\n\n# %%\n#| export\nRELU = 3\n",
    "04_layers": "# %%\n#| default_exp nn.layers\n\n# %%\n#| export\nLINEAR = 4\n",
}


def test_staging_holds_exactly_the_earlier_modules_with_their_subpackages(
    fake_repo: FakeRepo, tmp_path: Path
) -> None:
    root = fake_repo(LAYERED_MODULES)
    build(root, release=False)
    modules = {info.number: info for info in all_modules(root)}

    def staged(number: int) -> set[str]:
        staging = staging_package(root, modules[number], tmp_path / f"staging-{number}")
        return {p.relative_to(staging).as_posix() for p in staging.rglob("*.py")}

    # every hand-written __init__.py, also of subpackages no earlier module exports to yet
    assert staged(1) == {"tinytorch/__init__.py", "tinytorch/nn/__init__.py"}
    assert staged(3) == {"tinytorch/__init__.py", "tinytorch/nn/__init__.py", "tinytorch/tensor.py"}
    assert staged(4) == {
        "tinytorch/__init__.py",
        "tinytorch/tensor.py",
        "tinytorch/nn/__init__.py",
        "tinytorch/nn/activations.py",
    }
    staging = tmp_path / "staging-4"
    outcomes = _imports_in(staging, ["tinytorch.nn.layers", "tinytorch.nn.activations"])
    assert outcomes["tinytorch.nn.layers"].startswith("ModuleNotFoundError"), outcomes
    assert outcomes["tinytorch.nn.activations"] == "ok", outcomes


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_nbgrader_validate_passes_the_reference_and_fails_the_blank(
    first_build: BuildReport, info: ModuleInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a student's Validate button and an instructor's `nbgrader validate` run: the
    # notebook in a Jupyter kernel (tito grades it as plain Python), every graded cell checked.
    from nbgrader.validator import Validator
    from traitlets.config import Config

    built = next(m for m in first_build.modules if m.info.folder_name == info.folder_name)
    assert built.nbgrader_source is not None and built.release is not None
    release = nbformat.read(built.release, as_version=4)
    solved = assemble(release, nbformat.read(built.nbgrader_source, as_version=4)).notebook
    staging = staging_package(REPO_ROOT, info, tmp_path / "staging")
    monkeypatch.setenv("PYTHONPATH", str(staging))
    for name, value in data_environment(REPO_ROOT).items():
        monkeypatch.setenv(name, value)
    warnings = io.StringIO()
    validator = Validator(config=Config(nbgrader_settings()))
    validator.log.addHandler(logging.StreamHandler(warnings))
    results = {}
    for name, nb in (("solved", solved), ("blank", release)):
        path = tmp_path / name / f"{info.slug}.ipynb"
        path.parent.mkdir()
        nbformat.write(nb, path)
        results[name] = validator.validate(str(path))
    assert results["solved"] == {}, f"nbgrader validate fails the reference: {results['solved']}"
    assert "failed" in results["blank"], "nbgrader validate passes the blank release"
    assert "partial credit" not in warnings.getvalue(), f"nbgrader warned: {warnings.getvalue()[:500]}"
