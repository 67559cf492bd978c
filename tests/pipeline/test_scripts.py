"""Each module script runs top to bottom as plain Python (DESIGN §4)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pipeline_support import MODULES, REPO_ROOT, module_id

from tito.course import ModuleInfo

pytestmark = pytest.mark.pipeline

# A module script runs in seconds (modules/README.md); this only stops a hang.
SCRIPT_TIMEOUT_SECONDS = 300


@pytest.mark.parametrize("info", MODULES, ids=module_id)
def test_module_script_runs_as_plain_python(info: ModuleInfo) -> None:
    script = info.script.relative_to(REPO_ROOT)
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
        check=False,
    )
    assert run.returncode == 0, f"`python {script}` failed:\n{run.stderr[-3000:]}"
