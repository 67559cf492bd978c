"""The README's demo trains for real: a few epochs already beat chance by far."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_learns_digits() -> None:
    result = subprocess.run(
        [sys.executable, "examples/train_digits_mlp.py", "--epochs", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    before = float(re.search(r"before training: held-out accuracy ([\d.]+)%", result.stdout).group(1))
    final = float(re.search(r"final accuracy: training [\d.]+%, held-out ([\d.]+)%", result.stdout).group(1))
    # Ten classes: an untrained model sits near 10%. Three epochs of SGD reach about 90%.
    assert before < 30.0, result.stdout
    assert final > 80.0, result.stdout
