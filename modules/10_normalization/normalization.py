# %% [markdown]
# # Module 10: Normalization
#
# Deep networks train badly when the numbers flowing through them drift: one layer's
# outputs grow, the next layer's inputs saturate, and the gradients shrink or explode on
# the way back. **Normalization layers** pull activations back to mean 0 and variance 1,
# then let the network rescale them with two learned vectors. **Dropout** does something
# different with the same goal, a network that trains well and generalizes: it zeroes a
# random part of the activations during training, so no unit can rely on one other unit.
#
# **What you will build**, as kernels (forward, on NumPy arrays) and backward formulas:
#
# - `layer_norm_kernel` and `layer_norm_backward`: layer normalization, one fused op with a
#   closed-form gradient, what every transformer block runs twice;
# - `batch_norm_kernel`, `update_running_stats` and `batch_norm_backward`: batch
#   normalization, with batch statistics in training and running statistics in evaluation;
# - `dropout_mask`: the random, rescaled mask of inverted dropout.
#
# You are given the public functions of `torch.nn.functional` (`layer_norm`, `batch_norm`,
# `dropout`) and the layers `LayerNorm`, `BatchNorm1d`, `BatchNorm2d` and `Dropout`, with
# PyTorch's names, arguments, defaults, buffers and `state_dict` keys.
#
# **How it plugs in.** Each function is one op of the dispatch layer, like Module 03's
# activations and Module 04's `linear`: a kernel registered with
# `@register_kernel("layer_norm")` and a formula registered with
# `@register_gradient("layer_norm")`. The layers are `Module` subclasses (Module 04): their
# running statistics are buffers, so `state_dict()` saves them, and `train()` / `eval()`
# switch what they compute.
#
# ```
#   x (B, T, D) ──layer_norm──► y (B, T, D)     one node; the kernel saves x̂ and 1/σ
#   loss.backward() ──► layer_norm_backward reads x̂ and 1/σ instead of recomputing them
# ```
#
# **Why a systems engineer cares.** Module 14's GPT runs a LayerNorm nine times per
# forward pass (two per block, one at the end), so its cost is paid everywhere. Written
# from Module 01 ops it is a chain of graph nodes, each keeping an array alive for the
# backward pass; fused, it is one node that keeps what its formula needs. At the end you
# measure both (time, nodes, bytes), and what each layer keeps for the backward pass.
#
# **Connections.** Module 09's convolutions are usually followed by `BatchNorm2d` (the
# classic block is convolution, BatchNorm, ReLU). Module 14's transformer blocks use
# `LayerNorm` and `Dropout`.

# %%
#| default_exp nn.normalization

# %%
#| export
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import tinytorch.tensor as tensor_module
from tinytorch.autograd import Node, register_gradient
from tinytorch.nn.layers import Module, Parameter
from tinytorch.tensor import DtypeError, ShapeError, Tensor, dispatch, register_kernel

# %% [markdown]
# ## 1. What normalization computes
#
# Both normalizations take a group of $m$ numbers $x_1, \dots, x_m$, compute their mean
# and (biased) variance, and standardize them:
#
# $$\mu = \frac{1}{m}\sum_i x_i, \qquad \sigma^2 = \frac{1}{m}\sum_i (x_i - \mu)^2, \qquad
# \hat x_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \varepsilon}}, \qquad y_i = \gamma\,\hat x_i + \beta .$$
#
# The small $\varepsilon$ (`eps`, $10^{-5}$ by default) keeps the division finite when all
# the numbers are equal. $\gamma$ (`weight`, initialized to ones) and $\beta$ (`bias`, zeros)
# are learned: the network can undo the normalization where that helps.
#
# The two differ in **which numbers form a group**:
#
# ```
#   LayerNorm(D), x (B, T, D):        each of the B·T rows is a group of its D features
#   LayerNorm((T, D)), x (B, T, D):   each of the B samples is a group of T·D numbers
#   BatchNorm1d(C), x (N, C):         each channel c is a group of the N samples' values
#   BatchNorm1d(C), x (N, C, L):      each channel: N·L values
#   BatchNorm2d(C), x (N, C, H, W):   each channel: N·H·W values (all pixels of all images)
# ```
#
# LayerNorm treats every sample on its own, so it computes the same in training and in
# evaluation, for any batch size, even 1: that is why transformers use it. BatchNorm's
# groups span the batch: in evaluation, when there may be one sample only, it uses
# **running** statistics collected during training instead (section 5).
#
# ## 2. Keeping what the backward pass needs
#
# A `Node` (Module 02) keeps the op's inputs, attributes and output. LayerNorm's backward
# needs $\hat x$ and $1/\sqrt{\sigma^2+\varepsilon}$, which the forward computed anyway;
# recomputing them would cost the backward pass another few passes over the input. PyTorch's
# autograd functions keep such arrays with `ctx.save_for_backward`. Here the same job is
# done by an attribute: the public function passes an empty dict as `saved=`, the kernel
# fills it, and since the node keeps the attributes, the backward formula reads
# `node.attrs["saved"]`. A kernel of these ops (yours, or one Module 16 swaps in) promises
# to fill it. When no gradient is needed (evaluation, `no_grad()`) no node is recorded and
# the dict is dropped with the call.
#
# The tests below check errors with Module 01's `expect_error`, and end by handing what
# your functions compute on inputs drawn for each graded run to `observe` (Module 01 tells
# how that grades your notebook).

# %% nbgrader={"grade": false, "grade_id": "given-expect-error-import", "locked": true, "solution": false, "schema_version": 3}
from tinytorch.tensor import error_name, expect_error, observe, unseen_rng


# %% [markdown]
# ## 3. LayerNorm, forward
#
# `normalized_shape` names the trailing dimensions that form a group: `(D,)` for the usual
# per-token normalization, `(T, D)` for a whole sample. Whatever its length, the groups are
# easiest to handle as the rows of a matrix: with $D = $ `math.prod(normalized_shape)`,
# `input.reshape(-1, D)` has one group per row, and every reduction is along `axis=1` with
# `keepdims=True`, so the `(R, 1)` results broadcast against the `(R, D)` rows.
#
# **Compute the variance in two passes**: first the mean, then the mean of the squared
# differences from it. The one-pass formula $\sigma^2 = \overline{x^2} - \mu^2$ subtracts two
# large, nearly equal numbers; for activations around 1000 with a spread of 0.1, float32
# keeps 7 digits of $\overline{x^2} \approx 10^6$ and nothing of the $10^{-2}$ that is the
# variance. The test checks such rows.
#
# The kernel returns $y = \hat x \gamma + \beta$ in the input's shape and dtype (weight and
# bias have `normalized_shape`, so they broadcast against the input directly), and fills
# `saved` with:
#
# - `saved["x_hat"]`: $\hat x$ as the `(R, D)` matrix of rows;
# - `saved["rstd"]`: $1/\sqrt{\sigma^2 + \varepsilon}$ per row, shape `(R, 1)`.
#
# `weight` and `bias` may each be None (no scaling, no shift).
#
# Every new array of the input's size costs an allocation and a pass over memory. Where a
# result replaces an intermediate you no longer need, an in-place operation saves one:
# the centered rows can become $\hat x$ with `x_hat *= rstd`.
#
# ### Your task: `layer_norm_kernel`

# %% nbgrader={"grade": false, "grade_id": "impl-layer-norm-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("layer_norm")
def layer_norm_kernel(
    input: np.ndarray, weight: np.ndarray | None = None, bias: np.ndarray | None = None, *,
    normalized_shape: tuple[int, ...], eps: float, saved: dict[str, np.ndarray],
) -> np.ndarray:
    """Normalize ``input`` over its trailing ``normalized_shape`` dims, then ``* weight + bias``.

    Returns an array of ``input``'s shape and dtype. Fills ``saved["x_hat"]`` (R, D) and
    ``saved["rstd"]`` (R, 1), where D = prod(normalized_shape) and R = input.size // D.
    ``weight``/``bias`` have shape ``normalized_shape`` or are None.
    Hint: view the input as R rows of D numbers; take each row's mean, then the mean of the
    squared centered values (both keeping the reduced axis, so (R, 1) broadcasts against
    (R, D)); rstd is one over the square root of var + eps.
    If you are stuck: ``rows = input.reshape(-1, D)`` and ``rows.mean(axis=1, keepdims=True)``.
    """
    ### BEGIN SOLUTION
    rows = input.reshape(-1, math.prod(normalized_shape))
    x_hat = rows - rows.mean(axis=1, keepdims=True)
    rstd = 1 / np.sqrt((x_hat * x_hat).mean(axis=1, keepdims=True) + eps)
    x_hat *= rstd  # in place: the centered rows become x_hat without a new array
    saved["x_hat"] = x_hat
    saved["rstd"] = rstd
    output = x_hat.reshape(input.shape)
    if weight is not None:
        output = output * weight
    if bias is not None:
        output = output + bias
    return output
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-layer-norm-kernel", "locked": true, "points": 3, "solution": false, "schema_version": 3}
rng = np.random.default_rng(0)
x_val = (rng.standard_normal((2, 3, 4)) * 2 + 1).astype(np.float32)
w_val = rng.standard_normal(4).astype(np.float32)
b_val = rng.standard_normal(4).astype(np.float32)
x64 = x_val.astype(np.float64)
expected_hat = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-5)
unbiased_hat = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, ddof=1, keepdims=True) + 1e-5)
saved = {}
out = layer_norm_kernel(x_val, w_val, b_val, normalized_shape=(4,), eps=1e-5, saved=saved)
assert out.shape == (2, 3, 4) and out.dtype == np.float32, f"layer_norm_kernel: expected a float32 (2, 3, 4) output, got {out.dtype} {out.shape}"
assert np.allclose(out, expected_hat * w_val + b_val, atol=1e-5), (
    "layer_norm_kernel: expected (x - mean) / sqrt(var + eps) * weight + bias, with the mean and the biased variance "
    "(divided by D) of each group of the last D=4 numbers"
    + ("; you divided the variance by D - 1" if np.allclose(out, unbiased_hat * w_val + b_val, atol=1e-5) else "")
)
assert set(saved) >= {"x_hat", "rstd"}, f"layer_norm_kernel: fill saved['x_hat'] and saved['rstd'], got keys {sorted(saved)}"
assert saved["x_hat"].shape == (6, 4) and np.allclose(saved["x_hat"], expected_hat.reshape(6, 4), atol=1e-5), (
    "layer_norm_kernel: saved['x_hat'] is x_hat as a (rows, D) matrix, here (6, 4)"
)
assert saved["rstd"].shape == (6, 1) and np.allclose(saved["rstd"], 1 / np.sqrt(x64.var(-1) + 1e-5).reshape(6, 1), rtol=1e-5), (
    "layer_norm_kernel: saved['rstd'] is 1 / sqrt(var + eps) per row, shape (rows, 1)"
)
whole = layer_norm_kernel(x_val, normalized_shape=(3, 4), eps=1e-5, saved={})
flat = x64.reshape(2, 12)
expected_whole = ((flat - flat.mean(1, keepdims=True)) / np.sqrt(flat.var(1, keepdims=True) + 1e-5)).reshape(2, 3, 4)
assert np.allclose(whole, expected_whole, atol=1e-5), (
    "layer_norm_kernel: normalized_shape=(3, 4) normalizes each sample's 12 numbers together, over the last two dims "
    "(weight=bias=None); a group is prod(normalized_shape) numbers, not just the last dim"
)
assert layer_norm_kernel(x64, normalized_shape=(4,), eps=1e-5, saved={}).dtype == np.float64, (
    "layer_norm_kernel: keep the input's dtype (float64 in, float64 out)"
)
constant = layer_norm_kernel(np.full((2, 4), 7.0, dtype=np.float32), None, b_val, normalized_shape=(4,), eps=1e-5, saved={})
assert np.allclose(constant, np.broadcast_to(b_val, (2, 4))), "layer_norm_kernel: equal values normalize to 0, so the output is the bias (weight=None)"
far = (1000 + 0.1 * rng.standard_normal((3, 16))).astype(np.float32)
far64 = far.astype(np.float64)
far_expected = (far64 - far64.mean(1, keepdims=True)) / np.sqrt(far64.var(1, keepdims=True) + 1e-5)
far_out = layer_norm_kernel(far, normalized_shape=(16,), eps=1e-5, saved={})
assert np.allclose(far_out, far_expected, atol=5e-3), (
    f"layer_norm_kernel: rows around 1000 with spread 0.1 are off by {np.abs(far_out - far_expected).max():.3g}; "
    "compute the variance from the centered values (two passes), not as mean(x*x) - mean*mean"
)

# Graded: the same calls on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-layer-norm-kernel")
b, t, d = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(3, 9))
x_unseen = (rng.standard_normal((b, t, d)) * 3 + rng.standard_normal()).astype(np.float32)
w_unseen, b_unseen = rng.standard_normal(d).astype(np.float32), rng.standard_normal(d).astype(np.float32)
saved = {}
observe("layer_norm_kernel(x, weight, bias), normalized_shape (D,), float32 (B, T, D)",
        layer_norm_kernel(x_unseen, w_unseen, b_unseen, normalized_shape=(d,), eps=1e-5, saved=saved), rtol=1e-4, atol=1e-4)
observe("layer_norm_kernel: saved['x_hat'] (R, D)", np.asarray(saved["x_hat"], dtype=np.float64), rtol=1e-4, atol=1e-4)
observe("layer_norm_kernel: saved['rstd'] (R, 1)", np.asarray(saved["rstd"], dtype=np.float64), rtol=1e-4, atol=1e-6)
observe("layer_norm_kernel(x), normalized_shape (T, D), float64",
        layer_norm_kernel(x_unseen.astype(np.float64), normalized_shape=(t, d), eps=1e-5, saved={}))
observe("layer_norm_kernel(x, None, bias), eps=0.1",
        layer_norm_kernel(x_unseen, None, b_unseen, normalized_shape=(d,), eps=0.1, saved={}), rtol=1e-4, atol=1e-4)
far = (1000 + 0.1 * rng.standard_normal((3, 16))).astype(np.float32)
observe("layer_norm_kernel of float32 rows around 1000 with spread 0.1",
        layer_norm_kernel(far, normalized_shape=(16,), eps=1e-5, saved={}), rtol=0, atol=1e-2)


# %% [markdown]
# ## 4. LayerNorm, backward
#
# Take one row, write $r = 1/\sqrt{\sigma^2+\varepsilon}$ and let $g = \bar y \odot \gamma$ be
# the gradient with respect to $\hat x$ (just $\bar y$ without a weight). Every $\hat x_j$
# depends on every $x_i$, through $\mu$ and through $\sigma$:
#
# $$\frac{\partial \mu}{\partial x_i} = \frac{1}{D}, \qquad
#   \frac{\partial r}{\partial x_i} = -\frac{r^2\,\hat x_i}{D}, \qquad
#   \frac{\partial \hat x_j}{\partial x_i} = r\Big(\delta_{ij} - \frac{1}{D} - \frac{\hat x_i \hat x_j}{D}\Big).$$
#
# Multiplying by $g$ and summing over $j$ never needs the $D \times D$ matrix:
#
# $$\bar x_i = r\,\Big(g_i - \operatorname{mean}(g) - \hat x_i\, \operatorname{mean}(g \odot \hat x)\Big),$$
#
# with both means taken along the row. The parameters were applied to every row, so their
# gradients add up the rows:
#
# $$\bar\gamma = \sum_{\text{rows}} \bar y \odot \hat x, \qquad \bar\beta = \sum_{\text{rows}} \bar y ,$$
#
# each reshaped to `normalized_shape`. The node's inputs are `(input,)`, `(input, weight)`
# or `(input, weight, bias)`; return one gradient per input, in that order, and `None` for
# an input that does not require grad. $\hat x$ and $r$ come from `node.attrs["saved"]`, in
# the `(R, D)` and `(R, 1)` layout your kernel saved; flatten `grad` the same way and
# reshape $\bar x$ back to the input's shape.
#
# The test hands the formula a node built by `layer_norm_node` (read-only, below), which
# computes the output and the saved arrays with NumPy in float64, so your kernel is not
# involved, and compares with `group_jacobian_product`, which builds each row's whole
# $D \times D$ Jacobian from the formula above: slow, but plainly the maths.

# %% nbgrader={"grade": false, "grade_id": "given-layer-norm-node", "locked": true, "solution": false, "schema_version": 3}
def layer_norm_node(x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None, normalized_shape: tuple[int, ...],
                    eps: float = 1e-5, requires_grad: tuple[bool, ...] | None = None) -> Node:
    """The Node recording ``layer_norm(x, weight, bias)``, computed here in float64 NumPy.

    Inputs: x, then weight and bias when given (float64 tensors, all requiring grad unless
    ``requires_grad`` has one flag per input); attrs with ``saved`` = {x_hat (R, D), rstd (R, 1)}.
    """
    arrays = [a for a in (x, weight, bias) if a is not None]
    flags = requires_grad or (True,) * len(arrays)
    inputs = tuple(Tensor(a, dtype=np.float64, requires_grad=flag) for a, flag in zip(arrays, flags))
    rows = np.asarray(x, dtype=np.float64).reshape(-1, math.prod(normalized_shape))
    rstd = 1 / np.sqrt(rows.var(axis=1, keepdims=True) + eps)
    x_hat = (rows - rows.mean(axis=1, keepdims=True)) * rstd
    out = x_hat.reshape(np.shape(x)) * (1.0 if weight is None else weight) + (0.0 if bias is None else bias)
    attrs = {"normalized_shape": normalized_shape, "eps": eps, "saved": {"x_hat": x_hat, "rstd": rstd}}
    return Node("layer_norm", inputs, attrs, out)


def group_jacobian_product(x_hat: np.ndarray, rstd: np.ndarray, g: np.ndarray) -> np.ndarray:
    """d/dx of normalizing each row (group) of m values, applied to ``g`` (the gradient w.r.t. x_hat).

    Builds each row's full m x m Jacobian r (I - 1/m - x_hat x_hat^T / m): slow, and plainly
    the maths of the prose. ``x_hat`` and ``g`` are (groups, m), ``rstd`` has one value per group.
    """
    m = x_hat.shape[1]
    return np.stack([r * (np.eye(m) - 1 / m - np.outer(h, h) / m) @ gi for h, r, gi in zip(x_hat, rstd.reshape(-1), g)])


# %% [markdown]
# ### Your task: `layer_norm_backward`

# %% nbgrader={"grade": false, "grade_id": "impl-layer-norm-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("layer_norm")
def layer_norm_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, ...]:
    """Gradients of layer_norm for ``node.inputs`` ((input,), (input, weight) or (input, weight, bias)).

    grad_input = rstd * (g - mean(g) - x_hat * mean(g * x_hat)) per row, g = grad * weight
    (or grad); grad_weight = sum over rows of grad * x_hat; grad_bias = sum over rows of
    grad; each of its input's shape, None where the input does not require grad.
    Hint: ``x_hat, rstd = saved["x_hat"], saved["rstd"]``; ``grad.reshape(x_hat.shape)``
    gives rows; the weight (normalized_shape) flattens to ``weight.data.reshape(-1)``.
    """
    ### BEGIN SOLUTION
    saved = node.attrs["saved"]
    x_hat, rstd = saved["x_hat"], saved["rstd"]
    grad_rows = grad.reshape(x_hat.shape)
    input = node.inputs[0]
    weight = node.inputs[1] if len(node.inputs) > 1 else None
    g = grad_rows * weight.data.reshape(-1) if weight is not None else grad_rows
    grads: list[np.ndarray | None] = [None]
    if input.requires_grad:
        grad_input = g - g.mean(axis=1, keepdims=True)
        grad_input -= x_hat * (g * x_hat).mean(axis=1, keepdims=True)
        grad_input *= rstd  # in place: fewer temporary arrays than one long expression
        grads[0] = grad_input.reshape(input.shape)
    if weight is not None:
        grads.append((grad_rows * x_hat).sum(axis=0).reshape(weight.shape) if weight.requires_grad else None)
    if len(node.inputs) > 2:
        bias = node.inputs[2]
        grads.append(grad_rows.sum(axis=0).reshape(bias.shape) if bias.requires_grad else None)
    return tuple(grads)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-layer-norm-backward", "locked": true, "points": 3, "solution": false, "schema_version": 3}
rng = np.random.default_rng(1)
x_val, g_val = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
w_val, b_val = rng.standard_normal(5), rng.standard_normal(5)
node = layer_norm_node(x_val, w_val, b_val, (5,))
grads = layer_norm_backward(g_val, node)
assert len(grads) == 3, f"layer_norm_backward: a node with input, weight and bias needs 3 gradients, got {len(grads)}"
grad_x, grad_w, grad_b = grads
x_hat_val, rstd_val = node.attrs["saved"]["x_hat"], node.attrs["saved"]["rstd"]
expected = group_jacobian_product(x_hat_val, rstd_val, g_val * w_val)
assert grad_x.shape == (3, 5) and np.allclose(grad_x, expected), "layer_norm_backward: grad_input should be rstd * (g - mean(g) - x_hat * mean(g * x_hat)) with g = grad * weight"
assert grad_w.shape == (5,) and np.allclose(grad_w, (g_val * x_hat_val).sum(axis=0)), "layer_norm_backward: grad_weight is grad * x_hat summed over the rows"
assert grad_b.shape == (5,) and np.allclose(grad_b, g_val.sum(axis=0)), "layer_norm_backward: grad_bias is grad summed over the rows"
(only_x,) = layer_norm_backward(g_val, layer_norm_node(x_val, None, None, (5,)))
assert np.allclose(only_x, group_jacobian_product(x_hat_val, rstd_val, g_val)), "layer_norm_backward: without a weight, g is grad itself (one input, one gradient)"
grads = layer_norm_backward(g_val, layer_norm_node(x_val, w_val, b_val, (5,), requires_grad=(False, True, False)))
assert grads[0] is None and grads[2] is None and grads[1] is not None, "layer_norm_backward: an input that does not require grad gets None"
x3, g3, w3 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4))
node3 = layer_norm_node(x3, w3, None, (3, 4))
grad_x3, grad_w3 = layer_norm_backward(g3, node3)
hat3, rstd3 = node3.attrs["saved"]["x_hat"], node3.attrs["saved"]["rstd"]
assert grad_x3.shape == (2, 3, 4) and np.allclose(grad_x3, group_jacobian_product(hat3, rstd3, (g3 * w3).reshape(2, 12)).reshape(2, 3, 4)), (
    "layer_norm_backward: with normalized_shape=(3, 4) each sample's 12 values are one row; the weight (3, 4) flattens to 12"
)
assert grad_w3.shape == (3, 4) and np.allclose(grad_w3, (g3 * hat3.reshape(2, 3, 4)).sum(axis=0)), (
    "layer_norm_backward: grad_weight has the weight's shape (3, 4)"
)

# Graded: the same calls on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-layer-norm-backward")
r, d = int(rng.integers(2, 5)), int(rng.integers(3, 7))
x_unseen, g_unseen, w_unseen, b_unseen = (rng.standard_normal(shape) for shape in ((r, d), (r, d), d, d))
grad_x, grad_w, grad_b = layer_norm_backward(g_unseen, layer_norm_node(x_unseen, w_unseen, b_unseen, (d,)))
observe("layer_norm_backward, normalized_shape (D,): grad_input", grad_x)
observe("layer_norm_backward, normalized_shape (D,): grad_weight", grad_w)
observe("layer_norm_backward, normalized_shape (D,): grad_bias", grad_b)
(only_x,) = layer_norm_backward(g_unseen, layer_norm_node(x_unseen, None, None, (d,)))
observe("layer_norm_backward without weight or bias: grad_input", only_x)
grads = layer_norm_backward(g_unseen, layer_norm_node(x_unseen, w_unseen, b_unseen, (d,), requires_grad=(False, True, False)))
observe("layer_norm_backward, only the weight requires grad: which gradients are None", [grad is None for grad in grads])
observe("layer_norm_backward, only the weight requires grad: grad_weight", grads[1])
x3, g3, w3 = rng.standard_normal((2, r, d)), rng.standard_normal((2, r, d)), rng.standard_normal((r, d))
grad_x3, grad_w3 = layer_norm_backward(g3, layer_norm_node(x3, w3, None, (r, d)))
observe("layer_norm_backward, normalized_shape (T, D), weight only: grad_input", grad_x3)
observe("layer_norm_backward, normalized_shape (T, D), weight only: grad_weight", grad_w3)


# %% [markdown]
# ### The function and the layer
#
# `layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5)` (given) checks its
# arguments and dispatches the op: the trailing dims of `input` must equal
# `normalized_shape` (an int means a 1-tuple), and so must the shapes of `weight` and
# `bias`; otherwise a `ShapeError` names both. A bias without a weight is passed with a
# constant weight of ones, so the op's inputs are always `(input,)`, `(input, weight)` or
# `(input, weight, bias)`.
#
# `LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)` holds `weight`
# (ones) and `bias` (zeros) of `normalized_shape` as parameters, none with
# `elementwise_affine=False`, no bias with `bias=False`; it prints as PyTorch's does.

# %%
#| export
def _as_shape(name: str, shape: int | Sequence[int]) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple of ints (an int means a 1-tuple); TypeError otherwise."""
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    if isinstance(shape, Sequence) and all(isinstance(d, (int, np.integer)) for d in shape):
        return tuple(int(d) for d in shape)
    raise TypeError(f"{name}: normalized_shape must be an int or a tuple of ints, got {shape!r}")


def _check_floating(name: str, input: Tensor) -> None:
    """DtypeError unless ``input`` holds floating-point numbers (a mean of integers is not an integer)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name} expects a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise DtypeError(f"{name} needs a floating-point input, got {input.dtype}; convert it with dtype=np.float32")


def _check_normalized_shape(owner: object, input: Tensor, normalized_shape: tuple[int, ...]) -> None:
    """ShapeError naming ``owner`` (a name, or a layer: its repr is built only on error) and both
    shapes unless ``input``'s trailing dims are ``normalized_shape``."""
    if input.ndim < len(normalized_shape) or input.shape[input.ndim - len(normalized_shape):] != normalized_shape:
        expected = ", ".join(["*", *map(str, normalized_shape)])
        raise ShapeError(
            f"{owner}: normalized_shape={normalized_shape} expects an input of shape ({expected}), "
            f"got {input.shape}"
        )


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalization over the trailing ``normalized_shape`` dims of ``input``, as one op."""
    normalized_shape = _as_shape("layer_norm", normalized_shape)
    _check_floating("layer_norm", input)
    _check_normalized_shape("layer_norm", input, normalized_shape)
    for label, parameter in (("weight", weight), ("bias", bias)):
        if parameter is not None and parameter.shape != normalized_shape:
            raise ShapeError(f"layer_norm: {label} has shape {parameter.shape}, but normalized_shape is {normalized_shape}")
    attrs = {"normalized_shape": normalized_shape, "eps": eps, "saved": {}}
    if weight is None and bias is not None:
        weight = Tensor(np.ones(normalized_shape, dtype=bias.dtype), dtype=bias.dtype)  # a constant: no gradient
    inputs = [t for t in (input, weight, bias) if t is not None]
    return dispatch("layer_norm", *inputs, **attrs)


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` dims, with a learned ``weight`` and ``bias``."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        self.normalized_shape = _as_shape("LayerNorm", normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=np.float32))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=np.float32)) if bias else None
        else:
            self.weight = None
            self.bias = None

    def forward(self, input: Tensor) -> Tensor:
        _check_normalized_shape(self, input, self.normalized_shape)  # the error names this layer
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


# %% [markdown]
# The layer at work on a batch of token vectors, its error, and every gradient checked
# against finite differences with Module 02's `gradcheck` (small float64 inputs), for
# normalized shapes of rank 1 and 2 and with and without the affine parameters:

# %%
from tinytorch.autograd import gradcheck
from tinytorch.tensor import manual_seed, randn

manual_seed(0)
norm = LayerNorm(8)
tokens = randn(2, 3, 8) * 5 + 3
normalized = norm(tokens)
print(norm, "->", normalized.shape, "| one graph node:", normalized.grad_fn)
print(f"per-token mean {np.abs(normalized.numpy().mean(-1)).max():.1e} (max |.|), "
      f"std {normalized.numpy().std(-1).min():.4f}..{normalized.numpy().std(-1).max():.4f}")
print("wrong width:", expect_error(ShapeError, lambda: norm(randn(2, 3, 7)), "(2, 3, 7)", "8"))

rng = np.random.default_rng(2)
checks = {
    "(D,) with weight and bias": ((3, 4), (4,), True, True),
    "(T, D) with weight and bias": ((2, 3, 4), (3, 4), True, True),
    "(D,) weight only": ((3, 4), (4,), True, False),
    "(D,) no affine": ((2, 5), (5,), False, False),
}
for name, (shape, normalized_shape, with_weight, with_bias) in checks.items():
    values = [Tensor(rng.standard_normal(shape), requires_grad=True)]
    if with_weight:
        values.append(Tensor(rng.standard_normal(normalized_shape), requires_grad=True))
    if with_bias:
        values.append(Tensor(rng.standard_normal(normalized_shape), requires_grad=True))
    gradcheck(lambda *t, ns=normalized_shape: layer_norm(t[0], ns, *t[1:]), values)
print(f"gradcheck passed for layer_norm: {'; '.join(checks)}")


# %% [markdown]
# ## 5. BatchNorm
#
# BatchNorm normalizes each **channel** (dim 1) over the batch and, for `(N, C, L)` and
# `(N, C, H, W)` inputs, over the positions too: the mean and variance are taken over every
# axis but 1, $m = N$, $N\cdot L$ or $N \cdot H \cdot W$ values per channel. The given
# `channel_axes(ndim)` returns those axes, `(0,)`, `(0, 2)` or `(0, 2, 3)`, and
# `channel_view(ndim)` the shape `(1, C, 1, ...)` that lines a `(C,)` vector up with the
# channel dim for broadcasting.
#
# **Training and evaluation.** In training the statistics are the batch's own (biased
# variance, as in the formula of section 1). A model in evaluation must not depend on
# which other samples share its batch, or on there being a batch at all, so there
# BatchNorm uses **running statistics**, averages of the batch statistics seen in
# training:
#
# $$\text{running} \leftarrow (1 - \text{momentum})\cdot\text{running} + \text{momentum}\cdot\text{batch}.$$
#
# (PyTorch's `momentum=0.1` is the weight of the **new** value, the opposite of the usual
# convention in optimizers.) They start at mean 0 and variance 1. The running variance
# estimates the variance of the whole data, so it averages the **unbiased** batch variance
# $\frac{m}{m-1}\sigma^2$, while normalizing uses the biased $\sigma^2$, as PyTorch does.
#

# %%
#| export
def channel_view(ndim: int) -> tuple[int, ...]:
    """The shape that lines a (C,) vector up with dim 1 of an ndim-d input: (1, C, 1, ...)."""
    return (1, -1) + (1,) * (ndim - 2)


def channel_axes(ndim: int) -> tuple[int, ...]:
    """The axes BatchNorm reduces over: every one but the channel dim 1, i.e. (0, 2, 3, ...)."""
    return (0,) + tuple(range(2, ndim))


# %% [markdown]
# ### Your task: `batch_norm_kernel`
# With `training=True`, normalize with the batch's mean and biased variance per channel;
# otherwise with `running_mean` and `running_var`. Fill `saved` with `"mean"` and `"var"`
# (the statistics used, each `(C,)`), `"rstd"` ($1/\sqrt{\text{var} + \varepsilon}$,
# `(C,)`) and `"x_hat"` (the input's shape). `weight` and `bias` are `(C,)` or None. The
# kernel does not touch the running statistics: `update_running_stats`, next, does.

# %% nbgrader={"grade": false, "grade_id": "impl-batch-norm-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("batch_norm")
def batch_norm_kernel(
    input: np.ndarray, weight: np.ndarray | None = None, bias: np.ndarray | None = None, *,
    running_mean: np.ndarray | None, running_var: np.ndarray | None, training: bool, eps: float,
    saved: dict[str, np.ndarray],
) -> np.ndarray:
    """Normalize each channel (dim 1) of ``input`` (N, C, ...), then ``* weight + bias`` per channel.

    Batch mean and biased variance over ``channel_axes(input.ndim)`` when ``training``, else
    ``running_mean``/``running_var``. Fills ``saved`` with mean, var, rstd (each (C,)) and
    x_hat (input's shape). Returns input's shape and dtype.
    Hint: ``input.mean(axis=axes)`` and ``input.var(axis=axes)`` (biased: NumPy divides by m
    by default) give (C,) vectors; reshape them with ``.reshape(channel_view(input.ndim))``
    before combining them with ``input``.
    """
    ### BEGIN SOLUTION
    axes, view = channel_axes(input.ndim), channel_view(input.ndim)
    if training:
        mean, var = input.mean(axis=axes), input.var(axis=axes)
    else:
        mean, var = running_mean, running_var
    rstd = 1 / np.sqrt(var + eps)
    x_hat = (input - mean.reshape(view)) * rstd.reshape(view)
    saved.update(mean=mean, var=var, rstd=rstd, x_hat=x_hat)
    output = x_hat
    if weight is not None:
        output = output * weight.reshape(view)
    if bias is not None:
        output = output + bias.reshape(view)
    return output
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-batch-norm-kernel", "locked": true, "points": 3, "solution": false, "schema_version": 3}
rng = np.random.default_rng(3)
w_val, b_val = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
x_val = (rng.standard_normal((8, 3)) * [1.0, 4.0, 0.5] + [2.0, -1.0, 0.0]).astype(np.float32)
saved = {}
out = batch_norm_kernel(x_val, w_val, b_val, running_mean=None, running_var=None, training=True, eps=1e-5, saved=saved)
x64 = x_val.astype(np.float64)
expected = (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 1e-5) * w_val + b_val
unbiased = (x64 - x64.mean(0)) / np.sqrt(x64.var(0, ddof=1) + 1e-5) * w_val + b_val
assert out.shape == (8, 3) and out.dtype == np.float32, f"batch_norm_kernel: expected a float32 (8, 3) output, got {out.dtype} {out.shape}"
assert np.allclose(out, expected, atol=1e-5), (
    "batch_norm_kernel(training=True): normalize each column (channel) over the batch with its mean and biased variance "
    "(divide by m, np.var's default), then * weight + bias"
    + ("; you divided by m - 1: the unbiased variance is for running_var only" if np.allclose(out, unbiased, atol=1e-5) else "")
)
assert set(saved) >= {"mean", "var", "rstd", "x_hat"}, f"batch_norm_kernel: fill saved with mean, var, rstd and x_hat, got {sorted(saved)}"
assert np.allclose(saved["var"], x64.var(0), rtol=1e-5), "batch_norm_kernel: saved['var'] is the biased batch variance per channel"
assert np.allclose(saved["rstd"], 1 / np.sqrt(x64.var(0) + 1e-5), rtol=1e-5) and saved["x_hat"].shape == (8, 3), (
    "batch_norm_kernel: saved['rstd'] is 1 / sqrt(var + eps) per channel, saved['x_hat'] has the input's shape"
)
images = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
out = batch_norm_kernel(images, running_mean=None, running_var=None, training=True, eps=1e-5, saved={})
i64 = images.astype(np.float64)
expected = (i64 - i64.mean((0, 2, 3), keepdims=True)) / np.sqrt(i64.var((0, 2, 3), keepdims=True) + 1e-5)
assert np.allclose(out, expected, atol=1e-5), "batch_norm_kernel: for (N, C, H, W) each channel's statistics cover N*H*W values (weight=bias=None)"
seq = rng.standard_normal((4, 3, 6)).astype(np.float32)
out = batch_norm_kernel(seq, w_val, b_val, running_mean=None, running_var=None, training=True, eps=1e-3, saved={})
s64 = seq.astype(np.float64)
expected = (s64 - s64.mean((0, 2), keepdims=True)) / np.sqrt(s64.var((0, 2), keepdims=True) + 1e-3) * w_val[:, None] + b_val[:, None]
assert np.allclose(out, expected, atol=1e-5), "batch_norm_kernel: for (N, C, L) each channel's statistics cover N*L values (here eps=1e-3)"
running_mean, running_var = np.array([1.0, 0.0, -2.0], np.float32), np.array([4.0, 1.0, 0.25], np.float32)
out = batch_norm_kernel(x_val, w_val, None, running_mean=running_mean, running_var=running_var, training=False, eps=1e-5, saved={})
assert np.allclose(out, (x64 - running_mean) / np.sqrt(running_var + 1e-5) * w_val, atol=1e-5), (
    "batch_norm_kernel(training=False): in evaluation normalize with running_mean and running_var, not the batch's statistics"
)
assert running_mean.tolist() == [1.0, 0.0, -2.0] and running_var.tolist() == [4.0, 1.0, 0.25], (
    "batch_norm_kernel must not change the running statistics (update_running_stats does)"
)

# Graded: the same calls on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-batch-norm-kernel")
c = int(rng.integers(2, 5))
w_unseen, b_unseen = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
shapes = {"(N, C)": (int(rng.integers(3, 9)), c), "(N, C, L)": (int(rng.integers(2, 5)), c, int(rng.integers(2, 6))),
          "(N, C, H, W)": (2, c, 3, int(rng.integers(2, 5)))}
for label, shape in shapes.items():
    x_unseen = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    saved = {}
    observe(f"batch_norm_kernel(training=True) of {label}, float32",
            batch_norm_kernel(x_unseen, w_unseen, b_unseen, running_mean=None, running_var=None, training=True, eps=1e-5,
                              saved=saved), rtol=1e-4, atol=1e-4)
    for key in ("mean", "var", "rstd"):
        observe(f"batch_norm_kernel: saved['{key}'] of {label}", np.asarray(saved[key], dtype=np.float64), rtol=1e-4, atol=1e-5)
running_mean, running_var = rng.standard_normal(c).astype(np.float32), (rng.random(c) + 0.5).astype(np.float32)
observe("batch_norm_kernel(training=False) of (N, C, H, W), weight only",
        batch_norm_kernel(x_unseen, w_unseen, None, running_mean=running_mean, running_var=running_var, training=False,
                          eps=1e-5, saved={}), rtol=1e-4, atol=1e-4)
observe("batch_norm_kernel(training=False): running_mean afterwards", running_mean)
observe("batch_norm_kernel(training=False): running_var afterwards", running_var)


# %% [markdown]
# ### Your task: `update_running_stats`
# Update the running statistics **in place** (`*=` and `+=`, or `array[...] = ...`): they
# are the arrays of the layer's buffers, which `state_dict()` reads and any other holder
# of the layer sees. `count` is the number of values per channel, $m$, always at least 2
# here (the public function refuses a training batch with one value per channel, as
# PyTorch does, since its variance is undefined).

# %% nbgrader={"grade": false, "grade_id": "impl-update-running-stats", "locked": false, "solution": true, "schema_version": 3}
#| export
def update_running_stats(running_mean: np.ndarray, running_var: np.ndarray, batch_mean: np.ndarray,
                         batch_var: np.ndarray, count: int, momentum: float) -> None:
    """In place: ``running = (1 - momentum) * running + momentum * batch`` for the mean, and for
    the variance with the unbiased batch variance ``batch_var * count / (count - 1)``.

    All arrays (C,); ``batch_var`` is biased (divided by ``count``). Returns None.
    Hint: two in-place steps per array: scale the running value by the share it keeps, then
    add the batch value's share (``momentum``), for the variance the unbiased one.
    If you are stuck: ``running_mean *= 1 - momentum``, then ``running_mean += momentum * batch_mean``.
    """
    ### BEGIN SOLUTION
    running_mean *= 1 - momentum
    running_mean += momentum * batch_mean
    running_var *= 1 - momentum
    running_var += momentum * batch_var * (count / (count - 1))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-update-running-stats", "locked": true, "points": 2, "solution": false, "schema_version": 3}
running_mean, running_var = np.zeros(2, np.float32), np.ones(2, np.float32)
result = update_running_stats(running_mean, running_var, np.array([2.0, -4.0]), np.array([3.0, 0.5]), count=4, momentum=0.1)
assert result is None, f"update_running_stats: update the arrays in place and return None, got {result!r}"
for name, array, start in (("running_mean", running_mean, [0.0, 0.0]), ("running_var", running_var, [1.0, 1.0])):
    assert not np.array_equal(array, start), (
        f"update_running_stats changed nothing in the {name} passed in: update it in place (*= and +=, or {name}[...] = ...); "
        "it is the layer's buffer, and a new array bound to the name is lost when the function returns"
    )
assert np.allclose(running_mean, [0.2, -0.4]), (
    "update_running_stats: momentum is the weight of the new batch value (PyTorch's convention, the opposite of "
    f"optimizers'): running = (1 - momentum) * running + momentum * batch = 0.9 * 0 + 0.1 * [2, -4] = [0.2, -0.4], got {running_mean}"
)
assert np.allclose(running_var, [0.9 + 0.1 * 3.0 * 4 / 3, 0.9 + 0.1 * 0.5 * 4 / 3]), (
    "update_running_stats: running_var averages the unbiased batch variance, batch_var * count / (count - 1), as PyTorch "
    f"does (normalizing uses the biased one): 0.9 * 1 + 0.1 * [3, 0.5] * 4 / 3 = [1.3, 0.9667], got {running_var}"
    + ("; you used the biased batch_var" if np.allclose(running_var, [1.2, 0.95]) else "")
)
assert running_mean.dtype == np.float32 and running_var.dtype == np.float32, "update_running_stats: the running arrays keep their dtype (float32)"
update_running_stats(running_mean, running_var, np.array([2.0, -4.0]), np.array([3.0, 0.5]), count=2, momentum=1.0)
assert np.allclose(running_mean, [2.0, -4.0]) and np.allclose(running_var, [6.0, 1.0]), (
    "update_running_stats: momentum=1 replaces the running values by the batch's (variance * 2 / (2 - 1) for count=2)"
)

# Graded: the same calls on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-update-running-stats")
c = int(rng.integers(2, 6))
running_mean, running_var = rng.standard_normal(c).astype(np.float32), (rng.random(c) + 0.5).astype(np.float32)
for step in range(2):
    count, momentum = int(rng.integers(2, 20)), float(rng.uniform(0.05, 0.5))
    result = update_running_stats(running_mean, running_var, rng.standard_normal(c), rng.random(c) + 0.1, count, momentum)
    observe(f"update_running_stats returns None, step {step}", result is None)
    observe(f"update_running_stats: the running_mean passed in, after step {step}", running_mean)
    observe(f"update_running_stats: the running_var passed in, after step {step}", running_var)


# %% [markdown]
# ### Your task: `batch_norm_backward`
#
# **Training.** The statistics come from the batch, so the gradient flows through them
# exactly as in LayerNorm, with the group now a channel's $m$ values instead of a row:
#
# $$\bar x = r_c\,\Big(g - \operatorname{mean}_c(g) - \hat x\, \operatorname{mean}_c(g \odot \hat x)\Big), \qquad g = \bar y \odot \gamma_c,$$
#
# where $\operatorname{mean}_c$ averages over `channel_axes` (with `keepdims=True`) and
# $r_c$, $\gamma_c$ are `(C,)` vectors reshaped with `channel_view`.
#
# **Evaluation.** The running statistics are constants, so BatchNorm is an affine map per
# channel and $\bar x = g \cdot r_c$.
#
# In both modes $\bar\gamma = \sum \bar y \odot \hat x$ and $\bar\beta = \sum \bar y$ over
# `channel_axes`, shape `(C,)`. Read $\hat x$ and $r$ from `node.attrs["saved"]`, never from
# the running arrays (the next training step may have changed them by the time the
# backward runs), and the mode from `node.attrs["training"]`. The inputs, and the `None`
# rule, are as in `layer_norm_backward`.
#
# The test builds its nodes with `batch_norm_node` (read-only), which computes the output
# and the saved arrays with NumPy in float64, as `layer_norm_node` did.

# %% nbgrader={"grade": false, "grade_id": "given-batch-norm-node", "locked": true, "solution": false, "schema_version": 3}
def batch_norm_node(x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None, training: bool,
                    running_mean: np.ndarray | None = None, running_var: np.ndarray | None = None,
                    eps: float = 1e-5, requires_grad: tuple[bool, ...] | None = None) -> Node:
    """The Node recording ``batch_norm(x, weight, bias)``, computed here in float64 NumPy.

    Statistics of the batch when ``training``, else the running ones. ``saved`` holds mean,
    var, rstd (each (C,)) and x_hat (x's shape).
    """
    arrays = [a for a in (x, weight, bias) if a is not None]
    flags = requires_grad or (True,) * len(arrays)
    inputs = tuple(Tensor(a, dtype=np.float64, requires_grad=flag) for a, flag in zip(arrays, flags))
    x = np.asarray(x, dtype=np.float64)
    view, axes = channel_view(x.ndim), channel_axes(x.ndim)
    mean, var = (x.mean(axis=axes), x.var(axis=axes)) if training else (running_mean, running_var)
    rstd = 1 / np.sqrt(var + eps)
    x_hat = (x - mean.reshape(view)) * rstd.reshape(view)
    out = x_hat * (1.0 if weight is None else weight.reshape(view)) + (0.0 if bias is None else bias.reshape(view))
    attrs = {"running_mean": running_mean, "running_var": running_var, "training": training, "eps": eps,
             "saved": {"mean": mean, "var": var, "rstd": rstd, "x_hat": x_hat}}
    return Node("batch_norm", inputs, attrs, out)


def by_channel(a: np.ndarray) -> np.ndarray:
    """(N, C, ...) -> (C, m): row c holds channel c's m values (the group BatchNorm normalizes)."""
    return np.moveaxis(a, 1, 0).reshape(a.shape[1], -1)


def from_channels(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of ``by_channel`` for an array of ``shape``."""
    return np.moveaxis(rows.reshape((shape[1], shape[0]) + tuple(shape[2:])), 0, 1)


# %% nbgrader={"grade": false, "grade_id": "impl-batch-norm-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("batch_norm")
def batch_norm_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, ...]:
    """Gradients of batch_norm for ``node.inputs`` ((input,), (input, weight) or (input, weight, bias)).

    Training: grad_input = rstd * (g - mean(g) - x_hat * mean(g * x_hat)) per channel;
    evaluation: grad_input = g * rstd; g = grad * weight (or grad). grad_weight = sum of
    grad * x_hat, grad_bias = sum of grad, over every axis but 1. None where not required.
    Hint: ``axes, view = channel_axes(grad.ndim), channel_view(grad.ndim)``.
    """
    ### BEGIN SOLUTION
    saved = node.attrs["saved"]
    x_hat, rstd = saved["x_hat"], saved["rstd"]
    axes, view = channel_axes(grad.ndim), channel_view(grad.ndim)
    weight = node.inputs[1] if len(node.inputs) > 1 else None
    g = grad * weight.data.reshape(view) if weight is not None else grad
    grads: list[np.ndarray | None] = [None]
    if node.inputs[0].requires_grad:
        if node.attrs["training"]:
            grad_input = g - g.mean(axis=axes, keepdims=True)
            grad_input -= x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
            grad_input *= rstd.reshape(view)
            grads[0] = grad_input
        else:
            grads[0] = g * rstd.reshape(view)
    if weight is not None:
        grads.append((grad * x_hat).sum(axis=axes) if weight.requires_grad else None)
    if len(node.inputs) > 2:
        grads.append(grad.sum(axis=axes) if node.inputs[2].requires_grad else None)
    return tuple(grads)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-batch-norm-backward", "locked": true, "points": 3, "solution": false, "schema_version": 3}
rng = np.random.default_rng(4)
x_val, g_val = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
w_val, b_val = rng.standard_normal(3), rng.standard_normal(3)
grads = batch_norm_backward(g_val, batch_norm_node(x_val, w_val, b_val, training=True))
assert len(grads) == 3, f"batch_norm_backward: a node with input, weight and bias needs 3 gradients, got {len(grads)}"
grad_x, grad_w, grad_b = grads
saved_val = batch_norm_node(x_val, w_val, b_val, training=True).attrs["saved"]
x_hat_val = saved_val["x_hat"]
expected = group_jacobian_product(by_channel(x_hat_val), saved_val["rstd"], by_channel(g_val * w_val))
assert grad_x.shape == (5, 3) and np.allclose(grad_x, from_channels(expected, (5, 3))), (
    "batch_norm_backward(training): grad_input flows through the batch mean and variance: "
    "rstd * (g - mean(g) - x_hat * mean(g * x_hat)) over the batch, g = grad * weight"
)
assert np.allclose(grad_w, (g_val * x_hat_val).sum(0)) and np.allclose(grad_b, g_val.sum(0)), (
    "batch_norm_backward: grad_weight = sum(grad * x_hat), grad_bias = sum(grad) over the batch"
)
running_mean, running_var = np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.5, 1.5])
eval_grads = batch_norm_backward(g_val, batch_norm_node(x_val, w_val, b_val, False, running_mean, running_var))
assert np.allclose(eval_grads[0], g_val * w_val / np.sqrt(running_var + 1e-5)), (
    "batch_norm_backward(training=False): in evaluation the running statistics are constants, so the map is affine: "
    "grad_input = grad * weight * rstd (read node.attrs['training'])"
)
images, g_images = rng.standard_normal((2, 2, 3, 2)), rng.standard_normal((2, 2, 3, 2))
images_node = batch_norm_node(images, None, None, training=True)
(grad_images,) = batch_norm_backward(g_images, images_node)
images_saved = images_node.attrs["saved"]
expected = group_jacobian_product(by_channel(images_saved["x_hat"]), images_saved["rstd"], by_channel(g_images))
assert np.allclose(grad_images, from_channels(expected, images.shape)), (
    "batch_norm_backward: for (N, C, H, W) the means run over axes (0, 2, 3) (no weight: g = grad)"
)
frozen = batch_norm_backward(g_val, batch_norm_node(x_val, w_val, b_val, True, requires_grad=(True, False, False)))
assert frozen[1] is None and frozen[2] is None and np.allclose(frozen[0], grad_x), (
    "batch_norm_backward: a weight and bias that do not require grad get None; the input's gradient is unchanged"
)
seq, g_seq = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))
seq_node = batch_norm_node(seq, w_val[:2], None, training=True)
grad_seq, grad_w_seq = batch_norm_backward(g_seq, seq_node)
seq_saved = seq_node.attrs["saved"]
seq_expected = group_jacobian_product(by_channel(seq_saved["x_hat"]), seq_saved["rstd"], by_channel(g_seq * w_val[:2, None]))
assert np.allclose(grad_seq, from_channels(seq_expected, seq.shape)), "batch_norm_backward: for (N, C, L) the means run over axes (0, 2)"
assert np.allclose(grad_w_seq, (g_seq * seq_saved["x_hat"]).sum(axis=(0, 2))), "batch_norm_backward: grad_weight sums over axes (0, 2) for (N, C, L)"

# Graded: the same calls on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-batch-norm-backward")
c = int(rng.integers(2, 5))
w_unseen, b_unseen = rng.standard_normal(c), rng.standard_normal(c)
shapes = {"(N, C)": (int(rng.integers(3, 8)), c), "(N, C, L)": (int(rng.integers(2, 5)), c, int(rng.integers(2, 5))),
          "(N, C, H, W)": (2, c, 2, int(rng.integers(2, 4)))}
for label, shape in shapes.items():
    x_unseen, g_unseen = rng.standard_normal(shape), rng.standard_normal(shape)
    grad_x, grad_w, grad_b = batch_norm_backward(g_unseen, batch_norm_node(x_unseen, w_unseen, b_unseen, training=True))
    observe(f"batch_norm_backward(training=True) of {label}: grad_input", grad_x)
    observe(f"batch_norm_backward(training=True) of {label}: grad_weight", grad_w)
    observe(f"batch_norm_backward(training=True) of {label}: grad_bias", grad_b)
(only_x,) = batch_norm_backward(g_unseen, batch_norm_node(x_unseen, None, None, training=True))
observe("batch_norm_backward(training=True) of (N, C, H, W) without weight or bias: grad_input", only_x)
running_mean, running_var = rng.standard_normal(c), rng.random(c) + 0.5
grad_x, grad_w, grad_b = batch_norm_backward(g_unseen, batch_norm_node(x_unseen, w_unseen, b_unseen, False, running_mean, running_var))
observe("batch_norm_backward(training=False) of (N, C, H, W): grad_input", grad_x)
observe("batch_norm_backward(training=False) of (N, C, H, W): grad_weight", grad_w)
observe("batch_norm_backward(training=False) of (N, C, H, W): grad_bias", grad_b)
frozen = batch_norm_backward(g_unseen, batch_norm_node(x_unseen, w_unseen, b_unseen, True, requires_grad=(True, False, False)))
observe("batch_norm_backward, frozen weight and bias: which gradients are None", [grad is None for grad in frozen])
observe("batch_norm_backward, frozen weight and bias: grad_input", frozen[0])


# %% [markdown]
# ### The function and the layers
#
# `batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
# momentum=0.1, eps=1e-5)` (given) is PyTorch's functional form: it checks the shapes,
# dispatches the op and, in training with running statistics given, calls your
# `update_running_stats` with the batch statistics the kernel saved. A training batch with
# one value per channel is PyTorch's `ValueError` ("Expected more than 1 value per channel
# when training").
#
# `BatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)`
# takes `(N, C)` or `(N, C, L)`, `BatchNorm2d` takes `(N, C, H, W)`. Both register
# `running_mean` (zeros), `running_var` (ones) and `num_batches_tracked` (an int64 count of
# training batches) with `register_buffer`, so `state_dict()` holds PyTorch's keys. The
# count is what `momentum=None` uses: a cumulative average, momentum $1/n$ at the $n$-th
# batch. With `track_running_stats=False` there are no buffers and the batch statistics
# are used in evaluation too. A wrong number of dims is a `ValueError` with PyTorch's
# wording ("expected 2D or 3D input"), a wrong channel count a `ShapeError` naming the
# layer and the shape; a failing call changes nothing (PyTorch counts the batch before it
# checks its size).

# %%
#| export
def _check_channels(name: str, input: Tensor, label: str, vector: Tensor | None) -> None:
    """ShapeError unless ``vector`` is None or has shape (C,), C = input.shape[1]."""
    if vector is not None and vector.shape != (input.shape[1],):
        raise ShapeError(
            f"{name}: {label} has shape {vector.shape}, but the input of shape {input.shape} has "
            f"{input.shape[1]} channels (dim 1)"
        )


def _values_per_channel(input: Tensor, training: bool) -> int:
    """N * L (or N * H * W): how many values each channel's statistics cover. In training, one
    is PyTorch's ValueError: the variance of one value is undefined."""
    count = input.size // input.shape[1]
    if training and count == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    return count


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization of each channel (dim 1) of ``input`` (N, C, ...), as one op.

    With ``training``, the batch's statistics normalize and the running ones (if given) are
    updated in place; otherwise the running statistics normalize.
    """
    _check_floating("batch_norm", input)
    if input.ndim < 2:
        raise ShapeError(f"batch_norm expects an input of shape (N, C, ...), got {input.shape}")
    for label, vector in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        _check_channels("batch_norm", input, label, vector)
    count = _values_per_channel(input, training)
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
    saved: dict[str, np.ndarray] = {}
    attrs = {"running_mean": None if running_mean is None else running_mean.data,
             "running_var": None if running_var is None else running_var.data,
             "training": training, "eps": eps, "saved": saved}
    if weight is None and bias is not None:
        weight = Tensor(np.ones(input.shape[1], dtype=bias.dtype), dtype=bias.dtype)  # a constant: no gradient
    output = dispatch("batch_norm", *[t for t in (input, weight, bias) if t is not None], **attrs)
    if training and running_mean is not None and running_var is not None:
        update_running_stats(running_mean.data, running_var.data, saved["mean"], saved["var"], count, momentum)
    return output


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; they differ in the input dims they accept."""

    accepted_dims: tuple[int, ...] = ()
    dims_wording = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(f"{type(self).__name__} needs num_features >= 1, got {num_features}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=np.float32)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=np.float32)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=np.float32)))
            self.register_buffer("num_batches_tracked", Tensor(0, dtype=np.int64))
        else:
            self.running_mean = None
            self.running_var = None
            self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        """Running mean 0, variance 1, no batch counted (in place)."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def _check_input(self, input: Tensor) -> None:
        if input.ndim not in self.accepted_dims:
            raise ShapeError(f"{self!r}: expected {self.dims_wording} input (got {input.ndim}D input of shape {input.shape})")
        if input.shape[1] != self.num_features:
            raise ShapeError(
                f"{self!r} got an input of shape {input.shape}: dim 1 must be num_features={self.num_features}, "
                f"not {input.shape[1]}"
            )

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        use_batch_stats = self.training or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            _values_per_channel(input, True)  # checked before counting, so a refused batch changes nothing
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / int(self.num_batches_tracked.data)
        return batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                          use_batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs over N (and L), per channel."""

    accepted_dims = (2, 3)
    dims_wording = "2D or 3D"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs over N, H and W, per channel."""

    accepted_dims = (4,)
    dims_wording = "4D"


# %% [markdown]
# A `BatchNorm2d` on a batch of feature maps in training mode, its buffers after three
# steps, its `state_dict` keys, the errors, and `gradcheck` in both modes:

# %%
manual_seed(0)
bn = BatchNorm2d(3)
for _ in range(3):
    maps = randn(4, 3, 5, 5) * 2 + 1
    out = bn(maps)
print(bn, "| train output per-channel mean", np.round(out.numpy().mean(axis=(0, 2, 3)), 6))
print("after 3 batches: running_mean", np.round(bn.running_mean.numpy(), 4), "running_var", np.round(bn.running_var.numpy(), 4),
      "num_batches_tracked", bn.num_batches_tracked.item())
print("state_dict keys:", list(bn.state_dict()))
print("one value per channel:", expect_error(ValueError, lambda: BatchNorm1d(3)(randn(1, 3)), "more than 1 value per channel"))
print("wrong channels:", expect_error(ShapeError, lambda: bn(randn(2, 4, 5, 5)), "BatchNorm2d(3", "(2, 4, 5, 5)"))

rng = np.random.default_rng(5)
for training, shape in ((True, (4, 3)), (True, (3, 2, 4)), (True, (2, 2, 3, 2)), (False, (4, 3))):
    channels = shape[1]
    stats = (Tensor(rng.standard_normal(channels)), Tensor(rng.random(channels) + 0.5))
    values = [Tensor(rng.standard_normal(shape), requires_grad=True),
              Tensor(rng.standard_normal(channels), requires_grad=True), Tensor(rng.standard_normal(channels), requires_grad=True)]
    gradcheck(lambda x, w, b, train=training, s=stats: batch_norm(x, None if train else s[0], None if train else s[1],
                                                                  w, b, training=train), values)
print("gradcheck passed for batch_norm: training on (N, C), (N, C, L), (N, C, H, W); evaluation on (N, C)")


# %% [markdown]
# ## 6. Dropout
#
# In training, dropout zeroes each element with probability $p$ and scales the survivors
# by $1/(1-p)$ (**inverted** dropout), so the expected value of every element is unchanged:
#
# $$y_i = x_i\,\frac{k_i}{1-p}, \quad k_i \sim \text{Bernoulli}(1-p), \qquad
#   \mathbb{E}[y_i] = x_i\,\frac{1-p}{1-p} = x_i .$$
#
# In evaluation it is the identity: nothing to rescale at test time, which is why the
# scaling happens during training. The backward pass multiplies by the same mask,
# $\bar x = \bar y \odot k/(1-p)$, so the mask is what the op keeps (in `node.attrs`).
#
# The mask must be **reproducible**: `manual_seed(0)` before a run must give the same
# masks, as it gives the same initial weights. So it is drawn from the generator you are
# given, which the public function takes from Module 01 (`manual_seed` resets it).
#
# ### Your task: `dropout_mask`
# Keep an element when a uniform draw in $[0, 1)$ is at least `p` (probability $1-p$).
# Return an array of `shape` and `dtype` holding $1/(1-p)$ where kept and 0 elsewhere: the
# survivors are scaled now, in training, so that evaluation needs no scaling at all (the
# older form of dropout kept $1$ and scaled by $1-p$ at evaluation instead). Draw from the
# `generator` passed in, and only from it: the same generator state gives the same mask,
# and two calls on one generator give different masks. `p == 1` keeps nothing and must not
# divide by zero: all zeros. `p` is already checked to be in $[0, 1]$.

# %% nbgrader={"grade": false, "grade_id": "impl-dropout-mask", "locked": false, "solution": true, "schema_version": 3}
#| export
def dropout_mask(shape: tuple[int, ...], p: float, generator: np.random.Generator,
                 dtype: Any = np.float32) -> np.ndarray:
    """An array of ``shape`` and ``dtype``: ``1 / (1 - p)`` where kept (probability 1 - p), else 0.

    Draws from ``generator`` (advancing it); ``p == 1`` gives all zeros without dividing by zero.
    Hint: one uniform draw per element from ``generator`` decides whether it is kept; the
    mask is the kept flags times the scale, converted to ``dtype``.
    If you are stuck: ``keep = generator.random(shape, dtype=np.float32) >= p``.
    """
    ### BEGIN SOLUTION
    keep = generator.random(shape, dtype=np.float32) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return (keep * scale).astype(dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-dropout-mask", "locked": true, "points": 2, "solution": false, "schema_version": 3}
mask = dropout_mask((200, 50), 0.3, np.random.default_rng(0))
assert mask.shape == (200, 50) and mask.dtype == np.float32, f"dropout_mask: expected a float32 (200, 50) array, got {mask.dtype} {mask.shape}"
assert np.isclose(mask.max(), 1 / 0.7), (
    f"dropout_mask(p=0.3): kept entries are 1 / (1 - p) = {1 / 0.7:.4f}, got {mask.max():.4f}"
    + ("; scaling by 1 - p is the old dropout that scales at evaluation: inverted dropout scales the survivors in training, "
       "so that evaluation is the identity" if np.isclose(mask.max(), 0.7) else "")
)
assert set(np.unique(mask).tolist()) <= {0.0, np.float32(1 / 0.7)}, "dropout_mask: every entry is 0 or 1 / (1 - p)"
kept = (mask > 0).mean()
assert abs(kept - 0.7) < 0.02, f"dropout_mask(p=0.3) should keep about 70% of the entries (those whose draw is >= p), kept {kept:.1%}"
assert np.array_equal(mask, dropout_mask((200, 50), 0.3, np.random.default_rng(0))), (
    "dropout_mask: the same seed must give the same mask: draw from the generator passed in, and only from it"
)
shared = np.random.default_rng(7)
first, second = dropout_mask((64,), 0.5, shared), dropout_mask((64,), 0.5, shared)
assert not np.array_equal(first, second), "dropout_mask: draw from the generator passed in; two calls on one generator give different masks"
replay = np.random.default_rng(7)
assert np.array_equal(dropout_mask((64,), 0.5, replay), first) and np.array_equal(dropout_mask((64,), 0.5, replay), second), (
    "dropout_mask: the same generator state must give the same masks, call after call"
)
assert dropout_mask((3,), 0.5, np.random.default_rng(0), np.float64).dtype == np.float64, "dropout_mask: return the dtype asked for"
assert np.all(dropout_mask((4, 4), 0.0, np.random.default_rng(1)) == 1), "dropout_mask(p=0) keeps everything, scale 1"
with np.errstate(divide="raise", invalid="raise"):
    outcome = error_name(lambda: dropout_mask((4, 4), 1.0, np.random.default_rng(1)))
assert outcome == "nothing", f"dropout_mask(p=1) must not divide by zero (it raised {outcome}): it keeps nothing, all zeros"
assert np.all(dropout_mask((4, 4), 1.0, np.random.default_rng(1)) == 0), "dropout_mask(p=1) keeps nothing: all zeros"

# Graded: what every correct mask shares (which elements are kept depends on how the draws
# are made), on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-dropout-mask")
p = float(rng.uniform(0.1, 0.9))
shape, seed = (int(rng.integers(150, 250)), int(rng.integers(150, 250))), int(rng.integers(2**31))
mask = dropout_mask(shape, p, np.random.default_rng(seed))
observe("dropout_mask(shape, p): its shape", mask.shape)
observe("dropout_mask(shape, p): its distinct values, float32", np.unique(mask))
observe("dropout_mask(shape, p): the fraction of entries kept", float(np.mean(mask != 0)), rtol=0, atol=0.02)
observe("dropout_mask: the same seed gives the same mask", bool(np.array_equal(mask, dropout_mask(shape, p, np.random.default_rng(seed)))))
shared = np.random.default_rng(seed + 1)
observe("dropout_mask: two calls on one generator give different masks",
        not np.array_equal(dropout_mask((256,), p, shared), dropout_mask((256,), p, shared)))
observe("dropout_mask(shape, p, dtype=float64): its distinct values", np.unique(dropout_mask(shape, p, np.random.default_rng(seed), np.float64)))
observe("dropout_mask(p=0)", dropout_mask((3, int(rng.integers(2, 6))), 0.0, np.random.default_rng(seed)))
observe("dropout_mask(p=1)", dropout_mask((int(rng.integers(2, 6)), 3), 1.0, np.random.default_rng(seed)))


# %% [markdown]
# ### The op, the function and the layer
#
# The op `dropout` (given) multiplies by the mask, an attribute, and its formula multiplies
# the gradient by the same mask. `dropout(input, p=0.5, training=True, inplace=False)` and
# `Dropout(p=0.5, inplace=False)` follow PyTorch: `p` outside $[0, 1]$ is a `ValueError`,
# in evaluation (or with `p=0`) the input is returned as it is, and the mask comes from
# Module 01's default generator. `inplace=True` is refused: the autograd graph needs the
# input as it was.

# %%
#| export
@register_kernel("dropout")
def dropout_kernel(input: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``input * mask``; the mask (0 or 1/(1-p)) has the input's shape."""
    return input * mask


@register_gradient("dropout")
def dropout_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(x * mask)/dx = mask, the same mask as the forward pass."""
    return (grad * node.attrs["mask"],)


def _check_dropout(p: float, inplace: bool) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if inplace:
        raise ValueError("inplace=True is not supported: the autograd graph needs the input unchanged; use inplace=False")


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1/(1-p)."""
    _check_dropout(p, inplace)
    if not training or p == 0:
        return input
    _check_floating("dropout", input)
    generator = tensor_module._GENERATOR  # looked up at call time: manual_seed replaces it
    return dispatch("dropout", input, mask=dropout_mask(input.shape, p, generator, input.dtype))


class Dropout(Module):
    """Inverted dropout with probability ``p`` in training, the identity in evaluation."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        _check_dropout(p, inplace)
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


# %% [markdown]
# Dropout in training and in evaluation, seeded twice, with its gradient:

# %%
layer = Dropout(0.25)
x = Tensor(np.arange(1.0, 9.0), requires_grad=True)
manual_seed(0)
first = layer(x)
manual_seed(0)
again = layer(x)
print(layer, "| training:", first.numpy(), "| same seed, same mask:", np.array_equal(first.numpy(), again.numpy()))
first.sum().backward()
print("gradient = the mask:", x.grad.numpy())
print("evaluation returns the input itself:", layer.eval()(x) is x)
print("p=1.5:", expect_error(ValueError, lambda: Dropout(1.5), "between 0 and 1"))

# %% [markdown]
# ## 7. Systems analysis
#
# ### Fused LayerNorm against LayerNorm composed from primitive ops
# The same LayerNorm written with Module 01 ops (`mean`, `sub`, `mul`, `add`, `sqrt`, `div`)
# records a node per op, and each node keeps its output alive for the backward pass. We time
# forward + backward of both on a GPT-sized activation `(16, 64, 128)` (batch 16, 64 tokens,
# width 128), with the same upstream gradient, side by side and alternating so both see the
# same machine load, and count the nodes and the bytes of the arrays each graph keeps beyond
# its leaves (node outputs and saved arrays). Both give the same gradients (checked first).

# %%
import timeit

from tinytorch.autograd import topological_order


def composed_layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """LayerNorm over the last dim from Module 01 ops: one graph node per op."""
    mu = x.mean(axis=-1, keepdims=True)
    deviation = x - mu
    spread = (deviation * deviation).mean(axis=-1, keepdims=True)
    return deviation / (spread + eps).sqrt() * weight + bias


def kept_bytes(arrays: list[np.ndarray]) -> int:
    """Bytes of ``arrays``, each memory block once (a reshaped view shares its array's memory)."""
    return sum({a.__array_interface__["data"][0]: a.nbytes for a in arrays}.values())


def graph_summary(root: Tensor) -> tuple[int, int]:
    """(nodes, bytes of the arrays the graph keeps: node outputs and arrays saved in attrs)."""
    nodes = [t for t in topological_order(root) if t.grad_fn is not None]
    arrays = [t.data for t in nodes] + [a for t in nodes for a in t.grad_fn.attrs.get("saved", {}).values()]
    return len(nodes), kept_bytes(arrays)


rng = np.random.default_rng(6)
activation = Tensor(rng.standard_normal((16, 64, 128)), requires_grad=True)
ln = LayerNorm(128)
upstream = Tensor(rng.standard_normal((16, 64, 128)))
assert np.allclose(ln(activation).numpy(), composed_layer_norm(activation, ln.weight, ln.bias).numpy(), atol=1e-5), (
    "the fused and the composed LayerNorm give different outputs: the timing would compare different computations"
)


def fused_step() -> None:
    activation.grad = None
    ln.zero_grad()
    ln(activation).backward(upstream)


def composed_step() -> None:
    activation.grad = None
    ln.zero_grad()
    composed_layer_norm(activation, ln.weight, ln.bias).backward(upstream)


fused_step()
fused_grads = [activation.grad.numpy().copy(), ln.weight.grad.numpy().copy()]
composed_step()
assert np.allclose(fused_grads[0], activation.grad.numpy(), atol=1e-4) and np.allclose(fused_grads[1], ln.weight.grad.numpy(), atol=1e-3), (
    "the fused and the composed LayerNorm give different gradients: the timing would compare different computations"
)
fused_times, composed_times = [], []
for _ in range(5):  # alternate, so both see the same machine load
    fused_times.append(timeit.timeit(fused_step, number=3) / 3)
    composed_times.append(timeit.timeit(composed_step, number=3) / 3)
fused_nodes, fused_bytes = graph_summary(ln(activation))
composed_nodes, composed_bytes = graph_summary(composed_layer_norm(activation, ln.weight, ln.bias))
print(f"LayerNorm(128) on {activation.shape}, input {activation.nbytes / 2**10:.0f} KiB: "
      f"fused {min(fused_times) * 1e3:.2f} ms, composed {min(composed_times) * 1e3:.2f} ms forward+backward "
      f"(composed/fused {min(composed_times) / min(fused_times):.2f}x)")
print(f"graph nodes {fused_nodes} vs {composed_nodes}; kept for the backward {fused_bytes / 2**10:.0f} KiB vs "
      f"{composed_bytes / 2**10:.0f} KiB ({composed_bytes / fused_bytes:.2f}x)")

# %% [markdown]
# ### What each layer keeps for the backward pass
# Activation memory is what fills a GPU in training (Module 02). For one input of each
# layer's usual shape, the bytes its node keeps (its output and what its kernel saved),
# against the bytes of the input itself; evaluation under `no_grad()` keeps nothing.

# %%
from tinytorch.autograd import no_grad

batch_norm_layer = BatchNorm2d(16)
cases = {
    "LayerNorm(128), (16, 64, 128)": (LayerNorm(128), randn(16, 64, 128, requires_grad=True)),
    "BatchNorm2d(16), (32, 16, 8, 8)": (batch_norm_layer, randn(32, 16, 8, 8, requires_grad=True)),
    "Dropout(0.1), (16, 64, 128)": (Dropout(0.1), randn(16, 64, 128, requires_grad=True)),
}
for name, (layer, x) in cases.items():
    node = layer(x).grad_fn
    kept_arrays = {"out": node.out, **node.attrs.get("saved", {})}
    if "mask" in node.attrs:
        kept_arrays["mask"] = node.attrs["mask"]
    kept = kept_bytes(list(kept_arrays.values()))
    with no_grad():
        recorded = layer(x).grad_fn
    print(f"{name:>32}: keeps {kept / 2**10:7.1f} KiB = {kept / x.nbytes:.2f}x its input ({', '.join(kept_arrays)}); "
          f"a node under no_grad: {recorded is not None}")

# %% [markdown]
# ### BatchNorm in training and in evaluation, on real data
# A `BatchNorm1d(64)` over the 64 pixels of the bundled digits (Module 08), trained on
# batches of 32 images in training mode (no weights to learn here: we only watch the
# statistics). Then one batch goes through in both modes. In training, each pixel of the
# output has batch mean 0; in evaluation the running statistics are used, so the output
# depends only on the image itself. After a few batches the running averages have not
# caught up with the data (they start at mean 0, variance 1, and `momentum=0.1` moves them
# a tenth of the way per batch); after an epoch they have. The cell prints how far the
# running mean is from the mean of the whole training split, and how far the evaluation
# output is from the training output on the same batch.

# %%
from tinytorch.data import DataLoader, load_digits

digits = load_digits()
pixels = np.stack([digits.train[i][0].numpy() for i in range(len(digits.train))])
data_mean = pixels.mean(axis=0)
batches = [batch for batch, _ in DataLoader(digits.train, batch_size=32, shuffle=True, generator=np.random.default_rng(0))]
probe = batches[0]
digits_bn = BatchNorm1d(64)
for seen, batch in enumerate(batches, start=1):
    digits_bn.train()
    digits_bn(batch)
    if seen in (3, len(batches)):
        # the training-mode output without counting another batch: the batch's own statistics
        train_out = batch_norm(probe, None, None, digits_bn.weight, digits_bn.bias, training=True).numpy()
        digits_bn.eval()
        eval_out = digits_bn(probe).numpy()
        print(f"after {digits_bn.num_batches_tracked.item():2d} batches: |running_mean - data mean| max "
              f"{np.abs(digits_bn.running_mean.numpy() - data_mean).max():.3f}; on the same batch, "
              f"|eval - train output| mean {np.abs(eval_out - train_out).mean():.3f}, max {np.abs(eval_out - train_out).max():.2f}")

# %% [markdown]
# ### Dropout keeps the mean
# Inverted dropout should leave the mean of an activation unchanged in expectation. Over
# one large tensor, seeded, for three values of `p`: the mean before and after, and the
# share of elements kept.

# %%
manual_seed(0)
signal = Tensor(np.random.default_rng(8).random((256, 256)) + 1)
for p in (0.1, 0.5, 0.9):
    dropped = dropout(signal, p).numpy()
    print(f"p={p}: mean {signal.numpy().mean():.4f} -> {dropped.mean():.4f}, kept {(dropped != 0).mean():.3f} "
          f"(expected {1 - p:.1f})")

# %% [markdown]
# ## Summary
#
# You added three ops to the framework, each a kernel and a closed-form backward formula:
# `layer_norm`, whose kernel saves $\hat x$ and $1/\sigma$ for its backward pass,
# `batch_norm`, with batch statistics in training and running statistics (updated in place
# by `update_running_stats`) in evaluation, and `dropout`, whose seeded mask you drew.
# With the given functions and layers, `from tinytorch.nn import LayerNorm, BatchNorm2d,
# Dropout` and `F.layer_norm`, `F.batch_norm`, `F.dropout` work as in PyTorch. The analysis
# measured the fused LayerNorm against the composed one (time, graph nodes and bytes kept),
# what each layer keeps for its backward pass, BatchNorm's two modes on the digits, and
# that dropout keeps the mean.
#
# **Reflection questions**
#
# 1. The fused LayerNorm keeps its output, $\hat x$ and one number per row. Its output is
#    $\hat x \gamma + \beta$: could the backward pass recover $\hat x$ from the output
#    instead of saving it? What goes wrong when some $\gamma_j$ is 0?
# 2. A GPT with 4 blocks runs 9 LayerNorms per forward pass. Using the bytes the first
#    analysis cell printed for one LayerNorm on `(16, 64, 128)`, how much memory do the
#    fused and the composed versions keep for one training step of such a model?
# 3. After 3 batches the running mean of the digits BatchNorm was still far from the data's
#    mean. What does that do to a model evaluated right after a short training run, and
#    what would `momentum=None` (a cumulative average) change?
# 4. Why does BatchNorm refuse a training batch with one value per channel, and why is
#    LayerNorm happy with a batch of one?
# 5. Dropout's mask has the input's shape. Could the backward pass avoid keeping it, by
#    keeping the generator's state and drawing the mask again? What would that trade?
