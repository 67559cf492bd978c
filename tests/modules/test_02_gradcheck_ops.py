"""Every differentiable op of Module 01, its Module 02 gradient against finite differences.

Independent of ``tinytorch.autograd.gradcheck``: the numerical gradient below is a central
difference of a plain **NumPy** reference function in float64, so neither tinytorch's
forward pass nor its own gradcheck is trusted. For an output ``y = f(x)`` and random
weights ``v``, backward(v) must give ``d sum(v * f(x)) / dx``.

Inputs are drawn with hypothesis: broadcasting-compatible shapes, and values bounded away
from the points where an op is not differentiable (log/sqrt/division on positives or away
from 0; max over distinct values).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch.autograd  # noqa: F401  (registers the recorder and the backward engine)
from tinytorch.tensor import Tensor

# derandomize: the same examples on every run, so a result can be reproduced (and a grade is stable).
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None)
EPS = 1e-6


# ---------------------------------------------------------------------------------------------
# the reference: central differences of a NumPy function
# ---------------------------------------------------------------------------------------------
def numerical_gradients(np_fn: Callable[..., np.ndarray], arrays: Sequence[np.ndarray], weights: np.ndarray) -> list[np.ndarray]:
    """d sum(weights * np_fn(*arrays)) / d arrays[i], by central differences in float64."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]

    def objective() -> float:
        return float(np.sum(np.asarray(np_fn(*arrays), dtype=np.float64) * weights))

    grads = []
    for array in arrays:
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + EPS
            plus = objective()
            array[index] = original - EPS
            minus = objective()
            array[index] = original
            grad[index] = (plus - minus) / (2 * EPS)
        grads.append(grad)
    return grads


def check_gradients(
    tt_fn: Callable[..., Tensor],
    np_fn: Callable[..., np.ndarray],
    *arrays: np.ndarray,
    label: str = "",
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Forward of ``tt_fn`` equals ``np_fn``; backward equals the finite-difference gradient."""
    arrays = tuple(np.asarray(a, dtype=np.float64) for a in arrays)
    leaves = [Tensor(a, dtype=np.float64, requires_grad=True) for a in arrays]
    out = tt_fn(*leaves)
    expected = np.asarray(np_fn(*arrays))
    assert isinstance(out, Tensor), f"{label}: expected a Tensor"
    assert out.shape == expected.shape, f"{label}: forward shape {out.shape}, NumPy gives {expected.shape}"
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12, err_msg=f"{label}: forward values")
    assert out.requires_grad, f"{label}: the output of an op on tensors that require grad must require grad"

    weights = np.asarray(np.random.default_rng(12345).standard_normal(expected.shape))
    out.backward(Tensor(weights, dtype=np.float64))
    numeric = numerical_gradients(np_fn, arrays, weights)
    for position, (leaf, reference) in enumerate(zip(leaves, numeric)):
        assert leaf.grad is not None, f"{label}: input {position} got no gradient"
        grad = leaf.grad.numpy()
        assert grad.shape == leaf.shape, f"{label}: input {position} has shape {leaf.shape} but its gradient {grad.shape}"
        assert grad.dtype == np.float64
        np.testing.assert_allclose(
            grad, reference, rtol=rtol, atol=atol,
            err_msg=f"{label}: backward gradient of input {position} (shape {leaf.shape}) differs from finite differences",
        )


# ---------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------
def _values(shape: tuple[int, ...], make: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]):
    """Values of ``shape`` drawn by NumPy from a hypothesis-chosen seed.

    Shapes, axes and indices come from hypothesis (and shrink); the numbers themselves only
    need to stay inside each op's differentiable domain, and drawing them element by element
    through hypothesis would cost most of this file's run time.
    """
    return st.integers(0, 2**32 - 1).map(lambda seed: make(np.random.default_rng(seed), shape))


def reals(shape, low=-3.0, high=3.0):
    return _values(shape, lambda rng, s: rng.uniform(low, high, s))


def away_from_zero(shape, low=0.5, high=3.0):
    """Values with ``low <= |x| <= high`` and either sign."""
    return _values(shape, lambda rng, s: rng.uniform(low, high, s) * rng.choice([-1.0, 1.0], s))


def positives(shape, low=0.2, high=4.0):
    return reals(shape, low, high)


def distinct(shape):
    """Values at least 0.1 apart, so a max is differentiable (no ties within EPS)."""
    return _values(shape, lambda rng, s: (rng.permutation(math.prod(s)).reshape(s) - math.prod(s) / 2) / 10.0)


def masks(shape):
    """Boolean masks, each element True with probability 1/2 (all-False and all-True included)."""
    return st.one_of(st.just(np.zeros(shape, bool)), st.just(np.ones(shape, bool)), _values(shape, lambda rng, s: rng.random(s) < 0.5))


broadcast_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


# ---------------------------------------------------------------------------------------------
# elementwise binary ops, with broadcasting
# ---------------------------------------------------------------------------------------------
BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@PROPERTY
@given(pair=broadcast_pairs, data=st.data())
def test_binary_op_gradients_with_broadcasting(name, pair, data):
    op = BINARY[name]
    shape_a, shape_b = pair.input_shapes
    a = data.draw(reals(shape_a), label="a")
    b = data.draw(away_from_zero(shape_b) if name == "div" else reals(shape_b), label="b")
    check_gradients(op, op, a, b, label=f"{name} {shape_a} with {shape_b}")


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize(
    "shape_a, shape_b",
    [((3, 1), (1, 4)), ((2, 1, 3), (4, 1)), ((), (2, 3)), ((2, 3), ()), ((4,), (3, 1)), ((1,), (1, 1))],
)
def test_binary_op_gradients_both_sides_broadcast(name, shape_a, shape_b):
    op = BINARY[name]
    rng = np.random.default_rng(0)
    a = rng.uniform(-2, 2, shape_a)
    b = rng.uniform(0.5, 2, shape_b)
    check_gradients(op, op, a, b, label=f"{name} {shape_a} with {shape_b}")


@pytest.mark.parametrize("name", sorted(BINARY))
@PROPERTY
@given(pair=broadcast_pairs, form=st.sampled_from(["x op number", "number op x", "x op array", "array op x"]), data=st.data())
def test_binary_op_gradients_with_a_constant(name, pair, form, data):
    """Reflected and mixed operands: only the tensor is differentiated, the constant broadcasts."""
    op = BINARY[name]
    shape_x, shape_c = pair.input_shapes
    if "number" in form:
        constant = data.draw(st.sampled_from([0.5, -1.5, 2, 3.0]), label="constant")
    else:
        constant = data.draw(away_from_zero(shape_c), label="constant")
    if form.startswith("x"):
        x = data.draw(reals(shape_x), label="x")
        check_gradients(lambda t: op(t, constant), lambda a: op(a, constant), x, label=f"x {name} {constant!r}")
    else:
        x = data.draw(away_from_zero(shape_x) if name == "div" else reals(shape_x), label="x")
        check_gradients(lambda t: op(constant, t), lambda a: op(constant, a), x, label=f"{constant!r} {name} x")


# ---------------------------------------------------------------------------------------------
# elementwise unary ops
# ---------------------------------------------------------------------------------------------
@PROPERTY
@given(x=shapes.flatmap(reals))
def test_neg_gradient(x):
    check_gradients(operator.neg, operator.neg, x, label="neg")


@PROPERTY
@given(x=shapes.flatmap(lambda s: reals(s, -3.0, 2.5)))
def test_exp_gradient(x):
    check_gradients(lambda t: t.exp(), np.exp, x, label="exp")


@PROPERTY
@given(x=shapes.flatmap(positives))
def test_log_gradient(x):
    check_gradients(lambda t: t.log(), np.log, x, label="log")


@PROPERTY
@given(x=shapes.flatmap(positives))
def test_sqrt_gradient(x):
    check_gradients(lambda t: t.sqrt(), np.sqrt, x, label="sqrt")


@pytest.mark.parametrize(
    "exponents, domain",
    [
        ([0, 1, 2, 3, 4], reals),  # non-negative integers: any real base
        ([-1, -2, -3], away_from_zero),  # negative integers: any base but 0
        ([0.5, 1.5, 2.5, -0.5, 1 / 3, -1.25], positives),  # fractional: positive bases only
    ],
    ids=["non-negative-int", "negative-int", "fractional"],
)
@PROPERTY
@given(data=st.data())
def test_pow_gradient(exponents, domain, data):
    exponent = data.draw(st.sampled_from(exponents), label="exponent")
    x = data.draw(shapes.flatmap(domain), label="x")
    check_gradients(lambda t: t**exponent, lambda a: np.power(a, exponent), x, label=f"x ** {exponent}")


def test_pow_with_exponent_zero_has_zero_gradient_everywhere():
    # x ** 0 is the constant 1 (NumPy: 0.0 ** 0 == 1), so its derivative is 0, also at x = 0.
    x = np.array([0.0, -1.5, 2.0])
    check_gradients(lambda t: t**0, lambda a: np.power(a, 0.0), x, label="x ** 0 at 0")


@pytest.mark.parametrize("exponent", [1, 2, 3])
def test_pow_gradient_at_zero(exponent):
    x = np.array([0.0, 1.0, -2.0])
    check_gradients(lambda t: t**exponent, lambda a: np.power(a, exponent), x, label=f"x ** {exponent} at 0")


# ---------------------------------------------------------------------------------------------
# matmul
# ---------------------------------------------------------------------------------------------
dims = st.integers(1, 4)
batch_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3)


@pytest.mark.parametrize("kind", ["2d", "batched", "1d-left", "1d-right", "1d-both"])
@PROPERTY
@given(m=dims, k=dims, n=dims, batches=batch_pairs, data=st.data())
def test_matmul_gradient(kind, m, k, n, batches, data):
    batch_a, batch_b = batches.input_shapes
    shape_a = {"2d": (m, k), "batched": (*batch_a, m, k), "1d-left": (k,), "1d-right": (*batch_a, m, k), "1d-both": (k,)}[kind]
    shape_b = {"2d": (k, n), "batched": (*batch_b, k, n), "1d-left": (*batch_b, k, n), "1d-right": (k,), "1d-both": (k,)}[kind]
    a = data.draw(reals(shape_a, -2, 2), label="a")
    b = data.draw(reals(shape_b, -2, 2), label="b")
    check_gradients(operator.matmul, np.matmul, a, b, label=f"matmul {shape_a} @ {shape_b}")


def test_matmul_gradient_shared_weights_over_a_batch():
    rng = np.random.default_rng(0)
    check_gradients(operator.matmul, np.matmul, rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((5, 2)), label="(2,3,4,5) @ (5,2)")
    check_gradients(operator.matmul, np.matmul, rng.standard_normal((3, 1, 2, 4)), rng.standard_normal((5, 4, 2)), label="(3,1,2,4) @ (5,4,2)")


# ---------------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------------
@st.composite
def axes_for(draw, ndim: int):
    """None, an int, or a tuple of distinct axes; each axis possibly negative."""
    as_signed = lambda axis: draw(st.sampled_from([axis, axis - ndim]))  # noqa: E731
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none" or ndim == 0:
        return None
    if kind == "int":
        return as_signed(draw(st.integers(0, ndim - 1)))
    chosen = draw(st.lists(st.integers(0, ndim - 1), unique=True, min_size=1, max_size=ndim))
    return tuple(as_signed(axis) for axis in chosen)


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@PROPERTY
@given(shape=shapes, keepdims=st.booleans(), data=st.data())
def test_reduction_gradients(name, shape, keepdims, data):
    axis = data.draw(axes_for(len(shape)), label="axis")
    x = data.draw(distinct(shape) if name == "max" else reals(shape), label="x")
    check_gradients(
        lambda t: getattr(t, name)(axis=axis, keepdims=keepdims),
        lambda a: getattr(np, name)(a, axis=axis, keepdims=keepdims),
        x,
        label=f"{name}(axis={axis}, keepdims={keepdims}) of {shape}",
    )


@pytest.mark.parametrize(
    "axis, keepdims, expected",
    [
        (1, False, [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]),
        (None, False, [[0.0, 0.0, 0.0], [0.0, 0.5, 0.5]]),
        (0, True, [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]),
    ],
)
def test_max_gradient_splits_equally_between_ties(axis, keepdims, expected):
    x = Tensor([[2.0, 2.0, 1.0], [0.0, 5.0, 5.0]], requires_grad=True)
    x.max(axis=axis, keepdims=keepdims).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, err_msg="tied maxima share the gradient equally")


# ---------------------------------------------------------------------------------------------
# shape operations
# ---------------------------------------------------------------------------------------------
@st.composite
def reshape_targets(draw, size: int):
    """A shape with ``size`` elements, possibly with one -1."""
    target, remaining = [], size
    for _ in range(draw(st.integers(0, 3))):
        divisor = draw(st.sampled_from([d for d in range(1, remaining + 1) if remaining % d == 0]))
        target.append(divisor)
        remaining //= divisor
    target.append(remaining)
    target = draw(st.permutations(target))
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return tuple(target)


@PROPERTY
@given(shape=shapes, data=st.data())
def test_reshape_gradient(shape, data):
    target = data.draw(reshape_targets(math.prod(shape)), label="target")
    x = data.draw(reals(shape), label="x")
    check_gradients(lambda t: t.reshape(*target), lambda a: a.reshape(target), x, label=f"reshape {shape} -> {target}")


@PROPERTY
@given(shape=nonscalar_shapes, data=st.data())
def test_permute_gradient(shape, data):
    axes = tuple(data.draw(st.permutations(range(len(shape))), label="axes"))
    x = data.draw(reals(shape), label="x")
    check_gradients(lambda t: t.permute(*axes), lambda a: np.transpose(a, axes), x, label=f"permute{axes} of {shape}")


@pytest.mark.parametrize("axes", [(-1, 0, 1), (2, -3, 1), (-2, -1, -3), (0, 2, -2)])
def test_permute_gradient_with_negative_axes(axes):
    # permute(-1, 0, 1) is permute(2, 0, 1); its gradient must be the same.
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    check_gradients(lambda t: t.permute(*axes), lambda a: np.transpose(a, axes), x, label=f"permute{axes}")


@PROPERTY
@given(shape=nonscalar_shapes, data=st.data())
def test_transpose_gradient(shape, data):
    ndim = len(shape)
    dim0 = data.draw(st.integers(-ndim, ndim - 1), label="dim0")
    dim1 = data.draw(st.integers(-ndim, ndim - 1), label="dim1")
    x = data.draw(reals(shape), label="x")
    check_gradients(
        lambda t: t.transpose(dim0, dim1), lambda a: np.swapaxes(a, dim0, dim1), x, label=f"transpose({dim0}, {dim1}) of {shape}"
    )


@PROPERTY
@given(shape=nonscalar_shapes, data=st.data())
def test_T_gradient(shape, data):
    x = data.draw(reals(shape), label="x")
    check_gradients(lambda t: t.T, lambda a: a.T, x, label=f".T of {shape}")


# ---------------------------------------------------------------------------------------------
# indexing
# ---------------------------------------------------------------------------------------------
@PROPERTY
@given(shape=shapes, data=st.data())
def test_getitem_gradient_basic_indices(shape, data):
    """Ints (also negative), slices (with steps, also negative), ``...`` and ``None``."""
    index = data.draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True), label="index")
    x = data.draw(reals(shape), label="x")
    check_gradients(lambda t: t[index], lambda a: a[index], x, label=f"[{index!r}] of {shape}")


@PROPERTY
@given(shape=nonscalar_shapes, data=st.data())
def test_getitem_gradient_fancy_indices_with_repeats(shape, data):
    index = data.draw(
        hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=5)), label="index"
    )
    x = data.draw(reals(shape), label="x")
    check_gradients(lambda t: t[index], lambda a: a[index], x, label=f"[{index!r}] of {shape}")


@PROPERTY
@given(shape=nonscalar_shapes, data=st.data())
def test_getitem_gradient_fancy_index_then_slice(shape, data):
    rows = data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=6), label="rows")
    x = data.draw(reals(shape), label="x")
    index = (rows, *([slice(None, None, -1)] if len(shape) > 1 else []))
    check_gradients(lambda t: t[index], lambda a: a[index], x, label=f"[{index!r}] of {shape}")


@pytest.mark.parametrize("mask_of", ["whole", "leading"])
@PROPERTY
@given(shape=nonscalar_shapes, data=st.data())
def test_getitem_gradient_bool_masks(mask_of, shape, data):
    mask_shape = shape if mask_of == "whole" else shape[:1]
    mask = data.draw(masks(mask_shape), label="mask")
    x = data.draw(reals(shape), label="x")
    check_gradients(lambda t: t[mask], lambda a: a[mask], x, label=f"[mask {mask_shape}] of {shape}")


@PROPERTY
@given(shape=nonscalar_shapes, data=st.data())
def test_getitem_gradient_tensor_indices(shape, data):
    rows = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=6), label="rows"))
    mask = data.draw(masks(shape), label="mask")
    x = data.draw(reals(shape), label="x")
    check_gradients(lambda t: t[Tensor(rows, dtype=np.int64)], lambda a: a[rows], x, label=f"[Tensor {rows}]")
    check_gradients(lambda t: t[Tensor(mask)], lambda a: a[mask], x, label="[Tensor mask]")


# ---------------------------------------------------------------------------------------------
# a composition of everything, as a model would use it
# ---------------------------------------------------------------------------------------------
def test_gradients_of_a_small_network():
    rng = np.random.default_rng(7)
    arrays = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((3, 2))
    labels = np.array([0, 1, 1, 0, 1])

    def tt_loss(x, w1, b1, w2):
        hidden = x @ w1 + b1
        hidden = hidden * (hidden > 0)
        logits = hidden @ w2
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - shifted.exp().sum(axis=-1, keepdims=True).log()
        return -log_probs[np.arange(5), labels].mean()

    def np_loss(x, w1, b1, w2):
        hidden = x @ w1 + b1
        hidden = hidden * (hidden > 0)
        logits = hidden @ w2
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return -log_probs[np.arange(5), labels].mean()

    check_gradients(tt_loss, np_loss, *arrays, label="two-layer network with cross-entropy")
