"""The README's demo trains for real and lets the reference GPT write: a few epochs already beat
chance by far, the curve is drawn, and the GPT's sample is made of corpus words."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_learns_digits_and_samples_the_gpt(tmp_path: Path) -> None:
    curve = tmp_path / "curve" / "digits.png"
    result = subprocess.run(
        [sys.executable, "examples/demo.py", "--epochs", "2", "--curve", str(curve), "--tokens", "60"],
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
    # The GPT part: the committed model is loaded (not trained) and writes 60 tokens of story.
    assert "training it now" not in result.stdout, result.stdout
    sample = result.stdout.split("GPT sample", 1)[1].split("\n", 1)[1]
    corpus = set(re.findall(r"[A-Za-z]+", (ROOT / "data" / "corpus" / "stories.txt").read_text(encoding="utf-8")))
    words = re.findall(r"[A-Za-z]+", sample)
    assert len(words) >= 15 and sum(word in corpus for word in words) >= 0.8 * len(words), sample
