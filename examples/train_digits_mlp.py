"""Train a two-layer perceptron on the bundled 8x8 digits with modules 01-02 only.

Everything here is built from ``Tensor`` operations and ``backward()``: the ReLU is
``h * (h > 0)``, the loss a numerically stable softmax cross-entropy written with
``max``/``exp``/``sum``/``log``, and the update plain SGD under ``no_grad``. Layers,
losses and optimizers arrive as classes in Modules 03-06.

Run: ``python examples/train_digits_mlp.py`` (``make demo`` does it in the venv).
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np

import tinytorch.autograd  # noqa: F401  (installs the graph recorder and backward engine)
from tinytorch.autograd import no_grad
from tinytorch.tensor import Tensor

DIGITS_FILE = Path(__file__).resolve().parent.parent / "data" / "digits" / "digits.csv.gz"


def load_digits(path: Path = DIGITS_FILE) -> tuple[np.ndarray, np.ndarray]:
    """Images as float32 (N, 64) scaled to [0, 1] and labels as int64 (N,)."""
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    return (table[:, :64] / 16.0).astype(np.float32), table[:, 64]


def split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train and test indices."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return order[n_test:], order[:n_test]


def cross_entropy(logits: Tensor, labels: np.ndarray) -> Tensor:
    """Mean softmax cross-entropy of (B, C) logits against integer labels (B,)."""
    shifted = logits - logits.max(axis=1, keepdims=True).detach()  # stability; cancels exactly
    log_probs = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
    return -log_probs[np.arange(len(labels)), labels].mean()


class MLP:
    """64 -> hidden -> 10 with a ReLU, weights scaled by 1/sqrt(fan_in)."""

    def __init__(self, hidden: int, rng: np.random.Generator) -> None:
        self.w1 = Tensor(rng.standard_normal((64, hidden)) / np.sqrt(64), requires_grad=True)
        self.b1 = Tensor(np.zeros(hidden), requires_grad=True)
        self.w2 = Tensor(rng.standard_normal((hidden, 10)) / np.sqrt(hidden), requires_grad=True)
        self.b2 = Tensor(np.zeros(10), requires_grad=True)

    def parameters(self) -> list[Tensor]:
        return [self.w1, self.b1, self.w2, self.b2]

    def __call__(self, x: Tensor) -> Tensor:
        hidden = x @ self.w1 + self.b1
        return (hidden * (hidden > 0)) @ self.w2 + self.b2


def accuracy(model: MLP, images: np.ndarray, labels: np.ndarray) -> float:
    with no_grad():
        predictions = model(Tensor(images)).numpy().argmax(axis=1)
    return float((predictions == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    images, labels = load_digits()
    train, test = split(len(labels), test_fraction=0.2, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    model = MLP(args.hidden, rng)
    print(f"digits: {len(train)} training and {len(test)} held-out images of 8x8 pixels, 10 classes")
    print(f"model: 64 -> {args.hidden} -> 10 MLP, {sum(p.size for p in model.parameters())} parameters; "
          f"SGD lr={args.lr}, batch {args.batch_size}, {args.epochs} epochs, seed {args.seed}")
    print(f"before training: held-out accuracy {accuracy(model, images[test], labels[test]):.1%}")

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(train)
        losses = []
        for first in range(0, len(order), args.batch_size):
            batch = order[first : first + args.batch_size]
            loss = cross_entropy(model(Tensor(images[batch])), labels[batch])
            for parameter in model.parameters():
                parameter.grad = None
            loss.backward()
            with no_grad():
                for parameter in model.parameters():
                    parameter.data -= args.lr * parameter.grad.data
            losses.append(loss.item())
        if epoch == 1 or epoch % 5 == 0 or epoch == args.epochs:
            print(f"epoch {epoch:>3}: mean training loss {np.mean(losses):.4f}, "
                  f"held-out accuracy {accuracy(model, images[test], labels[test]):.1%}")
    seconds = time.perf_counter() - start
    print(f"trained in {seconds:.1f} s; final accuracy: training {accuracy(model, images[train], labels[train]):.1%}, "
          f"held-out {accuracy(model, images[test], labels[test]):.1%}")


if __name__ == "__main__":
    main()
