"""The GPT of ``benchmarks.numpy_gpt`` in PyTorch eager mode, built from the same weight dict.

Written as a PyTorch user would: ``nn.Linear``, ``nn.LayerNorm``, ``nn.Embedding``,
``F.scaled_dot_product_attention(is_causal=True)``, ``F.gelu(approximate="tanh")``,
``F.cross_entropy`` and ``torch.optim.AdamW``. The module names match the weight dict's
keys, so ``load_state_dict`` takes it directly; ``lm_head.weight`` is the token embedding's
Parameter (tied).

PyTorch is an optional extra: import this module only after checking that torch is
installed (``benchmarks.harness.torch_available``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.numpy_gpt import LN_EPS, GPTShape, Weights


class Attention(nn.Module):
    def __init__(self, shape: GPTShape) -> None:
        super().__init__()
        self.n_head = shape.n_head
        self.in_proj = nn.Linear(shape.n_embd, 3 * shape.n_embd)
        self.out_proj = nn.Linear(shape.n_embd, shape.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, E = x.shape
        q, k, v = self.in_proj(x).view(B, T, 3, self.n_head, E // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, E))


class MLP(nn.Module):
    def __init__(self, shape: GPTShape) -> None:
        super().__init__()
        self.fc = nn.Linear(shape.n_embd, 4 * shape.n_embd)
        self.proj = nn.Linear(4 * shape.n_embd, shape.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, shape: GPTShape) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(shape.n_embd, eps=LN_EPS)
        self.attn = Attention(shape)
        self.ln_2 = nn.LayerNorm(shape.n_embd, eps=LN_EPS)
        self.mlp = MLP(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TorchGPT(nn.Module):
    """The benchmark GPT; ``forward(idx (B, T)) -> logits (B, T, V)``."""

    def __init__(self, shape: GPTShape, weights: Weights) -> None:
        super().__init__()
        self.shape = shape
        self.tok_emb = nn.Embedding(shape.vocab_size, shape.n_embd)
        self.pos_emb = nn.Embedding(shape.max_seq_len, shape.n_embd)
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.n_layer))
        self.ln_f = nn.LayerNorm(shape.n_embd, eps=LN_EPS)
        self.lm_head = nn.Linear(shape.n_embd, shape.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # tied
        state = {name: torch.from_numpy(array.copy()) for name, array in weights.items()}
        state["lm_head.weight"] = state["tok_emb.weight"]
        self.load_state_dict(state)

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(idx.shape[1])
        x = self.tok_emb(idx) + self.pos_emb(positions)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.hidden(idx))

    def weight_arrays(self) -> Weights:
        """The parameters as NumPy copies, keyed as the weight dict (the tied lm_head left out)."""
        return {name: p.detach().numpy().copy() for name, p in self.named_parameters() if name != "lm_head.weight"}


class TorchTrainStep:
    """One training step: zero_grad, forward, cross-entropy, backward, AdamW step (torch's defaults but ``lr``)."""

    def __init__(self, shape: GPTShape, weights: Weights, idx: np.ndarray, targets: np.ndarray, lr: float) -> None:
        self.model = TorchGPT(shape, weights)
        self.idx = torch.from_numpy(idx.copy())
        self.targets = torch.from_numpy(targets.copy()).reshape(-1)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr)

    def loss_and_grads(self) -> tuple[float, Weights]:
        """Loss and gradients from the current weights, without updating them."""
        self.optimizer.zero_grad()
        loss = self._loss()
        loss.backward()
        grads = {name: p.grad.numpy().copy() for name, p in self.model.named_parameters() if name != "lm_head.weight"}
        return loss.item(), grads

    def weight_arrays(self) -> Weights:
        return self.model.weight_arrays()

    def logits(self, idx: np.ndarray) -> np.ndarray:
        """The model's logits (B, T, V) for token ids ``idx`` (B, T), as NumPy."""
        with torch.no_grad():
            return self.model(torch.from_numpy(np.asarray(idx, dtype=np.int64))).numpy()

    def _loss(self) -> torch.Tensor:
        logits = self.model(self.idx)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), self.targets)

    def __call__(self) -> torch.Tensor:
        self.optimizer.zero_grad()
        loss = self._loss()
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def greedy_decoder(shape: GPTShape, weights: Weights, prompt: np.ndarray,
                   max_new_tokens: int) -> Callable[[], np.ndarray]:
    """A function decoding ``max_new_tokens`` greedily from ``prompt`` without a cache.

    Like ``numpy_gpt.greedy_decode``: the whole sequence is recomputed every step, and only
    the last position goes through ``lm_head``. Runs under ``torch.inference_mode``.
    """
    model = TorchGPT(shape, weights).eval()
    start = torch.from_numpy(np.asarray(prompt, dtype=np.int64).copy())

    def decode() -> np.ndarray:
        with torch.inference_mode():
            tokens = start
            for _ in range(max_new_tokens):
                last = model.hidden(tokens)[:, -1]
                next_tokens = model.lm_head(last).argmax(dim=-1, keepdim=True)
                tokens = torch.cat([tokens, next_tokens], dim=1)
        return tokens.numpy()

    return decode


def version() -> str:
    return torch.__version__
