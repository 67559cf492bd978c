"""Train a two-layer perceptron on the bundled 8x8 digits with the course's own framework.

The model is Module 04's ``Sequential(Linear(64, 128), ReLU(), Linear(128, 10))``, trained
with Module 05's ``CrossEntropyLoss``, Module 06's ``Adam`` and ``CosineAnnealingLR``, Module 07's
``Trainer`` (a progress bar on a terminal, one line per epoch) and Module 08's
``DataLoader`` over the seeded train/validation/test split of ``load_digits()``. The
learning curve goes to ``build/demo/digits_curve.png``. The settings (Adam at 0.01, cosine
schedule, 15 epochs) are the best of five candidates by mean validation accuracy over four
seeds (``examples/choose_digits_settings.py`` prints them); the test split is used once,
for the final figure.

Run: ``python examples/train_digits_mlp.py`` (``make demo`` does it in the venv).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tinytorch.data import DataLoader, load_digits
from tinytorch.nn import CrossEntropyLoss, Linear, ReLU, Sequential
from tinytorch.optim import Adam
from tinytorch.optim.lr_scheduler import CosineAnnealingLR
from tinytorch.tensor import manual_seed
from tinytorch.training import Trainer, plot_history

CURVE = Path(__file__).resolve().parent.parent / "build" / "demo" / "digits_curve.png"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--curve", type=Path, default=CURVE, help="where to write the learning curve (PNG)")
    args = parser.parse_args(argv)

    digits = load_digits()
    manual_seed(args.seed)
    model = Sequential(Linear(64, args.hidden), ReLU(), Linear(args.hidden, 10))
    optimizer = Adam(model.parameters(), lr=args.lr)
    trainer = Trainer(model, CrossEntropyLoss(), optimizer, scheduler=CosineAnnealingLR(optimizer, T_max=args.epochs))
    train = DataLoader(digits.train, batch_size=args.batch_size, shuffle=True, generator=np.random.default_rng(args.seed))
    val, test = DataLoader(digits.val, batch_size=512), DataLoader(digits.test, batch_size=512)

    print(f"digits: {len(digits.train)} training, {len(digits.val)} validation and {len(digits.test)} test images "
          "of 8x8 pixels, 10 classes")
    print(f"model: 64 -> {args.hidden} -> 10 MLP, {sum(p.size for p in model.parameters())} parameters; Adam "
          f"lr={args.lr} with a cosine schedule, batch {args.batch_size}, {args.epochs} epochs, seed {args.seed}")
    print(f"before training: validation accuracy {trainer.evaluate(val)['accuracy']:.1%}")
    start = time.perf_counter()
    trainer.fit(train, args.epochs, val_data=val)
    seconds = time.perf_counter() - start
    print(f"after training ({seconds:.1f} s): validation accuracy {trainer.evaluate(val)['accuracy']:.1%}")
    print(f"final test accuracy: {trainer.evaluate(test)['accuracy']:.1%}")
    plot_history(trainer.history, args.curve)
    print(f"learning curve written to {args.curve}")


if __name__ == "__main__":
    main()
