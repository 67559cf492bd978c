"""The digits CNN example's settings are the best, by mean validation accuracy, of the
comparison ``examples/choose_cnn_settings.py`` wrote to ``examples/cnn_settings.json``.

Retraining all 18 candidate runs would take most of a minute here, so the test reads the
committed table and retrains the chosen setting from the first seed, which must give the
table's figure exactly (one BLAS thread makes it reproducible): the table is what the code
computes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType

import numpy as np


def test_the_example_uses_the_setting_with_the_best_mean_validation_accuracy(one_blas_thread: None, load_example: Callable[[str], ModuleType]) -> None:
    script = load_example("choose_cnn_settings")
    saved = json.loads(script.RESULTS.read_text(encoding="utf-8"))
    table = saved["validation_accuracy"]
    assert saved["seeds"] == list(script.SEEDS)
    assert list(table) == [setting.describe() for setting in script.CANDIDATES], "rerun examples/choose_cnn_settings.py"
    means = {name: np.mean(accuracies) for name, accuracies in table.items()}
    chosen = script.example.SETTING.describe()
    assert max(means, key=means.get) == chosen, means
    assert all(0.9 < mean <= 1.0 for mean in means.values()), means  # every candidate really trains
    retrained = script.validation_accuracy(script.example.SETTING, script.SEEDS[0])
    assert retrained == table[chosen][0], "the table is not what the code computes: rerun examples/choose_cnn_settings.py"
