"""The digits MLP built from modules 01-08 and trained with the Trainer: the course's end-to-end check.

64 -> 128 -> 10 with a ReLU, CrossEntropyLoss (05), Adam with a cosine schedule (06), the Trainer (07),
DataLoader and load_digits (08), all seeded. The accuracy is measured on the 359 test digits
that play no part in training.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tinytorch.data import DataLoader, load_digits
from tinytorch.nn import CrossEntropyLoss, Linear, ReLU, Sequential
from tinytorch.optim import Adam
from tinytorch.optim.lr_scheduler import CosineAnnealingLR
from tinytorch.tensor import manual_seed
from tinytorch.training import Trainer

EPOCHS = 15  # with Adam at 0.01 and a cosine schedule: chosen by validation accuracy (examples/choose_digits_settings.py)


def digits_trainer(seed: int = 0, epochs: int = EPOCHS) -> tuple[Trainer, DataLoader]:
    """A fresh seeded model, optimizer, scheduler and shuffling loader (the recipe of examples/train_digits_mlp.py)."""
    manual_seed(seed)
    model = Sequential(Linear(64, 128), ReLU(), Linear(128, 10))
    optimizer = Adam(model.parameters(), lr=1e-2)
    trainer = Trainer(model, CrossEntropyLoss(), optimizer, scheduler=CosineAnnealingLR(optimizer, T_max=epochs),
                      progress=False)
    loader = DataLoader(load_digits().train, batch_size=32, shuffle=True, generator=np.random.default_rng(seed))
    return trainer, loader


def test_digits_mlp_reaches_97_percent_test_accuracy_quickly() -> None:
    digits = load_digits()
    start = time.perf_counter()
    trainer, loader = digits_trainer()
    before = trainer.evaluate(DataLoader(digits.test, batch_size=512))["accuracy"]
    trainer.fit(loader, EPOCHS, val_data=DataLoader(digits.val, batch_size=512))
    test = trainer.evaluate(DataLoader(digits.test, batch_size=512))
    seconds = time.perf_counter() - start
    assert before < 0.3, f"an untrained model should be near chance (10%), got {before:.1%}"
    assert test["samples"] == 359
    assert test["accuracy"] >= 0.97, f"test accuracy {test['accuracy']:.1%} after {EPOCHS} epochs; history: {trainer.history}"
    assert trainer.history[-1]["val_accuracy"] >= 0.95
    lrs = trainer.history.metric("lr")
    assert lrs[0] == 1e-2 and all(a > b for a, b in zip(lrs, lrs[1:])), lrs  # the cosine schedule decays
    assert seconds < 30, f"training took {seconds:.1f} s"


def test_digits_resume_from_a_checkpoint_is_bit_for_bit(tmp_path: Path) -> None:
    straight, loader = digits_trainer(seed=3)
    straight.fit(loader, 4)

    first, loader = digits_trainer(seed=3)
    first.fit(loader, 2)
    first.save_checkpoint(tmp_path / "digits.npz")
    manual_seed(99)  # a restarted program: every object new, the global generator elsewhere
    resumed, fresh_loader = digits_trainer(seed=3)
    resumed.load_checkpoint(tmp_path / "digits.npz")
    resumed.fit(fresh_loader, 2)

    for (name, a), (_, b) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        assert np.array_equal(a.numpy(), b.numpy()), f"{name} differs after resuming"
    for key in ("epoch", "train_loss", "train_accuracy", "lr"):
        assert straight.history.metric(key) == resumed.history.metric(key), key
    assert straight.optimizer.state_dict()["param_groups"][0]["lr"] == resumed.optimizer.state_dict()["param_groups"][0]["lr"]
