"""The GPT of Module 14 written by hand in plain NumPy, for speed: the floor of ``benchmarks.gpt``.

What a person writes without a framework: the forward pass, the closed-form backward of
the mean cross-entropy through the whole model, AdamW with PyTorch's update rule, and
greedy decoding without a cache. It is the bar the framework is measured against, so it
takes every shortcut that does not change the numbers:

- float32 throughout (the dtype follows the weights, so the tests can run it in float64);
- one fused ``(B*T, E) @ (E, 3E)`` matmul for q, k and v, every ``(B*T, D)`` activation
  flattened into one GEMM (a 3-d ``@`` 2-d loops over the batch);
- all heads at once through ``reshape``/``transpose`` and one batched matmul;
- softmax, LayerNorm and the optimizer in place where an array is not needed again;
- ``x * x * x`` in GELU, never ``x ** 3`` (float32 ``powf`` is ~20x slower and made a
  whole forward pass ~4x slower here, TOOLCHAIN.md).

The model (the same in ``benchmarks.torch_gpt`` and ``tinytorch.models.gpt``):
pre-norm blocks ``x = x + attn(ln_1(x))``, ``x = x + mlp(ln_2(x))``; causal multi-head
self-attention with a fused ``in_proj`` Linear(E, 3E) (q, k, v in that order) and
``out_proj`` Linear(E, E); the MLP Linear(E, 4E) -> GELU (tanh form) -> Linear(4E, E);
learned token and position embeddings; a final LayerNorm; ``lm_head`` tied to the token
embedding (no bias). Biases on the other Linears, LayerNorm eps 1e-5.

Weights are a dict of arrays keyed by state_dict names (``Weights``), Linear weights laid
out ``(out, in)`` as in ``torch.nn.Linear``, so they copy between the implementations::

    tok_emb.weight (V, E)      pos_emb.weight (max_seq_len, E)      ln_f.weight/bias (E,)
    blocks.{i}.ln_1.weight/bias (E,)         blocks.{i}.ln_2.weight/bias (E,)
    blocks.{i}.attn.in_proj.weight (3E, E)   blocks.{i}.attn.in_proj.bias (3E,)
    blocks.{i}.attn.out_proj.weight (E, E)   blocks.{i}.attn.out_proj.bias (E,)
    blocks.{i}.mlp.fc.weight (4E, E)         blocks.{i}.mlp.fc.bias (4E,)
    blocks.{i}.mlp.proj.weight (E, 4E)       blocks.{i}.mlp.proj.bias (E,)

The tied ``lm_head.weight`` is ``tok_emb.weight`` and is not stored twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Weights = dict[str, np.ndarray]
LN_EPS = 1e-5
GELU_C = math.sqrt(2.0 / math.pi)  # tanh form: 0.5 x (1 + tanh(c (x + 0.044715 x^3)))
GELU_A = 0.044715


@dataclass(frozen=True)
class GPTShape:
    """Sizes of the model: vocabulary, context, layers, heads and width."""

    vocab_size: int = 512
    max_seq_len: int = 256
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")

    def describe(self) -> str:
        return (f"vocab {self.vocab_size}, n_embd {self.n_embd}, {self.n_layer} layers, {self.n_head} heads, "
                f"max_seq_len {self.max_seq_len}")


def parameter_names(shape: GPTShape) -> list[str]:
    """All keys of a ``Weights`` dict, in the order the model uses them."""
    names = ["tok_emb.weight", "pos_emb.weight"]
    for i in range(shape.n_layer):
        names += [f"blocks.{i}.{part}" for part in (
            "ln_1.weight", "ln_1.bias", "attn.in_proj.weight", "attn.in_proj.bias",
            "attn.out_proj.weight", "attn.out_proj.bias", "ln_2.weight", "ln_2.bias",
            "mlp.fc.weight", "mlp.fc.bias", "mlp.proj.weight", "mlp.proj.bias")]
    return names + ["ln_f.weight", "ln_f.bias"]


def init_weights(shape: GPTShape, seed: int, dtype: Any = np.float32) -> Weights:
    """GPT-2 style initialisation from a seeded generator.

    Linear and embedding weights ~ N(0, 0.02); the two projections that write into the
    residual stream (``out_proj``, ``mlp.proj``) ~ N(0, 0.02 / sqrt(2 n_layer)); LayerNorm
    weight 1. Biases get small random values (N(0, 0.02)) rather than zeros so that every
    term of the backward pass is exercised when implementations are compared.
    """
    rng = np.random.default_rng(seed)
    E, residual_std = shape.n_embd, 0.02 / math.sqrt(2 * shape.n_layer)
    sizes = {"ln_1": (E,), "ln_2": (E,), "attn.in_proj": (3 * E, E), "attn.out_proj": (E, E),
             "mlp.fc": (4 * E, E), "mlp.proj": (E, 4 * E)}
    weights: Weights = {}

    def normal(size: tuple[int, ...], std: float) -> np.ndarray:
        return (rng.standard_normal(size) * std).astype(dtype)

    weights["tok_emb.weight"] = normal((shape.vocab_size, E), 0.02)
    weights["pos_emb.weight"] = normal((shape.max_seq_len, E), 0.02)
    for name in parameter_names(shape)[2:]:
        module, kind = name.rsplit(".", 1)
        part = module.split(".", 2)[-1] if module.startswith("blocks.") else module
        size = (E,) if part == "ln_f" else sizes[part]
        if kind == "bias":
            weights[name] = normal((size[0],), 0.02)
        elif part.startswith("ln"):
            weights[name] = np.ones(size, dtype=dtype)
        else:
            std = residual_std if part in ("attn.out_proj", "mlp.proj") else 0.02
            weights[name] = normal(size, std)
    return weights


def copy_weights(weights: Weights) -> Weights:
    return {name: array.copy() for name, array in weights.items()}


# ----------------------------------------------------------------------------- pieces
def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LayerNorm over the last axis of ``x`` (N, E): (output, normalized x, 1/std (N, 1))."""
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.einsum("ij,ij->i", centered, centered)[:, None] / x.shape[-1]  # one pass, no temporary
    rstd = 1.0 / np.sqrt(var + LN_EPS)
    xhat = centered
    xhat *= rstd
    out = xhat * weight
    out += bias
    return out, xhat, rstd


def layer_norm_backward(grad: np.ndarray, xhat: np.ndarray, rstd: np.ndarray,
                        weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of LayerNorm: input ``rstd (g - mean(g) - xhat mean(g xhat))`` with ``g = grad * weight``; weight; bias."""
    grad_weight = np.einsum("ij,ij->j", grad, xhat)
    grad_bias = grad.sum(axis=0)
    g = grad * weight
    mean_g = g.mean(axis=-1, keepdims=True)
    mean_gx = np.einsum("ij,ij->i", g, xhat)[:, None] / xhat.shape[-1]
    g -= mean_g
    g -= xhat * mean_gx
    g *= rstd
    return g, grad_weight, grad_bias


def gelu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GELU, tanh form, of ``x``; also returns the tanh for the backward."""
    inner = x * x * x  # never x ** 3: float32 powf is ~20x slower
    inner *= GELU_A
    inner += x
    inner *= GELU_C
    t = np.tanh(inner, out=inner)
    out = t + 1.0
    out *= x
    out *= 0.5
    return out, t


def gelu_backward(grad: np.ndarray, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """d gelu / dx = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3a x^2), times ``grad``."""
    sech2 = t * t
    np.subtract(1.0, sech2, out=sech2)
    poly = x * x
    poly *= 3.0 * GELU_A
    poly += 1.0
    poly *= GELU_C
    poly *= sech2
    poly *= x
    poly += t
    poly += 1.0
    poly *= 0.5
    poly *= grad
    return poly


def causal_mask(T: int, dtype: Any) -> np.ndarray:
    """(T, T) additive mask: 0 where query i may see key j (j <= i), -inf above the diagonal."""
    return np.triu(np.full((T, T), -np.inf, dtype=dtype), k=1)


def attention(qkv: np.ndarray, B: int, T: int, n_head: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Causal attention of all heads from the fused projection ``qkv`` (B*T, 3E).

    Returns the heads' outputs merged back to (B*T, E) and (q, k, v, probabilities) for
    the backward, q/k/v (B, H, T, D), probabilities (B, H, T, T).
    """
    E = qkv.shape[1] // 3
    D = E // n_head
    q, k, v = qkv.reshape(B, T, 3, n_head, D).transpose(2, 0, 3, 1, 4)
    scores = q @ k.transpose(0, 1, 3, 2)
    scores *= 1.0 / math.sqrt(D)
    scores += causal_mask(T, scores.dtype)
    scores -= scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores, out=scores)
    probs /= probs.sum(axis=-1, keepdims=True)
    heads = probs @ v  # (B, H, T, D)
    return heads.transpose(0, 2, 1, 3).reshape(B * T, E), (q, k, v, probs)


def attention_backward(grad_heads: np.ndarray, saved: tuple[np.ndarray, ...], B: int, T: int) -> np.ndarray:
    """Gradient of ``attention`` w.r.t. its fused input (B*T, 3E) from the merged heads' gradient (B*T, E).

    dV = P^T dO; dP = dO V^T; dS = P (dP - rowsum(dP P)); dQ = dS K s; dK = dS^T Q s.
    """
    q, k, v, probs = saved
    H, D = q.shape[1], q.shape[3]
    d_out = grad_heads.reshape(B, T, H, D).transpose(0, 2, 1, 3)
    d_qkv = np.empty((B, T, 3, H, D), dtype=grad_heads.dtype)
    d_qkv_heads = d_qkv.transpose(2, 0, 3, 1, 4)  # (3, B, H, T, D) view to write q, k, v into
    np.matmul(probs.transpose(0, 1, 3, 2), d_out, out=d_qkv_heads[2])
    d_probs = d_out @ v.transpose(0, 1, 3, 2)
    d_probs -= np.einsum("bhij,bhij->bhi", d_probs, probs)[..., None]
    d_probs *= probs
    d_probs *= 1.0 / math.sqrt(D)  # now dS * scale
    np.matmul(d_probs, k, out=d_qkv_heads[0])
    np.matmul(d_probs.transpose(0, 1, 3, 2), q, out=d_qkv_heads[1])
    return d_qkv.reshape(B * T, 3 * H * D)


# ----------------------------------------------------------------------------- model
def hidden_states(weights: Weights, idx: np.ndarray, shape: GPTShape,
                  saved: list[Any] | None = None) -> np.ndarray:
    """The final LayerNorm's output (B*T, E) for token ids ``idx`` (B, T).

    When ``saved`` is a list, every activation the backward needs is appended to it.
    """
    B, T = idx.shape
    if T > shape.max_seq_len:
        raise ValueError(f"sequence of {T} tokens exceeds max_seq_len={shape.max_seq_len}")
    E = shape.n_embd
    x = weights["tok_emb.weight"][idx]
    x += weights["pos_emb.weight"][:T]
    x = x.reshape(B * T, E)
    for i in range(shape.n_layer):
        p = f"blocks.{i}."
        h, xhat1, rstd1 = layer_norm(x, weights[p + "ln_1.weight"], weights[p + "ln_1.bias"])
        qkv = h @ weights[p + "attn.in_proj.weight"].T
        qkv += weights[p + "attn.in_proj.bias"]
        heads, attn_saved = attention(qkv, B, T, shape.n_head)
        a = heads @ weights[p + "attn.out_proj.weight"].T
        a += weights[p + "attn.out_proj.bias"]
        x = x + a
        h2, xhat2, rstd2 = layer_norm(x, weights[p + "ln_2.weight"], weights[p + "ln_2.bias"])
        f = h2 @ weights[p + "mlp.fc.weight"].T
        f += weights[p + "mlp.fc.bias"]
        g, t = gelu(f)
        m = g @ weights[p + "mlp.proj.weight"].T
        m += weights[p + "mlp.proj.bias"]
        x = x + m
        if saved is not None:
            saved.append((h, xhat1, rstd1, attn_saved, heads, h2, xhat2, rstd2, f, t, g))
    out, xhat, rstd = layer_norm(x, weights["ln_f.weight"], weights["ln_f.bias"])
    if saved is not None:
        saved.append((xhat, rstd))
    return out


def forward(weights: Weights, idx: np.ndarray, shape: GPTShape) -> np.ndarray:
    """Logits (B, T, V) for token ids ``idx`` (B, T)."""
    B, T = idx.shape
    return (hidden_states(weights, idx, shape) @ weights["tok_emb.weight"].T).reshape(B, T, shape.vocab_size)


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``logits`` (N, V) against ``targets`` (N,); and its gradient (N, V)."""
    n = logits.shape[0]
    rows = np.arange(n)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    total = exps.sum(axis=1, keepdims=True)
    loss = float(np.log(total).mean() - shifted[rows, targets].mean())
    grad = exps
    grad /= total
    grad[rows, targets] -= 1.0
    grad *= 1.0 / n
    return loss, grad


def embedding_backward(grad: np.ndarray, idx: np.ndarray, num_embeddings: int) -> np.ndarray:
    """Scatter-add of the rows of ``grad`` (N, E) into a (num_embeddings, E) table at ``idx`` (N,).

    Repeated ids accumulate. The rows are sorted by id and each run of equal ids summed by
    one ``np.add.reduceat``, a vectorized pass, rather than ``np.add.at``'s row-by-row loop
    or a (num_embeddings, N) one-hot matmul.
    """
    order = np.argsort(idx, kind="stable")
    sorted_ids = idx[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    table = np.zeros((num_embeddings, grad.shape[1]), dtype=grad.dtype)
    table[sorted_ids[starts]] = np.add.reduceat(grad[order], starts, axis=0)
    return table


def loss_and_grads(weights: Weights, idx: np.ndarray, targets: np.ndarray,
                   shape: GPTShape) -> tuple[float, Weights]:
    """Mean next-token cross-entropy of ``idx`` (B, T) against ``targets`` (B, T) and every gradient."""
    B, T = idx.shape
    E = shape.n_embd
    saved: list[Any] = []
    final = hidden_states(weights, idx, shape, saved)
    wte = weights["tok_emb.weight"]
    loss, d_logits = cross_entropy(final @ wte.T, targets.reshape(-1))
    grads: Weights = {}

    # lm_head tied to the token embedding: its gradient is added to the embedding's below.
    grad_wte = d_logits.T @ final
    dx = d_logits @ wte
    xhat, rstd = saved.pop()
    dx, grads["ln_f.weight"], grads["ln_f.bias"] = layer_norm_backward(dx, xhat, rstd, weights["ln_f.weight"])
    for i in reversed(range(shape.n_layer)):
        p = f"blocks.{i}."
        h, xhat1, rstd1, attn_saved, heads, h2, xhat2, rstd2, f, t, g = saved.pop()
        # x = x + mlp(ln_2(x)): the residual passes dx through unchanged
        grads[p + "mlp.proj.weight"] = dx.T @ g
        grads[p + "mlp.proj.bias"] = dx.sum(axis=0)
        df = gelu_backward(dx @ weights[p + "mlp.proj.weight"], f, t)
        grads[p + "mlp.fc.weight"] = df.T @ h2
        grads[p + "mlp.fc.bias"] = df.sum(axis=0)
        dh2 = df @ weights[p + "mlp.fc.weight"]
        dh2, grads[p + "ln_2.weight"], grads[p + "ln_2.bias"] = layer_norm_backward(
            dh2, xhat2, rstd2, weights[p + "ln_2.weight"])
        dx += dh2
        # x = x + attn(ln_1(x))
        grads[p + "attn.out_proj.weight"] = dx.T @ heads
        grads[p + "attn.out_proj.bias"] = dx.sum(axis=0)
        d_qkv = attention_backward(dx @ weights[p + "attn.out_proj.weight"], attn_saved, B, T)
        grads[p + "attn.in_proj.weight"] = d_qkv.T @ h
        grads[p + "attn.in_proj.bias"] = d_qkv.sum(axis=0)
        dh = d_qkv @ weights[p + "attn.in_proj.weight"]
        dh, grads[p + "ln_1.weight"], grads[p + "ln_1.bias"] = layer_norm_backward(
            dh, xhat1, rstd1, weights[p + "ln_1.weight"])
        dx += dh
    grad_wpe = np.zeros_like(weights["pos_emb.weight"])
    grad_wpe[:T] = dx.reshape(B, T, E).sum(axis=0)
    grads["pos_emb.weight"] = grad_wpe
    grad_wte += embedding_backward(dx, idx.reshape(-1), shape.vocab_size)
    grads["tok_emb.weight"] = grad_wte
    return loss, grads


@dataclass
class AdamW:
    """AdamW with PyTorch's update rule (decoupled weight decay; eps outside the square root), in place.

    Per parameter: ``p *= 1 - lr wd``; ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``. Defaults are torch's.
    """

    params: Weights
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 1e-2
    steps: int = 0
    exp_avg: Weights = field(default_factory=dict)
    exp_avg_sq: Weights = field(default_factory=dict)
    scratch: Weights = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, p in self.params.items():
            self.exp_avg[name] = np.zeros_like(p)
            self.exp_avg_sq[name] = np.zeros_like(p)
            self.scratch[name] = np.empty_like(p)

    def step(self, grads: Weights) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        step_size = self.lr / (1.0 - beta1**self.steps)
        root_correction = math.sqrt(1.0 - beta2**self.steps)
        decay = 1.0 - self.lr * self.weight_decay
        for name, param in self.params.items():
            grad, m, v, tmp = grads[name], self.exp_avg[name], self.exp_avg_sq[name], self.scratch[name]
            param *= decay
            m *= beta1
            np.multiply(grad, 1.0 - beta1, out=tmp)
            m += tmp
            v *= beta2
            np.multiply(grad, grad, out=tmp)
            tmp *= 1.0 - beta2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp /= root_correction
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            param -= tmp


def train_step(weights: Weights, optimizer: AdamW, idx: np.ndarray, targets: np.ndarray, shape: GPTShape) -> float:
    """Forward, loss, backward and one AdamW step of ``weights`` (in place); returns the loss."""
    loss, grads = loss_and_grads(weights, idx, targets, shape)
    optimizer.step(grads)
    return loss


def greedy_decode(weights: Weights, prompt: np.ndarray, max_new_tokens: int, shape: GPTShape) -> np.ndarray:
    """Greedy decoding without a cache: the whole sequence is recomputed for every new token.

    ``prompt`` (B, T0) int -> (B, T0 + max_new_tokens) int64. Only the last position's
    logits are needed to pick the next token, so only that row goes through ``lm_head``.
    """
    tokens = np.asarray(prompt, dtype=np.int64)
    if tokens.shape[1] + max_new_tokens > shape.max_seq_len:
        raise ValueError(
            f"prompt of {tokens.shape[1]} tokens + {max_new_tokens} new exceeds max_seq_len={shape.max_seq_len}")
    B = tokens.shape[0]
    wte = weights["tok_emb.weight"]
    for _ in range(max_new_tokens):
        T = tokens.shape[1]
        last = hidden_states(weights, tokens, shape).reshape(B, T, -1)[:, -1]
        next_tokens = (last @ wte.T).argmax(axis=-1)
        tokens = np.concatenate([tokens, next_tokens[:, None]], axis=1)
    return tokens
