"""How the demo's training settings were chosen: validation accuracy, never the test split.

Trains the digits MLP of ``examples/train_digits_mlp.py`` (64 -> 128 -> 10, ReLU, batch 32)
with each candidate setting for four seeds and prints the accuracy on the 359 validation
digits after the last epoch, and its mean over the seeds. The setting with the highest mean
is the demo's. The test digits are not read here.

Run: ``.venv/bin/python examples/choose_digits_settings.py`` (about half a minute).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinytorch.data import DataLoader, load_digits
from tinytorch.nn import CrossEntropyLoss, Linear, ReLU, Sequential
from tinytorch.optim import SGD, Adam
from tinytorch.optim.lr_scheduler import CosineAnnealingLR, StepLR
from tinytorch.tensor import manual_seed
from tinytorch.training import Trainer

SEEDS = (0, 1, 2, 3)
BATCH_SIZE = 32


@dataclass(frozen=True)
class Setting:
    """An optimizer at a learning rate, a schedule and a number of epochs."""

    optimizer: str  # "adam", or "sgd" (momentum 0.9)
    lr: float
    epochs: int
    schedule: str  # "step4" (StepLR(4, 0.3)) or "cosine" (CosineAnnealingLR over all epochs)

    def describe(self) -> str:
        return f"{self.optimizer} lr={self.lr:g}, {self.schedule}, {self.epochs} epochs"


CANDIDATES = (
    Setting("adam", 1e-2, 8, "step4"),
    Setting("adam", 1e-2, 10, "cosine"),
    Setting("adam", 3e-3, 15, "cosine"),
    Setting("adam", 1e-2, 15, "cosine"),
    Setting("sgd", 5e-2, 15, "cosine"),
)


def validation_accuracy(setting: Setting, seed: int) -> float:
    """Accuracy on the validation split after training with ``setting`` from ``seed``."""
    digits = load_digits()
    manual_seed(seed)
    model = Sequential(Linear(64, 128), ReLU(), Linear(128, 10))
    if setting.optimizer == "adam":
        optimizer = Adam(model.parameters(), lr=setting.lr)
    else:
        optimizer = SGD(model.parameters(), lr=setting.lr, momentum=0.9)
    if setting.schedule == "step4":
        scheduler = StepLR(optimizer, step_size=4, gamma=0.3)
    else:
        scheduler = CosineAnnealingLR(optimizer, T_max=setting.epochs)
    trainer = Trainer(model, CrossEntropyLoss(), optimizer, scheduler=scheduler, progress=False)
    loader = DataLoader(digits.train, batch_size=BATCH_SIZE, shuffle=True, generator=np.random.default_rng(seed))
    trainer.fit(loader, setting.epochs)
    return trainer.evaluate(DataLoader(digits.val, batch_size=512))["accuracy"]


def main() -> None:
    print(f"validation accuracy after training, seeds {list(SEEDS)}:")
    for setting in CANDIDATES:
        accuracies = [validation_accuracy(setting, seed) for seed in SEEDS]
        shown = " ".join(f"{a:.1%}" for a in accuracies)
        print(f"  {setting.describe():<34} {shown}   mean {np.mean(accuracies):.2%}")


if __name__ == "__main__":
    main()
