"""The one-line reasons `tito module test` gives, from real IPython and pytest tracebacks."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import nbformat

from tito.reasons import (
    clean_text,
    describe_failure,
    junit_failure_reason,
    notebook_error_reason,
    stub_functions,
)

# An IPython 9 error output (ANSI colours included) of a test cell calling a stub.
IPYTHON_STUB = nbformat.from_dict(
    {
        "output_type": "error",
        "ename": "NotImplementedError",
        "evalue": "",
        "traceback": [
            "\x1b[31mNotImplementedError\x1b[39m                       Traceback (most recent call last)",
            "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[2]\x1b[39m\x1b[32m, line 3\x1b[39m\n\x1b[32m----> \x1b[39m\x1b[32m3\x1b[39m test_it()\n",
            "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[2]\x1b[39m\x1b[32m, line 2\x1b[39m, in \x1b[36mtest_it\x1b[39m\x1b[34m()\x1b[39m\n",
            "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[1]\x1b[39m\x1b[32m, line 3\x1b[39m, in \x1b[36mas_array\x1b[39m\x1b[34m(data, dtype)\x1b[39m\n"
            "\x1b[32m----> \x1b[39m\x1b[32m3\x1b[39m     \x1b[38;5;28;01mraise\x1b[39;00m NotImplementedError()\n",
            "\x1b[31mNotImplementedError\x1b[39m: ",
        ],
    }
)
IPYTHON_BARE_ASSERT = nbformat.from_dict(
    {
        "output_type": "error",
        "ename": "AssertionError",
        "evalue": "",
        "traceback": [
            "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[3]\x1b[39m\x1b[32m, line 1\x1b[39m\n\x1b[32m----> \x1b[39m\x1b[32m1\x1b[39m \x1b[38;5;28;01massert\x1b[39;00m \x1b[32m1\x1b[39m == \x1b[32m2\x1b[39m\n",
            "\x1b[31mAssertionError\x1b[39m: ",
        ],
    }
)
# pytest --tb=native: a stub reached through a hypothesis exception group.
GROUP_TEXT = """  | ExceptionGroup: Hypothesis found 2 distinct failures. (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File "/s/tests/modules/test_01_tensor.py", line 313, in test_broadcast_shape_matches_numpy
    |     broadcast_shape(shape_a, shape_b)
    |   File "/s/tinytorch/tensor.py", line 73, in broadcast_shape
    |     raise NotImplementedError()
    | NotImplementedError
"""


def test_a_stub_in_a_notebook_names_the_function_to_write() -> None:
    assert notebook_error_reason(IPYTHON_STUB) == "as_array is not written yet (NotImplementedError)"


def test_a_bare_assert_in_a_notebook_shows_the_failing_line() -> None:
    assert notebook_error_reason(IPYTHON_BARE_ASSERT) == "assertion failed: assert 1 == 2"


def test_errors_put_the_message_first_and_name_the_function_that_raised() -> None:
    assert (
        describe_failure("ValueError", "bad shape\nmore", ["test_x", "reshape"])
        == "bad shape (ValueError in reshape)"
    )
    assert describe_failure("ValueError", "bad shape", ["test_x"]) == "bad shape (ValueError)"
    assert describe_failure("tinytorch.tensor.ShapeError", "", []) == "ShapeError"
    # A wrapper such as Module.__call__ says nothing: the frame inside it is named instead.
    assert (
        describe_failure("ShapeError", "in_features is 4, got 3", ["test_x", "forward", "__call__"])
        == "in_features is 4, got 3 (ShapeError in forward)"
    )
    # A NotImplementedError with a message is a real error, not a stub.
    assert describe_failure("NotImplementedError", "no kernel for 'foo'", ["dispatch"]) == (
        "no kernel for 'foo' (NotImplementedError in dispatch)"
    )


def test_control_characters_never_reach_the_terminal() -> None:
    reason = describe_failure("ValueError", "\x1b[2Jcleared\x07 \x1b]0;title\x07screen\r", ["f"])
    assert reason == "cleared screen (ValueError in f)"
    assert clean_text("a\tb\nc\x00\x1b[31m") == "a\tb\nc"


def test_stub_functions_reads_exception_groups_and_nested_tracebacks() -> None:
    assert stub_functions(GROUP_TEXT) == ["broadcast_shape"]
    assert (
        stub_functions(GROUP_TEXT.replace("| NotImplementedError", "| NotImplementedError: no kernel")) == []
    )


def test_junit_failure_reasons() -> None:
    def reason(message: str, text: str = "") -> str:
        element = ET.Element("failure", message=message)
        element.text = text
        return junit_failure_reason(element)

    assert reason("ExceptionGroup: Hypothesis found 2 distinct failures.", GROUP_TEXT) == (
        "broadcast_shape is not written yet (NotImplementedError)"
    )
    assert reason(
        "AssertionError: \nNot equal to tolerance rtol=1e-05\npermute: gradient differs\nMismatch"
    ) == ("permute: gradient differs (Not equal to tolerance rtol=1e-05)")
    assert reason("assert 3 == 4\n +  where 3 = f()") == "assert 3 == 4"
    assert (
        reason("AssertionError: Traceback (most recent call last):\n  File x\nKeyError: 'a'")
        == "KeyError: 'a'"
    )
