"""The student release gives away no solution and no hidden test, and the check would notice if it did."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from pipeline_support import MODULES, FakeRepo, module_id

from tito.build import BuildReport, build
from tito.course import ModuleInfo
from tito.errors import TitoError
from tito.leaks import release_leaks

pytestmark = pytest.mark.pipeline

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_release_gives_nothing_away(first_build: BuildReport, info: ModuleInfo) -> None:
    built = next(m for m in first_build.modules if m.info.folder_name == info.folder_name)
    text = built.release.read_text(encoding="utf-8")
    assert not [m for m in MARKERS if m in text], f"{built.release} still holds nbgrader markers"
    leaks = release_leaks(
        nbformat.read(built.notebook, as_version=4), nbformat.read(built.release, as_version=4)
    )
    assert not leaks, "\n".join(leaks)


def _solution_cell(body: str) -> nbformat.NotebookNode:
    meta = {"grade": False, "grade_id": "impl-add", "locked": False, "solution": True, "schema_version": 3}
    return new_code_cell(body, id="impl-add", metadata={"nbgrader": meta})


SOURCE = new_notebook(
    cells=[
        _solution_cell(
            "def add(a, b):\n"
            "    ### BEGIN SOLUTION\n"
            "    total = sum([a, b], start=0)\n"
            "    checked = float(total)\n"
            "    return checked\n"
            "    ### END SOLUTION\n"
        ),
        new_code_cell(
            "assert add(1, 2) == 3\n"
            "### BEGIN HIDDEN TESTS\n"
            "values = list(range(-3, 4))\n"
            "expected_sum = sum(values)\n"
            "assert add(-1, 1) == 0, 'add: negatives'\n"
            "### END HIDDEN TESTS\n",
            id="test-add",
        ),
    ]
)
STUB = _solution_cell("def add(a, b):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")
VISIBLE_TEST = new_code_cell("assert add(1, 2) == 3\n", id="test-add")


def _release(*extra: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return new_notebook(cells=[STUB, VISIBLE_TEST, *extra])


def test_a_clean_release_passes() -> None:
    assert release_leaks(SOURCE, _release()) == []


def test_a_solution_copied_outside_the_markers_is_caught() -> None:
    demo = new_code_cell("total = sum([a, b], start=0)\nchecked = float(total)\nprint(checked)\n", id="demo")
    leaks = release_leaks(SOURCE, _release(demo))
    assert len(leaks) == 1 and leaks[0].startswith(
        "release cell demo: holds 2 of 2 lines of the solution in cell impl-add"
    )


def test_a_hidden_assert_in_the_release_is_caught() -> None:
    # One assert of three hidden lines: an assert gives a hidden test away on its own.
    visible = new_code_cell(
        "assert add(1, 2) == 3\nassert add(-1, 1) == 0, 'add: negatives'\n", id="test-add"
    )
    leaks = release_leaks(SOURCE, new_notebook(cells=[STUB, visible]))
    assert leaks == [
        "release cell test-add: holds 1 of 3 lines of the hidden tests in cell test-add, "
        "e.g. \"assert add(-1, 1) == 0, 'add: negatives'\""
    ]


def test_hidden_test_setup_shared_with_a_visible_test_is_not_a_leak() -> None:
    visible = new_code_cell("values = list(range(-3, 4))\nassert add(1, 2) == 3\n", id="test-add")
    assert release_leaks(SOURCE, new_notebook(cells=[STUB, visible])) == []


def test_markers_left_in_the_release_are_caught() -> None:
    leaks = release_leaks(
        SOURCE, _release(new_code_cell("### BEGIN SOLUTION\n### END SOLUTION\n", id="oops"))
    )
    assert leaks == [
        "release cell oops: contains 'BEGIN SOLUTION'",
        "release cell oops: contains 'END SOLUTION'",
    ]


def test_a_line_shared_with_given_code_is_not_a_leak() -> None:
    # One of the solution's two telling lines also occurs in code the student is given.
    given = new_code_cell("total = sum([a, b], start=0)\nprint(total)\n", id="given")
    assert release_leaks(SOURCE, _release(given)) == []


LEAKY_MODULE = '''
# %%
#| default_exp tensor

# %% nbgrader={"grade": false, "grade_id": "impl-add", "locked": false, "solution": true, "schema_version": 3}
#| export
def add(a: int, b: int) -> int:
    """Sum of a and b."""
    ### BEGIN SOLUTION
    total = a + b
    return total
    ### END SOLUTION


# %%
def add_reference(a: int, b: int) -> int:
    total = a + b
    return total
'''


def test_the_build_refuses_a_leaky_release(fake_repo: FakeRepo) -> None:
    root = fake_repo({"01_tensor": LEAKY_MODULE})
    with pytest.raises(TitoError, match="would give away solutions") as caught:
        build(root)
    assert "'total = a + b'" in str(caught.value)
    assert not (root / "build" / "course" / "release" / "01_tensor" / "tensor.ipynb").exists()
