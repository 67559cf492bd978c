"""Turn a failure (a graded cell's error, a failed pytest test) into one line a student can act on.

The line puts the test's own message first, then the kind of error and the function that
raised it; a bare ``NotImplementedError`` is the stub nbgrader left, so it names the
function still to write. Control characters are removed: a message is text, never a
terminal command.
"""

from __future__ import annotations

import re

REASON_MAX_CHARS = 300

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07?")
# Every other control character but tab and newline (a message may hold them; a terminal obeys them).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Plain Python frames (pytest --tb=native): 'File "/x/tensor.py", line 12, in as_array'.
_NATIVE_FRAME = re.compile(r'^\s*File ".*", line \d+, in ([\w.<>]+)\s*$', re.MULTILINE)
# The headers np.testing.assert_* put before the err_msg a test passes to them.
_NUMPY_TESTING_HEADER = re.compile(r"^(Not equal to tolerance|Arrays are not|Items are not)")
# The first line of a JUnit failure message, "ShapeError: ..." or "NotImplementedError";
# pytest's own assertion messages ("assert 1 == 2") do not match and are shown as they are.
_EXCEPTION_MESSAGE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")
# A word of three letters or more: a message without one is data (a tuple of values), not a sentence.
_WORD = re.compile(r"[A-Za-z]{3,}")
# Frames that name no function a student wrote or can look up.
_UNHELPFUL_FRAMES = ("<", "test", "__call__", "wrapper", "expect_error")


def clean_text(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (tabs and newlines kept)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def shorten(text: str) -> str:
    """``text`` cut to ``REASON_MAX_CHARS``, marked with an ellipsis when cut."""
    return text if len(text) <= REASON_MAX_CHARS else text[: REASON_MAX_CHARS - 1] + "…"


def describe_failure(ename: str, evalue: str, functions: list[str], failing_line: str = "") -> str:
    """One line for a student: the function still to write, else the message and where it came from.

    ``functions`` are the traceback's function names, outermost first; ``failing_line`` is
    the source line that raised, used when an ``assert`` has no message.
    """
    ename = clean_text(ename).rsplit(".", 1)[-1]
    message = _first_message_line(clean_text(evalue))
    # A bare `raise NotImplementedError()` is the stub nbgrader leaves in a solution.
    if ename == "NotImplementedError" and not message and functions:
        return f"{functions[-1]} is not written yet (NotImplementedError)"
    if ename == "AssertionError":
        failing = clean_text(failing_line).strip()
        return shorten(message or (f"assertion failed: {failing}" if failing else "an assertion failed"))
    # Name the innermost function that says something: not the test itself, not a wrapper.
    where = next((name for name in reversed(functions) if not name.startswith(_UNHELPFUL_FRAMES)), "")
    kind = f"{ename} in {where}" if where else ename
    return shorten(f"{message} ({kind})" if message else kind)


def _first_message_line(evalue: str) -> str:
    """The first line of an error message that says something.

    ``np.testing`` puts a generic header ("Not equal to tolerance rtol=..., atol=...")
    before the test's own ``err_msg``; the two lines are joined so the student sees both.
    """
    lines = [line.strip() for line in evalue.splitlines() if line.strip()]
    if len(lines) > 1 and _NUMPY_TESTING_HEADER.match(lines[0]):
        return f"{lines[1]} ({lines[0]})"
    return lines[0] if lines else ""


def stub_functions(traceback_text: str) -> list[str]:
    """Functions that raised a bare ``NotImplementedError`` (a stub), in order of appearance.

    Reads plain Python tracebacks anywhere in ``traceback_text``, including indented ones
    (a subprocess's stderr inside an assert message) and exception groups (``|`` margins).
    """
    found: list[str] = []
    current = ""
    for raw in traceback_text.splitlines():
        line = raw.lstrip(" |+")
        frame = _NATIVE_FRAME.match(line)
        if frame:
            current = frame.group(1)
        elif line.rstrip(": ") == "NotImplementedError" and current and current not in found:
            found.append(current)
    return found


def pytest_failure_reason(message: str, text: str) -> str:
    """The one-line reason for a failed pytest test, from its crash ``message`` and the
    ``text`` of its ``--tb=native`` report."""
    message = clean_text(message).strip()
    text = clean_text(text)
    stubs = stub_functions(text)
    if stubs:
        return describe_failure("NotImplementedError", "", stubs[:1])
    first, _, rest = message.partition("\n")
    match = _EXCEPTION_MESSAGE.match(first)
    if match is not None and match.group(1).endswith("AssertionError") and not _WORD.search(message.partition(":")[2]):
        # `assert out.shape == expected, (kernel, stride)`: the values mean nothing without the assert.
        failing = _failing_source_line(text)
        values = f" with {match.group(2)}" if match.group(2) else ""
        return shorten(f"assertion failed: {failing}{values}" if failing else f"an assertion failed{values}")
    if match is None:  # pytest's rewritten assert without a message: "assert 1 == 2"
        return describe_failure("AssertionError", message, [])
    evalue = _last_line_if_traceback("\n".join([match.group(2) or "", rest]))
    return describe_failure(match.group(1), evalue, _NATIVE_FRAME.findall(text))


def _failing_source_line(text: str) -> str:
    """The source line shown under the last frame of a ``--tb=native`` traceback ("" if none)."""
    lines = text.splitlines()
    frames = [number for number, line in enumerate(lines) if _NATIVE_FRAME.match(line)]
    if not frames or frames[-1] + 1 >= len(lines):
        return ""
    return lines[frames[-1] + 1].strip()


def load_failure_reason(text: str) -> str:
    """pytest's collection error: its last "E   SomeError: ..." line says what broke."""
    lines = clean_text(text).splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    found = errors[-1] if errors else next((line for line in reversed(lines) if line.strip()), "")
    return shorten(f"the test file could not be loaded: {found.strip()}")


def _last_line_if_traceback(message: str) -> str:
    """A message that is itself a traceback (a subprocess's stderr) is summed up by its last line."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1] if lines and lines[0].startswith("Traceback (most recent call last)") else message
