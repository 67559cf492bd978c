# %% [markdown]
# # Module 02: Autograd
#
# Training a network means following the gradient of a loss with respect to millions of
# parameters. Writing those derivatives by hand for every model is hopeless; **reverse-mode
# automatic differentiation** computes all of them in one backward pass that costs about as
# much as the forward pass. In this module you build the engine behind `loss.backward()`.
#
# **What you will build**
#
# - `unbroadcast`: sum a gradient back to the shape of an input that was broadcast;
# - the backward formula of every Module 01 operation (arithmetic, `exp`/`log`/`sqrt`/`pow`,
#   `matmul`, `sum`/`mean`/`max`, `reshape`/`permute`/indexing);
# - `topological_order`: the order in which gradients can flow;
# - `run_backward`: the engine that walks the graph and accumulates `.grad` on the leaves;
# - `gradcheck`: a finite-difference check you will reuse for every new op in the course.
#
# **How it plugs in.** Module 01's `dispatch` calls a *graph recorder* after every kernel.
# You register one: when an input requires gradients, the recorder attaches a `Node` to the
# output, remembering the op, its inputs and attributes. `Tensor.backward()` calls your
# engine. Module 01 is not modified; it provides the seam, this module fills it.
#
# ```
#   forward:   x ──┐                      backward:  x.grad ◄── mul_backward ◄──┐
#                  ├─ mul ─► z ─ sum ─► loss                                      ├─ sum_backward ◄── 1
#              w ──┘                                 w.grad ◄── mul_backward ◄──┘
# ```
#
# **Why a systems engineer cares.** The graph keeps every intermediate result alive until
# the backward pass: that *activation memory*, not the weights, is what fills a GPU during
# training. The backward pass also has its own cost, about twice the forward for a matmul.
# We measure both at the end of the module.

# %%
#| default_exp autograd

# %%
#| export
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, overload

import numpy as np

from tinytorch.tensor import (
    ShapeError,
    Tensor,
    as_array,
    normalize_axes,
    register_entry,
    set_backward_engine,
    set_graph_recorder,
)


# %% [markdown]
# ## 1. The graph
#
# Every recorded operation becomes a `Node`: the op's name, its input tensors, its
# attributes (e.g. `axis`) and its output array (several derivatives reuse the output:
# $\frac{d}{dx}e^x = e^x$). A **backward formula** receives the gradient of the loss with
# respect to the node's output, $\bar{y} = \partial L/\partial y$, and returns one gradient per
# input, $\bar{x}_i = \partial L / \partial x_i$ (or `None` for an input that needs none).
# This is the chain rule, one node at a time:
#
# $$\bar{x}_i = \sum_j \bar{y}_j \,\frac{\partial y_j}{\partial x_i}.$$
#
# Gradient computations work on plain NumPy arrays. That keeps the backward pass out of the
# dispatch layer (it is not itself recorded), which is all this course needs.
#
# Each formula is registered under its op's name where it is defined, and its docstring
# states the derivative, as micrograd and MiniTorch keep each op's maths in one place:
#
# ```python
# @register_gradient("mul")
# def mul_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None]:
#     """d(a*b)/da = b, d(a*b)/db = a."""
#     ...
# ```
#
# `register_gradient(op, formula)` does the same as a plain call, for a formula written
# elsewhere (a lambda in a test, or a later module's op).

# %%
#| export
class Node:
    """One recorded operation: ``out = op(*inputs, **attrs)``."""

    __slots__ = ("op", "inputs", "attrs", "out")

    def __init__(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any], out: np.ndarray) -> None:
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.out = out

    def __repr__(self) -> str:
        return f"Node({self.op}, inputs={[t.shape for t in self.inputs]})"


# formula(grad, node) -> one gradient per input of node (None where none is needed)
BackwardFormula = Callable[[np.ndarray, Node], Sequence["np.ndarray | None"]]
GRADIENTS: dict[str, BackwardFormula] = {}


@overload
def register_gradient(op: str) -> Callable[[BackwardFormula], BackwardFormula]: ...


@overload
def register_gradient(op: str, formula: BackwardFormula) -> BackwardFormula | None: ...


def register_gradient(
    op: str, formula: BackwardFormula | None = None
) -> BackwardFormula | None | Callable[[BackwardFormula], BackwardFormula]:
    """Use ``formula(grad, node) -> one gradient per input`` as the backward of ``op``.

    Returns the formula it replaced (None if new). Without ``formula``, a decorator:
    ``@register_gradient("mul")`` above a function registers it and leaves it as it was.
    """
    return register_entry(GRADIENTS, op, formula)


# %% [markdown]
# ### Recording, and switching it off
#
# The recorder is cheap on purpose, because it runs after every op: it returns at once
# when gradient mode is off, when the output is not floating point (comparisons), or when
# no input requires gradients. `no_grad()` switches recording off for evaluation and for
# parameter updates, where a graph would only waste memory. It works as a context manager
# and as a decorator, like `torch.no_grad`.

# %%
#| export
class _GradMode:
    enabled = True


def is_grad_enabled() -> bool:
    """Whether operations are currently recorded for backward."""
    return _GradMode.enabled


class no_grad:
    """Disable graph recording inside a ``with no_grad():`` block or a decorated function."""

    def __enter__(self) -> None:
        self._previous = _GradMode.enabled
        _GradMode.enabled = False

    def __exit__(self, *exc_info: object) -> None:
        _GradMode.enabled = self._previous

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_grad():
                return fn(*args, **kwargs)

        return wrapper


def record(op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any], out: Tensor) -> None:
    """The graph recorder that ``dispatch`` calls after every kernel."""
    if not _GradMode.enabled:
        return
    for tensor in inputs:
        if tensor.requires_grad:
            break
    else:
        return
    if out.data.dtype.kind != "f":
        return
    if op not in GRADIENTS:
        raise NotImplementedError(
            f"op '{op}' has no backward formula, so gradients cannot flow through it; "
            "add one with register_gradient (or run it under no_grad())"
        )
    out.requires_grad = True
    out.grad_fn = Node(op, inputs, attrs, out.data)


set_graph_recorder(record)


# %% [markdown]
# ## 2. Broadcasting, backwards
#
# If `b` of shape `(10,)` was broadcast to `(32, 10)` in `x + b`, each element of `b`
# influenced 32 outputs, so its gradient is the **sum** of those 32 output gradients.
# In general, to bring a gradient of the broadcast shape back to an input's `shape`:
#
# 1. sum over the leading dimensions the input did not have;
# 2. sum (keeping the dimension) over every dimension where the input had size 1.
#
# Shapes line up on the right, as in broadcasting: axis `i` of `shape` is axis
# `i + (grad.ndim - len(shape))` of `grad`.
#
# ```
#   grad (32, 10) ──sum axis 0──► (10,)            grad (8, 7, 6, 5), shape (7, 1, 5)
#                                                   ──sum axis 0──► (7, 6, 5) ──sum axis 1, keep──► (7, 1, 5)
# ```
#
# Both kinds of sums can be one call: collect the axes to sum (the leading extra ones and
# those where `shape` has a 1), sum over all of them with `keepdims=True`, then `reshape` to
# `shape`, which drops the leading axes (now of size 1).
#
# The engine calls `unbroadcast` for every input whose gradient shape differs from its own,
# so the formulas below can ignore broadcasting altogether.

# %% nbgrader={"grade": false, "grade_id": "impl-unbroadcast", "locked": false, "solution": true, "schema_version": 3}
#| export
def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` (of a broadcast result's shape) down to ``shape``.

    ``unbroadcast(np.ones((32, 10)), (10,))`` is an array of shape ``(10,)`` full of 32.
    The result keeps ``grad``'s dtype.
    Hint: collect the axes to sum (the extra leading ones, and those where ``shape`` has a 1),
    sum them all at once with ``keepdims=True``, then ``reshape(shape)``.
    """
    ### BEGIN SOLUTION
    extra = grad.ndim - len(shape)  # leading axes that shape does not have
    stretched = [extra + i for i, size in enumerate(shape) if size == 1]
    return grad.sum(axis=(*range(extra), *stretched), keepdims=True).reshape(shape)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-unbroadcast", "locked": true, "points": 2, "solution": false, "schema_version": 3}
from tinytorch.tensor import observe, unseen_rng

result = unbroadcast(np.ones((32, 10), dtype=np.float32), (10,))
assert result.shape == (10,), f"unbroadcast to (10,) should give shape (10,), got {result.shape}"
assert np.all(result == 32), "unbroadcast: each element of a bias used by 32 rows gets the sum of 32 gradients"
assert result.dtype == np.float32, f"unbroadcast should keep the gradient's dtype (float32), got {result.dtype}"
grad = np.arange(4 * 3 * 3, dtype=np.float64).reshape(4, 3, 3)
expected = grad.sum(axis=0).sum(axis=1, keepdims=True)
assert np.allclose(unbroadcast(grad, (3, 1)), expected), (
    "unbroadcast(grad (4, 3, 3), (3, 1)) is wrong: shapes align on the right, so the 1 of shape (3, 1) is the "
    "last axis of grad; sum the leading axis 0 and axis 2 (keeping it)"
)
grad = np.arange(8 * 7 * 6 * 5, dtype=np.float64).reshape(8, 7, 6, 5)
expected = grad.sum(axis=0).sum(axis=1, keepdims=True)
assert np.allclose(unbroadcast(grad, (7, 1, 5)), expected), "unbroadcast(grad (8, 7, 6, 5), (7, 1, 5)) is wrong"
assert unbroadcast(np.ones((2, 3)), ()).shape == (), "unbroadcast to a scalar shape () sums everything"
same = np.ones((2, 3))
assert np.array_equal(unbroadcast(same, (2, 3)), same), "unbroadcast to the same shape changes nothing"

# Graded: the same sums on gradients and shapes drawn for each graded run.
rng = unseen_rng("test-unbroadcast")
n1, n2, n3, n4 = (int(n) for n in rng.integers(2, 6, size=4))
for label, grad_shape, shape in (
    ("a bias: grad (n1, n2) to (n2,)", (n1, n2), (n2,)),
    ("grad (n1, n2, n3) to (n2, 1)", (n1, n2, n3), (n2, 1)),
    ("grad (n1, n2, n3, n4) to (n2, 1, n4)", (n1, n2, n3, n4), (n2, 1, n4)),
    ("grad (n1, n2) to (1, n2)", (n1, n2), (1, n2)),
    ("grad (n1, n2) to ()", (n1, n2), ()),
    ("grad (n1, n2) to its own shape", (n1, n2), (n1, n2)),
):
    observe(f"unbroadcast, {label}", unbroadcast(rng.standard_normal(grad_shape), shape))
observe("unbroadcast, float32 grad (n1, n2, n3) to (1, n3)",
        unbroadcast(rng.standard_normal((n1, n2, n3)).astype(np.float32), (1, n3)), rtol=1e-4, atol=1e-5)


# %% [markdown]
# ## 3. Backward formulas
#
# Each formula maps the output gradient `grad` (an array shaped like the op's output) and
# the `node` to a tuple with one gradient per input. Addition, subtraction and negation
# are given as examples:
#
# | op | forward | backward |
# |---|---|---|
# | add | $y = a + b$ | $\bar a = \bar y,\ \bar b = \bar y$ |
# | sub | $y = a - b$ | $\bar a = \bar y,\ \bar b = -\bar y$ |
# | neg | $y = -a$ | $\bar a = -\bar y$ |
# | mul | $y = a b$ | $\bar a = \bar y\, b,\ \bar b = \bar y\, a$ |
# | div | $y = a / b$ | $\bar a = \bar y / b,\ \bar b = -\bar y\, a / b^2$ |
#
# **Compute only what is needed.** A formula returns `None` for an input that does not
# require gradients, and the engine skips it. This is not a detail: in `relu = h * (h > 0)`
# the mask needs no gradient, and in `x @ W1` the input batch `x` needs none, yet its
# gradient `grad @ W1.T` costs as much as the forward matmul. PyTorch's formulas check
# `ctx.needs_input_grad` for the same reason. Here, check `node.inputs[i].requires_grad`;
# the tests of `mul`, `div` and `matmul` check that you do.

# %%
#| export
@register_gradient("add")
def add_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray, np.ndarray]:
    """d(a+b)/da = 1, d(a+b)/db = 1: both inputs get ``grad`` as it is."""
    return grad, grad


@register_gradient("sub")
def sub_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray, np.ndarray | None]:
    """d(a-b)/da = 1, d(a-b)/db = -1."""
    return grad, (-grad if node.inputs[1].requires_grad else None)


@register_gradient("neg")
def neg_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(-a)/da = -1."""
    return (-grad,)


# %% [markdown]
# Each formula you write is tested right below it, on its own: `make_node(op, *inputs,
# **attrs)` builds the `Node` that recording `op` on those inputs would create (float64
# inputs that require grad unless `requires_grad=` says otherwise, and the output from the
# op's Module 01 kernel), so a test calls one formula without the engine. As in Module 01,
# each test first checks fixed inputs with messages that name the fault, then calls your
# function again on inputs drawn from `unseen_rng(...)` and hands the results to `observe`:
# that second part decides the grade.

# %% nbgrader={"grade": false, "grade_id": "given-make-node", "locked": true, "solution": false, "schema_version": 3}
from tinytorch.tensor import KERNELS, expect_error


def make_node(op: str, *inputs: Any, requires_grad: Sequence[bool] | None = None, **attrs: Any) -> Node:
    """The Node that recording ``op(*inputs, **attrs)`` creates, to test one formula by itself.

    Inputs become float64 tensors that require grad, unless ``requires_grad`` (one flag per
    input) says otherwise; the output comes from the op's Module 01 kernel.
    """
    flags = [True] * len(inputs) if requires_grad is None else requires_grad
    tensors = tuple(Tensor(x, dtype=np.float64, requires_grad=flag) for x, flag in zip(inputs, flags, strict=True))
    return Node(op, tensors, attrs, np.asarray(KERNELS[op](*(t.data for t in tensors), **attrs)))


# %% nbgrader={"grade": false, "grade_id": "impl-mul-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("mul")
def mul_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None]:
    """d(a*b)/da = b, d(a*b)/db = a: returns ``(grad * b, grad * a)``.

    ``a, b = node.inputs`` are Tensors (use ``.data``). Returns None in place of the gradient
    of an input that does not require grad.
    """
    ### BEGIN SOLUTION
    a, b = node.inputs
    grad_a = grad * b.data if a.requires_grad else None
    grad_b = grad * a.data if b.requires_grad else None
    return grad_a, grad_b
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-mul-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
a_val, b_val, g_val = np.array([1.0, -2.0, 3.0]), np.array([4.0, 5.0, -0.5]), np.array([1.0, 2.0, 3.0])
grad_a, grad_b = mul_backward(g_val, make_node("mul", a_val, b_val))
assert np.allclose(grad_a, g_val * b_val), "mul_backward: d(a*b)/da = b, so the gradient of a is grad * b"
assert np.allclose(grad_b, g_val * a_val), "mul_backward: d(a*b)/db = a, so the gradient of b is grad * a"
grad_a, grad_b = mul_backward(g_val, make_node("mul", a_val, b_val > 0, requires_grad=(True, False)))
assert grad_b is None, "mul_backward: return None for an input that does not require grad (here a mask b)"
assert np.allclose(grad_a, g_val * (b_val > 0)), "mul_backward: the gradient of a is grad * b, also when b needs none"
grad_a, grad_b = mul_backward(g_val, make_node("mul", a_val, b_val, requires_grad=(False, True)))
assert grad_a is None, "mul_backward: return None for an input that does not require grad (here a)"

# Graded: the formula on inputs and incoming gradients drawn for each graded run.
rng = unseen_rng("test-mul-backward")
shape = tuple(int(n) for n in rng.integers(2, 5, size=2))
a_val, b_val, g_val = rng.standard_normal(shape), rng.standard_normal(shape), rng.standard_normal(shape)
grad_a, grad_b = mul_backward(g_val, make_node("mul", a_val, b_val))
observe("mul_backward: gradient of a", grad_a)
observe("mul_backward: gradient of b", grad_b)
grad_a, grad_b = mul_backward(g_val, make_node("mul", a_val, b_val, requires_grad=(True, False)))
observe("mul_backward, b needs no grad: gradient of b is None", grad_b is None)
observe("mul_backward, b needs no grad: gradient of a", grad_a)
grad_a, grad_b = mul_backward(g_val, make_node("mul", a_val, b_val, requires_grad=(False, True)))
observe("mul_backward, a needs no grad: gradient of a is None", grad_a is None)
observe("mul_backward, a needs no grad: gradient of b", grad_b)


# %% nbgrader={"grade": false, "grade_id": "impl-div-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("div")
def div_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None]:
    """d(a/b)/da = 1/b, d(a/b)/db = -a/b**2: returns ``(grad / b, -grad * a / b**2)``.

    None in place of the gradient of an input that does not require grad.
    Hint: ``node.out`` is ``a / b`` already, which saves computing ``a / b**2`` from scratch.
    """
    ### BEGIN SOLUTION
    a, b = node.inputs
    grad_a = grad / b.data if a.requires_grad else None
    grad_b = -grad * node.out / b.data if b.requires_grad else None
    return grad_a, grad_b
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-div-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
a_val, b_val, g_val = np.array([1.0, -2.0, 3.0]), np.array([4.0, 5.0, -0.5]), np.array([1.0, 2.0, 3.0])
grad_a, grad_b = div_backward(g_val, make_node("div", a_val, b_val))
assert np.allclose(grad_a, g_val / b_val), "div_backward: d(a/b)/da = 1/b, so the gradient of a is grad / b"
assert np.allclose(grad_b, -g_val * a_val / b_val**2), "div_backward: d(a/b)/db = -a/b^2 (mind the minus sign), times grad"
grad_a, grad_b = div_backward(g_val, make_node("div", a_val, b_val, requires_grad=(False, True)))
assert grad_a is None, "div_backward: return None for an input that does not require grad (here a)"
assert np.allclose(grad_b, -g_val * a_val / b_val**2), "div_backward: the gradient of b is -grad * a / b^2, also when a needs none"
grad_a, grad_b = div_backward(g_val, make_node("div", a_val, b_val, requires_grad=(True, False)))
assert grad_b is None, "div_backward: return None for an input that does not require grad (here b)"

# Graded: the formula on inputs and incoming gradients drawn for each graded run (b kept away from 0).
rng = unseen_rng("test-div-backward")
shape = tuple(int(n) for n in rng.integers(2, 5, size=2))
a_val, g_val = rng.standard_normal(shape), rng.standard_normal(shape)
b_val = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
grad_a, grad_b = div_backward(g_val, make_node("div", a_val, b_val))
observe("div_backward: gradient of a", grad_a)
observe("div_backward: gradient of b", grad_b)
grad_a, grad_b = div_backward(g_val, make_node("div", a_val, b_val, requires_grad=(False, True)))
observe("div_backward, a needs no grad: gradient of a is None", grad_a is None)
observe("div_backward, a needs no grad: gradient of b", grad_b)
grad_a, grad_b = div_backward(g_val, make_node("div", a_val, b_val, requires_grad=(True, False)))
observe("div_backward, b needs no grad: gradient of b is None", grad_b is None)
observe("div_backward, b needs no grad: gradient of a", grad_a)


# %% [markdown]
# The unary operations. `pow` takes its exponent from `node.attrs["exponent"]`; `exp` and
# `sqrt` are cheapest written with their own output `node.out`:
#
# | op | forward | backward |
# |---|---|---|
# | pow | $y = a^p$ | $\bar a = \bar y\, p\, a^{p-1}$ (and $\bar a = 0$ for $p = 0$) |
# | exp | $y = e^a$ | $\bar a = \bar y\, y$ |
# | log | $y = \ln a$ | $\bar a = \bar y / a$ |
# | sqrt | $y = \sqrt a$ | $\bar a = \bar y / (2y)$ |
#
# One case needs care: `x ** 0` is the constant 1, so its gradient is 0 everywhere, also at
# $a = 0$. There the formula $p\, a^{p-1}$ computes $0 \cdot 0^{-1} = 0 \cdot \infty$, which is
# `nan` (the test below prints it). For $p = 0$, return zeros.

# %% nbgrader={"grade": false, "grade_id": "impl-pow-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("pow")
def pow_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(a**p)/da = p * a**(p-1) with ``p = node.attrs["exponent"]``; zeros for p = 0 (a constant)."""
    ### BEGIN SOLUTION
    exponent = node.attrs["exponent"]
    if exponent == 0:
        return (np.zeros_like(grad),)
    return (grad * exponent * np.power(node.inputs[0].data, exponent - 1),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-pow-backward", "locked": true, "points": 2, "solution": false, "schema_version": 3}
x_val, g_val = np.array([0.5, 1.0, 2.0]), np.array([1.0, -1.0, 0.5])
(grad,) = pow_backward(np.ones(3), make_node("pow", x_val, exponent=3.0))
assert np.allclose(grad, 3 * x_val**2), f"pow_backward: d(x^3)/dx = 3x^2 (the exponent drops by one), got {grad} at x = {x_val}"
(grad,) = pow_backward(g_val, make_node("pow", x_val, exponent=3.0))
assert np.allclose(grad, g_val * 3 * x_val**2), "pow_backward: multiply the derivative by the incoming grad (chain rule)"
(grad,) = pow_backward(g_val, make_node("pow", x_val, exponent=-0.5))
assert np.allclose(grad, g_val * -0.5 * x_val**-1.5), "pow_backward: d(x^-0.5)/dx = -0.5 x^-1.5"
at_zero = np.array([0.0, -1.5, 2.0])
with np.errstate(divide="ignore", invalid="ignore"):
    print("the formula p * a**(p-1) for p = 0 at a = 0, -1.5, 2:", 0.0 * np.power(at_zero, -1.0))
(grad,) = pow_backward(np.ones(3), make_node("pow", at_zero, exponent=0.0))
assert np.array_equal(grad, np.zeros(3)), f"pow_backward: x ** 0 is constant, its gradient is 0 everywhere (also at x = 0), got {grad}"

# Graded: the formula on inputs, exponents and incoming gradients drawn for each graded run.
rng = unseen_rng("test-pow-backward")
x_val, g_val = rng.standard_normal(5), rng.standard_normal(5)
positive = rng.uniform(0.5, 2.0, 5)
for label, base, exponent in (
    ("an integer exponent 2 or 3", x_val, float(rng.integers(2, 4))),
    ("exponent 1", x_val, 1.0),
    ("a fractional exponent, x > 0", positive, float(rng.uniform(-2.0, 3.0))),
):
    (grad,) = pow_backward(g_val, make_node("pow", base, exponent=exponent))
    observe(f"pow_backward, {label}", grad)
with_zeros = np.where(rng.random(5) < 0.5, 0.0, x_val)
(grad,) = pow_backward(g_val, make_node("pow", with_zeros, exponent=0.0))
observe("pow_backward, exponent 0, some x = 0", grad)


# %% nbgrader={"grade": false, "grade_id": "impl-exp-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("exp")
def exp_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(e**a)/da = e**a, which is the output ``node.out``."""
    ### BEGIN SOLUTION
    return (grad * node.out,)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-exp-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
x_val, g_val = np.array([-1.0, 0.5, 2.0]), np.array([1.0, -1.0, 0.5])
(grad,) = exp_backward(np.ones(3), make_node("exp", x_val))
assert np.allclose(grad, np.exp(x_val)), "exp_backward: d(e^x)/dx = e^x (the output node.out)"
(grad,) = exp_backward(g_val, make_node("exp", x_val))
assert np.allclose(grad, g_val * np.exp(x_val)), "exp_backward: multiply the derivative e^x by the incoming grad (chain rule)"

# Graded: the formula on inputs and incoming gradients drawn for each graded run.
rng = unseen_rng("test-exp-backward")
shape = tuple(int(n) for n in rng.integers(2, 5, size=2))
(grad,) = exp_backward(rng.standard_normal(shape), make_node("exp", rng.standard_normal(shape)))
observe("exp_backward(grad, node of exp(x))", grad)


# %% nbgrader={"grade": false, "grade_id": "impl-log-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("log")
def log_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(ln a)/da = 1/a."""
    ### BEGIN SOLUTION
    return (grad / node.inputs[0].data,)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-log-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
x_val, g_val = np.array([0.5, 1.0, 2.0]), np.array([1.0, -1.0, 0.5])
(grad,) = log_backward(np.ones(3), make_node("log", x_val))
assert np.allclose(grad, 1 / x_val), "log_backward: d(ln x)/dx = 1/x (divide by the input x, not by the output ln x)"
(grad,) = log_backward(g_val, make_node("log", x_val))
assert np.allclose(grad, g_val / x_val), "log_backward: multiply the derivative 1/x by the incoming grad (chain rule)"

# Graded: the formula on inputs (x > 0) and incoming gradients drawn for each graded run.
rng = unseen_rng("test-log-backward")
shape = tuple(int(n) for n in rng.integers(2, 5, size=2))
(grad,) = log_backward(rng.standard_normal(shape), make_node("log", rng.uniform(0.2, 3.0, shape)))
observe("log_backward(grad, node of log(x))", grad)


# %% nbgrader={"grade": false, "grade_id": "impl-sqrt-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("sqrt")
def sqrt_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(sqrt a)/da = 1/(2 sqrt a), with ``sqrt a`` the output ``node.out``."""
    ### BEGIN SOLUTION
    return (grad / (2 * node.out),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-sqrt-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
x_val, g_val = np.array([0.5, 1.0, 4.0]), np.array([1.0, -1.0, 0.5])
(grad,) = sqrt_backward(np.ones(3), make_node("sqrt", x_val))
assert np.allclose(grad, 1 / (2 * np.sqrt(x_val))), "sqrt_backward: d(sqrt x)/dx = 1/(2 sqrt x) (mind the factor 2)"
(grad,) = sqrt_backward(g_val, make_node("sqrt", x_val))
assert np.allclose(grad, g_val / (2 * np.sqrt(x_val))), "sqrt_backward: multiply the derivative by the incoming grad (chain rule)"

# Graded: the formula on inputs (x > 0) and incoming gradients drawn for each graded run.
rng = unseen_rng("test-sqrt-backward")
shape = tuple(int(n) for n in rng.integers(2, 5, size=2))
(grad,) = sqrt_backward(rng.standard_normal(shape), make_node("sqrt", rng.uniform(0.2, 3.0, shape)))
observe("sqrt_backward(grad, node of sqrt(x))", grad)


# %% [markdown]
# ### Matrix multiplication
#
# For $C = AB$ with $A \in \mathbb{R}^{m\times k}$, $B \in \mathbb{R}^{k\times n}$, each $A_{ip}$
# meets row $p$ of $B$ in row $i$ of $C$, which gives
#
# $$\bar A = \bar C\, B^\top \quad (m\times k), \qquad \bar B = A^\top \bar C \quad (k\times n).$$
#
# Check the shapes: they are the only ones that fit. Each product costs $2mkn$ FLOPs, so the
# backward pass of a matmul costs up to twice its forward: one product for each operand
# that needs a gradient (the data batch of a first layer needs none). With batch dimensions the same
# formulas hold on the last two axes (`np.swapaxes(x, -1, -2)` transposes them), and the
# engine's `unbroadcast` sums the gradient of a broadcast operand (e.g. shared weights) over
# the batch. A 1-D operand is a vector: treat `a` of shape `(k,)` as `(1, k)` and `b` of
# shape `(k,)` as `(k, 1)`, then remove that dimension from its gradient again.

# %% nbgrader={"grade": false, "grade_id": "impl-matmul-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("matmul")
def matmul_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None]:
    """d(A@B)/dA and d(A@B)/dB: ``grad @ B^T`` and ``A^T @ grad``, on the last two axes.

    1-D operands are vectors. Returns ``grad_a`` with ``a``'s shape up to batch broadcasting
    (the engine sums the batch), and likewise ``grad_b``; None for an input that does not
    require grad (each of the two products costs as much as the forward matmul).
    Hint: promote 1-D operands to matrices, put the removed dimension back into ``grad``
    with ``np.expand_dims``, apply the two formulas, then drop the added dimension.
    """
    ### BEGIN SOLUTION
    a, b = node.inputs[0].data, node.inputs[1].data
    a_mat = a[np.newaxis, :] if a.ndim == 1 else a  # (k,) as a row (1, k)
    b_mat = b[:, np.newaxis] if b.ndim == 1 else b  # (k,) as a column (k, 1)
    grad_mat = np.expand_dims(grad, -1) if b.ndim == 1 else grad  # the column's axis, then the row's
    grad_mat = np.expand_dims(grad_mat, -2) if a.ndim == 1 else grad_mat
    grad_a = grad_b = None
    if node.inputs[0].requires_grad:
        grad_a = grad_mat @ np.swapaxes(b_mat, -1, -2)
        if a.ndim == 1:
            grad_a = np.squeeze(grad_a, axis=-2)
    if node.inputs[1].requires_grad:
        grad_b = np.swapaxes(a_mat, -1, -2) @ grad_mat
        if b.ndim == 1:
            grad_b = np.squeeze(grad_b, axis=-1)
    return grad_a, grad_b
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-matmul-backward", "locked": true, "points": 3, "solution": false, "schema_version": 3}
rng = np.random.default_rng(0)
a_val, b_val, g_val = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
grad_a, grad_b = matmul_backward(g_val, make_node("matmul", a_val, b_val))
assert grad_a.shape == (3, 4) and grad_b.shape == (4, 2), (
    f"matmul_backward: gradients must have the shapes of a and b, (3, 4) and (4, 2), got {grad_a.shape} and {grad_b.shape}"
)
assert np.allclose(grad_a, g_val @ b_val.T), "matmul_backward: grad_a should be grad @ b.T"
assert np.allclose(grad_b, a_val.T @ g_val), "matmul_backward: grad_b should be a.T @ grad"
grad_a, grad_b = matmul_backward(g_val, make_node("matmul", a_val, b_val, requires_grad=(False, True)))
assert grad_a is None, "matmul_backward: return None for an input that does not require grad (here a): its product costs a matmul"
assert np.allclose(grad_b, a_val.T @ g_val), "matmul_backward: grad_b should be a.T @ grad, also when a needs none"
grad_a, grad_b = matmul_backward(g_val, make_node("matmul", a_val, b_val, requires_grad=(True, False)))
assert grad_b is None, "matmul_backward: return None for an input that does not require grad (here b)"
v_val, g_vec = rng.standard_normal(4), rng.standard_normal(3)
grad_a, grad_v = matmul_backward(g_vec, make_node("matmul", a_val, v_val))
assert grad_a.shape == (3, 4) and grad_v.shape == (4,), (
    f"matmul_backward: (3, 4) @ (4,) gives gradients of shapes (3, 4) and (4,), got {grad_a.shape} and {grad_v.shape}"
)
assert np.allclose(grad_a, np.outer(g_vec, v_val)) and np.allclose(grad_v, a_val.T @ g_vec), (
    "matmul_backward: for a @ v with a vector v, grad_a is the outer product of grad and v, grad_v is a.T @ grad"
)
g_row = np.array([1.0, -2.0])
grad_v, grad_b = matmul_backward(g_row, make_node("matmul", v_val, b_val))
assert grad_v.shape == (4,) and grad_b.shape == (4, 2), (
    f"matmul_backward: (4,) @ (4, 2) gives gradients of shapes (4,) and (4, 2), got {grad_v.shape} and {grad_b.shape}"
)
assert np.allclose(grad_v, b_val @ g_row) and np.allclose(grad_b, np.outer(v_val, g_row)), (
    "matmul_backward: for v @ b with a vector v, grad_v is b @ grad and grad_b is the outer product of v and grad"
)
grad_u, grad_v = matmul_backward(np.array(2.0), make_node("matmul", v_val, v_val[::-1]))
assert grad_u.shape == (4,) and grad_v.shape == (4,), "matmul_backward: (4,) @ (4,) gives a scalar and two gradients of shape (4,)"
assert np.allclose(grad_u, 2 * v_val[::-1]) and np.allclose(grad_v, 2 * v_val), "matmul_backward: for u @ v, grad_u = grad * v and grad_v = grad * u"
batch_a, g_batch = rng.standard_normal((5, 3, 4)), rng.standard_normal((5, 3, 2))
grad_a, grad_b = matmul_backward(g_batch, make_node("matmul", batch_a, b_val))
assert grad_a.shape == (5, 3, 4) and np.allclose(grad_a, g_batch @ b_val.T), (
    "matmul_backward: with a batch (5, 3, 4) @ (4, 2), grad_a is grad @ b.T for each matrix of the batch"
)
summed_b = grad_b.reshape(-1, 4, 2).sum(axis=0)  # one (4, 2) gradient, or one per batch element for the engine to sum
assert np.allclose(summed_b, np.einsum("bik,bij->kj", batch_a, g_batch)), (
    "matmul_backward: with a batch, grad_b is a.T @ grad for each matrix of the batch (transpose the last two axes)"
)

# Graded: every case above on matrices, vectors, batches and incoming gradients drawn for each graded run.
rng = unseen_rng("test-matmul-backward")
m, k, n, batch = (int(s) for s in rng.integers(2, 6, size=4))
a_val, b_val = rng.standard_normal((m, k)), rng.standard_normal((k, n))
u_val, v_val = rng.standard_normal(k), rng.standard_normal(k)
grad_a, grad_b = matmul_backward(rng.standard_normal((m, n)), make_node("matmul", a_val, b_val))
observe("matmul_backward (m, k) @ (k, n): grad_a", grad_a)
observe("matmul_backward (m, k) @ (k, n): grad_b", grad_b)
grad_a, grad_b = matmul_backward(rng.standard_normal((m, n)), make_node("matmul", a_val, b_val, requires_grad=(False, True)))
observe("matmul_backward, a needs no grad: grad_a is None", grad_a is None)
observe("matmul_backward, a needs no grad: grad_b", grad_b)
grad_a, grad_b = matmul_backward(rng.standard_normal((m, n)), make_node("matmul", a_val, b_val, requires_grad=(True, False)))
observe("matmul_backward, b needs no grad: grad_b is None", grad_b is None)
observe("matmul_backward, b needs no grad: grad_a", grad_a)
grad_a, grad_v = matmul_backward(rng.standard_normal(m), make_node("matmul", a_val, v_val))
observe("matmul_backward (m, k) @ (k,): grad_a", grad_a)
observe("matmul_backward (m, k) @ (k,): grad_v", grad_v)
grad_u, grad_b = matmul_backward(rng.standard_normal(n), make_node("matmul", u_val, b_val))
observe("matmul_backward (k,) @ (k, n): grad_u", grad_u)
observe("matmul_backward (k,) @ (k, n): grad_b", grad_b)
grad_u, grad_v = matmul_backward(np.array(rng.standard_normal()), make_node("matmul", u_val, v_val))
observe("matmul_backward (k,) @ (k,): grad_u", grad_u)
observe("matmul_backward (k,) @ (k,): grad_v", grad_v)
batch_a = rng.standard_normal((batch, m, k))
grad_a, grad_b = matmul_backward(rng.standard_normal((batch, m, n)), make_node("matmul", batch_a, b_val))
observe("matmul_backward (batch, m, k) @ (k, n): grad_a", grad_a)
observe("matmul_backward (batch, m, k) @ (k, n): grad_b summed over the batch", grad_b.reshape(-1, k, n).sum(axis=0))
batch_b = rng.standard_normal((batch, k, n))
grad_a, grad_b = matmul_backward(rng.standard_normal((batch, m, n)), make_node("matmul", batch_a, batch_b))
observe("matmul_backward (batch, m, k) @ (batch, k, n): grad_a", grad_a)
observe("matmul_backward (batch, m, k) @ (batch, k, n): grad_b", grad_b)


# %% [markdown]
# ### Reductions
#
# A sum copies its output gradient to every element that was summed: put back the reduced
# axes (if `keepdims` was False) with `np.expand_dims`, then broadcast it to the input
# shape (`np.broadcast_to`). A mean does the same and divides by the count $N$ of elements per output. A max
# sends the gradient only to the elements that were the maximum; where several elements
# tie, split it equally among them (as PyTorch's `amax` does), so the total is preserved.
#
# The reduced axes are `normalize_axes(node.attrs["axis"], x.ndim)` from Module 01. The two
# NumPy steps are given as helpers, because they run in every backward pass and NumPy's own
# functions spend more time in Python than in copying on a small tensor:
#
# - `restore_reduced_axes(array, node)` is `np.expand_dims(array, axes)` when `keepdims` was
#   False, and `array` itself otherwise (a cached reshape). Apply it to `grad`, and for the
#   max also to `node.out`.
# - `spread_to(array, shape)` is `np.broadcast_to(array, shape)`, as a new writable array.

# %%
#| export
def restore_reduced_axes(array: np.ndarray, node: Node) -> np.ndarray:
    """``array``, shaped like the output of the reduction ``node``, with its reduced axes
    put back as size 1: the shape ``keepdims=True`` gives, which broadcasts against the input."""
    if node.attrs.get("keepdims", False):
        return array
    x = node.inputs[0]
    return array.reshape(_kept_shape(x.shape, normalize_axes(node.attrs.get("axis"), x.ndim)))


@functools.lru_cache(maxsize=4096)
def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with every axis in ``axes`` set to 1."""
    return tuple(1 if i in axes else size for i, size in enumerate(shape))


def spread_to(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``np.broadcast_to(array, shape)`` as a new writable array: an allocation and one
    broadcasting copy, with less Python per call than ``np.broadcast_to``."""
    spread = np.empty(shape, dtype=array.dtype)
    spread[...] = array
    return spread


# %% nbgrader={"grade": false, "grade_id": "impl-sum-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("sum")
def sum_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(sum x)/dx_i = 1 for every summed x_i: the output gradient, spread over the summed axes.

    Returns an array of the input's shape ``node.inputs[0].shape``.
    Hint: ``grad`` has the output's shape; put the reduced axes back as size 1 (the shape
    ``keepdims=True`` gives), then broadcast it to the input's shape.
    If you are stuck: ``spread_to(restore_reduced_axes(grad, node), x.shape)``.
    """
    ### BEGIN SOLUTION
    return (spread_to(restore_reduced_axes(grad, node), node.inputs[0].shape),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-sum-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
x_val = np.arange(9.0).reshape(3, 3)
(grad,) = sum_backward(np.array([1.0, 2.0, 3.0]), make_node("sum", x_val, axis=1, keepdims=False))
assert np.array_equal(grad, [[1, 1, 1], [2, 2, 2], [3, 3, 3]]), (
    f"sum_backward over axis 1: every element of row i gets grad[i], got {grad.tolist()}; "
    "put the reduced axis back (restore_reduced_axes) before broadcasting, or grad lines up with the wrong axis"
)
x_val = np.arange(6.0).reshape(2, 3)
(grad,) = sum_backward(np.array([[1.0, 2.0, 3.0]]), make_node("sum", x_val, axis=0, keepdims=True))
assert np.array_equal(grad, [[1, 2, 3], [1, 2, 3]]), "sum_backward over axis 0 (keepdims): every element of column j gets grad[0, j]"
(grad,) = sum_backward(np.array(5.0), make_node("sum", x_val, axis=None, keepdims=False))
assert np.array_equal(grad, np.full((2, 3), 5.0)), "sum_backward over everything: every element gets the gradient"

# Graded: the formula on an input and incoming gradients drawn for each graded run.
rng = unseen_rng("test-sum-backward")
x_val = rng.standard_normal(tuple(int(n) for n in rng.integers(2, 5, size=3)))
for label, axis, keepdims in (
    ("axis=1", 1, False), ("axis=0, keepdims=True", 0, True), ("axis=None", None, False),
    ("axis=(0, 2)", (0, 2), False), ("axis=-1, keepdims=True", -1, True),
):
    node = make_node("sum", x_val, axis=axis, keepdims=keepdims)
    (grad,) = sum_backward(rng.standard_normal(node.out.shape), node)
    observe(f"sum_backward over {label}", grad)


# %% nbgrader={"grade": false, "grade_id": "impl-mean-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("mean")
def mean_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(mean x)/dx_i = 1/N for every averaged x_i, N the number of elements per output."""
    ### BEGIN SOLUTION
    x = node.inputs[0]
    count = math.prod(x.shape[axis] for axis in normalize_axes(node.attrs.get("axis"), x.ndim))
    return (spread_to(restore_reduced_axes(grad, node) / count, x.shape),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-mean-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
x_val = np.arange(6.0).reshape(2, 3)
(grad,) = mean_backward(np.array([[3.0], [6.0]]), make_node("mean", x_val, axis=1, keepdims=True))
assert np.allclose(grad, [[1, 1, 1], [2, 2, 2]]), (
    f"mean_backward over axis 1 (keepdims) of a (2, 3) input: grad[i] / 3 to each element, got {grad.tolist()}; "
    "N is the number of elements per output (3), not the input's size"
)
x_val = np.arange(9.0).reshape(3, 3)
(grad,) = mean_backward(np.array([3.0, 6.0, 9.0]), make_node("mean", x_val, axis=1, keepdims=False))
assert np.allclose(grad, [[1, 1, 1], [2, 2, 2], [3, 3, 3]]), (
    f"mean_backward over axis 1: every element of row i gets grad[i] / 3, got {grad.tolist()}; "
    "put the reduced axis back (restore_reduced_axes) before broadcasting, or grad lines up with the wrong axis"
)
x_val = np.arange(6.0).reshape(2, 3)
(grad,) = mean_backward(np.array([2.0, 4.0, 6.0]), make_node("mean", x_val, axis=0, keepdims=False))
assert np.allclose(grad, [[1, 2, 3], [1, 2, 3]]), "mean_backward over axis 0: grad[j] / 2 to each element of column j"
(grad,) = mean_backward(np.array(1.0), make_node("mean", x_val, axis=None, keepdims=False))
assert np.allclose(grad, np.full((2, 3), 1 / 6)), "mean_backward over everything: 1/N to each element"

# Graded: the formula on an input and incoming gradients drawn for each graded run.
rng = unseen_rng("test-mean-backward")
x_val = rng.standard_normal(tuple(int(n) for n in rng.integers(2, 5, size=3)))
for label, axis, keepdims in (
    ("axis=1", 1, False), ("axis=0, keepdims=True", 0, True), ("axis=None", None, False),
    ("axis=(0, 2)", (0, 2), False), ("axis=-1, keepdims=True", -1, True),
):
    node = make_node("mean", x_val, axis=axis, keepdims=keepdims)
    (grad,) = mean_backward(rng.standard_normal(node.out.shape), node)
    observe(f"mean_backward over {label}", grad)


# %% nbgrader={"grade": false, "grade_id": "impl-max-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("max")
def max_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(max x)/dx_i = 1 where x_i is the maximum, else 0; k tied maxima get 1/k each.

    Hint: compare ``x`` with the restored output to find the maxima, and count them with a
    sum over the reduced axes (``keepdims=True``).
    """
    ### BEGIN SOLUTION
    x = node.inputs[0].data
    axes = normalize_axes(node.attrs.get("axis"), x.ndim)
    is_max = x == restore_reduced_axes(node.out, node)
    ties = is_max.sum(axis=axes, keepdims=True)
    return (restore_reduced_axes(grad, node) * is_max / ties,)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-max-backward", "locked": true, "points": 2, "solution": false, "schema_version": 3}
x_val = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0], [4.0, 8.0, 6.0]])
(grad,) = max_backward(np.array([1.0, 2.0, 3.0]), make_node("max", x_val, axis=1, keepdims=False))
assert np.array_equal(grad, [[0, 1, 0], [2, 0, 0], [0, 3, 0]]), (
    f"max_backward over axis 1: only the maximal element of row i gets grad[i], got {grad.tolist()}"
)
x_val = np.arange(6.0).reshape(2, 3)
(grad,) = max_backward(np.array([[1.0, 2.0, 3.0]]), make_node("max", x_val, axis=0, keepdims=True))
assert np.array_equal(grad, [[0, 0, 0], [1, 2, 3]]), "max_backward over axis 0 (keepdims): the larger row gets it"
tied = np.array([[2.0, 2.0, 1.0]])
(grad,) = max_backward(np.array(1.0), make_node("max", tied, axis=None, keepdims=False))
assert np.allclose(grad, [[0.5, 0.5, 0.0]]), f"max_backward: tied maxima share the gradient equally (1/k each), got {grad.tolist()}"

# Graded: the formula on inputs (with and without ties) and incoming gradients drawn for each graded run.
rng = unseen_rng("test-max-backward")
shape = tuple(int(n) for n in rng.integers(2, 5, size=3))
for label, x_val in (("distinct values", rng.standard_normal(shape)), ("small integers, with ties", rng.integers(0, 3, shape) * 1.0)):
    for axes_label, axis, keepdims in (("axis=1", 1, False), ("axis=0, keepdims=True", 0, True), ("axis=None", None, False),
                                       ("axis=(0, 2)", (0, 2), False)):
        node = make_node("max", x_val, axis=axis, keepdims=keepdims)
        (grad,) = max_backward(rng.standard_normal(node.out.shape), node)
        observe(f"max_backward of {label} over {axes_label}", grad)


# %% [markdown]
# ### Shape operations
#
# These move elements around without changing them, so the gradient moves back the same
# way: `reshape` reshapes the gradient to the input's shape; `permute` applies the
# **inverse** permutation (`np.argsort(axes)`); indexing scatters the gradient into a zero
# array of the input's shape at the indexed positions. Use `np.add.at` for the scatter, not
# `zeros[index] = grad`: with an index like `[0, 0, 1]` the same element is picked twice,
# and its gradient must be the sum of both contributions.

# %% nbgrader={"grade": false, "grade_id": "impl-reshape-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("reshape")
def reshape_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """y = x.reshape(shape) moves no value: the gradient is ``grad`` reshaped to x's shape."""
    ### BEGIN SOLUTION
    return (grad.reshape(node.inputs[0].shape),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-reshape-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
x_val = np.arange(24.0).reshape(2, 3, 4)
(grad,) = reshape_backward(np.arange(24.0).reshape(6, 4), make_node("reshape", x_val, shape=(6, 4)))
assert grad.shape == (2, 3, 4), f"reshape_backward must return the input's shape (2, 3, 4), not the output's, got {grad.shape}"
assert np.array_equal(grad, x_val), "reshape_backward: element i of the gradient stays element i"

# Graded: the formula on shapes and incoming gradients drawn for each graded run.
rng = unseen_rng("test-reshape-backward")
d0, d1, d2 = (int(n) for n in rng.integers(2, 5, size=3))
x_val = rng.standard_normal((d0, d1, d2))
for label, shape in (("(d0 * d1, d2)", (d0 * d1, d2)), ("(-1,)", (-1,)), ("(d2, -1)", (d2, -1))):
    node = make_node("reshape", x_val, shape=shape)
    (grad,) = reshape_backward(rng.standard_normal(node.out.shape), node)
    observe(f"reshape_backward of (d0, d1, d2) reshaped to {label}", grad)


# %% nbgrader={"grade": false, "grade_id": "impl-permute-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("permute")
def permute_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """y = x.permute(*axes): ``grad`` permuted back by the inverse permutation of ``node.attrs["axes"]``."""
    ### BEGIN SOLUTION
    return (np.transpose(grad, np.argsort(node.attrs["axes"])),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-permute-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
x_val = np.arange(24.0).reshape(2, 3, 4)
(grad,) = permute_backward(np.transpose(x_val, (2, 0, 1)), make_node("permute", x_val, axes=(2, 0, 1)))
assert grad.shape == (2, 3, 4), (
    f"permute_backward must return the input's shape (2, 3, 4), got {grad.shape}: apply the inverse permutation, not axes again"
)
assert np.array_equal(grad, x_val), "permute_backward should apply the inverse permutation (np.argsort(axes))"

# Graded: the formula on permutations, shapes and incoming gradients drawn for each graded run.
rng = unseen_rng("test-permute-backward")
for ndim in (3, 4):
    x_val = rng.standard_normal(tuple(int(n) for n in rng.integers(2, 5, size=ndim)))
    node = make_node("permute", x_val, axes=tuple(int(i) for i in rng.permutation(ndim)))
    (grad,) = permute_backward(rng.standard_normal(node.out.shape), node)
    observe(f"permute_backward of a {ndim}-d input", grad)


# %% nbgrader={"grade": false, "grade_id": "impl-getitem-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("getitem")
def getitem_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """y = x[index]: ``grad`` scattered into zeros of x's shape, summed where the index repeats."""
    ### BEGIN SOLUTION
    scattered = np.zeros_like(node.inputs[0].data)
    np.add.at(scattered, node.attrs["index"], grad)
    return (scattered,)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-getitem-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
row = np.array([1.0, 2.0, 3.0])
(grad,) = getitem_backward(np.array([1.0, 1.0, 1.0]), make_node("getitem", row, index=np.array([0, 0, 2])))
assert np.array_equal(grad, [2, 0, 1]), (
    f"getitem_backward of x[[0, 0, 2]]: an element picked twice gets both gradients (use np.add.at), got {grad.tolist()}"
)
matrix = np.arange(6.0).reshape(2, 3)
(grad,) = getitem_backward(np.array([5.0, 7.0]), make_node("getitem", matrix, index=(slice(None), 1)))
assert np.array_equal(grad, [[0, 5, 0], [0, 7, 0]]), "getitem_backward of x[:, 1]: column 1 gets the gradient, the rest 0"

# Graded: the formula on indices (with repeats) and incoming gradients drawn for each graded run.
rng = unseen_rng("test-getitem-backward")
rows, cols = (int(n) for n in rng.integers(3, 6, size=2))
vector, matrix = rng.standard_normal(rows), rng.standard_normal((rows, cols))
picks = rng.integers(0, rows, size=rows + 2)  # more picks than elements: some repeat
for label, x_val, index in (
    ("x[picks], picks with repeats", vector, picks),
    ("x[:, j]", matrix, (slice(None), int(rng.integers(cols)))),
    ("x[1:, picks]", matrix, (slice(1, None), rng.integers(0, cols, size=4))),
    ("x[rows, cols], pairs with repeats", matrix, (picks, rng.integers(0, cols, size=picks.size))),
    ("x[mask]", matrix, matrix > 0),
):
    node = make_node("getitem", x_val, index=index)
    (grad,) = getitem_backward(rng.standard_normal(node.out.shape), node)
    observe(f"getitem_backward of {label}", grad)


# %% [markdown]
# ## 4. The engine
#
# ### Topological order
# The gradient of a tensor is complete only after **every** node that used it has sent its
# contribution. In a diamond graph
#
# ```
#        ┌─► b = a * 2 ─┐
#   a ───┤              ├─► d = b + c
#        └─► c = a + 1 ─┘
# ```
#
# `a` must wait for both `b` and `c`. A topological order lists every tensor after all the
# tensors it was computed from; walking it **backwards** processes each tensor after all of
# its consumers. A depth-first search gives this order: a tensor is appended once all of
# its inputs have been appended. Real graphs are thousands of nodes deep (a GPT forward
# pass), deeper than Python's recursion limit of 1000, so write the search with an explicit
# stack instead of recursion. Only tensors that require gradients need visiting.

# %% nbgrader={"grade": false, "grade_id": "impl-topological-order", "locked": false, "solution": true, "schema_version": 3}
#| export
def topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor ``root`` depends on (requiring grad), each after all of its inputs; ``root`` last.

    Each tensor appears once, even when it is used several times.
    Hint: a stack of ``(tensor, inputs_done)`` pairs and a set of visited ``id``s; push a
    tensor back with ``inputs_done=True`` before pushing its inputs.
    """
    ### BEGIN SOLUTION
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor.grad_fn is not None:
            for parent in tensor.grad_fn.inputs:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-topological-order", "locked": true, "points": 2, "solution": false, "schema_version": 3}
from tinytorch.tensor import dispatch, observe, register_kernel, unseen_rng

a = Tensor([1.0, 2.0], requires_grad=True)
b = a * 2
c = a + 1
d = b + c
order = topological_order(d)
position = {id(t): i for i, t in enumerate(order)}
assert len(order) == 4, (
    f"topological_order of the diamond should list a, b, c, d once each, got {len(order)} tensors "
    "(only tensors that require grad, each once)"
)
assert order[-1] is d, "topological_order: the root comes last (each tensor after its inputs, not before)"
assert position[id(a)] < position[id(b)] and position[id(a)] < position[id(c)], "topological_order: a must come before b and c"
deep = Tensor([1.0], requires_grad=True)
chain = deep
for _ in range(3000):
    chain = chain + 1
assert len(topological_order(chain)) == 3001, "topological_order must handle graphs deeper than the recursion limit"

# Graded: random graphs drawn for each graded run, built with an op of this test (its formula is never called).
register_kernel("topological_test_add", np.add)
register_gradient("topological_test_add", lambda grad, node: (grad, grad))
rng = unseen_rng("test-topological-order")
tensors = [Tensor(rng.standard_normal(2), requires_grad=bool(i == 0 or rng.random() < 0.6)) for i in range(4)]
for _ in range(int(rng.integers(6, 12))):
    i, j = (int(t) for t in rng.integers(0, len(tensors), size=2))  # i == j uses a tensor twice
    tensors.append(dispatch("topological_test_add", tensors[i], tensors[j]))
root = dispatch("topological_test_add", tensors[-1], tensors[0])
tensors.append(root)
order = topological_order(root)
number = {id(t): i for i, t in enumerate(tensors)}
position = {id(t): i for i, t in enumerate(order)}
observe("topological_order of a random graph: how many tensors", len(order))
observe("topological_order of a random graph: which tensors", sorted(number.get(id(t), -1) for t in order))
observe("topological_order of a random graph: the root is last", order[-1] is root)
observe("topological_order of a random graph: every tensor after its inputs that require grad", all(
    position.get(id(parent), len(order)) < position[id(t)]
    for t in order if t.grad_fn is not None for parent in t.grad_fn.inputs if parent.requires_grad
))
chain = deep = Tensor([1.0], requires_grad=True)
for _ in range(int(rng.integers(1500, 3000))):
    chain = dispatch("topological_test_add", chain, deep)
observe("topological_order of a deep chain: how many tensors", len(topological_order(chain)))


# %% [markdown]
# ### `run_backward`
#
# 1. Check the root requires gradients (else there is no graph to walk: raise a
#    `RuntimeError` whose message says to set `requires_grad=True` on the leaves).
# 2. The starting gradient is 1 for a one-element root. Any other root needs an explicit
#    `gradient`, as in PyTorch: without one, raise a `RuntimeError` that names the root's
#    shape. The `gradient` may be a Tensor, a NumPy array or a nested list (convert the
#    last two with `as_array(gradient, root.dtype)`); if its shape differs from the root's,
#    raise a `ShapeError` naming both shapes, before any `.grad` is touched.
# 3. Walk `topological_order(root)` backwards, keeping a dict `id(tensor) -> gradient`. For a
#    tensor with a `grad_fn`, call its formula and add each input's gradient, after
#    `unbroadcast`, into the dict; **add**, because a tensor used twice receives two
#    contributions. A formula must return exactly one gradient (or None) per input: if it
#    returns more or fewer, raise a `ValueError` rather than silently dropping some
#    (`zip` with `strict=True` raises that `ValueError` for you).
# 4. Only leaves (tensors without a `grad_fn`) get `.grad`, and they **accumulate** into it
#    (a new Tensor of the leaf's dtype if `.grad` is None, else the sum): PyTorch
#    accumulates across `backward()` calls, which is why optimizers call `zero_grad()`.
#    Store a copy in `.grad`, never an array that another tensor's gradient also uses.

# %% nbgrader={"grade": false, "grade_id": "impl-run-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
def run_backward(root: Tensor, gradient: Tensor | np.ndarray | Sequence[Any] | None = None) -> None:
    """Accumulate d(root)/d(leaf), weighted by ``gradient``, into ``leaf.grad`` for every leaf.

    Raises ``RuntimeError`` if ``root`` does not require grad, ``RuntimeError`` naming the
    shape if ``gradient`` is missing for a root with more than one element, ``ShapeError``
    naming both shapes if ``gradient`` has the wrong shape, and ``ValueError`` if a formula
    returns a different number of gradients than its node has inputs.
    Hint: ``GRADIENTS[node.op](grad, node)`` gives one gradient (or None) per input.
    """
    ### BEGIN SOLUTION
    if not root.requires_grad:
        raise RuntimeError(
            "backward() called on a tensor that does not require grad: create the leaf "
            "tensors with requires_grad=True, and do not compute the loss under no_grad()"
        )
    if gradient is None:
        if root.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a tensor with one element, this one has "
                f"shape {root.shape}; reduce it (e.g. .sum()) or pass gradient= of that shape"
            )
        seed = np.ones_like(root.data)
    else:
        seed = gradient.data if isinstance(gradient, Tensor) else as_array(gradient, root.dtype)
        if seed.shape != root.shape:
            raise ShapeError(f"backward(): gradient has shape {seed.shape}, but the tensor has shape {root.shape}")
    grads: dict[int, np.ndarray] = {id(root): seed}
    for tensor in reversed(topological_order(root)):
        grad = grads.pop(id(tensor), None)
        if grad is None:
            continue
        node = tensor.grad_fn
        if node is None:
            if tensor.grad is None:
                tensor.grad = Tensor._wrap(np.array(grad, dtype=tensor.dtype))
            else:
                tensor.grad = Tensor._wrap(tensor.grad.data + grad.astype(tensor.dtype, copy=False))
            continue
        # strict: a formula that returns the wrong number of gradients is a bug (ValueError), not a skip
        for parent, parent_grad in zip(node.inputs, GRADIENTS[node.op](grad, node), strict=True):
            if parent_grad is None or not parent.requires_grad:
                continue
            if parent_grad.shape != parent.data.shape:
                parent_grad = unbroadcast(parent_grad, parent.shape)
            key = id(parent)
            grads[key] = grads[key] + parent_grad if key in grads else parent_grad
    ### END SOLUTION


# %%
#| export
set_backward_engine(run_backward)

# %% [markdown]
# The test of `run_backward` runs it on ops whose kernels and formulas are written in the
# test itself, so it checks the engine alone: a mistake in one of your formulas above fails
# that formula's test, not this one.

# %% nbgrader={"grade": true, "grade_id": "test-run-backward", "locked": true, "points": 3, "solution": false, "schema_version": 3}
from tinytorch.tensor import dispatch, error_name, observe, register_kernel, unseen_rng

register_kernel("engine_test_mul", np.multiply)
register_gradient("engine_test_mul", lambda grad, node: (grad * node.inputs[1].data, grad * node.inputs[0].data))
register_kernel("engine_test_add", np.add)
register_gradient("engine_test_add", lambda grad, node: (grad, grad))
register_kernel("engine_test_sum", np.sum)
register_gradient("engine_test_sum", lambda grad, node: (np.full(node.inputs[0].shape, grad),))
register_kernel("engine_test_short", np.multiply)
register_gradient("engine_test_short", lambda grad, node: (grad * node.inputs[1].data,))  # one gradient for two inputs
mul = lambda a, b: dispatch("engine_test_mul", a, b)  # noqa: E731
add = lambda a, b: dispatch("engine_test_add", a, b)  # noqa: E731
total = lambda a: dispatch("engine_test_sum", a)  # noqa: E731

x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
w = Tensor([0.5, -1.0, 2.0], requires_grad=True)
total(mul(x, w)).backward()
assert x.grad is not None and np.allclose(x.grad.numpy(), w.numpy()), "run_backward: d(sum(x*w))/dx should be w"
assert np.allclose(w.grad.numpy(), x.numpy()), "run_backward: d(sum(x*w))/dw should be x"
assert x.grad.dtype == np.float32, "run_backward: .grad should have the leaf's dtype (float32)"

a = Tensor([3.0], requires_grad=True)
two = Tensor([2.0])
d = add(mul(a, two), mul(a, a))  # diamond: a is used three times
d.backward()
assert np.allclose(a.grad.numpy(), [2 + 2 * 3.0]), (
    f"run_backward: a tensor used several times must sum all contributions (add into the dict, do not overwrite): "
    f"d(2a + a*a)/da at a = 3 is 8, got {a.grad.numpy()}"
)
assert d.grad is None and d.grad_fn is not None, "run_backward: only leaves get .grad"
add(mul(a, two), mul(a, a)).backward()
assert np.allclose(a.grad.numpy(), [16.0]), f"run_backward: gradients accumulate across backward() calls (8 + 8), got {a.grad.numpy()}"

bias = Tensor([1.0, 2.0], requires_grad=True)
total(add(Tensor(np.ones((4, 2))), bias)).backward()
assert bias.grad.shape == (2,), f"run_backward: a broadcast bias of shape (2,) needs a gradient of shape (2,), got {bias.grad.shape}"
assert np.allclose(bias.grad.numpy(), unbroadcast(np.ones((4, 2)), (2,))), "run_backward: a broadcast input's gradient goes through unbroadcast"

u, v = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
total(add(u, v)).backward()  # add's formula hands the same array to u and v
assert not np.shares_memory(u.grad.data, v.grad.data), "run_backward: store a copy in .grad; u.grad and v.grad share one array"

y = Tensor([1.0, 2.0], requires_grad=True)
mul(y, Tensor([3.0, 3.0])).backward(Tensor([1.0, 10.0]))
assert np.allclose(y.grad.numpy(), [3.0, 30.0]), "run_backward(gradient): the gradient weights each output"
mul(y, Tensor([3.0, 3.0])).backward([1.0, 1.0])
assert np.allclose(y.grad.numpy(), [6.0, 33.0]), "run_backward(gradient): a list is accepted as the gradient"
fresh = Tensor([1.0, 2.0], requires_grad=True)
mul(fresh, Tensor([3.0, 3.0])).backward(Tensor([1.0, 1.0], dtype=np.float64))
assert fresh.grad.dtype == np.float32, (
    f"run_backward: .grad should have the leaf's dtype (float32), also when the gradient flowing in is float64, got {fresh.grad.dtype}"
)

expect_error(RuntimeError, lambda: Tensor([1.0]).backward(), "requires_grad",
             what="backward() on a tensor that does not require grad")
expect_error(RuntimeError, lambda: mul(Tensor(np.ones((2, 3)), requires_grad=True), Tensor(2.0)).backward(), "(2, 3)",
             what="backward() without gradient= on a tensor of shape (2, 3)")
z = Tensor(np.ones((2, 3)), requires_grad=True)
expect_error(ShapeError, lambda: mul(z, Tensor(2.0)).backward(Tensor(np.ones((3, 2)))), "(2, 3)", "(3, 2)",
             what="backward(gradient of shape (3, 2)) on a tensor of shape (2, 3)")
assert z.grad is None, "run_backward: a rejected backward() must not touch .grad"
expect_error(ValueError, lambda: total(dispatch("engine_test_short", x, w)).backward(),
             what="backward() through a formula that returns 1 gradient for 2 inputs")

# Graded: the same graphs on values, shapes and gradients drawn for each graded run.
rng = unseen_rng("test-run-backward")
n, rows = (int(s) for s in rng.integers(2, 6, size=2))
x, w = Tensor(rng.standard_normal(n), requires_grad=True), Tensor(rng.standard_normal(n), requires_grad=True)
total(mul(x, w)).backward()
observe("run_backward of sum(x * w): x.grad", x.grad.data, atol=1e-5)
observe("run_backward of sum(x * w): w.grad", w.grad.data, atol=1e-5)
a, c = Tensor(rng.standard_normal(n), requires_grad=True), Tensor(rng.standard_normal(n))
inner = mul(a, c)
d = total(add(inner, mul(add(a, c), a)))  # a is used three times
d.backward()
observe("run_backward, a used three times: a.grad", a.grad.data, atol=1e-5)
observe("run_backward: the root and an inner tensor get no .grad", [d.grad is None, inner.grad is None])
total(add(mul(a, c), mul(add(a, c), a))).backward()
observe("run_backward, a second backward(): a.grad accumulated", a.grad.data, atol=1e-5)
h, bias = Tensor(rng.standard_normal((rows, n))), Tensor(rng.standard_normal(n), requires_grad=True)
total(mul(add(h, bias), h)).backward()
observe("run_backward, a bias broadcast over rows: bias.grad", bias.grad.data, atol=1e-5)
u, v = Tensor(rng.standard_normal(n), requires_grad=True), Tensor(rng.standard_normal(n), requires_grad=True)
total(add(u, v)).backward()
observe("run_backward of sum(u + v): u.grad and v.grad share memory", bool(np.shares_memory(u.grad.data, v.grad.data)))
y, k = Tensor(rng.standard_normal((rows, n)), requires_grad=True), Tensor(rng.standard_normal((rows, n)))
weights = rng.standard_normal((rows, n))
mul(y, k).backward(Tensor(weights))
observe("run_backward(gradient=a Tensor): y.grad", y.grad.data, atol=1e-5)
mul(y, k).backward(weights.tolist())
observe("run_backward(gradient=a list), accumulated: y.grad", y.grad.data, atol=1e-5)
fresh = Tensor(rng.standard_normal((rows, n)), requires_grad=True)
mul(fresh, k).backward(Tensor(weights, dtype=np.float64))
observe("run_backward(gradient=a float64 Tensor) into a new float32 leaf: .grad", fresh.grad.data, atol=1e-5)
mul(fresh, k).backward(Tensor(weights, dtype=np.float64))
observe("run_backward(gradient=a float64 Tensor), accumulated into a float32 leaf: .grad", fresh.grad.data, atol=1e-5)
y64 = Tensor(rng.standard_normal(n), dtype=np.float64, requires_grad=True)
total(mul(y64, Tensor(rng.standard_normal(n), dtype=np.float64))).backward()
observe("run_backward into a float64 leaf: y64.grad", y64.grad.data)
with no_grad():
    frozen = total(mul(x, w))
observe("backward() of a result computed under no_grad raises", error_name(lambda: frozen.backward()))
observe("backward() without gradient= on a tensor of shape (rows, n) raises", error_name(lambda: mul(y, k).backward()))
z = Tensor(rng.standard_normal((rows, n)), requires_grad=True)
observe("backward(gradient of shape (rows, n + 1)) raises", error_name(lambda: mul(z, k).backward(rng.standard_normal((rows, n + 1)))))
observe("a rejected backward() leaves z.grad None", z.grad is None)
observe("backward() through a formula returning 1 gradient for 2 inputs raises",
        error_name(lambda: total(dispatch("engine_test_short", x, w)).backward()))

# %% [markdown]
# ### `no_grad` and `detach`
# Under `no_grad()` no graph is recorded, and `detach()` (Module 01) cuts a tensor off the
# graph. Both give tensors with `requires_grad=False`.

# %%
w = Tensor([1.0, 2.0], requires_grad=True)
with no_grad():
    frozen = w * 2
assert not frozen.requires_grad and frozen.grad_fn is None
assert not (w.detach() * 2).requires_grad
print("no_grad and detach record nothing:", frozen, (w.detach() * 2))


# %% [markdown]
# ## 5. Checking gradients numerically
#
# Every backward formula can be checked against the definition of the derivative. The
# **central difference**
#
# $$\frac{\partial f}{\partial x_i} \approx \frac{f(x + \varepsilon e_i) - f(x - \varepsilon e_i)}{2\varepsilon}$$
#
# has error $O(\varepsilon^2)$. Two rules make it reliable: compute in **float64** (with
# float32's 7 digits, the subtraction of two nearly equal numbers loses almost everything),
# and reduce a non-scalar output to a scalar with a fixed **random weighting** $v$,
# $f = \sum_j v_j\, \text{fn}(x)_j$, so every output element counts and errors cannot cancel.
#
# `gradcheck(fn, inputs)` does this for every element of every input that requires
# gradients and compares with what `backward()` computes: the analytic gradient of
# $\sum_j v_j\, \text{fn}(x)_j$ is `fn(*inputs).backward(v)`, one backward pass with the
# weights as the starting gradient. Like `torch.autograd.gradcheck` it returns True or
# raises, here a `GradcheckError` whose message says `input i` (its position in `inputs`),
# the element and both values. The rules of the contract:
#
# - it works on float64 copies and leaves the caller's tensors as they were (data, dtype,
#   `requires_grad`, and `.grad` still None);
# - inputs without `requires_grad` are held constant; integer inputs (indices, class labels)
#   keep their dtype, since a float index cannot index;
# - with no input that requires grad there is nothing to check: raise `ValueError`.
#
# You will reuse it for every new operation in this course. It costs two forward passes
# per input element, so use it on small inputs.

# %%
#| export
class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the finite-difference estimate."""


# %% nbgrader={"grade": false, "grade_id": "impl-gradcheck", "locked": false, "solution": true, "schema_version": 3}
#| export
def gradcheck(
    fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
) -> bool:
    """Compare ``backward()`` gradients of ``fn(*inputs)`` with central differences in float64.

    Inputs with ``requires_grad`` are checked; the others are held constant, and integer
    inputs keep their dtype. The caller's tensors are not modified (float64 copies are used).
    Returns True, or raises ``GradcheckError`` naming ``input i``; ``ValueError`` if no input
    requires grad.
    Hint: make float64 copies, draw weights ``v`` with ``np.random.default_rng(0)``, run
    ``fn(*copies).backward(v)``, then perturb one element at a time under ``no_grad()``.
    """
    ### BEGIN SOLUTION
    copies = [  # float64 for accuracy; integer inputs (indices, labels) keep their dtype
        Tensor(t.data, dtype=np.float64 if t.dtype.kind == "f" else t.dtype, requires_grad=t.requires_grad)
        for t in inputs
    ]
    if not any(t.requires_grad for t in copies):
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    weights = np.random.default_rng(0).standard_normal(fn(*copies).shape)

    def weighted_output() -> float:
        with no_grad():
            return float(np.sum(fn(*copies).data * weights))

    fn(*copies).backward(Tensor(weights, dtype=np.float64))  # the gradient of sum(weights * fn)
    for position, tensor in enumerate(copies):
        if not tensor.requires_grad:
            continue
        analytic = tensor.grad.data if tensor.grad is not None else np.zeros_like(tensor.data)
        numeric = np.zeros_like(tensor.data)
        for index in np.ndindex(tensor.shape):
            original = tensor.data[index]
            tensor.data[index] = original + eps
            plus = weighted_output()
            tensor.data[index] = original - eps
            minus = weighted_output()
            tensor.data[index] = original
            numeric[index] = (plus - minus) / (2 * eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            worst = np.unravel_index(np.argmax(np.abs(analytic - numeric)), tensor.shape)
            raise GradcheckError(
                f"gradcheck: input {position} (shape {tensor.shape}), element {tuple(int(i) for i in worst)}: "
                f"backward gives {analytic[worst]:.6g}, finite differences give {numeric[worst]:.6g}"
            )
    return True
    ### END SOLUTION


# %% [markdown]
# The test of `gradcheck` uses ops defined in the test itself, one with a correct formula
# and some with wrong ones, so it checks `gradcheck` alone: your formulas above are not
# involved (only the engine, through `backward()`).

# %% nbgrader={"grade": true, "grade_id": "test-gradcheck", "locked": true, "points": 3, "solution": false, "schema_version": 3}
from tinytorch.tensor import dispatch, error_name, observe, register_kernel, unseen_rng

register_kernel("gradcheck_test_square", np.square)
register_gradient("gradcheck_test_square", lambda grad, node: (2 * grad * node.inputs[0].data,))  # d(x^2)/dx = 2x
register_kernel("gradcheck_test_wrong_square", np.square)
register_gradient("gradcheck_test_wrong_square", lambda grad, node: (grad * node.inputs[0].data,))  # wrong: x, not 2x
register_kernel("gradcheck_test_mul", np.multiply)
register_gradient("gradcheck_test_mul", lambda grad, node: (grad * node.inputs[1].data, grad * node.inputs[0].data))
register_kernel("gradcheck_test_wrong_mul", np.multiply)  # right for input 0, doubled for input 1
register_gradient("gradcheck_test_wrong_mul", lambda grad, node: (grad * node.inputs[1].data, 2 * grad * node.inputs[0].data))
register_kernel("gradcheck_test_take", lambda table, rows: table[rows])  # rows: an integer input
register_gradient("gradcheck_test_take", lambda grad, node: (np.eye(len(node.inputs[0].data))[node.inputs[1].data].T @ grad, None))
square = lambda x: dispatch("gradcheck_test_square", x)  # noqa: E731
product = lambda x, w: dispatch("gradcheck_test_mul", x, w)  # noqa: E731
wrong_product = lambda x, w: dispatch("gradcheck_test_wrong_mul", x, w)  # noqa: E731
take = lambda t, r: dispatch("gradcheck_test_take", t, r)  # noqa: E731

rng = np.random.default_rng(3)
x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
w = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
constant = Tensor(w.numpy())
expect_error(ValueError, lambda: gradcheck(square, [constant]), what="gradcheck with no input that requires grad")
for name, fn, inputs in (("x^2, d/dx = 2x", square, [x]), ("x * w", product, [x, w])):
    outcome = error_name(lambda: gradcheck(fn, inputs))
    assert outcome == "nothing", (
        f"gradcheck of a correct formula ({name}) raised {outcome}; it should return True. Does it compute in float64 "
        "copies (float32 loses the small differences) and use central differences (f(x + eps) - f(x - eps)) / (2 eps)?"
    )
assert gradcheck(square, [x]) is True, "gradcheck should return True for a correct formula"
assert x.grad is None and x.dtype == np.float32 and x.requires_grad, "gradcheck must not touch the caller's tensors"
expect_error(GradcheckError, lambda: gradcheck(lambda x: dispatch("gradcheck_test_wrong_square", x), [x]), "input 0",
             what="gradcheck of a formula that gives x instead of 2x for x^2")
expect_error(GradcheckError, lambda: gradcheck(wrong_product, [x, w]), "input 1",
             what="gradcheck of a product whose gradient for input 1 is doubled")
outcome = error_name(lambda: gradcheck(wrong_product, [x, constant]))
assert outcome == "nothing", (
    f"gradcheck raised {outcome}: an input without requires_grad is held constant, so its (wrong) gradient is not checked"
)
rows = Tensor([2, 0], dtype=np.int64)
outcome = error_name(lambda: gradcheck(take, [x, rows]))
assert outcome == "nothing", f"gradcheck raised {outcome}: an integer input (here row indices) must keep its dtype"

# Graded: products whose gradients are right, wrong for one input, or off by far less than the
# tolerance, on values, shapes and flags drawn for each graded run.
register_kernel("gradcheck_test_scaled_mul", lambda a, b, scales: a * b)
register_gradient("gradcheck_test_scaled_mul", lambda grad, node: (
    grad * node.inputs[1].data * node.attrs["scales"][0], grad * node.inputs[0].data * node.attrs["scales"][1],
))
rng = unseen_rng("test-gradcheck")
callers = []
for case in range(6):
    shape = tuple(int(s) for s in rng.integers(2, 4, size=2))
    x = Tensor(rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape), requires_grad=True)
    w = Tensor(rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape), requires_grad=bool(rng.random() < 0.7))
    scales = [1.0, 1.0]
    wrong = int(rng.integers(0, 3))  # 2: neither input's gradient is scaled
    if wrong < 2:
        scales[wrong] = float(rng.choice([2.0, 0.5, -1.0, 1.0 + 1e-7]))
    scaled = lambda a, b: dispatch("gradcheck_test_scaled_mul", a, b, scales=tuple(scales))  # noqa: E731
    outcome = error_name(lambda: gradcheck(scaled, [x, w]))
    observe(f"gradcheck, product {case}: what it raises", outcome)
    if outcome == "GradcheckError":
        message = str(expect_error(GradcheckError, lambda: gradcheck(scaled, [x, w]), what="gradcheck"))
        observe(f"gradcheck, product {case}: its message names input 0, input 1", [f"input {i}" in message for i in range(2)])
    callers.append((x, w))
observe("gradcheck leaves the callers' inputs as they were", np.concatenate([t.data.ravel() for pair in callers for t in pair]))
observe("gradcheck leaves the callers' .grad None and requires_grad as it was",
        [flag for x, w in callers for flag in (x.grad is None, w.grad is None, x.requires_grad, w.requires_grad)])
register_kernel("gradcheck_test_abs", np.abs)
register_gradient("gradcheck_test_abs", lambda grad, node: (grad,))  # right for x > 0 only: d|x|/dx = sign(x)
for case in range(2):
    signs = np.where(rng.random((2, 2)) < 0.2, -1.0, 1.0)  # a negative element makes the formula wrong
    x = Tensor(rng.uniform(0.5, 2.0, (2, 2)) * signs, requires_grad=True)
    observe(f"gradcheck, |x| with the gradient 1, case {case}: what it raises",
            error_name(lambda: gradcheck(lambda x: dispatch("gradcheck_test_abs", x), [x])))
table = Tensor(rng.standard_normal((int(rng.integers(3, 6)), 2)), requires_grad=True)
picks = Tensor(rng.integers(0, table.shape[0], size=4), dtype=np.int64)
observe("gradcheck with an integer input (row indices) raises", error_name(lambda: gradcheck(take, [table, picks])))
observe("gradcheck with no input that requires grad raises", error_name(lambda: gradcheck(product, [Tensor(w.numpy()), Tensor(x.numpy())])))

# %% [markdown]
# Every operation of Module 01, checked with your `gradcheck`, including broadcasting and
# a batched matmul:

# %%
rng = np.random.default_rng(4)


def leaf(*shape: int, positive: bool = False) -> Tensor:
    values = rng.uniform(0.5, 2.0, shape) if positive else rng.standard_normal(shape)
    return Tensor(values, requires_grad=True)


checks = {
    "add (broadcast)": (lambda a, b: a + b, [leaf(3, 4), leaf(4)]),
    "sub (broadcast)": (lambda a, b: a - b, [leaf(2, 1, 3), leaf(4, 1)]),
    "mul (broadcast)": (lambda a, b: a * b, [leaf(3, 4), leaf(3, 1)]),
    "div": (lambda a, b: a / b, [leaf(3, 4), leaf(3, 4, positive=True)]),
    "neg": (lambda a: -a, [leaf(5)]),
    "pow": (lambda a: a ** 3, [leaf(2, 3)]),
    "exp": (lambda a: a.exp(), [leaf(2, 3)]),
    "log": (lambda a: a.log(), [leaf(2, 3, positive=True)]),
    "sqrt": (lambda a: a.sqrt(), [leaf(2, 3, positive=True)]),
    "matmul (batched)": (lambda a, b: a @ b, [leaf(2, 3, 4), leaf(4, 5)]),
    "matmul (vector)": (lambda a, b: a @ b, [leaf(3, 4), leaf(4)]),
    "sum": (lambda a: a.sum(axis=1), [leaf(3, 4)]),
    "mean": (lambda a: a.mean(axis=(0, 2), keepdims=True), [leaf(2, 3, 4)]),
    "max": (lambda a: a.max(axis=0), [leaf(4, 5)]),
    "reshape": (lambda a: a.reshape(6, -1), [leaf(2, 3, 4)]),
    "permute": (lambda a: a.permute(2, 0, 1), [leaf(2, 3, 4)]),
    "getitem": (lambda a: a[1:, [0, 0, 2]], [leaf(3, 4)]),
}
for fn, inputs in checks.values():
    gradcheck(fn, inputs)
print(f"gradcheck passed for {len(checks)} operations: {', '.join(checks)}")

# %% [markdown]
# ## 6. Systems analysis: what backward costs
#
# ### Time
# A two-layer perceptron, forward only versus forward and backward, timed side by side.
# A matmul's backward does one matmul of the same size per operand that needs a gradient:
# two for `hidden @ w2`, one for `x @ w1` (the data `x` needs none). Expect the backward to
# take one to two times the forward's time; Python overhead per op shifts the ratio for
# small layers. The cell prints the measured ratio.

# %%
import timeit

rng = np.random.default_rng(5)
for batch, d_in, d_hidden, d_out in ((64, 64, 128, 10), (128, 784, 256, 10)):
    x = Tensor(rng.standard_normal((batch, d_in)))
    w1 = Tensor(rng.standard_normal((d_in, d_hidden)) * 0.1, requires_grad=True)
    w2 = Tensor(rng.standard_normal((d_hidden, d_out)) * 0.1, requires_grad=True)

    def forward() -> Tensor:
        hidden = x @ w1
        hidden = hidden * (hidden > 0)  # ReLU written with Module 01 ops
        return ((hidden @ w2) ** 2).mean()

    def forward_backward() -> None:
        forward().backward()

    forward_time = min(timeit.repeat(forward, number=20, repeat=5)) / 20
    both_time = min(timeit.repeat(forward_backward, number=20, repeat=5)) / 20
    print(f"MLP {d_in}->{d_hidden}->{d_out}, batch {batch}: forward {forward_time * 1e3:.3f} ms, "
          f"forward+backward {both_time * 1e3:.3f} ms ({both_time / forward_time:.2f}x the forward)")


# %% [markdown]
# ### Memory: the graph keeps activations alive
# Each node holds its inputs and output until the graph is released. We add up the bytes of
# the arrays the graph of one forward pass holds on to, with and without `no_grad`, as the
# batch grows. Weights do not grow with the batch; activations do, linearly.

# %%
def graph_bytes(root: Tensor) -> int:
    """Bytes of all distinct arrays reachable from ``root``'s graph (inputs and outputs)."""
    seen: dict[int, int] = {}
    for tensor in topological_order(root):
        seen[id(tensor.data)] = tensor.data.nbytes
        if tensor.grad_fn is not None:
            for parent in tensor.grad_fn.inputs:
                seen[id(parent.data)] = parent.data.nbytes
    return sum(seen.values())


w1 = Tensor(rng.standard_normal((784, 256)) * 0.05, requires_grad=True)
w2 = Tensor(rng.standard_normal((256, 10)) * 0.05, requires_grad=True)
weight_bytes = w1.nbytes + w2.nbytes
for batch in (32, 128, 512):
    x = Tensor(rng.standard_normal((batch, 784)))
    hidden = x @ w1
    loss = ((hidden * (hidden > 0)) @ w2).mean()
    with no_grad():
        hidden = x @ w1
        no_graph = ((hidden * (hidden > 0)) @ w2).mean()
    print(f"batch {batch:>3}: graph holds {graph_bytes(loss) / 2**20:6.2f} MiB "
          f"(weights {weight_bytes / 2**20:.2f} MiB); under no_grad: "
          f"requires_grad={no_graph.requires_grad}, grad_fn={no_graph.grad_fn}")

# %% [markdown]
# ## Summary
#
# You wrote the backward formula of every Module 01 operation, `unbroadcast`, an iterative
# topological sort, the backward engine with gradient accumulation, and `gradcheck`.
# Your recorder plugs into Module 01's dispatch layer, so every later module (activations,
# layers, attention) gets gradients by registering a kernel and a backward formula, and
# proves them with `gradcheck`.
#
# **Reflection questions**
#
# 1. The graph-memory measurement grows linearly with the batch. Which tensors would you
#    recompute in the backward pass instead of storing, to trade time for memory
#    (gradient checkpointing)?
# 2. Why does `run_backward` pop each gradient from its dict as soon as it is used?
#    What would happen to peak memory in a deep network if it did not?
# 3. `max_backward` splits the gradient among tied maxima. Where in a network do ties
#    happen in practice (think of ReLU outputs and max pooling)?
# 4. `gradcheck` needs two forward passes per input element. How long would it take for a
#    1-million-parameter model, and how would you check such a model instead?
