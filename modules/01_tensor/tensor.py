# %% [markdown]
# # Module 01: Tensor
#
# Every number a neural network touches lives in a tensor: an n-dimensional array with a
# shape, a data type and a block of memory. In this module you build `Tensor`, the data
# structure the other nineteen modules stand on.
#
# **What you will build**
#
# - `as_array`: turn Python data into a float32 NumPy array, rejecting what we cannot compute on;
# - `bytes_for`: the memory a tensor of a given shape and dtype occupies;
# - `broadcast_shape`: NumPy's broadcasting rule, written out by hand;
# - `matmul_kernel`: matrix multiplication with an error message that names both shapes;
# - `mean_kernel`: a reduction that has to count what it reduces over;
# - `infer_shape`: the `-1` in `reshape(-1, 4)`.
#
# You are given the `Tensor` class and the **dispatch layer** through which every
# tensor operation runs. You will read it closely, because three later modules plug into it:
#
# ```
#   x + y  ──►  Tensor.__add__  ──►  dispatch("add", x, y)
#                                       │  observers.before()      ◄── Module 15 profiler (timing, FLOPs)
#                                       │  kernel = KERNELS["add"] ◄── Module 16 swaps kernels here
#                                       │  out = kernel(x.data, y.data)
#                                       │  recorder(op, inputs, out) ◄── Module 02 records the graph
#                                       │  observers.after()
#                                       ▼
#                                      out
# ```
#
# PyTorch works the same way: every `torch.add` goes through its *dispatcher*, and autograd,
# profiling and the CPU/GPU kernels are layers registered with it.
#
# **Why a systems engineer cares.** A model's speed and memory are decided by what its
# tensors cost: how many bytes each element takes, whether an operation copies memory or
# returns a view, how much Python overhead each call adds around a NumPy kernel. At the end
# of the module you measure all three.
#
# **Connections.** Module 02 (autograd) records operations as they pass through `dispatch`
# and computes gradients. Modules 03–14 build layers, losses and a GPT from these ops.
# Modules 15–20 measure and speed up the same dispatch path.

# %%
#| default_exp tensor

# %%
#| export
from __future__ import annotations

import functools
import json
import math
import os
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol, overload

import numpy as np

# %% [markdown]
# ## 1. Data types and memory
#
# A tensor stores its elements in one contiguous NumPy array. We compute in **float32**:
# 4 bytes per number instead of float64's 8, which halves memory and memory traffic, and it
# is what deep-learning frameworks use by default. Integers appear as indices and labels,
# booleans as masks and comparison results. Anything else (complex numbers, strings,
# Python objects) cannot take part in our arithmetic, so we reject it at the door, with a
# message that says what to do.
#
# | dtype | bytes per element | used for |
# |---|---|---|
# | float32 | 4 | all parameters and activations (the default) |
# | float64 | 8 | reference computations, e.g. gradient checks |
# | int32, int64 | 4, 8 | indices, class labels |
# | bool | 1 | masks, comparison results |

# %%
#| export
DEFAULT_DTYPE = np.dtype(np.float32)
SUPPORTED_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_)
)
FLOAT_DTYPES: tuple[np.dtype, ...] = (np.dtype(np.float32), np.dtype(np.float64))


class ShapeError(ValueError):
    """Shapes that do not fit together; the message names the shapes involved."""


class DtypeError(TypeError):
    """A data type tinytorch does not compute with; the message lists the supported ones."""


def _supported_names() -> str:
    return ", ".join(str(d) for d in SUPPORTED_DTYPES)




# %% [markdown]
# ### How the tests in this course check errors
#
# Much of this module is about failing well: a wrong shape or dtype must raise the right
# exception with a message that names what was wrong. The graded tests check that with one
# helper, `expect_error(error_type, fn, *fragments, what=...)`. It calls `fn()` and fails
# the test with a plain-words `AssertionError` if `fn` raises nothing, raises another kind of
# error, or raises a message that lacks one of the `fragments`; otherwise it returns the
# exception. Every later module imports it from `tinytorch.tensor` for its own tests.
#
# ```python
# expect_error(ShapeError, lambda: broadcast_shape((2, 3), (4,)), "(2, 3)", "(4,)",
#              what="broadcast_shape((2, 3), (4,))")
# ```
#
# A `NotImplementedError` is never taken as the expected error, even where a
# `RuntimeError` is expected (it is a subclass): it is the stub of a function not written
# yet, and the test reports it as such. The cell is read-only.

# %% nbgrader={"grade": false, "grade_id": "given-expect-error", "locked": true, "solution": false, "schema_version": 3}
#| export
def expect_error(
    error_type: type[BaseException], fn: Callable[[], object], *fragments: str, what: str = "the call",
) -> BaseException:
    """Call ``fn()``; return the ``error_type`` it raises, whose message contains every fragment.

    Raises ``AssertionError`` naming ``what`` if ``fn`` returns normally, raises a different
    kind of error, or raises a message without one of ``fragments``. A ``NotImplementedError``
    (an unwritten stub) propagates unchanged unless it is what ``error_type`` asks for.
    """
    try:
        fn()
    except error_type as error:
        if isinstance(error, NotImplementedError) and not issubclass(error_type, NotImplementedError):
            raise  # a stub, even where a RuntimeError (its base class) is expected
        caught = error
    except NotImplementedError:
        raise  # a stub not written yet: the test reports it as such
    except Exception as error:
        raise AssertionError(
            f"{what} should raise {error_type.__name__}, but raised {type(error).__name__}: {error}"
        ) from error
    else:
        raise AssertionError(f"{what} should raise {error_type.__name__}, but raised nothing")
    message = str(caught)
    missing = [fragment for fragment in fragments if fragment not in message]
    if missing:
        raise AssertionError(
            f"{what}: the {error_type.__name__} message should mention {' and '.join(map(repr, missing))}; "
            f"it was: {message}"
        )
    return caught


# %% [markdown]
# ### How your notebook is graded: observations on inputs you have not seen
#
# The asserts in a test cell are for you: they check fixed, hand-picked inputs and say in
# plain words what is wrong. The grade is decided elsewhere. Each test cell ends by calling
# your function again on inputs drawn from `unseen_rng(name)` and handing the results to
# `observe(label, value)`. In your notebook these inputs are always the same (seed 0) and
# `observe` only checks that the value is plain data. When your notebook is graded, the
# grader draws new inputs for that run, runs the reference solution on the same inputs in a
# separate process, and compares: a test earns its points only if it raised nothing and
# every observation matches the reference (arrays: same dtype, same shape, values within the
# tolerance the test states). Your code never sees the reference's values, so the only way
# to match them is to compute them.
#
# ```python
# rng = unseen_rng("test-matmul-kernel")
# a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
# observe("matmul_kernel(a, b)", matmul_kernel(a, b))
# observe("matmul_kernel, shapes (3, 4) @ (3, 4)", error_name(lambda: matmul_kernel(a, a)))
# ```
#
# `observe` accepts a NumPy array or scalar (bool, integer, float or string), a Python
# number or string, or a list or tuple of them (a shape, a list of token ids). A `Tensor` is
# not plain data: observe its `.data`. The cell is read-only.

# %% nbgrader={"grade": false, "grade_id": "given-observe", "locked": true, "solution": false, "schema_version": 3}
#| export
# A graded run sets these two variables in the process that runs the notebook; a notebook
# run by you has neither, so its inputs are fixed (seed 0) and nothing is written.
OBSERVATIONS_VARIABLE = "TITO_OBSERVATIONS"  # a folder: each observe() writes two files there
SEED_VARIABLE = "TITO_SEED"  # the seed of this run's unseen inputs


def unseen_rng(name: str) -> np.random.Generator:
    """A random generator for the inputs of test ``name``: seed 0 in your notebook, the
    run's own seed (``TITO_SEED``) when graded. Each name gets a stream of its own."""
    seed = int(os.environ.get(SEED_VARIABLE, "0"))
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def error_name(fn: Callable[[], object]) -> str:
    """Call ``fn()``; the class name of the exception it raises, or ``"nothing"``."""
    try:
        fn()
    except Exception as error:  # any error is an outcome to observe, compared by name
        return type(error).__name__
    return "nothing"


def observed_array(value: object) -> np.ndarray:
    """``value`` as the plain array ``observe`` records; TypeError for anything else."""
    if isinstance(value, (np.ndarray, np.generic, bool, int, float, str, list, tuple)):
        array = np.asarray(value)
        if array.dtype.kind in "biufU":
            return array
    raise TypeError(
        f"observe takes an array, a number, a string or a list of them, not {type(value).__name__}"
        " (observe a Tensor's .data)"
    )


def observe(label: str, value: object, *, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Record ``value`` (what your code computed) under ``label`` for the grader.

    The grader compares it with the reference solution's value on the same inputs:
    same dtype and shape, and for floats ``|value - reference| <= atol + rtol * |reference|``.
    In your notebook this only checks that ``value`` is plain data.
    """
    array = observed_array(value)
    folder = os.environ.get(OBSERVATIONS_VARIABLE)
    if folder:
        number = len(os.listdir(folder)) // 2
        np.save(os.path.join(folder, f"{number}.npy"), array, allow_pickle=False)
        with open(os.path.join(folder, f"{number}.json"), "w", encoding="utf-8") as file:
            json.dump({"label": str(label), "rtol": float(rtol), "atol": float(atol)}, file)


# %% [markdown]
# ### Your task: `as_array`
#
# `Tensor(data)` calls `as_array(data, dtype)` to get the array it will own. The rules:
#
# 1. Nested lists must be rectangular. NumPy raises a `ValueError` for ragged lists;
#    turn it into a `ShapeError` that says the lists have different lengths.
# 2. If `dtype` is given it must be one of `SUPPORTED_DTYPES`, otherwise raise `DtypeError`.
# 3. If `dtype` is `None`: boolean data stays `bool`; any other real number becomes float32.
# 4. Data of any other kind (complex, strings, objects) raises `DtypeError`.
#    Every `DtypeError` message names the dtype it rejects (`float16`, `complex128`) and lists
#    the supported ones (`_supported_names()` gives that list).
# 5. Always return a **new** array, so changing the caller's list or array later does not
#    silently change the tensor (`torch.tensor` copies too).

# %% nbgrader={"grade": false, "grade_id": "impl-as-array", "locked": false, "solution": true, "schema_version": 3}
#| export
def as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert ``data`` (number, nested list, NumPy array) into a new NumPy array.

    Returns an array of ``dtype`` if given, else bool for boolean data and float32 for
    all other real numbers. Raises ``DtypeError`` for unsupported dtypes or data, and
    ``ShapeError`` for ragged nested lists.

    Hint: convert with ``np.asarray`` first (inside ``try``/``except ValueError``), look at
    ``array.dtype.kind`` ('b' bool, 'i'/'u' integer, 'f' float), then ``np.array(..., copy=True)``.
    """
    ### BEGIN SOLUTION
    try:
        raw = np.asarray(data)
    except ValueError as error:
        raise ShapeError(
            f"cannot make a tensor from nested lists of different lengths ({error}); "
            "every row must have the same length"
        ) from None
    if raw.dtype.kind not in "biuf":
        raise DtypeError(
            f"cannot make a tensor from {raw.dtype} data; tinytorch computes with "
            f"{_supported_names()}"
        )
    if dtype is None:
        target = raw.dtype if raw.dtype.kind == "b" else DEFAULT_DTYPE
    else:
        target = np.dtype(dtype)
        if target not in SUPPORTED_DTYPES:
            raise DtypeError(f"dtype {target} is not supported; use one of {_supported_names()}")
    return np.array(raw, dtype=target, copy=True)
    ### END SOLUTION




# %% nbgrader={"grade": true, "grade_id": "test-as-array", "locked": true, "points": 3, "solution": false, "schema_version": 3}
source = [[1, 2, 3], [4, 5, 6]]
array = as_array(source)
assert isinstance(array, np.ndarray), "as_array must return a NumPy array"
assert array.dtype == np.float32, f"as_array: integers should become float32 by default, got {array.dtype}"
assert array.shape == (2, 3), f"as_array: expected shape (2, 3), got {array.shape}"
assert as_array(2.5).shape == (), "as_array: a Python number becomes a 0-d array"
assert as_array([True, False]).dtype == np.bool_, "as_array: booleans should stay bool"
assert as_array([1, 2], dtype=np.int64).dtype == np.int64, "as_array: an explicit dtype must be used"

original = np.ones(3, dtype=np.float32)
copied = as_array(original)
original[0] = 99.0
assert copied[0] == 1.0, "as_array must copy: changing the input array changed the result"

expect_error(DtypeError, lambda: as_array([1 + 2j]), "complex128", "float32", what="as_array([1 + 2j])")
expect_error(DtypeError, lambda: as_array(["a", "b"]), "float32", what='as_array(["a", "b"])')
expect_error(DtypeError, lambda: as_array([1.0], dtype=np.float16), "float16", "float32", "int64", "bool",
             what="as_array([1.0], dtype=np.float16)")
expect_error(ShapeError, lambda: as_array([[1, 2], [3]]), what="as_array([[1, 2], [3]]) (ragged lists)")

# Graded: the same rules on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-as-array")
unseen = rng.integers(-9, 10, size=tuple(int(n) for n in rng.integers(1, 5, size=2)))
for label, data, dtype in (
    ("an int64 array", unseen, None), ("a float64 array", unseen / 4, None), ("nested lists", unseen.tolist(), None),
    ("a bool array", unseen > 0, None), ("an int32 array, dtype=float64", unseen.astype(np.int32), np.float64),
    ("a float64 scalar", np.float64(unseen[0, 0] / 4), None), ("a list, dtype=int64", unseen.tolist(), np.int64),
):
    observe(f"as_array({label})", as_array(data, dtype=dtype))
observe("as_array(an array) shares memory with its input", bool(np.shares_memory(as_array(unseen), unseen)))
observe("as_array(complex data) raises", error_name(lambda: as_array(unseen + 1j)))
observe("as_array(dtype=float16) raises", error_name(lambda: as_array(unseen, dtype=np.float16)))
observe("as_array(ragged lists) raises", error_name(lambda: as_array([unseen[0].tolist(), [1]])))


# %% [markdown]
# ### Your task: `bytes_for`
#
# Memory is the first budget of every ML system: a 7-billion-parameter model in float32
# needs 7e9 × 4 bytes = 28 GB just for its weights. The memory a dense tensor needs is
#
# $$\text{bytes} = \Big(\prod_i \text{shape}_i\Big) \times \text{itemsize(dtype)}$$
#
# where a 0-d tensor (a scalar, shape `()`) holds one element.

# %% nbgrader={"grade": false, "grade_id": "impl-bytes-for", "locked": false, "solution": true, "schema_version": 3}
#| export
def bytes_for(shape: Sequence[int], dtype: Any = DEFAULT_DTYPE) -> int:
    """Bytes needed to store a dense tensor of ``shape`` and ``dtype``.

    ``bytes_for((2, 3), np.float32) == 24``; ``bytes_for((), np.float64) == 8``.

    Hint: ``np.dtype(dtype).itemsize`` is the size of one element; ``math.prod(())`` is 1.
    """
    ### BEGIN SOLUTION
    return math.prod(shape) * np.dtype(dtype).itemsize
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-bytes-for", "locked": true, "points": 1, "solution": false, "schema_version": 3}
assert bytes_for((2, 3), np.float32) == 24, f"bytes_for((2, 3), float32) should be 24, got {bytes_for((2, 3), np.float32)}"
assert bytes_for((), np.float64) == 8, "bytes_for: a scalar holds one element"
assert bytes_for((4, 0), np.float32) == 0, "bytes_for: a tensor with a zero-length dimension holds nothing"
for shape, dtype in (((7, 5, 3), np.int64), ((10,), np.bool_), ((3, 4), np.float64)):
    expected = np.zeros(shape, dtype=dtype).nbytes
    assert bytes_for(shape, dtype) == expected, f"bytes_for({shape}, {np.dtype(dtype)}) should be {expected}"

rng = unseen_rng("test-bytes-for")
for dtype in (np.float32, np.float64, np.int32, np.bool_):
    shape = tuple(int(n) for n in rng.integers(0, 9, size=rng.integers(0, 4)))
    observe(f"bytes_for(shape, {np.dtype(dtype)})", bytes_for(shape, dtype))


# %% [markdown]
# ## 2. Broadcasting
#
# `x + b` with `x` of shape `(32, 10)` and a bias `b` of shape `(10,)` adds `b` to every
# row, without copying `b` 32 times. NumPy's rule compares shapes **from the right**:
# two dimensions are compatible when they are equal or one of them is 1; a missing
# dimension counts as 1. In each position the result takes the size that is not 1 (1 if
# both are). That includes size 0: `(0, 3)` with `(1, 3)` gives `(0, 3)`, an empty result,
# while `(0, 3)` with `(2, 3)` does not broadcast.
#
# ```
#   x      (32, 10)         a      (8, 1, 6, 1)
#   b           (10)        b         (7, 1, 5)
#   x + b  (32, 10)         a + b  (8, 7, 6, 5)
# ```
#
# Broadcasting matters twice in this course: here for the forward result, and in Module 02,
# where the gradient of a broadcast input has to be **summed back** to its original shape.
#
# ### Your task: `broadcast_shape`
# Write the rule yourself (do not call `np.broadcast_shapes`). When the shapes do not fit,
# raise `ShapeError` naming both shapes and the first dimension (counted from the right)
# that clashes.

# %% nbgrader={"grade": false, "grade_id": "impl-broadcast-shape", "locked": false, "solution": true, "schema_version": 3}
#| export
def broadcast_shape(shape_a: Sequence[int], shape_b: Sequence[int]) -> tuple[int, ...]:
    """The shape of ``a op b`` for an elementwise op under NumPy broadcasting.

    ``broadcast_shape((32, 10), (10,)) == (32, 10)``; ``broadcast_shape((0, 3), (1, 3)) == (0, 3)``.
    Raises ``ShapeError`` mentioning both shapes when they are incompatible.

    Hint: pad the shorter shape with leading 1s, then walk both shapes position by position.
    """
    ### BEGIN SOLUTION
    ndim = max(len(shape_a), len(shape_b))
    padded_a = (1,) * (ndim - len(shape_a)) + tuple(shape_a)
    padded_b = (1,) * (ndim - len(shape_b)) + tuple(shape_b)
    result = []
    for position, (size_a, size_b) in enumerate(zip(padded_a, padded_b)):
        if size_a != size_b and 1 not in (size_a, size_b):
            raise ShapeError(
                f"shapes {tuple(shape_a)} and {tuple(shape_b)} cannot broadcast: dimension "
                f"-{ndim - position} is {size_a} vs {size_b} (sizes must be equal or one of them 1)"
            )
        result.append(size_a if size_b == 1 else size_b)
    return tuple(result)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-broadcast-shape", "locked": true, "points": 3, "solution": false, "schema_version": 3}
cases = [((32, 10), (10,)), ((8, 1, 6, 1), (7, 1, 5)), ((), (3, 4)), ((5, 1), (1, 4)), ((2, 3), (2, 3)),
         ((0, 3), (1, 3)), ((1,), (0,)), ((10,), (32, 10)), ((4,), (3, 1))]
for shape_a, shape_b in cases:
    expected = np.broadcast_shapes(shape_a, shape_b)
    got = broadcast_shape(shape_a, shape_b)
    assert got == expected, f"broadcast_shape{shape_a, shape_b} should be {expected}, got {got}"
for shape_a, shape_b in (((2, 3), (4,)), ((0, 3), (2, 3))):
    expect_error(ShapeError, lambda: broadcast_shape(shape_a, shape_b), str(shape_a), str(shape_b),
                 what=f"broadcast_shape{shape_a, shape_b}")

rng = unseen_rng("test-broadcast-shape")
for _ in range(60):
    shape_a = tuple(int(s) for s in rng.choice([0, 1, 2, 3], size=rng.integers(0, 4)))
    shape_b = tuple(int(s) for s in rng.choice([0, 1, 2, 3], size=rng.integers(0, 4)))
    outcome = error_name(lambda: broadcast_shape(shape_a, shape_b))
    observe(f"broadcast_shape{shape_a, shape_b} raises", outcome)
    if outcome == "nothing":
        observe(f"broadcast_shape{shape_a, shape_b}", [int(s) for s in broadcast_shape(shape_a, shape_b)])

# %% [markdown]
# ## 3. The dispatch layer
#
# Before the remaining kernels, the piece that runs them and that every later module plugs into. An operation has a **name** (`"add"`,
# `"matmul"`), a **kernel** (a function on NumPy arrays that computes the result) and
# optional keyword **attributes** (`axis=1`). `dispatch(op, *inputs, **attrs)`:
#
# 1. tells every registered **observer** that `op` is about to run (Module 15 starts a timer);
# 2. looks up the kernel in `KERNELS` and runs it on the input arrays (Module 16 registers
#    faster kernels under the same names);
# 3. wraps the result in a new `Tensor`;
# 4. hands inputs and output to the **graph recorder**, if autograd is loaded (Module 02 sets it);
# 5. tells the observers the op finished.
#
# The fast path matters: `dispatch` runs for every `+` in every training step. It does no
# validation of its own and allocates nothing but the output. When a kernel fails on shapes
# that do not broadcast, `dispatch` explains the failure with your `broadcast_shape`.
#
# An op's kernel is registered where it is defined, with `register_kernel` as a decorator:
#
# ```python
# @register_kernel("relu")
# def relu_kernel(a: np.ndarray) -> np.ndarray:
#     return np.maximum(a, 0)
# ```
#
# so a reader finds each kernel, and the name it runs under, in one place. Called as
# `register_kernel(op, kernel)` it swaps a kernel and returns the one it replaced, so that
# Module 16 can put faster kernels in and the originals back. Later modules add new
# operations (e.g. `relu` in Module 03) this way, and their gradients with Module 02's
# `register_gradient`: they extend the table, never patch this file.

# %%
#| export
Kernel = Callable[..., np.ndarray]


class DispatchObserver(Protocol):
    """Something that watches every operation, e.g. a profiler (Module 15)."""

    def before(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any]) -> None: ...

    def after(self, op: str, inputs: tuple[Tensor, ...], attrs: dict[str, Any], out: Tensor) -> None: ...


GraphRecorder = Callable[[str, tuple["Tensor", ...], dict[str, Any], "Tensor"], None]
BackwardEngine = Callable[["Tensor", "Tensor | None"], None]

KERNELS: dict[str, Kernel] = {}


class _DispatchState:
    """What autograd and observers have registered. One instance, ``_STATE``."""

    def __init__(self) -> None:
        self.recorder: GraphRecorder | None = None
        self.engine: BackwardEngine | None = None
        self.observers: tuple[DispatchObserver, ...] = ()


_STATE = _DispatchState()


@overload
def register_kernel(op: str) -> Callable[[Kernel], Kernel]: ...


@overload
def register_kernel(op: str, kernel: Kernel) -> Kernel | None: ...


def register_kernel(op: str, kernel: Kernel | None = None) -> Kernel | None | Callable[[Kernel], Kernel]:
    """Make ``kernel`` compute ``op``; returns the kernel it replaced (None if new).

    Without ``kernel``, a decorator: ``@register_kernel("reshape")`` above a function
    registers it under that name and leaves the function as it was.
    """
    return register_entry(KERNELS, op, kernel)


def register_entry(table: dict[str, Any], op: str, entry: Callable[..., Any] | None) -> Any:
    """``table[op] = entry``, returning the entry it replaced (None if new); with ``entry``
    None, a decorator that does so for the function below it and returns that function.

    The mechanics of ``register_kernel`` here and of ``register_gradient`` in Module 02.
    """
    if entry is None:
        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            table[op] = fn
            return fn

        return decorator
    previous = table.get(op)
    table[op] = entry
    return previous


def set_graph_recorder(recorder: GraphRecorder | None) -> None:
    """Call ``recorder(op, inputs, attrs, out)`` after every kernel (``tinytorch.autograd``)."""
    _STATE.recorder = recorder


def set_backward_engine(engine: BackwardEngine | None) -> None:
    """Make ``Tensor.backward()`` call ``engine(tensor, gradient)`` (``tinytorch.autograd``)."""
    _STATE.engine = engine


def add_observer(observer: DispatchObserver) -> None:
    """Call ``observer.before``/``after`` around every dispatched op from now on."""
    _STATE.observers = _STATE.observers + (observer,)


def remove_observer(observer: DispatchObserver) -> None:
    """Stop notifying ``observer``; raises ``ValueError`` if it was not registered."""
    if observer not in _STATE.observers:
        raise ValueError("remove_observer: this observer was never added")
    _STATE.observers = tuple(o for o in _STATE.observers if o is not observer)


def dispatch(op: str, *inputs: Tensor, **attrs: Any) -> Tensor:
    """Run ``op`` on ``inputs`` through the kernel table; returns a new Tensor."""
    kernel = KERNELS.get(op)
    if kernel is None:
        raise NotImplementedError(f"no kernel is registered for op '{op}'; use register_kernel")
    observers = _STATE.observers
    if observers:
        for observer in observers:
            observer.before(op, inputs, attrs)
    try:
        if len(inputs) == 2:  # the common case, without building an argument list
            data = kernel(inputs[0].data, inputs[1].data, **attrs)
        else:
            data = kernel(*[t.data for t in inputs], **attrs)
    except ShapeError:
        raise
    except ValueError as error:
        if len(inputs) == 2:
            broadcast_shape(inputs[0].shape, inputs[1].shape)  # raises a ShapeError that explains
        raise ShapeError(f"{op} failed on shapes {[t.shape for t in inputs]}: {error}") from error
    out = Tensor._wrap(data)
    recorder = _STATE.recorder
    if recorder is not None:
        recorder(op, inputs, attrs, out)
    if observers:
        for observer in observers:
            observer.after(op, inputs, attrs, out)
    return out


# %% [markdown]
# The elementwise operations are NumPy's own ufuncs, which already take and return arrays and
# broadcast: there is nothing to write for them, so one table registers them all. Every
# other kernel is registered where it is defined, from here on.

# %%
#| export
for _op, _ufunc in {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "neg": np.negative,
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal,
}.items():
    register_kernel(_op, _ufunc)


@register_kernel("pow")
def _pow_kernel(a: np.ndarray, exponent: float) -> np.ndarray:
    """``a ** exponent`` elementwise; the exponent is an attribute, not a tensor."""
    return np.power(a, exponent)


# %% [markdown]
# ## 4. Matrix multiplication
#
# Almost all the arithmetic of a neural network is matrix multiplication: a `Linear` layer
# is `x @ W`, attention is `Q @ K^T`. For `A` of shape `(m, k)` and `B` of shape `(k, n)`:
#
# $$C_{ij} = \sum_{p=1}^{k} A_{ip} B_{pj}, \qquad C \in \mathbb{R}^{m \times n},
# \qquad 2mkn \text{ floating-point operations.}$$
#
# With more than two dimensions, the last two are the matrices and the leading ones are a
# **batch** that broadcasts: `(B, m, k) @ (k, n) -> (B, m, n)`. A 1-D left operand is a row
# vector, a 1-D right operand a column vector, and that dimension is dropped from the result.
#
# The most common bug in model code is a shape mismatch in a matmul. NumPy reports it as
# `matmul: Input operand 1 has a mismatch in its core dimension 0, ...`. Your kernel
# reports it in words a person can act on.
#
# ### Your task: `matmul_kernel`
# Validate, then compute with `np.matmul` (Module 16 writes its own loops; here we want
# the fast BLAS routine). The kernel checks shapes itself, because Module 16 calls kernels
# directly, without `Tensor` and `dispatch` around them. Raise `ShapeError` naming both
# shapes when:
# - either operand is 0-d (scalars multiply with `*`, not `@`);
# - the inner dimensions differ (`a.shape[-1]` vs `b.shape[-2]`, or `b.shape[0]` if `b` is 1-D);
# - the batch dimensions (all but the last two) do not broadcast.

# %% nbgrader={"grade": false, "grade_id": "impl-matmul-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("matmul")
def matmul_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for arrays of at least one dimension, with batch broadcasting.

    Shapes: ``(..., m, k) @ (..., k, n) -> (..., m, n)``; a 1-D operand is a vector.
    Raises ``ShapeError`` naming both shapes for 0-d operands, mismatched inner
    dimensions, or batch dimensions that do not broadcast.

    Hint: use ``broadcast_shape`` for the batch dimensions, ``np.matmul`` for the product.
    """
    ### BEGIN SOLUTION
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            f"matmul needs operands with at least 1 dimension, got shapes {a.shape} and "
            f"{b.shape}; multiply by a scalar with * instead"
        )
    inner_b = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if a.shape[-1] != inner_b:
        raise ShapeError(
            f"matmul shapes {a.shape} and {b.shape} do not align: the last dimension of the "
            f"left operand ({a.shape[-1]}) must equal the "
            f"{'second-to-last' if b.ndim >= 2 else 'only'} dimension of the right ({inner_b})"
        )
    if a.ndim > 2 or b.ndim > 2:
        try:
            broadcast_shape(a.shape[:-2], b.shape[:-2])
        except ShapeError:
            raise ShapeError(
                f"matmul shapes {a.shape} and {b.shape}: batch dimensions "
                f"{a.shape[:-2]} and {b.shape[:-2]} do not broadcast"
            ) from None
    return np.matmul(a, b)
    ### END SOLUTION




# %% nbgrader={"grade": true, "grade_id": "test-matmul-kernel", "locked": true, "points": 4, "solution": false, "schema_version": 3}
rng = np.random.default_rng(1)
a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
assert np.allclose(matmul_kernel(a, b), a @ b), "matmul_kernel: wrong result for (3, 4) @ (4, 5)"
batch = rng.standard_normal((2, 3, 4))
assert matmul_kernel(batch, b).shape == (2, 3, 5), "matmul_kernel: (2, 3, 4) @ (4, 5) should give (2, 3, 5)"
assert matmul_kernel(rng.standard_normal(4), b).shape == (5,), "matmul_kernel: (4,) @ (4, 5) should give (5,)"
for left, right in (((3, 4), (5, 6)), ((3, 4), (5,)), ((2, 3, 4), (3, 4, 5)), ((), (3,))):
    expect_error(ShapeError, lambda: matmul_kernel(np.ones(left), np.ones(right)), str(left), str(right),
                 what=f"matmul_kernel with shapes {left} @ {right}")

rng = unseen_rng("test-matmul-kernel")
m, k, n = (int(size) for size in rng.integers(1, 7, size=3))
a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
observe("matmul_kernel(a, b), float32 (m, k) @ (k, n)", matmul_kernel(a, b))
observe("matmul_kernel(batch, b), (2, m, k) @ (k, n)", matmul_kernel(np.stack([a, 2 * a]), b))
observe("matmul_kernel(vector, b), (k,) @ (k, n)", matmul_kernel(a[0], b))
observe("matmul_kernel, (m, k) @ (k + 1, n) raises", error_name(lambda: matmul_kernel(a, np.ones((k + 1, n)))))


# %% [markdown]
# ## 5. Reductions
#
# `sum`, `mean` and `max` collapse one or more axes. `axis=None` reduces everything to a
# scalar; `keepdims=True` keeps each reduced axis with size 1, so the result still
# broadcasts against the input (you will want that for softmax: `x - x.max(axis=-1, keepdims=True)`).
#
# The **mean** is the sum divided by the number of elements that were summed:
#
# $$\text{mean}(x, \text{axes}) = \frac{1}{N}\sum_{\text{axes}} x, \qquad N = \prod_{a \in \text{axes}} \text{shape}_a .$$
#
# Module 02 needs exactly this $N$ again: the gradient of a mean spreads `1/N` to each input.
#
# `normalize_axes` below turns the `axis` argument (None, an int, or a tuple, possibly
# negative) into a sorted tuple of non-negative axes, with a clear error when an axis is out
# of range.

# %%
#| export
def normalize_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """All axes for ``None``; otherwise the given axes as sorted non-negative ints.

    Raises ``ShapeError`` for an axis outside ``[-ndim, ndim)`` or a repeated axis.
    """
    if isinstance(axis, list):
        axis = tuple(axis)
    return _normalize_axes_cached(axis, ndim)


# Every reduction and its backward normalizes the same few (axis, ndim) pairs again and
# again; caching saves a few microseconds of Python per call, which adds up on small tensors.
@functools.lru_cache(maxsize=4096)
def _normalize_axes_cached(axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    normalized = []
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise ShapeError(f"axis {ax} is out of range for a tensor with {ndim} dimensions")
        normalized.append(int(ax) % ndim if ndim else 0)
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"axis {axis} repeats an axis")
    return tuple(sorted(normalized))


# np.add.reduce and np.maximum.reduce are what np.sum and np.max call, minus a Python-level
# wrapper whose cost per call rivals the whole kernel on a small tensor (as measured for this course).
@register_kernel("sum")
def _sum_kernel(a: np.ndarray, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:
    return np.add.reduce(a, axis=normalize_axes(axis, a.ndim), keepdims=keepdims)


@register_kernel("max")
def _max_kernel(a: np.ndarray, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:
    if a.size == 0:
        raise ShapeError(f"max of an empty tensor (shape {a.shape}) is undefined")
    return np.maximum.reduce(a, axis=normalize_axes(axis, a.ndim), keepdims=keepdims)


# %% [markdown]
# ### Your task: `mean_kernel`
# Compute the mean from `np.sum` and the count $N$ (do not call `np.mean`). Floating input
# keeps its dtype (float32 stays float32, float64 stays float64). The mean of integers or
# booleans is usually a fraction, so for them return **float32**, the default dtype: the
# mean of the integers `[[0, 1, 2], [3, 4, 5]]` over axis 1 is the float32 array `[1, 4]`.

# %% nbgrader={"grade": false, "grade_id": "impl-mean-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("mean")
def mean_kernel(a: np.ndarray, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:
    """Mean of ``a`` over ``axis`` (None: all axes), keeping reduced axes if ``keepdims``.

    ``mean_kernel(np.ones((2, 3)), axis=1).shape == (2,)``. The result has ``a``'s dtype for
    floating ``a`` and float32 for integer or bool ``a``.
    Hint: ``normalize_axes(axis, a.ndim)`` gives the reduced axes; N is the product of their sizes.
    """
    ### BEGIN SOLUTION
    axes = normalize_axes(axis, a.ndim)
    count = math.prod(a.shape[ax] for ax in axes)
    total = np.sum(a, axis=axes, keepdims=keepdims)
    if total.dtype.kind != "f":  # integer or bool input: the mean is a float32
        total = total.astype(DEFAULT_DTYPE)
    return total / count
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-mean-kernel", "locked": true, "points": 3, "solution": false, "schema_version": 3}
x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
for axis, keepdims in ((None, False), (0, False), (-1, True), ((0, 2), False), ((1, 2), True)):
    expected = np.mean(x, axis=axis, keepdims=keepdims)
    got = mean_kernel(x, axis=axis, keepdims=keepdims)
    assert np.shape(got) == np.shape(expected), f"mean_kernel(axis={axis}, keepdims={keepdims}): shape {np.shape(got)}, expected {np.shape(expected)}"
    assert np.allclose(got, expected), f"mean_kernel(axis={axis}, keepdims={keepdims}): wrong values"
assert mean_kernel(x).dtype == np.float32, "mean_kernel should keep float32"
assert mean_kernel(x.astype(np.float64), axis=0).dtype == np.float64, "mean_kernel should keep float64"
integers = np.arange(6).reshape(2, 3)
int_mean = mean_kernel(integers, axis=1)
assert int_mean.dtype == np.float32, f"mean_kernel: the mean of an integer array should be float32, got {int_mean.dtype}"
assert np.allclose(int_mean, [1.0, 4.0]), f"mean_kernel: mean of {integers.tolist()} over axis 1 should be [1, 4]"
print("mean over axis 1 of the integers", integers.tolist(), "->", int_mean, int_mean.dtype)

rng = unseen_rng("test-mean-kernel")
unseen = rng.standard_normal((2, 3, 4)).astype(np.float32)
for axis, keepdims in ((None, False), (1, False), (-1, True), ((0, 2), True)):
    observe(f"mean_kernel(x, axis={axis}, keepdims={keepdims})", mean_kernel(unseen, axis=axis, keepdims=keepdims))
observe("mean_kernel(float64 x, axis=0)", mean_kernel(unseen.astype(np.float64), axis=0))
observe("mean_kernel(integers, axis=1)", mean_kernel(rng.integers(-5, 5, size=(3, 4)), axis=1))


# %% [markdown]
# ## 6. Reshape and the `-1` dimension
#
# `reshape` reinterprets the same elements in a new shape; for a contiguous array NumPy
# returns a **view** that shares memory with the input, so it costs no copy. One dimension
# may be `-1`, meaning "whatever makes the element count work": a `(4, 6)` tensor reshaped
# to `(-1, 3)` becomes `(8, 3)`.
#
# ### Your task: `infer_shape`
# Resolve the `-1` and validate. Raise `ShapeError` when more than one dimension is `-1`,
# when a size is negative, or when the element counts cannot match. Every message names the
# shape that was asked for, and a count mismatch also says how many elements the tensor has.
# The `reshape` kernel below calls your function.

# %% nbgrader={"grade": false, "grade_id": "impl-infer-shape", "locked": false, "solution": true, "schema_version": 3}
#| export
def infer_shape(shape: Sequence[int], size: int) -> tuple[int, ...]:
    """The concrete shape for reshaping ``size`` elements into ``shape`` (at most one -1).

    ``infer_shape((-1, 3), 24) == (8, 3)``. Raises ``ShapeError`` if it cannot work.
    Hint: the -1 dimension is ``size // (product of the other dimensions)``; check the remainder.
    """
    ### BEGIN SOLUTION
    shape = tuple(int(s) for s in shape)
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise ShapeError(f"reshape to {shape}: only one dimension can be -1")
    if any(s < -1 for s in shape):
        raise ShapeError(f"reshape to {shape}: sizes must be non-negative (or a single -1)")
    known = math.prod(s for s in shape if s != -1)
    if unknown:
        if known == 0 or size % known != 0:
            raise ShapeError(f"cannot reshape a tensor of {size} elements into shape {shape}")
        shape = shape[: unknown[0]] + (size // known,) + shape[unknown[0] + 1 :]
    elif known != size:
        raise ShapeError(f"cannot reshape a tensor of {size} elements into shape {shape}")
    return shape
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-infer-shape", "locked": true, "points": 3, "solution": false, "schema_version": 3}
assert infer_shape((-1, 3), 24) == (8, 3), f"infer_shape((-1, 3), 24) should be (8, 3), got {infer_shape((-1, 3), 24)}"
assert infer_shape((2, -1, 4), 24) == (2, 3, 4), "infer_shape: the -1 can be in the middle"
assert infer_shape((6, 4), 24) == (6, 4), "infer_shape: a full shape is returned unchanged"
assert infer_shape((-1,), 0) == (0,), "infer_shape: an empty tensor reshapes to (0,)"
assert infer_shape((3, -1), 0) == (3, 0), "infer_shape: 0 elements into (3, -1) gives (3, 0)"
for bad in ((5, 5), (-1, 5)):
    expect_error(ShapeError, lambda: infer_shape(bad, 24), "24", str(bad), what=f"infer_shape({bad}, 24)")
for bad in ((-1, -1), (-2, 12)):
    expect_error(ShapeError, lambda: infer_shape(bad, 24), str(bad), what=f"infer_shape({bad}, 24)")

rng = unseen_rng("test-infer-shape")
rows, cols = (int(n) for n in rng.integers(1, 8, size=2))
for shape in ((-1, cols), (rows, -1), (rows, cols), (1, -1, 1), (-1,)):
    observe(f"infer_shape({shape}, rows * cols)", [int(s) for s in infer_shape(shape, rows * cols)])
for bad in ((rows + 1, -1, cols + 1), (-1, -1), (rows, -cols)):
    observe(f"infer_shape({bad}, rows * cols) raises", error_name(lambda: infer_shape(bad, rows * cols)))


# %% [markdown]
# The kernels of the remaining shape operations: `reshape` with your `infer_shape`,
# `permute` (a transpose of any axes) and indexing, all NumPy views or copies of `a`.

# %%
#| export
@register_kernel("reshape")
def _reshape_kernel(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return a.reshape(infer_shape(shape, a.size))


@register_kernel("permute")
def _permute_kernel(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    if sorted(normalize_axes(axes, a.ndim)) != list(range(a.ndim)) or len(axes) != a.ndim:
        raise ShapeError(f"permute{tuple(axes)} must list each of the {a.ndim} dimensions exactly once")
    return np.transpose(a, axes)


@register_kernel("getitem")
def _getitem_kernel(a: np.ndarray, index: Any) -> np.ndarray:
    return a[index]


# %% [markdown]
# ## 7. The `Tensor` class
#
# `Tensor` holds four things: `data` (the NumPy array), `requires_grad` (whether Module 02
# should track gradients for it), `grad` (the gradient after `backward()`, a Tensor or None)
# and `grad_fn` (the graph node that produced it, set by Module 02). `__slots__` keeps each
# tensor object small and attribute access fast, since every op creates one.
#
# Every operator is one line that calls `dispatch`. Python numbers and arrays on either
# side are lifted to tensors of the other operand's dtype first, so `x * 2` stays float32
# (and an integer tensor with a Python int stays integer: `labels + 1` is still an index).
# `__array_ufunc__ = None` makes `numpy_array + tensor` call `Tensor.__radd__` instead of
# letting NumPy swallow the tensor, which would bypass dispatch and autograd.
#
# Naming follows PyTorch where it can: `matmul`, `transpose(dim0, dim1)`, `permute`,
# `reshape`, `item()`, `numpy()`, `detach()`, `backward()`. Reductions take NumPy's
# `axis=`/`keepdims=`, and `max` returns only the values.

# %%
#| export
def _shape_from_args(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(int(s) for s in shape[0])
    return tuple(int(s) for s in shape)


def _axis_attr(axis: int | Sequence[int] | None) -> int | tuple[int, ...] | None:
    """Normalize the user's axis argument into something hashable."""
    if axis is None or isinstance(axis, (int, np.integer)):
        return axis
    return tuple(int(a) for a in axis)


class Tensor:
    """An n-dimensional array of numbers (float32 by default) that records its operations.

    ``Tensor(data, dtype=None, requires_grad=False)``: ``data`` is a number, a nested list,
    a NumPy array or a Tensor; it is copied. Only floating tensors can require gradients.
    """

    __slots__ = ("data", "requires_grad", "grad", "grad_fn", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators
    __hash__ = object.__hash__  # comparisons are elementwise, identity is the hash

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        self.data: np.ndarray = as_array(data.data if isinstance(data, Tensor) else data, dtype)
        self.grad: Tensor | None = None
        self.grad_fn: Any = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data: np.ndarray) -> Tensor:
        """A Tensor around an array a kernel just produced: no copy, no validation."""
        tensor = object.__new__(cls)
        tensor.data = data if type(data) is np.ndarray else np.asarray(data)
        tensor.requires_grad = False
        tensor.grad = None
        tensor.grad_fn = None
        return tensor

    # ---- attributes -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def nbytes(self) -> int:
        """Bytes of element storage, from your ``bytes_for``."""
        return bytes_for(self.shape, self.dtype)

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded operation (inputs, parameters)."""
        return self.grad_fn is None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place; only floating tensors may require gradients."""
        if requires_grad and self.data.dtype not in FLOAT_DTYPES:
            raise DtypeError(
                f"only floating point tensors can require gradients, this one is "
                f"{self.data.dtype}; create it with dtype=np.float32"
            )
        self.requires_grad = requires_grad
        return self

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float | int | bool:
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item() needs a tensor with exactly one element, this one has shape "
                f"{self.shape}; reduce it first, e.g. with .sum() or .mean()"
            )
        return self.data.item()

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut off from the graph."""
        return Tensor._wrap(self.data)

    def backward(self, gradient: Tensor | None = None) -> None:
        """Compute gradients of this tensor with respect to graph leaves (Module 02)."""
        if _STATE.engine is None:
            raise RuntimeError(
                "backward() needs the autograd engine of Module 02: "
                "`import tinytorch.autograd` first (complete Module 02 if you have not)"
            )
        _STATE.engine(self, gradient)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        extras = "" if self.dtype == DEFAULT_DTYPE else f", dtype={self.dtype}"
        if self.grad_fn is not None:
            extras += f", grad_fn=<{self.grad_fn.op}>"
        elif self.requires_grad:
            extras += ", requires_grad=True"
        return f"Tensor({body}{extras})"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.size} elements is ambiguous; "
                "use (t == x).all() style reductions or .item() on a single element"
            )
        return bool(self.data.item())

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.array(self.data, dtype=dtype, copy=copy)

    # ---- arithmetic ---------------------------------------------------------------------
    def _lift(self, other: Any) -> Tensor:
        """``other`` as a Tensor: numbers and arrays take this tensor's floating dtype, and
        Python ints this tensor's integer dtype (so index arithmetic stays integer)."""
        if isinstance(other, Tensor):
            return other
        own = self.data.dtype
        if (type(other) is float or type(other) is int) and own in FLOAT_DTYPES:
            return Tensor._wrap(np.array(other, dtype=own))  # `x * 0.5`, `x > 0`: the cheap path
        keeps_int = own.kind == "i" and isinstance(other, (int, np.integer)) and not isinstance(other, bool)
        return Tensor._wrap(as_array(other, own if own in FLOAT_DTYPES or keeps_int else None))

    def __add__(self, other: Any) -> Tensor:
        return dispatch("add", self, self._lift(other))

    def __radd__(self, other: Any) -> Tensor:
        return dispatch("add", self._lift(other), self)

    def __sub__(self, other: Any) -> Tensor:
        return dispatch("sub", self, self._lift(other))

    def __rsub__(self, other: Any) -> Tensor:
        return dispatch("sub", self._lift(other), self)

    def __mul__(self, other: Any) -> Tensor:
        return dispatch("mul", self, self._lift(other))

    def __rmul__(self, other: Any) -> Tensor:
        return dispatch("mul", self._lift(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        return dispatch("div", self, self._lift(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return dispatch("div", self._lift(other), self)

    def __neg__(self) -> Tensor:
        return dispatch("neg", self)

    def __pow__(self, exponent: float) -> Tensor:
        if isinstance(exponent, Tensor):
            raise TypeError("tensor ** tensor is not supported; use a Python number as the exponent")
        return dispatch("pow", self, exponent=float(exponent))

    def __matmul__(self, other: Any) -> Tensor:
        return dispatch("matmul", self, self._lift(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return dispatch("matmul", self._lift(other), self)

    def matmul(self, other: Any) -> Tensor:
        return self @ other

    def exp(self) -> Tensor:
        return dispatch("exp", self)

    def log(self) -> Tensor:
        return dispatch("log", self)

    def sqrt(self) -> Tensor:
        return dispatch("sqrt", self)

    # ---- comparisons (elementwise, bool results, never differentiable) ------------------
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return dispatch("eq", self, self._lift(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return dispatch("ne", self, self._lift(other))

    def __lt__(self, other: Any) -> Tensor:
        return dispatch("lt", self, self._lift(other))

    def __le__(self, other: Any) -> Tensor:
        return dispatch("le", self, self._lift(other))

    def __gt__(self, other: Any) -> Tensor:
        return dispatch("gt", self, self._lift(other))

    def __ge__(self, other: Any) -> Tensor:
        return dispatch("ge", self, self._lift(other))

    # ---- reductions ------------------------------------------------------------------------
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return dispatch("sum", self, axis=_axis_attr(axis), keepdims=keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return dispatch("mean", self, axis=_axis_attr(axis), keepdims=keepdims)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return dispatch("max", self, axis=_axis_attr(axis), keepdims=keepdims)

    # ---- shape -------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        return dispatch("reshape", self, shape=_shape_from_args(shape))

    def permute(self, *dims: Any) -> Tensor:
        # Non-negative axes, so that the backward pass can invert the permutation with argsort.
        axes = tuple(normalize_axes(d, self.ndim)[0] for d in _shape_from_args(dims))
        return dispatch("permute", self, axes=axes)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        axes = list(range(self.ndim))
        dim0, dim1 = normalize_axes(dim0, self.ndim)[0], normalize_axes(dim1, self.ndim)[0]
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return dispatch("permute", self, axes=tuple(axes))

    @property
    def T(self) -> Tensor:
        """All dimensions reversed (the matrix transpose for 2-D tensors)."""
        return dispatch("permute", self, axes=tuple(reversed(range(self.ndim))))

    def __getitem__(self, index: Any) -> Tensor:
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        return dispatch("getitem", self, index=index)


# %% [markdown]
# ### Factories
#
# `zeros`, `ones`, `randn` and `arange` create tensors directly. Random numbers come from a
# NumPy `Generator`: pass your own (`np.random.default_rng(0)`) for full control, or call
# `manual_seed(s)` to reset the shared default one, so an experiment can be repeated
# exactly. `get_rng_state()` and `set_rng_state(state)` save and restore where the default
# generator is in its sequence (as `torch.get_rng_state` / `torch.set_rng_state` do), so a
# training run resumed from a checkpoint (Module 07) draws the same numbers it would have.

# %%
#| export
_GENERATOR = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default random generator used by ``randn``; returns it."""
    global _GENERATOR
    _GENERATOR = np.random.default_rng(seed)
    return _GENERATOR


def get_rng_state() -> dict[str, Any]:
    """A copy of the default generator's state (``bit_generator.state``: a dict of ints and
    strings, e.g. ``{"bit_generator": "PCG64", "state": {...}, ...}``)."""
    return _GENERATOR.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Put the default generator back at ``state``, a dict from ``get_rng_state()``.

    TypeError for anything but a dict; NumPy raises ValueError for the state of another
    kind of bit generator. The generator object stays the same (only its state changes).
    """
    if not isinstance(state, dict):
        raise TypeError(f"set_rng_state expects the dict get_rng_state() returned, got {type(state).__name__}")
    _GENERATOR.bit_generator.state = state


def zeros(*shape: Any, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return Tensor(np.zeros(_shape_from_args(shape), dtype=dtype), dtype=dtype, requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    """A tensor of ones; ``ones(2, 3)`` or ``ones((2, 3))``."""
    return Tensor(np.ones(_shape_from_args(shape), dtype=dtype), dtype=dtype, requires_grad=requires_grad)


def randn(
    *shape: Any, generator: np.random.Generator | None = None, dtype: Any = DEFAULT_DTYPE,
    requires_grad: bool = False,
) -> Tensor:
    """Standard-normal samples of ``shape`` from ``generator`` (default: see ``manual_seed``)."""
    rng = _GENERATOR if generator is None else generator
    return Tensor(rng.standard_normal(_shape_from_args(shape)), dtype=dtype, requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = DEFAULT_DTYPE) -> Tensor:
    """Evenly spaced values in ``[start, stop)``; ``arange(n)`` is ``0, 1, ..., n-1``."""
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    return Tensor(values, dtype=dtype)


# %% [markdown]
# ## 8. The tensor at work
#
# Your functions, driven through the `Tensor` class the way every later module will use
# them: a broadcast bias, a matmul, reductions, shape operations, and an error message from
# a broadcast that does not fit. (They are graded by the tests above, one function each.)

# %%
x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
bias = Tensor([10.0, 20.0, 30.0])
print("x + bias =", x + bias)
print("x @ x.T =", x @ x.T)
print("x.mean(axis=0) =", x.mean(axis=0), " x.max(axis=1, keepdims=True) =", x.max(axis=1, keepdims=True))
print("x.reshape(-1, 2).shape =", x.reshape(-1, 2).shape, " x.T.shape =", x.T.shape, " x[1, ::2] =", x[1, ::2])
print("x + Tensor([1.0, 2.0]) raises:", expect_error(ShapeError, lambda: x + Tensor([1.0, 2.0])))

# %% [markdown]
# ## 9. Systems analysis: memory and overhead, measured
#
# ### Bytes per dtype
# Your `bytes_for` against what NumPy actually allocates, for a `(1024, 1024)` weight matrix:

# %%
for dtype in (np.float64, np.float32, np.int32, np.bool_):
    weights = Tensor(np.zeros((1024, 1024)), dtype=dtype)
    print(f"{np.dtype(dtype).name:>8}: bytes_for = {weights.nbytes / 2**20:5.2f} MiB, "
          f"numpy nbytes = {weights.data.nbytes / 2**20:5.2f} MiB")

# %% [markdown]
# ### Views versus copies
# Which operations share memory with their input and which allocate new memory? A view
# costs nothing now, but a later in-place update shows through it, and a non-contiguous
# view (a transpose) makes the next kernel read memory with a stride.

# %%
base = Tensor(np.arange(12.0).reshape(3, 4))
for label, result in (
    ("reshape(4, 3)", base.reshape(4, 3)),
    ("transpose(0, 1)", base.transpose(0, 1)),
    ("base[1:, ::2] (slice)", base[1:, ::2]),
    ("base[[0, 2]] (fancy index)", base[[0, 2]]),
    ("base + 0 (arithmetic)", base + 0),
):
    print(f"{label:>28}: shares memory = {np.shares_memory(result.data, base.data)!s:5}, "
          f"C-contiguous = {result.data.flags['C_CONTIGUOUS']}")

# %% [markdown]
# ### What dispatch costs
# Each tensor op pays Python overhead (the method call, `dispatch`, wrapping the result)
# on top of the NumPy kernel. The overhead is a fixed cost per call, so it dominates small
# tensors and vanishes for large ones. We time the same addition through `Tensor` and in
# raw NumPy, side by side, and print the ratio. (Module 15 builds the tools to measure
# this more carefully; numbers vary from machine to machine.)

# %%
import timeit


def _best_seconds(fn: Callable[[], Any], number: int, repeats: int = 5) -> float:
    """Fastest of ``repeats`` timings of ``number`` calls, per call (the least disturbed run)."""
    return min(timeit.repeat(fn, number=number, repeat=repeats)) / number


for n in (10, 1000, 1_000_000):
    xa, xb = np.ones(n, dtype=np.float32), np.ones(n, dtype=np.float32)
    ta, tb = Tensor(xa), Tensor(xb)
    calls = 2000 if n < 100_000 else 20
    numpy_time = _best_seconds(lambda: xa + xb, calls)
    tensor_time = _best_seconds(lambda: ta + tb, calls)
    print(f"n = {n:>9,}: numpy {numpy_time * 1e6:9.2f} us, Tensor {tensor_time * 1e6:9.2f} us, "
          f"ratio {tensor_time / numpy_time:5.2f}x")

# %% [markdown]
# ### FLOPs of a matmul
# A `(n, n) @ (n, n)` product does $2n^3$ floating-point operations, so doubling `n` costs
# eight times the work. Timing it shows how many of those operations per second NumPy's
# BLAS achieves on this machine; Module 16 compares it with loops you write yourself.

# %%
for n in (64, 128, 256):
    left, right = randn(n, n), randn(n, n)
    seconds = _best_seconds(lambda: left @ right, number=10, repeats=3)
    print(f"n = {n:>3}: {seconds * 1e3:7.3f} ms, {2 * n**3 / seconds / 1e9:6.2f} GFLOP/s")

# %% [markdown]
# ## Summary
#
# You built the checks and kernels under `Tensor`: dtype conversion, memory accounting,
# broadcasting, matmul, mean and reshape. The `Tensor` class routes every operation
# through `dispatch`, which is where autograd (Module 02), the profiler (Module 15) and
# faster kernels (Module 16) will attach.
#
# **Reflection questions**
#
# 1. Your timing above shows a fixed overhead per `Tensor` op. For which layer sizes in a
#    model would that overhead matter, and how would you reduce it without giving up the
#    dispatch layer?
# 2. `reshape` returned a view but `base[[0, 2]]` a copy. Why can NumPy not return a view
#    for a fancy index?
# 3. A float32 model's weights take 4 bytes per parameter. How much memory would the
#    weights of a 125-million-parameter GPT take, and what changes in Module 17 when they
#    become INT8?
# 4. Broadcasting `(32, 10) + (10,)` never copies the bias. What does the gradient of the
#    bias have to do, in Module 02, to have shape `(10,)` again?
