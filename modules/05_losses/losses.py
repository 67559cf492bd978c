# %% [markdown]
# # Module 05: Losses
#
# Training needs one number that says how wrong the model is: the **loss**. Its gradient
# with respect to every parameter is what `loss.backward()` computes and what the optimizer
# of Module 06 follows. In this module you build the losses of `torch.nn`: mean squared
# error for regression, cross-entropy for classification, and binary cross-entropy from
# logits for yes/no (and multi-label) targets.
#
# **What you will build**, as kernels (forward, on NumPy arrays) and backward formulas:
#
# - `reduce_losses`: the `reduction="none" | "mean" | "sum"` that every loss shares;
# - `mse_loss_backward`: the gradient of the squared error (its kernel is given, as the
#   pattern for the others);
# - `nll_rows` and `nll_loss_backward`: the negative log-likelihood, which picks the
#   log-probability of each sample's class, and its gradient, which puts it back;
# - `bce_with_logits_losses` and `bce_with_logits_backward`: binary cross-entropy computed
#   from logits without ever forming $\log 0$.
#
# You are given the public functions of `torch.nn.functional` (`mse_loss`, `nll_loss`,
# `cross_entropy`, `binary_cross_entropy_with_logits`), which check their arguments, and
# the `Module` classes `MSELoss`, `NLLLoss`, `CrossEntropyLoss` and `BCEWithLogitsLoss`.
#
# **How it plugs in.** Each loss is an op of the dispatch layer, like Module 03's
# activations: a kernel registered with `@register_kernel("nll_loss")` and a closed-form
# formula registered with `@register_gradient("nll_loss")`. Cross-entropy is not a new op:
# it is Module 03's fused `log_softmax` followed by `nll_loss`, two graph nodes in all.
#
# ```
#   logits (N, C) ──log_softmax (Module 03)──► log_probs (N, C) ──nll_loss──► loss ()
#   loss.backward(): nll_loss_backward scatters -1/N into the target positions,
#                    log_softmax_backward turns that into (softmax - onehot) / N
# ```
#
# **Why a systems engineer cares.** The loss sits at the end of every training step, so its
# cost is paid on every step, and it is where numerical trouble starts: a logit of 1000 makes
# `exp` overflow and a probability of 0 makes `log` return `-inf`. At the end you measure
# both: the naive formula against the stable one, and the two-node cross-entropy against
# the same loss composed from primitive ops.
#
# **Connections.** Module 06's optimizers follow the gradients these losses start; Module 07's
# `Trainer` takes any of them as its `loss_fn`; Module 14's GPT is trained with
# `cross_entropy` over (batch, vocabulary, positions); Module 18's knowledge distillation uses
# cross-entropy against the teacher's probabilities.

# %%
#| default_exp nn.losses

# %%
#| export
from __future__ import annotations

import warnings

import numpy as np

from tinytorch.autograd import Node, register_gradient
from tinytorch.nn.activations import log_softmax, sigmoid_kernel
from tinytorch.nn.layers import Module
from tinytorch.tensor import DtypeError, ShapeError, Tensor, dispatch, register_kernel

# %% [markdown]
# The test cells use Module 01's helpers: `expect_error` for errors, and `unseen_rng` with
# `observe` for the inputs your notebook is graded on.

# %% nbgrader={"grade": false, "grade_id": "given-test-tools", "locked": true, "solution": false, "schema_version": 3}
from tinytorch.tensor import expect_error, observe, unseen_rng


# %% [markdown]
# ## 1. Reductions
#
# A loss first computes one value per element (per sample, or per pixel of a segmentation
# map), then reduces them as `reduction` says, PyTorch's three choices:
#
# | `reduction` | result | shape |
# |---|---|---|
# | `"none"` | the per-element losses $\ell_i$ | the per-element shape |
# | `"sum"` | $\sum_i \ell_i$ | `()` |
# | `"mean"` | $\sum_i \ell_i \,/\, T$ | `()` |
#
# The same helper reduces NumPy arrays in the kernels and Tensors in the losses composed from
# Tensor ops (section 3), so write it with what both have: the `.sum()` method and `.size`.
# Usually $T$ is the number of elements. The weighted losses below divide by something else:
# cross-entropy with class weights divides by the **sum of the weights** of the samples it
# counted, so that a weighted mean is still a mean. So the helper takes an optional `total`.
#
# ### Your task: `reduce_losses`

# %% nbgrader={"grade": false, "grade_id": "impl-reduce-losses", "locked": false, "solution": true, "schema_version": 3}
#| export
def reduce_losses(losses: np.ndarray | Tensor, reduction: str, total: float | None = None) -> np.ndarray | Tensor:
    """Reduce per-element ``losses`` (any shape) as ``reduction`` says; keeps the dtype.

    ``"none"``: ``losses`` unchanged; ``"sum"``: their sum; ``"mean"``: their sum divided by
    ``total``, or by the number of elements when ``total`` is None. ``reduction`` is already
    checked to be one of the three. ``losses`` is a NumPy array (in kernels) or a Tensor (the
    composed losses of section 3 reduce Tensors, so their gradients flow): use what both have,
    the ``.sum()`` method and ``.size``, not ``np.sum``.
    Hint: ``losses.sum()`` and ``losses.size``.
    """
    ### BEGIN SOLUTION
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / (losses.size if total is None else total)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-reduce-losses", "locked": true, "points": 2, "solution": false, "schema_version": 3}
losses_val = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
assert np.array_equal(reduce_losses(losses_val, "none"), losses_val), "reduce_losses('none') returns the losses as they are"
assert float(reduce_losses(losses_val, "sum")) == 12.0, "reduce_losses('sum') adds every element"
assert float(reduce_losses(losses_val, "mean")) == 3.0, "reduce_losses('mean') divides the sum by the number of elements"
assert float(reduce_losses(losses_val, "mean", total=8.0)) == 1.5, "reduce_losses('mean', total=8) divides the sum by total"
assert np.asarray(reduce_losses(losses_val, "mean")).dtype == np.float32, "reduce_losses must keep float32"
losses_tensor = Tensor(losses_val, requires_grad=True)
reduced = reduce_losses(losses_tensor, "mean", total=4.0)
assert isinstance(reduced, Tensor) and float(reduced.item()) == 3.0, "reduce_losses must work on a Tensor too (use losses.sum(), not np.sum)"
assert reduced.requires_grad, "reduce_losses on a Tensor must keep it in the graph: use its .sum() method"
assert reduce_losses(losses_tensor, "none") is losses_tensor, "reduce_losses('none') returns the Tensor as it is"

# Graded: the same calls on losses drawn for each graded run, compared with the reference.
rng = unseen_rng("test-reduce-losses")
unseen = rng.uniform(0.0, 3.0, size=tuple(int(n) for n in rng.integers(2, 6, size=2))).astype(np.float32)
total = float(rng.uniform(1.0, 20.0))
observe("reduce_losses(x, 'none'), float32", reduce_losses(unseen, "none"))
observe("reduce_losses(x, 'sum'), float32", reduce_losses(unseen, "sum"))
observe("reduce_losses(x, 'mean'), float32", reduce_losses(unseen, "mean"))
observe("reduce_losses(x, 'mean', total), float32", reduce_losses(unseen, "mean", total=total))
observe("reduce_losses(x, 'mean'), float64", reduce_losses(unseen.astype(np.float64), "mean"))
unseen_tensor = Tensor(unseen, requires_grad=True)
reduced = reduce_losses(unseen_tensor, "mean", total=total)
observe("reduce_losses(Tensor, 'mean', total).data", reduced.data)
reduced.backward()
observe("reduce_losses(Tensor, 'mean', total): gradient of the losses", unseen_tensor.grad.data)
observe("reduce_losses(Tensor, 'sum').data", reduce_losses(unseen_tensor, "sum").data)
observe("reduce_losses(Tensor, 'none') is the Tensor", reduce_losses(unseen_tensor, "none") is unseen_tensor)

# %% [markdown]
# Each backward formula needs the opposite step: how much each per-element loss $\ell_i$
# contributed to the reduced output. With $\bar y$ the gradient of the output, the gradient
# of $\ell_i$ is $\bar y_i$ for `"none"`, $\bar y$ for `"sum"` and $\bar y / T$ for `"mean"`.
# That helper is given. (When every sample is ignored, $T = 0$: the loss is `nan`, as in
# PyTorch, and the gradient is 0.)

# %%
#| export
LOSS_REDUCTIONS = ("none", "mean", "sum")


def reduced_grad(grad: np.ndarray, shape: tuple[int, ...], reduction: str, total: float | None = None) -> np.ndarray:
    """d(reduced loss)/d(per-element losses) times ``grad``, for per-element losses of ``shape``.

    ``grad`` itself for ``"none"``; for ``"sum"`` and ``"mean"`` a 0-d array, the same for every
    element, which broadcasts against ``shape`` (cheaper than a full array of copies).
    """
    if reduction == "mean":
        count = float(np.prod(shape)) if total is None else total
        return grad / count if count else np.zeros_like(grad)
    return grad


def check_reduction(name: str, reduction: str) -> None:
    """ValueError listing the valid reductions unless ``reduction`` is one of them."""
    if reduction not in LOSS_REDUCTIONS:
        raise ValueError(f"{name}: {reduction!r} is not a valid value for reduction; use 'none', 'mean' or 'sum'")


# %% [markdown]
# The tests of backward formulas below hand each formula the `Node` that recording the op
# would create, built by `loss_node`, with the forward result computed in the test: so a wrong
# kernel never fails a backward test. Errors are checked with Module 01's `expect_error`.

# %% nbgrader={"grade": false, "grade_id": "given-loss-node", "locked": true, "solution": false, "schema_version": 3}
def loss_node(op: str, input: np.ndarray, target: np.ndarray, out: np.ndarray, target_grad: bool = False, **attrs: object) -> Node:
    """The Node recording ``out = op(input, target, **attrs)``: a float64 ``input`` that requires
    grad; ``target`` keeps an integer dtype, a float target is float64 (requiring grad if asked)."""
    target_dtype = target.dtype if target.dtype.kind == "i" else np.float64
    inputs = (Tensor(input, dtype=np.float64, requires_grad=True),
              Tensor(target, dtype=target_dtype, requires_grad=target_grad))
    return Node(op, inputs, attrs, np.asarray(out, dtype=np.float64))


# %% [markdown]
# ## 2. Mean squared error
#
# For a prediction $x$ and a target $y$ of the same shape, the per-element loss and its
# derivatives are
#
# $$\ell_i = (x_i - y_i)^2, \qquad \frac{\partial \ell_i}{\partial x_i} = 2(x_i - y_i),
# \qquad \frac{\partial \ell_i}{\partial y_i} = -2(x_i - y_i).$$
#
# With the reduction: $\bar x_i = 2 (x_i - y_i)\, \bar\ell_i$, where $\bar\ell$ is what
# `reduced_grad` returns; for `"mean"` over $n$ elements that is $\frac{2}{n}(x_i - y_i)\bar y$.
# The target may require gradients too (PyTorch allows it), so the formula returns both,
# or `None` for one that does not require grad.
#
# PyTorch's `mse_loss` broadcasts when the shapes differ, and warns with a `UserWarning`,
# because a prediction of shape `(N, 1)` against a target of shape `(N,)` becomes an
# `(N, N)` matrix of differences: almost always a bug. The public function does the same.
# The engine of Module 02 sums a gradient back to its input's shape (`unbroadcast`), so the
# formula need not care about broadcasting.
#
# The kernel is given: per-element losses, then your reduction.

# %%
#| export
@register_kernel("mse_loss")
def mse_loss_kernel(input: np.ndarray, target: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """``(input - target)**2`` elementwise (broadcast), then reduced."""
    diff = input - target
    return reduce_losses(diff * diff, reduction)


# %% [markdown]
# ### Your task: `mse_loss_backward`

# %% nbgrader={"grade": false, "grade_id": "impl-mse-loss-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("mse_loss")
def mse_loss_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None]:
    """d mse/d input = 2 (input - target) * lbar, d mse/d target = -2 (input - target) * lbar.

    ``lbar = reduced_grad(grad, diff.shape, node.attrs["reduction"])``, the gradient of each
    per-element loss; ``diff = input - target`` has the broadcast shape. Returns None in place
    of the gradient of an input that does not require grad.
    """
    ### BEGIN SOLUTION
    input, target = node.inputs
    diff = input.data - target.data
    scaled = 2 * diff * reduced_grad(grad, diff.shape, node.attrs["reduction"])
    return (scaled if input.requires_grad else None, -scaled if target.requires_grad else None)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-mse-loss-backward", "locked": true, "points": 2, "solution": false, "schema_version": 3}
x_val, y_val = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]]), np.array([[0.0, -1.0, 0.5], [1.0, 2.0, 1.0]])
diff = x_val - y_val
grad_x, grad_y = mse_loss_backward(np.array(1.0), loss_node("mse_loss", x_val, y_val, np.mean(diff**2), reduction="mean"))
assert grad_y is None, "mse_loss_backward: return None for a target that does not require grad"
assert np.allclose(grad_x, 2 * diff / 6), "mse_loss_backward (mean over 6 elements): expected 2 (x - y) / 6"
node = loss_node("mse_loss", x_val, y_val, np.sum(diff**2), target_grad=True, reduction="sum")
grad_x, grad_y = mse_loss_backward(np.array(0.5), node)
assert np.allclose(grad_x, 0.5 * 2 * diff) and np.allclose(grad_y, -0.5 * 2 * diff), (
    "mse_loss_backward (sum, output gradient 0.5): expected 0.5 * 2 (x - y) for x and its negative for y"
)
g_val = np.arange(6.0).reshape(2, 3)
(grad_x, _) = mse_loss_backward(g_val, loss_node("mse_loss", x_val, y_val, diff**2, reduction="none"))
assert np.allclose(grad_x, g_val * 2 * diff), "mse_loss_backward (none): each element's gradient is grad_i * 2 (x_i - y_i)"
column, row = np.array([[1.0], [-1.0]]), np.array([[0.5, 2.0, -1.0], [0.0, 1.0, 3.0]])
grad_x, _ = mse_loss_backward(np.array(1.0), loss_node("mse_loss", column, row, np.mean((column - row) ** 2), reduction="mean"))
summed = grad_x.reshape(2, -1).sum(axis=1, keepdims=True)  # what the engine sums back to the input's shape (2, 1)
assert np.allclose(summed, (2 * (column - row) / 6).sum(axis=1, keepdims=True)), (
    "mse_loss_backward: input (2, 1) against target (2, 3) gives 6 per-element losses: the mean divides by "
    "the size of the broadcast diff (6), not of the input (2)"
)

# Graded: the same formula on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-mse-loss-backward")
rows, cols = (int(n) for n in rng.integers(2, 6, size=2))
x_val, y_val = rng.standard_normal((rows, cols)), rng.standard_normal((rows, cols))
grad_x, grad_y = mse_loss_backward(np.array(1.0), loss_node("mse_loss", x_val, y_val, 0.0, reduction="mean"))
observe("mse_loss_backward (mean): grad_input", grad_x)
observe("mse_loss_backward (mean): grad_target is None", grad_y is None)
scale = rng.uniform(-2.0, 2.0)
grad_x, grad_y = mse_loss_backward(np.array(scale), loss_node("mse_loss", x_val, y_val, 0.0, target_grad=True, reduction="sum"))
observe("mse_loss_backward (sum, output gradient g): grad_input", grad_x)
observe("mse_loss_backward (sum, output gradient g): grad_target", grad_y)
grad_x, _ = mse_loss_backward(rng.standard_normal((rows, cols)), loss_node("mse_loss", x_val, y_val, 0.0, reduction="none"))
observe("mse_loss_backward (none): grad_input", grad_x)
grad_x, grad_y = mse_loss_backward(np.array(1.0), loss_node("mse_loss", x_val[:, :1], y_val, 0.0, target_grad=True, reduction="mean"))
observe("mse_loss_backward (mean, input (rows, 1) against target (rows, cols)): grad_input summed to (rows, 1)",
        grad_x.reshape(rows, -1).sum(axis=1, keepdims=True))
observe("mse_loss_backward (mean, input (rows, 1) against target (rows, cols)): grad_target", grad_y)


# %% [markdown]
# ## 3. Negative log-likelihood and cross-entropy
#
# A classifier outputs **logits** $z \in \mathbb{R}^C$ per sample; softmax makes them
# probabilities and the loss is the negative log-probability of the true class $t$:
#
# $$\ell = -\log \operatorname{softmax}(z)_t = -\Big(z_t - \log\sum_j e^{z_j}\Big).$$
#
# PyTorch splits this in two. `log_softmax` (Module 03, stable for logits of ±1000) gives
# log-probabilities $a = \log\operatorname{softmax}(z)$, and `nll_loss` **picks** one entry
# per sample, $\ell_i = -w_{t_i}\, a_{i, t_i}$, with optional class weights $w$ (default 1).
# `cross_entropy(z, t)` is `nll_loss(log_softmax(z, dim=1), t)`.
#
# **Picking** is integer-array indexing: `log_probs[np.arange(M), target]` takes from row `i`
# the column `target[i]`, for all rows at once, with no Python loop.
#
# ```
#   log_probs (M, C)            target (M,)     picked (M,)
#   [[-0.4 -1.9 -2.3]              [0,     ──►   [-0.4,
#    [-2.1 -0.3 -1.6]               2]            -1.6]
# ```
#
# **Ignored targets and weights.** A target equal to `ignore_index` (default -100, e.g. a
# padding position of a sentence) contributes nothing. The given `target_weights` turns the
# targets into two arrays: the weight $w_{t_i}$ of each sample's class (0 for an ignored one)
# and a *safe* copy of the targets where ignored entries are replaced by 0, a valid column, so
# indexing never fails. The mean divides by the sum of these weights: with no class weights
# and nothing ignored, that is the number of samples $M$; if everything is ignored it is 0 and
# the loss is `nan`, as in PyTorch.
#
# **Shapes**, as PyTorch: input `(N, C)` with target `(N,)`; input `(C,)` with a 0-d target;
# input `(N, C, d1, ...)` with target `(N, d1, ...)`, e.g. one class per pixel or per token
# position. The given `to_rows` brings every case to rows `(M, C)` and targets `(M,)` (moving
# the class axis last), and `from_rows` undoes it for the gradient. So you write the two-dimensional case only.

# %%
#| export
def to_rows(values: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (N, C, d1, ...) -> (M, C) and ``target`` (N, d1, ...) -> (M,), M = N * d1 * ...;
    (C,) with a 0-d target -> (1, C) and (1,). The (N, C) case is returned as it is (no copy)."""
    if values.ndim == 2:
        return values, target
    if values.ndim == 1:
        return values.reshape(1, -1), target.reshape(1)
    return np.moveaxis(values, 1, -1).reshape(-1, values.shape[1]), target.reshape(-1)


def from_rows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of ``to_rows`` for an array of rows (M, C): back to ``shape`` (the input's)."""
    if len(shape) == 2:
        return rows
    if len(shape) == 1:
        return rows.reshape(shape)
    moved = rows.reshape(shape[0], *shape[2:], shape[1])
    return np.moveaxis(moved, -1, 1)


def target_weights(target: np.ndarray, weight: np.ndarray | None, ignore_index: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(safe_target, weights)`` for targets (M,): each sample's class weight (1 without
    ``weight``, 0 where the target is ``ignore_index``), and the targets with the ignored
    ones replaced by class 0 so that they can index."""
    ignored = target == ignore_index
    if weight is None:
        weights = np.ones(target.shape, dtype=dtype)
    else:
        weights = weight[np.where(ignored, 0, target)].astype(dtype, copy=False)
    if ignored.any():
        weights = np.where(ignored, 0, weights).astype(dtype, copy=False)
        target = np.where(ignored, 0, target)
    return target, weights


# %% [markdown]
# ### Your task: `nll_rows`

# %% nbgrader={"grade": false, "grade_id": "impl-nll-rows", "locked": false, "solution": true, "schema_version": 3}
#| export
def nll_rows(log_probs: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-sample losses ``-weights[i] * log_probs[i, target[i]]``, shape (M,).

    ``log_probs`` (M, C) float, ``target`` (M,) int (every entry a valid column), ``weights``
    (M,) float. Keeps the dtype of ``log_probs``. No Python loop.
    Hint: integer-array indexing with two index arrays of shape (M,), the row numbers and
    ``target``, picks one entry per row. If you are stuck: ``log_probs[np.arange(M), target]``.
    """
    ### BEGIN SOLUTION
    return -weights * log_probs[np.arange(len(target)), target]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-nll-rows", "locked": true, "points": 2, "solution": false, "schema_version": 3}
log_probs_val = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]], dtype=np.float32))
target_val = np.array([0, 2, 2])
out = nll_rows(log_probs_val, target_val, np.ones(3, dtype=np.float32))
assert out.shape == (3,), f"nll_rows: one loss per row, shape (3,), got {out.shape}"
assert np.allclose(out, [-np.log(0.7), -np.log(0.3), -np.log(0.5)], atol=1e-6), f"nll_rows: expected -log p of each row's target, got {out}"
assert out.dtype == np.float32, f"nll_rows should keep float32, got {out.dtype}"
out = nll_rows(log_probs_val, target_val, np.array([2.0, 0.0, 0.5], dtype=np.float32))
assert np.allclose(out, [-2 * np.log(0.7), 0.0, -0.5 * np.log(0.5)], atol=1e-6), "nll_rows: each loss is multiplied by its weight"

# Graded: the same picks on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-nll-rows")
samples, classes = (int(n) for n in rng.integers(3, 8, size=2))
log_probs_val = np.log(rng.dirichlet(np.ones(classes), size=samples)).astype(np.float32)
target_val = rng.integers(0, classes, size=samples)
observe("nll_rows(log_probs, target, ones), float32", nll_rows(log_probs_val, target_val, np.ones(samples, dtype=np.float32)))
weights_val = rng.uniform(0.0, 3.0, size=samples).astype(np.float32)
observe("nll_rows(log_probs, target, weights), float32", nll_rows(log_probs_val, target_val, weights_val))
observe("nll_rows(log_probs, target, weights), float64",
        nll_rows(log_probs_val.astype(np.float64), target_val, weights_val.astype(np.float64)))


# %% [markdown]
# The kernel is given: rows, weights, your picked losses, your reduction with the sum of the
# weights as the total.

# %%
#| export
@register_kernel("nll_loss")
def nll_loss_kernel(
    log_probs: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None, ignore_index: int = -100,
    reduction: str = "mean",
) -> np.ndarray:
    """The negative log-likelihood of ``target`` (class indices) under ``log_probs``, reduced."""
    rows, row_target = to_rows(log_probs, target)
    safe_target, weights = target_weights(row_target, weight, ignore_index, log_probs.dtype)
    losses = nll_rows(rows, safe_target, weights)
    if reduction == "none":
        return losses.reshape(target.shape)
    total = weights.sum()
    if reduction == "mean" and total == 0:
        return np.array(np.nan, dtype=log_probs.dtype)  # every target ignored: 0/0, as in PyTorch
    return reduce_losses(losses, reduction, total)


# %% [markdown]
# ### The backward pass: put it back where it was picked
#
# Only the picked entries depend on `log_probs`: $\partial \ell_i / \partial a_{i,c} = -w_{t_i}$
# if $c = t_i$, else 0. So the gradient is an array of zeros of the shape `(M, C)` with
# $-w_{t_i}\,\bar\ell_i$ written at `[i, t_i]`, a **scatter**, the mirror image of the pick:
#
# $$\bar a_{i,c} = -\,w_{t_i}\,\bar\ell_i\,[c = t_i], \qquad \bar\ell = \texttt{reduced\_grad}(\bar y, (M,), \text{reduction}, \textstyle\sum_i w_{t_i}).$$
#
# For a plain mean that is $-1/M$ at each target position. Module 03's `log_softmax_backward`
# then turns it into $(\operatorname{softmax}(z) - \text{onehot}(t))/M$, the closed form a
# person writes by hand: the two formulas together are the classic cross-entropy gradient.
# Each row has exactly one target, so assignment is enough (no `np.add.at`). The target is
# a class index: it gets no gradient (`None`).
#
# In the formula, recover what the kernel had: `rows, row_target = to_rows(log_probs, target)`,
# `safe, weights = target_weights(row_target, node.attrs["weight"], node.attrs["ignore_index"], rows.dtype)`,
# and at the end `from_rows(grad_rows, log_probs.shape)`. For `"none"`, `grad` has the
# target's shape: flatten it with `.reshape(-1)` first.
#
# ### Your task: `nll_loss_backward`

# %% nbgrader={"grade": false, "grade_id": "impl-nll-loss-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("nll_loss")
def nll_loss_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray, None]:
    """d nll/d log_probs: zeros, with ``-weights[i] * lbar[i]`` at ``[i, target[i]]``; no target gradient.

    ``lbar = reduced_grad(grad.reshape(-1), (M,), reduction, weights.sum())``; ``node.attrs``
    holds ``weight``, ``ignore_index`` and ``reduction``. Returns ``(grad_log_probs, None)``
    with ``grad_log_probs`` of ``log_probs``'s shape.
    Hint: ``to_rows``, ``target_weights``, ``np.zeros_like(rows)``, assign with
    ``[np.arange(M), safe]``, then ``from_rows``.
    """
    ### BEGIN SOLUTION
    log_probs, target = node.inputs
    rows, row_target = to_rows(log_probs.data, target.data)
    safe, weights = target_weights(row_target, node.attrs["weight"], node.attrs["ignore_index"], rows.dtype)
    lbar = reduced_grad(grad.reshape(-1), weights.shape, node.attrs["reduction"], weights.sum())
    grad_rows = np.zeros_like(rows)
    grad_rows[np.arange(len(safe)), safe] = -weights * lbar
    return from_rows(grad_rows, log_probs.shape), None
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-nll-loss-backward", "locked": true, "points": 3, "solution": false, "schema_version": 3}
rng = np.random.default_rng(0)
log_probs_val = np.log(rng.dirichlet(np.ones(4), size=3))  # 3 samples, 4 classes
target_val = np.array([1, 3, 1])
attrs = {"weight": None, "ignore_index": -100}
picked = -log_probs_val[[0, 1, 2], target_val]
grad_lp, grad_t = nll_loss_backward(np.array(1.0), loss_node("nll_loss", log_probs_val, target_val, picked.mean(), reduction="mean", **attrs))
expected = np.zeros((3, 4))
expected[[0, 1, 2], target_val] = -1 / 3
assert grad_t is None, "nll_loss_backward: class indices get no gradient (return None)"
assert np.allclose(grad_lp, expected), f"nll_loss_backward (mean of 3): -1/3 at each target position, 0 elsewhere; got {grad_lp}"
weight_val = np.array([1.0, 2.0, 3.0, 4.0])
node = loss_node("nll_loss", log_probs_val, np.array([1, -100, 2]), 0.0, reduction="mean", weight=weight_val, ignore_index=-100)
grad_lp, _ = nll_loss_backward(np.array(1.0), node)
expected = np.zeros((3, 4))
expected[0, 1], expected[2, 2] = -2.0 / 5.0, -3.0 / 5.0  # weights 2 and 3 counted, the ignored sample not
assert np.allclose(grad_lp, expected), "nll_loss_backward: weighted mean divides by the sum of the counted weights (2 + 3); ignored rows get 0"
g_val = np.array([0.5, -1.0, 2.0])
grad_lp, _ = nll_loss_backward(g_val, loss_node("nll_loss", log_probs_val, target_val, picked, reduction="none", **attrs))
expected = np.zeros((3, 4))
expected[[0, 1, 2], target_val] = -g_val
assert np.allclose(grad_lp, expected), "nll_loss_backward (none): -grad[i] at [i, target[i]]"
node = loss_node("nll_loss", log_probs_val, np.array([1, 3, 1]), 0.0, reduction="mean", weight=None, ignore_index=3)
grad_lp, _ = nll_loss_backward(np.array(1.0), node)
expected = np.zeros((3, 4))
expected[[0, 2], [1, 1]] = -1 / 2
assert np.allclose(grad_lp, expected), (
    "nll_loss_backward: targets equal to node.attrs['ignore_index'] (here 3) get 0 and are not counted in the mean"
)
lp4 = np.log(rng.dirichlet(np.ones(3), size=(2, 2, 2))).transpose(0, 3, 1, 2)  # (N=2, C=3, d1=2, d2=2)
t4 = np.array([[[0, 2], [1, 1]], [[2, 0], [0, 1]]])
grad_lp, _ = nll_loss_backward(np.array(1.0), loss_node("nll_loss", lp4, t4, 0.0, reduction="sum", **attrs))
expected = -(np.arange(3)[None, :, None, None] == t4[:, None]).astype(float)
assert grad_lp.shape == lp4.shape and np.allclose(grad_lp, expected), (
    "nll_loss_backward: an input (N, C, d1, d2) gets -1 at [n, target[n, i, j], i, j] (sum), in the input's shape: "
    "bring it to rows with to_rows and back with from_rows"
)

# Graded: the same formula on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-nll-loss-backward")
samples, classes = (int(n) for n in rng.integers(3, 8, size=2))
log_probs_val = np.log(rng.dirichlet(np.ones(classes), size=samples))
target_val = rng.integers(0, classes, size=samples)
weight_val = rng.uniform(0.5, 3.0, size=classes)
grad_lp, grad_t = nll_loss_backward(np.array(1.0), loss_node("nll_loss", log_probs_val, target_val, 0.0, reduction="mean", **attrs))
observe("nll_loss_backward (mean): grad_log_probs", grad_lp)
observe("nll_loss_backward (mean): grad_target is None", grad_t is None)
ignored_target = np.where(rng.random(samples) < 0.3, -100, target_val)
node = loss_node("nll_loss", log_probs_val, ignored_target, 0.0, reduction="mean", weight=weight_val, ignore_index=-100)
observe("nll_loss_backward (mean, class weights, some targets -100)", nll_loss_backward(np.array(1.0), node)[0])
node = loss_node("nll_loss", log_probs_val, target_val, 0.0, reduction="mean", weight=None, ignore_index=int(rng.integers(0, classes)))
observe("nll_loss_backward (mean, ignore_index a class)", nll_loss_backward(np.array(1.0), node)[0])
node = loss_node("nll_loss", log_probs_val, target_val, 0.0, reduction="sum", weight=weight_val, ignore_index=-100)
observe("nll_loss_backward (sum, class weights, output gradient g)", nll_loss_backward(np.array(rng.uniform(-2, 2)), node)[0])
grad_lp, _ = nll_loss_backward(rng.standard_normal(samples), loss_node("nll_loss", log_probs_val, target_val, 0.0, reduction="none", **attrs))
observe("nll_loss_backward (none)", grad_lp)
n, d1, d2 = (int(k) for k in rng.integers(1, 4, size=3))
lp4 = np.log(rng.dirichlet(np.ones(classes), size=(n, d1, d2))).transpose(0, 3, 1, 2)
t4 = rng.integers(0, classes, size=(n, d1, d2))
grad_lp, _ = nll_loss_backward(rng.standard_normal((n, d1, d2)), loss_node("nll_loss", lp4, t4, 0.0, reduction="none", **attrs))
observe("nll_loss_backward (none), input (N, C, d1, d2)", grad_lp)
node = loss_node("nll_loss", lp4, t4, 0.0, reduction="mean", weight=weight_val, ignore_index=-100)
observe("nll_loss_backward (mean, class weights), input (N, C, d1, d2)", nll_loss_backward(np.array(1.0), node)[0])
node = loss_node("nll_loss", log_probs_val[0], target_val[0], 0.0, reduction="mean", **attrs)
observe("nll_loss_backward (mean), input (C,) and a 0-d target", nll_loss_backward(np.array(1.0), node)[0])


# %% [markdown]
# ### Label smoothing and probability targets
#
# Two more forms of PyTorch's `cross_entropy`, given, built from Tensor ops over the same
# log-probabilities (their gradients come from Module 02's formulas):
#
# - **Probability targets**: a float target of the input's shape holds a distribution over
#   the classes per sample (soft labels, a teacher's predictions in distillation):
#   $\ell_i = -\sum_c w_c\, p_{i,c}\, a_{i,c}$; the mean divides by the number of samples.
# - **Label smoothing** $\varepsilon$: the target becomes $(1-\varepsilon)\,\text{onehot}(t) +
#   \varepsilon / C$ (Szegedy et al., 2016), which keeps a model from becoming
#   over-confident. For class-index targets PyTorch computes
#   $(1-\varepsilon)\,\text{nll} + \frac{\varepsilon}{C}\,\text{smooth}$ with
#   $\text{smooth}_i = -\sum_c w_c\, a_{i,c}$ (0 for ignored samples), reduced with the same
#   total as the NLL part.
#
# The public functions check their arguments before any computation, with errors that say
# what to fix:
#
# - a class index out of range is an `IndexError` naming the value and the number of classes
#   (one `min` and one `max` over the targets decide that all are fine; only then is the
#   offending value searched for);
# - float targets where class indices are expected (shape `(N,)` for an `(N, C)` input) are a
#   `DtypeError` (a `TypeError`): pass int64 class indices, `Tensor(labels, dtype=np.int64)`.
#   (A tinytorch tensor made from a list of ints is float32 by default.) Integer targets
#   may be int32 or int64;
# - a target of the wrong shape is a `ShapeError` naming both shapes;
# - a `reduction` other than `"none"`, `"mean"`, `"sum"` is a `ValueError` listing them.
#
# `weight` is a Tensor of shape `(C,)` and stays the first optional positional argument, as in
# PyTorch; PyTorch's deprecated `size_average` and `reduce` are left out, so every other
# option is keyword-only. Weights are constants: no gradient flows into them.

# %%
#| export
def _require_tensor(name: str, what: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(value).__name__}")
    return value


def _class_weight(name: str, weight: Tensor | None, classes: int, dtype: np.dtype) -> np.ndarray | None:
    """``weight`` as an array of shape (classes,) in ``dtype``, or None."""
    if weight is None:
        return None
    values = _require_tensor(name, "weight", weight).data
    if values.shape != (classes,):
        raise ShapeError(f"{name}: weight must have shape ({classes},), one value per class, got {values.shape}")
    return values.astype(dtype, copy=False)


def check_class_targets(name: str, input: Tensor, target: Tensor, ignore_index: int, probabilities_too: bool = False) -> None:
    """Class-index targets for ``input`` (C,), (N, C) or (N, C, d1, ...): the shape without the
    class axis, an integer dtype, every value in [0, C) or equal to ``ignore_index``.
    ``probabilities_too``: the ShapeError also mentions float probabilities of the input's shape."""
    if input.ndim == 0:
        raise ShapeError(f"{name}: input must have a class dimension, shape (C,), (N, C) or (N, C, d1, ...); got a 0-d tensor")
    expected = input.shape[:1] + input.shape[2:] if input.ndim >= 2 else ()
    if target.shape != expected:
        alternative = f" (or float class probabilities of shape {input.shape})" if probabilities_too else ""
        raise ShapeError(
            f"{name}: input of shape {input.shape} needs class indices of shape {expected}{alternative}, "
            f"got a target of shape {target.shape}"
        )
    if target.dtype.kind != "i":
        raise DtypeError(
            f"{name}: target has dtype {target.dtype}, but class indices are expected here; pass int64 "
            f"class indices, e.g. Tensor(labels, dtype=np.int64)"
        )
    classes = input.shape[1] if input.ndim >= 2 else input.shape[0]
    values = target.data
    if values.size and (values.min() < 0 or values.max() >= classes):  # the common case costs two reductions
        bad = values[(values != ignore_index) & ((values < 0) | (values >= classes))]
        if bad.size:
            raise IndexError(
                f"{name}: target {int(bad[0])} is out of bounds for {classes} classes; class indices must be "
                f"in [0, {classes - 1}] (or equal ignore_index={ignore_index})"
            )


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(input - target)**2``, reduced (``"mean"``, ``"sum"`` or ``"none"``).

    Shapes that differ are broadcast with a ``UserWarning``, as PyTorch does.
    """
    check_reduction("mse_loss", reduction)
    _require_tensor("mse_loss", "input", input)
    _require_tensor("mse_loss", "target", target)
    if input.shape != target.shape:
        warnings.warn(
            f"mse_loss: target size {target.shape} is different from input size {input.shape}; they are "
            "broadcast, which is likely to give wrong results; make them the same shape",
            UserWarning, stacklevel=2,
        )
    return dispatch("mse_loss", input, target, reduction=reduction)


def nll_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, ignore_index: int = -100, reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices ``target`` under log-probabilities ``input``.

    ``input`` (N, C), (C,) or (N, C, d1, ...) log-probabilities; ``target`` int64 of shape (N,),
    () or (N, d1, ...). ``weight`` (C,) scales each class; targets equal to ``ignore_index``
    count for nothing. ``"mean"`` divides by the sum of the weights of the counted targets (nan
    if none counts). The other options are keyword-only (PyTorch's deprecated ``size_average``
    and ``reduce`` are left out). Errors: IndexError for a class out of range, DtypeError for
    float targets, ShapeError for a wrong target shape, ValueError for an unknown reduction.
    """
    check_reduction("nll_loss", reduction)
    _require_tensor("nll_loss", "input", input)
    check_class_targets("nll_loss", input, _require_tensor("nll_loss", "target", target), ignore_index)
    classes = input.shape[1] if input.ndim >= 2 else input.shape[0]
    weights = _class_weight("nll_loss", weight, classes, input.dtype)
    return dispatch("nll_loss", input, target, weight=weights, ignore_index=ignore_index, reduction=reduction)


def _class_axis_weight(weights: np.ndarray, ndim: int) -> Tensor:
    """Class weights (C,) shaped to broadcast along the class axis of an input with ``ndim`` axes."""
    return Tensor._wrap(weights.reshape((-1,) + (1,) * (ndim - 2)) if ndim >= 2 else weights)


def cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, ignore_index: int = -100,
    reduction: str = "mean", label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between logits ``input`` and ``target``: ``nll_loss(log_softmax(input, 1), target)``.

    ``input`` (N, C), (C,) or (N, C, d1, ...) logits. ``target`` is either int64 class
    indices of shape (N,), () or (N, d1, ...), or float class probabilities of the input's
    shape. ``weight`` (C,) scales each class; ``ignore_index`` (class indices only) marks
    targets that count for nothing; ``label_smoothing`` in [0, 1] mixes the target with the
    uniform distribution. ``"mean"`` divides by the sum of the weights of the counted targets
    for class indices, by the number of samples for probabilities. Options after ``weight`` are
    keyword-only (PyTorch's deprecated ``size_average`` and ``reduce`` are left out). Stable for
    logits of +-1000. Errors: IndexError for a class out of range, DtypeError for float targets
    of the class-index shape, ShapeError for a wrong target shape, ValueError for an unknown
    reduction or a label_smoothing outside [0, 1].
    """
    check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    _require_tensor("cross_entropy", "input", input)
    _require_tensor("cross_entropy", "target", target)
    class_dim = 1 if input.ndim >= 2 else 0
    probabilities = target.dtype.kind == "f" and target.shape == input.shape and input.ndim > 0
    if not probabilities:
        check_class_targets("cross_entropy", input, target, ignore_index, probabilities_too=True)
    classes = input.shape[class_dim]
    weights = _class_weight("cross_entropy", weight, classes, input.dtype)
    log_probs = log_softmax(input, dim=class_dim)
    if probabilities:
        if ignore_index != -100:
            raise ValueError("cross_entropy: ignore_index applies to class-index targets, not to probability targets")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        weighted = log_probs * target
        if weights is not None:
            weighted = weighted * _class_axis_weight(weights, input.ndim)
        return reduce_losses(-weighted.sum(axis=class_dim), reduction)
    loss = dispatch("nll_loss", log_probs, target, weight=weights, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0:
        return loss
    # PyTorch's label smoothing for class indices: -sum_c w_c log p_c per counted sample,
    # reduced with the same total as the NLL part.
    _, row_weights = target_weights(target.data.reshape(-1), weights, ignore_index, input.dtype)
    counted = Tensor._wrap((target.data != ignore_index).astype(input.dtype))
    class_sum = log_probs if weights is None else log_probs * _class_axis_weight(weights, input.ndim)
    smooth = -class_sum.sum(axis=class_dim) * counted
    return loss * (1 - label_smoothing) + reduce_losses(smooth, reduction, row_weights.sum()) * (label_smoothing / classes)


# %% [markdown]
# Your kernel and formula through the public functions: cross-entropy checked against the
# closed form and against finite differences (Module 02's `gradcheck`), the gradient
# $(\operatorname{softmax} - \text{onehot})/N$, logits of ±1000, and every error promised above.

# %%
from tinytorch.autograd import gradcheck

logits_val = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0], [1000.0, -1000.0, 0.0]])
labels = Tensor([0, 1, 1], dtype=np.int64)
logits = Tensor(logits_val, requires_grad=True)
loss = cross_entropy(logits, labels)
loss.backward()
shifted = logits_val - logits_val.max(axis=1, keepdims=True)
softmax_val = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
closed_form = -(shifted[[0, 1, 2], [0, 1, 1]] - np.log(np.exp(shifted).sum(axis=1))).mean()
print(f"cross_entropy = {loss.item():.4f}, closed form {closed_form:.4f}; graph nodes: {loss.grad_fn.op} <- {loss.grad_fn.inputs[0].grad_fn.op}")
print("gradient equals (softmax - onehot) / 3:", np.allclose(logits.grad.numpy(), (softmax_val - np.eye(3)[[0, 1, 1]]) / 3, atol=1e-6))
small = Tensor(np.random.default_rng(1).standard_normal((4, 5)), requires_grad=True)
small_labels = Tensor([0, 4, 2, -100], dtype=np.int64)
gradcheck(lambda z: cross_entropy(z, small_labels, Tensor([1.0, 2.0, 0.5, 1.0, 3.0]), label_smoothing=0.1), [small])
print("gradcheck passed: cross_entropy with weights, an ignored target and label smoothing")
print("class 3 of 3:", expect_error(IndexError, lambda: cross_entropy(logits, Tensor([0, 3, 1], dtype=np.int64)), "3", "3 classes"))
print("float labels:", expect_error(DtypeError, lambda: cross_entropy(logits, Tensor([0.0, 1.0, 1.0])), "int64"))
print("wrong shape:", expect_error(ShapeError, lambda: cross_entropy(logits, Tensor([0, 1], dtype=np.int64)), "(3, 3)", "(2,)"))
print("reduction:", expect_error(ValueError, lambda: cross_entropy(logits, labels, reduction="avg"), "'none', 'mean' or 'sum'"))


# %% [markdown]
# ## 4. Binary cross-entropy from logits
#
# For a yes/no target $y \in [0, 1]$ and a logit $x$ (the model's score before the sigmoid),
# with $\sigma(x) = 1/(1 + e^{-x})$:
#
# $$\ell = -w\big[\,p\, y \log\sigma(x) + (1 - y)\log(1 - \sigma(x))\,\big],$$
#
# where $w$ (`weight`) scales elements and $p$ (`pos_weight`, broadcast along the last axis,
# one value per class in a multi-label problem) scales the positive term, to balance rare
# positives. Computed as written, $\sigma(-1000) = 0$ and $\log 0 = -\infty$. The stable form
# uses the **softplus** $\operatorname{sp}(u) = \log(1 + e^{u})$, since
# $\log\sigma(x) = -\operatorname{sp}(-x)$ and $\log(1 - \sigma(x)) = -\operatorname{sp}(x) = -x - \operatorname{sp}(-x)$:
#
# $$\ell = w\big[(1 - y)\,x + (1 + (p - 1)\,y)\,\operatorname{sp}(-x)\big],
# \qquad \operatorname{sp}(-x) = \max(-x, 0) + \log\big(1 + e^{-|x|}\big).$$
#
# The last form never exponentiates a positive number, and `np.log1p(u)` computes
# $\log(1 + u)$ accurately for tiny $u$. Without `pos_weight`, $p = 1$.
#
# ### Your task: `bce_with_logits_losses`

# %% nbgrader={"grade": false, "grade_id": "impl-bce-with-logits-losses", "locked": false, "solution": true, "schema_version": 3}
#| export
def bce_with_logits_losses(
    input: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None, pos_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Per-element ``w * ((1 - y) x + (1 + (p - 1) y) sp(-x))``, shape and dtype of ``input``.

    ``input`` logits x and ``target`` y of the same shape; ``weight`` w (broadcast against x)
    and ``pos_weight`` p (broadcast along the last axis) may be None (meaning 1). Finite for
    logits of +-1000, with no overflow warning.
    Hint: write ``sp(-x)`` in the stable form above, from ``|x|``, so that ``exp`` never sees a
    positive number; ``np.log1p(u)`` is ``log(1 + u)``. If you are stuck:
    ``sp(-x) = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))``.
    """
    ### BEGIN SOLUTION
    softplus_neg = np.maximum(-input, 0) + np.log1p(np.exp(-np.abs(input)))
    positive = 1 if pos_weight is None else 1 + (pos_weight - 1) * target
    losses = (1 - target) * input + positive * softplus_neg
    return losses if weight is None else losses * weight
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-bce-with-logits-losses", "locked": true, "points": 3, "solution": false, "schema_version": 3}
x_val = np.array([[-2.0, 0.0, 1.5], [3.0, -0.5, 0.25]], dtype=np.float32)
y_val = np.array([[0.0, 1.0, 1.0], [0.0, 0.3, 1.0]], dtype=np.float32)
x64, y64 = x_val.astype(np.float64), y_val.astype(np.float64)
s64 = 1 / (1 + np.exp(-x64))
textbook = -(y64 * np.log(s64) + (1 - y64) * np.log(1 - s64))
out = bce_with_logits_losses(x_val, y_val)
assert out.shape == (2, 3) and out.dtype == np.float32, f"bce_with_logits_losses: keep shape (2, 3) and float32, got {out.shape} {out.dtype}"
assert np.allclose(out, textbook, atol=1e-6), f"bce_with_logits_losses: expected -[y log s + (1-y) log(1-s)], got {out}"
pw, w = np.array([2.0, 0.5, 3.0]), np.array([[1.0], [0.5]])
weighted = -w * (pw * y64 * np.log(s64) + (1 - y64) * np.log(1 - s64))
assert np.allclose(bce_with_logits_losses(x64, y64, weight=w, pos_weight=pw), weighted, atol=1e-6), (
    "bce_with_logits_losses: weight scales every element, pos_weight only the positive (y) term"
)
with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
    warnings.simplefilter("always")
    extreme = bce_with_logits_losses(np.array([1000.0, -1000.0, 1000.0], dtype=np.float32), np.array([1.0, 1.0, 0.0], dtype=np.float32))
assert not caught, (
    f"bce_with_logits_losses(+-1000) warned '{caught[0].message if caught else ''}': never exponentiate a positive "
    "number, use the softplus form sp(-x) = max(-x, 0) + log1p(exp(-|x|))"
)
assert np.allclose(extreme, [0.0, 1000.0, 1000.0]), f"bce_with_logits_losses(+-1000) should be (0, 1000, 1000), got {extreme} (use the softplus form)"

# Graded: the same losses on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-bce-with-logits-losses")
rows, cols = (int(n) for n in rng.integers(2, 6, size=2))
x_val = (3 * rng.standard_normal((rows, cols))).astype(np.float32)
y_val = rng.random((rows, cols)).astype(np.float32)
observe("bce_with_logits_losses(x, y), float32", bce_with_logits_losses(x_val, y_val), rtol=1e-4, atol=1e-5)
w = rng.uniform(0.0, 2.0, size=(rows, 1)).astype(np.float32)
pw = rng.uniform(0.2, 4.0, size=cols).astype(np.float32)
observe("bce_with_logits_losses(x, y, weight (rows, 1), pos_weight (cols,)), float32",
        bce_with_logits_losses(x_val, y_val, weight=w, pos_weight=pw), rtol=1e-4, atol=1e-5)
observe("bce_with_logits_losses(x, y, pos_weight (cols,)), float64",
        bce_with_logits_losses(x_val.astype(np.float64), y_val.astype(np.float64), pos_weight=pw.astype(np.float64)))
extreme_x = (rng.choice([-1.0, 1.0], size=6) * rng.uniform(100.0, 1000.0, size=6)).astype(np.float32)
extreme_y = rng.integers(0, 2, size=6).astype(np.float32)
with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
    warnings.simplefilter("always")
    extreme = bce_with_logits_losses(extreme_x, extreme_y)
observe("bce_with_logits_losses(logits of size 100 to 1000, targets 0 or 1)", extreme, rtol=1e-4, atol=1e-5)
observe("bce_with_logits_losses(logits of size 100 to 1000) warned", len(caught) > 0)


# %%
#| export
@register_kernel("binary_cross_entropy_with_logits")
def bce_with_logits_kernel(
    input: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None, pos_weight: np.ndarray | None = None,
    reduction: str = "mean",
) -> np.ndarray:
    """Binary cross-entropy of logits ``input`` against ``target``, reduced (the mean is over all elements)."""
    return reduce_losses(bce_with_logits_losses(input, target, weight, pos_weight), reduction)


# %% [markdown]
# ### The backward pass
#
# Differentiate the stable form, with $\frac{d}{dx}\operatorname{sp}(-x) = -\sigma(-x)$:
#
# $$\frac{\partial \ell}{\partial x} = w\big[(1 - y) - (1 + (p - 1)y)\,\sigma(-x)\big],
# \qquad \frac{\partial \ell}{\partial y} = w\big[-x + (p - 1)\operatorname{sp}(-x)\big].$$
#
# Without weights ($w = p = 1$) the first is $1 - y - \sigma(-x) = \sigma(x) - y$: the
# prediction minus the target, as for cross-entropy. Multiply each by the per-element
# gradient $\bar\ell$ from `reduced_grad` (the mean is over all elements). Module 03's
# stable `sigmoid_kernel` gives $\sigma(-x)$; the target gets a gradient only if it requires
# one (soft targets that come from another model may).
#
# ### Your task: `bce_with_logits_backward`

# %% nbgrader={"grade": false, "grade_id": "impl-bce-with-logits-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("binary_cross_entropy_with_logits")
def bce_with_logits_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None]:
    """d/dx = w ((1 - y) - (1 + (p - 1) y) sigmoid(-x)), d/dy = w (-x + (p - 1) sp(-x)), times lbar.

    ``node.attrs`` holds ``weight``, ``pos_weight`` (None means 1) and ``reduction``;
    ``lbar = reduced_grad(grad, x.shape, reduction)``. None in place of the gradient of an
    input that does not require grad. Finite for logits of +-1000, with no overflow warning.
    Hint: ``sigmoid_kernel(-x)`` is stable; ``sp(-x)`` as in the forward pass.
    """
    ### BEGIN SOLUTION
    input, target = node.inputs
    x, y = input.data, target.data
    weight, pos_weight = node.attrs["weight"], node.attrs["pos_weight"]
    lbar = reduced_grad(grad, x.shape, node.attrs["reduction"])
    if weight is not None:
        lbar = lbar * weight
    grad_x = grad_y = None
    if input.requires_grad:
        positive = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
        grad_x = ((1 - y) - positive * sigmoid_kernel(-x)) * lbar
    if target.requires_grad:
        grad_y = -x * lbar
        if pos_weight is not None:
            softplus_neg = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
            grad_y = grad_y + (pos_weight - 1) * softplus_neg * lbar
    return grad_x, grad_y
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-bce-with-logits-backward", "locked": true, "points": 3, "solution": false, "schema_version": 3}
x_val = np.array([[-2.0, 0.0, 1.5], [3.0, -0.5, 0.25]])
y_val = np.array([[0.0, 1.0, 1.0], [0.0, 0.3, 1.0]])
s_val = 1 / (1 + np.exp(-x_val))
attrs = {"weight": None, "pos_weight": None}
grad_x, grad_y = bce_with_logits_backward(np.array(1.0), loss_node("binary_cross_entropy_with_logits", x_val, y_val, 0.0, reduction="mean", **attrs))
assert grad_y is None, "bce_with_logits_backward: return None for a target that does not require grad"
assert np.allclose(grad_x, (s_val - y_val) / 6), "bce_with_logits_backward (mean of 6, no weights): expected (sigmoid(x) - y) / 6"
pw, w = np.array([2.0, 0.5, 3.0]), np.array([[1.0], [0.5]])
node = loss_node("binary_cross_entropy_with_logits", x_val, y_val, 0.0, target_grad=True, reduction="sum", weight=w, pos_weight=pw)
grad_x, grad_y = bce_with_logits_backward(np.array(2.0), node)
sp_neg = np.log1p(np.exp(-x_val))
assert np.allclose(grad_x, 2 * w * ((1 - y_val) - (1 + (pw - 1) * y_val) * (1 - s_val))), (
    "bce_with_logits_backward (weight, pos_weight): d/dx = w ((1 - y) - (1 + (p - 1) y) sigmoid(-x)) times the output gradient"
)
assert np.allclose(grad_y, 2 * w * (-x_val + (pw - 1) * sp_neg)), "bce_with_logits_backward: d/dy = w (-x + (p - 1) sp(-x))"
with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
    warnings.simplefilter("always")
    grad_x, _ = bce_with_logits_backward(np.ones(2), loss_node("binary_cross_entropy_with_logits", np.array([1000.0, -1000.0]),
                                                               np.array([0.0, 1.0]), np.zeros(2), reduction="none", **attrs))
assert not caught, (
    f"bce_with_logits_backward at +-1000 warned '{caught[0].message if caught else ''}': use the stable sigmoid_kernel(-x), "
    "never exp of a positive number"
)
assert np.allclose(grad_x, [1.0, -1.0]), f"bce_with_logits_backward at +-1000 should be (1, -1), got {grad_x}"

# Graded: the same formula on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-bce-with-logits-backward")
rows, cols = (int(n) for n in rng.integers(2, 6, size=2))
x_val, y_val = 3 * rng.standard_normal((rows, cols)), rng.random((rows, cols))
grad_x, grad_y = bce_with_logits_backward(np.array(1.0), loss_node("binary_cross_entropy_with_logits", x_val, y_val, 0.0, reduction="mean", **attrs))
observe("bce_with_logits_backward (mean): grad_input", grad_x)
observe("bce_with_logits_backward (mean): grad_target is None", grad_y is None)
w, pw = rng.uniform(0.0, 2.0, size=(rows, 1)), rng.uniform(0.2, 4.0, size=cols)
node = loss_node("binary_cross_entropy_with_logits", x_val, y_val, 0.0, target_grad=True, reduction="sum", weight=w, pos_weight=pw)
grad_x, grad_y = bce_with_logits_backward(np.array(rng.uniform(-2.0, 2.0)), node)
observe("bce_with_logits_backward (sum, weight, pos_weight, output gradient g): grad_input", grad_x)
observe("bce_with_logits_backward (sum, weight, pos_weight, output gradient g): grad_target", grad_y)
node = loss_node("binary_cross_entropy_with_logits", x_val, y_val, 0.0, target_grad=True, reduction="mean", weight=w, pos_weight=None)
grad_x, grad_y = bce_with_logits_backward(np.array(1.0), node)
observe("bce_with_logits_backward (mean, weight): grad_input", grad_x)
observe("bce_with_logits_backward (mean, weight): grad_target", grad_y)
extreme_x = rng.choice([-1.0, 1.0], size=6) * rng.uniform(100.0, 1000.0, size=6)
node = loss_node("binary_cross_entropy_with_logits", extreme_x, rng.random(6), np.zeros(6), target_grad=True, reduction="none",
                 weight=None, pos_weight=rng.uniform(0.2, 4.0, size=6))
with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
    warnings.simplefilter("always")
    grad_x, grad_y = bce_with_logits_backward(rng.standard_normal(6), node)
observe("bce_with_logits_backward (none, logits of size 100 to 1000, pos_weight): grad_input", grad_x)
observe("bce_with_logits_backward (none, logits of size 100 to 1000, pos_weight): grad_target", grad_y)
observe("bce_with_logits_backward (logits of size 100 to 1000) warned", len(caught) > 0)


# %% [markdown]
# The public function checks that the target has the input's shape (a `ShapeError` naming
# both, where PyTorch raises a `ValueError`, of which `ShapeError` is a subclass), that it is
# floating point, and that `weight` and `pos_weight` broadcast.

# %%
#| export
def _broadcast_weight(name: str, what: str, value: Tensor | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    """``value`` as an array that broadcasts to ``shape`` without enlarging it, or None."""
    if value is None:
        return None
    values = _require_tensor(name, what, value).data.astype(dtype, copy=False)
    try:
        fits = np.broadcast_shapes(values.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"{name}: {what} of shape {values.shape} does not broadcast to the input's shape {shape}")
    return values


def binary_cross_entropy_with_logits(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy between logits ``input`` and targets in [0, 1] of the same shape.

    ``weight`` scales each element (broadcast to the input's shape); ``pos_weight`` scales the
    positive term, one value per class along the last axis. Stable for logits of +-1000. The
    options after ``weight`` are keyword-only (PyTorch's deprecated ``size_average`` and
    ``reduce`` are left out). Errors: ShapeError if the target's shape differs from the
    input's, DtypeError for an integer target, ValueError for an unknown reduction.
    """
    name = "binary_cross_entropy_with_logits"
    check_reduction(name, reduction)
    _require_tensor(name, "input", input)
    _require_tensor(name, "target", target)
    if target.shape != input.shape:
        raise ShapeError(f"{name}: target size {target.shape} must be the same as input size {input.shape}")
    if target.dtype.kind != "f":
        raise DtypeError(f"{name}: target has dtype {target.dtype}; pass float targets in [0, 1], e.g. Tensor(labels, dtype=np.float32)")
    weights = _broadcast_weight(name, "weight", weight, input.shape, input.dtype)
    pos_weights = _broadcast_weight(name, "pos_weight", pos_weight, input.shape, input.dtype)
    return dispatch("binary_cross_entropy_with_logits", input, target, weight=weights, pos_weight=pos_weights, reduction=reduction)


# %% [markdown]
# ## 5. The loss modules
#
# `torch.nn`'s loss classes are `Module`s that store their options and call the functions
# above in `forward(input, target)`. Class weights are registered as **buffers**, so they move
# with `state_dict()` as PyTorch's do.

# %%
#| export
class _Loss(Module):
    """A loss module: ``reduction`` checked at construction, ``forward(input, target)``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def _set_weight(self, name: str, weight: Tensor | None) -> None:
        if weight is None:
            setattr(self, name, None)
        else:
            self.register_buffer(name, _require_tensor(type(self).__name__, name, weight))


class MSELoss(_Loss):
    """Mean squared error: ``MSELoss(reduction="mean")(input, target)``."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return mse_loss(input, target, reduction=self.reduction)


class NLLLoss(_Loss):
    """Negative log-likelihood of class indices under log-probabilities (see ``nll_loss``).

    ``NLLLoss(weight=None, *, ignore_index=-100, reduction="mean")``: keyword-only after
    ``weight`` (PyTorch's deprecated ``size_average`` and ``reduce`` are left out).
    """

    def __init__(self, weight: Tensor | None = None, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._set_weight("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits against class indices or probabilities (see ``cross_entropy``).

    ``CrossEntropyLoss(weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0)``:
    keyword-only after ``weight`` (PyTorch's deprecated ``size_average`` and ``reduce`` are left out).
    """

    def __init__(
        self, weight: Tensor | None = None, *, ignore_index: int = -100, reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
        self._set_weight("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy from logits (see ``binary_cross_entropy_with_logits``).

    ``BCEWithLogitsLoss(weight=None, *, reduction="mean", pos_weight=None)``: keyword-only
    after ``weight`` (PyTorch's deprecated ``size_average`` and ``reduce`` are left out).
    """

    def __init__(self, weight: Tensor | None = None, *, reduction: str = "mean", pos_weight: Tensor | None = None) -> None:
        super().__init__(reduction)
        self._set_weight("weight", weight)
        self._set_weight("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                pos_weight=self.pos_weight)


# %% [markdown]
# The loss modules at work: a regression, a weighted classification with an ignored target,
# a multi-label problem with `pos_weight`, and each loss's gradient checked against finite
# differences.

# %%
rng = np.random.default_rng(2)
prediction = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
print("MSELoss()               =", MSELoss()(prediction, Tensor(rng.standard_normal((4, 3)))))
criterion = CrossEntropyLoss(weight=Tensor([1.0, 2.0, 1.0]), ignore_index=0)
print(criterion, "with weights and ignore_index=0 =", criterion(prediction, Tensor([0, 2, 1, 1], dtype=np.int64)),
      "| buffers:", [name for name, _ in criterion.named_buffers()])
multi_label = BCEWithLogitsLoss(pos_weight=Tensor([3.0, 1.0, 1.0]))
print("BCEWithLogitsLoss(pos_weight) =", multi_label(prediction, Tensor((rng.random((4, 3)) > 0.7).astype(np.float32))))
checks = {
    "mse_loss (sum)": lambda x, y: mse_loss(x, y, reduction="sum"),
    "nll_loss (none)": lambda x, y: nll_loss(log_softmax(x, dim=1), Tensor([2, 0, 1, 1], dtype=np.int64), reduction="none"),
    "cross_entropy (probabilities)": lambda x, y: cross_entropy(x, softmax_probabilities),
    "bce_with_logits (pos_weight)": lambda x, y: binary_cross_entropy_with_logits(x, y, pos_weight=Tensor([3.0, 1.0, 0.5])),
}
softmax_probabilities = Tensor(rng.dirichlet(np.ones(3), size=4))
for check in checks.values():
    gradcheck(check, [Tensor(rng.standard_normal((4, 3)), requires_grad=True), Tensor(rng.random((4, 3)), requires_grad=True)])
print(f"gradcheck passed for {len(checks)} losses (input and target gradients): {', '.join(checks)}")

# %% [markdown]
# ## 6. Systems analysis
#
# ### What an untrained classifier scores
# A freshly initialized network gives logits near 0 for every class, so its softmax is
# about uniform, $1/C$ per class, and its cross-entropy about $-\log(1/C) = \ln C$. For the ten
# digits that is $\ln 10 \approx 2.30$. This is the first check of any training run: a first
# loss far from $\ln C$ means the initialization or the loss is wrong. Measured on the
# bundled 8×8 digits (all 1,797 images) with a PyTorch-initialized 64 → 128 → 10 MLP:

# %%
import gzip
import inspect
import math
import os
from pathlib import Path

from tinytorch.nn.layers import Linear, ReLU, Sequential
from tinytorch.tensor import manual_seed


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits (``$TINYTORCH_DATA_DIR`` or the repository's data/): pixels /16 float32, labels int64."""
    folder = os.environ.get("TINYTORCH_DATA_DIR") or Path(inspect.getfile(Tensor)).resolve().parent.parent / "data"
    with gzip.open(Path(folder) / "digits" / "digits.csv.gz", "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    return (table[:, :64] / 16.0).astype(np.float32), table[:, 64]


images, digit_labels = read_digits()
for seed in (0, 1, 2):
    manual_seed(seed)
    untrained = Sequential(Linear(64, 128), ReLU(), Linear(128, 10))
    first_loss = cross_entropy(untrained(Tensor(images)), Tensor(digit_labels, dtype=np.int64)).item()
    print(f"untrained MLP (seed {seed}) on {len(images)} digits: cross-entropy {first_loss:.3f}; ln 10 = {math.log(10):.3f}")

# %% [markdown]
# ### Naive against stable, at logits of 1000
# The textbook route, softmax then log, against `cross_entropy` and against
# `binary_cross_entropy_with_logits`, on logits where one class wins by 1000 and the target
# is a loser (true loss 1000) or the winner (true loss 0), and on binary logits of ±1000 and 0
# with target 1 (true losses 0, 1000 and $\ln 2$). NumPy's warnings are silenced to show the
# results.

# %%
extreme = np.array([[1000.0, 0.0, 0.0], [1000.0, 0.0, 0.0]], dtype=np.float32)
extreme_labels = np.array([1, 0])
with np.errstate(all="ignore"):
    naive_probabilities = np.exp(extreme) / np.exp(extreme).sum(axis=1, keepdims=True)
    naive_losses = -np.log(naive_probabilities[[0, 1], extreme_labels])
    bce_logits = np.array([1000.0, -1000.0, 0.0], dtype=np.float32)
    naive_bce = -np.log(1 / (1 + np.exp(-bce_logits)))  # target 1 for each logit
stable_losses = cross_entropy(Tensor(extreme), Tensor(extreme_labels, dtype=np.int64), reduction="none").numpy()
stable_bce = binary_cross_entropy_with_logits(Tensor(bce_logits), Tensor(np.ones(3, dtype=np.float32)), reduction="none").numpy()
print("cross-entropy of logits (1000, 0, 0), targets (loser, winner): naive", naive_losses, "| stable", stable_losses + 0.0)
print("BCE with target 1 for logits", bce_logits, ": naive", naive_bce, "| stable", stable_bce + 0.0)

# %% [markdown]
# ### Two nodes against a node per op
# The same cross-entropy composed from primitive Tensor ops (`max`, detached; `sub`, `exp`,
# `sum`, `log`, `sub`, indexing, `mean`, `neg`) records a node per op and runs a formula per
# node in the backward pass; the fused version records `log_softmax` and `nll_loss`. The cell
# prints both node counts. Forward
# plus backward, timed side by side (interleaved rounds, best of each) on a batch of 64
# samples and 10 classes:

# %%
import timeit

from tinytorch.autograd import topological_order


def composed_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy from Module 01 ops only."""
    shifted = logits - logits.max(axis=1, keepdims=True).detach()
    log_probs = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
    return -log_probs[np.arange(len(labels.data)), labels.data].mean()


def graph_nodes(root: Tensor) -> int:
    return sum(1 for t in topological_order(root) if t.grad_fn is not None)


rng = np.random.default_rng(3)
batch_logits = Tensor(rng.standard_normal((64, 10)) * 2, requires_grad=True)
batch_labels = Tensor(rng.integers(0, 10, 64), dtype=np.int64)
fused_loss, composed_loss = cross_entropy(batch_logits, batch_labels), composed_cross_entropy(batch_logits, batch_labels)
assert np.isclose(fused_loss.item(), composed_loss.item(), rtol=1e-6)
candidates = {"fused": lambda: cross_entropy(batch_logits, batch_labels).backward(),
              "composed": lambda: composed_cross_entropy(batch_logits, batch_labels).backward()}
best = {name: math.inf for name in candidates}
for _ in range(7):
    for name, step in candidates.items():
        best[name] = min(best[name], min(timeit.repeat(step, number=200, repeat=1)) / 200)
fused_time = best["fused"]
print(f"forward+backward, batch 64 x 10: fused {best['fused'] * 1e6:.1f} us ({graph_nodes(fused_loss)} nodes), "
      f"composed {best['composed'] * 1e6:.1f} us ({graph_nodes(composed_loss)} nodes): "
      f"composed/fused {best['composed'] / best['fused']:.2f}x")

# %% [markdown]
# ### One training step against hand-written NumPy
# The loss is paid on every step. One full step of the digits MLP (64 → 128 → 10, batch 64:
# forward through `Sequential`, `cross_entropy`, `backward`, and a plain SGD update written
# out, as Module 06 does it) against the same step hand-written in NumPy with the closed-form
# gradient $(\operatorname{softmax} - \text{onehot})/B$. Both start from the same weights and
# are checked to compute the same gradients before they are timed, in interleaved rounds. The
# cell also prints the loss's share of the tinytorch step: the rest is the layers of Module 04,
# the engine of Module 02 and the update.

# %%
manual_seed(0)
model = Sequential(Linear(64, 128), ReLU(), Linear(128, 10))
step_x, step_y = images[:64], digit_labels[:64]
x_tensor, y_tensor = Tensor(step_x), Tensor(step_y, dtype=np.int64)
onehot = np.eye(10, dtype=np.float32)[step_y]
w1, b1, w2, b2 = (p.numpy().copy() for p in model.parameters())
LR = np.float32(0.1)


def numpy_gradients() -> list[np.ndarray]:
    pre = step_x @ w1.T + b1
    hidden = np.maximum(pre, 0)
    logits = hidden @ w2.T + b2
    exps = np.exp(logits - logits.max(axis=1, keepdims=True))
    grad_logits = (exps / exps.sum(axis=1, keepdims=True) - onehot) / len(step_x)
    grad_hidden = (grad_logits @ w2) * (pre > 0)
    return [grad_hidden.T @ step_x, grad_hidden.sum(axis=0), grad_logits.T @ hidden, grad_logits.sum(axis=0)]


def numpy_step() -> None:
    for parameter, gradient in zip((w1, b1, w2, b2), numpy_gradients()):
        parameter -= LR * gradient


def tinytorch_step() -> None:
    model.zero_grad()
    cross_entropy(model(x_tensor), y_tensor).backward()
    for parameter in model.parameters():
        parameter.data -= LR * parameter.grad.data


model.zero_grad()
cross_entropy(model(x_tensor), y_tensor).backward()
assert all(np.allclose(p.grad.numpy(), g, atol=1e-6) for p, g in zip(model.parameters(), numpy_gradients()))
steps = {"numpy": numpy_step, "tinytorch": tinytorch_step}
best = {name: math.inf for name in steps}
for _ in range(7):
    for name, step in steps.items():
        best[name] = min(best[name], min(timeit.repeat(step, number=100, repeat=1)) / 100)
print(f"training step 64->128->10, batch 64: NumPy {best['numpy'] * 1e6:.1f} us, tinytorch {best['tinytorch'] * 1e6:.1f} us "
      f"({best['tinytorch'] / best['numpy']:.2f}x NumPy); the loss's forward+backward (timed above) is "
      f"{fused_time / best['tinytorch']:.0%} of the tinytorch step")

# %% [markdown]
# ## Summary
#
# You wrote the reduction every loss shares, the backward pass of the squared error, the
# pick and scatter of the negative log-likelihood, and binary cross-entropy in its stable
# softplus form with its gradient. With the given functions and classes, `tinytorch.nn`
# has PyTorch's `MSELoss`, `NLLLoss`, `CrossEntropyLoss` and `BCEWithLogitsLoss`, and
# `tinytorch.nn.functional` their functions. The measurements above print the first loss of
# an untrained classifier beside $\ln 10$, the naive formulas failing at logits of 1000
# where the stable ones do not, the time of the two-node cross-entropy against the composed
# one, and a whole training step against hand-written NumPy.
#
# **Reflection questions**
#
# 1. The untrained loss printed above is close to, but not exactly, $\ln 10$. What would a
#    first loss of 20 tell you about the initialization, and what would a first loss of
#    exactly 0 tell you about the labels?
# 2. `nll_loss_backward` allocates an array of zeros of the input's shape and writes one
#    value per row. For a language model with a 50,000-token vocabulary and 16 × 1024
#    positions, how many bytes is that array in float32, and how many of them are non-zero?
# 3. The naive cross-entropy was `inf` for the target that lost by 1000. What does a single
#    `inf` or `nan` loss do to every parameter after one SGD step?
# 4. Why does the mean with class weights divide by the sum of the weights and not by the
#    number of samples? What would a weight of 10 on a rare class do to the loss scale otherwise?
