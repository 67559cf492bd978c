"""The rule that decides whether an earlier module counts as exported."""

from tito.course import has_unfinished_stub


def test_a_stub_left_in_place_is_unfinished() -> None:
    assert has_unfinished_stub("def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")


def test_code_written_below_the_kept_comment_is_finished() -> None:
    assert not has_unfinished_stub("def f():\n    # YOUR CODE HERE\n    return 1\n")
    assert not has_unfinished_stub("def f():\n    raise NotImplementedError('only on purpose')\n")
