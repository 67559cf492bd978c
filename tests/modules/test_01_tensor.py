"""Unit tests of Module 01: ``tinytorch.tensor``.

Every expected value comes from NumPy or a closed form, never from tinytorch itself.
This file imports only ``tinytorch.tensor``: Module 01 must work before Module 02 exists.
(When both test files run in one process, ``tinytorch.autograd`` may be loaded too; the
tests here do not depend on whether it is.)
"""

from __future__ import annotations

import operator
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch.tensor import (
    KERNELS,
    DtypeError,
    ShapeError,
    Tensor,
    add_observer,
    arange,
    broadcast_shape,
    bytes_for,
    dispatch,
    expect_error,
    manual_seed,
    matmul_kernel,
    ones,
    randn,
    register_kernel,
    remove_observer,
    zeros,
)

# derandomize: the same examples on every run, so a result can be reproduced (and a grade is stable).
PROPERTY = settings(max_examples=30, deadline=None, derandomize=True, database=None)
SUPPORTED_NAMES = ("float32", "float64", "int32", "int64", "bool")
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _kernels_are_restored():
    """A test that swaps a kernel must put the original back."""
    before = dict(KERNELS)
    yield
    assert KERNELS == before, "a test left KERNELS modified: restore what register_kernel returned"


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _message(excinfo: pytest.ExceptionInfo) -> str:
    return str(excinfo.value)


# ---------------------------------------------------------------------------------------------
# dtypes and construction
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        [1, 2, 3],
        [[1.5, -2.0], [3.0, 4.0]],
        7,
        2.5,
        np.arange(6).reshape(2, 3),  # int64
        np.arange(4, dtype=np.int32),
        np.arange(3.0),  # float64
        np.float64(3.25),
        np.array([1, 2], dtype=np.uint8),
        np.array([0.5, 1.5], dtype=np.float16),
    ],
    ids=lambda d: type(d).__name__ + (f"-{d.dtype}" if hasattr(d, "dtype") else ""),
)
def test_real_numbers_become_float32_by_default(data):
    t = Tensor(data)
    expected = np.asarray(data, dtype=np.float32)
    assert t.dtype == np.float32, f"Tensor({data!r}) should be float32 by default, got {t.dtype}"
    assert t.shape == expected.shape, f"Tensor({data!r}): shape {t.shape}, expected {expected.shape}"
    np.testing.assert_array_equal(t.numpy(), expected)


@pytest.mark.parametrize("data", [[True, False, True], np.array([[True], [False]]), True])
def test_bool_data_stays_bool(data):
    t = Tensor(data)
    assert t.dtype == np.bool_, f"boolean data should stay bool, got {t.dtype}"
    np.testing.assert_array_equal(t.numpy(), np.asarray(data))


@pytest.mark.parametrize(
    "dtype, expected",
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int32, np.int32),
        (np.int64, np.int64),
        (np.bool_, np.bool_),
        ("float64", np.float64),
        ("int32", np.int32),
        (np.dtype(np.int64), np.int64),
    ],
)
def test_explicit_dtype_is_used(dtype, expected):
    data = [[0, 1, 2], [3, 0, 5]]
    t = Tensor(data, dtype=dtype)
    assert t.dtype == expected, f"Tensor(..., dtype={dtype!r}) should be {np.dtype(expected)}, got {t.dtype}"
    np.testing.assert_array_equal(t.numpy(), np.asarray(data, dtype=expected))


@pytest.mark.parametrize("dtype", [np.float16, np.complex64, np.complex128, np.int8, np.uint8, np.str_, object])
def test_unsupported_dtype_raises_dtype_error_listing_supported(dtype):
    with pytest.raises(DtypeError) as excinfo:
        Tensor([1, 2, 3], dtype=dtype)
    message = _message(excinfo)
    for name in SUPPORTED_NAMES:
        assert name in message, f"the DtypeError for dtype={np.dtype(dtype)} should list '{name}': {message}"
    if dtype not in (np.str_, object):
        assert np.dtype(dtype).name in message, f"the DtypeError should name the rejected dtype: {message}"


@pytest.mark.parametrize(
    "data, kind",
    [([1 + 2j, 3], "complex128"), (np.array([1j], dtype=np.complex64), "complex64"), (["a", "b"], None), ("text", None), (None, None)],
)
def test_unsupported_data_raises_dtype_error(data, kind):
    with pytest.raises(DtypeError) as excinfo:
        Tensor(data)
    message = _message(excinfo)
    assert "float32" in message, f"the DtypeError should list the supported dtypes: {message}"
    if kind is not None:
        assert kind in message, f"the DtypeError should name the data's dtype {kind}: {message}"


def test_dtype_error_is_a_type_error_and_shape_error_a_value_error():
    # Code written against NumPy catches TypeError/ValueError; ours must still be caught.
    assert issubclass(DtypeError, TypeError)
    assert issubclass(ShapeError, ValueError)


@pytest.mark.parametrize("ragged", [[[1, 2], [3]], [[1], [2, 3]], [[[1.0, 2.0]], [[3.0]]], [1, [2, 3]]])
def test_ragged_lists_raise_shape_error(ragged):
    with pytest.raises(ShapeError):
        Tensor(ragged)


def test_tensor_copies_its_data():
    source_array = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    from_array = Tensor(source_array)
    source_array[0] = 99.0
    assert from_array.numpy()[0] == 1.0, "Tensor(array) must copy: changing the array changed the tensor"

    source_list = [1.0, 2.0]
    from_list = Tensor(source_list)
    source_list[0] = 99.0
    assert from_list.numpy()[0] == 1.0

    original = Tensor([1.0, 2.0])
    clone = Tensor(original)
    clone.numpy()[0] = 99.0
    assert original.numpy()[0] == 1.0, "Tensor(tensor) must copy, not share the other tensor's memory"
    assert not np.shares_memory(clone.numpy(), original.numpy())


def test_numpy_method_shares_memory_but_np_array_copies():
    t = Tensor([1.0, 2.0, 3.0])
    assert isinstance(t.numpy(), np.ndarray)
    assert np.shares_memory(t.numpy(), t.data), ".numpy() returns the underlying array (shared)"
    copied = np.array(t)  # NumPy's contract: np.array(obj) (copy=True) returns a new array
    np.testing.assert_array_equal(copied, [1.0, 2.0, 3.0])
    copied[0] = 99.0
    assert t.numpy()[0] == 1.0, (
        "np.array(tensor) must return a copy (NumPy asks Tensor.__array__ for one with copy=True): "
        "writing to the result changed the tensor"
    )
    as_float64 = np.asarray(t, dtype=np.float64)
    assert as_float64.dtype == np.float64
    np.testing.assert_array_equal(as_float64, [1.0, 2.0, 3.0])


def test_arithmetic_with_numbers_keeps_the_floating_dtype():
    x32 = Tensor([1.0, 2.0])
    x64 = Tensor([1.0, 2.0], dtype=np.float64)
    for result in (x32 + 1, x32 * 2.5, 3 - x32, 1 / x32, x32 + np.float64(1.0), x32 * np.arange(2.0)):
        assert result.dtype == np.float32, f"float32 tensor op number/array should stay float32, got {result.dtype}"
    for result in (x64 + 1, x64 * 2.5, 3 - x64, 1 / x64):
        assert result.dtype == np.float64, f"float64 tensor op number should stay float64, got {result.dtype}"
    assert (x32 + Tensor([1.0, 2.0], dtype=np.float64)).dtype == np.float64, "float32 + float64 tensors promote"


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_tensor_with_python_int_stays_integer(dtype):
    # Index arithmetic (``labels + 1``, ``idx * 2``) must give an index again, as in PyTorch.
    idx = Tensor([0, 1, 2], dtype=dtype)
    for result, expected in ((idx + 1, [1, 2, 3]), (idx * 2, [0, 2, 4]), (5 - idx, [5, 4, 3])):
        assert result.dtype == dtype, (
            f"{np.dtype(dtype)} tensor op Python int should stay {np.dtype(dtype)} (like PyTorch), "
            f"got {result.dtype}"
        )
        np.testing.assert_array_equal(result.numpy(), expected)


# ---------------------------------------------------------------------------------------------
# broadcasting arithmetic
# ---------------------------------------------------------------------------------------------
BINARY_OPS = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
}
COMPARISONS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def _nonzero_floats(shape):
    # Bounded away from 0 so that division is well defined; some repeats so == is exercised.
    magnitudes = st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.25])
    values = st.builds(operator.mul, magnitudes, st.sampled_from([-1.0, 1.0]))
    return hnp.arrays(np.float32, shape, elements=values)


@PROPERTY
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
    name=st.sampled_from(sorted({**BINARY_OPS, **COMPARISONS})),
    data=st.data(),
)
def test_binary_ops_broadcast_like_numpy(shapes, name, data):
    shape_a, shape_b = shapes.input_shapes
    a = data.draw(_nonzero_floats(shape_a), label="a")
    b = data.draw(_nonzero_floats(shape_b), label="b")
    op = {**BINARY_OPS, **COMPARISONS}[name]
    result = op(Tensor(a), Tensor(b))
    expected = op(a, b)
    assert isinstance(result, Tensor), f"{name} should return a Tensor"
    assert result.shape == expected.shape, f"{name}: {shape_a} with {shape_b} gave {result.shape}, NumPy gives {expected.shape}"
    assert result.dtype == expected.dtype, f"{name}: dtype {result.dtype}, NumPy gives {expected.dtype}"
    if name in COMPARISONS:
        np.testing.assert_array_equal(result.numpy(), expected, err_msg=name)
    else:
        np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", sorted({**BINARY_OPS, **COMPARISONS}))
def test_incompatible_shapes_raise_shape_error_naming_both(name):
    op = {**BINARY_OPS, **COMPARISONS}[name]
    with pytest.raises(ShapeError) as excinfo:
        op(Tensor(np.ones((2, 3))), Tensor(np.ones(2)))
    message = _message(excinfo)
    assert "(2, 3)" in message and "(2,)" in message, f"{name}: the error should name both shapes: {message}"


@pytest.mark.parametrize("name", sorted(BINARY_OPS))
@pytest.mark.parametrize("number", [2, 2.5, -0.75])
def test_reflected_ops_with_a_number_on_the_left(name, number):
    op = BINARY_OPS[name]
    x = np.array([[1.0, -2.0, 4.0]], dtype=np.float32)
    result = op(number, Tensor(x))
    assert isinstance(result, Tensor), f"{number} {name} tensor should be a Tensor"
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.numpy(), op(np.float32(number), x), rtol=1e-6)


@pytest.mark.parametrize("name", sorted({**BINARY_OPS, **COMPARISONS, "matmul": operator.matmul}))
def test_numpy_array_on_the_left_defers_to_tensor(name):
    op = {**BINARY_OPS, **COMPARISONS, "matmul": operator.matmul}[name]
    left = np.array([[1.0, 2.0], [3.0, -4.0]])  # float64 array
    right = np.array([[0.5, -1.0], [2.0, 3.0]], dtype=np.float32)
    result = op(left, Tensor(right))
    # __array_ufunc__ = None makes NumPy call the Tensor's reflected operator instead of
    # turning the tensor into an array (or an array of objects).
    assert isinstance(result, Tensor), f"ndarray {name} Tensor should give a Tensor, got {type(result).__name__}"
    expected = op(left.astype(np.float32), right)
    assert result.dtype == expected.dtype, f"{name}: dtype {result.dtype}, expected {expected.dtype}"
    np.testing.assert_allclose(result.numpy().astype(np.float64), expected.astype(np.float64), rtol=1e-6)


def test_numpy_scalar_on_the_left_defers_to_tensor():
    t = Tensor([1.0, 2.0])
    result = np.float64(3.0) * t
    assert isinstance(result, Tensor) and result.dtype == np.float32
    np.testing.assert_allclose(result.numpy(), [3.0, 6.0])


def test_neg():
    x = np.array([[1.0, -2.0], [0.0, 3.5]], dtype=np.float32)
    np.testing.assert_array_equal((-Tensor(x)).numpy(), -x)


@PROPERTY
@given(
    shape_a=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3),
    shape_b=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3),
)
def test_broadcast_shape_matches_numpy(shape_a, shape_b):
    try:
        expected = np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        with pytest.raises(ShapeError) as excinfo:
            broadcast_shape(shape_a, shape_b)
        message = _message(excinfo)
        assert str(shape_a) in message and str(shape_b) in message, f"broadcast_shape: name both shapes: {message}"
    else:
        got = broadcast_shape(shape_a, shape_b)
        assert tuple(got) == expected, f"broadcast_shape{shape_a, shape_b} = {got}, NumPy gives {expected}"


# ---------------------------------------------------------------------------------------------
# matmul
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape_a, shape_b",
    [
        ((3, 4), (4, 5)),
        ((1, 1), (1, 1)),
        ((2, 3, 4), (4, 5)),
        ((4, 5), (2, 5, 3)),
        ((2, 3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),  # batch dimensions broadcast: (2, 1) with (5,)
        ((4,), (4, 5)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((4,), (2, 4, 3)),
        ((2, 3, 4), (4,)),
    ],
)
def test_matmul_matches_numpy(shape_a, shape_b):
    rng = _rng(1)
    a = rng.standard_normal(shape_a).astype(np.float32)
    b = rng.standard_normal(shape_b).astype(np.float32)
    expected = np.matmul(a, b)
    for result in (Tensor(a) @ Tensor(b), Tensor(a).matmul(Tensor(b))):
        assert result.shape == expected.shape, f"{shape_a} @ {shape_b}: shape {result.shape}, expected {expected.shape}"
        assert result.dtype == np.float32
        np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "shape_a, shape_b",
    [
        ((3, 4), (5, 6)),  # inner dimensions differ
        ((4, 3), (4, 3)),
        ((3,), (4,)),
        ((3, 4), (5,)),
        ((5,), (4, 3)),
        ((2, 3, 4), (3, 4, 5)),  # batch dimensions do not broadcast
        ((), (3,)),  # 0-d operands
        ((3,), ()),
    ],
)
def test_matmul_error_names_both_shapes(shape_a, shape_b):
    with pytest.raises(ShapeError) as excinfo:
        Tensor(np.ones(shape_a)) @ Tensor(np.ones(shape_b))
    message = _message(excinfo)
    assert str(shape_a) in message and str(shape_b) in message, (
        f"the matmul error for {shape_a} @ {shape_b} should name both shapes, got: {message}"
    )


@pytest.mark.parametrize("shape_a, shape_b", [((3, 4), (5, 6)), ((2, 3, 4), (3, 4, 5)), ((2, 3, 4), (3, 4)), ((), (3,))])
def test_matmul_kernel_rejects_bad_shapes_itself(shape_a, shape_b):
    # Module 16 calls kernels directly, without Tensor and dispatch around them.
    with pytest.raises(ShapeError) as excinfo:
        matmul_kernel(np.ones(shape_a), np.ones(shape_b))
    message = _message(excinfo)
    assert str(shape_a) in message and str(shape_b) in message, f"matmul_kernel should name both shapes: {message}"


# ---------------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------------
@st.composite
def _array_and_axis(draw, min_dims=1):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    axis = draw(
        st.one_of(
            st.none(),
            st.integers(-ndim, ndim - 1),
            st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).flatmap(
                lambda axes: st.tuples(*[st.sampled_from([a, a - ndim]) for a in axes])
            ),
        )
    )
    values = draw(hnp.arrays(np.float32, shape, elements=st.floats(-10, 10, width=32)))
    return values, axis


@PROPERTY
@given(case=_array_and_axis(), name=st.sampled_from(["sum", "mean", "max"]), keepdims=st.booleans())
def test_reductions_match_numpy(case, name, keepdims):
    values, axis = case
    result = getattr(Tensor(values), name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(values, axis=axis, keepdims=keepdims)
    label = f"{name}(axis={axis}, keepdims={keepdims}) of shape {values.shape}"
    assert result.shape == np.shape(expected), f"{label}: shape {result.shape}, NumPy gives {np.shape(expected)}"
    assert result.dtype == np.float32, f"{label}: dtype {result.dtype}, expected float32"
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-5, err_msg=label)


def test_reduction_defaults_reduce_everything():
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = Tensor(values)
    assert t.sum().shape == () and t.sum().item() == values.sum()
    assert t.mean().item() == pytest.approx(values.mean())
    assert t.max().item() == values.max()
    assert t.sum(keepdims=True).shape == (1, 1, 1)


def test_reduction_dtypes():
    ints = Tensor(np.arange(12).reshape(3, 4), dtype=np.int64)
    assert ints.sum().dtype == np.int64 and ints.sum().item() == 66
    assert ints.max(axis=0).dtype == np.int64
    mean = ints.mean(axis=1)
    assert mean.dtype == np.float32, f"the mean of an int tensor should be float32, got {mean.dtype}"
    np.testing.assert_allclose(mean.numpy(), [1.5, 5.5, 9.5])
    assert Tensor([1.0, 2.0], dtype=np.float64).mean().dtype == np.float64, "mean keeps float64"


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", [2, -3, (0, 2), (0, -2)])
def test_reduction_axis_errors(name, axis):
    with pytest.raises(ShapeError) as excinfo:
        getattr(Tensor(np.ones((2, 3))), name)(axis=axis)
    assert "axis" in _message(excinfo)


def test_max_of_empty_tensor_raises():
    with pytest.raises(ShapeError) as excinfo:
        Tensor(np.ones((0, 3))).max()
    assert "(0, 3)" in _message(excinfo)


# ---------------------------------------------------------------------------------------------
# shape operations
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, expected_shape",
    [
        ((-1, 4), (6, 4)),
        ((6, -1), (6, 4)),
        ((2, -1, 3), (2, 4, 3)),
        ((-1,), (24,)),
        ((24,), (24,)),
        (((4, 6),), (4, 6)),  # a tuple
        (([3, -1],), (3, 8)),  # a list
        ((1, 2, 1, 12), (1, 2, 1, 12)),
    ],
)
def test_reshape_matches_numpy(args, expected_shape):
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    result = Tensor(values).reshape(*args)
    assert result.shape == expected_shape, f"reshape{args}: shape {result.shape}, expected {expected_shape}"
    np.testing.assert_array_equal(result.numpy(), values.reshape(expected_shape))


def test_reshape_of_empty_and_scalar():
    assert Tensor(np.ones((0, 3))).reshape(-1).shape == (0,)
    assert Tensor(np.ones((0, 3))).reshape(3, -1).shape == (3, 0)
    assert Tensor(5.0).reshape(1, 1).shape == (1, 1)
    assert Tensor([5.0]).reshape(()).shape == ()


@pytest.mark.parametrize("shape", [(5, 5), (7, -1), (-1, 5), (25,)])
def test_reshape_element_count_errors(shape):
    with pytest.raises(ShapeError) as excinfo:
        Tensor(np.ones((4, 6))).reshape(*shape)
    message = _message(excinfo)
    assert "24" in message and str(shape) in message, (
        f"reshape{shape} of 24 elements: the error should say 24 elements and the shape asked for: {message}"
    )


@pytest.mark.parametrize("shape", [(-1, -1), (-1, 2, -1), (-2, -12), (2, -3, -4)])
def test_reshape_invalid_shape_errors(shape):
    with pytest.raises(ShapeError) as excinfo:
        Tensor(np.ones((4, 6))).reshape(*shape)
    assert str(shape) in _message(excinfo), f"reshape{shape}: the error should name the requested shape"


@pytest.mark.parametrize("axes", [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0), (-1, 0, 1), (0, -1, -2)])
def test_permute_matches_numpy(axes):
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for result in (Tensor(values).permute(*axes), Tensor(values).permute(axes)):
        np.testing.assert_array_equal(result.numpy(), np.transpose(values, axes))


@pytest.mark.parametrize("axes", [(0, 1), (0, 1, 1), (0, 1, 2, 3), (0, 1, 3)])
def test_permute_errors(axes):
    with pytest.raises(ShapeError):
        Tensor(np.ones((2, 3, 4))).permute(*axes)


@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (0, 2), (-1, 0), (1, -2), (2, 2)])
def test_transpose_matches_numpy(dims):
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(Tensor(values).transpose(*dims).numpy(), np.swapaxes(values, *dims))


@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 3, 4)])
def test_T_reverses_all_dimensions(shape):
    values = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    np.testing.assert_array_equal(Tensor(values).T.numpy(), values.T)


INDICES = [
    1,
    -1,
    (1, 2),
    (-1, 0, 3),
    slice(1, None),
    slice(None, None, -1),
    (slice(None), 0),
    (slice(0, 2), slice(None), slice(1, 4, 2)),
    (Ellipsis, 1),
    (None, 0),
    [0, 1, 1, 0],
    np.array([[0, 1], [1, 1]]),
    ([0, 1, 1], [2, 0, 2]),
    (slice(None), [2, 2, 0]),
    np.array([True, False]),
    "mask",  # values > 10, a boolean array of the tensor's shape
]


@pytest.mark.parametrize("index", INDICES, ids=repr)
def test_indexing_matches_numpy(index):
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    if isinstance(index, str):
        index = values > 10
    result = Tensor(values)[index]
    expected = values[index]
    assert result.shape == np.shape(expected), f"t[{index!r}]: shape {result.shape}, NumPy gives {np.shape(expected)}"
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result.numpy(), expected)


def test_indexing_with_tensors():
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = Tensor(values)
    idx = Tensor([2, 0, 2], dtype=np.int64)
    np.testing.assert_array_equal(t[idx].numpy(), values[[2, 0, 2]])
    mask = t > 5  # a bool Tensor
    np.testing.assert_array_equal(t[mask].numpy(), values[values > 5])
    np.testing.assert_array_equal(t[idx, 1:].numpy(), values[[2, 0, 2], 1:])
    np.testing.assert_array_equal(t[1:, Tensor([3, 3], dtype=np.int32)].numpy(), values[1:, [3, 3]])


def test_indexing_int_gives_a_0d_tensor_and_out_of_range_raises():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    element = t[1, 0]
    assert isinstance(element, Tensor) and element.shape == () and element.item() == 3.0
    with pytest.raises(IndexError):
        t[2]


# ---------------------------------------------------------------------------------------------
# elementwise functions and comparisons
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["exp", "log", "sqrt"])
def test_unary_functions_match_numpy(name):
    values = np.array([[0.25, 1.0, 2.0], [3.5, 10.0, 0.01]], dtype=np.float32)
    result = getattr(Tensor(values), name)()
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.numpy(), getattr(np, name)(values), rtol=1e-6)


@pytest.mark.parametrize("exponent", [2, 3, 0, 1, -1, -2, 0.5, 1.5, -0.5, 2.0])
def test_pow_matches_numpy(exponent):
    values = np.array([0.25, 1.0, 2.0, 3.5], dtype=np.float32)
    result = Tensor(values) ** exponent
    assert result.dtype == np.float32, f"x ** {exponent} should stay float32, got {result.dtype}"
    np.testing.assert_allclose(result.numpy(), values.astype(np.float64) ** exponent, rtol=1e-6)


def test_pow_negative_base_with_integer_exponent():
    values = np.array([-2.0, -0.5, 3.0], dtype=np.float32)
    np.testing.assert_allclose((Tensor(values) ** 3).numpy(), values**3)


def test_tensor_exponent_is_rejected():
    with pytest.raises(TypeError):
        Tensor([2.0]) ** Tensor([2.0])


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparisons_give_bool_and_never_require_grad(name):
    op = COMPARISONS[name]
    a = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    b = np.array([[2.0], [3.0]], dtype=np.float32)
    x = Tensor(a, requires_grad=True)
    for result, expected in ((op(x, Tensor(b)), op(a, b)), (op(x, 2.0), op(a, 2.0))):
        assert result.dtype == np.bool_, f"{name} should give a bool tensor, got {result.dtype}"
        assert result.requires_grad is False, f"{name}: comparison results never require grad"
        assert result.grad_fn is None
        np.testing.assert_array_equal(result.numpy(), expected)


# ---------------------------------------------------------------------------------------------
# conversions and Python protocols
# ---------------------------------------------------------------------------------------------
def test_item():
    assert Tensor(2.5).item() == 2.5 and isinstance(Tensor(2.5).item(), float)
    assert Tensor([[4.0]]).item() == 4.0, "item() works on any one-element tensor"
    assert Tensor([7], dtype=np.int64).item() == 7 and isinstance(Tensor([7], dtype=np.int64).item(), int)
    assert Tensor(True).item() is True


def test_item_error_names_the_shape():
    with pytest.raises(ValueError) as excinfo:
        Tensor(np.ones((2, 3))).item()
    assert "(2, 3)" in _message(excinfo)


def test_bool():
    assert bool(Tensor([1.0])) is True and bool(Tensor(0.0)) is False
    assert bool(Tensor([[2.0]]) > 1) is True
    with pytest.raises(ValueError):
        bool(Tensor([1.0, 2.0]))
    with pytest.raises(ValueError):
        bool(Tensor(np.ones((0,))))


def test_len():
    assert len(Tensor(np.ones((4, 2)))) == 4
    assert len(Tensor([1.0, 2.0, 3.0])) == 3
    with pytest.raises(TypeError):
        len(Tensor(1.0))


def test_shape_ndim_size():
    t = Tensor(np.ones((2, 3, 4)))
    assert (t.shape, t.ndim, t.size) == ((2, 3, 4), 3, 24)
    s = Tensor(1.0)
    assert (s.shape, s.ndim, s.size) == ((), 0, 1)


def test_repr():
    text = repr(Tensor([1.5, -2.0]))
    assert text.startswith("Tensor(") and "1.5" in text and "-2." in text, text
    assert "dtype" not in text, f"float32 is the default and need not be shown: {text}"
    ints = repr(Tensor([1, 2], dtype=np.int64))
    assert "int64" in ints, f"a non-default dtype should be shown: {ints}"
    assert "requires_grad=True" in repr(Tensor([1.0], requires_grad=True))
    big = repr(Tensor(np.zeros((100, 100))))
    assert len(big) < 2000, "repr of a large tensor should be summarized"


# ---------------------------------------------------------------------------------------------
# factories
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("factory, fill", [(zeros, 0.0), (ones, 1.0)])
def test_zeros_and_ones(factory, fill):
    for t in (factory(2, 3), factory((2, 3)), factory([2, 3])):
        assert t.shape == (2, 3) and t.dtype == np.float32
        np.testing.assert_array_equal(t.numpy(), np.full((2, 3), fill, dtype=np.float32))
    assert factory(4, dtype=np.int64).dtype == np.int64
    assert factory().shape == ()
    assert factory(3, requires_grad=True).requires_grad
    with pytest.raises(DtypeError):
        factory(3, dtype=np.float16)


def test_randn_is_seedable():
    manual_seed(123)
    first = randn(3, 4)
    manual_seed(123)
    second = randn(3, 4)
    assert first.shape == (3, 4) and first.dtype == np.float32
    np.testing.assert_array_equal(first.numpy(), second.numpy(), err_msg="same seed must give the same numbers")
    third = randn(3, 4)
    assert not np.array_equal(second.numpy(), third.numpy()), "consecutive draws should differ"
    manual_seed(124)
    assert not np.array_equal(randn(3, 4).numpy(), first.numpy()), "a different seed should give different numbers"


def test_randn_uses_the_given_generator():
    result = randn(2, 5, generator=np.random.default_rng(7))
    expected = np.random.default_rng(7).standard_normal((2, 5)).astype(np.float32)
    np.testing.assert_array_equal(result.numpy(), expected)
    # ... and leaves the default generator alone.
    manual_seed(5)
    expected_default = randn(3).numpy()
    manual_seed(5)
    randn(3, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(randn(3).numpy(), expected_default)
    assert randn((2, 2), generator=np.random.default_rng(0), dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("args, kwargs", [((5,), {}), ((2, 8), {}), ((2, 8, 2), {}), ((0, 1, 0.25), {}), ((-3, 3), {"dtype": np.int64})])
def test_arange_matches_numpy(args, kwargs):
    result = arange(*args, **kwargs)
    expected = np.arange(*args).astype(kwargs.get("dtype", np.float32))
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result.numpy(), expected)


# ---------------------------------------------------------------------------------------------
# memory accounting
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape, dtype",
    [((2, 3), np.float32), ((), np.float64), ((4, 0), np.float32), ((7, 5, 3), np.int64), ((10,), np.bool_), ((3, 4), np.int32), ((1024, 1024), np.float32)],
)
def test_bytes_for_and_nbytes_match_numpy(shape, dtype):
    expected = np.zeros(shape, dtype=dtype).nbytes
    assert bytes_for(shape, dtype) == expected, f"bytes_for({shape}, {np.dtype(dtype)}) should be {expected}"
    assert Tensor(np.zeros(shape), dtype=dtype).nbytes == expected


def test_bytes_for_default_dtype_is_float32():
    assert bytes_for((5, 7)) == 5 * 7 * 4


# ---------------------------------------------------------------------------------------------
# the dispatch layer
# ---------------------------------------------------------------------------------------------
class _Recorder:
    """A dispatch observer that writes down what it sees."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def before(self, op, inputs, attrs):
        self.events.append(("before", op, inputs, dict(attrs)))

    def after(self, op, inputs, attrs, out):
        self.events.append(("after", op, inputs, dict(attrs), out))


@pytest.fixture
def observer():
    recorder = _Recorder()
    add_observer(recorder)
    try:
        yield recorder
    finally:
        try:
            remove_observer(recorder)
        except ValueError:
            pass  # the test removed it itself


def _ops_seen(recorder: _Recorder) -> list[str]:
    return [event[1] for event in recorder.events if event[0] == "before"]


_A = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
OP_NAMES = [
    (lambda a: a + a, ["add"]),
    (lambda a: 1 + a, ["add"]),
    (lambda a: a - 1, ["sub"]),
    (lambda a: 2 - a, ["sub"]),
    (lambda a: a * a, ["mul"]),
    (lambda a: 3 * a, ["mul"]),
    (lambda a: a / 2, ["div"]),
    (lambda a: 2 / a, ["div"]),
    (lambda a: -a, ["neg"]),
    (lambda a: a**2, ["pow"]),
    (lambda a: a.exp(), ["exp"]),
    (lambda a: a.log(), ["log"]),
    (lambda a: a.sqrt(), ["sqrt"]),
    (lambda a: a @ a, ["matmul"]),
    (lambda a: np.eye(2) @ a, ["matmul"]),
    (lambda a: a.sum(axis=0), ["sum"]),
    (lambda a: a.mean(), ["mean"]),
    (lambda a: a.max(axis=1, keepdims=True), ["max"]),
    (lambda a: a.reshape(4), ["reshape"]),
    (lambda a: a.permute(1, 0), ["permute"]),
    (lambda a: a.transpose(0, 1), ["permute"]),
    (lambda a: a.T, ["permute"]),
    (lambda a: a[0], ["getitem"]),
    (lambda a: a == a, ["eq"]),
    (lambda a: a != 1, ["ne"]),
    (lambda a: a < 1, ["lt"]),
    (lambda a: a <= 1, ["le"]),
    (lambda a: a > 1, ["gt"]),
    (lambda a: a >= 1, ["ge"]),
    (lambda a: (a * 2).sum(), ["mul", "sum"]),
]


@pytest.mark.parametrize("fn, expected", OP_NAMES, ids=[" ".join(names) + f"-{i}" for i, (_, names) in enumerate(OP_NAMES)])
def test_every_operation_goes_through_dispatch(observer, fn, expected):
    fn(Tensor(_A))
    assert _ops_seen(observer) == expected, f"expected dispatch of {expected}, the observer saw {_ops_seen(observer)}"


def test_observer_sees_before_and_after_in_order(observer):
    a, b = Tensor(_A), Tensor([10.0, 20.0])
    total = (a + b).sum(axis=-1, keepdims=True)
    events = observer.events
    assert [(e[0], e[1]) for e in events] == [("before", "add"), ("after", "add"), ("before", "sum"), ("after", "sum")]
    before_add, after_add, before_sum, after_sum = events
    assert before_add[2][0] is a and before_add[2][1] is b, "before() gets the input tensors"
    assert after_add[2][0] is a and after_add[2][1] is b
    np.testing.assert_array_equal(after_add[4].numpy(), _A + np.array([10.0, 20.0], dtype=np.float32))
    assert before_sum[2][0] is after_add[4], "the add's output is the sum's input"
    assert before_sum[3]["keepdims"] is True and before_sum[3]["axis"] in (-1, (-1,), 1, (1,))
    assert after_sum[4] is total, "after() gets the tensor that the operation returns"


def test_remove_observer_stops_notifications():
    recorder = _Recorder()
    add_observer(recorder)
    Tensor([1.0]) + 1
    remove_observer(recorder)
    Tensor([1.0]) * 2
    assert _ops_seen(recorder) == ["add"]
    with pytest.raises(ValueError):
        remove_observer(recorder)


def test_two_observers_both_notified(observer):
    second = _Recorder()
    add_observer(second)
    try:
        Tensor([1.0]).exp()
    finally:
        remove_observer(second)
    assert _ops_seen(observer) == _ops_seen(second) == ["exp"]


def test_register_kernel_returns_previous_and_is_used():
    calls = []

    def counting_add(a, b):
        calls.append((a.shape, b.shape))
        return np.add(a, b)

    original = KERNELS["add"]
    previous = register_kernel("add", counting_add)
    try:
        assert previous is original, "register_kernel should return the kernel it replaced"
        result = Tensor([1.0, 2.0]) + Tensor([[10.0], [20.0]])
        assert calls == [((2,), (2, 1))], "Tensor + must run the registered kernel"
        np.testing.assert_array_equal(result.numpy(), [[11.0, 12.0], [21.0, 22.0]])
    finally:
        replaced = register_kernel("add", previous)
    assert replaced is counting_add
    Tensor([1.0]) + 1
    assert len(calls) == 1, "after restoring, the original kernel runs again"


def test_register_new_kernel_and_dispatch_it():
    name = "test_01_scaled_add"
    assert register_kernel(name, lambda a, b, scale: a + scale * b) is None, "a new op has no previous kernel"
    try:
        a, b = Tensor([1.0, 2.0]), Tensor([3.0, 4.0])
        out = dispatch(name, a, b, scale=2.0)
        assert isinstance(out, Tensor) and out is not a and out is not b
        np.testing.assert_array_equal(out.numpy(), [7.0, 10.0])
    finally:
        KERNELS.pop(name)


def test_register_kernel_as_a_decorator():
    name = "test_01_decorated_kernel"
    try:

        @register_kernel(name)
        def double(a: np.ndarray) -> np.ndarray:
            return 2 * a

        assert KERNELS[name] is double and double.__name__ == "double", "the decorator registers the function as it is"
        np.testing.assert_array_equal(dispatch(name, Tensor([1.0, 2.0])).numpy(), [2.0, 4.0])
        assert register_kernel(name, np.negative) is double, "a later call returns the decorated kernel it replaced"
    finally:
        KERNELS.pop(name)


def test_dispatch_of_unknown_op_names_it():
    x = Tensor([1.0])  # outside pytest.raises: an unwritten as_array is a stub, not this error
    with pytest.raises(NotImplementedError) as excinfo:
        dispatch("test_01_no_such_op", x)
    assert "test_01_no_such_op" in _message(excinfo)


def test_recorder_and_engine_seams_without_autograd():
    """In a fresh interpreter with only Module 01 loaded: the seams Module 02 plugs into."""
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import tinytorch.tensor as tt

        assert "tinytorch.autograd" not in sys.modules, "tinytorch.tensor must not import autograd"
        x = tt.Tensor([1.0, 2.0], requires_grad=True)
        try:
            x.sum().backward()
        except RuntimeError as error:
            assert "02" in str(error) or "autograd" in str(error), str(error)
        else:
            raise AssertionError("backward() without Module 02 should raise RuntimeError")

        seen = []
        tt.set_graph_recorder(lambda op, inputs, attrs, out: seen.append((op, inputs, attrs, out)))
        y = x * 3
        assert len(seen) == 1 and seen[0][0] == "mul" and seen[0][1][0] is x and seen[0][3] is y, seen
        tt.set_graph_recorder(None)
        x + 1
        assert len(seen) == 1, "set_graph_recorder(None) switches recording off"

        calls = []
        tt.set_backward_engine(lambda tensor, gradient: calls.append((tensor, gradient)))
        g = tt.Tensor([1.0, 1.0])
        y.backward(g)
        assert calls == [(y, g)], calls
        print("ok")
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert completed.returncode == 0 and completed.stdout.strip() == "ok", completed.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# expect_error, the test helper of every notebook
# ---------------------------------------------------------------------------------------------
def _raise(error: BaseException):
    def fn():
        raise error

    return fn


def test_expect_error_returns_the_expected_error():
    error = ShapeError("shapes (2, 3) and (4,) cannot broadcast")
    assert expect_error(ShapeError, _raise(error), "(2, 3)", "(4,)") is error
    assert expect_error(ValueError, _raise(error)) is error, "a subclass of the expected type is accepted"


@pytest.mark.parametrize(
    "fn, fragments, says",
    [
        (lambda: 42, (), "raised nothing"),
        (_raise(TypeError("wrong kind")), (), "raised TypeError: wrong kind"),
        (_raise(ShapeError("shapes (2, 3) and (4,)")), ("(2, 3)", "(5,)"), "'(5,)'"),
    ],
    ids=["nothing raised", "another error", "fragment missing"],
)
def test_expect_error_fails_with_a_message_naming_the_call(fn, fragments, says):
    with pytest.raises(AssertionError) as excinfo:
        expect_error(ShapeError, fn, *fragments, what="broadcast_shape((2, 3), (4,))")
    message = _message(excinfo)
    assert message.startswith("broadcast_shape((2, 3), (4,))") and says in message and "ShapeError" in message, message


def test_expect_error_lets_a_stub_through_even_where_a_runtime_error_is_expected():
    # nbgrader's stub raises NotImplementedError, a subclass of RuntimeError: it must reach the
    # grader as the stub it is ("... is not written yet"), not count as the expected error.
    with pytest.raises(NotImplementedError):
        expect_error(RuntimeError, _raise(NotImplementedError()))
    with pytest.raises(NotImplementedError):
        expect_error(ShapeError, _raise(NotImplementedError()))
    stub = NotImplementedError("on purpose")
    assert expect_error(NotImplementedError, _raise(stub)) is stub



def test_rng_state_round_trip_restores_the_sequence():
    from tinytorch.tensor import get_rng_state, set_rng_state

    manual_seed(3)
    randn(2)
    state = get_rng_state()
    expected = randn(4, 3).numpy()
    randn(7)  # move on, then come back
    set_rng_state(state)
    np.testing.assert_array_equal(randn(4, 3).numpy(), expected, err_msg="set_rng_state must restore the sequence")
    assert get_rng_state() != state, "get_rng_state returns a snapshot, not a live view"
    with pytest.raises(TypeError, match="get_rng_state"):
        set_rng_state([1, 2])
    with pytest.raises(ValueError):
        set_rng_state(np.random.MT19937(0).state)
