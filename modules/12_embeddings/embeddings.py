# %% [markdown]
# # Module 12: Embeddings
#
# A language model reads **token ids**: integers such as `[15, 3, 42]` from Module 11's
# tokenizer. A matrix multiply cannot use an id as a number (token 42 is not "twice" token
# 21), so the first layer of every language model turns each id into a learned vector: row
# `id` of a table of shape `(vocabulary size, embedding dim)`. That lookup is an
# **embedding**. Attention (Module 13) then mixes these vectors, but it treats its input as
# a *set*: it cannot tell "dog bites man" from "man bites dog". So each position also gets
# a vector, added to the token's: a **positional** embedding, learned (GPT-2) or a fixed
# pattern of sines and cosines (the original Transformer).
#
# **What you will build**
#
# - `check_indices`: the checks every lookup needs (integer ids, each in range);
# - `embedding_kernel` and `embedding_backward`: the lookup as one op, whose backward is a
#   **scatter-add** (a token that appears twice gets both gradients);
# - `sinusoidal_table`: the fixed positional encoding of Vaswani et al. (2017);
# - `position_ids`: the positions a sequence occupies, starting at an `offset`.
#
# You are given the functional `embedding(input, weight, padding_idx=None)` and the layers
# `Embedding`, `PositionalEmbedding` (learned) and `SinusoidalPositionalEncoding` (fixed),
# with PyTorch's names and semantics where PyTorch has them (`torch.nn.Embedding`,
# `torch.nn.functional.embedding`).
#
# ```
#   ids (B, T) int ──Embedding(V, E)──► (B, T, E) ──+ positions[offset : offset + T]──► (B, T, E) ──► attention
#                       │ weight (V, E)                 PositionalEmbedding: learned (max_seq_len, E)
#                       ▼                               SinusoidalPositionalEncoding: fixed table (buffer)
#   backward: grad (B, T, E) scatter-added into the rows ids picked
# ```
#
# **Why a systems engineer cares.** The embedding table is often the largest single tensor of
# a small language model: a 50,257-token vocabulary at 768 dimensions is 38.6 million
# parameters, 154 MB in float32 (printed in the analysis). Its forward pass is a memory
# copy, not arithmetic; its backward pass is a scatter with collisions, which NumPy can do
# fast or very slowly depending on how you ask. You measure both.
#
# **Connections.** Module 11's tokenizers produce the ids. Module 13's attention consumes the
# vectors; its KV cache continues a sequence at a position `offset`, which is why the
# positional layers take one. Module 14's GPT stacks `Embedding`, `PositionalEmbedding` and
# attention blocks. Module 17 quantizes embedding tables; Module 19 caches keys and values.

# %%
#| default_exp nn.embedding

# %%
#| export
from __future__ import annotations

from typing import Any

import numpy as np

import tinytorch.tensor as tensor_module
from tinytorch.autograd import Node, register_gradient
from tinytorch.nn.layers import Module, Parameter
from tinytorch.tensor import DtypeError, ShapeError, Tensor, dispatch, register_kernel


# %% [markdown]
# ## 1. A lookup, and what can go wrong with it
#
# An embedding table is a matrix $W$ of shape $(V, E)$: $V$ rows (`num_embeddings`, the
# vocabulary size), each a vector of $E$ numbers (`embedding_dim`). Looking up ids is
# indexing rows:
#
# $$\text{out}[b, t, :] = W[\text{ids}[b, t], :], \qquad \text{ids}: (B, T) \;\to\; \text{out}: (B, T, E).$$
#
# Any shape of ids works: `(T,)`, `(B, T)`, even a single id of shape `()`; the output
# appends $E$. This is exactly what multiplying a **one-hot** matrix by $W$ would give,
# without building the $(B \cdot T) \times V$ one-hot matrix.
#
# Before indexing, two mistakes must be caught, as PyTorch catches them:
#
# - **Ids that are not integers.** `Tensor([1, 2])` is float32 (Module 01's default), and
#   NumPy would refuse to index with floats in a confusing way. Raise `DtypeError` (a
#   `TypeError`) naming the dtype, and say how to fix it:
#   `Tensor(ids, dtype=np.int64)`. Booleans are not ids either (NumPy would treat them as a
#   mask).
# - **Ids out of range.** NumPy quietly wraps a negative index (`W[-1]` is the last row) and
#   PyTorch does not: an id must satisfy `0 <= id < num_embeddings`. Raise `IndexError`
#   naming the first bad id (in the order `indices.ravel()` visits them) and
#   `num_embeddings=V`. A tokenizer bug that produces id 65 for a 65-token vocabulary
#   should stop here, not train a wrong model.
#
# ### Your task: `check_indices`

# %% nbgrader={"grade": false, "grade_id": "impl-check-indices", "locked": false, "solution": true, "schema_version": 3}
#| export
def check_indices(indices: np.ndarray, num_embeddings: int) -> None:
    """Raise unless ``indices`` (an array of any shape) are valid ids for a table of ``num_embeddings`` rows.

    ``DtypeError`` naming the dtype unless ``indices.dtype.kind`` is ``"i"`` or ``"u"`` (integers);
    ``IndexError`` naming the first id outside ``[0, num_embeddings)`` and ``num_embeddings=...``.
    Booleans are not ids. An empty array is valid. Returns None.
    Hint: a boolean mask of the ids below 0 or at least ``num_embeddings`` picks the offenders,
    in ``ravel`` order; the first of them is the one to name.
    If you are stuck: ``indices[(indices < 0) | (indices >= num_embeddings)]`` is that array.
    """
    ### BEGIN SOLUTION
    if indices.dtype.kind not in "iu":
        raise DtypeError(
            f"embedding ids must be integers, got {indices.dtype}; make them with Tensor(ids, dtype=np.int64)"
        )
    bad = indices[(indices < 0) | (indices >= num_embeddings)]
    if bad.size:
        raise IndexError(
            f"embedding id {bad[0]} is out of range for num_embeddings={num_embeddings}: "
            f"ids must be in [0, {num_embeddings - 1}]"
        )
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-check-indices", "locked": true, "points": 2, "solution": false, "schema_version": 3}
import re

from tinytorch.tensor import error_name, expect_error, observe, unseen_rng

assert check_indices(np.array([[0, 3], [9, 1]]), 10) is None, "check_indices: ids in [0, 10) are valid"
check_indices(np.zeros((2, 0), dtype=np.int64), 5)  # no ids at all: nothing to complain about
check_indices(np.array([4], dtype=np.int32), 5)  # int32 ids are fine too
check_indices(np.array([4], dtype=np.uint8), 5)  # and unsigned ones
expect_error(DtypeError, lambda: check_indices(np.array([1.0, 2.0], dtype=np.float32), 10), "float32",
             what="check_indices of float32 ids")
expect_error(DtypeError, lambda: check_indices(np.array([True, False]), 10), "bool",
             what="check_indices of bool ids (booleans are not ids)")
expect_error(IndexError, lambda: check_indices(np.array([[0, 10], [3, 4]]), 10), "10", "num_embeddings=10",
             what="check_indices with id 10 for num_embeddings=10 (the last valid id is 9)")
expect_error(IndexError, lambda: check_indices(np.array([2, -1]), 10), "-1",
             what="check_indices with a negative id (PyTorch does not wrap it)")
error = expect_error(IndexError, lambda: check_indices(np.array([[7, 3], [99, -5]]), 8), "num_embeddings=8",
                     what="check_indices with ids 99 and -5 for num_embeddings=8")
assert "99" in str(error), f"check_indices: name the FIRST bad id in ravel order (99 here, not -5); the message was: {error}"

# Graded: random ids of random dtypes, now and then outside the table.
rng = unseen_rng("test-check-indices")
for _ in range(14):
    rows = int(rng.integers(2, 12))
    shape = tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(1, 3))))
    dtype = str(rng.choice(["int64", "int64", "int64", "int64", "int32", "uint8", "float32", "bool"]))
    ids_val = rng.integers(-2, rows + 2, size=shape)  # now and then outside [0, rows)
    ids_val = ids_val.astype(dtype) if dtype != "uint8" else np.abs(ids_val).astype(dtype)
    outcome = error_name(lambda: check_indices(ids_val, rows))
    observe(f"check_indices(ids of shape {shape}, {dtype}, num_embeddings={rows}) raises", outcome)
    if outcome == "IndexError":
        message = str(expect_error(IndexError, lambda: check_indices(ids_val, rows)))
        flat = ids_val.ravel()
        named = [int(n) for n in re.findall(r"-?\d+", message)]
        observe("check_indices: the IndexError names the first bad id", int(flat[(flat < 0) | (flat >= rows)][0]) in named)
        observe("check_indices: the IndexError names num_embeddings=V", f"num_embeddings={rows}" in message)
observe("check_indices(an empty int64 array) raises",
        error_name(lambda: check_indices(np.zeros((0, int(rng.integers(1, 4))), dtype=np.int64), int(rng.integers(1, 9)))))


# %% [markdown]
# ## 2. The lookup as one op
#
# Like Module 04's `linear`, the embedding is one op of the dispatch layer, with a kernel and
# a closed-form backward, registered under the name `"embedding"`. Its inputs are the ids
# (an integer tensor, which never requires grad) and the weight. The op also carries
# `padding_idx` as an attribute, used only by the backward (below).
#
# ### Your task: `embedding_kernel`
# Gather the rows. NumPy's integer-array indexing does all of it: `weight[indices]` has
# shape `indices.shape + (E,)`.

# %% nbgrader={"grade": false, "grade_id": "impl-embedding-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("embedding")
def embedding_kernel(indices: np.ndarray, weight: np.ndarray, padding_idx: int | None = None) -> np.ndarray:
    """Rows ``weight[indices]``: ids of shape ``S`` and weight ``(V, E)`` give ``(*S, E)``, weight's dtype.

    ``indices`` were checked already; ``padding_idx`` does not change the forward pass.
    Hint: one indexing expression.
    """
    ### BEGIN SOLUTION
    return weight[indices]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-embedding-kernel", "locked": true, "points": 1, "solution": false, "schema_version": 3}
table = np.arange(12, dtype=np.float32).reshape(4, 3)
ids = np.array([[3, 0], [3, 1]])
out = embedding_kernel(ids, table)
assert out.shape == (2, 2, 3), f"embedding_kernel: ids (2, 2) and a (4, 3) table give (2, 2, 3), got {out.shape}"
assert np.array_equal(out[0, 0], [9, 10, 11]) and np.array_equal(out[1, 1], [3, 4, 5]), "embedding_kernel: out[b, t] = weight[ids[b, t]]"
assert out.dtype == np.float32, "embedding_kernel keeps the weight's dtype"
assert embedding_kernel(np.array([1, 2]), table.astype(np.float64)).dtype == np.float64, "embedding_kernel keeps the weight's dtype (float64 here)"
assert embedding_kernel(np.array(2), table).shape == (3,), "embedding_kernel: a single id (shape ()) gives one row (3,)"
assert embedding_kernel(np.zeros((2, 0), dtype=np.int64), table).shape == (2, 0, 3), "embedding_kernel: ids of shape (2, 0) give (2, 0, 3)"

# Graded: random tables, ids of several shapes.
rng = unseen_rng("test-embedding-kernel")
rows, width = int(rng.integers(2, 9)), int(rng.integers(1, 6))
weight_val = rng.standard_normal((rows, width)).astype(np.float32)
for shape in ((), (5,), (2, 4), (2, 3, 2)):
    ids_val = rng.integers(0, rows, size=shape)
    observe(f"embedding_kernel(ids of shape {shape}, float32 weight)", embedding_kernel(ids_val, weight_val))
observe("embedding_kernel(ids, float64 weight)", embedding_kernel(ids_val, weight_val.astype(np.float64) * 3))
observe("embedding_kernel(ids, weight, padding_idx=0)", embedding_kernel(ids_val, weight_val, padding_idx=0))


# %% [markdown]
# ## 3. The backward pass: a scatter-add
#
# Each output row is a copy of one table row, so the gradient of row $v$ of $W$ is the sum
# of the output gradients of every position that looked it up:
#
# $$\frac{\partial L}{\partial W[v, :]} = \sum_{(b, t)\,:\ \text{ids}[b, t] = v} \frac{\partial L}{\partial \text{out}[b, t, :]} .$$
#
# Rows nobody looked up get 0; a row looked up three times gets three gradients **added**.
# That is why `grad_weight[ids] += grad` is wrong: with repeated ids NumPy's `+=` writes
# each row once, and the last write wins. (In "the cat sat on the mat", "the" appears twice.)
#
# **`padding_idx`.** Batches of sentences of different lengths are padded with a special id
# to one length. With `padding_idx=p`, PyTorch's `Embedding` starts row `p` at zero and
# never gives it a gradient, so the padding vector stays zero: the backward sets row `p` of
# `grad_weight` to 0.
#
# **Fast.** NumPy's `np.add.at(grad_weight, ids, grad)` adds with repeats correctly (Module
# 02's `getitem` backward uses it), but on a 2-D table it takes a slow element-by-element
# path. The given `scatter_add_rows` asks NumPy the same question in a form it answers
# several times faster: it flattens the table, turns each (row, column) pair into one flat
# position `row * E + column`, and calls `np.add.at` on that 1-D array, NumPy's fast case.
# The analysis at the end times both.

# %%
#| export
def scatter_add_rows(indices: np.ndarray, rows: np.ndarray, num_rows: int) -> np.ndarray:
    """A ``(num_rows, E)`` array of zeros with each ``rows[i]`` added to row ``indices[i]``.

    ``indices`` 1-D integers ``(N,)``, ``rows`` ``(N, E)``; repeated indices accumulate. Same
    result as ``np.add.at(out, indices, rows)`` on the 2-D array, which NumPy runs several
    times slower than ``np.add.at`` on a 1-D array with flat positions (measured below).
    """
    width = rows.shape[1]
    flat = np.zeros(num_rows * width, dtype=rows.dtype)
    positions = (indices[:, None] * width + np.arange(width)).ravel()  # (N * E,) flat positions
    np.add.at(flat, positions, rows.ravel())
    return flat.reshape(num_rows, width)


# %% [markdown]
# The tests of the backward formula hand it the `Node` that recording the op creates, built
# by `embedding_node` (read-only, below) with the forward result computed in the test, so a
# wrong kernel never fails the backward test.

# %% nbgrader={"grade": false, "grade_id": "given-embedding-node", "locked": true, "solution": false, "schema_version": 3}
def embedding_node(indices: np.ndarray, weight: np.ndarray, padding_idx: int | None = None) -> Node:
    """The Node recording ``embedding(indices, weight, padding_idx)``: int64 ids, a float64
    weight that requires grad, and the output ``weight[indices]``."""
    inputs = (Tensor(indices, dtype=np.int64), Tensor(weight, dtype=np.float64, requires_grad=True))
    return Node("embedding", inputs, {"padding_idx": padding_idx}, np.asarray(weight, dtype=np.float64)[indices])


# %% [markdown]
# ### Your task: `embedding_backward`
# Return one gradient per input, `(None, grad_weight)`: the ids get no gradient. Flatten
# first: the ids to `(N,)`, the gradient to `(N, E)`, whatever their shape.

# %% nbgrader={"grade": false, "grade_id": "impl-embedding-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("embedding")
def embedding_backward(grad: np.ndarray, node: Node) -> tuple[None, np.ndarray]:
    """``(None, grad_weight)``: ``grad`` (ids.shape + (E,)) scatter-added into the rows the ids picked.

    ``grad_weight`` has the weight's shape ``(V, E)`` and ``grad``'s dtype; repeated ids add
    up; row ``node.attrs["padding_idx"]`` (if not None) is 0.
    Hint: ``node.inputs`` holds the ids and the weight (V, E); flatten the ids to ``(N,)`` and
    ``grad`` to ``(N, E)`` and let ``scatter_add_rows`` add them into a ``(V, E)`` array.
    """
    ### BEGIN SOLUTION
    ids, weight = node.inputs
    num_rows, width = weight.shape
    grad_weight = scatter_add_rows(ids.data.ravel(), grad.reshape(-1, width), num_rows)
    padding_idx = node.attrs["padding_idx"]
    if padding_idx is not None:
        grad_weight[padding_idx] = 0
    return None, grad_weight
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-embedding-backward", "locked": true, "points": 3, "solution": false, "schema_version": 3}
fixed = np.random.default_rng(0)
w_val = fixed.standard_normal((5, 3))
ids = np.array([[1, 4, 1], [0, 1, 4]])  # row 1 three times, row 4 twice, rows 2 and 3 never
g_val = fixed.standard_normal((2, 3, 3))
grads = embedding_backward(g_val, embedding_node(ids, w_val))
assert len(grads) == 2 and grads[0] is None, "embedding_backward: return (None, grad_weight): the ids get no gradient"
grad_w = grads[1]
expected = np.zeros((5, 3))
for b in range(2):
    for t in range(3):
        expected[ids[b, t]] += g_val[b, t]
assert grad_w.shape == (5, 3), f"embedding_backward: grad_weight has the weight's shape (5, 3), got {grad_w.shape}"
assert grad_w.dtype == np.float64, f"embedding_backward: grad_weight has grad's dtype (float64 here), got {grad_w.dtype}"
assert np.allclose(grad_w[[2, 3]], 0), "embedding_backward: rows no id picked get zero gradient"
assert np.allclose(grad_w, expected), "embedding_backward: a row picked several times gets the SUM of their gradients"
_, grad_w = embedding_backward(g_val, embedding_node(ids, w_val, padding_idx=1))
assert np.allclose(grad_w[1], 0) and np.allclose(grad_w[4], expected[4]), "embedding_backward: row padding_idx=1 gets 0, the others as before"
_, grad_w = embedding_backward(np.array([1.0, 2.0, 3.0]), embedding_node(np.array(2), w_val))
assert grad_w.shape == (5, 3) and np.allclose(grad_w[2], [1.0, 2.0, 3.0]) and np.allclose(np.delete(grad_w, 2, axis=0), 0), \
    "embedding_backward: a single id (shape ()) with grad (3,) puts the gradient into its row only"

# Graded: random ids (with repeats) of several shapes, random gradients, a random padding row.
rng = unseen_rng("test-embedding-backward")
rows, width = int(rng.integers(3, 8)), int(rng.integers(1, 5))
w_val = rng.standard_normal((rows, width))
for shape in ((), (6,), (3, 4)):
    ids_val = rng.integers(0, rows, size=shape)
    grads = embedding_backward(rng.standard_normal(shape + (width,)), embedding_node(ids_val, w_val))
    observe(f"embedding_backward, ids of shape {shape}: the ids get None", grads[0] is None)
    observe(f"embedding_backward, ids of shape {shape}: grad_weight", grads[1])
padding = int(rng.integers(0, rows))
ids_val = rng.integers(0, rows, size=(4, 5))
ids_val[0, 0] = padding
_, grad_w = embedding_backward(rng.standard_normal((4, 5, width)), embedding_node(ids_val, w_val, padding_idx=padding))
observe("embedding_backward with padding_idx: grad_weight", grad_w)


# %% [markdown]
# ### The functional and the layer (given)
#
# `embedding(input, weight, padding_idx=None)` is PyTorch's `F.embedding`: the ids may be an
# integer `Tensor` or NumPy array; it checks them with your `check_indices` and dispatches
# the op. A negative `padding_idx` counts from the end, as in PyTorch.
#
# `Embedding(num_embeddings, embedding_dim, padding_idx=None)` holds the table as a
# `Parameter` initialized like PyTorch's, from the standard normal distribution $N(0, 1)$
# (tinytorch's default generator, so `manual_seed` makes it reproducible), with row
# `padding_idx` set to zero. Why $N(0, 1)$ and not Module 04's $1/\sqrt{\text{in}}$ scaling?
# A lookup multiplies nothing, so there is no fan-in to scale for; models that want smaller
# vectors (GPT-2 uses $N(0, 0.02^2)$) re-initialize the table themselves.

# %%
#| export
def _normalize_padding_idx(padding_idx: int | None, num_embeddings: int) -> int | None:
    """``padding_idx`` as a row in ``[0, num_embeddings)`` (negative counts from the end), or None."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx={padding_idx} must be within num_embeddings={num_embeddings}")
    return padding_idx % num_embeddings


def _index_tensor(input: Any) -> Tensor:
    """The ids as an integer Tensor: a Tensor as it is, an integer array as int64; TypeError otherwise."""
    if isinstance(input, Tensor):
        return input
    if isinstance(input, np.ndarray):
        if input.dtype.kind in "iu":
            return Tensor(input, dtype=np.int64)
        check_indices(input, 0)  # the DtypeError that names the dtype
    raise TypeError(f"embedding ids must be an integer Tensor or NumPy array, got {type(input).__name__}")


def embedding(input: Tensor | np.ndarray, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (V, E) picked by the integer ids ``input`` (any shape S): ``(*S, E)``.

    DtypeError for non-integer ids, IndexError for an id outside ``[0, V)``. Row ``padding_idx``
    gets no gradient.
    """
    ids = _index_tensor(input)
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    check_indices(ids.data, weight.shape[0])
    return dispatch("embedding", ids, weight, padding_idx=_normalize_padding_idx(padding_idx, weight.shape[0]))


def normal_parameter(*shape: int) -> Parameter:
    """A float32 Parameter of ``shape`` drawn from N(0, 1) with the default generator (``manual_seed``)."""
    generator = tensor_module._GENERATOR  # looked up at call time: manual_seed replaces it
    return Parameter(generator.standard_normal(shape).astype(np.float32))


class Embedding(Module):
    """A lookup table: ids of any shape S -> ``(*S, embedding_dim)``; ``weight`` (num_embeddings, embedding_dim) ~ N(0, 1)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None) -> None:
        super().__init__()
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(
                f"Embedding needs positive sizes, got num_embeddings={num_embeddings}, embedding_dim={embedding_dim}"
            )
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _normalize_padding_idx(padding_idx, num_embeddings)
        self.weight = normal_parameter(num_embeddings, embedding_dim)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input: Tensor | np.ndarray) -> Tensor:
        return embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"


# %%
from tinytorch.tensor import manual_seed
import tinytorch.autograd  # noqa: F401  (gradients for .backward())

manual_seed(0)
vocab = Embedding(6, 4, padding_idx=0)
ids = Tensor([[5, 2, 2, 0]], dtype=np.int64)  # token 2 twice, then padding
vectors = vocab(ids)
print(vocab, "->", vectors.shape, "| padding row:", vectors.numpy()[0, 3])
(vectors * Tensor(np.arange(16.0).reshape(1, 4, 4))).sum().backward()
print("gradient rows (0: padding, kept at zero; 2: used twice; 5: once; 1, 3, 4: unused):\n", vocab.weight.grad.numpy())
print("float ids:", expect_error(TypeError, lambda: vocab(Tensor([1.0, 2.0])), "float32"))
print("id 6 of 6:", expect_error(IndexError, lambda: vocab(np.array([6])), "num_embeddings=6"))


# %% [markdown]
# ## 4. Where a token is: positional encodings
#
# Attention compares every position with every other one by dot products, and a dot product
# does not care where a vector sits in the sequence. Shuffle the tokens and each one gets the
# same attention result, shuffled. Word order must therefore be **added to the vectors**:
# position $p$ gets a vector $P[p]$ of the same width $E$, and the layer's output is
# $x[b, t] + P[\text{offset} + t]$.
#
# Two ways to get the table $P$ (shape `(max_seq_len, E)`):
#
# - **Learned** (GPT-2, BERT): $P$ is one more embedding table, of positions instead of
#   tokens, trained with the rest of the model. `PositionalEmbedding(max_seq_len,
#   embedding_dim)` below is an `Embedding` of `max_seq_len` positions. It cannot go past
#   the longest position it was trained on.
# - **Sinusoidal** (Vaswani et al., *Attention Is All You Need*, 2017): a fixed table, no
#   parameters. Dimension pair $(2i, 2i+1)$ is a sine and a cosine of the position at
#   frequency $\omega_i = 10000^{-2i/E}$:
#
# $$P[p, 2i] = \sin(p\,\omega_i), \qquad P[p, 2i + 1] = \cos(p\,\omega_i), \qquad \omega_i = 10000^{-2i/E}, \quad i = 0, 1, \dots$$
#
#   The wavelengths run geometrically from $2\pi$ (dimensions 0 and 1, which change every
#   position) to nearly $2\pi \cdot 10000$ (the last ones, which barely change), like the
#   hands of a clock. Because $\sin$ and $\cos$ of $p + k$ are a rotation of those of $p$,
#   the dot product $P[p] \cdot P[p + k] = \sum_i \cos(k\,\omega_i)$ depends only on the
#   distance $k$, which the analysis shows. For an odd $E$ the last dimension is a sine
#   (there are $\lceil E/2 \rceil$ sines and $\lfloor E/2 \rfloor$ cosines).
#
# ### Your task: `sinusoidal_table`

# %% nbgrader={"grade": false, "grade_id": "impl-sinusoidal-table", "locked": false, "solution": true, "schema_version": 3}
#| export
def sinusoidal_table(max_seq_len: int, embedding_dim: int) -> np.ndarray:
    """The ``(max_seq_len, embedding_dim)`` float32 table ``P[p, 2i] = sin(p w_i)``, ``P[p, 2i+1] = cos(p w_i)``.

    ``w_i = 10000 ** (-2i / embedding_dim)``; an odd ``embedding_dim`` ends with a sine column.
    Compute in float64, return float32.
    Hint: one angle per position and sine column, ``(max_seq_len, ceil(E / 2))``, from the
    positions times the frequencies (``w_i`` for ``2i`` in ``0, 2, 4, ...``); the sines fill the
    even columns, the first ``E // 2`` cosines the odd ones.
    If you are stuck: ``positions[:, None] * w[None, :]``, then ``table[:, 0::2]`` and ``table[:, 1::2]``.
    """
    ### BEGIN SOLUTION
    positions = np.arange(max_seq_len, dtype=np.float64)
    frequencies = 10000.0 ** (-np.arange(0, embedding_dim, 2, dtype=np.float64) / embedding_dim)
    angles = positions[:, None] * frequencies[None, :]  # (max_seq_len, ceil(E / 2))
    table = np.empty((max_seq_len, embedding_dim), dtype=np.float64)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : embedding_dim // 2])
    return table.astype(np.float32)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-sinusoidal-table", "locked": true, "points": 2, "solution": false, "schema_version": 3}
import math

table = sinusoidal_table(50, 8)
assert table.shape == (50, 8) and table.dtype == np.float32, f"sinusoidal_table: expected float32 (50, 8), got {table.dtype} {table.shape}"
assert np.allclose(table[0], [0, 1, 0, 1, 0, 1, 0, 1]), "sinusoidal_table: position 0 is sin(0) = 0 and cos(0) = 1, alternating"
expected = np.zeros((50, 8))
for p in range(50):
    for i in range(4):
        expected[p, 2 * i] = math.sin(p / 10000 ** (2 * i / 8))
        expected[p, 2 * i + 1] = math.cos(p / 10000 ** (2 * i / 8))
assert np.allclose(table, expected, atol=1e-6), "sinusoidal_table: P[p, 2i] = sin(p / 10000**(2i/E)), P[p, 2i+1] = cos(same)"
odd = sinusoidal_table(7, 5)
assert odd.shape == (7, 5), f"sinusoidal_table(7, 5): expected shape (7, 5), got {odd.shape}"
assert np.allclose(odd[:, 4], [math.sin(p / 10000 ** (4 / 5)) for p in range(7)], atol=1e-6), \
    "sinusoidal_table: an odd embedding_dim ends with a sine column (i = 2 for E = 5)"
assert np.allclose(odd[3, 1], math.cos(3.0), atol=1e-6), "sinusoidal_table(7, 5): P[3, 1] = cos(3 * w_0) = cos(3)"

# Graded: tables of random sizes, odd widths included.
rng = unseen_rng("test-sinusoidal-table")
for width in (2 * int(rng.integers(1, 8)), 2 * int(rng.integers(0, 8)) + 1):
    observe("sinusoidal_table(random length, random width)", sinusoidal_table(int(rng.integers(1, 120)), width), atol=1e-6)


# %% [markdown]
# ### Positions, and where a sequence starts
#
# A layer given `x` of shape `(B, T, E)` adds the rows for positions $0, 1, \dots, T - 1$.
# Module 13's **KV cache** changes that: when a model generates text, it feeds the prompt
# once, then one new token at a time, and each call sees only the new tokens. The 5th token
# generated after a 10-token prompt sits at position 14, not 0. So both layers take an
# `offset` and use positions `offset, offset + 1, ..., offset + T - 1`. Past the end of the
# table there is no row: a `ValueError` that says so.
#
# ### Your task: `position_ids`

# %% nbgrader={"grade": false, "grade_id": "impl-position-ids", "locked": false, "solution": true, "schema_version": 3}
#| export
def position_ids(seq_len: int, offset: int, max_seq_len: int) -> np.ndarray:
    """The int64 positions ``[offset, offset + seq_len)`` of a sequence of ``seq_len`` tokens.

    ``ValueError`` for a negative ``offset``, and ``ValueError("sequence of {seq_len} tokens
    starting at position {offset} exceeds max_seq_len={max_seq_len}")`` when
    ``offset + seq_len > max_seq_len``.
    Hint: ``np.arange(start, stop, dtype=np.int64)``.
    """
    ### BEGIN SOLUTION
    if offset < 0:
        raise ValueError(f"offset must be >= 0 (the position of the first token), got {offset}")
    if offset + seq_len > max_seq_len:
        raise ValueError(
            f"sequence of {seq_len} tokens starting at position {offset} exceeds max_seq_len={max_seq_len}"
        )
    return np.arange(offset, offset + seq_len, dtype=np.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-position-ids", "locked": true, "points": 1, "solution": false, "schema_version": 3}
positions = position_ids(4, 0, 16)
assert positions.tolist() == [0, 1, 2, 3] and positions.dtype == np.int64, f"position_ids(4, 0, 16): expected int64 [0, 1, 2, 3], got {positions}"
assert error_name(lambda: position_ids(3, 13, 16)) == "nothing", \
    "position_ids(3, 13, 16) raised: a sequence may end exactly at max_seq_len (positions 13, 14, 15 are all < 16)"
assert position_ids(3, 13, 16).tolist() == [13, 14, 15], "position_ids(3, 13, 16): a sequence may end exactly at max_seq_len"
assert position_ids(1, 9, 16).tolist() == [9], "position_ids(1, 9, 16): one new token at position 9"
expect_error(ValueError, lambda: position_ids(4, 13, 16), "sequence of 4 tokens starting at position 13 exceeds max_seq_len=16",
             what="position_ids(4, 13, 16)")
expect_error(ValueError, lambda: position_ids(2, -1, 16), "offset", what="position_ids with offset -1")

# Graded: random lengths and offsets, inside the table, up to its end, and past it.
rng = unseen_rng("test-position-ids")
limit = int(rng.integers(4, 64))
length = int(rng.integers(1, limit + 1))
observe("position_ids(T, offset, max_seq_len) inside the table", position_ids(length, int(rng.integers(0, limit - length + 1)), limit))
observe("position_ids(T, max_seq_len - T, max_seq_len): ending at the last row", position_ids(length, limit - length, limit))
observe("position_ids(T, max_seq_len - T + 1, max_seq_len) raises", error_name(lambda: position_ids(length, limit - length + 1, limit)))
observe("position_ids with a negative offset raises", error_name(lambda: position_ids(length, -int(rng.integers(1, 5)), limit)))
message = str(expect_error(ValueError, lambda: position_ids(length, limit, limit), what="position_ids(T, max_seq_len, max_seq_len)"))
observe("position_ids: the ValueError names max_seq_len", f"max_seq_len={limit}" in message)


# %% [markdown]
# ### The two layers (given)
#
# Both take `x` of shape `(..., T, E)` (usually `(B, T, E)`, the token vectors) and return
# `x + P[offset : offset + T]`, broadcast over the batch. `PositionalEmbedding` looks the
# positions up with the embedding op, so the rows it used get gradients;
# `SinusoidalPositionalEncoding` keeps its table as a **buffer** (Module 04's
# `register_buffer`: part of `state_dict`, not a parameter, never trained). Its default
# `max_seq_len=5000` is the one of PyTorch's transformer tutorial. A wrong width is a
# `ShapeError` naming the layer and the shape.

# %%
#| export
def _check_width(layer: Module, x: Tensor, embedding_dim: int) -> None:
    """ShapeError naming ``layer`` unless ``x`` is ``(..., T, embedding_dim)``."""
    if x.ndim < 2 or x.shape[-1] != embedding_dim:
        raise ShapeError(
            f"{layer!r} got an input of shape {x.shape}: expected (batch, seq_len, {embedding_dim}), "
            f"the token vectors of width embedding_dim={embedding_dim}"
        )


class PositionalEmbedding(Embedding):
    """Learned positions: an ``Embedding(max_seq_len, embedding_dim)`` whose ``forward(x, offset)``
    returns ``x + weight[offset : offset + T]`` for ``x`` of shape ``(..., T, embedding_dim)``."""

    def __init__(self, max_seq_len: int, embedding_dim: int) -> None:
        super().__init__(max_seq_len, embedding_dim)

    @property
    def max_seq_len(self) -> int:
        return self.num_embeddings

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:  # type: ignore[override]
        _check_width(self, x, self.embedding_dim)
        positions = Tensor._wrap(position_ids(x.shape[-2], offset, self.num_embeddings))
        return x + embedding(positions, self.weight)


class SinusoidalPositionalEncoding(Module):
    """Fixed sine/cosine positions (Vaswani et al. 2017) in the buffer ``table`` (max_seq_len, embedding_dim);
    ``forward(x, offset)`` returns ``x + table[offset : offset + T]``."""

    def __init__(self, embedding_dim: int, max_seq_len: int = 5000) -> None:
        super().__init__()
        if embedding_dim <= 0 or max_seq_len <= 0:
            raise ValueError(f"SinusoidalPositionalEncoding needs positive sizes, got {embedding_dim}, {max_seq_len}")
        self.embedding_dim = embedding_dim
        self.max_seq_len = max_seq_len
        self.register_buffer("table", Tensor._wrap(sinusoidal_table(max_seq_len, embedding_dim)))

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        _check_width(self, x, self.embedding_dim)
        rows = self.table.data[position_ids(x.shape[-2], offset, self.max_seq_len)]  # (T, E), a constant
        return x + Tensor._wrap(rows)

    def extra_repr(self) -> str:
        return f"embedding_dim={self.embedding_dim}, max_seq_len={self.max_seq_len}"


# %% [markdown]
# A batch of token vectors gets its positions; then the same sequence fed in two pieces, the
# second starting at `offset=3`, gets the same result as in one piece. That is what a KV
# cache relies on.

# %%
manual_seed(0)
tokens = Embedding(10, 8)
learned, fixed = PositionalEmbedding(16, 8), SinusoidalPositionalEncoding(8, max_seq_len=16)
ids = Tensor([[1, 4, 1, 5, 9]], dtype=np.int64)
for layer in (learned, fixed):
    whole = layer(tokens(ids)).numpy()
    pieces = np.concatenate([layer(tokens(ids[:, :3])).numpy(), layer(tokens(ids[:, 3:]), offset=3).numpy()], axis=1)
    print(f"{layer!r:>55}: {whole.shape}, same in two pieces: {np.allclose(whole, pieces)}")
print("position 16 of 16:", expect_error(ValueError, lambda: fixed(tokens(ids), offset=12), "max_seq_len=16"))

# %% [markdown]
# ## 5. Systems analysis
#
# ### How big is an embedding table?
# Parameters are $V \times E$, bytes $4 V E$ in float32, counted below from the layers
# themselves for a character vocabulary (65 characters, Module 11), a small BPE vocabulary
# and GPT-2's vocabulary and width. A table that large is built without being filled (the
# bytes are what the formula says; allocating 154 MB here would only slow the notebook), so
# the GPT-2 row is computed from Module 01's `bytes_for`; the two small tables are measured.

# %%
from tinytorch.tensor import bytes_for

for name, vocab_size, dim in (("characters", 65, 128), ("small BPE", 2048, 256)):
    table = Embedding(vocab_size, dim)
    print(f"{name:>12}: V={vocab_size:>6,} x E={dim:>4}: {table.weight.size:>11,} parameters, "
          f"{table.weight.nbytes / 2**20:7.2f} MiB measured, {bytes_for((vocab_size, dim)) / 2**20:7.2f} MiB by V*E*4")
print(f"{'GPT-2':>12}: V={50257:>6,} x E={768:>4}: {50257 * 768:>11,} parameters, "
      f"{bytes_for((50257, 768)) / 1e6:7.1f} MB by V*E*4")
print(f"token ids for a batch of 16 x 1024 tokens: {bytes_for((16, 1024), np.int64) / 2**10:.0f} KiB (int64); "
      f"their vectors at E=768: {bytes_for((16, 1024, 768)) / 2**20:.0f} MiB (float32)")

# %% [markdown]
# ### The backward scatter: two ways to ask NumPy
# The same gradient, `(N, E)` rows scatter-added into a `(V, E)` table, computed by
# `np.add.at` on the 2-D table and by `scatter_add_rows` (flat positions, 1-D `np.add.at`),
# timed side by side at three small sizes (a batch of 8 × 32 tokens, a character vocabulary
# and a small BPE one). Both results are checked to be equal first.

# %%
import timeit

rng = np.random.default_rng(0)
for vocab_size, n_tokens, dim in ((65, 256, 64), (65, 1024, 128), (2048, 1024, 128)):
    ids = rng.integers(0, vocab_size, n_tokens)
    rows = rng.standard_normal((n_tokens, dim)).astype(np.float32)

    def two_d() -> np.ndarray:
        out = np.zeros((vocab_size, dim), dtype=np.float32)
        np.add.at(out, ids, rows)
        return out

    def flat() -> np.ndarray:
        return scatter_add_rows(ids, rows, vocab_size)

    assert np.allclose(two_d(), flat(), atol=1e-4)
    slow = min(timeit.repeat(two_d, number=1, repeat=3))
    fast = min(timeit.repeat(flat, number=1, repeat=3))
    print(f"V={vocab_size:>5}, N={n_tokens:>5}, E={dim:>4}: np.add.at on 2-D {slow * 1e3:6.2f} ms, "
          f"scatter_add_rows {fast * 1e3:6.2f} ms ({slow / fast:4.1f}x faster)")

# %% [markdown]
# ### What the sinusoidal table encodes
# The dot product of two positions' encodings, $P[p] \cdot P[q]$, printed for $p = 10$ and
# $q = 0 \dots 20$ at $E = 64$: largest at $q = p$ (where it equals $E/2 = 32$: each of the 32
# sine/cosine pairs contributes $\sin^2 + \cos^2 = 1$) and smaller further away (not
# monotonically: the fast dimensions oscillate). Then
# the same distances measured from $p = 100$: the values match, because the dot product
# depends only on $q - p$.

# %%
table = sinusoidal_table(128, 64).astype(np.float64)
near_10 = table[10] @ table[0:21].T
near_100 = table[100] @ table[90:111].T
print("P[10] . P[q], q = 0..20: ", " ".join(f"{v:5.1f}" for v in near_10))
print("P[100] . P[q], q = 90..110:", " ".join(f"{v:5.1f}" for v in near_100))
print(f"largest difference between the two rows (same distances): {np.abs(near_10 - near_100).max():.1e}")

# %% [markdown]
# ## Summary
#
# You built the embedding lookup as one op: `check_indices` guards it, `embedding_kernel`
# gathers rows, `embedding_backward` scatter-adds the gradient back with repeated ids
# accumulating and the padding row left at zero. With `sinusoidal_table` and `position_ids`,
# the given `PositionalEmbedding` and `SinusoidalPositionalEncoding` add positions, starting
# at any `offset`, which Module 13's KV cache will use. The analysis printed the size of
# embedding tables from a character vocabulary to GPT-2's, the time of the same scatter-add
# asked of NumPy in two ways, and the distance structure of the sinusoidal table.
#
# **Reflection questions**
#
# 1. GPT-2 ties its output layer to its token embedding (the same $(V, E)$ matrix maps
#    vectors back to vocabulary scores). Using the table sizes printed above, what share of
#    a 124M-parameter model is that matrix, and what does tying save?
# 2. The embedding's backward writes a `(V, E)` gradient although only the rows of the ids in
#    the batch are nonzero. For GPT-2's table and a batch of 16 × 1024 tokens, at most how
#    many rows can be nonzero? What would a *sparse* gradient save, and what would an
#    optimizer like Adam need to do differently?
# 3. Why does `np.add.at` give the right answer where `grad_weight[ids] += grad` does not?
#    Construct the smallest example where they differ.
# 4. A learned positional table of 1024 rows cannot encode position 1024. What does the
#    sinusoidal table do at position 6000, and would a model trained on 1024 positions use it
#    well?
