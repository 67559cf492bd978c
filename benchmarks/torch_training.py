"""The digits MLP step and Adam step of ``benchmarks.training`` in PyTorch eager mode.

PyTorch is an optional extra: import this module only after checking that torch is
installed (``benchmarks.harness.torch_available``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from benchmarks.numpy_training import NumpyMLP


def torch_mlp(weights: NumpyMLP) -> torch.nn.Sequential:
    """``Linear -> ReLU -> Linear`` holding copies of ``weights`` (same (out, in) layout)."""
    w1, b1, w2, b2 = weights.arrays()
    model = torch.nn.Sequential(torch.nn.Linear(w1.shape[1], w1.shape[0]), torch.nn.ReLU(),
                                torch.nn.Linear(w2.shape[1], w2.shape[0]))
    with torch.no_grad():
        for parameter, array in zip(model.parameters(), (w1, b1, w2, b2)):
            parameter.copy_(torch.from_numpy(array))
    return model


class TorchMLPStep:
    """One SGD training step on a fixed batch: zero_grad, forward, cross-entropy, backward, step."""

    def __init__(self, weights: NumpyMLP, x: np.ndarray, labels: np.ndarray, lr: float) -> None:
        self.model = torch_mlp(weights)
        self.x = torch.from_numpy(x.copy())
        self.labels = torch.from_numpy(labels.copy())
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)

    def __call__(self) -> torch.Tensor:
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(self.x), self.labels)
        loss.backward()
        self.optimizer.step()
        return loss

    def parameter_arrays(self) -> list[np.ndarray]:
        return [parameter.detach().numpy().copy() for parameter in self.model.parameters()]


def torch_adam_step(weights: NumpyMLP, grads: list[np.ndarray]) -> Callable[[], object]:
    """``torch.optim.Adam.step`` over the MLP's parameters with ``grads`` fixed."""
    model = torch_mlp(weights)
    for parameter, grad in zip(model.parameters(), grads):
        parameter.grad = torch.from_numpy(grad.copy())
    return torch.optim.Adam(model.parameters(), lr=1e-3).step


def version() -> str:
    return torch.__version__
