"""The one-line reasons `tito module test` and grading give, from real pytest tracebacks."""

from __future__ import annotations

from tito.reasons import (
    clean_text,
    describe_failure,
    load_failure_reason,
    pytest_failure_reason,
    stub_functions,
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


def test_a_stub_names_the_function_to_write_and_a_bare_assert_shows_its_line() -> None:
    assert describe_failure("NotImplementedError", "", ["<cell test-x>", "as_array"]) == (
        "as_array is not written yet (NotImplementedError)"
    )
    assert describe_failure("AssertionError", "", ["<cell test-x>"], "assert 1 == 2") == (
        "assertion failed: assert 1 == 2"
    )


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


def test_pytest_failure_reasons() -> None:
    def reason(message: str, text: str = "") -> str:
        return pytest_failure_reason(message, text)

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


def test_a_test_file_that_cannot_load_says_why() -> None:
    text = "ImportError while importing test module\nE   ModuleNotFoundError: No module named 'tinytorch.nn'\n"
    assert load_failure_reason(text) == (
        "the test file could not be loaded: ModuleNotFoundError: No module named 'tinytorch.nn'"
    )


def test_an_assertion_whose_message_is_only_values_shows_the_assert() -> None:
    # `assert out.shape[2:] == expected, (kernel, stride, padding)` once showed as a bare tuple.
    text = (
        'Traceback (most recent call last):\n'
        '  File "/s/tests/modules/test_09_spatial.py", line 205, in test_output_shapes\n'
        '    assert out.shape[2:] == expected, (kernel, stride, padding)\n'
        'AssertionError: (3, 1, 0)\n'
    )
    assert pytest_failure_reason("AssertionError: (3, 1, 0)", text) == (
        "assertion failed: assert out.shape[2:] == expected, (kernel, stride, padding) with (3, 1, 0)"
    )
    # A message that is a sentence is shown as it is.
    assert pytest_failure_reason("AssertionError: relu must keep float32", text) == "relu must keep float32"
