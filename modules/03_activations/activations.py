# %% [markdown]
# # Module 03: Activations
#
# A stack of linear layers is still one linear map: $W_2(W_1x) = (W_2W_1)x$. What lets a
# network bend is the **nonlinearity** between the layers, an elementwise function such as
# ReLU, and at the end, a **softmax** that turns raw scores into probabilities. In this
# module you build the activation functions of `torch.nn.functional`, each as a new
# operation of the framework, with its own kernel and its own backward formula.
#
# **What you will build**, as kernels (forward, on NumPy arrays) and backward formulas:
#
# - `relu`, `sigmoid`, `tanh`: the classic elementwise activations;
# - `gelu`: the smooth activation of BERT and GPT, in its exact and its tanh form;
# - `softmax` and `log_softmax` along a dimension, numerically stable, with closed-form
#   gradients.
#
# **How it plugs in.** Each activation is a new op: a kernel registered with Module 01's
# `@register_kernel("relu")`, a formula registered with Module 02's
# `@register_gradient("relu")`, and a one-line function that calls `dispatch("relu", x)`.
# Nothing of Modules 01–02 changes. Afterwards `import tinytorch.nn.functional as F` gives
# `F.relu`, `F.softmax`, ... as in PyTorch.
#
# ```
#   F.relu(x) ──► dispatch("relu", x) ──► relu_kernel(x.data)          (this module)
#                                     ──► recorder: Node("relu", ...)  (Module 02)
#   loss.backward() ──► relu_backward(grad, node)                      (this module)
# ```
#
# **Why a systems engineer cares.** You could write softmax from Module 01 ops
# (`max`, `sub`, `exp`, `sum`, `div`) and let autograd differentiate it. That works, but
# records five nodes, keeps five intermediate arrays alive for the backward pass, and runs
# five backward formulas. One **fused** op with a closed-form gradient does the same in one
# node. It is also where numerical stability is decided: `exp(1000)` is `inf` in float32.
# At the end you measure both, fused against composed.
#
# **Connections.** Module 04 wraps these functions in `Module` classes (`nn.ReLU`,
# `nn.Softmax`) for use in `Sequential`. Module 05's cross-entropy loss is built on your
# `log_softmax`. Module 14's GPT uses `gelu` in every block and `softmax` in attention.

# %%
#| default_exp nn.activations

# %%
#| export
from __future__ import annotations

import math

import numpy as np

from tinytorch.autograd import Node, register_gradient
from tinytorch.tensor import ShapeError, Tensor, dispatch, register_kernel

# %% [markdown]
# ## 1. How a test hands a formula its node
#
# A backward formula receives the output gradient `grad` and the `Node` that recorded the
# forward op (Module 02): `node.inputs` (Tensors), `node.attrs` (e.g. `dim`) and `node.out`
# (the forward result). To test a formula on its own, without your kernel, the tests build
# that node with `node_for(op, x, out, **attrs)`: `x` becomes a float64 input that requires
# grad, and `out` is the forward result computed in the test from the closed form. So a
# wrong kernel never makes a backward test fail, and the other way round.
#
# Each test cell first checks fixed inputs with asserts that say what is wrong, then calls
# your function again on inputs from `unseen_rng(...)` and hands the results to `observe`
# (Module 01 explains both): that second part is what the grader compares with the
# reference solution.

# %% nbgrader={"grade": false, "grade_id": "given-node-for", "locked": true, "solution": false, "schema_version": 3}
from tinytorch.tensor import error_name, expect_error, observe, unseen_rng


def node_for(op: str, x: np.ndarray, out: np.ndarray, **attrs: object) -> Node:
    """The Node recording ``out = op(x, **attrs)``: ``x`` as a float64 input that requires grad."""
    return Node(op, (Tensor(x, dtype=np.float64, requires_grad=True),), attrs, np.asarray(out, dtype=np.float64))


# %% [markdown]
# ## 2. ReLU
#
# The rectified linear unit keeps positive values and zeroes the rest:
#
# $$\text{relu}(x) = \max(x, 0), \qquad \frac{d\,\text{relu}}{dx} = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}$$
#
# At $x = 0$ the function has a kink and no derivative; like PyTorch we use 0 there. The
# backward pass is then a mask: $\bar x = \bar y \cdot [x > 0]$.
#
# Every kernel in this module keeps the dtype of its input: float32 in, float32 out
# (NumPy does that when you combine an array with Python numbers, as in `np.maximum(x, 0)`).
#
# ### Your task: `relu_kernel`

# %% nbgrader={"grade": false, "grade_id": "impl-relu-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("relu")
def relu_kernel(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)`` elementwise; same shape and dtype as ``x``.

    Hint: ``np.maximum`` compares elementwise with a number.
    """
    ### BEGIN SOLUTION
    return np.maximum(x, 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-relu-kernel", "locked": true, "points": 1, "solution": false, "schema_version": 3}
x_val = np.array([[-2.0, -0.0, 0.5], [3.0, -1e-3, 0.0]], dtype=np.float32)
out = relu_kernel(x_val)
assert np.array_equal(out, [[0.0, 0.0, 0.5], [3.0, 0.0, 0.0]]), f"relu_kernel: max(x, 0) of {x_val.tolist()} gave {out.tolist()}"
assert out.dtype == np.float32, f"relu_kernel should keep float32, got {out.dtype}"
assert out.shape == x_val.shape, "relu_kernel must keep the shape of its input"
assert relu_kernel(x_val.astype(np.float64)).dtype == np.float64, "relu_kernel should keep float64 too"

rng = unseen_rng("test-relu-kernel")
x = rng.standard_normal((3, 5)).astype(np.float32)
x[0, :2] = 0.0
observe("relu_kernel(x), float32 (3, 5) with zeros", relu_kernel(x))
observe("relu_kernel(x), float64 (2, 2, 3)", relu_kernel(rng.standard_normal((2, 2, 3))))


# %% [markdown]
# ### Your task: `relu_backward`

# %% nbgrader={"grade": false, "grade_id": "impl-relu-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("relu")
def relu_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d relu(x)/dx = 1 where x > 0, else 0 (0 also at x = 0): returns ``(grad * (x > 0),)``."""
    ### BEGIN SOLUTION
    return (grad * (node.inputs[0].data > 0),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-relu-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
x_val, g_val = np.array([-2.0, 0.0, 0.5, 3.0]), np.array([1.0, 2.0, 3.0, -4.0])
(grad,) = relu_backward(g_val, node_for("relu", x_val, np.maximum(x_val, 0)))
assert grad[1] == 0.0, f"relu_backward: the gradient at x = 0 must be 0 (use x > 0, not x >= 0), got {grad[1]}"
assert np.array_equal(grad, [0.0, 0.0, 3.0, -4.0]), f"relu_backward: grad * (x > 0) should be [0, 0, 3, -4], got {grad}"
assert grad.shape == x_val.shape, "relu_backward: the gradient has the input's shape"

rng = unseen_rng("test-relu-backward")
x, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
x[1, 1:3] = 0.0
observe("relu_backward(g, node of x) with zeros in x", relu_backward(g, node_for("relu", x, np.maximum(x, 0)))[0])


# %% [markdown]
# ## 3. Sigmoid and tanh
#
# The sigmoid squashes any number into $(0, 1)$, tanh into $(-1, 1)$. Both derivatives are
# cheapest written with the **output** $y$ the forward pass saved in `node.out`:
#
# $$\sigma(x) = \frac{1}{1 + e^{-x}}, \quad \frac{d\sigma}{dx} = \sigma(x)\,(1 - \sigma(x)); \qquad
# \frac{d \tanh x}{dx} = 1 - \tanh^2 x .$$
#
# **Stability.** For $x = -1000$, $e^{-x} = e^{1000}$ overflows to `inf` (with a NumPy
# overflow warning), and only luck makes $1/(1+\infty) = 0$ come out right. Never
# exponentiate a large positive number: with $z = e^{-|x|} \in (0, 1]$,
#
# $$\sigma(x) = \frac{1}{1 + z} \ \text{ for } x \ge 0, \qquad \sigma(x) = \frac{z}{1 + z} \ \text{ for } x < 0,$$
#
# (multiply numerator and denominator by $e^{x}$ to see the second). Your kernel must give
# finite values without any overflow warning for inputs of ±1000; the test runs it under
# `np.errstate(over="raise")`, which turns such a warning into an error, and tells you if
# one was raised.
# `np.where(condition, a, b)` picks elementwise between two arrays.
#
# ### Your task: `sigmoid_kernel`

# %% nbgrader={"grade": false, "grade_id": "impl-sigmoid-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("sigmoid")
def sigmoid_kernel(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` elementwise, without overflow for large ``|x|``; keeps dtype.

    Hint: compute ``z = exp(-|x|)`` once (it never overflows), then pick elementwise, by the
    sign of ``x``, between the form for ``x >= 0`` and the form for ``x < 0``.
    If you are stuck: ``z = np.exp(-np.abs(x))``, then ``np.where(x >= 0, ..., ...)``.
    """
    ### BEGIN SOLUTION
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-sigmoid-kernel", "locked": true, "points": 2, "solution": false, "schema_version": 3}
x_val = np.array([-3.0, -0.5, 0.0, 0.5, 3.0], dtype=np.float32)
out = sigmoid_kernel(x_val)
assert np.allclose(out, 1 / (1 + np.exp(-x_val.astype(np.float64))), atol=1e-6), f"sigmoid_kernel: wrong values {out}"
assert out.dtype == np.float32, f"sigmoid_kernel should keep float32, got {out.dtype}"
extreme_x = np.array([-1000.0, 1000.0], dtype=np.float32)
with np.errstate(over="raise"):
    outcome = error_name(lambda: sigmoid_kernel(extreme_x))
assert outcome == "nothing", (
    f"sigmoid_kernel(-1000, 1000) raised {outcome} under np.errstate(over='raise'): exp overflowed. "
    "Never exponentiate a large positive number: use z = exp(-|x|) and the two forms chosen by the sign of x"
)
extreme = sigmoid_kernel(extreme_x)
assert np.array_equal(extreme, [0.0, 1.0]), f"sigmoid_kernel(-1000, 1000) should be (0, 1), got {extreme}"

rng = unseen_rng("test-sigmoid-kernel")
x = (rng.standard_normal((4, 5)) * 4).astype(np.float32)
observe("sigmoid_kernel(x), float32 (4, 5)", sigmoid_kernel(x), rtol=1e-5, atol=1e-7)
observe("sigmoid_kernel(x), float64 (6,)", sigmoid_kernel(rng.standard_normal(6) * 3), rtol=1e-9, atol=1e-12)
big = (rng.uniform(100, 1000, size=6) * rng.choice([-1.0, 1.0], size=6)).astype(np.float32)
with np.errstate(over="raise"):
    observe("sigmoid_kernel(|x| in [100, 1000]) under np.errstate(over='raise') raises", error_name(lambda: sigmoid_kernel(big)))
observe("sigmoid_kernel(|x| in [100, 1000])", sigmoid_kernel(big), rtol=1e-5, atol=1e-7)

# %% [markdown]
# NumPy's `np.tanh` is already stable (it never forms $e^{2x}$ for large $x$), so it
# is registered as it is. You write its gradient.

# %%
#| export
register_kernel("tanh", np.tanh)  # a NumPy ufunc: array in, array of the same dtype out


# %% [markdown]
# ### Your task: `sigmoid_backward` and `tanh_backward`

# %% nbgrader={"grade": false, "grade_id": "impl-sigmoid-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("sigmoid")
def sigmoid_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d sigmoid(x)/dx = s * (1 - s) with s = sigmoid(x), the saved output ``node.out``."""
    ### BEGIN SOLUTION
    s = node.out
    return (grad * s * (1 - s),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-sigmoid-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
x_val, g_val = np.array([-2.0, 0.0, 1.5]), np.array([1.0, -2.0, 0.5])
s_val = 1 / (1 + np.exp(-x_val))
(grad,) = sigmoid_backward(g_val, node_for("sigmoid", x_val, s_val))
assert np.allclose(grad, g_val * s_val * (1 - s_val)), "sigmoid_backward: the gradient is grad * s * (1 - s), s = node.out"

rng = unseen_rng("test-sigmoid-backward")
x, g = rng.standard_normal((3, 4)) * 2, rng.standard_normal((3, 4))
observe("sigmoid_backward(g, node of x)", sigmoid_backward(g, node_for("sigmoid", x, 1 / (1 + np.exp(-x))))[0])


# %% nbgrader={"grade": false, "grade_id": "impl-tanh-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("tanh")
def tanh_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d tanh(x)/dx = 1 - t*t with t = tanh(x), the saved output ``node.out``."""
    ### BEGIN SOLUTION
    t = node.out
    return (grad * (1 - t * t),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-tanh-backward", "locked": true, "points": 1, "solution": false, "schema_version": 3}
x_val, g_val = np.array([-2.0, 0.0, 1.5]), np.array([1.0, -2.0, 0.5])
t_val = np.tanh(x_val)
(grad,) = tanh_backward(g_val, node_for("tanh", x_val, t_val))
assert np.allclose(grad, g_val * (1 - t_val * t_val)), "tanh_backward: the gradient is grad * (1 - t*t), t = node.out"

rng = unseen_rng("test-tanh-backward")
x, g = rng.standard_normal((3, 4)) * 2, rng.standard_normal((3, 4))
observe("tanh_backward(g, node of x)", tanh_backward(g, node_for("tanh", x, np.tanh(x)))[0])

# %% [markdown]
# ## 4. GELU
#
# The Gaussian error linear unit weights $x$ by the probability $\Phi(x)$ that a standard
# normal variable is below it. It is what BERT and GPT use between their linear layers.
#
# $$\text{gelu}(x) = x\,\Phi(x) = \frac{x}{2}\Big(1 + \operatorname{erf}\big(x/\sqrt 2\big)\Big)
# \qquad \text{(exact, } \texttt{approximate="none"}\text{)}$$
#
# $$\frac{d\,\text{gelu}}{dx} = \Phi(x) + x\,\varphi(x), \qquad \varphi(x) = \frac{e^{-x^2/2}}{\sqrt{2\pi}} .$$
#
# GPT-2 used a cheaper **tanh form** (PyTorch's `approximate="tanh"`): with
# $u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)$ and $t = \tanh u$,
#
# $$\text{gelu}_{\tanh}(x) = \frac{x}{2}(1 + t), \qquad
# \frac{d}{dx} = \frac{1 + t}{2} + \frac{x}{2}(1 - t^2)\sqrt{2/\pi}\,(1 + 3 \cdot 0.044715\, x^2).$$
#
# The two forms differ by less than $10^{-3}$ (the demo below prints the largest gap); each
# is tested against its own closed form.
#
# **erf.** NumPy has no vectorized `erf`, and calling `math.erf` once per element is a Python
# loop. `erf` below is given: the rational approximation 7.1.26 of Abramowitz and Stegun,
# *Handbook of Mathematical Functions* (1964), whose absolute error is at most
# $1.5\cdot10^{-7}$, below float32's resolution near 1. It is odd, so it is computed
# for $|z|$ and the sign put back.
#
# **Performance.** Write $x^3$ as `x * x * x`, never `x ** 3`: on negative float32 input
# NumPy's power function takes a slow path, and it made a whole GPT forward pass several
# times slower when it was measured for this course.

# %%
#| export
SQRT_2 = math.sqrt(2.0)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
GELU_TANH_COEFF = 0.044715
GELU_APPROXIMATIONS = ("none", "tanh")

# Abramowitz & Stegun 7.1.26: erf(z) ~ 1 - (a1 t + ... + a5 t^5) exp(-z^2), t = 1 / (1 + p z), z >= 0.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(z: np.ndarray) -> np.ndarray:
    """The error function elementwise, absolute error at most 1.5e-7 (Abramowitz & Stegun 7.1.26).

    Keeps the dtype of ``z``; Horner's rule evaluates the polynomial in ``t``.
    """
    a = np.abs(z)
    t = 1 / (1 + _ERF_P * a)
    a1, a2, a3, a4, a5 = _ERF_A
    poly = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))))
    return np.sign(z) * (1 - poly * np.exp(-a * a))


# %% [markdown]
# ### Your task: `gelu_kernel`
# Compute the exact form with the given `erf` for `approximate="none"`, the tanh form for
# `approximate="tanh"`. (The public `gelu` function rejects any other value before your
# kernel runs.)

# %% nbgrader={"grade": false, "grade_id": "impl-gelu-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("gelu")
def gelu_kernel(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """GELU elementwise: ``x/2 * (1 + erf(x/sqrt 2))``, or the tanh form if ``approximate == "tanh"``.

    Keeps shape and dtype. Hint: the constants ``SQRT_2``, ``SQRT_2_OVER_PI`` and
    ``GELU_TANH_COEFF`` are defined above; cube by multiplying.
    """
    ### BEGIN SOLUTION
    if approximate == "tanh":
        # 0.5 x (1 + tanh(c (x + k x^3))), computed in place in one buffer: each new
        # temporary the size of x costs more than the arithmetic on it.
        out = np.empty_like(x, dtype=np.result_type(x, 0.5))  # a float buffer, also for 0-d x
        np.multiply(x, x, out=out)
        out *= x
        out *= GELU_TANH_COEFF
        out += x
        out *= SQRT_2_OVER_PI
        np.tanh(out, out=out)
        out += 1
        out *= x
        out *= 0.5
        return out
    return 0.5 * x * (1 + erf(x / SQRT_2))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-gelu-kernel", "locked": true, "points": 2, "solution": false, "schema_version": 3}
x_val = np.linspace(-4, 4, 17).astype(np.float32)
x64 = x_val.astype(np.float64)
exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x64])
out = gelu_kernel(x_val)
assert out.dtype == np.float32, f"gelu_kernel should keep float32, got {out.dtype}"
assert np.allclose(out, exact, atol=1e-6), f"gelu_kernel (approximate='none'): x/2 * (1 + erf(x/sqrt 2)) expected, worst error {np.abs(out - exact).max():.2e}"
tanh_form = 0.5 * x64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64**3)))
out = gelu_kernel(x_val, approximate="tanh")
assert not np.allclose(out, exact, atol=1e-6), (
    "gelu_kernel(approximate='tanh') gave the exact (erf) form: with approximate == 'tanh' compute the tanh form"
)
assert np.allclose(out, tanh_form, atol=1e-6), (
    f"gelu_kernel (approximate='tanh'): expected the tanh form x/2 * (1 + tanh(u)), worst error {np.abs(out - tanh_form).max():.2e}"
)
assert out.dtype == np.float32, f"gelu_kernel (approximate='tanh') should keep float32, got {out.dtype}"
assert gelu_kernel(x64).dtype == np.float64, "gelu_kernel should keep float64 too"

rng = unseen_rng("test-gelu-kernel")
x = (rng.standard_normal((4, 6)) * 3).astype(np.float32)
observe("gelu_kernel(x), float32 (4, 6)", gelu_kernel(x), rtol=1e-5, atol=1e-6)
observe("gelu_kernel(x, approximate='tanh'), float32 (4, 6)", gelu_kernel(x, approximate="tanh"), rtol=1e-5, atol=1e-6)
x64 = rng.standard_normal((2, 5)) * 3
observe("gelu_kernel(x), float64 (2, 5)", gelu_kernel(x64), rtol=1e-6, atol=1e-6)
observe("gelu_kernel(x, approximate='tanh'), float64 (2, 5)", gelu_kernel(x64, approximate="tanh"), rtol=1e-9, atol=1e-12)


# %% [markdown]
# ### Your task: `gelu_backward`
# The derivative of whichever form the forward pass used, read from
# `node.attrs["approximate"]`.

# %% nbgrader={"grade": false, "grade_id": "impl-gelu-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("gelu")
def gelu_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d gelu(x)/dx: ``Phi(x) + x * phi(x)`` (exact), or the tanh form's derivative.

    ``Phi(x) = (1 + erf(x / sqrt 2)) / 2`` and ``phi(x) = exp(-x*x/2) / sqrt(2 pi)`` (``INV_SQRT_2PI``).
    For ``node.attrs["approximate"] == "tanh"``: ``(1 + t)/2 + x/2 * (1 - t*t) * sqrt(2/pi) * (1 + 3 * 0.044715 * x*x)``.
    """
    ### BEGIN SOLUTION
    x = node.inputs[0].data
    if node.attrs.get("approximate", "none") == "tanh":
        # In place, in three buffers (as in the kernel): t, x * du/dx and 1 - t*t.
        dtype = np.result_type(x, grad, 0.5)
        t = np.empty_like(x, dtype=dtype)  # float buffers, also for 0-d x
        np.multiply(x, x, out=t)
        t *= x
        t *= GELU_TANH_COEFF
        t += x
        t *= SQRT_2_OVER_PI
        np.tanh(t, out=t)
        slope = np.empty_like(x, dtype=dtype)
        np.multiply(x, x, out=slope)
        slope *= 3 * GELU_TANH_COEFF
        slope += 1
        slope *= SQRT_2_OVER_PI
        slope *= x  # x * du/dx
        sech2 = np.empty_like(t)
        np.multiply(t, t, out=sech2)
        np.subtract(1, sech2, out=sech2)
        slope *= sech2
        slope += t
        slope += 1
        slope *= 0.5
        slope *= grad
        return (slope,)
    cdf = 0.5 * (1 + erf(x / SQRT_2))
    pdf = INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return (grad * (cdf + x * pdf),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-gelu-backward", "locked": true, "points": 2, "solution": false, "schema_version": 3}
x_val = np.linspace(-3, 3, 13)
g_val = np.cos(x_val)  # any gradient, not all ones
cdf = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x_val])
pdf = np.exp(-x_val**2 / 2) / math.sqrt(2 * math.pi)
(grad,) = gelu_backward(g_val, node_for("gelu", x_val, x_val * cdf, approximate="none"))
assert np.allclose(grad, g_val * (cdf + x_val * pdf), atol=1e-6), "gelu_backward (approximate='none'): expected grad * (Phi(x) + x phi(x))"
t_val = np.tanh(math.sqrt(2 / math.pi) * (x_val + 0.044715 * x_val**3))
expected = 0.5 * (1 + t_val) + 0.5 * x_val * (1 - t_val**2) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x_val**2)
(grad,) = gelu_backward(g_val, node_for("gelu", x_val, 0.5 * x_val * (1 + t_val), approximate="tanh"))
assert np.allclose(grad, g_val * expected, atol=1e-6), "gelu_backward (approximate='tanh'): expected the tanh form's derivative"

rng = unseen_rng("test-gelu-backward")
x, g = rng.standard_normal((3, 5)) * 2, rng.standard_normal((3, 5))
exact_out = x * np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.ravel()]).reshape(x.shape)
observe("gelu_backward(g, node of x), approximate='none'",
        gelu_backward(g, node_for("gelu", x, exact_out, approximate="none"))[0], rtol=1e-5, atol=1e-6)
u = math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)
observe("gelu_backward(g, node of x), approximate='tanh'",
        gelu_backward(g, node_for("gelu", x, 0.5 * x * (1 + np.tanh(u)), approximate="tanh"))[0], rtol=1e-9, atol=1e-12)


# %% [markdown]
# ## 5. Softmax and log-softmax
#
# Softmax turns a vector of scores (logits) into probabilities along one dimension `dim`:
#
# $$s_i = \frac{e^{x_i}}{\sum_j e^{x_j}}, \qquad \log s_i = x_i - \log \sum_j e^{x_j}.$$
#
# **Stability.** $e^{1000}$ is `inf` and $e^{-1000}$ is 0, so the formula as written gives
# `nan` for logits of ±1000. Softmax does not change when the same number is subtracted
# from every $x_i$ (it cancels between numerator and denominator), so subtract the row
# maximum $m = \max_j x_j$ first: then every exponent is $\le 0$, the largest term is
# $e^0 = 1$, and the sum lies in $[1, n]$, never 0, never `inf`:
#
# $$s_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \qquad
# \log s_i = (x_i - m) - \log \sum_j e^{x_j - m}.$$
#
# Log-softmax needs the second form: `np.log(softmax)` would give $\log 0 = -\infty$ for a
# logit 1000 below the maximum, where the true value is $-1000$.
#
# Both kernels work along `dim`, an axis of the array (the public functions below turn a
# negative `dim` into a non-negative one and check it). Reduce with `keepdims=True` so that
# the max and the sum broadcast back against `x`.
#
# ```
#   x (batch, classes) ──max over dim──► m (batch, 1) ──► x - m ──exp──► e ──sum over dim──► (batch, 1)
#                                                                        e / sum = softmax
# ```
#
# ### Your task: `softmax_kernel`

# %% nbgrader={"grade": false, "grade_id": "impl-softmax-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("softmax")
def softmax_kernel(x: np.ndarray, dim: int) -> np.ndarray:
    """Softmax of ``x`` along axis ``dim`` (non-negative); same shape and dtype as ``x``.

    Every slice along ``dim`` sums to 1; finite for inputs of +-1000 and for equal values.
    Hint: subtract the maximum along ``dim``, kept as an axis of size 1 so that it broadcasts
    against ``x``, before exponentiating; normalize by the sum along ``dim``, kept the same way.
    If you are stuck: ``x.max(axis=dim, keepdims=True)``.
    """
    ### BEGIN SOLUTION
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-softmax-kernel", "locked": true, "points": 2, "solution": false, "schema_version": 3}
# A square input: a sum or max without keepdims=True gives wrong values here, not a broadcasting error.
x_val = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0], [0.0, 4.0, -2.0]], dtype=np.float32)
expected = np.exp(x_val) / np.exp(x_val).sum(axis=1, keepdims=True)
out = softmax_kernel(x_val, dim=1)
assert out.dtype == np.float32, f"softmax_kernel should keep float32, got {out.dtype}"
assert out.shape == x_val.shape, f"softmax_kernel must keep the shape {x_val.shape}, got {out.shape}"
assert np.allclose(out.sum(axis=1), 1.0, atol=1e-6), (
    f"softmax_kernel(dim=1): every row must sum to 1, the sums are {out.sum(axis=1).tolist()}: "
    "reduce with keepdims=True so the sum over dim broadcasts back along dim"
)
assert np.allclose(out, expected, atol=1e-6), (
    f"softmax_kernel(dim=1): expected {expected.tolist()}, got {out.tolist()} "
    "(reduce the max and the sum along dim, both with keepdims=True)"
)
expected0 = np.exp(x_val) / np.exp(x_val).sum(axis=0, keepdims=True)
out0 = softmax_kernel(x_val, dim=0)
assert np.allclose(out0, expected0, atol=1e-6), (
    f"softmax_kernel(dim=0) must normalize each column (reduce along axis dim), got column sums {out0.sum(axis=0).tolist()}"
)
with np.errstate(over="ignore", invalid="ignore"):  # a naive softmax shows its nan here, as a value
    extreme = softmax_kernel(np.array([[1000.0, -1000.0, 1000.0]], dtype=np.float32), dim=1)
assert np.all(np.isfinite(extreme)), (
    f"softmax_kernel: logits (1000, -1000, 1000) gave {extreme.tolist()}: exp(1000) overflows to inf, and "
    "inf / inf is nan (subtract the max first)"
)
# float32 resolves 6e-5 near 1000, so a correct stable form (e.g. exp(x - logsumexp(x))) may be off by 3e-5 here
assert np.allclose(extreme, [[0.5, 0.0, 0.5]], rtol=1e-3, atol=1e-6), (
    f"softmax_kernel: logits (1000, -1000, 1000) should give (0.5, 0, 0.5), got {extreme.tolist()} (subtract the max first)"
)
assert np.allclose(softmax_kernel(np.full((2, 4), 7.0, dtype=np.float32), dim=1), 0.25), "softmax_kernel: equal values give equal probabilities"

rng = unseen_rng("test-softmax-kernel")
x = (rng.standard_normal((3, 5)) * 3).astype(np.float32)
observe("softmax_kernel(x, dim=1), float32 (3, 5)", softmax_kernel(x, dim=1), rtol=1e-4, atol=1e-6)
observe("softmax_kernel(x, dim=0), float32 (3, 5)", softmax_kernel(x, dim=0), rtol=1e-4, atol=1e-6)
x3 = rng.standard_normal((2, 3, 4)).astype(np.float32)
observe("softmax_kernel(x, dim=1), float32 (2, 3, 4)", softmax_kernel(x3, dim=1), rtol=1e-4, atol=1e-6)
observe("softmax_kernel(x, dim=2), float32 (2, 3, 4)", softmax_kernel(x3, dim=2), rtol=1e-4, atol=1e-6)
observe("softmax_kernel(x, dim=0), float64 (4, 3)", softmax_kernel(rng.standard_normal((4, 3)), dim=0), rtol=1e-9, atol=1e-12)
big = (rng.standard_normal((2, 4)) * 1000).astype(np.float32)
with np.errstate(over="ignore", invalid="ignore"):
    observe("softmax_kernel(logits of size ~1000, dim=1)", softmax_kernel(big, dim=1), rtol=1e-3, atol=1e-6)
equal = np.full((2, int(rng.integers(2, 9))), rng.standard_normal() * 100, dtype=np.float32)
observe("softmax_kernel(equal values, dim=1)", softmax_kernel(equal, dim=1), rtol=1e-4, atol=1e-6)


# %% [markdown]
# ### The backward pass of softmax
#
# Every $s_i$ depends on every $x_k$: $\partial s_i / \partial x_k = s_i(\delta_{ik} - s_k)$.
# Multiplying this Jacobian by the output gradient $\bar s$ never needs the $n \times n$
# matrix:
#
# $$\bar x_k = \sum_i \bar s_i\, s_i (\delta_{ik} - s_k) = s_k\Big(\bar s_k - \sum_i \bar s_i s_i\Big).$$
#
# One elementwise product, one sum along `dim` (`keepdims=True`), one subtraction and one
# product: $O(n)$ per row instead of $O(n^2)$. The saved output `node.out` is $s$, and
# `node.attrs["dim"]` the axis.
#
# ### Your task: `softmax_backward`

# %% nbgrader={"grade": false, "grade_id": "impl-softmax-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("softmax")
def softmax_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d softmax: ``s * (grad - sum(grad * s, dim))``, s = ``node.out``, dim = ``node.attrs["dim"]``.

    Hint: sum with ``keepdims=True`` so the sum broadcasts along ``dim``.
    """
    ### BEGIN SOLUTION
    s = node.out
    dim = node.attrs["dim"]
    return (s * (grad - (grad * s).sum(axis=dim, keepdims=True)),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-softmax-backward", "locked": true, "points": 2, "solution": false, "schema_version": 3}
rng = np.random.default_rng(0)
x_val, g_val = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))  # square: a missing keepdims gives wrong values
for dim in (0, 1):
    s_val = np.exp(x_val) / np.exp(x_val).sum(axis=dim, keepdims=True)
    (grad,) = softmax_backward(g_val, node_for("softmax", x_val, s_val, dim=dim))
    assert grad.shape == x_val.shape, f"softmax_backward(dim={dim}): the gradient has the input's shape (4, 4), got {grad.shape}"
    assert not np.allclose(grad, g_val * s_val * (1 - s_val)), (
        f"softmax_backward(dim={dim}): grad * s * (1 - s) is only the diagonal of the Jacobian; every s_i depends on "
        "every x_k: use s * (grad - sum(grad * s, dim))"
    )
    # the full Jacobian, slice by slice: d s_i / d x_k = s_i (delta_ik - s_k)
    expected = np.zeros_like(x_val)
    for j in range(x_val.shape[1 - dim]):
        s_row = s_val[:, j] if dim == 0 else s_val[j]
        g_row = g_val[:, j] if dim == 0 else g_val[j]
        row = (np.diag(s_row) - np.outer(s_row, s_row)) @ g_row
        if dim == 0:
            expected[:, j] = row
        else:
            expected[j] = row
    assert np.allclose(grad, expected), (
        f"softmax_backward(dim={dim}): expected s * (grad - sum(grad * s, dim)), the sum taken along dim {dim} "
        "with keepdims=True so it broadcasts back along that dim"
    )

rng = unseen_rng("test-softmax-backward")
for shape, dim in (((3, 5), 1), ((3, 5), 0), ((2, 3, 4), 2), ((2, 3, 4), 0)):
    x, g = rng.standard_normal(shape), rng.standard_normal(shape)
    s = np.exp(x) / np.exp(x).sum(axis=dim, keepdims=True)
    observe(f"softmax_backward(g, node of x), shape {shape}, dim={dim}", softmax_backward(g, node_for("softmax", x, s, dim=dim))[0])


# %% [markdown]
# ### Your task: `log_softmax_kernel`
# The second stable form above: $(x - m) - \log\sum_j e^{x_j - m}$. This fused kernel is
# what Module 05's cross-entropy loss will stand on.

# %% nbgrader={"grade": false, "grade_id": "impl-log-softmax-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("log_softmax")
def log_softmax_kernel(x: np.ndarray, dim: int) -> np.ndarray:
    """``log(softmax(x))`` along axis ``dim`` (non-negative), computed stably; keeps shape and dtype.

    Finite for inputs of +-1000: never takes the log of a softmax that rounded to 0.
    Hint: ``shifted = x - max``; the result is ``shifted - log(sum(exp(shifted)))``.
    """
    ### BEGIN SOLUTION
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-log-softmax-kernel", "locked": true, "points": 2, "solution": false, "schema_version": 3}
x_val = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0], [0.0, 4.0, -2.0]], dtype=np.float32)  # square, as for softmax
expected = np.log(np.exp(x_val) / np.exp(x_val).sum(axis=1, keepdims=True))
out = log_softmax_kernel(x_val, dim=1)
assert out.dtype == np.float32, f"log_softmax_kernel should keep float32, got {out.dtype}"
assert out.shape == x_val.shape, f"log_softmax_kernel must keep the shape {x_val.shape}, got {out.shape}"
assert np.allclose(out, expected, atol=1e-6), (
    f"log_softmax_kernel(dim=1): expected {expected.tolist()}, got {out.tolist()} "
    "(reduce the max and the sum along dim, both with keepdims=True)"
)
expected0 = np.log(np.exp(x_val) / np.exp(x_val).sum(axis=0, keepdims=True))
assert np.allclose(log_softmax_kernel(x_val, dim=0), expected0, atol=1e-6), "log_softmax_kernel(dim=0) works on columns (reduce along axis dim)"
with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # a naive form shows its inf or nan here, as a value
    extreme = log_softmax_kernel(np.array([[1000.0, -1000.0, 1000.0]], dtype=np.float32), dim=1)
assert np.all(np.isfinite(extreme[:, [0, 2]])), (
    f"log_softmax_kernel: logits (1000, -1000, 1000) gave {extreme.tolist()}: exp(1000) overflows to inf "
    "(subtract the max first)"
)
assert np.all(np.isfinite(extreme)), (
    f"log_softmax_kernel: logits (1000, -1000, 1000) gave {extreme.tolist()}: that is the log of a softmax that "
    "rounded to 0; compute (x - max) - log(sum(exp(x - max))) instead"
)
# float32 resolves 6e-5 near 1000: x - logsumexp(x) is as right as (x - m) - log(sum), off by that much
assert np.allclose(extreme, [[-math.log(2), -2000 - math.log(2), -math.log(2)]], rtol=1e-4, atol=1e-3), (
    f"log_softmax_kernel: logits (1000, -1000, 1000) should give (-log 2, -2000 - log 2, -log 2), got {extreme}"
)

rng = unseen_rng("test-log-softmax-kernel")
x = (rng.standard_normal((3, 5)) * 3).astype(np.float32)
observe("log_softmax_kernel(x, dim=1), float32 (3, 5)", log_softmax_kernel(x, dim=1), rtol=1e-4, atol=1e-5)
observe("log_softmax_kernel(x, dim=0), float32 (3, 5)", log_softmax_kernel(x, dim=0), rtol=1e-4, atol=1e-5)
x3 = rng.standard_normal((2, 3, 4)).astype(np.float32)
observe("log_softmax_kernel(x, dim=2), float32 (2, 3, 4)", log_softmax_kernel(x3, dim=2), rtol=1e-4, atol=1e-5)
observe("log_softmax_kernel(x, dim=1), float64 (4, 3)", log_softmax_kernel(rng.standard_normal((4, 3)), dim=1), rtol=1e-9, atol=1e-12)
big = (rng.standard_normal((2, 4)) * 1000).astype(np.float32)
with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
    observe("log_softmax_kernel(logits of size ~1000, dim=1)", log_softmax_kernel(big, dim=1), rtol=1e-4, atol=1e-3)


# %% [markdown]
# ### The backward pass of log-softmax
#
# With $y_i = x_i - \log\sum_j e^{x_j}$, $\partial y_i / \partial x_k = \delta_{ik} - s_k$, so
#
# $$\bar x_k = \sum_i \bar y_i(\delta_{ik} - s_k) = \bar y_k - s_k \sum_i \bar y_i, \qquad s_k = e^{y_k}.$$
#
# The softmax is recovered from the saved output: `np.exp(node.out)`.
#
# ### Your task: `log_softmax_backward`

# %% nbgrader={"grade": false, "grade_id": "impl-log-softmax-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("log_softmax")
def log_softmax_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d log_softmax: ``grad - exp(out) * sum(grad, dim)``, out = ``node.out``, dim = ``node.attrs["dim"]``."""
    ### BEGIN SOLUTION
    dim = node.attrs["dim"]
    return (grad - np.exp(node.out) * grad.sum(axis=dim, keepdims=True),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-log-softmax-backward", "locked": true, "points": 2, "solution": false, "schema_version": 3}
rng = np.random.default_rng(1)
x_val, g_val = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))  # square: a missing keepdims gives wrong values
for dim in (0, 1):
    s_val = np.exp(x_val) / np.exp(x_val).sum(axis=dim, keepdims=True)
    (grad,) = log_softmax_backward(g_val, node_for("log_softmax", x_val, np.log(s_val), dim=dim))
    assert grad.shape == x_val.shape, f"log_softmax_backward(dim={dim}): the gradient has the input's shape (4, 4), got {grad.shape}"
    expected = g_val - s_val * g_val.sum(axis=dim, keepdims=True)
    assert np.allclose(grad, expected), (
        f"log_softmax_backward(dim={dim}): expected grad - softmax * sum(grad, dim), with softmax = exp(node.out) "
        f"and the sum taken along dim {dim} with keepdims=True"
    )

rng = unseen_rng("test-log-softmax-backward")
for shape, dim in (((3, 5), 1), ((3, 5), 0), ((2, 3, 4), 1)):
    x, g = rng.standard_normal(shape), rng.standard_normal(shape)
    log_s = np.log(np.exp(x) / np.exp(x).sum(axis=dim, keepdims=True))
    observe(f"log_softmax_backward(g, node of x), shape {shape}, dim={dim}",
            log_softmax_backward(g, node_for("log_softmax", x, log_s, dim=dim))[0])


# %% [markdown]
# ## 6. The functions of `torch.nn.functional`
#
# The public functions are one `dispatch` call each, with PyTorch's names and signatures:
# `relu(input)`, `sigmoid(input)`, `tanh(input)`, `gelu(input, approximate="none")`,
# `softmax(input, dim)`, `log_softmax(input, dim)`. They check their arguments before the
# kernel runs:
#
# - `dim` works as in PyTorch: an int in `[-ndim, ndim)`, negative counting from the end
#   (`dim=-1` is the last axis, the usual choice for class scores). Out of range is a
#   `ShapeError` naming the dim and the number of dimensions. Softmax of a 0-d tensor (a
#   single number) is rejected with a `ShapeError` too: there is no dimension to normalize.
# - `approximate` must be `"none"` or `"tanh"`, otherwise `ValueError`.
#
# `tinytorch.nn.functional` (a hand-written file) re-exports them lazily, so
# `import tinytorch.nn.functional as F; F.relu(x)` works as in PyTorch.

# %%
#| export
def _softmax_dim(name: str, input: Tensor, dim: int) -> int:
    """``dim`` as a non-negative axis of ``input``; ShapeError naming it if out of range."""
    if input.ndim == 0:
        raise ShapeError(f"{name} needs a tensor with at least 1 dimension, got a 0-d tensor; reshape it to (1,)")
    if not -input.ndim <= dim < input.ndim:
        raise ShapeError(
            f"{name}: dim {dim} is out of range for a tensor with {input.ndim} dimensions "
            f"(shape {input.shape}); use a dim in [{-input.ndim}, {input.ndim - 1}]"
        )
    return dim % input.ndim


def relu(input: Tensor) -> Tensor:
    """``max(input, 0)`` elementwise."""
    return dispatch("relu", input)


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-input))`` elementwise."""
    return dispatch("sigmoid", input)


def tanh(input: Tensor) -> Tensor:
    """``tanh(input)`` elementwise."""
    return dispatch("tanh", input)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU elementwise: exact (erf) form for ``"none"``, tanh form for ``"tanh"``."""
    if approximate not in GELU_APPROXIMATIONS:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return dispatch("gelu", input, approximate=approximate)


def softmax(input: Tensor, dim: int) -> Tensor:
    """Softmax along ``dim`` (negative counts from the end): each slice sums to 1."""
    return dispatch("softmax", input, dim=_softmax_dim("softmax", input, dim))


def log_softmax(input: Tensor, dim: int) -> Tensor:
    """``log(softmax(input, dim))``, computed stably in one op."""
    return dispatch("log_softmax", input, dim=_softmax_dim("log_softmax", input, dim))


# %% [markdown]
# Your kernels and formulas at work through the public functions: negative and
# out-of-range dims, the gap between the two GELU forms, and every op's backward checked
# against finite differences with Module 02's `gradcheck` (on small float64 inputs).

# %%
from tinytorch.autograd import gradcheck

logits = Tensor([[2.0, 1.0, 0.1], [1000.0, -1000.0, 0.0]])
print("softmax(logits, dim=-1) =", softmax(logits, dim=-1))
print("log_softmax(logits, dim=-1) =", log_softmax(logits, dim=-1))
print("softmax(logits, dim=2) raises:", expect_error(ShapeError, lambda: softmax(logits, dim=2), "dim 2"))
print("gelu(x, approximate='fast') raises:", expect_error(ValueError, lambda: gelu(logits, approximate="fast")))
grid = Tensor(np.linspace(-6, 6, 2001))
print(f"largest |gelu exact - gelu tanh| on [-6, 6]: {np.abs(gelu(grid).numpy() - gelu(grid, 'tanh').numpy()).max():.2e}")

rng = np.random.default_rng(2)
checks = {
    "relu": lambda x: relu(x),
    "sigmoid": lambda x: sigmoid(x),
    "tanh": lambda x: tanh(x),
    "gelu (none)": lambda x: gelu(x),
    "gelu (tanh)": lambda x: gelu(x, approximate="tanh"),
    "softmax (dim=0)": lambda x: softmax(x, dim=0),
    "softmax (dim=-1)": lambda x: softmax(x, dim=-1),
    "log_softmax (dim=1)": lambda x: log_softmax(x, dim=1),
}
for name, fn in checks.items():
    values = rng.standard_normal((3, 4))
    values[np.abs(values) < 0.05] = 0.5  # keep relu's kink at 0 away from the finite differences
    gradcheck(fn, [Tensor(values, requires_grad=True)])
print(f"gradcheck passed for {len(checks)} functions: {', '.join(checks)}")

# %% [markdown]
# ## 7. Systems analysis: fused against composed
#
# Log-softmax written with Module 01 ops records a node for each of `sub`, `exp`, `sum`,
# `log` and the final `sub`, each with an output array kept alive for the backward pass,
# and each with its own backward formula. The fused op records one node and keeps one
# output. We time forward+backward of both side by side on a classifier-sized batch
# `(64, 10)` and a vocabulary-sized one `(256, 1000)`, and count the bytes of the arrays
# each graph holds. (`max` is detached in the composed version: its gradient is 0 overall,
# because the shift cancels.)

# %%
import timeit

from tinytorch.autograd import topological_order


def composed_log_softmax(x: Tensor, dim: int) -> Tensor:
    """log_softmax from Module 01 ops: (x - m) - log(sum(exp(x - m)))."""
    shifted = x - x.max(axis=dim, keepdims=True).detach()
    return shifted - shifted.exp().sum(axis=dim, keepdims=True).log()


def graph_summary(root: Tensor) -> tuple[int, int]:
    """(nodes, bytes of the arrays those nodes keep: their outputs and non-leaf inputs)."""
    nodes = [t for t in topological_order(root) if t.grad_fn is not None]
    kept = {id(t.data): t.data.nbytes for t in nodes}
    return len(nodes), sum(kept.values())


rng = np.random.default_rng(3)
for shape in ((64, 10), (256, 1000)):
    x = Tensor(rng.standard_normal(shape) * 3, requires_grad=True)
    weights = Tensor(rng.standard_normal(shape))
    assert np.allclose(composed_log_softmax(x, 1).numpy(), log_softmax(x, 1).numpy(), atol=1e-5)

    def fused() -> None:
        (log_softmax(x, dim=1) * weights).sum().backward()

    def composed() -> None:
        (composed_log_softmax(x, dim=1) * weights).sum().backward()

    number = 200 if shape[1] < 100 else 10
    fused_time = min(timeit.repeat(fused, number=number, repeat=5)) / number
    composed_time = min(timeit.repeat(composed, number=number, repeat=5)) / number
    fused_nodes, fused_bytes = graph_summary(log_softmax(x, dim=1))
    composed_nodes, composed_bytes = graph_summary(composed_log_softmax(x, dim=1))
    print(f"{str(shape):>11}: fused {fused_time * 1e6:8.1f} us, composed {composed_time * 1e6:8.1f} us "
          f"(composed/fused {composed_time / fused_time:4.2f}x); graph nodes {fused_nodes} vs {composed_nodes}, "
          f"kept {fused_bytes / 1024:7.1f} KiB vs {composed_bytes / 1024:7.1f} KiB ({composed_bytes / fused_bytes:4.2f}x)")

# %% [markdown]
# ### Stability, measured
# The textbook formulas against the stable kernels on logits of ±1000, under NumPy's default
# error handling (warnings silenced here, results shown):

# %%
extreme = np.array([[1000.0, -1000.0, 0.0]], dtype=np.float32)
with np.errstate(all="ignore"):
    naive_softmax = np.exp(extreme) / np.exp(extreme).sum(axis=1, keepdims=True)
    naive_log_softmax = np.log(naive_softmax)
    naive_sigmoid = 1 / (1 + np.exp(-extreme))
print("naive  softmax    :", naive_softmax, " stable:", softmax(Tensor(extreme), dim=1).numpy())
print("naive  log_softmax:", naive_log_softmax, " stable:", log_softmax(Tensor(extreme), dim=1).numpy())
print("naive  sigmoid    :", naive_sigmoid, " stable:", sigmoid(Tensor(extreme)).numpy(),
      "(the naive one overflowed in exp(1000): right only because 1 / inf = 0)")

# %% [markdown]
# ## Summary
#
# You added six operations to the framework, each a kernel and a closed-form backward
# formula registered under its name: `relu`, `sigmoid`, `tanh`, `gelu` (exact and tanh
# forms), and the stable `softmax` and `log_softmax`. The measurement above compares the
# fused log-softmax with the same function composed from Module 01 ops: the cell prints
# the time ratio, the number of graph nodes and the bytes each graph keeps alive.
#
# **Reflection questions**
#
# 1. The composed log-softmax kept several arrays of the input's size alive; the fused one
#    kept one. For a language model with a 50,000-token vocabulary and a batch of
#    16 × 1024 positions, how many bytes is one float32 array of logits, and what does each
#    extra kept array cost?
# 2. Softmax's backward never forms the $n \times n$ Jacobian. What would it cost in memory
#    and FLOPs for $n = 50{,}000$ if it did?
# 3. ReLU's gradient is exactly 0 for negative inputs. What happens to a unit whose input is
#    negative for every example ("dying ReLU"), and how does GELU differ?
# 4. Why does `sigmoid_backward` use the saved output rather than recomputing
#    $\sigma(x)$ from the input? What does that cost in memory?
