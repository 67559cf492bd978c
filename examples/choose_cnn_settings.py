"""How the digits CNN's training settings were chosen: validation accuracy, never the test split.

Trains the CNN of ``examples/train_digits_cnn.py`` with each candidate setting for three
seeds and prints the accuracy on the 359 validation digits after the last epoch, and its
mean over the seeds, and writes the table to ``examples/cnn_settings.json``. The setting
with the highest mean is the example's ``SETTING``; a test checks that against the table, and
retrains that setting to check that the table holds what this code computes. The test digits
are not read here.

Run: ``.venv/bin/python examples/choose_cnn_settings.py``.
"""

from __future__ import annotations

import os

# One BLAS thread, set before NumPy loads OpenBLAS: the CNN's matrices are small, so it is as
# fast, and sums come out in the same order on every run (the tests pin it too).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from tinytorch.data import DataLoader, load_digits

# The example is a script, not a package: load it from the file beside this one.
_SPEC = importlib.util.spec_from_file_location("train_digits_cnn", Path(__file__).resolve().parent / "train_digits_cnn.py")
example = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = example  # dataclasses look their module up there
_SPEC.loader.exec_module(example)
Setting = example.Setting

RESULTS = Path(__file__).resolve().with_name("cnn_settings.json")
SEEDS = (0, 1, 2)
CANDIDATES = (
    Setting(lr=1e-2, epochs=8, batch_size=32),
    Setting(lr=1e-2, epochs=12, batch_size=32),
    Setting(lr=3e-3, epochs=12, batch_size=32),
    Setting(lr=1e-2, epochs=12, batch_size=64),
    Setting(lr=1e-2, epochs=16, batch_size=32),
    Setting(lr=1e-2, epochs=20, batch_size=32),
)


def validation_accuracy(setting: Setting, seed: int) -> float:
    """Accuracy on the validation split after training with ``setting`` from ``seed``."""
    trainer, loader = example.cnn_trainer(setting, seed)
    trainer.fit(loader, setting.epochs)
    return trainer.evaluate(DataLoader(example.as_images(load_digits().val), batch_size=512))["accuracy"]


def main() -> None:
    print(f"validation accuracy after training, seeds {list(SEEDS)}:")
    table = {}
    for setting in CANDIDATES:
        accuracies = [validation_accuracy(setting, seed) for seed in SEEDS]
        table[setting.describe()] = accuracies
        shown = " ".join(f"{a:.1%}" for a in accuracies)
        print(f"  {setting.describe():<44} {shown}   mean {np.mean(accuracies):.2%}")
    RESULTS.write_text(json.dumps({"seeds": list(SEEDS), "validation_accuracy": table}, indent=1) + "\n", encoding="utf-8")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
