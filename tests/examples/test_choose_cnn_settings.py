"""The digits CNN example's settings are the ones with the best validation accuracy among the candidates."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "choose_cnn_settings.py"


def load_script():
    spec = importlib.util.spec_from_file_location("choose_cnn_settings", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_uses_the_setting_with_the_best_mean_validation_accuracy(one_blas_thread: None) -> None:
    script = load_script()
    means = {
        setting: np.mean([script.validation_accuracy(setting, seed) for seed in script.SEEDS])
        for setting in script.CANDIDATES
    }
    best = max(means, key=means.get)
    assert best == script.example.SETTING, means
    assert all(0.9 < mean <= 1.0 for mean in means.values()), means  # every candidate really trains
