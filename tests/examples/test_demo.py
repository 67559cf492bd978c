"""The README's demo trains for real: a few epochs already beat chance by far, and it draws its curve."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_learns_digits(tmp_path: Path) -> None:
    curve = tmp_path / "curve" / "digits.png"
    result = subprocess.run(
        [sys.executable, "examples/train_digits_mlp.py", "--epochs", "2", "--curve", str(curve)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    before = float(re.search(r"before training: validation accuracy ([\d.]+)%", result.stdout).group(1))
    after = float(re.search(r"after training \([\d.]+ s\): validation accuracy ([\d.]+)%", result.stdout).group(1))
    final = float(re.search(r"final test accuracy: ([\d.]+)%", result.stdout).group(1))
    # Ten classes: an untrained model sits near 10%. Two epochs of Adam reach about 90%.
    assert before < 30.0, result.stdout
    assert after > 80.0 and final > 80.0, result.stdout
    assert len(re.findall(r"^epoch +\d+ \| train loss", result.stdout, re.MULTILINE)) == 2, result.stdout
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "the learning curve should be written as a PNG"
