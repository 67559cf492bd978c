"""Unit tests of Module 02: ``tinytorch.autograd`` (the engine, no_grad, gradcheck).

Expected gradients are closed forms worked out by hand or computed with NumPy. The engine
and gradcheck are tested on ops whose kernels and formulas are written in this file
(``add``, ``mul``, ``total``, ...), so a wrong formula in ``tinytorch.autograd`` fails its own
test in ``test_02_gradcheck_ops.py``, which checks every op's formula against finite
differences, and not the engine's tests here.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

from tinytorch.autograd import (
    GRADIENTS,
    GradcheckError,
    gradcheck,
    is_grad_enabled,
    no_grad,
    record,
    register_gradient,
    run_backward,
    topological_order,
    unbroadcast,
)
from tinytorch.tensor import (
    KERNELS,
    DtypeError,
    ShapeError,
    Tensor,
    dispatch,
    expect_error,
    register_kernel,
    set_backward_engine,
    set_graph_recorder,
    zeros,
)

# derandomize: the same examples on every run, so a result can be reproduced (and a grade is stable).
PROPERTY = settings(max_examples=30, deadline=None, derandomize=True, database=None)


@pytest.fixture(autouse=True)
def _global_state_is_restored():
    """Every test must leave gradient mode on and the op tables as it found them."""
    kernels, gradients = dict(KERNELS), dict(GRADIENTS)
    yield
    assert is_grad_enabled(), "a test (or no_grad) left gradient recording switched off"
    assert KERNELS == kernels and GRADIENTS == gradients, "a test left KERNELS or GRADIENTS modified"


# ---------------------------------------------------------------------------------------------
# ops with kernels and formulas written here, so that the engine tests trust no formula of
# tinytorch.autograd
# ---------------------------------------------------------------------------------------------
def _matmul_formula(grad, node):
    a, b = node.inputs
    return grad @ b.data.T, a.data.T @ grad  # 2-D operands only


def _take_formula(grad, node):
    table, rows = node.inputs
    scattered = np.zeros_like(table.data)
    np.add.at(scattered, rows.data, grad)
    return scattered, None


REFERENCE_OPS = {
    "test_02_add": (np.add, lambda grad, node: (grad, grad)),
    "test_02_mul": (np.multiply, lambda grad, node: (grad * node.inputs[1].data, grad * node.inputs[0].data)),
    "test_02_total": (np.sum, lambda grad, node: (np.full(node.inputs[0].shape, grad),)),
    "test_02_exp": (np.exp, lambda grad, node: (grad * node.out,)),
    "test_02_matmul": (np.matmul, _matmul_formula),
    "test_02_take": (lambda table, rows: table[rows], _take_formula),
}


@pytest.fixture(scope="module", autouse=True)
def _reference_ops():
    for name, (kernel, formula) in REFERENCE_OPS.items():
        register_kernel(name, kernel)
        register_gradient(name, formula)
    yield
    for name in REFERENCE_OPS:
        KERNELS.pop(name)
        GRADIENTS.pop(name)


def _operands(a, b) -> tuple[Tensor, Tensor]:
    """Numbers become tensors of the other operand's dtype, as Tensor's operators lift them."""
    if not isinstance(a, Tensor):
        a = Tensor(a, dtype=b.dtype)
    if not isinstance(b, Tensor):
        b = Tensor(b, dtype=a.dtype)
    return a, b


def add(a, b) -> Tensor:
    return dispatch("test_02_add", *_operands(a, b))


def mul(a, b) -> Tensor:
    return dispatch("test_02_mul", *_operands(a, b))


def total(a: Tensor) -> Tensor:
    """The sum of all elements."""
    return dispatch("test_02_total", a)


def exp(a: Tensor) -> Tensor:
    return dispatch("test_02_exp", a)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return dispatch("test_02_matmul", a, b)


def take(table: Tensor, rows: Tensor) -> Tensor:
    """``table[rows]`` with the integer ``rows`` as a second input (that needs no gradient)."""
    return dispatch("test_02_take", table, rows)


def _leaf(values, dtype=np.float32) -> Tensor:
    return Tensor(np.asarray(values, dtype=np.float64), dtype=dtype, requires_grad=True)


def _grad(t: Tensor) -> np.ndarray:
    assert t.grad is not None, "backward() did not set .grad on a leaf that requires grad"
    assert isinstance(t.grad, Tensor), f".grad should be a Tensor, got {type(t.grad).__name__}"
    return t.grad.numpy()


# ---------------------------------------------------------------------------------------------
# recording the graph
# ---------------------------------------------------------------------------------------------
def test_operations_on_tensors_that_require_grad_are_recorded():
    x = _leaf([1.0, 2.0])
    c = Tensor([3.0, 4.0])
    y = x * c
    assert y.requires_grad and y.grad_fn is not None and not y.is_leaf
    assert y.grad_fn.op == "mul" and y.grad_fn.inputs[0] is x and y.grad_fn.inputs[1] is c
    assert x.is_leaf and x.grad_fn is None
    z = c * 2
    assert not z.requires_grad and z.grad_fn is None, "no input requires grad: nothing to record"
    assert "mul" in repr(y) and "grad_fn" in repr(y)


# ---------------------------------------------------------------------------------------------
# backward
# ---------------------------------------------------------------------------------------------
def test_backward_from_a_scalar():
    x_val = np.array([1.0, -2.0, 3.0])
    w_val = np.array([0.5, 4.0, -1.0])
    x, w = _leaf(x_val), _leaf(w_val)
    total(mul(x, w)).backward()
    np.testing.assert_allclose(_grad(x), w_val, err_msg="d sum(x*w)/dx = w")
    np.testing.assert_allclose(_grad(w), x_val, err_msg="d sum(x*w)/dw = x")

    y_val = np.array([1.0, 2.0, 6.0])
    y = _leaf(y_val)
    shifted = add(y, -3.0)
    mul(total(mul(shifted, shifted)), 1 / 3).backward()  # the mean of (y - 3)^2
    np.testing.assert_allclose(_grad(y), 2 * (y_val - 3) / 3, rtol=1e-6)


def test_backward_from_a_one_element_tensor_of_any_shape():
    x = _leaf([[2.0]])
    mul(x, x).backward()
    np.testing.assert_allclose(_grad(x), [[4.0]])


@pytest.mark.parametrize("as_type", [Tensor, np.asarray, lambda v: np.asarray(v).tolist()], ids=["Tensor", "ndarray", "list"])
def test_backward_from_a_non_scalar_with_explicit_gradient(as_type):
    x_val = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    g_val = np.array([[1.0, 0.0, -1.0], [2.0, 0.5, 3.0]])
    x = _leaf(x_val)
    add(mul(x, x), 1.0).backward(as_type(g_val))
    np.testing.assert_allclose(_grad(x), 2 * x_val * g_val, err_msg="backward(gradient) weights each output")


def test_backward_on_a_leaf():
    g = np.array([1.0, 2.0], dtype=np.float32)
    x = _leaf([5.0, 6.0])
    gradient = Tensor(g)
    x.backward(gradient)
    np.testing.assert_array_equal(_grad(x), g)
    assert not np.shares_memory(x.grad.numpy(), gradient.numpy()), ".grad must be a copy, not the caller's gradient"


def test_backward_without_requires_grad_raises():
    # expect_error, not pytest.raises: an unwritten run_backward raises NotImplementedError, a
    # RuntimeError, which must be reported as the stub it is.
    root = total(mul(Tensor([1.0, 2.0]), 2.0))
    expect_error(RuntimeError, root.backward, "requires_grad", what="backward() on a tensor that does not require grad")


def test_backward_of_non_scalar_without_gradient_raises():
    x = _leaf(np.ones((2, 3)))
    root = mul(x, 2.0)
    expect_error(RuntimeError, root.backward, "(2, 3)", what="backward() without gradient= on a (2, 3) tensor")


@pytest.mark.parametrize("bad_shape", [(3, 2), (6,), (), (1, 2, 3)])
def test_backward_with_wrong_gradient_shape_raises(bad_shape):
    x = _leaf(np.ones((2, 3)))
    with pytest.raises(ShapeError) as excinfo:
        mul(x, 2.0).backward(Tensor(np.ones(bad_shape)))
    message = str(excinfo.value)
    assert "(2, 3)" in message and str(bad_shape) in message, f"the error should name both shapes: {message}"
    assert x.grad is None, "a rejected backward() must not touch .grad"


def test_gradients_accumulate_across_backward_calls():
    x_val = np.array([1.0, 2.0, 3.0])
    x = _leaf(x_val)
    loss = total(mul(x, x))
    loss.backward()
    loss.backward()  # the same graph twice
    np.testing.assert_allclose(_grad(x), 2 * (2 * x_val))
    total(mul(x, 5.0)).backward()  # another graph
    np.testing.assert_allclose(_grad(x), 4 * x_val + 5)
    x.grad = None  # what zero_grad does
    total(mul(x, 5.0)).backward()
    np.testing.assert_allclose(_grad(x), np.full(3, 5.0))


def test_diamond_graph():
    #      ┌─► b = a * 2 ─┐
    #  a ──┤              ├─► d = b * c      d = 2a(a + 1)  =>  dd/da = 4a + 2
    #      └─► c = a + 1 ─┘
    a_val = np.array([0.5, -1.0, 3.0])
    a = _leaf(a_val)
    b = mul(a, 2.0)
    c = add(a, 1.0)
    total(mul(b, c)).backward()
    np.testing.assert_allclose(_grad(a), 4 * a_val + 2, rtol=1e-6)
    assert b.grad is None and c.grad is None, "only leaves get .grad"


def test_a_tensor_used_many_times():
    x_val = np.array([1.5, -0.5])
    x = _leaf(x_val)
    total(add(add(mul(mul(x, x), x), x), x)).backward()
    np.testing.assert_allclose(_grad(x), 3 * x_val**2 + 2, rtol=1e-6)

    y = _leaf([2.0])
    running = y
    for _ in range(49):
        running = add(running, y)
    running.backward()
    np.testing.assert_allclose(_grad(y), [50.0])

    z = _leaf([[1.0, 2.0], [3.0, 4.0]])
    total(matmul(z, z)).backward()  # d/dz sum(z z) = 1 z^T + z^T 1
    ones, z_val = np.ones((2, 2)), np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(_grad(z), ones @ z_val.T + z_val.T @ ones)


def test_topological_order_lists_each_tensor_once_after_its_inputs():
    a = _leaf([1.0, 2.0])
    b = mul(a, 2.0)
    c = add(a, 1.0)
    d = mul(b, c)
    e = add(d, a)
    order = topological_order(e)
    ids = [id(t) for t in order]
    assert len(ids) == len(set(ids)) == 5, f"each of a, b, c, d, e once; got {len(order)} tensors"
    assert order[-1] is e
    position = {id(t): i for i, t in enumerate(order)}
    for tensor in order:
        if tensor.grad_fn is not None:
            for parent in (p for p in tensor.grad_fn.inputs if p.requires_grad):
                assert position[id(parent)] < position[id(tensor)], "an input must come before what uses it"


def test_topological_order_with_tensors_used_twice_by_one_op():
    a = _leaf([1.0, 2.0])
    b = mul(a, 2.0)
    c = mul(b, b)  # b is both inputs of one op
    d = add(c, c)
    e = add(d, b)
    order = topological_order(e)
    ids = [id(t) for t in order]
    assert len(ids) == len(set(ids)), "topological_order listed a tensor more than once"
    assert {id(t) for t in (a, b, c, d, e)} == set(ids) and order[-1] is e
    total(e).backward()  # e = 2 (2a)^2 + 2a  =>  de/da = 16a + 2
    np.testing.assert_allclose(_grad(a), 16 * np.array([1.0, 2.0]) + 2)


def test_constants_are_not_visited():
    a = _leaf([1.0])
    constant = Tensor([2.0])
    order = topological_order(mul(a, constant))
    assert all(t is not constant for t in order), "tensors that do not require grad are not part of the order"
    assert constant.grad is None


@pytest.fixture
def default_recursion_limit():
    """Python's default limit of 1000 frames, whatever a plugin may have set."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(previous)


def test_deep_chain_does_not_hit_the_recursion_limit(default_recursion_limit):
    x = _leaf(1.0, dtype=np.float64)
    y = x
    for _ in range(5000):
        y = mul(y, 1.0001)
    y.backward()
    np.testing.assert_allclose(_grad(x), 1.0001**5000, rtol=1e-9)

    w = _leaf([1.0, 2.0])
    y = w
    for _ in range(5000):
        y = add(y, w)
    assert len(topological_order(y)) == 5001
    total(y).backward()
    np.testing.assert_allclose(_grad(w), [5001.0, 5001.0])


# ---------------------------------------------------------------------------------------------
# broadcasting
# ---------------------------------------------------------------------------------------------
def _unbroadcast_reference(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum every element of ``grad`` into the input element it was broadcast from."""
    source = np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape), grad.shape)
    return np.bincount(source.ravel(), weights=grad.ravel(), minlength=int(np.prod(shape))).reshape(shape)


@pytest.mark.parametrize(
    "grad_shape, shape",
    [((32, 10), (10,)), ((8, 7, 6, 5), (7, 1, 5)), ((2, 3), ()), ((2, 3), (1,)), ((2, 3), (1, 1)),
     ((3, 4), (3, 1)), ((3, 4), (1, 4)), ((2, 3, 4), (2, 3, 4)), ((5,), (1,)), ((), ()), ((4, 1), (1,))],
)
def test_unbroadcast(grad_shape, shape):
    grad = np.random.default_rng(0).standard_normal(grad_shape)
    result = np.asarray(unbroadcast(grad, shape))
    assert result.shape == shape, f"unbroadcast to {shape} gave shape {result.shape}"
    np.testing.assert_allclose(result, _unbroadcast_reference(grad, shape), rtol=1e-12, atol=1e-12)


@PROPERTY
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3))
def test_unbroadcast_property(shapes):
    shape = shapes.input_shapes[0]
    grad = np.random.default_rng(1).standard_normal(shapes.result_shape)
    result = np.asarray(unbroadcast(grad, shape))
    assert result.shape == shape
    np.testing.assert_allclose(result, _unbroadcast_reference(grad, shape), rtol=1e-12, atol=1e-12)


def test_gradient_of_broadcast_inputs_is_reduced():
    x_val = np.array([[1.0], [2.0], [3.0]])  # (3, 1)
    y_val = np.array([0.5, -1.0, 2.0, 4.0])  # (4,)
    x, y, s = _leaf(x_val), _leaf(y_val), _leaf(2.0)  # s has shape ()
    total(add(mul(x, y), s)).backward()  # out[i, j] = x[i] y[j] + s
    assert x.grad.shape == (3, 1) and y.grad.shape == (4,) and s.grad.shape == ()
    np.testing.assert_allclose(_grad(x), np.full((3, 1), y_val.sum()))
    np.testing.assert_allclose(_grad(y), np.full(4, x_val.sum()))
    np.testing.assert_allclose(_grad(s), 12.0)


def test_broadcast_bias_over_a_batch():
    batch = Tensor(np.random.default_rng(0).standard_normal((5, 2, 3)))
    bias = _leaf(np.zeros((1, 3)))
    total(add(batch, bias)).backward()
    np.testing.assert_allclose(_grad(bias), np.full((1, 3), 10.0))


# ---------------------------------------------------------------------------------------------
# dtypes of gradients
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
def test_only_floating_tensors_can_require_grad(dtype):
    name = np.dtype(dtype).name
    with pytest.raises(DtypeError) as excinfo:
        Tensor([1, 0], dtype=dtype, requires_grad=True)
    assert name in str(excinfo.value), f"the error should name the dtype {name}: {excinfo.value}"
    with pytest.raises(DtypeError):
        Tensor([1, 0], dtype=dtype).requires_grad_()
    with pytest.raises(DtypeError):
        zeros(2, dtype=dtype, requires_grad=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_floating_tensors_can_require_grad(dtype):
    t = Tensor([1.0], dtype=dtype).requires_grad_()
    assert t.requires_grad
    assert not t.requires_grad_(False).requires_grad


def test_grad_has_the_dtype_and_shape_of_its_leaf():
    x32 = _leaf([1.0, 2.0], dtype=np.float32)
    y64 = _leaf([[3.0], [4.0]], dtype=np.float64)
    out = mul(x32, y64)
    assert out.dtype == np.float64
    total(out).backward()
    assert x32.grad.dtype == np.float32 and x32.grad.shape == (2,), f"got {x32.grad.dtype} {x32.grad.shape}"
    assert y64.grad.dtype == np.float64 and y64.grad.shape == (2, 1)
    np.testing.assert_allclose(_grad(x32), [7.0, 7.0])
    np.testing.assert_allclose(_grad(y64), [[3.0], [3.0]])
    assert not x32.grad.requires_grad
    total(mul(x32, y64)).backward()  # accumulation keeps the dtype
    assert x32.grad.dtype == np.float32


def test_grads_of_different_leaves_do_not_share_memory():
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    total(add(a, b)).backward()  # add passes the same gradient array to both inputs
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad.numpy()[0] = 100.0
    np.testing.assert_array_equal(_grad(b), [1.0, 1.0])


def test_integer_and_mask_inputs_get_no_gradient():
    x_val = np.array([-1.0, 2.0, -3.0, 4.0])
    x = _leaf(x_val)
    mask = x > 0
    total(mul(x, mask)).backward()  # a ReLU written with a mask
    np.testing.assert_array_equal(_grad(x), (x_val > 0).astype(np.float32))
    assert mask.grad is None

    table = _leaf(np.arange(12.0).reshape(4, 3))
    idx = Tensor([3, 0, 3, 3], dtype=np.int64)
    total(take(table, idx)).backward()  # an embedding lookup
    expected = np.zeros((4, 3))
    expected[0] = 1
    expected[3] = 3
    np.testing.assert_array_equal(_grad(table), expected)
    assert idx.grad is None


# ---------------------------------------------------------------------------------------------
# no_grad and detach
# ---------------------------------------------------------------------------------------------
def test_no_grad_context_manager():
    x = _leaf([1.0, 2.0])
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = mul(x, 2.0)
    assert is_grad_enabled(), "leaving no_grad() switches recording back on"
    assert not y.requires_grad and y.grad_fn is None
    expect_error(RuntimeError, total(y).backward, what="backward() on a result computed under no_grad()")
    assert mul(x, 2.0).requires_grad, "outside no_grad() recording works again"


def test_no_grad_nested_restores_the_previous_state():
    with no_grad():
        with no_grad():
            assert not is_grad_enabled()
        assert not is_grad_enabled(), "leaving the inner no_grad() must not switch recording back on"
    assert is_grad_enabled()


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("boom")
    assert is_grad_enabled()


def test_no_grad_as_decorator():
    x = _leaf([1.0, 2.0])

    @no_grad()
    def evaluate(t: Tensor) -> Tensor:
        """Docstring kept."""
        assert not is_grad_enabled()
        return mul(t, 3.0)

    result = evaluate(x)
    assert not result.requires_grad and result.grad_fn is None
    np.testing.assert_allclose(result.numpy(), [3.0, 6.0])
    assert is_grad_enabled(), "after the decorated function returns, recording is on again"
    assert evaluate.__name__ == "evaluate" and evaluate.__doc__ == "Docstring kept."

    with no_grad():
        evaluate(x)
        assert not is_grad_enabled(), "a decorated call inside no_grad() must leave it disabled"

    @no_grad()
    def fails() -> None:
        raise ValueError("inside")

    with pytest.raises(ValueError):
        fails()
    assert is_grad_enabled()


def test_detach():
    x_val = np.array([1.0, 2.0, 3.0])
    x = _leaf(x_val)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), x.numpy()), "detach() shares the data"
    total(mul(x, x.detach())).backward()  # the detached factor is a constant
    np.testing.assert_allclose(_grad(x), x_val, err_msg="no gradient may flow through detach()")
    y = mul(x, 2.0)
    assert not y.detach().requires_grad and y.detach().grad_fn is None


# ---------------------------------------------------------------------------------------------
# ops without a gradient, and the seams
# ---------------------------------------------------------------------------------------------
def test_op_without_gradient_raises_only_when_grad_is_needed():
    name = "test_02_square_without_gradient"
    register_kernel(name, lambda a: a * a)
    try:
        x = _leaf([2.0, 3.0])
        with pytest.raises(NotImplementedError) as excinfo:
            dispatch(name, x)
        assert name in str(excinfo.value), f"the error should name the op: {excinfo.value}"
        with no_grad():
            np.testing.assert_array_equal(dispatch(name, x).numpy(), [4.0, 9.0])
        np.testing.assert_array_equal(dispatch(name, Tensor([2.0, 3.0])).numpy(), [4.0, 9.0])
    finally:
        KERNELS.pop(name)


def test_register_gradient_as_a_decorator_and_as_a_call():
    name = "test_02_registered_twice"
    register_kernel(name, np.multiply)
    try:

        @register_gradient(name)
        def first(grad, node):
            """d(a*b)/da = b, d(a*b)/db = a."""
            return grad * node.inputs[1].data, grad * node.inputs[0].data

        assert GRADIENTS[name] is first and first.__name__ == "first", "the decorator registers the function as it is"
        a, b = _leaf([2.0, 3.0]), _leaf([5.0, 7.0])
        total(dispatch(name, a, b)).backward()
        np.testing.assert_allclose(_grad(a), [5.0, 7.0])

        def second(grad, node):
            return first(grad, node)

        assert register_gradient(name, second) is first, "a call returns the formula it replaced"
        assert GRADIENTS[name] is second
    finally:
        KERNELS.pop(name)
        GRADIENTS.pop(name)


def test_backward_uses_the_registered_engine():
    calls = []
    set_backward_engine(lambda tensor, gradient: calls.append((tensor, gradient)))
    try:
        x = _leaf([1.0])
        g = Tensor([2.0])
        x.backward(g)
    finally:
        set_backward_engine(run_backward)
    assert calls == [(x, g)] and x.grad is None


def test_graph_recorder_seam():
    seen = []

    def spy(op, inputs, attrs, out):
        seen.append(op)
        record(op, inputs, attrs, out)

    set_graph_recorder(spy)
    try:
        x = _leaf([1.0, 2.0])
        total(mul(exp(x), 2.0)).backward()
    finally:
        set_graph_recorder(record)
    assert seen == ["test_02_exp", "test_02_mul", "test_02_total"]
    np.testing.assert_allclose(_grad(x), 2 * np.exp([1.0, 2.0]), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# gradcheck
# ---------------------------------------------------------------------------------------------
def _rng_leaf(shape, seed, positive=False):
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.5, 2.0, shape) if positive else rng.standard_normal(shape)
    return Tensor(values, requires_grad=True)


@pytest.mark.parametrize(
    "fn, shapes",
    [
        (lambda a, b: add(mul(a, b), a), [(3, 4), (4,)]),
        (lambda a, b: exp(matmul(a, b)), [(3, 4), (4, 2)]),
        (lambda a: total(a), [(2, 3)]),
        (lambda a: mul(total(mul(a, a)), a), [(3, 4)]),
    ],
)
def test_gradcheck_passes_for_correct_gradients(fn, shapes):
    inputs = [_rng_leaf(shape, seed) for seed, shape in enumerate(shapes)]
    assert gradcheck(fn, inputs) is True


def test_gradcheck_holds_inputs_without_requires_grad_constant():
    x = _rng_leaf((2, 3), 0)
    constant = Tensor(np.random.default_rng(1).standard_normal((2, 3)))
    assert gradcheck(lambda a, c: mul(a, c), [x, constant]) is True


def test_gradcheck_keeps_integer_index_inputs():
    # An embedding lookup or a loss with class labels: the index is an input, not a parameter.
    table = _rng_leaf((4, 3), 0)
    idx = Tensor([3, 0, 3], dtype=np.int64)
    assert gradcheck(take, [table, idx]) is True


def test_gradcheck_does_not_modify_the_callers_tensors():
    x = _rng_leaf((3, 4), 0)
    w = _rng_leaf((4, 2), 1)
    constant = Tensor([1.0, 2.0])
    before = [t.numpy().copy() for t in (x, w, constant)]
    gradcheck(lambda x, w, c: mul(matmul(x, w), c), [x, w, constant])
    for tensor, saved in zip((x, w, constant), before):
        np.testing.assert_array_equal(tensor.numpy(), saved, err_msg="gradcheck changed an input's data")
        assert tensor.grad is None, "gradcheck must not set .grad on the caller's tensors"
        assert tensor.dtype == np.float32
    assert x.requires_grad and w.requires_grad and not constant.requires_grad


def test_gradcheck_raises_naming_the_input_with_a_wrong_gradient():
    name = "test_02_wrong_mul"
    register_kernel(name, np.multiply)
    # correct for input 0, wrong (doubled) for input 1
    register_gradient(name, lambda grad, node: (grad * node.inputs[1].data, 2 * grad * node.inputs[0].data))
    try:
        a, b = _rng_leaf((2, 3), 0), _rng_leaf((2, 3), 1)
        with pytest.raises(GradcheckError) as excinfo:
            gradcheck(lambda a, b: dispatch(name, a, b), [a, b])
        assert "input 1" in str(excinfo.value), f"GradcheckError should name input 1: {excinfo.value}"
        assert isinstance(excinfo.value, AssertionError)
        # With input 1 held constant, the remaining gradient is right.
        assert gradcheck(lambda a, b: dispatch(name, a, b), [a, Tensor(b.numpy())]) is True
    finally:
        KERNELS.pop(name)
        GRADIENTS.pop(name)


def test_gradcheck_catches_a_small_error():
    name = "test_02_slightly_wrong_exp"
    register_kernel(name, np.exp)
    register_gradient(name, lambda grad, node: (grad * node.out * 1.01,))  # 1 % too large
    try:
        with pytest.raises(GradcheckError) as excinfo:
            gradcheck(lambda a: dispatch(name, a), [_rng_leaf((3,), 0)])
        assert "input 0" in str(excinfo.value)
    finally:
        KERNELS.pop(name)
        GRADIENTS.pop(name)


def test_a_formula_returning_too_few_gradients_is_an_error_not_a_skip() -> None:
    register_kernel("test_02_short_grads", lambda a, b: a * b)
    register_gradient("test_02_short_grads", lambda grad, node: (grad * node.inputs[1].data,))
    left = Tensor([1.0, 2.0], requires_grad=True)
    right = Tensor([3.0, 4.0], requires_grad=True)
    try:
        with pytest.raises(ValueError):
            total(dispatch("test_02_short_grads", left, right)).backward()
    finally:
        KERNELS.pop("test_02_short_grads")
        GRADIENTS.pop("test_02_short_grads")
