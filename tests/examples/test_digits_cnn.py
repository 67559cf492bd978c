"""The digits CNN of examples/train_digits_cnn.py, trained with the Trainer: Module 09's end-to-end check.

Conv2d, ReLU, MaxPool2d, Flatten (09) and Linear (04), CrossEntropyLoss (05), Adam with a
cosine schedule (06), the Trainer (07), DataLoader and load_digits (08), all seeded, with
the settings the example chose by validation accuracy. The accuracy is measured on the
359 test digits that play no part in training or in choosing the settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType

from tinytorch.data import DataLoader, load_digits


def test_digits_cnn_reaches_98_percent_test_accuracy(one_blas_thread: None, load_example: Callable[[str], ModuleType]) -> None:
    example = load_example("train_digits_cnn")
    digits = load_digits()
    test_data = DataLoader(example.as_images(digits.test), batch_size=512)
    start = time.perf_counter()
    trainer, loader = example.cnn_trainer(example.SETTING, seed=0)
    before = trainer.evaluate(test_data)["accuracy"]
    trainer.fit(loader, example.SETTING.epochs, val_data=DataLoader(example.as_images(digits.val), batch_size=512))
    test = trainer.evaluate(test_data)
    seconds = time.perf_counter() - start
    assert before < 0.3, f"an untrained model should be near chance (10%), got {before:.1%}"
    assert test["samples"] == 359
    assert test["accuracy"] >= 0.98, f"test accuracy {test['accuracy']:.1%}; history: {trainer.history}"
    assert trainer.history[-1]["val_accuracy"] >= 0.97
    lrs = trainer.history.metric("lr")
    assert lrs[0] == example.SETTING.lr and all(a > b for a, b in zip(lrs, lrs[1:])), lrs  # the cosine schedule decays
    assert seconds < 60, f"training took {seconds:.1f} s"
