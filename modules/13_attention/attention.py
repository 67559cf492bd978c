# %% [markdown]
# # Module 13: Attention
#
# Module 12 turned tokens into vectors, one per position. **Attention** lets every position
# read from the others: each one asks a question (its *query*), every position offers a
# label (its *key*) and a content (its *value*), and each position receives the average of
# the values weighted by how well its query matches each key. It is the one operation of a
# transformer that moves information between positions, and it is also, by memory and
# time, the part that grows fastest with the length of the text.
#
# **What you will build**
#
# - `causal_mask`: which keys each query may see when the text is generated left to right;
# - `masked_softmax`: a softmax that gives masked positions exactly zero weight and a row with
#   nothing to attend to an all-zero result (never NaN);
# - `attention_kernel` and `attention_backward`: scaled dot-product attention as **one op**
#   with a fused forward and a closed-form backward;
# - `ConcatKVCache.update`: the simplest **KV cache**, which keeps the keys and values of the
#   tokens already seen so that generating a token costs work for one token, not all of them.
#
# You are given `scaled_dot_product_attention` (PyTorch's `F.scaled_dot_product_attention`,
# with its signature), `attention_weights` and `plot_attention` to look at what attention
# does, the cache protocol `KVCacheLike`, and `MultiHeadAttention`, the layer Module 14's GPT
# stacks.
#
# ```
#   x (B, T, E) ──in_proj──► q, k, v (B, H, T, D) ──► attention ──► (B, H, T, D) ──merge heads──► out_proj ──► (B, T, E)
#                                     │  cache.update(layer, k, v): k, v of all tokens so far (B, H, offset + T, D)
#   attention: S = q kᵀ · scale ─► mask ─► P = softmax(S) ─► P v          (one op: scores, softmax, sum)
# ```
#
# **Why a systems engineer cares.** The scores form a $(L \times S)$ matrix per head and per
# sample: the memory of attention grows with the *square* of the sequence length. Composed
# from Module 01 ops it records six graph nodes and keeps every intermediate alive; fused, it
# keeps only the probabilities. And without a cache, generating the $t$-th token recomputes
# attention for all $t$ tokens. You measure all three.
#
# **Connections.** Module 03's softmax and Module 04's `Linear` are the parts; Module 12's
# positional layers take the same `offset` the cache implies. Module 14 builds the GPT from
# `MultiHeadAttention`; Module 15 profiles it; Module 19 replaces `ConcatKVCache` with a
# preallocated `KVCache` that keeps this protocol.

# %%
#| default_exp nn.attention

# %%
#| export
from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import numpy as np

import tinytorch.tensor as tensor_module
from tinytorch.autograd import Node, is_grad_enabled, register_gradient
from tinytorch.nn.layers import Linear, Module
from tinytorch.tensor import DtypeError, ShapeError, Tensor, dispatch, register_kernel


# %% [markdown]
# ## 1. Scaled dot-product attention
#
# A query $q_i$ (a row of $Q$, shape $(L, E)$) is compared with every key $k_j$ (a row of
# $K$, shape $(S, E)$) by a dot product, the comparisons are turned into weights by a softmax
# over $j$, and the output is the weighted sum of the values (rows of $V$, shape
# $(S, E_v)$):
#
# $$S = \frac{Q K^\top}{\sqrt{E}} \;(L \times S), \qquad P = \operatorname{softmax}_{\text{rows}}(S), \qquad O = P V \;(L \times E_v).$$
#
# The scale $1/\sqrt{E}$ keeps the scores' spread independent of $E$: a dot product of two
# random vectors with unit-variance entries has variance $E$, and a softmax of large scores
# saturates to a one-hot row whose gradient vanishes. Any leading dimensions (batch, heads)
# ride along: `(..., L, E) x (..., S, E) x (..., S, Ev) -> (..., L, Ev)`.
#
# ### Masks
#
# A mask says which keys a query may use. As in PyTorch's `scaled_dot_product_attention`:
#
# - a **boolean** mask, broadcastable to `(..., L, S)`: `True` means *may attend*;
# - a **float** mask: added to the scores (`-inf` forbids a key, other values bias it);
# - `is_causal=True`: query $i$ may see keys $j \le i$ only, so a language model cannot
#   peek at the tokens it is asked to predict. PyTorch aligns this mask to the **top left**:
#   it is the lower triangle of an $(L, S)$ matrix of ones, even when $L \ne S$.
#
# **A cache shifts the triangle.** With a KV cache (section 4), a call sees $L$ new queries
# but $S = \text{offset} + L$ keys, the first `offset` of them cached. The new query $i$ sits
# at absolute position $\text{offset} + i$, so it may see keys $j \le \text{offset} + i$:
#
# ```
#   offset = 0, L = S = 4       offset = 3, L = 2, S = 5 (3 cached + 2 new)
#        keys 0 1 2 3                 keys 0 1 2 3 4
#   q0        1 0 0 0           q0 (pos 3)  1 1 1 1 0
#   q1        1 1 0 0           q1 (pos 4)  1 1 1 1 1
#   q2        1 1 1 0
#   q3        1 1 1 1
# ```
#
# ### Your task: `causal_mask`

# %% nbgrader={"grade": false, "grade_id": "impl-causal-mask", "locked": false, "solution": true, "schema_version": 3}
#| export
def causal_mask(query_len: int, key_len: int, offset: int = 0) -> np.ndarray:
    """Boolean ``(query_len, key_len)`` mask, True where key ``j`` may be seen by query ``i``: ``j <= i + offset``.

    ``offset=0`` is PyTorch's ``is_causal`` (the lower triangle, aligned top left);
    ``offset`` is the number of cached keys that come before the first query.
    Hint: build the query positions as a column ``(query_len, 1)`` (shifted by ``offset``) and the
    key positions as a row ``(1, key_len)``; one comparison broadcasts them to the whole mask.
    If you are stuck: ``np.arange(key_len)[None, :] <= np.arange(query_len)[:, None] + offset``.
    """
    ### BEGIN SOLUTION
    return np.arange(key_len)[None, :] <= np.arange(query_len)[:, None] + offset
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-causal-mask", "locked": true, "points": 2, "solution": false, "schema_version": 3}
from tinytorch.tensor import error_name, expect_error, observe, unseen_rng

mask = causal_mask(4, 4)
assert isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (4, 4), (
    f"causal_mask(4, 4): expected a (4, 4) bool array, got {getattr(mask, 'dtype', type(mask))} {getattr(mask, 'shape', '')}"
)
assert np.array_equal(mask, np.tril(np.ones((4, 4), dtype=bool))), (
    f"causal_mask(4, 4) is the lower triangle with its diagonal (j <= i: a query sees its own key), got {mask.astype(int).tolist()}"
)
assert np.array_equal(causal_mask(2, 3), [[True, False, False], [True, True, False]]), "causal_mask(2, 3): top-left aligned, j <= i"
assert np.array_equal(causal_mask(3, 2), [[True, False], [True, True], [True, True]]), (
    "causal_mask(3, 2): more queries than keys, still j <= i (the last queries see every key)"
)
assert np.array_equal(causal_mask(2, 5, offset=3), [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]), (
    "causal_mask(2, 5, offset=3): query i sits at position 3 + i and sees keys j <= 3 + i"
)
assert causal_mask(1, 7, offset=6).all(), "causal_mask(1, 7, offset=6): one new query after 6 cached keys sees all 7 keys"
assert causal_mask(0, 3).shape == (0, 3), "causal_mask(0, 3): no queries give an empty (0, 3) mask"

# Graded: the same function on sizes drawn for each graded run, compared with the reference.
rng = unseen_rng("test-causal-mask")
for _ in range(4):
    query_len, key_len, offset = (int(n) for n in rng.integers([0, 1, 0], [7, 9, 5]))
    observe("causal_mask(query_len, key_len)", causal_mask(query_len, key_len))
    observe("causal_mask(query_len, key_len, offset)", causal_mask(query_len, key_len, offset=offset))


# %% [markdown]
# ## 2. A softmax that respects the mask
#
# A forbidden position must get **exactly** zero weight, not a tiny one, and for every
# mask, including a row where the mask forbids everything (a padding query, say). The
# usual trick sets forbidden scores to $-\infty$ before the softmax; $e^{-\infty} = 0$ is
# exact. But a row that is $-\infty$ everywhere has maximum $-\infty$, and the stable
# softmax computes $-\infty - (-\infty) = \text{NaN}$: PyTorch's `scaled_dot_product_attention`
# returns NaN for such a row, and a NaN in one row of one sample poisons the whole batch's
# gradients. This course's rule: **a fully masked row gives all-zero weights** (so an
# all-zero output and zero gradients).
#
# For scores $s$ and an allowed mask $a$ (rows along the last axis):
#
# 1. put $-\infty$ where $a$ is False (`np.where`); scores that are $-\infty$ already (a float
#    mask's) count as forbidden too;
# 2. $m$ = the row maximum, replaced by 0 where it is $-\infty$ (a fully masked row);
# 3. $e = \exp(s - m)$: exactly 0 at forbidden positions;
# 4. divide by the row sum, replaced by 1 where it is 0, so a fully masked row stays 0.
#
# No step takes $\infty - \infty$ or $0/0$, so no NumPy warning either (the test runs under
# `np.errstate(all="raise")`). The result is a new array of the scores' dtype (float32 stays
# float32, float64 stays float64); the caller's `scores` are never written.
#
# ### Your task: `masked_softmax`

# %% nbgrader={"grade": false, "grade_id": "impl-masked-softmax", "locked": false, "solution": true, "schema_version": 3}
#| export
def masked_softmax(scores: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Softmax along the last axis of ``scores`` (..., L, S), zero where ``allowed`` is False.

    ``allowed``: a bool array broadcastable to ``scores``, or None (all allowed). ``-inf``
    scores get weight 0 too. A row with nothing allowed is all zeros, never NaN, and no step
    overflows or warns. Keeps the dtype; never writes into ``scores``.
    Hint: the four steps above; ``np.isfinite`` finds the rows whose maximum is ``-inf``.
    """
    ### BEGIN SOLUTION
    # One new array of the scores' size, then everything in place in it (the caller's scores
    # are never written): each further temporary of that size costs more than its arithmetic.
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf).astype(scores.dtype, copy=False)
    row_max = scores.max(axis=-1, keepdims=True)
    row_max[~np.isfinite(row_max)] = 0  # a fully masked row: shift by 0, not -inf
    exps = scores - row_max if allowed is None else np.subtract(scores, row_max, out=scores)
    np.exp(exps, out=exps)
    total = exps.sum(axis=-1, keepdims=True)
    total[total == 0] = 1
    exps /= total
    return exps
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-masked-softmax", "locked": true, "points": 3, "solution": false, "schema_version": 3}
rng = np.random.default_rng(0)
scores = rng.standard_normal((2, 3, 4)).astype(np.float32)
before = scores.copy()
plain = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
out = masked_softmax(scores)
assert isinstance(out, np.ndarray) and out.shape == (2, 3, 4), f"masked_softmax keeps the shape (2, 3, 4), got {getattr(out, 'shape', out)}"
assert out.dtype == np.float32, f"masked_softmax keeps the dtype: float32 scores give float32 weights, got {out.dtype}"
assert np.allclose(out, plain, atol=1e-6), "masked_softmax without a mask is the softmax along the last axis"
assert masked_softmax(scores.astype(np.float64)).dtype == np.float64, "masked_softmax keeps the dtype: float64 scores give float64 weights"
allowed = np.array([[True, False, True, False], [False, False, False, False], [True, True, True, True]])
with np.errstate(all="ignore"):  # a NaN is reported below in words; the warnings are checked at the end
    out = masked_softmax(scores, allowed)  # (3, 4) broadcast over the leading 2
assert np.array_equal(scores, before), "masked_softmax must not write into the scores it is given"
assert out.shape == (2, 3, 4), f"masked_softmax: a (3, 4) mask broadcasts over scores (2, 3, 4); got shape {out.shape}"
assert not np.isnan(out[:, 1]).any(), (
    "masked_softmax: a row with nothing allowed gave NaN; it must be all zeros: replace a -inf row maximum by 0 "
    "(step 2) and a zero row sum by 1 (step 4)"
)
assert np.all(out[:, 1] == 0), "masked_softmax: a row with nothing allowed is all zeros"
assert np.all(out[:, 0, [1, 3]] == 0), "masked_softmax: forbidden positions get exactly 0"
kept = np.exp(scores[:, 0, [0, 2]])
assert np.allclose(out[:, 0, [0, 2]], kept / kept.sum(axis=-1, keepdims=True), atol=1e-6), (
    "masked_softmax: the allowed entries of a row are the softmax of the allowed scores alone (they sum to 1)"
)
assert np.allclose(out[:, 2], plain[:, 2], atol=1e-6), "masked_softmax: a fully allowed row is the plain softmax"
with np.errstate(all="ignore"):
    minus_inf = masked_softmax(np.array([[0.5, -np.inf, 1.5], [-np.inf, -np.inf, -np.inf]], dtype=np.float32))
assert not np.isnan(minus_inf[1]).any() and np.all(minus_inf[1] == 0), (
    f"masked_softmax: a row of -inf scores (no mask) must be all zeros, not NaN: its maximum -inf is replaced by 0; got {minus_inf[1]}"
)
assert np.allclose(minus_inf[0], [1 / (1 + np.e), 0, np.e / (1 + np.e)], atol=1e-6) and minus_inf[0, 1] == 0, (
    f"masked_softmax: a -inf score gets weight exactly 0, the others share the rest; got {minus_inf[0]}"
)
with np.errstate(all="ignore"):
    extreme = masked_softmax(np.array([[1000.0, 0.0, 999.0]], dtype=np.float32))
assert np.allclose(extreme[0], [1 / (1 + np.exp(-1.0)), 0, np.exp(-1.0) / (1 + np.exp(-1.0))], atol=1e-6), (
    f"masked_softmax: scores of 1000 must not overflow: subtract the row maximum before exp; got {extreme[0]}"
)
with np.errstate(all="raise"):
    warned = error_name(lambda: masked_softmax(np.array([[1000.0, -np.inf, 999.0], [-np.inf, -np.inf, -np.inf]], dtype=np.float32),
                                               np.array([[True, True, False], [False, True, True]])))
assert warned == "nothing", (
    f"masked_softmax: under np.errstate(all='raise') a step raised {warned}: some step computes inf - inf, 0/0 or "
    "overflows; follow the four steps above"
)

# Graded: the same function on scores and masks drawn for each graded run, compared with the reference.
rng = unseen_rng("test-masked-softmax")
batch, rows, cols = (int(n) for n in rng.integers(2, 6, size=3))
unseen = (rng.standard_normal((batch, rows, cols)) * 3).astype(np.float32)
unseen_copy = unseen.copy()
allowed = rng.random((rows, cols)) > 0.4
allowed[rng.integers(rows)] = False  # a row with nothing to attend to
observe("masked_softmax(x), float32 (B, L, S)", masked_softmax(unseen))
observe("masked_softmax(x, allowed (L, S))", masked_softmax(unseen, allowed))
observe("masked_softmax(x, allowed) leaves x unchanged", bool(np.array_equal(unseen, unseen_copy)))
observe("masked_softmax(float64 x, allowed (B, L, S))", masked_softmax(unseen.astype(np.float64), rng.random((batch, rows, cols)) > 0.5))
with_inf = unseen.copy()
with_inf[rng.random(with_inf.shape) > 0.6] = -np.inf
with_inf[0, rng.integers(rows)] = -np.inf  # a row of -inf scores
observe("masked_softmax(x with -inf scores)", masked_softmax(with_inf))
observe("masked_softmax(x + a large shift, allowed)", masked_softmax(unseen + np.float32(rng.uniform(500, 2000)), allowed))


# %% [markdown]
# ## 3. Attention as one op
#
# Composed from earlier ops, attention is `matmul`, `permute`, `mul` (scale), `add` (mask),
# `softmax` and `matmul` again: six graph nodes, each keeping its output alive for the
# backward pass, and each running its own formula. Like Module 04's `linear`, it is one op
# here, `"attention"`, with inputs `(query, key, value)` and these attributes:
#
# | attribute | meaning |
# |---|---|
# | `scale` | the factor on the scores ($1/\sqrt{E}$ unless the caller chose one) |
# | `attn_mask` | None, a bool array (True = may attend) or a float array added to the scores, broadcastable to `(..., L, S)` |
# | `is_causal`, `offset` | apply `causal_mask(L, S, offset)` too (combined with `attn_mask` by AND) |
# | `dropout_mask` | None, or an array of $0$ and $1/(1-p)$ of shape `(..., L, S)` that multiplies the probabilities (dropout, drawn by the caller) |
# | `saved` | a dict the kernel puts the probabilities $P$ in, under `"probs"`, for the backward pass (like PyTorch's `ctx.save_for_backward`) |
#
# The kernel must not keep anything but $P$: no scores, no exponentials.
#
# ### Your task: `attention_kernel`
# The scores need $K^\top$ for every batch and head: swap only the last two axes of `key`,
# `(..., S, E) -> (..., E, S)` (a `.T` would reverse the batch axes too). Multiply the scores
# by the `scale` you are given: the default $1/\sqrt{E}$ is chosen by the caller (`attention`,
# below), and a caller may pass any other. A float mask is added to the scaled scores; a bool
# one, and the causal mask, become the `allowed` argument of your `masked_softmax`.
# `saved["probs"]` holds $P$ before dropout (the backward pass applies the dropout mask
# itself). The output keeps the inputs' dtype: float32 in, float32 out.

# %% nbgrader={"grade": false, "grade_id": "impl-attention-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("attention")
def attention_kernel(
    query: np.ndarray, key: np.ndarray, value: np.ndarray, *, scale: float, attn_mask: np.ndarray | None = None,
    is_causal: bool = False, offset: int = 0, dropout_mask: np.ndarray | None = None, saved: dict[str, Any] | None = None,
) -> np.ndarray:
    """``P @ value`` with ``P = masked_softmax(query @ key^T * scale (+ float mask), allowed)``: ``(..., L, Ev)``.

    ``allowed`` is the bool ``attn_mask`` and/or ``causal_mask(L, S, offset)`` if ``is_causal``
    (both: AND; neither: None). Stores ``P`` (before dropout) in ``saved["probs"]`` when ``saved``
    is a dict; multiplies ``P`` by ``dropout_mask`` (if given) before the sum. Uses ``scale`` as
    given (never recomputes ``1/sqrt(E)``).
    Hint: ``L, S = query.shape[-2], key.shape[-2]``; ``attn_mask.dtype == np.bool_`` tells the kinds apart.
    If you are stuck: the transposed keys are ``np.swapaxes(key, -1, -2)``.
    """
    ### BEGIN SOLUTION
    scores = query @ np.swapaxes(key, -1, -2)
    scores *= scale
    allowed = None
    if attn_mask is not None:
        if attn_mask.dtype == np.bool_:
            allowed = attn_mask
        else:
            scores = scores + attn_mask  # not in place: the mask may broadcast scores to more dimensions
    if is_causal:
        causal = causal_mask(query.shape[-2], key.shape[-2], offset)
        allowed = causal if allowed is None else allowed & causal
    probs = masked_softmax(scores, allowed)
    if saved is not None:
        saved["probs"] = probs
    weights = probs if dropout_mask is None else probs * dropout_mask
    return weights @ value
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-attention-kernel", "locked": true, "points": 3, "solution": false, "schema_version": 3}
def reference_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, allowed: np.ndarray, bias: float | np.ndarray = 0.0) -> np.ndarray:
    """Attention one (query, key) pair at a time: loops, float64, masked keys skipped."""
    lead, length, keys = q.shape[:-2], q.shape[-2], k.shape[-2]
    out = np.zeros((*lead, length, v.shape[-1]))
    bias = np.broadcast_to(bias, (*lead, length, keys))
    allowed = np.broadcast_to(allowed, (*lead, length, keys))
    for index in np.ndindex(*lead, length):
        batch = index[:-1]
        row = [(j, float(q[index] @ k[batch][j]) * scale + bias[index][j]) for j in range(keys) if allowed[index][j]]
        if row:
            top = max(s for _, s in row)
            weights = [(j, math.exp(s - top)) for j, s in row]
            total = sum(w for _, w in weights)
            out[index] = sum(w / total * v[batch][j] for j, w in weights)
    return out


rng = np.random.default_rng(1)
q_val, k_val, v_val = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 5, 4))
everything = np.ones((3, 5), dtype=bool)
identity = np.broadcast_to(np.eye(5), (2, 5, 5))  # as the values, attention returns the probabilities P
out = attention_kernel(q_val, k_val, v_val, scale=0.7)
assert isinstance(out, np.ndarray) and out.shape == (2, 3, 4), (
    f"attention_kernel: (2, 3, 6) x (2, 5, 6) x (2, 5, 4) gives (2, 3, 4), got {getattr(out, 'shape', out)}"
)
assert np.allclose(out, reference_attention(q_val, k_val, v_val, 0.7, everything)), (
    "attention_kernel(q, k, v, scale=0.7) should be softmax(q k^T * 0.7) @ v: multiply the scores by the scale given "
    "(not by 1/sqrt(E), not by 1)"
)
out = attention_kernel(q_val, k_val, v_val, scale=1 / math.sqrt(6))
assert np.allclose(out, reference_attention(q_val, k_val, v_val, 1 / math.sqrt(6), everything)), (
    "attention_kernel with scale=1/sqrt(6), the default attention() passes for E = 6: multiply the scores by the scale given"
)
bool_mask = rng.random((3, 5)) > 0.4
bool_mask[1] = False  # a query with nothing to attend to
with np.errstate(all="ignore"):  # a NaN is reported below in words
    out = attention_kernel(q_val, k_val, v_val, scale=0.7, attn_mask=bool_mask)
assert not np.isnan(out).any(), (
    "attention_kernel: NaN in the output of a query whose bool mask allows no key: masked_softmax must give that row "
    "all zeros (fix test-masked-softmax first)"
)
assert np.allclose(out, reference_attention(q_val, k_val, v_val, 0.7, bool_mask)), (
    "attention_kernel: a bool attn_mask means True = may attend: pass it to masked_softmax as allowed"
)
assert np.all(out[:, 1] == 0), "attention_kernel: a fully masked query gives a zero output row"
float_mask = rng.standard_normal((3, 5))
float_mask[0, 2] = -np.inf
out = attention_kernel(q_val, k_val, v_val, scale=0.7, attn_mask=float_mask)
assert np.allclose(out, reference_attention(q_val, k_val, v_val, 0.7, everything, float_mask)), (
    "attention_kernel: a float attn_mask is added to the scaled scores (a -inf entry forbids its key)"
)
out = attention_kernel(q_val, k_val, v_val, scale=0.7, is_causal=True, offset=2)
assert np.allclose(out, reference_attention(q_val, k_val, v_val, 0.7, causal_mask(3, 5, 2))), (
    "attention_kernel: is_causal applies causal_mask(L, S, offset) with the offset given"
)
with np.errstate(all="ignore"):
    both = attention_kernel(q_val, k_val, v_val, scale=0.7, attn_mask=bool_mask, is_causal=True)
assert np.allclose(both, reference_attention(q_val, k_val, v_val, 0.7, bool_mask & causal_mask(3, 5))), (
    "attention_kernel: a bool attn_mask and is_causal together: a key is allowed only if both allow it (AND)"
)
saved = {}
attention_kernel(q_val, k_val, v_val, scale=0.7, is_causal=True, saved=saved)
assert "probs" in saved and saved["probs"].shape == (2, 3, 5), "attention_kernel: store the probabilities (2, 3, 5) in saved['probs']"
assert np.allclose(saved["probs"], reference_attention(q_val, k_val, identity, 0.7, causal_mask(3, 5))), (
    "attention_kernel: saved['probs'] is P, the masked softmax of the scaled scores"
)
drop = (rng.random((2, 3, 5)) > 0.5) * 2.0
saved = {}
dropped = attention_kernel(q_val, k_val, v_val, scale=0.7, dropout_mask=drop, saved=saved)
probs = reference_attention(q_val, k_val, identity, 0.7, everything)
assert np.allclose(saved["probs"], probs), (
    "attention_kernel: saved['probs'] is P before dropout (the backward pass applies the dropout mask itself)"
)
assert np.allclose(dropped, (probs * drop) @ v_val), "attention_kernel: with a dropout_mask M the output is (P * M) @ value"
single = attention_kernel(*(a.astype(np.float32) for a in (q_val, k_val, v_val)), scale=0.7)
assert single.dtype == np.float32, f"attention_kernel: float32 inputs give a float32 output, got {single.dtype}"

# Graded: the same calls on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-attention-kernel")
heads, length, extra, width, value_width = (int(n) for n in rng.integers([1, 1, 0, 2, 1], [4, 5, 4, 9, 6]))
keys = length + extra  # S >= L, the first `extra` keys as if cached
q = rng.standard_normal((2, heads, length, width)).astype(np.float32)
k = rng.standard_normal((2, heads, keys, width)).astype(np.float32)
v = rng.standard_normal((2, heads, keys, value_width)).astype(np.float32)
scale = float(rng.uniform(0.2, 1.5))
close = {"rtol": 1e-4, "atol": 1e-5}
observe("attention_kernel(q, k, v, scale), float32 (2, H, L, E)", attention_kernel(q, k, v, scale=scale), **close)
observe("attention_kernel(q, k, v, scale=1/sqrt(E))", attention_kernel(q, k, v, scale=1 / math.sqrt(width)), **close)
bool_mask = rng.random((length, keys)) > 0.5
bool_mask[rng.integers(length)] = False
observe("attention_kernel with a bool attn_mask (L, S)", attention_kernel(q, k, v, scale=scale, attn_mask=bool_mask), **close)
float_mask = rng.standard_normal((length, keys)).astype(np.float32)
float_mask[rng.random((length, keys)) > 0.7] = -np.inf
observe("attention_kernel with a float attn_mask (L, S)", attention_kernel(q, k, v, scale=scale, attn_mask=float_mask), **close)
offset = int(rng.integers(0, extra + 1))
observe("attention_kernel, is_causal with an offset", attention_kernel(q, k, v, scale=scale, is_causal=True, offset=offset), **close)
observe("attention_kernel, a bool attn_mask (2, 1, L, S) and is_causal",
        attention_kernel(q, k, v, scale=scale, attn_mask=rng.random((2, 1, length, keys)) > 0.3, is_causal=True, offset=extra), **close)
drop = ((rng.random((2, heads, length, keys)) > 0.4) / 0.6).astype(np.float32)
saved = {}
observe("attention_kernel with a dropout_mask",
        attention_kernel(q, k, v, scale=scale, is_causal=True, offset=extra, dropout_mask=drop, saved=saved), **close)
observe("attention_kernel: saved['probs'] of that call", np.asarray(saved["probs"], dtype=np.float64), **close)
observe("attention_kernel(float64 q, k, v)", attention_kernel(*(a.astype(np.float64) for a in (q, k, v)), scale=scale), **close)


# %% [markdown]
# ### The backward pass
#
# With the output gradient $\bar O$ (shape $(L, E_v)$) and the saved $P$, the chain rule
# through $O = PV$, the softmax (Module 03) and $S = QK^\top \cdot \text{scale}$ gives
#
# $$\bar V = P^\top \bar O, \qquad \bar P = \bar O V^\top, \qquad
#   \bar S = P \odot \big(\bar P - \textstyle\sum_j (\bar P \odot P)_{\cdot j}\big), \qquad
#   \bar Q = \bar S\, K \cdot \text{scale}, \qquad \bar K = \bar S^\top Q \cdot \text{scale}.$$
#
# The sum in $\bar S$ runs along each row (`keepdims=True`), as in Module 03's softmax
# backward. A masked position has $P = 0$, so its $\bar S$ is exactly 0, and a fully masked
# row sends no gradient anywhere: no NaN can appear. The masks get no gradient.
#
# **With dropout**, the forward pass used $P \odot M$ ($M$ = `dropout_mask`): then
# $\bar V = (P \odot M)^\top \bar O$ and $\bar P = (\bar O V^\top) \odot M$; the rest is
# unchanged. Transposes are of the last two axes (`np.swapaxes(a, -1, -2)`). Return `None`
# for an input that does not require grad. (If the batch dimensions of the inputs were
# broadcast, return the broadcast-shaped gradient: Module 02's engine sums it back.)

# %% nbgrader={"grade": false, "grade_id": "given-attention-node", "locked": true, "solution": false, "schema_version": 3}
def attention_node(q: np.ndarray, k: np.ndarray, v: np.ndarray, probs: np.ndarray, scale: float,
                   dropout_mask: np.ndarray | None = None, requires_grad: tuple[bool, bool, bool] = (True, True, True)) -> Node:
    """The Node recording ``attention(q, k, v)`` with the probabilities ``probs`` (computed by the
    test, not by your kernel) saved, float64 inputs, and the output ``(probs * dropout_mask) @ v``."""
    inputs = tuple(Tensor(a, dtype=np.float64, requires_grad=flag) for a, flag in zip((q, k, v), requires_grad))
    weights = probs if dropout_mask is None else probs * dropout_mask
    attrs = {"scale": scale, "attn_mask": None, "is_causal": False, "offset": 0, "dropout_mask": dropout_mask,
             "saved": {"probs": probs}}
    return Node("attention", inputs, attrs, weights @ v)


# %% [markdown]
# ### Your task: `attention_backward`

# %% nbgrader={"grade": false, "grade_id": "impl-attention-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("attention")
def attention_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(grad_query, grad_key, grad_value)`` of attention from ``grad`` (..., L, Ev) and the saved probabilities.

    ``P = node.attrs["saved"]["probs"]``, ``scale = node.attrs["scale"]``, and
    ``node.attrs["dropout_mask"]`` (None or M). None for an input that does not require grad.
    Hint: the five formulas above, in order; ``sw = lambda a: np.swapaxes(a, -1, -2)``.
    """
    ### BEGIN SOLUTION
    query, key, value = node.inputs
    probs, scale = node.attrs["saved"]["probs"], node.attrs["scale"]
    dropout_mask = node.attrs["dropout_mask"]
    weights = probs if dropout_mask is None else probs * dropout_mask
    grad_value = np.swapaxes(weights, -1, -2) @ grad if value.requires_grad else None
    if not (query.requires_grad or key.requires_grad):
        return None, None, grad_value
    grad_probs = grad @ np.swapaxes(value.data, -1, -2)
    if dropout_mask is not None:
        grad_probs *= dropout_mask
    # grad_scores = P * (dP - rowsum(dP * P)), in place in grad_probs; einsum sums the
    # products without a temporary of their size.
    grad_probs -= np.einsum("...ij,...ij->...i", grad_probs, probs)[..., None]
    grad_probs *= probs
    grad_scores = grad_probs
    grad_query = grad_key = None
    if query.requires_grad:
        grad_query = grad_scores @ key.data
        grad_query *= scale
    if key.requires_grad:
        grad_key = np.swapaxes(grad_scores, -1, -2) @ query.data
        grad_key *= scale
    return grad_query, grad_key, grad_value
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-attention-backward", "locked": true, "points": 4, "solution": false, "schema_version": 3}
def numeric_gradients(q: np.ndarray, k: np.ndarray, v: np.ndarray, g: np.ndarray, scale: float,
                      allowed: np.ndarray, drop: np.ndarray | None = None) -> list[np.ndarray]:
    """d sum(g * attention(q, k, v)) / d(q, k, v) by central differences of a NumPy reference."""
    def loss(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> float:
        s = np.where(allowed, q @ np.swapaxes(k, -1, -2) * scale, -np.inf)
        top = s.max(-1, keepdims=True)
        e = np.exp(s - np.where(np.isfinite(top), top, 0))
        p = e / np.maximum(e.sum(-1, keepdims=True), 1e-300)
        return float(np.sum(g * (((p if drop is None else p * drop)) @ v)))

    arrays, grads = [q.copy(), k.copy(), v.copy()], []
    for a in arrays:
        grad = np.zeros_like(a)
        for index in np.ndindex(a.shape):
            keep = a[index]
            a[index] = keep + 1e-6
            plus = loss(*arrays)
            a[index] = keep - 1e-6
            minus = loss(*arrays)
            a[index] = keep
            grad[index] = (plus - minus) / 2e-6
        grads.append(grad)
    return grads


def probs_of(q: np.ndarray, k: np.ndarray, scale: float, allowed: np.ndarray) -> np.ndarray:
    s = np.where(allowed, q @ np.swapaxes(k, -1, -2) * scale, -np.inf)
    top = s.max(-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(top), top, 0))
    return e / np.maximum(e.sum(-1, keepdims=True), 1e-300)


FORMULAS = {
    "grad_query": "grad_query = grad_S @ key * scale, with grad_S = P * (grad_P - rowsum(grad_P * P)) and grad_P = grad @ value^T",
    "grad_key": "grad_key = grad_S^T @ query * scale, with grad_S = P * (grad_P - rowsum(grad_P * P)) and grad_P = grad @ value^T",
    "grad_value": "grad_value = P^T @ grad",
}
rng = np.random.default_rng(2)
q_val, k_val, v_val = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 2))
g_val = rng.standard_normal((2, 3, 2))
allowed = causal_mask(3, 5, offset=1)
allowed[2] = False  # the last query sees nothing: its gradients must be exactly 0
grads = attention_backward(g_val, attention_node(q_val, k_val, v_val, probs_of(q_val, k_val, 0.7, allowed), 0.7))
assert len(grads) == 3, "attention_backward: one gradient per input (query, key, value)"
for name, got, expected in zip(FORMULAS, grads, numeric_gradients(q_val, k_val, v_val, g_val, 0.7, allowed)):
    assert got is not None and got.shape == expected.shape, (
        f"attention_backward: {name} should have shape {expected.shape}, got {getattr(got, 'shape', got)}"
    )
    assert np.allclose(got, expected, atol=1e-5), (
        f"attention_backward: {name} disagrees with finite differences (scale=0.7 from node.attrs['scale']): {FORMULAS[name]}"
    )
assert np.all(grads[0][:, 2] == 0), "attention_backward: a fully masked query row gets exactly zero gradient"
grads = attention_backward(g_val, attention_node(q_val, k_val, v_val, probs_of(q_val, k_val, 0.7, allowed), 0.7,
                                                 requires_grad=(False, True, False)))
assert grads[0] is None and grads[2] is None and grads[1] is not None, "attention_backward: None for inputs that do not require grad"
drop = (rng.random((2, 3, 5)) > 0.3) / 0.7
full = np.ones((3, 5), dtype=bool)
grads = attention_backward(g_val, attention_node(q_val, k_val, v_val, probs_of(q_val, k_val, 0.7, full), 0.7, dropout_mask=drop))
with_dropout = {
    "grad_value": "grad_value = (P * M)^T @ grad",
    "grad_query": "grad_P = (grad @ value^T) * M before the softmax step",
    "grad_key": "grad_P = (grad @ value^T) * M before the softmax step",
}
for name, got, expected in zip(FORMULAS, grads, numeric_gradients(q_val, k_val, v_val, g_val, 0.7, full, drop)):
    assert np.allclose(got, expected, atol=1e-5), (
        f"attention_backward with a dropout mask M: {name} disagrees with finite differences; the forward used P * M, "
        f"so {with_dropout[name]}"
    )

# Graded: gradients for inputs, masks and dropout drawn for each graded run, compared with the reference.
rng = unseen_rng("test-attention-backward")
length, extra, width, value_width = (int(n) for n in rng.integers([1, 0, 2, 1], [5, 4, 7, 5]))
keys = length + extra
q, k = rng.standard_normal((2, 2, length, width)), rng.standard_normal((2, 2, keys, width))
v, g = rng.standard_normal((2, 2, keys, value_width)), rng.standard_normal((2, 2, length, value_width))
scale = float(rng.uniform(0.2, 1.5))
allowed = causal_mask(length, keys, offset=extra) & (rng.random((length, keys)) > 0.2)
allowed[rng.integers(length)] = False
grads = attention_backward(g, attention_node(q, k, v, probs_of(q, k, scale, allowed), scale))
for name, grad in zip(FORMULAS, grads):
    observe(f"attention_backward: {name}, causal and masked", grad)
drop = (rng.random((2, 2, length, keys)) > 0.4) / 0.6
grads = attention_backward(g, attention_node(q, k, v, probs_of(q, k, scale, np.ones((length, keys), dtype=bool)), scale, dropout_mask=drop))
for name, grad in zip(FORMULAS, grads):
    observe(f"attention_backward: {name} with a dropout mask", grad)
grads = attention_backward(g, attention_node(q, k, v, probs_of(q, k, scale, allowed), scale, requires_grad=(False, True, False)))
observe("attention_backward: which gradients are None when only key requires grad", [grad is None for grad in grads])
observe("attention_backward: grad_key when only key requires grad", grads[1])


# %% [markdown]
# ### The functions (given)
#
# `scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
# is_causal=False, scale=None, *, mask=None)` has PyTorch's signature; `mask=` is accepted
# as another name for `attn_mask` (passing both is a `ValueError`). It checks the shapes
# (a `ShapeError` naming them), the mask's dtype (bool or floating, else `DtypeError`) and
# shape, and `dropout_p` in $[0, 1]$, then calls `attention`, which takes one more argument,
# the causal `offset` that `MultiHeadAttention` passes with a cache.
#
# Three deliberate differences from PyTorch, documented here:
#
# - a fully masked query row gives a zero output and zero gradients; PyTorch gives NaN;
# - `attn_mask` together with `is_causal=True` is allowed (the masks are combined by AND);
#   PyTorch refuses the combination;
# - masks are constants: a float mask gets no gradient.
#
# **Dropout.** With `dropout_p > 0`, each probability is kept with probability $1 - p$ and
# scaled by $1/(1 - p)$ ("inverted" dropout, so the expected output is unchanged), zeroed
# otherwise. As in PyTorch's functional, it applies whenever `dropout_p > 0`: the caller
# passes 0 in evaluation (`MultiHeadAttention` does, when not `training`). The mask is drawn
# from tinytorch's default generator (`manual_seed` makes it reproducible) and costs one
# more `(..., L, S)` array.
#
# `attention_weights(query, key, attn_mask=None, is_causal=False, scale=None)` returns the
# probabilities $P$ themselves, as a Tensor outside the graph, to look at them.

# %%
#| export
def _mask_array(attn_mask: Tensor | np.ndarray | None, dtype: np.dtype, scores_shape: tuple[int, ...]) -> np.ndarray | None:
    """``attn_mask`` as a bool array or a float array of ``dtype``, checked against ``scores_shape``."""
    if attn_mask is None:
        return None
    array = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    if array.dtype.kind not in "bf":
        raise DtypeError(f"attn_mask must be bool (True = may attend) or floating (added to the scores), got {array.dtype}")
    try:
        shape = np.broadcast_shapes(array.shape, scores_shape)
    except ValueError:
        shape = None
    if shape != scores_shape:
        raise ShapeError(f"attn_mask of shape {array.shape} does not broadcast to the scores' shape {scores_shape} (..., L, S)")
    return array if array.dtype.kind == "b" else array.astype(dtype, copy=False)


def _scores_shape(query: Tensor, key: Tensor, value: Tensor) -> tuple[int, ...]:
    """``(..., L, S)``; ShapeError naming the shapes unless (..., L, E) x (..., S, E) x (..., S, Ev) fit."""
    shapes = f"query {query.shape}, key {key.shape}, value {value.shape}"
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise ShapeError(f"attention needs (..., L, E), (..., S, E), (..., S, Ev) tensors; got {shapes}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"attention: query and key must share E, key and value must share S; got {shapes}")
    try:
        batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ShapeError(f"attention: the leading (batch, head) dimensions do not broadcast; got {shapes}") from None
    return (*batch, query.shape[-2], key.shape[-2])


def _dropout_mask(shape: tuple[int, ...], p: float, dtype: np.dtype) -> np.ndarray:
    """Inverted dropout: 1/(1-p) with probability 1-p, else 0; from the default generator."""
    if p >= 1.0:
        return np.zeros(shape, dtype=dtype)
    keep = tensor_module._GENERATOR.random(shape) >= p  # looked up at call time: manual_seed replaces it
    return keep.astype(dtype) / np.asarray(1.0 - p, dtype=dtype)


def attention(
    query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | np.ndarray | None = None,
    dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None, offset: int = 0,
) -> Tensor:
    """Scaled dot-product attention as one recorded op; ``offset`` shifts the causal mask (cached keys)."""
    scores_shape = _scores_shape(query, key, value)
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout_p must be in [0, 1], got {dropout_p}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0 (the number of cached keys), got {offset}")
    dtype = np.result_type(query.dtype, key.dtype)
    return dispatch(
        "attention", query, key, value,
        scale=1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale),
        attn_mask=_mask_array(attn_mask, dtype, scores_shape), is_causal=bool(is_causal), offset=offset,
        dropout_mask=_dropout_mask(scores_shape, dropout_p, dtype) if dropout_p > 0 else None, saved={},
    )  # fmt: skip


def scaled_dot_product_attention(
    query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | np.ndarray | None = None,
    dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None, *,
    mask: Tensor | np.ndarray | None = None,
) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value``: (..., L, E) x (..., S, E) x (..., S, Ev) -> (..., L, Ev).

    PyTorch's ``F.scaled_dot_product_attention``; ``mask`` is another name for ``attn_mask``.
    A fully masked query row gives zeros (PyTorch: NaN).
    """
    if mask is not None:
        if attn_mask is not None:
            raise ValueError("pass the mask once: attn_mask= and mask= are two names for the same argument")
        attn_mask = mask
    return attention(query, key, value, attn_mask, dropout_p, is_causal, scale)


def attention_weights(
    query: Tensor, key: Tensor, attn_mask: Tensor | np.ndarray | None = None, is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """The attention probabilities ``P`` (..., L, S) for ``query`` and ``key``, outside the graph."""
    probe = Tensor._wrap(key.data[..., :1])  # a value of width 1: only the shapes are checked with it
    scores_shape = _scores_shape(query, key, probe)
    saved: dict[str, Any] = {}
    attention_kernel(
        query.data, key.data, probe.data, scale=1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale),
        attn_mask=_mask_array(attn_mask, query.dtype, scores_shape), is_causal=is_causal, saved=saved,
    )
    return Tensor._wrap(saved["probs"])


# %% [markdown]
# Your op through the public function: PyTorch's semantics on a causal batch, a fully
# masked row, and every gradient checked with Module 02's `gradcheck` (float64, small).

# %%
import tinytorch.autograd  # noqa: F401  (gradients for .backward())
from tinytorch.autograd import gradcheck, no_grad
from tinytorch.tensor import manual_seed, randn

manual_seed(0)
q, k, v = randn(2, 4, 5, 8), randn(2, 4, 5, 8), randn(2, 4, 5, 8)  # (batch, heads, L, E)
out = scaled_dot_product_attention(q, k, v, is_causal=True)
print("causal attention:", out.shape, "| the first query sees only the first key:",
      np.allclose(out.numpy()[:, :, 0], v.numpy()[:, :, 0], atol=1e-6))
nothing = np.zeros((5, 5), dtype=bool)
print("a fully masked mask gives zeros, no NaN:", np.all(scaled_dot_product_attention(q, k, v, mask=nothing).numpy() == 0))
rng = np.random.default_rng(3)
small = [Tensor(rng.standard_normal(shape), requires_grad=True) for shape in ((2, 3, 4), (2, 5, 4), (2, 5, 3))]
float_mask = np.where(rng.random((3, 5)) > 0.3, 0.0, -np.inf)
for name, fn in {
    "no mask": lambda q, k, v: scaled_dot_product_attention(q, k, v),
    "causal": lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True),
    "float mask with -inf": lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=float_mask),
    "causal, offset 2": lambda q, k, v: attention(q, k, v, is_causal=True, offset=2),
}.items():
    gradcheck(fn, small)
print("gradcheck passed: no mask, causal, float mask with -inf, causal with offset 2")


# %% [markdown]
# ## 4. The KV cache
#
# A language model generates text one token at a time: feed the prompt, pick the next
# token, append it, feed again. Without help, step $t$ recomputes the keys and values of all
# $t$ tokens and the attention of all $t$ queries, though only the last query is new and the
# old keys and values have not changed (in causal attention, a token never looks ahead, so
# nothing about the past changes when a token is appended). A **KV cache** keeps each
# layer's keys and values; each step computes $k, v$ for the new token only, appends them,
# and attends from the new query to all keys so far.
#
# The protocol, which Module 14's GPT relies on and Module 19's fast
# `KVCache` implements too:
#
# - `update(layer_idx, key, value) -> (keys, values)`: append this layer's new `key` and
#   `value`, each `(B, H, T_new, D)`, and return all of them so far, `(B, H, T_past + T_new, D)`;
# - `get_seq_length(layer_idx=0) -> int`: how many tokens that layer has cached ($T_\text{past}$).
#
# `MultiHeadAttention` reads `offset = cache.get_seq_length(layer_idx)` **before** updating:
# it is where the new tokens start, the `offset` of the causal mask (and of Module 12's
# positional layers).

# %%
#| export
@runtime_checkable
class KVCacheLike(Protocol):
    """What attention needs of a KV cache (``ConcatKVCache`` here, Module 19's ``KVCache``)."""

    def update(self, layer_idx: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Append ``key``/``value`` (B, H, T_new, D) for ``layer_idx``; return all so far (B, H, T_past + T_new, D)."""
        ...

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Tokens cached so far for ``layer_idx`` (0 if none)."""
        ...


# %% [markdown]
# ### The simplest cache: concatenate
#
# `ConcatKVCache` keeps, per layer, the keys and the values so far as two arrays and
# concatenates each new piece to them along the sequence axis (axis 2). Simple and obviously
# correct; each step copies everything cached so far (quadratic copying over a whole
# generation), which is what Module 19's preallocated cache avoids.
#
# **Inference only.** The cache stores plain arrays, outside the graph: gradients cannot
# flow into cached keys. Used with tensors that require grad, it would silently cut the
# gradient of every key and value it returns, so `update` refuses: a `RuntimeError` saying
# to run generation under `no_grad()`. (Under `no_grad()`, nothing requires grad.)
#
# Rules for `update`: `key` and `value` are 4-D with the same `(B, H, T_new)` (`ShapeError`
# otherwise); a layer seen before must get the same `B`, `H` and head widths as last time
# (`ShapeError` otherwise, whose message names the shape of the keys the layer holds and the
# shape of the new key); a `layer_idx` not seen before starts empty (layers may be updated in
# any order: grow the lists with `None`). After an update, `get_seq_length(layer_idx)` (given)
# counts the new tokens too: store what you return.
#
# ### Your task: `ConcatKVCache.update`

# %% nbgrader={"grade": false, "grade_id": "impl-concat-cache-update", "locked": false, "solution": true, "schema_version": 3}
#| export
class ConcatKVCache:
    """A KV cache by concatenation: per layer, the keys and values so far (B, H, T, D) as arrays. Inference only."""

    def __init__(self) -> None:
        self.keys: list[np.ndarray | None] = []
        self.values: list[np.ndarray | None] = []

    def update(self, layer_idx: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Append ``key``, ``value`` (B, H, T_new, D) to layer ``layer_idx``; return all so far as Tensors.

        RuntimeError (mentioning ``no_grad``) if grad mode is on and ``key`` or ``value`` requires
        grad; ShapeError for inputs that are not 4-D with equal (B, H, T_new), or that do not match
        the layer's cache in B, H or D (the message names the cached keys' shape and the new key's shape).
        Hint: the sequence axis of (B, H, T, D) is axis 2: join the old and the new arrays along it
        and keep the result in ``self.keys`` / ``self.values``; ``Tensor._wrap(array)`` makes a Tensor
        without a copy.
        If you are stuck: ``np.concatenate([old_keys, key.data], axis=2)``.
        """
        ### BEGIN SOLUTION
        if is_grad_enabled() and (key.requires_grad or value.requires_grad):
            raise RuntimeError(
                "ConcatKVCache is for inference: its keys and values are outside the graph, so gradients "
                "would stop here; run generation under no_grad()"
            )
        if key.ndim != 4 or value.ndim != 4 or key.shape[:3] != value.shape[:3]:
            raise ShapeError(f"cache update needs key and value of shape (B, H, T_new, D); got {key.shape} and {value.shape}")
        while len(self.keys) <= layer_idx:
            self.keys.append(None)
            self.values.append(None)
        old_keys, old_values = self.keys[layer_idx], self.values[layer_idx]
        if old_keys is None or old_values is None:
            self.keys[layer_idx], self.values[layer_idx] = key.data, value.data
        else:
            if (old_keys.shape[:2], old_keys.shape[3], old_values.shape[3]) != (key.shape[:2], key.shape[3], value.shape[3]):
                raise ShapeError(
                    f"cache layer {layer_idx} holds keys {old_keys.shape} and values {old_values.shape}; "
                    f"new key {key.shape} and value {value.shape} must match them in B, H and D"
                )
            self.keys[layer_idx] = np.concatenate([old_keys, key.data], axis=2)
            self.values[layer_idx] = np.concatenate([old_values, value.data], axis=2)
        return Tensor._wrap(self.keys[layer_idx]), Tensor._wrap(self.values[layer_idx])
        ### END SOLUTION

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Tokens cached so far for ``layer_idx`` (0 for a layer never updated)."""
        if layer_idx >= len(self.keys) or self.keys[layer_idx] is None:
            return 0
        return self.keys[layer_idx].shape[2]


# %% nbgrader={"grade": true, "grade_id": "test-concat-cache-update", "locked": true, "points": 2, "solution": false, "schema_version": 3}
rng = np.random.default_rng(4)
cache = ConcatKVCache()
first_k, first_v = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 6))
keys, values = cache.update(0, Tensor(first_k), Tensor(first_v))
assert isinstance(keys, Tensor) and isinstance(values, Tensor), "ConcatKVCache.update returns two Tensors (keys, values)"
assert keys.shape == (2, 3, 4, 5) and values.shape == (2, 3, 4, 6), (
    f"ConcatKVCache.update: the first update returns the new keys (2, 3, 4, 5) and values (2, 3, 4, 6), got {keys.shape} and {values.shape}"
)
assert np.allclose(keys.numpy(), first_k, atol=1e-6) and np.allclose(values.numpy(), first_v, atol=1e-6), (
    "ConcatKVCache.update: the first update returns the keys and values it was given"
)
assert cache.get_seq_length(0) == 4 and cache.get_seq_length(1) == 0, "ConcatKVCache.update: layer 0 now holds 4 tokens, layer 1 none"
next_k, next_v = rng.standard_normal((2, 3, 1, 5)), rng.standard_normal((2, 3, 1, 6))
keys, values = cache.update(0, Tensor(next_k), Tensor(next_v))
assert keys.shape == (2, 3, 5, 5), f"ConcatKVCache.update: 4 cached + 1 new token give keys (2, 3, 5, 5), got {keys.shape}"
assert np.allclose(keys.numpy(), np.concatenate([first_k, next_k], axis=2), atol=1e-6), "ConcatKVCache.update: append along the sequence axis (2)"
assert np.allclose(values.numpy()[:, :, 4], next_v[:, :, 0], atol=1e-6), "ConcatKVCache.update: values are appended like keys"
assert cache.get_seq_length(0) == 5, (
    f"ConcatKVCache.update: after 4 + 1 tokens get_seq_length(0) should be 5, got {cache.get_seq_length(0)}: "
    "keep the joined arrays in self.keys[layer_idx] and self.values[layer_idx]"
)
keys, _ = cache.update(2, Tensor(next_k), Tensor(next_v))  # layer 2 before layer 1
assert keys.shape == (2, 3, 1, 5) and cache.get_seq_length(2) == 1 and cache.get_seq_length(1) == 0, (
    "ConcatKVCache.update: layers are independent; a new layer_idx starts empty"
)
expect_error(ShapeError, lambda: cache.update(0, Tensor(np.zeros((2, 4, 1, 5))), Tensor(np.zeros((2, 4, 1, 6)))),
             "(2, 3, 5, 5)", "(2, 4, 1, 5)",
             what="ConcatKVCache.update with 4 heads where the cache holds keys (2, 3, 5, 5) (name both shapes)")
expect_error(ShapeError, lambda: ConcatKVCache().update(0, Tensor(np.zeros((2, 3, 5))), Tensor(np.zeros((2, 3, 5)))),
             what="ConcatKVCache.update with 3-D key and value")
expect_error(ShapeError, lambda: ConcatKVCache().update(0, Tensor(np.zeros((1, 2, 3, 4))), Tensor(np.zeros((1, 2, 2, 4)))),
             what="ConcatKVCache.update with 3 new keys but 2 new values")
expect_error(RuntimeError, lambda: cache.update(0, Tensor(next_k, requires_grad=True), Tensor(next_v)), "no_grad",
             what="ConcatKVCache.update with a key that requires grad")
with no_grad():
    refused = error_name(lambda: cache.update(0, Tensor(next_k, requires_grad=True), Tensor(next_v)))
assert refused == "nothing", (
    f"ConcatKVCache.update: under no_grad() any tensor may be cached (refuse only when grad mode is on), but it raised {refused}"
)
assert cache.get_seq_length(0) == 6, f"ConcatKVCache.update: layer 0 should now hold 6 tokens, holds {cache.get_seq_length(0)}"

# Graded: updates of layers in an order and with sizes drawn for each graded run, compared with the reference.
rng = unseen_rng("test-concat-cache-update")
batch, heads, width, value_width = (int(n) for n in rng.integers(1, 5, size=4))
cache = ConcatKVCache()
for layer, new in zip(rng.integers(0, 3, size=5), rng.integers(1, 4, size=5)):
    key = rng.standard_normal((batch, heads, int(new), width)).astype(np.float32)
    value = rng.standard_normal((batch, heads, int(new), value_width)).astype(np.float32)
    keys, values = cache.update(int(layer), Tensor(key), Tensor(value))
    observe("ConcatKVCache.update: the keys so far", keys.data)
    observe("ConcatKVCache.update: the values so far", values.data)
    observe("ConcatKVCache.get_seq_length(0), (1), (2)", [cache.get_seq_length(i) for i in range(3)])
with no_grad():
    keys, _ = ConcatKVCache().update(0, Tensor(key, requires_grad=True), Tensor(value))
observe("ConcatKVCache.update under no_grad() of a key that requires grad", keys.data)
errors = ConcatKVCache()
errors.update(0, Tensor(key), Tensor(value))
for label, bad_key, bad_value in (
    ("another number of heads", np.zeros((batch, heads + 1, 1, width)), np.zeros((batch, heads + 1, 1, value_width))),
    ("another key width", np.zeros((batch, heads, 1, width + 1)), np.zeros((batch, heads, 1, value_width))),
    ("3-D key and value", np.zeros((batch, heads, width)), np.zeros((batch, heads, value_width))),
    ("more new keys than values", np.zeros((batch, heads, 2, width)), np.zeros((batch, heads, 1, value_width))),
):
    observe(f"ConcatKVCache.update with {label} raises", error_name(lambda: errors.update(0, Tensor(bad_key), Tensor(bad_value))))
observe("ConcatKVCache.update of a key that requires grad raises",
        error_name(lambda: ConcatKVCache().update(0, Tensor(key, requires_grad=True), Tensor(value))))


# %% [markdown]
# ## 5. Multi-head attention (given)
#
# One attention lets each position take one weighted average. **Multi-head** attention
# runs $H$ of them side by side on $H$ slices of width $D = E / H$, so one head can follow
# the previous word while another follows the subject of the sentence, for the cost of one.
# `MultiHeadAttention(embed_dim, num_heads, dropout=0.0, bias=True)` is batch-first
# **self**-attention over `x` of shape `(B, T, E)`:
#
# 1. `in_proj` (a `Linear(E, 3E)`, PyTorch's name) computes queries, keys and values in one
#    matrix multiply: columns `[0, E)` are $q$, `[E, 2E)` $k$, `[2E, 3E)` $v$;
# 2. each is split into heads, `(B, T, E) -> (B, H, T, D)`;
# 3. with a cache: `offset = cache.get_seq_length(layer_idx)`, then
#    `k, v = cache.update(layer_idx, k, v)`;
# 4. your attention op with `is_causal` and `offset` (and `attn_mask`, e.g. `(T, S)` or
#    `(B, 1, T, S)`, same convention as above: True = may attend; note that PyTorch's
#    `nn.MultiheadAttention` uses the opposite convention for its bool masks);
# 5. the heads are merged back, `(B, H, T, D) -> (B, T, E)`, and `out_proj` (a
#    `Linear(E, E)`) mixes them.
#
# Initialization follows PyTorch's `nn.MultiheadAttention`: Xavier-uniform `in_proj` weight,
# zero biases, `out_proj` weight as a default `Linear`. `embed_dim % num_heads != 0` is a
# `ValueError`; an input of the wrong width a `ShapeError` naming the layer and the shapes.
# The attention dropout applies only in training mode.
#
# **Splitting heads without `getitem`.** Taking $q$ as `qkv[..., :E]` would record Module
# 01's `getitem`, whose backward scatters with `np.add.at` (right for any index, with
# repeats; slow for a plain slice). The split is a small op of its own, `"split_heads"`,
# whose backward writes the gradient into its slice of zeros: the three parts are disjoint.

# %%
#| export
@register_kernel("split_heads")
def split_heads_kernel(qkv: np.ndarray, num_heads: int, part: int) -> np.ndarray:
    """Part ``part`` (0 = q, 1 = k, 2 = v) of ``qkv`` (B, T, 3E) as heads (B, H, T, D); a view."""
    batch, length, width = qkv.shape
    embed_dim = width // 3
    chunk = qkv[:, :, part * embed_dim : (part + 1) * embed_dim]
    return chunk.reshape(batch, length, num_heads, embed_dim // num_heads).transpose(0, 2, 1, 3)


@register_gradient("split_heads")
def split_heads_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """The gradient (B, H, T, D) written back into its slice of a (B, T, 3E) array of zeros."""
    (qkv,) = node.inputs
    batch, length, width = qkv.shape
    embed_dim, part = width // 3, node.attrs["part"]
    grad_qkv = np.zeros(qkv.shape, dtype=grad.dtype)
    grad_qkv[:, :, part * embed_dim : (part + 1) * embed_dim] = grad.transpose(0, 2, 1, 3).reshape(batch, length, embed_dim)
    return (grad_qkv,)


class MultiHeadAttention(Module):
    """Batch-first self-attention: ``forward(x (B, T, E), attn_mask=None, is_causal=False, cache=None,
    layer_idx=0) -> (B, T, E)``, with ``in_proj`` Linear(E, 3E) (q, k, v) and ``out_proj`` Linear(E, E)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads != 0:
            raise ValueError(
                f"MultiHeadAttention: embed_dim={embed_dim} must be a positive multiple of num_heads={num_heads}"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout = dropout
        self.in_proj = Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        bound = math.sqrt(6.0 / (embed_dim + 3 * embed_dim))  # xavier_uniform_ on the (3E, E) weight
        self.in_proj.weight.data[...] = tensor_module._GENERATOR.uniform(-bound, bound, (3 * embed_dim, embed_dim))
        for layer in (self.in_proj, self.out_proj):
            if layer.bias is not None:
                layer.bias.data[...] = 0

    def forward(
        self, x: Tensor, attn_mask: Tensor | np.ndarray | None = None, is_causal: bool = False,
        cache: KVCacheLike | None = None, layer_idx: int = 0,
    ) -> Tensor:
        if x.ndim != 3 or x.shape[-1] != self.embed_dim:
            raise ShapeError(
                f"MultiHeadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads}) got an input of "
                f"shape {x.shape}: expected (batch, seq_len, {self.embed_dim})"
            )
        batch, length, _ = x.shape
        qkv = self.in_proj(x)
        query, key, value = (dispatch("split_heads", qkv, num_heads=self.num_heads, part=part) for part in range(3))
        offset = 0
        if cache is not None:
            offset = cache.get_seq_length(layer_idx)
            key, value = cache.update(layer_idx, key, value)
        out = attention(query, key, value, attn_mask, self.dropout if self.training else 0.0, is_causal, offset=offset)
        return self.out_proj(out.permute(0, 2, 1, 3).reshape(batch, length, self.embed_dim))

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"


# %% [markdown]
# **The cache gives the same answer.** A 7-token sequence through one layer: once in a single
# causal pass, once token by token with a `ConcatKVCache`, once in chunks of 3 and 4. All three
# must agree (to float32 rounding).

# %%
manual_seed(0)
layer = MultiHeadAttention(32, 4)
x = randn(3, 7, 32)
with no_grad():
    whole = layer(x, is_causal=True).numpy()
    cache = ConcatKVCache()
    steps = np.concatenate([layer(x[:, t : t + 1], is_causal=True, cache=cache).numpy() for t in range(7)], axis=1)
    cache = ConcatKVCache()
    chunks = np.concatenate([layer(x[:, :3], is_causal=True, cache=cache).numpy(),
                             layer(x[:, 3:], is_causal=True, cache=cache).numpy()], axis=1)
print(layer)
print(f"token by token vs one pass: max difference {np.abs(steps - whole).max():.1e}; "
      f"chunks 3 + 4: {np.abs(chunks - whole).max():.1e}; cached tokens: {cache.get_seq_length(0)}")


# %% [markdown]
# ### Looking at attention
#
# `plot_attention(weights, tokens=None)` draws a matrix of weights `(L, S)` (or one per head,
# `(H, L, S)`) as a heat map, rows = queries, columns = keys, labelled with `tokens` if
# given. It returns a `matplotlib.figure.Figure` made without `pyplot`, the kind Module 07's
# `plot_history` makes, so it works headless and a notebook shows it.
#
# Below: attention where queries and keys are Module 12's sinusoidal positions and nothing
# else, causal. With no content to go on, each token puts its largest weight on itself and the
# next largest on the token just before it (printed): the distance structure of the
# sinusoidal table, seen through a softmax.

# %%
#| export
def plot_attention(weights: Tensor | np.ndarray, tokens: list[str] | None = None) -> Any:
    """Heat map(s) of attention ``weights`` (L, S) or (H, L, S); a ``matplotlib.figure.Figure``.

    ``tokens``: S labels for the keys; the queries are labelled with the last L of them.
    """
    from tinytorch.training import history_figure_class  # a Figure that renders itself in a notebook

    array = weights.numpy() if isinstance(weights, Tensor) else np.asarray(weights)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise ShapeError(f"plot_attention expects weights of shape (L, S) or (H, L, S), got {array.shape}")
    heads, queries, keys = array.shape
    if tokens is not None and len(tokens) != keys:
        raise ValueError(f"plot_attention: {len(tokens)} tokens for {keys} keys")
    figure = history_figure_class()(figsize=(3.2 * heads + 0.8, 3.2), layout="constrained")
    axes_list = np.atleast_1d(figure.subplots(1, heads))
    for head, axes in enumerate(axes_list):
        image = axes.imshow(array[head], vmin=0.0, vmax=1.0, cmap="viridis")
        axes.set_xlabel("key")
        axes.set_ylabel("query")
        if heads > 1:
            axes.set_title(f"head {head}")
        if tokens is not None:
            axes.set_xticks(range(keys), tokens, rotation=90)
            axes.set_yticks(range(queries), tokens[keys - queries :])
    figure.colorbar(image, ax=list(axes_list), shrink=0.8)
    return figure


# %%
from tinytorch.nn.embedding import sinusoidal_table

words = "the cat sat on the mat".split()
positions = Tensor(sinusoidal_table(len(words), 16) * 1.5)
position_weights = attention_weights(positions, positions, is_causal=True)
print("attention weights (rows: queries, columns: keys):\n", np.round(position_weights.numpy(), 2))
plot_attention(position_weights, words)

# %% [markdown]
# ## 6. Systems analysis
#
# ### Memory: the scores are $B \cdot H \cdot L \cdot S$ numbers
# The op keeps one float32 probability per (sample, head, query, key) for the backward pass.
# Measured from the array the op saved, at small sizes, beside the formula $4BHLS$; then the
# formula for longer texts, at $B = 8$, $H = 12$ (GPT-2 small's heads).

# %%
for length in (16, 64, 256):
    q = Tensor(np.zeros((2, 4, length, 16), dtype=np.float32), requires_grad=True)
    out = scaled_dot_product_attention(q, q, q, is_causal=True)
    saved_bytes = out.grad_fn.attrs["saved"]["probs"].nbytes
    print(f"B=2, H=4, L=S={length:>4}: saved probabilities {saved_bytes / 2**10:8.1f} KiB "
          f"(formula 4*B*H*L*S = {4 * 2 * 4 * length * length / 2**10:8.1f} KiB)")
for length in (1024, 4096, 16384):
    print(f"B=8, H=12, L=S={length:>6}: {4 * 8 * 12 * length * length / 2**30:9.2f} GiB of probabilities per layer")

# %% [markdown]
# ### Fused against composed
# The same attention, forward and backward, once as your op and once composed from Module
# 01–03 ops (`matmul`, `transpose`, `mul`, `add` of a `-inf` causal mask, `softmax`,
# `matmul`), at B = 4, H = 4, L = S = 64, D = 16: the graph nodes each records, the bytes of
# the arrays those nodes keep alive for the backward pass (as in Module 03's analysis), and
# the time. Outputs and gradients are checked to agree first. Both do about the same number
# of passes over the $(L, S)$ scores (the masked softmax's `np.where` costs one more), so
# what fusing saves is the Python cost of five extra nodes, and the arrays they keep; at
# this size the time ratio printed is close to 1 and varies with the machine's load, while
# the memory ratio is exact.

# %%
import timeit

from tinytorch.nn.activations import softmax

rng = np.random.default_rng(5)
inputs = [Tensor(rng.standard_normal((4, 4, 64, 16)).astype(np.float32), requires_grad=True) for _ in range(3)]
upstream = Tensor(rng.standard_normal((4, 4, 64, 16)).astype(np.float32))
causal_bias = Tensor(np.where(causal_mask(64, 64), 0.0, -np.inf).astype(np.float32))


def composed_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    return softmax((q @ k.transpose(-1, -2)) * (1 / math.sqrt(16)) + causal_bias, dim=-1) @ v


def run(fn: Any) -> list[np.ndarray]:
    for t in inputs:
        t.grad = None
    fn(*inputs).backward(upstream)
    return [t.grad.numpy() for t in inputs]


fused_fn = lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
assert np.allclose(fused_fn(*inputs).numpy(), composed_attention(*inputs).numpy(), atol=1e-5)
assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(run(fused_fn), run(composed_attention)))
fused_times, composed_times = [], []
for _ in range(5):  # alternate, so both see the same machine load
    fused_times.append(min(timeit.repeat(lambda: run(fused_fn), number=2, repeat=1)) / 2)
    composed_times.append(min(timeit.repeat(lambda: run(composed_attention), number=2, repeat=1)) / 2)
fused_time, composed_time = min(fused_times), min(composed_times)


def graph_summary(root: Tensor) -> tuple[int, int]:
    """(nodes, bytes kept for backward: node outputs, non-leaf inputs and arrays saved in attributes)."""
    nodes = [t for t in tinytorch.autograd.topological_order(root) if t.grad_fn is not None]
    kept = {id(t.data): t.data.nbytes for t in nodes}
    for t in nodes:
        kept.update({id(a): a.nbytes for a in t.grad_fn.attrs.get("saved", {}).values()})
    return len(nodes), sum(kept.values())


(fused_nodes, fused_bytes), (composed_nodes, composed_bytes) = (graph_summary(fn(*inputs)) for fn in (fused_fn, composed_attention))
print(f"forward + backward: fused {fused_time * 1e3:.2f} ms, {fused_nodes} node, {fused_bytes / 2**10:.0f} KiB kept; "
      f"composed {composed_time * 1e3:.2f} ms, {composed_nodes} nodes, {composed_bytes / 2**10:.0f} KiB kept "
      f"(composed / fused: time {composed_time / fused_time:.2f}x, memory {composed_bytes / fused_bytes:.2f}x)")

# %% [markdown]
# ### Work per generated token, with and without a cache
# Generating $N$ tokens through one layer ($E = 64$, $H = 4$), one token per step. Without
# a cache, step $t$ runs the layer on all $t$ tokens: $t$ rows through `in_proj` and
# $t \cdot t$ scores per head. With a cache, step $t$ projects 1 row and computes $1 \cdot t$
# scores per head. Counted from the shapes, then timed, both under `no_grad()` (and checked
# to produce the same last-token outputs). At this toy size every step also pays a fixed
# Python cost per op (about a dozen dispatches, with or without a cache), so the time
# ratio printed is smaller than the ratio of work; it grows with the length and the width.

# %%
manual_seed(1)
layer, n_tokens = MultiHeadAttention(64, 4), 48
sequence = randn(1, n_tokens, 64)


def without_cache() -> list[np.ndarray]:
    return [layer(sequence[:, : t + 1], is_causal=True).numpy()[:, -1] for t in range(n_tokens)]


def with_cache() -> list[np.ndarray]:
    cache = ConcatKVCache()
    return [layer(sequence[:, t : t + 1], is_causal=True, cache=cache).numpy()[:, -1] for t in range(n_tokens)]


with no_grad():
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(without_cache(), with_cache()))
    slow_times, fast_times = [], []
    for _ in range(2):  # alternate, so both see the same machine load
        slow_times.append(timeit.timeit(without_cache, number=1))
        fast_times.append(timeit.timeit(with_cache, number=1))
    slow, fast = min(slow_times), min(fast_times)
steps = np.arange(1, n_tokens + 1)
print(f"{n_tokens} tokens: projected rows {steps.sum():,} without a cache vs {n_tokens} with; "
      f"scores per head {int((steps * steps).sum()):,} vs {int(steps.sum()):,}; "
      f"last step alone: {n_tokens * n_tokens:,} vs {n_tokens} scores per head")
print(f"time: {slow * 1e3:.1f} ms without a cache, {fast * 1e3:.1f} ms with ({slow / fast:.1f}x)")

# %% [markdown]
# ## Summary
#
# You built the causal mask (with the offset a cache implies), a softmax that gives masked
# positions exactly zero and never NaN, attention as one op with its closed-form backward,
# and a KV cache. With the given `scaled_dot_product_attention`, `attention_weights`,
# `plot_attention` and `MultiHeadAttention`, `tinytorch` has the layer that Module 14 stacks
# into a GPT. The analysis printed the memory of the probabilities against the formula
# $4BHLS$, the time and node count of the fused op against the composed one, and the work per
# generated token with and without the cache.
#
# **Reflection questions**
#
# 1. The probabilities saved for the backward pass grow as $L^2$. At which sequence length
#    does one layer's worth, at B = 8 and H = 12, exceed the 154 MB of GPT-2's embedding
#    table (Module 12)? What could a backward pass do instead of saving them (hint: what
#    does it cost to recompute $P$ from $Q$ and $K$)?
# 2. Why may a cache hold the keys of earlier tokens unchanged when a new token is appended?
#    Would that still be true without the causal mask?
# 3. `ConcatKVCache` copies everything cached so far at every step. How many floats does it
#    copy over a whole generation of $N$ tokens, per layer? How would a preallocated buffer
#    of `max_seq_len` positions change that (Module 19)?
# 4. PyTorch returns NaN for a fully masked row. Construct a batch where that happens with
#    padding, and explain what a NaN there would do to one training step.
