"""Train a small convolutional network on the bundled 8x8 digits with the course's own framework.

The model is Module 09's layers with Module 04's: ``Conv2d(1, 16, 3, padding=1)``, ReLU,
``MaxPool2d(2)``, ``Conv2d(16, 32, 3, padding=1)``, ReLU, ``MaxPool2d(2)``, ``Flatten()`` and
``Linear(128, 10)``, trained with Module 05's ``CrossEntropyLoss``, Module 06's ``Adam`` and
``CosineAnnealingLR``, Module 07's ``Trainer`` and Module 08's ``DataLoader`` over the seeded
train/validation/test split of ``load_digits()``, each image reshaped to (1, 8, 8). The
settings (``SETTING``) are the best candidate by mean validation accuracy over three seeds
(``examples/choose_cnn_settings.py`` prints them all); the test split is used once, for
the final figure.

Run: ``python examples/train_digits_cnn.py``.
"""

from __future__ import annotations

import os

# One BLAS thread, set before NumPy loads OpenBLAS: the CNN's matrices are small, so it is as
# fast, and sums come out in the same order on every run (the tests pin it too).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import time
from dataclasses import dataclass

import numpy as np

from tinytorch.data import DataLoader, Subset, TensorDataset, fetch_batch, load_digits
from tinytorch.nn import Conv2d, CrossEntropyLoss, Flatten, Linear, MaxPool2d, ReLU, Sequential
from tinytorch.optim import Adam
from tinytorch.optim.lr_scheduler import CosineAnnealingLR
from tinytorch.tensor import manual_seed
from tinytorch.training import Trainer


@dataclass(frozen=True)
class Setting:
    """Adam at a learning rate with a cosine schedule over ``epochs``, and a batch size."""

    lr: float
    epochs: int
    batch_size: int

    def describe(self) -> str:
        return f"Adam lr={self.lr:g}, cosine, {self.epochs} epochs, batch {self.batch_size}"


# The best of examples/choose_cnn_settings.py's candidates by mean validation accuracy.
SETTING = Setting(lr=1e-2, epochs=20, batch_size=32)


def as_images(part: Subset) -> TensorDataset:
    """A split of ``load_digits()`` with each image as (1, 8, 8): one channel of 8x8 pixels."""
    pixels, labels = fetch_batch(part, np.arange(len(part)))
    return TensorDataset(pixels.reshape(len(part), 1, 8, 8), labels)


def digits_cnn() -> Sequential:
    """The CNN: two 3x3 convolutions (16 and 32 channels, 'same' padding), each followed by a
    ReLU and a 2x2 max pool (8x8 -> 4x4 -> 2x2), then a linear layer over the 32*2*2 features."""
    return Sequential(
        Conv2d(1, 16, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(16, 32, 3, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(32 * 2 * 2, 10),
    )


def cnn_trainer(setting: Setting, seed: int, progress: bool = False) -> tuple[Trainer, DataLoader]:
    """A fresh seeded model, Adam with a cosine schedule, and a shuffling loader over the training digits."""
    manual_seed(seed)
    model = digits_cnn()
    optimizer = Adam(model.parameters(), lr=setting.lr)
    trainer = Trainer(model, CrossEntropyLoss(), optimizer, scheduler=CosineAnnealingLR(optimizer, T_max=setting.epochs),
                      progress=progress)
    loader = DataLoader(as_images(load_digits().train), batch_size=setting.batch_size, shuffle=True,
                        generator=np.random.default_rng(seed))
    return trainer, loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=SETTING.epochs)
    args = parser.parse_args()

    digits = load_digits()
    setting = Setting(SETTING.lr, args.epochs, SETTING.batch_size)
    trainer, train = cnn_trainer(setting, args.seed, progress=True)
    val, test = DataLoader(as_images(digits.val), batch_size=512), DataLoader(as_images(digits.test), batch_size=512)
    print(f"model: {sum(p.size for p in trainer.model.parameters())} parameters; {setting.describe()}, seed {args.seed}")
    print(trainer.model)
    start = time.perf_counter()
    trainer.fit(train, setting.epochs, val_data=val)
    seconds = time.perf_counter() - start
    print(f"after training ({seconds:.1f} s): validation accuracy {trainer.evaluate(val)['accuracy']:.1%}")
    print(f"final test accuracy: {trainer.evaluate(test)['accuracy']:.1%}")


if __name__ == "__main__":
    main()
