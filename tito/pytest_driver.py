"""Run a module's pytest files for ``tito module test`` and stream each result as it happens.

tito runs this file as a program: ``python pytest_driver.py RESULTS TEST_SECONDS PYTEST_ARGS...``.
Each finished test (and each test file that fails to load) is appended to RESULTS as one
JSON line at once, so a run that tito must kill still reports every test that finished.
A test that runs longer than TEST_SECONDS is stopped with ``TimeLimitExceeded`` and fails alone.
Hypothesis reports the first failing example as it is: shrinking each failure of an
unfinished module costs tens of seconds and tells a student nothing more.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest
from hypothesis import Phase, settings


class TimeLimitExceeded(BaseException):
    """Raised inside a test that runs past its time limit (not an ordinary error it could catch)."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeLimitExceeded


class StreamResults:
    """A pytest plugin: one JSON line per test result, written and flushed when it is known."""

    def __init__(self, path: str, seconds: int) -> None:
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the whole run)
        self.seconds = seconds

    def _write(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.failed or report.skipped:
            if report.when != "call" and report.passed:
                return
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else str(report.longrepr or "")
            if report.failed and "TimeLimitExceeded" in report.longreprtext:
                message = f"TimeLimitExceeded: the test ran longer than {self.seconds} s"
            self._write(
                {
                    "nodeid": report.nodeid,
                    "outcome": report.outcome,
                    "when": report.when,
                    "message": message if report.failed else "",
                    "text": report.longreprtext if report.failed else "",
                }
            )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._write(
                {"nodeid": report.nodeid, "outcome": "load-error", "when": "collect", "message": "",
                 "text": report.longreprtext}
            )  # fmt: skip


def main() -> int:
    results, seconds, *args = sys.argv[1:]
    settings.register_profile(
        "tito", phases=(Phase.explicit, Phase.reuse, Phase.generate), report_multiple_bugs=False
    )
    return int(pytest.main([*args, "--hypothesis-profile=tito"], plugins=[StreamResults(results, int(seconds))]))


if __name__ == "__main__":
    sys.exit(main())
