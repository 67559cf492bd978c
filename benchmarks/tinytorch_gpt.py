"""tinytorch's GPT (Module 14, ``tinytorch.models.gpt``) as a candidate of ``benchmarks.gpt``,
built from the weight dict of ``benchmarks.numpy_gpt``.

The training step is what a tinytorch user writes: ``zero_grad``, ``model(idx)``,
``CrossEntropyLoss`` on the flattened logits, ``backward``, ``AdamW.step``. Decoding is
``GPT.generate(prompt, n, temperature=0)`` without a cache. ``UnderBackend`` and
``decoder_under`` run the same candidates under a Module 16 backend.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.numpy_gpt import LN_EPS, GPTShape, Weights
from tinytorch.autograd import no_grad
from tinytorch.backends import Backend
from tinytorch.models.gpt import GPT, GPTConfig
from tinytorch.nn import CrossEntropyLoss
from tinytorch.optim import AdamW
from tinytorch.tensor import Tensor


def tinytorch_gpt(shape: GPTShape, weights: Weights) -> GPT:
    """``GPT`` of ``shape`` holding copies of ``weights`` (the same state_dict names; lm_head tied)."""
    model = GPT(GPTConfig(vocab_size=shape.vocab_size, max_seq_len=shape.max_seq_len, n_layer=shape.n_layer,
                          n_head=shape.n_head, n_embd=shape.n_embd))
    norms = [module for name, module in model.named_modules() if name.endswith(("ln_1", "ln_2", "ln_f"))]
    if any(module.eps != LN_EPS for module in norms):
        raise ValueError(f"tinytorch's LayerNorm eps differs from the benchmark's {LN_EPS}")
    model.load_state_dict({name: Tensor(array.copy()) for name, array in weights.items()})
    return model


class TinytorchTrainStep:
    """One training step on a fixed batch: zero_grad, forward, cross-entropy, backward, AdamW step."""

    def __init__(self, shape: GPTShape, weights: Weights, idx: np.ndarray, targets: np.ndarray, lr: float) -> None:
        self.model = tinytorch_gpt(shape, weights)
        self.idx = Tensor(idx, dtype=np.int64)
        self.targets = Tensor(targets.reshape(-1), dtype=np.int64)
        self.loss_fn = CrossEntropyLoss()
        self.optimizer = AdamW(self.model.parameters(), lr=lr)

    def _loss(self) -> Tensor:
        logits = self.model(self.idx)
        return self.loss_fn(logits.reshape(-1, logits.shape[-1]), self.targets)

    def __call__(self) -> Tensor:
        self.optimizer.zero_grad()
        loss = self._loss()
        loss.backward()
        self.optimizer.step()
        return loss

    def loss_and_grads(self) -> tuple[float, Weights]:
        """Loss and gradients from the current weights, without updating them."""
        self.optimizer.zero_grad()
        loss = self._loss()
        loss.backward()
        return loss.item(), {name: p.grad.data.copy() for name, p in self.model.named_parameters()}

    def weight_arrays(self) -> Weights:
        return {name: p.data.copy() for name, p in self.model.named_parameters()}

    def logits(self, idx: np.ndarray) -> np.ndarray:
        """The model's logits (B, T, V) for token ids ``idx`` (B, T), without recording a graph."""
        with no_grad():
            return self.model(np.asarray(idx, dtype=np.int64)).data


def greedy_decoder(shape: GPTShape, weights: Weights, prompt: np.ndarray,
                   max_new_tokens: int) -> Callable[[], np.ndarray]:
    """``GPT.generate`` greedily (temperature 0), without a cache, from ``prompt`` (B, T0)."""
    model = tinytorch_gpt(shape, weights)
    start = np.asarray(prompt, dtype=np.int64)
    return lambda: model.generate(start, max_new_tokens, temperature=0.0).data


class UnderBackend:
    """A training step whose every call (step, logits, loss and gradients) runs inside ``with backend:``.

    The backend is enabled and disabled around each call, so the candidates timed beside
    this one in the same rounds run on the default kernels.
    """

    def __init__(self, step: TinytorchTrainStep, backend: Backend) -> None:
        self.step, self.backend = step, backend

    def __call__(self) -> Tensor:
        with self.backend:
            return self.step()

    def loss_and_grads(self) -> tuple[float, Weights]:
        with self.backend:
            return self.step.loss_and_grads()

    def weight_arrays(self) -> Weights:
        return self.step.weight_arrays()

    def logits(self, idx: np.ndarray) -> np.ndarray:
        with self.backend:
            return self.step.logits(idx)


def decoder_under(backend: Backend, decode: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    """``decode`` run inside ``with backend:`` at every call."""
    def run() -> np.ndarray:
        with backend:
            return decode()
    return run
