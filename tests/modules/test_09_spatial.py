"""Module 09: ``tinytorch.nn.conv`` (conv2d, max_pool2d, avg_pool2d, Conv2d, MaxPool2d, AvgPool2d, Flatten).

Forward results are compared with direct loops written here (float64, one output element
at a time); every op's backward is checked with ``gradcheck`` (finite differences). The
PyTorch semantics mirrored, written out since torch is not installed here: ``Conv2d(in,
out, kernel_size, stride=1, padding=0, bias=True)`` with weight (out, in, kh, kw) and both
parameters drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in * kh * kw; sizes an
int or a pair; (N, C, H, W) or unbatched (C, H, W) input; output size
floor((H + 2p - k) / s) + 1; pooling's stride defaults to the kernel size, padding at most
half the kernel, max pooling pads with -inf and sends the gradient to the first maximum,
average pooling counts the padding (``count_include_pad=True``); ``Flatten(start_dim=1,
end_dim=-1)``; reprs as PyTorch prints them (``MaxPool2d``'s without ``dilation`` and
``ceil_mode``, which it does not have). When torch is importable, a test compares values
and gradients with it.
"""

from __future__ import annotations

import math
import gc
import sys
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch.nn.functional as F
from tinytorch import nn
from tinytorch.autograd import gradcheck, no_grad
from tinytorch.nn.conv import (
    AvgPool2d,
    Conv2d,
    Flatten,
    MaxPool2d,
    avg_pool2d,
    col2im,
    conv2d,
    flatten,
    im2col,
    max_pool2d,
    route_to_max,
)
from tinytorch.nn.layers import Linear, ReLU, Sequential
from tinytorch.tensor import DtypeError, ShapeError, Tensor, add_observer, manual_seed, remove_observer

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None)
Pair = tuple[int, int]


# ---------------------------------------------------------------------------------------------
# direct-loop references (float64)
# ---------------------------------------------------------------------------------------------
def padded(x: np.ndarray, padding: Pair, fill: float = 0.0) -> np.ndarray:
    n, c, h, w = x.shape
    out = np.full((n, c, h + 2 * padding[0], w + 2 * padding[1]), fill)
    out[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w] = x
    return out


def reference_conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Pair, padding: Pair) -> np.ndarray:
    """One output element at a time: y[n, o, i, j] = b[o] + sum(w[o] * window)."""
    xp = padded(x.astype(np.float64), padding)
    n_images, out_channels, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    oh = (xp.shape[2] - kh) // stride[0] + 1
    ow = (xp.shape[3] - kw) // stride[1] + 1
    out = np.zeros((n_images, out_channels, oh, ow))
    for n in range(n_images):
        for o in range(out_channels):
            for i in range(oh):
                for j in range(ow):
                    window = xp[n, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
                    out[n, o, i, j] = np.sum(window * w[o]) + (0.0 if b is None else b[o])
    return out


def reference_pool(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, mode: str) -> np.ndarray:
    """Max (padding -inf) or mean (padding 0, divided by kh*kw) of each window, one at a time."""
    xp = padded(x.astype(np.float64), padding, -np.inf if mode == "max" else 0.0)
    oh = (xp.shape[2] - kernel[0]) // stride[0] + 1
    ow = (xp.shape[3] - kernel[1]) // stride[1] + 1
    out = np.zeros((x.shape[0], x.shape[1], oh, ow))
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    window = xp[n, c, i * stride[0]:i * stride[0] + kernel[0], j * stride[1]:j * stride[1] + kernel[1]]
                    out[n, c, i, j] = window.max() if mode == "max" else window.sum() / window.size
    return out


def leaf(rng: np.random.Generator, *shape: int) -> Tensor:
    return Tensor(rng.standard_normal(shape), dtype=np.float64, requires_grad=True)


def distinct(rng: np.random.Generator, *shape: int) -> Tensor:
    """Values 0.1 apart, shuffled: no ties, so max pooling is differentiable under finite differences."""
    return Tensor(rng.permutation(math.prod(shape)).reshape(shape) * 0.1, dtype=np.float64, requires_grad=True)


class OpCounter:
    """A dispatch observer that records the name of every op run."""

    def __init__(self) -> None:
        self.ops: list[str] = []

    def before(self, op: str, inputs: tuple, attrs: dict) -> None:
        self.ops.append(op)

    def after(self, op: str, inputs: tuple, attrs: dict, out: Tensor) -> None:
        pass


def ops_run(fn: Callable[[], object]) -> list[str]:
    counter = OpCounter()
    add_observer(counter)
    try:
        fn()
    finally:
        remove_observer(counter)
    return counter.ops


# ---------------------------------------------------------------------------------------------
# im2col and col2im
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel, stride, padding", [((3, 3), (1, 1), (1, 1)), ((2, 3), (2, 1), (0, 2)), ((1, 1), (3, 2), (0, 0))])
def test_im2col_columns_are_the_flattened_windows(kernel: Pair, stride: Pair, padding: Pair) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7)).astype(np.float32)
    cols = im2col(x, kernel, stride, padding)
    xp = padded(x, padding)
    oh, ow = (xp.shape[2] - kernel[0]) // stride[0] + 1, (xp.shape[3] - kernel[1]) // stride[1] + 1
    assert cols.shape == (3 * kernel[0] * kernel[1], 2 * oh * ow) and cols.dtype == np.float32
    for n in range(2):
        for i in range(oh):
            for j in range(ow):
                window = xp[n, :, i * stride[0]:i * stride[0] + kernel[0], j * stride[1]:j * stride[1] + kernel[1]]
                np.testing.assert_array_equal(cols[:, (n * oh + i) * ow + j], window.ravel())


def test_im2col_pads_with_fill() -> None:
    cols = im2col(np.ones((1, 1, 2, 2)), (2, 2), (2, 2), (1, 1), fill=-np.inf)
    # four corner windows, each holding one real pixel (bottom-right, bottom-left, ...) and three -inf
    assert np.array_equal(np.isinf(cols).sum(axis=0), [3, 3, 3, 3])
    assert np.array_equal(cols[:, 0], [-np.inf, -np.inf, -np.inf, 1.0])


@pytest.mark.parametrize("kernel, stride, padding", [((3, 3), (1, 1), (1, 1)), ((2, 3), (2, 1), (1, 0)), ((3, 2), (3, 3), (0, 1))])
def test_col2im_is_the_adjoint_of_im2col(kernel: Pair, stride: Pair, padding: Pair) -> None:
    rng = np.random.default_rng(1)
    shape = (2, 3, 7, 6)
    x = rng.standard_normal(shape)
    cols = im2col(x, kernel, stride, padding)
    other = rng.standard_normal(cols.shape)
    back = col2im(other, shape, kernel, stride, padding)
    assert back.shape == shape
    assert np.isclose(np.sum(cols * other), np.sum(x * back))  # <im2col(x), r> == <x, col2im(r)>


def test_col2im_counts_the_windows_covering_each_pixel() -> None:
    counts = col2im(np.ones((9, 16), dtype=np.float32), (1, 1, 4, 4), (3, 3), (1, 1), (1, 1))
    expected = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]])
    np.testing.assert_array_equal(counts[0, 0], expected)
    assert counts.dtype == np.float32


def python_lines(fn: Callable[[], object]) -> int:
    """Python lines run while ``fn()`` runs, in every function it calls (after one untraced warm-up call)."""
    fn()
    count = 0

    def count_lines(frame: object, event: str, arg: object) -> Callable[..., object]:
        nonlocal count
        count += event == "line"
        return count_lines

    previous, collecting = sys.gettrace(), gc.isenabled()
    gc.collect()
    gc.disable()  # a collection during the traced call would count other objects' finalizers
    sys.settrace(lambda frame, event, arg: count_lines)
    try:
        fn()
    finally:
        sys.settrace(previous)
        if collecting:
            gc.enable()
    return count


def test_im2col_and_col2im_run_no_python_loop_over_pixels() -> None:
    """The notebook's rule: no Python loop over images, pixels or windows (col2im loops over
    the kernel offsets only), so a larger input runs the same Python lines."""
    kernel, stride, padding = (2, 3), (1, 2), (1, 0)
    small, large = np.zeros((1, 2, 4, 5)), np.zeros((3, 2, 9, 12))
    assert python_lines(lambda: im2col(small, kernel, stride, padding)) == python_lines(lambda: im2col(large, kernel, stride, padding))
    small_cols, large_cols = im2col(small, kernel, stride, padding), im2col(large, kernel, stride, padding)
    assert python_lines(lambda: col2im(small_cols, small.shape, kernel, stride, padding)) == python_lines(
        lambda: col2im(large_cols, large.shape, kernel, stride, padding)
    )


def test_route_to_max_sends_each_gradient_to_the_first_maximum() -> None:
    windows = np.array([[[3.0, 1.0], [3.0, 5.0], [0.0, 5.0]]])  # C=1, K=3, M=2: a tie in each column
    routed = route_to_max(windows, np.array([[2.0, -4.0]]))
    np.testing.assert_array_equal(routed[0], [[2.0, 0.0], [0.0, -4.0], [0.0, 0.0]])


# ---------------------------------------------------------------------------------------------
# conv2d forward
# ---------------------------------------------------------------------------------------------
CONV_CASES = [
    # (input shape, weight shape, stride, padding, bias)
    ((2, 3, 6, 6), (4, 3, 3, 3), 1, 0, True),
    ((2, 3, 6, 6), (4, 3, 3, 3), 1, 1, False),
    ((1, 2, 7, 5), (3, 2, 2, 3), (2, 1), (1, 0), True),
    ((3, 1, 8, 8), (2, 1, 3, 3), 2, 1, True),
    ((2, 2, 5, 9), (2, 2, 5, 1), (1, 3), (0, 2), True),
    ((1, 4, 4, 4), (5, 4, 1, 1), 1, 0, True),
    ((2, 2, 3, 3), (1, 2, 3, 3), 1, 0, True),  # the kernel covers the whole image: 1x1 output
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, bias", CONV_CASES, ids=str)
def test_conv2d_matches_the_direct_loop(x_shape, w_shape, stride, padding, bias) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32) if bias else None
    out = conv2d(Tensor(x), Tensor(w), None if b is None else Tensor(b), stride=stride, padding=padding)
    pairs = [(s, s) if isinstance(s, int) else s for s in (stride, padding)]
    expected = reference_conv2d(x, w, b, *pairs)
    assert out.shape == expected.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_output_size_formula() -> None:
    x = Tensor(np.zeros((1, 1, 11, 10), dtype=np.float32))
    for kernel, stride, padding in ((3, 1, 0), (3, 2, 1), (4, 3, 2), (5, 2, 0), (2, 4, 1)):
        out = conv2d(x, Tensor(np.zeros((1, 1, kernel, kernel), dtype=np.float32)), stride=stride, padding=padding)
        expected = tuple((size + 2 * padding - kernel) // stride + 1 for size in (11, 10))
        assert out.shape[2:] == expected, (kernel, stride, padding)


def test_unbatched_input_like_pytorch() -> None:
    rng = np.random.default_rng(3)
    layer = Conv2d(2, 3, 3, padding=1)
    image = rng.standard_normal((2, 5, 5)).astype(np.float32)
    single = layer(Tensor(image))
    assert single.shape == (3, 5, 5)
    np.testing.assert_allclose(single.numpy(), layer(Tensor(image[None])).numpy()[0], rtol=1e-6)
    assert MaxPool2d(2)(Tensor(image)).shape == (2, 2, 2) and AvgPool2d(3, 1)(Tensor(image)).shape == (2, 3, 3)


@PROPERTY
@given(
    n=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3), h=st.integers(3, 8), w=st.integers(3, 8),
    kh=st.integers(1, 3), kw=st.integers(1, 3), sh=st.integers(1, 3), sw=st.integers(1, 3),
    ph=st.integers(0, 2), pw=st.integers(0, 2), seed=st.integers(0, 2**16),
)
def test_conv2d_property_against_the_direct_loop(n, c, o, h, w, kh, kw, sh, sw, ph, pw, seed) -> None:
    rng = np.random.default_rng(seed)
    x, weight, bias = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, kh, kw)), rng.standard_normal(o)
    out = conv2d(Tensor(x, dtype=np.float64), Tensor(weight, dtype=np.float64), Tensor(bias, dtype=np.float64),
                 stride=(sh, sw), padding=(ph, pw))
    np.testing.assert_allclose(out.numpy(), reference_conv2d(x, weight, bias, (sh, sw), (ph, pw)), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------
GRAD_CASES = [
    ((2, 2, 5, 5), (3, 2, 3, 3), 1, 1),
    ((1, 2, 6, 5), (2, 2, 2, 3), (2, 1), (1, 0)),
    ((2, 1, 7, 7), (2, 1, 3, 3), 3, 2),  # stride larger than the kernel's overlap: some pixels in no window
    ((1, 3, 4, 4), (2, 3, 1, 1), 2, 0),
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", GRAD_CASES, ids=str)
def test_conv2d_gradcheck_input_weight_bias(x_shape, w_shape, stride, padding) -> None:
    rng = np.random.default_rng(4)
    x, w, b = leaf(rng, *x_shape), leaf(rng, *w_shape), leaf(rng, w_shape[0])
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, stride=stride, padding=padding), [x, w, b])
    assert gradcheck(lambda x, w: conv2d(x, w, stride=stride, padding=padding), [x, w])


def test_conv2d_gradcheck_unbatched() -> None:
    rng = np.random.default_rng(5)
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, padding=1), [leaf(rng, 2, 4, 4), leaf(rng, 3, 2, 3, 3), leaf(rng, 3)])


def test_conv2d_is_one_op_and_skips_gradients_nobody_needs() -> None:
    rng = np.random.default_rng(6)
    x = Tensor(rng.standard_normal((2, 1, 8, 8)).astype(np.float32))  # images: no grad
    layer = Conv2d(1, 4, 3, padding=1)
    assert ops_run(lambda: layer(x)) == ["conv2d"]
    out = layer(x)
    assert out.grad_fn.op == "conv2d" and out.grad_fn.inputs == (x, layer.weight, layer.bias)
    out.sum().backward()
    assert x.grad is None and layer.weight.grad.shape == (4, 1, 3, 3) and layer.bias.grad.shape == (4,)
    assert layer.weight.grad.dtype == np.float32 and layer.bias.grad.dtype == np.float32
    np.testing.assert_allclose(layer.bias.grad.numpy(), np.full(4, 2 * 8 * 8), rtol=1e-6)
    frozen = Conv2d(1, 2, 3)
    frozen.weight.requires_grad = False
    image = Tensor(rng.standard_normal((1, 1, 5, 5)).astype(np.float32), requires_grad=True)
    frozen(image).sum().backward()
    assert frozen.weight.grad is None and image.grad.shape == (1, 1, 5, 5) and frozen.bias.grad is not None


def test_conv2d_weight_gradient_closed_form() -> None:
    # d sum(conv(x, w)) / dw[o, c, a, d] = the sum of x over the positions the weight touches
    x = np.random.default_rng(7).standard_normal((3, 2, 5, 5)).astype(np.float32)
    layer = Conv2d(2, 1, 3, bias=False)
    layer(Tensor(x)).sum().backward()
    expected = np.array([[[[x[:, c, a:a + 3, d:d + 3].sum() for d in range(3)] for a in range(3)] for c in range(2)]])
    np.testing.assert_allclose(layer.weight.grad.numpy(), expected, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------------------------
POOL_CASES = [
    # (kernel, stride, padding)
    (2, None, 0),
    (3, 2, 1),
    ((2, 3), (1, 2), (1, 1)),
    (3, 1, 0),
    ((3, 1), None, (1, 0)),
]


@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES, ids=str)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_matches_the_direct_loop(mode: str, kernel, stride, padding) -> None:
    x = np.random.default_rng(8).standard_normal((2, 3, 7, 6)).astype(np.float32) - 3.0  # mostly negative: padding must not win
    fn = max_pool2d if mode == "max" else avg_pool2d
    out = fn(Tensor(x), kernel, stride, padding)
    as_pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    expected = reference_pool(x, as_pair(kernel), as_pair(kernel if stride is None else stride), as_pair(padding), mode)
    assert out.shape == expected.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES, ids=str)
def test_pooling_gradcheck(kernel, stride, padding) -> None:
    rng = np.random.default_rng(9)
    assert gradcheck(lambda x: max_pool2d(x, kernel, stride, padding), [distinct(rng, 1, 2, 6, 5)])
    assert gradcheck(lambda x: avg_pool2d(x, kernel, stride, padding), [leaf(rng, 1, 2, 6, 5)])


def test_pooling_gradcheck_unbatched() -> None:
    rng = np.random.default_rng(10)
    assert gradcheck(lambda x: max_pool2d(x, 2, 1), [distinct(rng, 2, 4, 4)])
    assert gradcheck(lambda x: avg_pool2d(x, 2, 1, 1), [leaf(rng, 2, 4, 4)])


def test_max_pool_ties_send_the_gradient_to_the_first_maximum() -> None:
    x = Tensor(np.zeros((1, 1, 2, 4)), requires_grad=True)  # two 2x2 windows of equal values
    max_pool2d(x, 2).backward(Tensor(np.array([[[[3.0, 5.0]]]])))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[3.0, 0.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    # overlapping windows (stride 1) on a constant image: each window's first element, the
    # window's top-left pixel, gets its gradient; the last row and column get none
    y = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    max_pool2d(y, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy()[0, 0], [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])


def test_max_pool_gradient_adds_up_over_overlapping_windows() -> None:
    image = np.zeros((1, 1, 3, 3))
    image[0, 0, 1, 1] = 5.0  # the centre is the maximum of all four 2x2 windows
    x = Tensor(image, requires_grad=True)
    max_pool2d(x, 2, stride=1).sum().backward()
    expected = np.zeros((3, 3))
    expected[1, 1] = 4.0
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)


def test_avg_pool_counts_the_padding() -> None:
    x = Tensor(np.ones((1, 1, 2, 2)))
    out = avg_pool2d(x, 3, stride=1, padding=1)
    np.testing.assert_allclose(out.numpy()[0, 0], np.full((2, 2), 4 / 9), rtol=1e-6)  # 4 real ones over 9 places


def test_pooling_defaults_and_layers() -> None:
    x = Tensor(np.random.default_rng(11).standard_normal((2, 3, 8, 8)).astype(np.float32))
    np.testing.assert_array_equal(MaxPool2d(2)(x).numpy(), max_pool2d(x, 2, 2).numpy())
    np.testing.assert_array_equal(AvgPool2d((2, 4))(x).numpy(), avg_pool2d(x, (2, 4), (2, 4)).numpy())
    pool = MaxPool2d(3, padding=1)
    assert (pool.kernel_size, pool.stride, pool.padding) == (3, 3, 1)  # kept as given, stride from the kernel
    assert list(pool.parameters()) == [] and pool(x).shape == (2, 3, 3, 3)
    assert ops_run(lambda: max_pool2d(x, 2)) == ["max_pool2d"] and ops_run(lambda: avg_pool2d(x, 2)) == ["avg_pool2d"]


# ---------------------------------------------------------------------------------------------
# Flatten
# ---------------------------------------------------------------------------------------------
def test_flatten_shapes_and_gradient() -> None:
    x = Tensor(np.arange(120.0).reshape(2, 3, 4, 5))
    assert Flatten()(x).shape == (2, 60)
    assert Flatten(0)(x).shape == (120,)
    assert Flatten(1, 2)(x).shape == (2, 12, 5)
    assert Flatten(-2, -1)(x).shape == (2, 3, 20)
    assert Flatten(2, 2)(x).shape == (2, 3, 4, 5)
    np.testing.assert_array_equal(Flatten()(x).numpy(), x.numpy().reshape(2, 60))
    assert flatten(Tensor(3.0)).shape == (1,)  # torch.flatten of a 0-d tensor
    rng = np.random.default_rng(12)
    assert gradcheck(lambda t: Flatten()(t), [leaf(rng, 2, 3, 2, 2)])


def test_flatten_rejects_bad_dims() -> None:
    x = Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(ShapeError, match="end_dim=3"):
        Flatten(1, 3)(x)
    with pytest.raises(ShapeError, match="start_dim"):
        Flatten(2, 1)(x)
    with pytest.raises(ShapeError):
        Flatten()(Tensor(np.zeros(5)))  # start_dim=1 does not exist in a 1-d tensor


# ---------------------------------------------------------------------------------------------
# layers: initialization, repr, errors
# ---------------------------------------------------------------------------------------------
def test_conv2d_layout_and_default_initialization() -> None:
    manual_seed(0)
    layer = Conv2d(3, 16, 3)
    assert layer.weight.shape == (16, 3, 3, 3) and layer.bias.shape == (16,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    assert (layer.kernel_size, layer.stride, layer.padding) == ((3, 3), (1, 1), (0, 0))
    bound = 1 / math.sqrt(3 * 3 * 3)
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    big = Conv2d(32, 64, (5, 3))
    fan_in = 32 * 5 * 3
    assert np.abs(big.weight.numpy()).max() <= 1 / math.sqrt(fan_in)
    np.testing.assert_allclose(big.weight.numpy().var(), (1 / fan_in) / 3, rtol=0.05)  # U(-b, b): variance b^2/3
    assert Conv2d(1, 2, 3, bias=False).bias is None
    assert [name for name, _ in Conv2d(1, 2, 3).named_parameters()] == ["weight", "bias"]


def test_manual_seed_makes_conv_layers_reproducible() -> None:
    manual_seed(5)
    first = Conv2d(2, 4, 3).weight.numpy()
    manual_seed(5)
    np.testing.assert_array_equal(Conv2d(2, 4, 3).weight.numpy(), first)


def test_repr_like_pytorch() -> None:
    assert repr(Conv2d(1, 16, 3)) == "Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(Conv2d(16, 32, 3, padding=1)) == "Conv2d(16, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert repr(Conv2d(3, 8, (5, 3), stride=2, bias=False)) == "Conv2d(3, 8, kernel_size=(5, 3), stride=(2, 2), bias=False)"
    assert repr(MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(AvgPool2d(3, 2, 1)) == "AvgPool2d(kernel_size=3, stride=2, padding=1)"
    assert repr(Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_errors_name_the_layer_and_the_shapes() -> None:
    layer = Conv2d(3, 16, 3)
    with pytest.raises(ShapeError) as wrong_rank:
        layer(Tensor(np.zeros((2, 64))))
    assert "Conv2d expects (N, C, H, W) or (C, H, W) input, got shape (2, 64)" in str(wrong_rank.value)
    with pytest.raises(ShapeError) as wrong_channels:
        layer(Tensor(np.zeros((2, 1, 8, 8))))
    assert "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1)) expects 3 input channels, got 1" in str(wrong_channels.value)
    assert "(2, 1, 8, 8)" in str(wrong_channels.value)
    with pytest.raises(ShapeError, match=r"kernel size \(3, 3\) is larger than the padded input \(2, 2\)"):
        layer(Tensor(np.zeros((1, 3, 2, 2))))
    assert Conv2d(3, 1, 3, padding=1)(Tensor(np.zeros((1, 3, 1, 1)))).shape == (1, 1, 1, 1)  # fits once padded
    with pytest.raises(ShapeError, match="MaxPool2d expects"):
        MaxPool2d(2)(Tensor(np.zeros((4, 4))))
    with pytest.raises(ShapeError, match="larger than the padded input"):
        AvgPool2d(5)(Tensor(np.zeros((1, 1, 4, 4))))
    with pytest.raises(DtypeError, match="int64"):
        layer(Tensor(np.zeros((1, 3, 4, 4)), dtype=np.int64))


def test_functional_argument_errors() -> None:
    x, w = Tensor(np.zeros((1, 2, 5, 5))), Tensor(np.zeros((3, 2, 3, 3)))
    with pytest.raises(ShapeError, match="expects 2 input channels, got 4"):
        conv2d(Tensor(np.zeros((1, 4, 5, 5))), w)
    with pytest.raises(ShapeError, match=r"\(out_channels, in_channels, kh, kw\)"):
        conv2d(x, Tensor(np.zeros((3, 2, 3))))
    with pytest.raises(ShapeError, match="bias"):
        conv2d(x, w, Tensor(np.zeros(4)))
    with pytest.raises(ValueError, match="stride"):
        conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="padding"):
        conv2d(x, w, padding=-1)
    with pytest.raises(TypeError, match="pair of ints"):
        conv2d(x, w, stride=(1, 2, 3))
    with pytest.raises(TypeError, match="pair of ints"):
        Conv2d(2, 3, 2.5)
    with pytest.raises(ValueError, match="at most half"):
        max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="at most half"):
        MaxPool2d(3, padding=2)  # checked when the layer is built
    with pytest.raises(ValueError):
        Conv2d(0, 3, 3)


# ---------------------------------------------------------------------------------------------
# namespaces, a whole CNN, dtype
# ---------------------------------------------------------------------------------------------
def test_lazy_namespaces_export_the_layers_and_functions() -> None:
    assert nn.Conv2d is Conv2d and nn.MaxPool2d is MaxPool2d and nn.AvgPool2d is AvgPool2d and nn.Flatten is Flatten
    assert F.conv2d is conv2d and F.max_pool2d is max_pool2d and F.avg_pool2d is avg_pool2d


def test_a_small_cnn_runs_forward_and_backward_in_float32() -> None:
    manual_seed(1)
    model = Sequential(Conv2d(1, 4, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(4, 8, 3, padding=1), ReLU(),
                       AvgPool2d(2), Flatten(), Linear(8 * 2 * 2, 10))
    x = Tensor(np.random.default_rng(13).standard_normal((5, 1, 8, 8)).astype(np.float32))
    out = model(x)
    assert out.shape == (5, 10) and out.dtype == np.float32
    out.sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.dtype == np.float32, name
        assert parameter.grad.shape == parameter.shape, name
    with no_grad():
        assert model(x).grad_fn is None


def test_matches_pytorch_when_installed() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=(2, 1), padding=(1, 0))
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(g))
    ox, ow_, ob = (Tensor(a, requires_grad=True) for a in (x, w, b))
    oy = conv2d(ox, ow_, ob, stride=(2, 1), padding=(1, 0))
    oy.backward(Tensor(g))
    np.testing.assert_allclose(oy.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    for ours, theirs in ((ox, tx), (ow_, tw), (ob, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-4)
    for ours_fn, torch_fn in ((max_pool2d, torch.nn.functional.max_pool2d), (avg_pool2d, torch.nn.functional.avg_pool2d)):
        px, tpx = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        py, tpy = ours_fn(px, 3, 2, 1), torch_fn(tpx, 3, 2, 1)
        np.testing.assert_allclose(py.numpy(), tpy.detach().numpy(), rtol=1e-5, atol=1e-5)
        gp = rng.standard_normal(py.shape).astype(np.float32)
        py.backward(Tensor(gp))
        tpy.backward(torch.tensor(gp))
        np.testing.assert_allclose(px.grad.numpy(), tpx.grad.numpy(), rtol=1e-5, atol=1e-5)
