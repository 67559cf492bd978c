"""``tito module test``'s pytest run and its time limits: the course's tests, run honestly.

Each test here builds a one-module repository whose package and test file do one hostile
or broken thing, and runs the real ``tito module test`` (or its pytest step) on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tito.course import MANIFEST_FILE, file_digest, resolve_module
from tito.limits import current_limits
from tito.runner import run_pytest

pytestmark = pytest.mark.pipeline
TITO = Path(sys.executable).parent / "tito"
REPO_ROOT = Path(__file__).resolve().parents[2]

MODULE = '''# %%
#| default_exp tensor

# %% nbgrader={"grade": false, "grade_id": "impl-double", "locked": false, "solution": true, "schema_version": 3}
#| export
def double(x: float) -> float:
    """Twice ``x``."""
    return 2 * x


# %% nbgrader={"grade": true, "grade_id": "test-double", "locked": true, "points": 2, "solution": false, "schema_version": 3}
assert double(2) == 4, "double(2) should be 4"
'''
TESTS = '''from tinytorch.tensor import double


def test_first():
    assert double(1) == 2


def test_hangs():
    BODY


def test_last():
    assert double(3) == 6
'''


def make_repo(root: Path, hang: str = "pass", module: str = MODULE) -> Path:
    """A repository with module 01 = ``double`` and three tests, the middle one running ``hang``."""
    (root / "modules" / "01_tensor").mkdir(parents=True)
    (root / "modules" / "01_tensor" / "tensor.py").write_text(module, encoding="utf-8")
    (root / "tests" / "modules").mkdir(parents=True)
    (root / "tests" / "modules" / "test_01_tensor.py").write_text(TESTS.replace("BODY", hang), encoding="utf-8")
    (root / "tinytorch").mkdir()
    (root / "tinytorch" / "__init__.py").write_text("", encoding="utf-8")
    (root / "tinytorch" / "tensor.py").write_text("def double(x):\n    return 2 * x\n", encoding="utf-8")
    (root / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return root


def outcomes(root: Path) -> dict[str, tuple[bool, str]]:
    info = resolve_module("01", root)
    results = run_pytest(info, current_limits())
    return {check.name: (check.passed, check.reason) for checks in results.values() for check in checks}


def test_a_hanging_test_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITO_LIMIT_CELL_SECONDS", "2")
    found = outcomes(make_repo(tmp_path, "while True:\n        pass"))
    assert found["test_first"] == (True, "") and found["test_last"] == (True, "")
    assert found["test_hangs"][0] is False and "ran longer than 2 s" in found["test_hangs"][1]


def test_a_test_that_ignores_the_alarm_is_cut_off_and_earlier_results_survive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TITO_LIMIT_CELL_SECONDS", "1")
    monkeypatch.setenv("TITO_LIMIT_PYTEST_SECONDS", "8")
    started = time.monotonic()
    hang = "import signal\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while True:\n        pass"
    found = outcomes(make_repo(tmp_path, hang))
    assert time.monotonic() - started < 30
    assert found["test_first"] == (True, "")
    assert found["pytest"] == (False, "pytest was stopped after 8 s; later tests did not run")
    assert "test_last" not in found


def test_a_conftest_written_by_the_student_is_ignored(tmp_path: Path) -> None:
    root = make_repo(tmp_path, "assert False, 'this test fails'")
    (root / "tests" / "conftest.py").write_text(
        "def pytest_collection_modifyitems(items):\n    items.clear()\n", encoding="utf-8"
    )
    (root / "tests" / "modules" / "conftest.py").write_text(
        "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n",
        encoding="utf-8",
    )
    found = outcomes(root)
    assert found["test_hangs"] == (False, "this test fails")
    assert found["test_first"] == found["test_last"] == (True, "")


def test_a_run_that_ends_before_any_test_is_a_failure(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / "tinytorch" / "tensor.py").write_text("import os\nos._exit(0)\n", encoding="utf-8")
    found = outcomes(root)
    assert found == {"pytest": (False, "pytest ran no test (exit code 0)")}


def test_a_changed_test_file_is_not_trusted(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    tests = root / "tests" / "modules" / "test_01_tensor.py"
    (root / MANIFEST_FILE).parent.mkdir(parents=True)
    (root / MANIFEST_FILE).write_text(json.dumps({"tests/modules/test_01_tensor.py": file_digest(tests)}), encoding="utf-8")
    assert outcomes(root)["test_last"] == (True, "")
    tests.write_text("def test_everything():\n    pass\n", encoding="utf-8")
    found = outcomes(root)
    assert found == {
        "(the test file)": (
            False, "tests/modules/test_01_tensor.py is missing or changed since the course was released; restore it"
        )
    }  # fmt: skip


def test_module_test_returns_within_its_cap_on_a_loop_that_ignores_every_signal(tmp_path: Path) -> None:
    hang = (
        "    import signal\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while True:\n        pass\n"
    )
    module = MODULE.replace("    return 2 * x\n", hang)
    root = make_repo(tmp_path, module=module)
    env = dict(
        os.environ, COLUMNS="300", TITO_LIMIT_CELL_SECONDS="2", TITO_LIMIT_GRACE_SECONDS="1",
        TITO_LIMIT_PYTEST_SECONDS="5",
    )  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(
        [str(TITO), "module", "test", "01"], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert time.monotonic() - started < 60
    assert result.returncode == 1, result.stdout + result.stderr
    assert "timeout: test-double was still running after 2 s and was stopped" in result.stdout, result.stdout
    assert "pytest was stopped after 5 s" in result.stdout, result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_the_unprivileged_fallback_needs_an_interpreter_others_can_reach() -> None:
    from tito.sandbox import others_can_reach

    # Under /tmp itself: pytest's own temporary folders are private to their owner.
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        private = root / "private" / "python"
        private.mkdir(parents=True)
        root.chmod(0o755)
        (root / "private").chmod(0o700)  # like /root holding pyenv
        private.chmod(0o755)
        assert not others_can_reach([private])
        (root / "private").chmod(0o755)
        assert others_can_reach([private])
        private.chmod(0o711)
        assert not others_can_reach([private]), "a folder others cannot list cannot serve imports"
