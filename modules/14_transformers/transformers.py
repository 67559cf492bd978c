# %% [markdown]
# # Module 14: Transformers
#
# Modules 10–13 built the parts: `LayerNorm`, a byte-pair tokenizer, token and position
# embeddings, and causal multi-head attention with a cache hook. In this module you put
# them together into a **GPT**: a decoder-only transformer that reads token ids and
# predicts, at every position, a score (logit) for each possible next token. Then you make
# it write text, one token at a time.
#
# **What you will write**
#
# - `block_forward`: one pre-norm transformer block, `x + attn(ln_1(x))` then
#   `x + mlp(ln_2(x))`;
# - `gpt_forward`: token embedding, position embedding (starting where a cache left off),
#   the blocks, the final norm and the output head;
# - `sample_next_token`: one step of decoding, greedy, with a temperature, or from the top k;
# - `generate_tokens`: the decoding loop, with a KV cache (one pass over the prompt, then one
#   token per step) and without one (the whole sequence again at every step).
#
# You are given the configuration (`GPTConfig`), the classes `TransformerBlock` and `GPT`
# with their initialization and weight tying, `GPT.generate` (argument checks, `no_grad`,
# eval mode), saving and loading, and the counting functions of the analysis. At the end
# you load a GPT trained on the course's story corpus and let it write.
#
# **Why a systems engineer cares.** A language model spends its life in `generate`. Without
# a cache, step $t$ recomputes all $t$ positions, so writing $n$ tokens costs
# $O(n^2)$ token passes; with a cache, every step processes one token. You count both in
# FLOPs from a closed form and time both below. The cache is a *protocol* here
# (`update(layer_idx, k, v)`, `get_seq_length(layer_idx)`): Module 13's `ConcatKVCache` is a
# simple reference, and Module 19 builds the preallocated `KVCache` behind the same calls.
#
# **Connections.** Modules 15–20 all work on this model: the profiler (15) times its layers
# through the hooks of Module 04, the backends (16) swap its kernels, quantization (17) and
# pruning (18) shrink its `Linear` layers, the cache (19) speeds up its `generate`, and the
# benchmarks (20) measure all of it.

# %%
#| default_exp models.gpt

# %%
#| export
from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tinytorch.autograd  # noqa: F401  (installs the backward engine: the GPT trains with loss.backward())
import tinytorch.tensor as tensor_module
from tinytorch.autograd import no_grad
from tinytorch.data import data_dir
from tinytorch.nn.attention import KVCacheLike, MultiHeadAttention
from tinytorch.nn.embedding import Embedding, PositionalEmbedding
from tinytorch.nn.layers import GELU, Identity, Linear, Module, ModuleList, Sequential
from tinytorch.nn.normalization import Dropout, LayerNorm
from tinytorch.tensor import DtypeError, ShapeError, Tensor
from tinytorch.text.tokenizers import BPETokenizer
from tinytorch.training import write_atomically


# %% [markdown]
# ## 1. The configuration
#
# A GPT is described by a handful of numbers, gathered in one dataclass as nanoGPT does:
#
# | field | meaning | symbol |
# |---|---|---|
# | `vocab_size` | number of token ids (the tokenizer's vocabulary) | $V$ |
# | `max_seq_len` | the longest sequence the model can read: the rows of the position table | $T_{max}$ |
# | `n_layer` | number of transformer blocks | $L$ |
# | `n_head` | attention heads per block; each head works in `n_embd // n_head` dimensions | $H$ |
# | `n_embd` | width of the residual stream (every token is a vector of this size) | $E$ |
# | `dropout` | dropout probability in training (embeddings, attention, MLP output) | |
# | `bias` | whether the `Linear` layers and the LayerNorms have a bias | |
#
# The sizes must be positive whole numbers and `n_embd` a multiple of `n_head`; anything
# else is a `ValueError` that names the field, when the config is made rather than deep
# inside the first forward pass.

# %%
#| export
@dataclass
class GPTConfig:
    """The sizes of a GPT. Checked on creation: positive integer sizes, ``n_embd % n_head == 0``,
    ``0 <= dropout < 1`` (ValueError naming the field otherwise)."""

    vocab_size: int
    max_seq_len: int = 256
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_seq_len", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig: n_embd={self.n_embd} must be a multiple of n_head={self.n_head} (each head gets "
                f"n_embd // n_head dimensions); e.g. n_embd={self.n_head * max(1, round(self.n_embd / self.n_head))}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def head_dim(self) -> int:
        """Dimensions per attention head: ``n_embd // n_head``."""
        return self.n_embd // self.n_head


# %% [markdown]
# ## 2. The transformer block
#
# Every token travels through the model as one vector of width $E$, the **residual
# stream**. A block does not replace that vector; it *adds* two corrections to it:
#
# ```
#   x ─┬──────────────────────────────────┐
#      └─► ln_1 ─► attn (causal) ─────────(+)──┬──────────────────────┐
#                                              └─► ln_2 ─► mlp ───────(+)──► out
# ```
#
# $$h = x + \mathrm{Attn}(\mathrm{LN}_1(x)), \qquad \text{out} = h + \mathrm{MLP}(\mathrm{LN}_2(h)).$$
#
# - **Attention** is where tokens exchange information: the token at position $i$ mixes in
#   the vectors of positions $0..i$ (causal: never a later one, because the model must
#   predict the next token without seeing it). It is Module 13's `MultiHeadAttention`,
#   called with `is_causal=True`.
# - **The MLP** works on each position alone: `Linear(E, 4E)`, GELU (tanh form, as GPT-2),
#   `Linear(4E, E)`. It holds two thirds of a block's parameters. Here it is a `Sequential`
#   whose layers are named `fc`, `gelu` and `proj`, so its weights appear in the
#   `state_dict` as `mlp.fc.weight` and `mlp.proj.weight`.
# - **Pre-norm.** Each branch normalizes its *input* (GPT-2's order), and the stream itself
#   is never normalized inside a block. The original transformer normalized after the
#   addition (post-norm); pre-norm keeps a clean path from the output back to the
#   embeddings, so gradients reach the first layers undamped, and deep stacks train without
#   a learning-rate warm-up.
#
# The backward pass needs nothing new: each piece has its gradient from Modules 02–13, and
# the addition copies the gradient to both of its inputs, so $\partial \text{out}/\partial x$
# is the identity plus the branches' Jacobians.
#
# **The cache.** During generation the block passes `cache` and its own index
# `layer_idx` to the attention, which stores the keys and values of this layer in the cache
# and reads all the earlier ones back (Module 13). The block itself only forwards them.
#
# The class is given; its `forward` calls the function you write.

# %%
#| export
class TransformerBlock(Module):
    """A pre-norm GPT block: ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``, shapes ``(B, T, E)``.

    Children: ``ln_1`` and ``ln_2`` (LayerNorm(E)), ``attn`` (MultiHeadAttention(E, H)),
    ``mlp`` (Sequential with ``fc`` = Linear(E, 4E), ``gelu`` = GELU("tanh"), ``proj`` =
    Linear(4E, E), and ``drop`` = Dropout when ``config.dropout > 0``).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        E = config.n_embd
        self.ln_1 = LayerNorm(E, bias=config.bias)
        self.attn = MultiHeadAttention(E, config.n_head, dropout=config.dropout, bias=config.bias)
        self.ln_2 = LayerNorm(E, bias=config.bias)
        layers: list[tuple[str, Module]] = [
            ("fc", Linear(E, 4 * E, bias=config.bias)),
            ("gelu", GELU(approximate="tanh")),
            ("proj", Linear(4 * E, E, bias=config.bias)),
        ]
        if config.dropout > 0:  # no module at all without dropout: nothing to call per step
            layers.append(("drop", Dropout(config.dropout)))
        self.mlp = Sequential(OrderedDict(layers))

    def forward(self, x: Tensor, cache: KVCacheLike | None = None, layer_idx: int = 0) -> Tensor:
        return block_forward(self, x, cache, layer_idx)


# %% [markdown]
# ### Your task: `block_forward`
#
# The two residual steps of the picture, with the block's children (`block.ln_1`,
# `block.attn`, `block.ln_2`, `block.mlp`). Call the attention as
# `block.attn(normed, is_causal=True, cache=cache, layer_idx=layer_idx)`.

# %% nbgrader={"grade": false, "grade_id": "impl-block-forward", "locked": false, "solution": true, "schema_version": 3}
#| export
def block_forward(block: TransformerBlock, x: Tensor, cache: KVCacheLike | None = None, layer_idx: int = 0) -> Tensor:
    """One pre-norm block on ``x`` of shape ``(B, T, E)``; returns ``(B, T, E)``.

    ``h = x + block.attn(block.ln_1(x), is_causal=True, cache=cache, layer_idx=layer_idx)``,
    then ``h + block.mlp(block.ln_2(h))``. ``cache`` and ``layer_idx`` go to the attention
    unchanged.
    Hint: two lines; the additions are Tensor additions, so autograd sees them.
    """
    ### BEGIN SOLUTION
    h = x + block.attn(block.ln_1(x), is_causal=True, cache=cache, layer_idx=layer_idx)
    return h + block.mlp(block.ln_2(h))
    ### END SOLUTION


# %% [markdown]
# The tests replace a block's children by small stand-ins (read-only, below) whose output
# is known: `Affine(a, b)` computes `a * x + b`, and `RecordingAttention` returns `3 * x`
# and records the keyword arguments it was called with. With `ln_1 = Affine(2, 0)`,
# `ln_2 = Affine(1, 1)` and `mlp = Affine(5, 0)`, a correct block gives
# $h = x + 3(2x) = 7x$ and $\text{out} = h + 5(h + 1) = 42x + 5$; post-norm or a missing
# residual gives another number.

# %% nbgrader={"grade": false, "grade_id": "given-stand-ins", "locked": true, "solution": false, "schema_version": 3}
from tinytorch.tensor import expect_error, manual_seed


class Affine(Module):
    """``scale * x + shift``, a stand-in for a LayerNorm or an MLP whose output is known."""

    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale + self.shift


class RecordingAttention(Module):
    """A stand-in attention: returns ``3 * x`` and records its keyword arguments in ``seen``."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, Any]] = []

    def forward(self, x: Tensor, attn_mask: Any = None, is_causal: bool = False, cache: Any = None,
                layer_idx: int = 0) -> Tensor:
        self.seen.append({"is_causal": is_causal, "cache": cache, "layer_idx": layer_idx})
        return x * 3.0


def stand_in_block(config: GPTConfig) -> TransformerBlock:
    """A TransformerBlock whose children are the stand-ins above."""
    block = TransformerBlock(config)
    block.ln_1, block.attn, block.ln_2, block.mlp = Affine(2.0, 0.0), RecordingAttention(), Affine(1.0, 1.0), Affine(5.0, 0.0)
    return block


# %% nbgrader={"grade": true, "grade_id": "test-block-forward", "locked": true, "points": 3, "solution": false, "schema_version": 3}
from tinytorch.tensor import error_name, observe, unseen_rng

tiny = GPTConfig(vocab_size=11, max_seq_len=16, n_layer=2, n_head=2, n_embd=8)
block = stand_in_block(tiny)
x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 8)))
out = block_forward(block, x)
assert isinstance(out, Tensor) and out.shape == (2, 3, 8), "block_forward: the output is a Tensor of the input's shape"
assert np.allclose(out.numpy(), 42 * x.numpy() + 5, atol=1e-5), (
    "block_forward: with ln_1 = 2x, attn = 3x, ln_2 = x + 1, mlp = 5x a pre-norm block gives h = 7x and "
    "h + 5(h + 1) = 42x + 5: add each branch to the stream, and normalize the branch's input, not the sum"
)
marker = object()
block_forward(block, x, cache=marker, layer_idx=1)
assert block.attn.seen[-1] == {"is_causal": True, "cache": marker, "layer_idx": 1}, (
    f"block_forward: call the attention with is_causal=True, cache=cache, layer_idx=layer_idx; it saw {block.attn.seen[-1]}"
)
manual_seed(0)
real = TransformerBlock(tiny)
tokens = np.random.default_rng(1).standard_normal((1, 5, 8))
changed = tokens.copy()
changed[0, 4] += 1.0  # a change at the last position must not reach the earlier ones (causal)
first, second = block_forward(real, Tensor(tokens)).numpy(), block_forward(real, Tensor(changed)).numpy()
assert np.allclose(first[0, :4], second[0, :4], atol=1e-6) and not np.allclose(first[0, 4], second[0, 4]), (
    "block_forward: with the real attention, position i must only see positions 0..i (is_causal=True)"
)
real.zero_grad()
x_grad = Tensor(tokens, requires_grad=True)
block_forward(real, x_grad).sum().backward()
assert x_grad.grad is not None and all(p.grad is not None for p in real.parameters()), (
    "block_forward: gradients must reach the input and every parameter of the block (use Tensor operations only)"
)

# Graded: stand-ins, a block and inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-block-forward")
length = int(rng.integers(1, 7))
block = stand_in_block(tiny)
block.ln_1, block.ln_2, block.mlp = (Affine(float(a), float(b)) for a, b in rng.uniform(-2, 2, size=(3, 2)))
x = Tensor(rng.standard_normal((2, length, 8)).astype(np.float32))
observe("block_forward with stand-in children", block_forward(block, x).data, rtol=1e-5, atol=1e-5)
layer = int(rng.integers(0, 4))
block_forward(block, x, cache=marker, layer_idx=layer)
seen = block.attn.seen[-1]
observe("block_forward: the attention's is_causal and layer_idx", [bool(seen["is_causal"]), int(seen["layer_idx"])])
observe("block_forward: the attention got the cache", bool(seen["cache"] is marker))
manual_seed(int(rng.integers(2**31)))
real = TransformerBlock(tiny)
x_grad = Tensor(rng.standard_normal((2, length, 8)).astype(np.float32), requires_grad=True)
out = block_forward(real, x_grad)
observe("block_forward with a real block", out.data, rtol=1e-4, atol=1e-5)
(out * Tensor(rng.standard_normal((2, length, 8)).astype(np.float32))).sum().backward()
observe("block_forward: the input's gradient", x_grad.grad.data, rtol=1e-4, atol=1e-5)
observe("block_forward: which parameters got a gradient", [p.grad is not None for p in real.parameters()])
observe("block_forward: ln_1.weight's gradient", real.ln_1.weight.grad.data, rtol=1e-4, atol=1e-5)
observe("block_forward: mlp.fc.weight's gradient", real.mlp.fc.weight.grad.data, rtol=1e-4, atol=1e-5)


# %% [markdown]
# ## 3. The GPT
#
# ```
#   idx (B, T) int ──► tok_emb ──► + pos_emb[offset : offset+T] ──► block 0 ──► ... ──► block L-1
#                      (B,T,E)                                                              │
#   logits (B, T, V) ◄── lm_head (= tok_emb.weight, tied) ◄── ln_f ◄────────────────────────┘
# ```
#
# - `tok_emb`: Module 12's `Embedding(V, E)`, one learned vector per token id.
# - `pos_emb`: Module 12's learned `PositionalEmbedding(T_max, E)`; `pos_emb(x, offset)`
#   adds the rows `offset .. offset+T-1` of its table. Without a cache the offset is 0. With
#   a cache that already holds `offset` tokens (`cache.get_seq_length(0)`), the new tokens
#   *are* at positions `offset, offset+1, ...`, and must get those position vectors; that is
#   the whole point of asking the cache how long it is.
# - the blocks, in a `ModuleList`; block `i` is called with `layer_idx=i`, so each keeps
#   its own keys and values in the cache;
# - `ln_f`: a final `LayerNorm(E)`, because pre-norm blocks leave the stream itself
#   unnormalized;
# - `lm_head`: `Linear(E, V, bias=False)`: the logits $z_{b,t,v}$ are the dot products of
#   the final vector with one row per token id.
#
# **Weight tying.** The output layer's weight, shape `(V, E)`, has the same shape as the
# token embedding table, and both relate token ids to vectors. GPT-2 uses *one* matrix for
# both (Press & Wolf, 2017): `lm_head.weight` *is* `tok_emb.weight`, the same `Parameter`.
# It saves $V \cdot E$ parameters, and its gradient adds the contributions of both uses
# (Module 02 accumulates gradients). `parameters()` and `state_dict()` list it once, under
# `tok_emb.weight` (Module 04's walk skips a tensor it has already met; PyTorch's
# `state_dict` would list both names).
#
# **Initialization** (GPT-2's, given, drawn from tinytorch's default generator, so
# `manual_seed(s)` before `GPT(config)` makes the model reproducible): every `Linear`
# weight and both embedding tables $\sim \mathcal N(0, 0.02^2)$; biases 0; LayerNorm
# weight 1 and bias 0; and the two projections that write into the residual stream in each
# block (`attn.out_proj` and `mlp.proj`) $\sim \mathcal N(0, (0.02/\sqrt{2L})^2)$. There
# are $2L$ such additions; with the smaller scale the variance the stream gains over all of
# them stays independent of the depth.
#
# **Checks** (given, in `token_ids`): `idx` is an integer Tensor or array of shape `(B, T)`
# with $T \ge 1$ (`DtypeError` or `ShapeError` otherwise); an id outside `0..V-1` is
# Module 12's `IndexError`. Your `gpt_forward` adds one check: `offset + T` must not exceed
# `max_seq_len`, since there is no position vector beyond it.

# %%
#| export
def token_ids(idx: Tensor | np.ndarray | Any, caller: str) -> np.ndarray:
    """``idx`` as an int64 array of shape ``(B, T)``, ``T >= 1``; DtypeError for non-integers,
    ShapeError for another rank, ValueError for ``T == 0``, each naming ``caller``."""
    array = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
    if array.dtype.kind not in "iu":
        raise DtypeError(
            f"{caller}: token ids must be integers, got dtype {array.dtype}; "
            "build them with Tensor(ids, dtype=np.int64) or np.asarray(ids, dtype=np.int64)"
        )
    if array.ndim != 2:
        raise ShapeError(
            f"{caller}: token ids must have shape (B, T), got {array.shape}; "
            "a single sequence needs a batch dimension: ids[None, :]"
        )
    if array.shape[1] == 0:
        raise ValueError(f"{caller}: got {array.shape[0]} sequences of 0 tokens; give at least one token")
    return array.astype(np.int64, copy=False)


def init_normal_(parameter: Tensor, std: float) -> None:
    """Fill ``parameter`` in place from N(0, std^2), drawn from tinytorch's default generator."""
    generator = tensor_module._GENERATOR  # looked up at call time: manual_seed replaces it
    parameter.data[...] = generator.normal(0.0, std, parameter.shape).astype(parameter.dtype)


class GPT(Module):
    """A decoder-only transformer language model: ``GPT(config)(idx) -> logits (B, T, V)``.

    Children: ``tok_emb`` (Embedding(V, E)), ``pos_emb`` (PositionalEmbedding(T_max, E)),
    ``drop`` (Dropout, or Identity when ``config.dropout == 0``), ``blocks`` (ModuleList of
    ``n_layer`` TransformerBlocks), ``ln_f`` (LayerNorm(E)), ``lm_head`` (Linear(E, V,
    bias=False)) whose weight IS ``tok_emb.weight`` (tied; listed once by ``parameters()``).
    Initialized as GPT-2 (see ``init_weights``) from tinytorch's default generator.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT needs a GPTConfig, got {type(config).__name__}: GPT(GPTConfig(vocab_size=...))")
        self.config = config
        self.tok_emb = Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = PositionalEmbedding(config.max_seq_len, config.n_embd)
        self.drop = Dropout(config.dropout) if config.dropout > 0 else Identity()
        self.blocks = ModuleList([TransformerBlock(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # weight tying: one Parameter, two uses
        self.init_weights()

    def init_weights(self) -> None:
        """GPT-2's initialization: weights N(0, 0.02^2), the residual projections N(0, (0.02 / sqrt(2 L))^2),
        biases 0, LayerNorm weight 1 and bias 0."""
        residual = {id(block.attn.out_proj.weight) for block in self.blocks}
        residual |= {id(block.mlp.proj.weight) for block in self.blocks}
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for module in self.modules():
            if isinstance(module, (Linear, Embedding)) and module is not self.lm_head:  # the head's weight is tok_emb's
                init_normal_(module.weight, residual_std if id(module.weight) in residual else 0.02)
            if isinstance(module, Linear) and module.bias is not None:
                module.bias.data[...] = 0.0
            if isinstance(module, LayerNorm):
                module.weight.data[...] = 1.0
                if module.bias is not None:
                    module.bias.data[...] = 0.0

    def forward(self, idx: Tensor | np.ndarray, cache: KVCacheLike | None = None) -> Tensor:
        """Logits ``(B, T, V)`` for token ids ``idx`` ``(B, T)``; with ``cache``, ``idx`` continues
        the ``cache.get_seq_length(0)`` tokens it holds (and their keys and values are added to it)."""
        return gpt_forward(self, token_ids(idx, "GPT"), cache)

    def generate(self, idx: Tensor | np.ndarray, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, cache: KVCacheLike | None = None, seed: int | None = None) -> Tensor:
        """``idx`` ``(B, T)`` followed by ``max_new_tokens`` generated tokens: an int64 Tensor ``(B, T + n)``.

        ``temperature`` 0 is greedy (argmax); otherwise the next token is sampled from
        ``softmax(logits / temperature)``, restricted to the ``top_k`` largest logits when
        given, with one uniform number per row and step from ``np.random.default_rng(seed)``.
        With ``cache`` (empty; e.g. Module 13's ConcatKVCache): one pass over the prompt, then
        one token per step. Without: the whole sequence again at every step. Runs under
        ``no_grad`` in eval mode and restores the model's mode. ValueError up front when
        ``T + max_new_tokens > max_seq_len``.
        """
        ids = token_ids(idx, "GPT.generate")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
            raise ValueError(f"GPT.generate: max_new_tokens must be a whole number >= 0, got {max_new_tokens!r}")
        if not (isinstance(temperature, (int, float, np.floating)) and math.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"GPT.generate: temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
            raise ValueError(f"GPT.generate: top_k must be None or a whole number >= 1, got {top_k!r}")
        if cache is not None and cache.get_seq_length(0) != 0:
            raise ValueError(f"GPT.generate needs an empty cache, got one holding {cache.get_seq_length(0)} tokens; "
                             "pass a new cache (e.g. ConcatKVCache())")
        total = ids.shape[1] + int(max_new_tokens)
        if total > self.config.max_seq_len:
            raise ValueError(
                f"GPT.generate: a prompt of T={ids.shape[1]} tokens plus max_new_tokens={max_new_tokens} is {total} "
                f"tokens, more than max_seq_len={self.config.max_seq_len}; shorten the prompt or ask for fewer tokens"
            )
        rng = np.random.default_rng(seed)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                out = generate_tokens(self, ids, int(max_new_tokens),
                                      lambda logits: sample_next_token(logits, float(temperature), top_k, rng), cache)
        finally:
            self.train(was_training)
        return Tensor(out, dtype=np.int64)


# %% [markdown]
# ### Your task: `gpt_forward`
#
# The picture above, on `idx` already checked by `token_ids` (an int64 array `(B, T)`):
#
# 1. `offset` = `cache.get_seq_length(0)` with a cache, 0 without;
# 2. if `offset + T > model.config.max_seq_len`: `ValueError` whose message names
#    `max_seq_len=` with its value, the offset and `T` (check before anything runs, so a
#    cache is left unchanged);
# 3. `model.tok_emb(idx)`, then `model.pos_emb(x, offset=offset)`, then `model.drop(x)`;
# 4. each block `i` of `model.blocks` with `cache=cache, layer_idx=i`;
# 5. `model.ln_f`, then `model.lm_head`.

# %% nbgrader={"grade": false, "grade_id": "impl-gpt-forward", "locked": false, "solution": true, "schema_version": 3}
#| export
def gpt_forward(model: GPT, idx: np.ndarray, cache: KVCacheLike | None = None) -> Tensor:
    """Logits ``(B, T, V)`` of ``model`` for token ids ``idx`` (int64 array ``(B, T)``).

    Positions start at ``offset = cache.get_seq_length(0)`` (0 without a cache). ValueError
    naming ``max_seq_len=<value>``, the offset and ``T`` when ``offset + T > max_seq_len``.
    Hint: ``for layer_idx, block in enumerate(model.blocks):``.
    """
    ### BEGIN SOLUTION
    T = idx.shape[1]
    offset = cache.get_seq_length(0) if cache is not None else 0
    if offset + T > model.config.max_seq_len:
        raise ValueError(
            f"GPT: {T} tokens starting at position {offset} go past max_seq_len={model.config.max_seq_len} "
            f"(offset {offset} + T {T} = {offset + T}); use a shorter sequence or a model with a longer context"
        )
    x = model.drop(model.pos_emb(model.tok_emb(idx), offset=offset))
    for layer_idx, block in enumerate(model.blocks):
        x = block(x, cache=cache, layer_idx=layer_idx)
    return model.lm_head(model.ln_f(x))
    ### END SOLUTION


# %% [markdown]
# The test replaces the blocks by `RecordingBlock`s (read-only), which add 1 to the stream
# and record how they were called, and hands the model a `FixedLengthCache` that claims to
# hold 5 tokens already. So it checks your function alone, whatever your `block_forward` does.

# %% nbgrader={"grade": false, "grade_id": "given-recording-block", "locked": true, "solution": false, "schema_version": 3}
class RecordingBlock(Module):
    """A stand-in block: returns ``x + 1`` and records ``(layer_idx, cache, x.shape)`` in ``calls``."""

    calls: list[tuple[int, Any, tuple[int, ...]]] = []

    def forward(self, x: Tensor, cache: Any = None, layer_idx: int = 0) -> Tensor:
        RecordingBlock.calls.append((layer_idx, cache, x.shape))
        return x + 1.0


class FixedLengthCache:
    """A cache that says it holds ``length`` tokens (its ``update`` is never called by stand-in blocks)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.length

    def update(self, layer_idx: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        raise AssertionError("FixedLengthCache.update should not be called by the stand-in blocks")


def model_with_recording_blocks(config: GPTConfig) -> GPT:
    manual_seed(0)
    model = GPT(config)
    model.blocks = ModuleList([RecordingBlock() for _ in range(config.n_layer)])
    RecordingBlock.calls.clear()
    return model


# %% nbgrader={"grade": true, "grade_id": "test-gpt-forward", "locked": true, "points": 4, "solution": false, "schema_version": 3}
model = model_with_recording_blocks(tiny)
ids = np.array([[1, 2, 3], [4, 5, 6]])
logits = gpt_forward(model, ids)
assert isinstance(logits, Tensor) and logits.shape == (2, 3, 11), f"gpt_forward: logits (B, T, V) = (2, 3, 11), got {getattr(logits, 'shape', logits)}"
stream = model.pos_emb(model.tok_emb(ids), offset=0) + 2.0  # two stand-in blocks add 1 each
assert np.allclose(logits.numpy(), model.lm_head(model.ln_f(stream)).numpy(), atol=1e-5), (
    "gpt_forward: logits = lm_head(ln_f(blocks(tok_emb(idx) + positions 0..T-1)))"
)
assert [(i, c) for i, c, _ in RecordingBlock.calls] == [(0, None), (1, None)], (
    f"gpt_forward: call block i with layer_idx=i and the cache (None here), in order; calls were {RecordingBlock.calls}"
)
RecordingBlock.calls.clear()
cache = FixedLengthCache(5)
logits = gpt_forward(model, ids, cache=cache)
shifted = model.pos_emb(model.tok_emb(ids), offset=5) + 2.0
assert np.allclose(logits.numpy(), model.lm_head(model.ln_f(shifted)).numpy(), atol=1e-5), (
    "gpt_forward: with a cache holding 5 tokens, the new tokens are at positions 5, 6, 7 (offset = cache.get_seq_length(0))"
)
assert all(c is cache for _, c, _ in RecordingBlock.calls), "gpt_forward: pass the cache to every block"
expect_error(ValueError, lambda: gpt_forward(model, np.zeros((1, 12), dtype=np.int64), cache=FixedLengthCache(5)),
             "max_seq_len=16", "12", what="gpt_forward of 12 tokens after 5 cached ones with max_seq_len=16")
for tokens, cached in ((16, 0), (1, 15)):
    refused = error_name(lambda: gpt_forward(model, np.zeros((1, tokens), dtype=np.int64), cache=FixedLengthCache(cached)))
    assert refused == "nothing", (
        f"gpt_forward: exactly max_seq_len tokens fit ({tokens} tokens after {cached} cached ones, max_seq_len=16), but it "
        f"raised {refused}: refuse only offset + T > max_seq_len"
    )
assert gpt_forward(model, np.zeros((1, 1), dtype=np.int64), cache=FixedLengthCache(15)).shape == (1, 1, 11), (
    "gpt_forward: one token at the last position (offset 15, max_seq_len 16) gives logits (1, 1, 11)"
)
expect_error(ValueError, lambda: gpt_forward(model, np.zeros((1, 17), dtype=np.int64)), "max_seq_len=16",
             what="gpt_forward of 17 tokens with max_seq_len=16")

# Graded: token ids, weights and cache lengths drawn for each graded run, compared with the reference.
rng = unseen_rng("test-gpt-forward")
model = model_with_recording_blocks(tiny)
for table in (model.tok_emb.weight, model.pos_emb.weight):  # tables of this run (lm_head shares tok_emb's)
    table.data[...] = rng.normal(0.0, 0.5, table.shape)
length = int(rng.integers(1, 9))
ids = rng.integers(0, 11, size=(int(rng.integers(1, 4)), length))
observe("gpt_forward(model, idx) without a cache", gpt_forward(model, ids).data, rtol=1e-5, atol=1e-5)
observe("gpt_forward: the layer_idx of each block call", [i for i, _, _ in RecordingBlock.calls])
observe("gpt_forward: the cache each block got is None", [c is None for _, c, _ in RecordingBlock.calls])
RecordingBlock.calls.clear()
cache = FixedLengthCache(int(rng.integers(1, 16 - length + 1)))
observe("gpt_forward(model, idx, cache holding some tokens)", gpt_forward(model, ids, cache=cache).data, rtol=1e-5, atol=1e-5)
observe("gpt_forward: each block got the cache", [c is cache for _, c, _ in RecordingBlock.calls])
observe("gpt_forward: offset + T == max_seq_len", gpt_forward(model, ids, cache=FixedLengthCache(16 - length)).data, rtol=1e-5, atol=1e-5)
too_far = FixedLengthCache(int(rng.integers(16 - length + 1, 17)))
observe("gpt_forward: offset + T > max_seq_len raises", error_name(lambda: gpt_forward(model, ids, cache=too_far)))

# %% [markdown]
# With your block and your forward, a real model (the tiny configuration of the tests):

# %%
manual_seed(0)
model = GPT(tiny)
print(model.blocks[0])
logits = model(np.array([[1, 2, 3, 4]]))
print("logits", logits.shape, "| parameters:", sum(p.size for p in model.parameters()),
      "| lm_head.weight is tok_emb.weight:", model.lm_head.weight is model.tok_emb.weight)
print("too long:", expect_error(ValueError, lambda: model(np.zeros((1, 17), dtype=np.int64)), "max_seq_len=16"))


# %% [markdown]
# ## 4. Choosing the next token
#
# The logits at the last position, $z \in \mathbb R^V$, score every possible next token.
# Turning them into one token id is the **decoding** rule:
#
# - **greedy** (`temperature == 0`): $\arg\max_v z_v$. Deterministic, and prone to loops.
# - **sampling with a temperature** $\tau > 0$: draw $v$ with probability
#   $p_v = \mathrm{softmax}(z/\tau)_v$. $\tau < 1$ sharpens the distribution toward the
#   argmax, $\tau > 1$ flattens it toward uniform.
# - **top-k**: before the softmax, keep only the $k$ largest logits (set the others to
#   $-\infty$, so their probability is exactly 0); this cuts off the long tail of unlikely
#   tokens that a small model gives too much mass to. A logit equal to the $k$-th largest is
#   kept (so ties may keep a few more than $k$); $k \ge V$ keeps everything.
#
# **Drawing one sample per row without a loop: the inverse CDF.** Take the cumulative sums
# $c_v = \sum_{u \le v} p_u$ (so $c_{V-1} = 1$) and one uniform number $r \in [0, 1)$. The
# sampled token is the first $v$ with $c_v > r$, which is the *count* of $c_v \le r$: the
# interval $[c_{v-1}, c_v)$ of length $p_v$ catches $r$ with probability $p_v$, and a token
# of probability 0 owns an empty interval. For stability, subtract each row's maximum
# before `exp` (Module 03), and compute in float64; you need not divide by the sum if you
# scale $r$ by the last cumulative sum instead.
#
# The random numbers come from the `rng` you are given (`rng.random(B)`: one per row), so
# `GPT.generate(..., seed=s)` repeats itself exactly.
#
# ### Your task: `sample_next_token`

# %% nbgrader={"grade": false, "grade_id": "impl-sample-next-token", "locked": false, "solution": true, "schema_version": 3}
#| export
def sample_next_token(logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> np.ndarray:
    """One next token per row of ``logits`` ``(B, V)``: an int64 array ``(B,)``.

    ``temperature == 0``: the argmax of each row (``rng`` unused). Otherwise sample from
    ``softmax(logits / temperature)`` over the ``top_k`` largest logits of the row (all of
    them when ``top_k`` is None or >= V; values equal to the k-th largest are kept), with
    ``rng.random(B)`` and the inverse CDF. Must not overflow for logits like 1e4.
    Hint: divide by the temperature first; find each row's k-th largest value (sort along the last
    axis) and set the logits below it to ``-inf``; then the stable exponentials, their cumulative
    sums ``(B, V)``, and per row the count of cumulative sums ``<=`` its scaled uniform number.
    If you are stuck: ``kth = np.sort(z, axis=-1)[:, -k]``, ``np.where(z < kth[:, None], -np.inf, z)``,
    ``cdf = np.cumsum(np.exp(z - z.max(axis=-1, keepdims=True)), axis=-1)``, and count ``cdf <= r * cdf[:, -1:]``.
    """
    ### BEGIN SOLUTION
    if temperature == 0:
        return logits.argmax(axis=-1).astype(np.int64)
    z = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.sort(z, axis=-1)[:, -top_k]
        z = np.where(z < kth[:, None], -np.inf, z)
    weights = np.exp(z - z.max(axis=-1, keepdims=True))
    cdf = np.cumsum(weights, axis=-1)
    r = rng.random(len(cdf))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= r).sum(axis=-1), z.shape[-1] - 1).astype(np.int64)
    ### END SOLUTION


# %% [markdown]
# The tests draw many rows from the same logits and compare the frequencies with the
# probabilities (within a few standard errors; the generator is seeded, so the test is
# deterministic). `softmax_rows` (read-only) is the reference distribution.

# %% nbgrader={"grade": false, "grade_id": "given-softmax-rows", "locked": true, "solution": false, "schema_version": 3}
def softmax_rows(z: np.ndarray) -> np.ndarray:
    """Softmax of each row, in float64."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def frequencies(tokens: np.ndarray, vocab: int) -> np.ndarray:
    """How often each id occurs in ``tokens``, as a fraction."""
    return np.bincount(tokens, minlength=vocab) / len(tokens)


# %% nbgrader={"grade": true, "grade_id": "test-sample-next-token", "locked": true, "points": 4, "solution": false, "schema_version": 3}
scores = np.array([[0.0, 2.0, 1.0, -1.0], [3.0, 0.0, 0.0, 5.0]], dtype=np.float32)
greedy = sample_next_token(scores, 0.0, None, np.random.default_rng(0))
assert isinstance(greedy, np.ndarray) and greedy.dtype == np.int64 and greedy.tolist() == [1, 3], (
    f"sample_next_token: temperature 0 is the argmax per row, [1, 3] as int64; got {greedy!r}"
)
row = np.array([0.5, 2.0, 1.0, -1.0, 0.0])
many = np.tile(row, (6000, 1))
drawn = sample_next_token(many, 1.0, None, np.random.default_rng(1))
assert drawn.shape == (6000,) and drawn.dtype == np.int64, f"sample_next_token: one int64 id per row, got {drawn.shape} {drawn.dtype}"
assert np.abs(frequencies(drawn, 5) - softmax_rows(row)).max() < 0.025, (
    f"sample_next_token: at temperature 1 the frequencies {frequencies(drawn, 5).round(3)} should match "
    f"softmax(logits) {softmax_rows(row).round(3)}"
)
for temperature in (0.5, 2.0):
    drawn = sample_next_token(many, temperature, None, np.random.default_rng(4))
    assert np.abs(frequencies(drawn, 5) - softmax_rows(row / temperature)).max() < 0.025, (
        f"sample_next_token: at temperature {temperature} the frequencies {frequencies(drawn, 5).round(3)} should match "
        f"softmax(logits / {temperature}) {softmax_rows(row / temperature).round(3)}: divide the logits by the temperature"
    )
top2 = sample_next_token(many, 1.0, 2, np.random.default_rng(2))
assert set(top2.tolist()) == {1, 2}, (
    f"sample_next_token: top_k=2 keeps exactly ids 1 and 2 (the two largest logits), got {sorted(set(top2.tolist()))}"
)
assert abs(frequencies(top2, 5)[1] - softmax_rows(row[[1, 2]])[0]) < 0.025, (
    "sample_next_token: within the top k the probabilities are softmax over the kept logits only"
)
top3 = sample_next_token(many, 2.0, 3, np.random.default_rng(3))
expected = np.zeros(5)
expected[[0, 1, 2]] = softmax_rows(row[[0, 1, 2]] / 2.0)
assert np.abs(frequencies(top3, 5) - expected).max() < 0.025, (
    f"sample_next_token: top_k=3 at temperature 2 gives frequencies {frequencies(top3, 5).round(3)}, expected "
    f"{expected.round(3)}: softmax(kept logits / temperature)"
)
assert sample_next_token(many[:50], 1.0, 1, np.random.default_rng(3)).tolist() == [1] * 50, "sample_next_token: top_k=1 is greedy"
assert sample_next_token(many[:50], 1.0, 99, np.random.default_rng(3)).max() < 5, "sample_next_token: top_k >= V keeps every token"
again = sample_next_token(many[:200], 1.0, None, np.random.default_rng(4))
assert np.array_equal(again, sample_next_token(many[:200], 1.0, None, np.random.default_rng(4))), (
    "sample_next_token: draw the random numbers from the rng given, so the same seed gives the same tokens"
)
huge = np.array([[1e4, 0.0, -1e4]] * 100, dtype=np.float32)
with np.errstate(all="ignore"):  # an overflow is reported below in words
    hot = sample_next_token(huge, 1.0, None, np.random.default_rng(5))
assert hot.tolist() == [0] * 100, (
    "sample_next_token: logits of 1e4 must not overflow: subtract the row maximum before exp"
)
tied = np.tile(np.array([1.0, 3.0, 3.0, 0.0]), (2000, 1))
assert set(sample_next_token(tied, 1.0, 1, np.random.default_rng(6)).tolist()) == {1, 2}, (
    "sample_next_token: logits equal to the k-th largest are kept (top_k=1 with two equal maxima keeps both)"
)

# Graded: logits drawn for each graded run. Which token a draw gives depends on how the random
# numbers are used, so what is observed is what every correct sampler shares: the argmax cases,
# the ids that can occur, and the frequencies over many rows (within 0.03).
rng = unseen_rng("test-sample-next-token")
vocab = int(rng.integers(5, 9))
logits = (rng.standard_normal((4, vocab)) * 2).astype(np.float32)
observe("sample_next_token(logits, temperature=0)", sample_next_token(logits, 0.0, None, np.random.default_rng(0)))
observe("sample_next_token(logits, temperature=1, top_k=1)", sample_next_token(logits, 1.0, 1, np.random.default_rng(0)))
spaced = np.stack([rng.permutation(vocab) for _ in range(4)]).astype(np.float32) * 1e4
with np.errstate(all="ignore"):
    observe("sample_next_token(logits of order 1e4, temperature=1)", sample_next_token(spaced, 1.0, None, np.random.default_rng(0)))
row = rng.uniform(-1.0, 1.0, size=vocab)  # every id kept has a probability of at least 0.0008
many = np.tile(row, (20000, 1))
seed = int(rng.integers(2**31))
for temperature, top_k in ((1.0, None), (float(rng.uniform(0.4, 0.7)), None), (float(rng.uniform(1.5, 3.0)), None),
                           (float(rng.uniform(0.6, 1.5)), int(rng.integers(2, vocab - 1)))):
    drawn = sample_next_token(many, temperature, top_k, np.random.default_rng(seed))
    observe("sample_next_token: the shape of the ids drawn", list(drawn.shape))
    observe("sample_next_token: which ids occur", np.unique(drawn))
    observe("sample_next_token: the frequency of each id", frequencies(drawn, vocab), rtol=0.0, atol=0.03)
tied = np.tile(rng.uniform(-1, 1, size=vocab), (2000, 1))
first, second = rng.choice(vocab, size=2, replace=False)
tied[:, [first, second]] = 2.0
observe("sample_next_token: which ids occur with top_k=1 and two equal maxima",
        np.unique(sample_next_token(tied, 1.0, 1, np.random.default_rng(seed))))


# %% [markdown]
# ## 5. The decoding loop, with and without a cache
#
# `generate_tokens(model, idx, max_new_tokens, sample, cache)` appends `max_new_tokens`
# tokens to `idx` (an int64 array `(B, T)`), where `sample` maps the last position's logits
# `(B, V)` (a NumPy array: `logits.numpy()[:, -1]`) to the next ids `(B,)`. `GPT.generate`
# (given above) checks the arguments, makes `sample` from your `sample_next_token` and
# calls this loop under `no_grad` in eval mode.
#
# **Without a cache**, step $s$ runs the model over the whole sequence so far, $T + s$
# tokens, and keeps only the last position's logits: position $T + s - 1$ is recomputed
# $n - s$ more times over the run.
#
# **With a cache**, the model runs once over the prompt (that fills the cache with the
# prompt's keys and values and gives the logits for the first new token); after that each
# step feeds only the token just chosen, `new[:, None]` of shape `(B, 1)`: the model reads
# the cache's length as its position offset, and attention reads the earlier keys and values
# from the cache. The last token chosen is never fed back, so `max_new_tokens` tokens cost
# `max_new_tokens` model calls either way, but those calls process $T + s$ tokens each
# without the cache and 1 with it. So `max_new_tokens=0` means no model call at all, with or
# without a cache: the result is a copy of `idx`, and a cache given stays empty.
#
# ```
#   no cache:   model([t0 t1 t2])         -> t3      with cache:   model([t0 t1 t2], cache) -> t3
#               model([t0 t1 t2 t3])      -> t4                    model([t3], cache)       -> t4
#               model([t0 t1 t2 t3 t4])   -> t5                    model([t4], cache)       -> t5
# ```
#
# Both must give the same tokens: the cache is an optimization, never a change of result.
#
# ### Your task: `generate_tokens`

# %% nbgrader={"grade": false, "grade_id": "impl-generate-tokens", "locked": false, "solution": true, "schema_version": 3}
#| export
def generate_tokens(model: Module, idx: np.ndarray, max_new_tokens: int,
                    sample: Callable[[np.ndarray], np.ndarray], cache: KVCacheLike | None = None) -> np.ndarray:
    """``idx`` (int64 ``(B, T)``) followed by ``max_new_tokens`` tokens: int64 ``(B, T + max_new_tokens)``.

    Each new token is ``sample(logits[:, -1])`` for the model's logits ``(B, T', V)`` as a NumPy
    array. Without ``cache``: call ``model(tokens)`` on the whole sequence at every step. With
    ``cache``: ``model(idx, cache=cache)`` once, then ``model(new[:, None], cache=cache)`` for
    each token but the last. Never writes into ``idx``. ``max_new_tokens == 0`` returns a copy of
    ``idx`` without calling the model, with a cache too (the prompt is not run; the cache stays empty).
    Hint: keep the sequence so far as a new int64 array and append each new column ``(B, 1)`` to it.
    If you are stuck: ``tokens = np.concatenate([tokens, new[:, None]], axis=1)``.
    """
    ### BEGIN SOLUTION
    tokens = np.array(idx, dtype=np.int64)
    if max_new_tokens == 0:
        return tokens
    if cache is None:
        for _ in range(max_new_tokens):
            new = sample(model(tokens).numpy()[:, -1])
            tokens = np.concatenate([tokens, new[:, None]], axis=1)
        return tokens
    logits = model(tokens, cache=cache)
    for step in range(max_new_tokens):
        new = sample(logits.numpy()[:, -1])
        tokens = np.concatenate([tokens, new[:, None]], axis=1)
        if step < max_new_tokens - 1:
            logits = model(new[:, None], cache=cache)
    return tokens
    ### END SOLUTION


# %% [markdown]
# The test runs your loop on a `SuccessorModel` (read-only), a stand-in for a language model
# whose logits always favour "the current token + 1 (mod V)", and which records the shape
# of every input it gets. With a cache it also stores one dummy key and value per token
# through the cache protocol, so the cache's length grows as a real model's would.

# %% nbgrader={"grade": false, "grade_id": "given-successor-model", "locked": true, "solution": false, "schema_version": 3}
from tinytorch.nn.attention import ConcatKVCache


class SuccessorModel(Module):
    """Logits ``(B, T, V)`` with the maximum at ``(token + 1) % V``; records each input's shape."""

    def __init__(self, vocab: int = 7) -> None:
        super().__init__()
        self.vocab = vocab
        self.inputs: list[tuple[int, ...]] = []

    def forward(self, idx: np.ndarray, cache: Any = None) -> Tensor:
        idx = np.asarray(idx)
        self.inputs.append(idx.shape)
        if cache is not None:
            dummy = Tensor(np.zeros((idx.shape[0], 1, idx.shape[1], 1)))
            cache.update(0, dummy, dummy)
        return Tensor(np.eye(self.vocab)[(idx + 1) % self.vocab] * 5.0)


def argmax_rows(logits: np.ndarray) -> np.ndarray:
    return logits.argmax(axis=-1).astype(np.int64)


# %% nbgrader={"grade": true, "grade_id": "test-generate-tokens", "locked": true, "points": 4, "solution": false, "schema_version": 3}
prompt = np.array([[0, 1, 2], [5, 5, 5]], dtype=np.int64)
prompt_before = prompt.copy()
successor = SuccessorModel()
plain = generate_tokens(successor, prompt, 4, argmax_rows)
assert isinstance(plain, np.ndarray) and plain.dtype == np.int64 and plain.shape == (2, 7), (
    f"generate_tokens: (B, T + 4) = (2, 7) int64, got {getattr(plain, 'shape', plain)} {getattr(plain, 'dtype', '')}"
)
assert plain.tolist() == [[0, 1, 2, 3, 4, 5, 6], [5, 5, 5, 6, 0, 1, 2]], f"generate_tokens: the successor chain, got {plain.tolist()}"
assert successor.inputs == [(2, 3), (2, 4), (2, 5), (2, 6)], (
    f"generate_tokens without a cache: run the model on the whole sequence at every step; inputs were {successor.inputs}"
)
assert np.array_equal(prompt, prompt_before), "generate_tokens: do not write into idx"
successor = SuccessorModel()
cache = ConcatKVCache()
cached = generate_tokens(successor, prompt, 4, argmax_rows, cache=cache)
assert cached.tolist() == plain.tolist(), "generate_tokens: with a cache the tokens must be the same as without"
assert successor.inputs == [(2, 3), (2, 1), (2, 1), (2, 1)], (
    f"generate_tokens with a cache: the prompt once, then only the newest token (B, 1), and not the last one; "
    f"inputs were {successor.inputs}"
)
assert cache.get_seq_length(0) == 6, f"generate_tokens: the cache should hold 3 + 3 tokens at the end, holds {cache.get_seq_length(0)}"
successor = SuccessorModel()
one = generate_tokens(successor, prompt[:1, :1], 1, argmax_rows, cache=ConcatKVCache())
assert one.tolist() == [[0, 1]] and successor.inputs == [(1, 1)], (
    f"generate_tokens: one new token with a cache is one model call, on the prompt; got {one.tolist()}, inputs {successor.inputs}"
)
successor = SuccessorModel()
unchanged = generate_tokens(successor, prompt, 0, argmax_rows)
assert unchanged.tolist() == prompt.tolist() and not np.shares_memory(unchanged, prompt), (
    "generate_tokens: max_new_tokens=0 returns a copy of the prompt (a new array, not idx itself)"
)
cache = ConcatKVCache()
unchanged = generate_tokens(successor, prompt, 0, argmax_rows, cache=cache)
assert unchanged.tolist() == prompt.tolist() and successor.inputs == [] and cache.get_seq_length(0) == 0, (
    f"generate_tokens: max_new_tokens=0 calls no model, with a cache too (the prompt is not run, the cache stays "
    f"empty); model inputs were {successor.inputs}, the cache holds {cache.get_seq_length(0)} tokens"
)

# Graded: a vocabulary, a prompt, a sampler and lengths drawn for each graded run, compared with the reference.
rng = unseen_rng("test-generate-tokens")
vocab, batch, length, new = (int(n) for n in rng.integers([5, 1, 1, 1], [12, 4, 5, 6]))
prompt = rng.integers(0, vocab, size=(batch, length))
order = rng.permutation(vocab)  # the sampler maps the model's favourite id through this permutation
pick = lambda logits: order[logits.argmax(axis=-1)]  # noqa: E731
for label, cache in (("without a cache", None), ("with a cache", ConcatKVCache())):
    successor = SuccessorModel(vocab)
    observe(f"generate_tokens {label}", generate_tokens(successor, prompt, new, pick, cache=cache))
    observe(f"generate_tokens {label}: the shapes the model got", np.array(successor.inputs, dtype=np.int64).reshape(-1, 2))
observe("generate_tokens: the cache's length at the end", cache.get_seq_length(0))
observe("generate_tokens: idx after the calls", prompt)
successor, cache = SuccessorModel(vocab), ConcatKVCache()
observe("generate_tokens(max_new_tokens=0) with a cache", generate_tokens(successor, prompt, 0, pick, cache=cache))
observe("generate_tokens(max_new_tokens=0): model calls, cached tokens", [len(successor.inputs), cache.get_seq_length(0)])

# %% [markdown]
# With your functions, the tiny random model writes 8 tokens, greedily and by sampling,
# with and without a cache. Greedy gives the same ids either way; the same seed gives the
# same sample.

# %%
prompt = np.array([[1, 2, 3]])
greedy_plain = model.generate(prompt, 8, temperature=0)
greedy_cached = model.generate(prompt, 8, temperature=0, cache=ConcatKVCache())
print("greedy, no cache:  ", greedy_plain.numpy().tolist())
print("greedy, with cache:", greedy_cached.numpy().tolist())
print("sampled (seed 0), twice:", model.generate(prompt, 8, top_k=5, seed=0).numpy().tolist(),
      model.generate(prompt, 8, top_k=5, seed=0, cache=ConcatKVCache()).numpy().tolist())
print("too long:", expect_error(ValueError, lambda: model.generate(prompt, 14), "max_seq_len=16"))

# %% [markdown]
# ## 6. Saving and loading a GPT
#
# A trained model is its configuration, its weights and its tokenizer. The weights are
# saved as an `.npz` file of the `state_dict`'s arrays, one entry per dotted name (float32,
# as the model holds them), read back with `allow_pickle=False`: a weights file can never
# run code. Module 07's `write_atomically` writes it, so an interrupted save never leaves a
# half-written file. `save_pretrained(folder, model, tokenizer)` writes
# `model.npz`, `config.json` and `tokenizer.json` (Module 11's format) into one folder;
# `load_pretrained(folder)` rebuilds the `GPT` and the `BPETokenizer` from them. Without a
# folder it loads the reference GPT of the course, `data/gpt/` (trained by
# `examples/train_gpt.py`, see its `README.md`). All given.

# %%
#| export
WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE = "model.npz", "config.json", "tokenizer.json"
REFERENCE_GPT_FOLDER = "gpt"  # under the data folder: data/gpt/


def save_state_dict(path: str | os.PathLike[str], model: Module) -> None:
    """Write ``model.state_dict()`` to ``path`` as an uncompressed .npz (one array per key), atomically."""
    arrays = {name: tensor.data for name, tensor in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda handle: np.savez(handle, **arrays))


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The arrays of a file written by ``save_state_dict``, by key (no pickle).

    FileNotFoundError naming a missing file; ValueError naming a file that is not an .npz archive.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, AttributeError, TypeError) as error:  # not a zip / npy inside / object arrays
        raise ValueError(f"{path} is not a weights file written by save_state_dict ({error})") from error


def save_pretrained(folder: str | os.PathLike[str], model: GPT, tokenizer: BPETokenizer) -> None:
    """Write ``model.npz``, ``config.json`` and ``tokenizer.json`` of a GPT and its tokenizer into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_state_dict(folder / WEIGHTS_FILE, model)
    (folder / CONFIG_FILE).write_text(json.dumps(asdict(model.config), indent=2) + "\n", encoding="utf-8")
    tokenizer.save(folder / TOKENIZER_FILE)


def load_pretrained(folder: str | os.PathLike[str] | None = None) -> tuple[GPT, BPETokenizer]:
    """``(model, tokenizer)`` from a folder written by ``save_pretrained`` (default: the reference
    GPT in ``data/gpt/``); the model is in eval mode. FileNotFoundError naming the folder and the fix."""
    folder = Path(folder) if folder is not None else data_dir() / REFERENCE_GPT_FOLDER
    missing = [name for name in (WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {', '.join(missing)}: train the reference GPT with `python examples/train_gpt.py`, "
            "or pass the folder save_pretrained wrote"
        )
    config = GPTConfig(**json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")))
    model = GPT(config)
    model.load_state_dict(load_state_dict_file(folder / WEIGHTS_FILE))
    model.eval()
    return model, BPETokenizer.load(folder / TOKENIZER_FILE)


# %% [markdown]
# ## 7. Counting parameters and FLOPs
#
# **Parameters.** Per block: the attention's `in_proj` ($3E^2 + 3E$) and `out_proj`
# ($E^2 + E$), the MLP ($4E^2 + 4E$ and $4E^2 + E$) and two LayerNorms ($2E$ each): about
# $12E^2$. Plus the token table $VE$ (shared with the head), the position table
# $T_{max}E$ and the final LayerNorm. `count_parameters_by_component(model)` counts them
# from the model itself, by component.
#
# **FLOPs per token** (forward, a multiply-add counted as 2 FLOPs). Every weight matrix of
# the blocks and the head is used once per token: $2(12LE^2 + VE)$ FLOPs. Attention adds,
# per layer, the scores $q \cdot k$ against the $S$ keys the token sees and the weighted sum
# of $S$ values: $2SE + 2SE$. So for a token that attends to $S$ positions:
#
# $$\text{FLOPs}(S) = 2\,(12 L E^2 + V E) + 4 L S E.$$
#
# Not counted: embedding lookups (no arithmetic), biases, LayerNorm, GELU, softmax and the
# residual additions, which cost $O(E)$ per token against the $O(E^2)$ above. A token at
# position $t$ of a causal pass sees $S = t + 1$ keys; `flops_per_token(config, seq_len)`
# gives the cost of the *last* token of a `seq_len`-token sequence, which is exactly the
# work of one cached generation step at that length. The analysis checks this formula
# against a count of the same operations from the shapes the ops actually see.

# %%
#| export
def count_parameters_by_component(model: GPT) -> dict[str, int]:
    """Parameters of ``model`` by component: ``token_embedding`` (shared with ``lm_head`` when
    tied), ``position_embedding``, ``attention``, ``mlp``, ``layernorm``, ``lm_head`` (0 when
    tied) and ``total`` (= ``sum(p.size for p in model.parameters())``: a tied weight counts once)."""
    counts = dict.fromkeys(("token_embedding", "position_embedding", "attention", "mlp", "layernorm", "lm_head"), 0)
    for name, parameter in model.named_parameters():
        part = name.split(".")
        if part[0] == "tok_emb":
            key = "token_embedding"
        elif part[0] == "pos_emb":
            key = "position_embedding"
        elif part[0] == "lm_head":
            key = "lm_head"
        elif part[0] == "ln_f" or (part[0] == "blocks" and part[2] in ("ln_1", "ln_2")):
            key = "layernorm"
        elif part[0] == "blocks" and part[2] in ("attn", "mlp"):
            key = "attention" if part[2] == "attn" else "mlp"
        else:
            raise ValueError(f"count_parameters_by_component: {name!r} belongs to no known GPT component")
        counts[key] += parameter.size
    counts["total"] = sum(counts.values())
    return counts


def flops_per_token(config: GPTConfig, seq_len: int) -> int:
    """Forward FLOPs of one token that attends to ``seq_len`` positions (the last token of a
    ``seq_len``-token causal pass, or one cached generation step at that length):
    ``2 * (12 * L * E^2 + V * E) + 4 * L * seq_len * E`` (weight matmuls and attention;
    biases, norms, activations, softmax and lookups not counted)."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or not 1 <= seq_len <= config.max_seq_len:
        raise ValueError(f"flops_per_token: seq_len must be a whole number in 1..max_seq_len={config.max_seq_len}, got {seq_len!r}")
    L, E, V = config.n_layer, config.n_embd, config.vocab_size
    return 2 * (12 * L * E * E + V * E) + 4 * L * int(seq_len) * E


def lm_loss(model: GPT, tokens: np.ndarray, seq_len: int | None = None, batch_size: int = 16) -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` on a 1-d token array, cut into
    consecutive windows of ``seq_len + 1`` tokens (default ``max_seq_len``; a short tail is
    dropped); every window predicts its last ``seq_len`` tokens from the ones before, in eval
    mode under ``no_grad``. ValueError when ``tokens`` holds less than one window."""
    seq_len = model.config.max_seq_len if seq_len is None else seq_len
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
    windows = (len(tokens) - 1) // seq_len
    if not 1 <= seq_len <= model.config.max_seq_len or windows < 1:
        raise ValueError(f"lm_loss: need seq_len in 1..{model.config.max_seq_len} and at least seq_len + 1 tokens, "
                         f"got seq_len={seq_len} and {len(tokens)} tokens")
    starts = np.arange(windows) * seq_len
    rows = starts[:, None] + np.arange(seq_len + 1)
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for first in range(0, windows, batch_size):
                batch = tokens[rows[first:first + batch_size]]
                logits = model(batch[:, :-1]).numpy().astype(np.float64)
                shifted = logits - logits.max(axis=-1, keepdims=True)
                log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
                picked = np.take_along_axis(log_probs, batch[:, 1:, None], axis=-1)
                total -= float(picked.sum())
                count += picked.size
    finally:
        model.train(was_training)
    return total / count


# %% [markdown]
# ## 8. The reference GPT
#
# `python examples/train_gpt.py` trained a GPT on the story corpus of Module 11 with
# everything you have built: the BPE tokenizer, this model, cross-entropy, AdamW with a
# cosine schedule, gradient clipping. It took minutes, not hours, on a 2-core machine, and
# its folder `data/gpt/` holds the weights (under 2 MB), the tokenizer, and a `README.md`
# with the exact command, the configuration and the figures of the run. This notebook
# never trains it; it loads it.
#
# Before training, the script measured two **baselines** on the validation split: a
# unigram model (the frequency of each token) and a bigram model (the frequency of each
# token given the previous one), both fitted on the train split, and set the target the
# GPT had to meet. A bigram model cannot know the name of the story's hero; a transformer
# can look back and copy it. The cell prints the script's figures from its `metrics.json`
# and measures the loss again here on the first windows of the validation split.

# %%
from tinytorch.text import load_corpus

reference, tokenizer = load_pretrained()
metrics = json.loads((data_dir() / REFERENCE_GPT_FOLDER / "metrics.json").read_text(encoding="utf-8"))
config = reference.config
print(config)
counts = count_parameters_by_component(reference)
for part, number in counts.items():
    print(f"  {part:>18}: {number:>8,} parameters ({number / counts['total']:6.1%})")
print(f"weights: {sum(p.nbytes for p in reference.parameters()):,} bytes of float32")
baselines = metrics["baselines"]
print(f"examples/train_gpt.py: {metrics['steps']} steps in {metrics['train_seconds'] / 60:.1f} min; validation loss "
      f"(whole split) {metrics['val_loss']:.3f} nats/token; unigram {baselines['unigram']:.3f}, bigram "
      f"{baselines['bigram']:.3f}, target {metrics['target']:.2f}")
val_tokens = np.asarray(tokenizer.encode(load_corpus("val")[:6000]), dtype=np.int64)  # enough for 4 windows
here = lm_loss(reference, val_tokens[: 4 * config.max_seq_len + 1])
print(f"measured here on the first {4 * config.max_seq_len} validation tokens: {here:.3f} nats/token "
      f"(perplexity {math.exp(here):.2f}: as unsure as a choice among {math.exp(here):.1f} tokens)")

# %% [markdown]
# And the model writes. Greedy decoding from the opening of a story, then a sample at
# temperature 0.8 from the 20 most likely tokens (seed 0), both with a cache:

# %%
story_start = "Once upon a time, there was a little girl named"
prompt_ids = np.asarray([tokenizer.encode(story_start)])
greedy_text = reference.generate(prompt_ids, 40, temperature=0, cache=ConcatKVCache())
sampled_text = reference.generate(prompt_ids, 40, temperature=0.8, top_k=20, seed=0, cache=ConcatKVCache())
print("greedy: ", tokenizer.decode(greedy_text.numpy()[0]))
print("sampled:", tokenizer.decode(sampled_text.numpy()[0]))

# %% [markdown]
# ## 9. Systems analysis
#
# ### Where the FLOPs of a token go
# The closed form of section 7 for the reference configuration: the weight matrices cost
# the same for every token, the attention part grows with the number of positions the
# token looks back at. The second table checks the formula against the operations that
# actually run: a dispatch observer (Module 01's `add_observer`, the seam Module 15's
# profiler uses) adds up $2 \cdot \text{rows} \cdot \text{in} \cdot \text{out}$ for every
# `linear` op and $2LSD$ twice per head for every attention op, from the shapes it sees
# during one cached generation step at position $S - 1$.

# %%
from tinytorch.tensor import add_observer, remove_observer

ATTENTION_OP = "attention"  # the op name Module 13 registers for the fused attention

L, E, V = config.n_layer, config.n_embd, config.vocab_size
for S in (1, config.max_seq_len // 2, config.max_seq_len):
    total = flops_per_token(config, S)
    attention_part = 4 * L * S * E
    print(f"S = {S:>3}: {total / 1e6:6.3f} MFLOP per token, of which attention over the S keys "
          f"{attention_part / total:5.1%}")


class FlopCounter:
    """Adds up the FLOPs of the ``linear`` ops and the attention ops that dispatch runs, from their shapes."""

    def __init__(self) -> None:
        self.linear = 0
        self.attention = 0

    def before(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any]) -> None:
        if op == "linear":
            rows = int(np.prod(inputs[0].shape[:-1]))
            self.linear += 2 * rows * inputs[1].shape[0] * inputs[1].shape[1]
        elif op == ATTENTION_OP:
            query, key, value = inputs[:3]
            heads = int(np.prod(query.shape[:-2]))  # batch x heads
            self.attention += 2 * heads * query.shape[-2] * key.shape[-2] * (query.shape[-1] + value.shape[-1])

    def after(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any], out: Tensor) -> None:
        pass


for position in (0, 31, config.max_seq_len - 1):
    cache = ConcatKVCache()
    with no_grad():
        if position:
            reference(val_tokens[None, :position], cache=cache)
        counter = FlopCounter()
        add_observer(counter)
        try:
            reference(val_tokens[None, position:position + 1], cache=cache)
        finally:
            remove_observer(counter)
    counted = counter.linear + counter.attention
    print(f"one cached step at position {position:>3}: counted {counted:>9,} FLOPs "
          f"(linear {counter.linear:,}, attention {counter.attention:,}); "
          f"flops_per_token(config, {position + 1}) = {flops_per_token(config, position + 1):,}")

# %% [markdown]
# ### Generating with and without the cache
# Writing $n$ tokens after a prompt of $P$: without a cache, step $s$ runs the model over
# $P + s$ tokens, and the token at position $t$ costs $\text{FLOPs}(t + 1)$; with a cache,
# the prompt runs once and every step processes a single token. The cell adds up both
# from the closed form and times both runs of `generate` on the reference model (greedy,
# so they must give the same tokens).

# %%
import time


def generation_flops(config: GPTConfig, prompt: int, new: int, cached: bool) -> int:
    """FLOPs of generate() writing ``new`` tokens after ``prompt``, by the closed form."""
    prompt_pass = sum(flops_per_token(config, t) for t in range(1, prompt + 1))
    if cached:
        return prompt_pass + sum(flops_per_token(config, prompt + s + 1) for s in range(new - 1))
    return sum(sum(flops_per_token(config, t) for t in range(1, prompt + s + 1)) for s in range(new))


P, N = 8, 32
prompt = val_tokens[None, :P]
timings = {}
for cached in (False, True):  # one run each: the notebook must stay fast
    start = time.perf_counter()
    tokens = reference.generate(prompt, N, temperature=0, cache=ConcatKVCache() if cached else None)
    timings[cached] = time.perf_counter() - start
    timings[f"tokens {cached}"] = tokens.numpy()
assert np.array_equal(timings["tokens False"], timings["tokens True"]), "the cache must not change the tokens"
plain_flops, cached_flops = generation_flops(config, P, N, False), generation_flops(config, P, N, True)
print(f"{N} tokens after a prompt of {P}: no cache {plain_flops / 1e6:7.1f} MFLOP, {timings[False] * 1e3:6.1f} ms; "
      f"with cache {cached_flops / 1e6:6.1f} MFLOP, {timings[True] * 1e3:6.1f} ms")
print(f"the cache saves {plain_flops / cached_flops:.1f}x the FLOPs and {timings[False] / timings[True]:.1f}x the time; "
      f"same tokens: {np.array_equal(timings['tokens False'], timings['tokens True'])}")

# %% [markdown]
# ### What `no_grad` saves in inference
# With gradients on, every op records a node that keeps its output (and whatever its
# backward needs) alive until `backward()` runs or the graph is dropped: a forward pass
# holds all its activations. Under `no_grad` nothing is recorded, so each intermediate is
# freed as soon as the next op has used it. The cell walks the graph behind the logits of
# one forward pass of 4 sequences of 64 tokens and adds up the bytes of the arrays its nodes
# hold, then measures the peak of newly allocated memory (`tracemalloc`, which sees NumPy's
# buffers) for the same forward pass with and without `no_grad`.

# %%
import tracemalloc


def graph_bytes(root: Tensor) -> tuple[int, int]:
    """(nodes, bytes of the arrays they hold: each output, and arrays in their attributes) behind ``root``."""
    seen_nodes, seen_arrays, total = set(), set(), 0
    stack = [root.grad_fn] if root.grad_fn is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        for array in [node.out, *(v for v in node.attrs.values() if isinstance(v, np.ndarray))]:
            if id(array) not in seen_arrays:
                seen_arrays.add(id(array))
                total += array.nbytes
        stack.extend(t.grad_fn for t in node.inputs if t.grad_fn is not None)
    return len(seen_nodes), total


batch = val_tokens[: 4 * 64].reshape(4, 64)
for grad_mode in ("with grad", "no_grad"):
    tracemalloc.start()
    if grad_mode == "no_grad":
        with no_grad():
            logits = reference(batch)
    else:
        logits = reference(batch)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    nodes, held = graph_bytes(logits)
    print(f"{grad_mode:>9}: peak new memory {peak / 2**20:6.2f} MiB; the graph behind the logits: {nodes:3d} nodes "
          f"holding {held / 2**20:6.2f} MiB; logits.grad_fn is {'None' if logits.grad_fn is None else 'a Node'}")
print(f"the logits alone: {logits.nbytes / 2**20:.2f} MiB; the weights: {sum(p.nbytes for p in reference.parameters()) / 2**20:.2f} MiB")

# %% [markdown]
# **Reading the figures.** Per token, the weight matrices dominate at these sizes; the
# attention part grows linearly with the positions a token looks back at, and the counter
# agrees with the closed form to the FLOP, because both count the same matmuls. Without a
# cache, generation repeats the whole prefix at every step, so its FLOPs grow with the
# square of the length; the cache cuts that to one token per step. The time saved is
# smaller than the FLOPs saved: a one-token step still pays the Python cost of every op
# of every layer (Module 15 measures it), which no cache removes. And `no_grad` is what
# makes inference lean: the graph of one training-mode forward pass holds several times
# the weights' size in activations, the `no_grad` pass holds nothing once it returns.
#
# ## Summary
#
# You assembled a GPT from the parts of Modules 10–13: a pre-norm transformer block, the
# model's forward pass with its position offset for a cache, one decoding step (greedy,
# temperature, top-k, from an inverse CDF), and the decoding loop with and without a KV
# cache, which give the same tokens. The given code ties the output head to the token
# embedding, initializes the weights as GPT-2 does, saves and loads a model without pickle,
# and counts parameters and FLOPs. The reference GPT trained with all of it writes stories
# from the corpus, well below the loss of a bigram model.
#
# **Reflection questions**
#
# 1. The parameter table shows where the reference GPT's parameters sit. Which component
#    would grow fastest if you doubled `n_embd`, and which if you doubled the vocabulary?
#    What does weight tying save at each size?
# 2. The FLOP table shows the attention share growing with the number of positions. At
#    what sequence length would attention cost as much as all the weight matrices for the
#    reference configuration? (Use the closed form.)
# 3. The cache saved more FLOPs than time. List the costs of a one-token step that do not
#    shrink with the cache, and say which later module attacks each.
# 4. The cache itself costs memory: two tensors of shape `(B, H, T, D)` per layer. How many
#    bytes does it hold for the reference model at `max_seq_len`, batch 1? Module 19
#    preallocates it; what does concatenation (Module 13's `ConcatKVCache`) cost per step instead?
# 5. Greedy decoding of a small model tends to repeat itself. Which of the decoding rules
#    above changes that, and what does it cost in reproducibility?
