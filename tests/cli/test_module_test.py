"""`tito module test` and `complete` on module 01's reference solution, a blank student
copy and a one-function module, and the progress they record. Expected grade ids, points and
function names are read from the module scripts, so these tests follow the modules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

Tito = Callable[..., CompletedProcess[str]]
SCRIPTS = Path(__file__).resolve().parents[2] / "modules"
TENSOR = SCRIPTS / "01_tensor" / "tensor.py"
COURSE_SLUGS = [
    (1, "tensor"), (2, "autograd"), (3, "activations"), (4, "layers"), (5, "losses"),
    (6, "optimizers"), (7, "training"), (8, "dataloader"), (9, "spatial"), (10, "normalization"),
    (11, "tokenization"), (12, "embeddings"), (13, "attention"), (14, "transformers"),
    (15, "profiling"), (16, "acceleration"), (17, "quantization"), (18, "compression"),
    (19, "caching"), (20, "benchmarking"),
]  # fmt: skip
_NBGRADER_HEADER = re.compile(r"^# %% nbgrader=(\{.*\})$", re.MULTILINE)


def graded_cells(script: Path) -> dict[str, float]:
    """Points of each graded test cell of a module script, by grade_id."""
    metas = (json.loads(found) for found in _NBGRADER_HEADER.findall(script.read_text(encoding="utf-8")))
    return {meta["grade_id"]: meta["points"] for meta in metas if meta["grade"]}


def solution_functions(script: Path) -> list[str]:
    """The functions a student writes: the first ``def`` in each solution cell."""
    names = []
    for cell in re.split(r"^(?=# %%)", script.read_text(encoding="utf-8"), flags=re.MULTILINE):
        header = _NBGRADER_HEADER.match(cell)
        if header and json.loads(header.group(1))["solution"]:
            found = re.search(r"^\s*def (\w+)\(", cell, re.MULTILINE)
            names += [found.group(1)] if found else []
    return names


def total_points(output: str) -> tuple[float, float]:
    """(earned, possible) from the ``Total: 18/18 points`` line."""
    match = re.search(r"^Total: ([\d.]+)/([\d.]+) points", output, re.MULTILINE)
    assert match, f"no 'Total: x/y points' line in:\n{output}"
    return float(match.group(1)), float(match.group(2))


def assert_full_marks(result: CompletedProcess[str], script: Path) -> None:
    """Exit 0, every graded cell of ``script`` passed with its points, pytest all passed."""
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    cells = graded_cells(script)
    assert cells, f"{script} has no graded test cells"
    assert total_points(output) == (sum(cells.values()), sum(cells.values()))
    for grade_id, points in cells.items():
        assert re.search(rf"│ {re.escape(grade_id)} +│ +{points:g}/{points:g} │ passed", output), grade_id
    for passed, total in re.findall(r"│ pytest \S+ +│ +│ (\d+)/(\d+) passed", output):
        assert passed == total and int(total) > 0
    assert "Traceback" not in output + result.stderr


def progress_records(root: Path) -> dict[str, dict]:
    path = root / ".tito" / "progress.json"
    return json.loads(path.read_text(encoding="utf-8"))["modules"] if path.exists() else {}


def status_rows(output: str) -> dict[str, tuple[str, ...]]:
    """The rows of ``tito module status`` by module folder: (in repo, export, last test, completed)."""
    rows = re.findall(r"^│ \d\d │ (\S+) +│ (\w+) +│ ([\w ]+?) +│ (.*?) *│ (.*?) *│$", output, re.MULTILINE)
    return {row[0]: row[1:] for row in rows}


def test_module_test_01_gives_full_marks_on_the_reference_and_status_shows_it(
    tito: Tito, repo_copy: Path
) -> None:
    result = tito("module", "test", "01", cwd=repo_copy)
    assert_full_marks(result, TENSOR)
    assert "Exported: tinytorch/tensor.py" in result.stdout
    assert progress_records(repo_copy)["01_tensor"]["last_test"]["passed"] is True

    listed = tito("module", "list", cwd=repo_copy)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"│ 01 +│ 01_tensor +│ Tensor +│ tinytorch/tensor.py +│ exported", listed.stdout), (
        listed.stdout
    )
    folders = [f"{n:02d}_{slug}" for n, slug in COURSE_SLUGS]
    present = [folder for folder in folders if (SCRIPTS / folder).is_dir()]
    assert "02_autograd" in present and all(folder in listed.stdout for folder in present), listed.stdout
    assert not any(folder in listed.stdout for folder in folders if folder not in present), listed.stdout

    status = tito("module", "status", cwd=repo_copy)
    assert status.returncode == 0, status.stderr
    rows = status_rows(status.stdout)
    assert list(rows) == [f"{n:02d}_{slug}" for n, slug in COURSE_SLUGS], status.stdout
    in_repo, export, last_test, completed = rows["01_tensor"]
    assert (in_repo, export, completed) == ("yes", "exported", "")
    points = sum(graded_cells(TENSOR).values())
    assert last_test.startswith(f"passed {points:g}/{points:g} pts"), last_test
    assert rows["17_quantization"] == ("no", "not exported", "", "")
    assert "Completed 0 of 20 modules." in status.stdout


def test_module_test_01_on_a_blank_student_copy_names_the_functions_to_write(
    tito: Tito, student_repo: Path
) -> None:
    result = tito("module", "test", "01", cwd=student_repo)
    output = result.stdout
    assert result.returncode == 1, output + result.stderr
    assert total_points(output) == (0, sum(graded_cells(TENSOR).values()))
    functions = solution_functions(TENSOR)
    assert functions, f"{TENSOR} has no solution cells"
    for name in functions:
        assert f"{name} is not written yet (NotImplementedError)" in output, name
    assert "FAILED" in output
    assert "Traceback" not in output + result.stderr

    # That run exported 01 with its stubs: module 02 must refuse to build on it.
    blocked = tito("module", "test", "02", cwd=student_repo)
    assert blocked.returncode == 2, blocked.stdout + blocked.stderr
    assert "needs module 01_tensor" in blocked.stderr and "stubs" in blocked.stderr


def test_complete_records_nothing_until_the_module_passes(tito: Tito, tiny_repo: Path) -> None:
    failed = tito("module", "complete", "01", cwd=tiny_repo)
    output = failed.stdout
    assert failed.returncode == 1, output + failed.stderr
    stub = "double is not written yet (NotImplementedError)"
    assert re.search(rf"│ test-double +│ +0/3 │ {re.escape(stub)}", output), output
    # A cell Jupyter does not number is named by the graded cell before it and its first line.
    assert re.search(
        rf"│ notebook: the cell after test-double: print\(double\(21\)\) +│ +│ {re.escape(stub)}", output
    ), output
    assert re.search(rf"│   test_double +│ +│ {re.escape(stub)}", output), output
    assert "Total: 0/3 points; pytest 0/1 passed, 1 other notebook cell(s) failed" in output
    assert "Traceback" not in output + failed.stderr
    record = progress_records(tiny_repo)["01_tensor"]
    assert "completed_at" not in record and record["last_test"]["passed"] is False
    status = status_rows(tito("module", "status", cwd=tiny_repo).stdout)["01_tensor"]
    assert status[1] == "stubs" and status[2].startswith("failed 0/3 pts, 0/1 tests") and status[3] == ""

    script = tiny_repo / "modules" / "01_tensor" / "tensor.py"
    solved = script.read_text(encoding="utf-8").replace(
        "# YOUR CODE HERE\n    raise NotImplementedError()", "return 2 * x"
    )
    script.write_text(solved, encoding="utf-8")
    passed = tito("module", "complete", "tensor", cwd=tiny_repo)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Total: 3/3 points; pytest 1/1 passed" in passed.stdout
    assert "Module 01_tensor completed." in passed.stdout
    assert re.match(r"\d{4}-\d\d-\d\dT", progress_records(tiny_repo)["01_tensor"]["completed_at"])
    status_output = tito("module", "status", cwd=tiny_repo).stdout
    in_repo, export, last_test, completed = status_rows(status_output)["01_tensor"]
    assert (in_repo, export) == ("yes", "exported") and last_test.startswith("passed 3/3 pts, 1/1 tests")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d", completed), completed
    assert "Completed 1 of 20 modules." in status_output

    # Completing again after a change tests again; a failure then records nothing new.
    script.write_text(solved.replace("return 2 * x", "return 3 * x"), encoding="utf-8")
    again = tito("module", "complete", "01", cwd=tiny_repo)
    assert again.returncode == 1 and "Total: 0/3 points" in again.stdout, again.stdout
    assert "nothing it reads has changed" not in again.stdout
