"""The digits MLP trained by hand in NumPy: the floor the framework is measured against.

The model is ``Linear(64, 128) -> ReLU -> Linear(128, 10)`` with weights laid out as
``torch.nn.Linear``'s, ``(out, in)``. The step uses the closed-form gradient of the mean
softmax cross-entropy, ``(softmax(logits) - onehot) / B``, and updates the arrays in
place, as one would write it without a framework.

Shapes: x (B, 64) float32, labels (B,) int64, w1 (128, 64), b1 (128,), w2 (10, 128), b2 (10,).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

NAMES = ("w1", "b1", "w2", "b2")


@dataclass
class NumpyMLP:
    """Parameters of the MLP as float32 arrays, in ``state_dict`` order."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def arrays(self) -> list[np.ndarray]:
        return [self.w1, self.b1, self.w2, self.b2]

    def copy(self) -> NumpyMLP:
        return NumpyMLP(*(array.copy() for array in self.arrays()))


def init_mlp(sizes: tuple[int, int, int], seed: int) -> NumpyMLP:
    """PyTorch's default Linear initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), seeded."""
    rng = np.random.default_rng(seed)
    d_in, hidden, d_out = sizes

    def uniform(fan_in: int, *shape: int) -> np.ndarray:
        bound = 1.0 / math.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    return NumpyMLP(uniform(d_in, hidden, d_in), uniform(d_in, hidden), uniform(hidden, d_out, hidden), uniform(hidden, d_out))


def forward_backward(mlp: NumpyMLP, x: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray, list[np.ndarray]]:
    """Mean cross-entropy, the logits (B, 10) and the gradients of w1, b1, w2, b2."""
    batch = x.shape[0]
    rows = np.arange(batch)
    pre = x @ mlp.w1.T + mlp.b1
    active = pre > 0
    hidden = pre * active
    logits = hidden @ mlp.w2.T + mlp.b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    total = exps.sum(axis=1, keepdims=True)
    loss = float(np.log(total).mean() - shifted[rows, labels].mean())

    grad_logits = exps / total
    grad_logits[rows, labels] -= 1.0
    grad_logits /= batch
    grad_hidden = (grad_logits @ mlp.w2) * active
    grads = [grad_hidden.T @ x, grad_hidden.sum(axis=0), grad_logits.T @ hidden, grad_logits.sum(axis=0)]
    return loss, logits, grads


def sgd_step(mlp: NumpyMLP, x: np.ndarray, labels: np.ndarray, lr: float) -> float:
    """One training step: forward, closed-form backward, ``p -= lr * g`` in place; the loss."""
    loss, _, grads = forward_backward(mlp, x, labels)
    for param, grad in zip(mlp.arrays(), grads):
        grad *= lr
        param -= grad
    return loss


def train_epoch(mlp: NumpyMLP, x: np.ndarray, labels: np.ndarray, batch_size: int, lr: float,
                rng: np.random.Generator) -> tuple[float, float]:
    """One shuffled epoch of ``sgd_step``; (sample-weighted mean loss, accuracy), as a Trainer reports."""
    order = rng.permutation(len(x))
    loss_sum, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        chosen = order[start:start + batch_size]
        xb, yb = x[chosen], labels[chosen]
        loss, logits, grads = forward_backward(mlp, xb, yb)
        for param, grad in zip(mlp.arrays(), grads):
            grad *= lr
            param -= grad
        loss_sum += loss * len(chosen)
        correct += int((logits.argmax(axis=1) == yb).sum())
    return loss_sum / len(x), correct / len(x)


@dataclass
class NumpyAdam:
    """Adam (Kingma and Ba, 2015, with PyTorch's placement of eps), written by hand in place."""

    params: list[np.ndarray]
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    steps: int = 0
    exp_avg: list[np.ndarray] = field(default_factory=list)
    exp_avg_sq: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.exp_avg = [np.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [np.zeros_like(p) for p in self.params]

    def step(self, grads: list[np.ndarray]) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        step_size = self.lr / (1.0 - beta1**self.steps)
        root_correction = math.sqrt(1.0 - beta2**self.steps)
        for param, grad, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq):
            m *= beta1
            m += (1.0 - beta1) * grad
            v *= beta2
            v += (1.0 - beta2) * grad * grad
            denom = np.sqrt(v)
            denom /= root_correction
            denom += self.eps
            param -= step_size * m / denom
