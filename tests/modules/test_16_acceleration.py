"""Module 16: ``tinytorch.backends`` (matmul kernels, kernel swapping, backends).

The kernels against ``np.matmul`` on random, odd and empty shapes and on tiles that do not
divide the sizes; ``install_kernels`` and the backends restore the previous kernels, also
after an error and when nested; the trained GPT and the digits CNN compute the same outputs
and gradients under every backend; the channels-last convolution equals Module 09's kernel
and backward on odd shapes and passes gradcheck. No test here times anything.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch.autograd  # noqa: F401  (gradients for .backward())
from tinytorch.backends import (
    MATMUL_KERNELS,
    Backend,
    OptimizedBackend,
    batched,
    gflops,
    install_kernels,
    matmul_blas,
    matmul_blocked,
    matmul_naive,
    pick_kernel,
)
from tinytorch.data import fetch_batch, load_digits
from tinytorch.models.gpt import load_pretrained
from tinytorch.nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from tinytorch.nn.functional import cross_entropy
from tinytorch.tensor import KERNELS, Tensor, manual_seed, register_kernel

SHAPES = [(1, 1, 1), (3, 5, 2), (7, 1, 9), (13, 17, 11), (2, 0, 3), (0, 4, 5), (4, 6, 0)]


def operands(m: int, k: int, n: int, seed: int = 0, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)


@pytest.mark.parametrize("kernel", [matmul_naive, matmul_blocked, matmul_blas], ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_kernels_agree_with_numpy(kernel, shape) -> None:
    a, b = operands(*shape)
    out = kernel(a, b)
    assert out.shape == (shape[0], shape[2])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kernel", [matmul_naive, matmul_blocked], ids=lambda f: f.__name__)
def test_kernels_keep_float64(kernel) -> None:
    a, b = operands(4, 3, 5, dtype=np.float64)
    out = kernel(a, b)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)


@pytest.mark.parametrize("tile", [1, 2, 3, 7, 16, 100])
def test_blocked_tiles_that_do_not_divide_the_sizes(tile: int) -> None:
    a, b = operands(37, 23, 29, seed=tile)
    np.testing.assert_allclose(matmul_blocked(a, b, tile=tile), a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel", [matmul_naive, matmul_blocked], ids=lambda f: f.__name__)
def test_kernels_reject_misaligned_shapes(kernel) -> None:
    with pytest.raises(ValueError):
        kernel(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError):
        kernel(np.ones(3), np.ones((3, 2)))


def test_blocked_rejects_a_tile_below_one() -> None:
    with pytest.raises(ValueError, match="tile"):
        matmul_blocked(np.ones((2, 2)), np.ones((2, 2)), tile=0)


def test_gflops() -> None:
    assert gflops(100, 200, 300, 0.012) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        gflops(1, 1, 1, 0.0)


def test_pick_kernel_is_strict_at_the_limits() -> None:
    table = [(10, "a"), (100, "b"), (math.inf, "c")]
    assert [pick_kernel(w, table) for w in (0, 9.5, 10, 99, 100, 1e12)] == ["a", "a", "b", "b", "c", "c"]
    with pytest.raises(ValueError):
        pick_kernel(10, [(10, "a")])


@pytest.fixture
def scratch_ops():
    register_kernel("backends_test_x", np.add)
    register_kernel("backends_test_y", np.subtract)
    yield
    for op in ("backends_test_x", "backends_test_y"):
        KERNELS.pop(op, None)


def test_install_kernels_returns_and_restores(scratch_ops) -> None:
    previous = install_kernels({"backends_test_x": np.multiply})
    assert previous == {"backends_test_x": np.add}
    assert KERNELS["backends_test_x"] is np.multiply
    install_kernels(previous)
    assert KERNELS["backends_test_x"] is np.add


def test_install_kernels_installs_nothing_when_an_op_is_unknown(scratch_ops) -> None:
    with pytest.raises(ValueError, match="backends_test_unknown"):
        install_kernels({"backends_test_x": np.multiply, "backends_test_unknown": np.add})
    assert KERNELS["backends_test_x"] is np.add
    assert "backends_test_unknown" not in KERNELS


def test_backend_restores_after_an_error() -> None:
    before = dict(KERNELS)
    backend = OptimizedBackend()
    with pytest.raises(KeyError):
        with backend:
            assert KERNELS["matmul"] is not before["matmul"]
            raise KeyError("inside")
    assert KERNELS == before


def test_backends_nest_and_global_enable_disable() -> None:
    before = dict(KERNELS)
    outer, inner = Backend.from_matmul(matmul_blas), OptimizedBackend()
    with outer:
        outer_kernels = dict(KERNELS)
        with inner:
            assert KERNELS["linear"] is inner.kernels["linear"]
        assert KERNELS == outer_kernels
    assert KERNELS == before
    inner.enable()
    try:
        assert KERNELS["matmul"] is inner.kernels["matmul"]
    finally:
        inner.disable()
    assert KERNELS == before
    with pytest.raises(RuntimeError):
        inner.disable()


def test_optimized_backend_picks_by_size() -> None:
    backend = OptimizedBackend(choices=[(1000, "naive"), (100_000, "blocked"), (math.inf, "blas")])
    assert backend.kernel_name(4, 4, 4) == "naive"
    assert backend.kernel_name(10, 10, 10) == "blocked"
    assert backend.kernel_name(100, 100, 100) == "blas"
    with pytest.raises(ValueError):
        OptimizedBackend(choices=[(math.inf, "cuda")])


@pytest.mark.parametrize(("shape_a", "shape_b"), [((5,), (5, 3)), ((2, 5), (5,)), ((4, 2, 5), (5, 3)),
                                                  ((1, 2, 5), (3, 5, 4)), ((0, 2, 5), (5, 3)), ((2, 5), (2, 5, 1))])
@pytest.mark.parametrize("kernel2d", [matmul_naive, matmul_blocked, matmul_blas], ids=lambda f: f.__name__)
def test_batched_matmul_follows_numpy(shape_a, shape_b, kernel2d) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(shape_a).astype(np.float32), rng.standard_normal(shape_b).astype(np.float32)
    out = batched(kernel2d)(a, b)
    assert out.shape == np.matmul(a, b).shape
    np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-4, atol=1e-5)


def pooling_everything() -> OptimizedBackend:
    """An OptimizedBackend whose pool takes every array, however small: the tests' models are tiny."""
    backend = OptimizedBackend()
    backend.pool.min_bytes = 0
    return backend


def backends() -> dict[str, Backend]:
    return {
        "blas": Backend.from_matmul(matmul_blas),
        "blocked": Backend.from_matmul(lambda a, b: matmul_blocked(a, b, 16)),
        "naive": Backend.from_matmul(matmul_naive),
        "optimized": OptimizedBackend(),
        "optimized-without-pool": OptimizedBackend(pool=False),
        "optimized-pooling-everything": pooling_everything(),
        "optimized-mixed": OptimizedBackend(choices=[(5_000, "naive"), (50_000, "blocked"), (math.inf, "blas")]),
    }


def outputs_and_grads(model, run) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    model.zero_grad()
    out, loss = run()
    loss.backward()
    return out.data.copy(), {name: p.grad.data.copy() for name, p in model.named_parameters() if p.grad is not None}


def assert_same(reference, other, name: str) -> None:
    np.testing.assert_allclose(other[0], reference[0], rtol=1e-4, atol=1e-4, err_msg=f"{name}: outputs")
    assert reference[1].keys() == other[1].keys()
    for key, grad in reference[1].items():
        np.testing.assert_allclose(other[1][key], grad, rtol=1e-3, atol=1e-5, err_msg=f"{name}: gradient of {key}")


@pytest.fixture(scope="module")
def gpt():
    return load_pretrained()[0]


@pytest.mark.parametrize("name", list(backends()))
def test_gpt_logits_and_gradients_are_the_same_under_every_backend(gpt, name: str) -> None:
    rng = np.random.default_rng(0)
    tokens = Tensor(rng.integers(0, gpt.config.vocab_size, size=(2, 5)), dtype=np.int64)
    targets = Tensor(rng.integers(0, gpt.config.vocab_size, size=(2, 5)), dtype=np.int64)

    def run():
        logits = gpt(tokens)
        return logits, cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    reference = outputs_and_grads(gpt, run)
    before = dict(KERNELS)
    with backends()[name]:
        other = outputs_and_grads(gpt, run)
    assert KERNELS == before
    assert_same(reference, other, name)


@pytest.mark.parametrize("name", list(backends()))
def test_digits_cnn_outputs_and_gradients_are_the_same_under_every_backend(name: str) -> None:
    manual_seed(0)
    model = Sequential(Conv2d(1, 16, 3, padding=1), ReLU(), MaxPool2d(2),
                       Conv2d(16, 32, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(), Linear(32 * 2 * 2, 10))
    digits = load_digits()
    pixels, labels = fetch_batch(digits.train, np.arange(6))
    images = pixels.reshape(6, 1, 8, 8)

    def run():
        logits = model(images)
        return logits, cross_entropy(logits, labels)

    reference = outputs_and_grads(model, run)
    with backends()[name]:
        other = outputs_and_grads(model, run)
    assert_same(reference, other, name)


def test_every_named_kernel_is_a_matmul() -> None:
    a, b = operands(6, 5, 4)
    for name, kernel in MATMUL_KERNELS.items():
        np.testing.assert_allclose(kernel(a, b), a @ b, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_backward_from_output_passes_gradcheck(approximate: str) -> None:
    from tinytorch.autograd import gradcheck
    from tinytorch.nn.activations import gelu

    rng = np.random.default_rng(3)
    x = Tensor(np.concatenate([rng.standard_normal(20) * 3, [0.0, -1e-8, 1e-8, -6.0, 6.0]]), dtype=np.float64,
               requires_grad=True)
    with OptimizedBackend():
        assert gradcheck(lambda t: gelu(t, approximate=approximate), [x])


def test_gelu_backward_from_output_matches_module_03() -> None:
    from tinytorch.autograd import GRADIENTS, Node
    from tinytorch.nn.activations import gelu_backward, gelu_kernel

    from tinytorch.backends import gelu_backward_from_output

    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 7, 11)).astype(np.float32) * 4
    x[0, 0, :3] = 0.0
    grad = rng.standard_normal(x.shape).astype(np.float32)
    node = Node("gelu", (Tensor(x),), {"approximate": "tanh"}, gelu_kernel(x, "tanh"))
    fused = gelu_backward_from_output(grad, node)[0]
    assert fused.dtype == np.float32
    np.testing.assert_allclose(fused, gelu_backward(grad, node)[0], rtol=1e-4, atol=1e-5)
    before = GRADIENTS["gelu"]
    with pytest.raises(KeyError), OptimizedBackend():
        assert GRADIENTS["gelu"].func is gelu_backward_from_output  # with the backend's allocator
        raise KeyError("inside")
    assert GRADIENTS["gelu"] is before


def test_backend_rejects_a_gradient_for_an_unknown_op() -> None:
    with pytest.raises(ValueError, match="backends_no_such_op"):
        Backend({}, gradients={"backends_no_such_op": lambda grad, node: (grad,)})


@pytest.mark.parametrize("affine", ["none", "weight", "weight and bias"])
def test_fused_layer_norm_passes_gradcheck_and_matches_module_10(affine: str) -> None:
    from tinytorch.autograd import GRADIENTS, gradcheck
    from tinytorch.nn.normalization import layer_norm

    rng = np.random.default_rng(5)
    x = Tensor(rng.standard_normal((2, 3, 4, 5)), dtype=np.float64, requires_grad=True)
    params = [Tensor(rng.standard_normal((4, 5)), dtype=np.float64, requires_grad=True) for _ in range(2)]
    weight = params[0] if affine != "none" else None
    bias = params[1] if affine == "weight and bias" else None
    inputs = [x] + [p for p in (weight, bias) if p is not None]

    def run(*tensors: Tensor) -> Tensor:
        return layer_norm(tensors[0], (4, 5), *tensors[1:])

    reference_out = run(*inputs)
    reference_out.backward(Tensor(np.ones(x.shape)))
    reference_grads = [t.grad.data.copy() for t in inputs]
    for t in inputs:
        t.grad = None
    before = (KERNELS["layer_norm"], GRADIENTS["layer_norm"])
    with OptimizedBackend():
        assert KERNELS["layer_norm"] is not before[0]
        assert gradcheck(run, inputs)
        out = run(*inputs)
        out.backward(Tensor(np.ones(x.shape)))
    assert (KERNELS["layer_norm"], GRADIENTS["layer_norm"]) == before
    np.testing.assert_allclose(out.data, reference_out.data, rtol=1e-10, atol=1e-12)
    for t, grad in zip(inputs, reference_grads, strict=True):
        np.testing.assert_allclose(t.grad.data, grad, rtol=1e-9, atol=1e-11)


def test_fused_layer_norm_keeps_float32() -> None:
    from tinytorch.nn.normalization import LayerNorm

    layer = LayerNorm(8)
    x = Tensor(np.random.default_rng(6).standard_normal((3, 8)).astype(np.float32), requires_grad=True)
    with OptimizedBackend():
        out = layer(x)
        out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32 and layer.weight.grad.dtype == np.float32


ATTENTION_CASES = [  # (query shape, key length, offset)
    ((2, 3, 5, 4), 5, 0),
    ((1, 1, 1, 8), 1, 0),
    ((2, 2, 3, 4), 7, 4),  # a cache: 4 keys before the first query
    ((4, 6, 4), 6, 0),  # no head dimension
    ((2, 5, 3), 2, 0),  # more queries than keys: the later rows see every key
]


@pytest.mark.parametrize("query_shape, keys, offset", ATTENTION_CASES, ids=str)
def test_fused_causal_attention_matches_module_13(query_shape, keys, offset) -> None:
    from tinytorch.backends import attention_fused
    from tinytorch.nn.attention import attention_kernel

    rng = np.random.default_rng(7)
    query = rng.standard_normal(query_shape).astype(np.float32)
    key = rng.standard_normal((*query_shape[:-2], keys, query_shape[-1])).astype(np.float32)
    value = rng.standard_normal((*query_shape[:-2], keys, 3)).astype(np.float32)
    saved_reference: dict = {}
    saved_fused: dict = {}
    reference = attention_kernel(query, key, value, scale=0.3, is_causal=True, offset=offset, saved=saved_reference)
    fused = attention_fused(query, key, value, scale=0.3, is_causal=True, offset=offset, saved=saved_fused)
    assert fused.dtype == np.float32 and fused.shape == reference.shape
    np.testing.assert_allclose(fused, reference, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(saved_fused["probs"], saved_reference["probs"], rtol=1e-5, atol=1e-7)


def test_fused_attention_hands_other_cases_to_module_13() -> None:
    from tinytorch.backends import attention_fused, causal_additive_mask
    from tinytorch.nn.attention import attention_kernel

    rng = np.random.default_rng(8)
    query, key, value = (rng.standard_normal((2, 4, 3)) for _ in range(3))
    bool_mask = rng.random((4, 4)) > 0.3
    float_mask = rng.standard_normal((4, 4))
    dropout = (rng.random((2, 4, 4)) > 0.5) * 2.0
    for kwargs in ({}, {"attn_mask": bool_mask}, {"attn_mask": float_mask, "is_causal": True},
                   {"is_causal": True, "dropout_mask": dropout}):
        np.testing.assert_array_equal(attention_fused(query, key, value, scale=0.5, **kwargs),
                                      attention_kernel(query, key, value, scale=0.5, **kwargs))
    infinite = query.copy()
    infinite[0, 1] = np.inf
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(attention_fused(infinite, key, value, scale=0.5, is_causal=True),
                                      attention_kernel(infinite, key, value, scale=0.5, is_causal=True))
    mask = causal_additive_mask(3, 3, 0, "float32")
    assert not mask.flags.writeable and mask.dtype == np.float32
    np.testing.assert_array_equal(np.isfinite(mask), np.tril(np.ones((3, 3), dtype=bool)))


def test_fused_attention_passes_gradcheck_through_the_backend() -> None:
    from tinytorch.autograd import gradcheck
    from tinytorch.nn.attention import attention

    rng = np.random.default_rng(9)
    inputs = [Tensor(rng.standard_normal((2, 2, 4, 3)), dtype=np.float64, requires_grad=True) for _ in range(3)]
    before = KERNELS["attention"]
    with OptimizedBackend():
        assert KERNELS["attention"] is not before
        assert gradcheck(lambda q, k, v: attention(q, k, v, is_causal=True), inputs)
    assert KERNELS["attention"] is before


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_fused_log_softmax_passes_gradcheck_and_matches_module_03(dim: int) -> None:
    from tinytorch.autograd import GRADIENTS, gradcheck
    from tinytorch.nn.activations import log_softmax

    rng = np.random.default_rng(10)
    x = Tensor(rng.standard_normal((3, 4, 5)) * 4, dtype=np.float64, requires_grad=True)
    weights = Tensor(rng.standard_normal((3, 4, 5)))
    reference = log_softmax(x, dim)
    (reference * weights).sum().backward()
    reference_grad = x.grad.data.copy()
    x.grad = None
    before = (KERNELS["log_softmax"], GRADIENTS["log_softmax"])
    with OptimizedBackend():
        assert gradcheck(lambda t: log_softmax(t, dim), [x])
        out = log_softmax(x, dim)
        (out * weights).sum().backward()
    assert (KERNELS["log_softmax"], GRADIENTS["log_softmax"]) == before
    np.testing.assert_allclose(out.data, reference.data, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.data, reference_grad, rtol=1e-10, atol=1e-12)


def test_fused_log_softmax_is_finite_at_large_logits_and_keeps_float32() -> None:
    from tinytorch.backends import log_softmax_fused

    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]], dtype=np.float32)
    out = log_softmax_fused(x, 1)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_allclose(out, [[0.0, -2000.0, -1000.0], [-math.log(3)] * 3], rtol=1e-6)


def test_optimized_linear_runs_module_04s_kernel_for_blas() -> None:
    layer = Linear(5, 3)
    x = Tensor(np.random.default_rng(11).standard_normal((2, 4, 5)).astype(np.float32), requires_grad=True)
    reference = layer(x).data
    for choices in (((math.inf, "blas"),), ((math.inf, "blocked"),)):
        with OptimizedBackend(choices=choices):
            out = layer(x)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.data, reference, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------- the buffer pool


def test_buffer_pool_reuses_a_buffer_only_once_nothing_uses_it() -> None:
    from tinytorch.backends import BufferPool

    pool = BufferPool(min_bytes=64)
    first = pool.empty((4, 8), np.float32)
    assert first.shape == (4, 8) and first.dtype == np.float32 and first.flags.c_contiguous
    first[...] = 1.0
    view = first[1:, ::2].T  # a view keeps the buffer in use after `first` is gone
    del first
    second = pool.empty((8, 4), np.float32)
    assert not np.shares_memory(second, view) and np.all(view == 1.0)
    assert (pool.hits, pool.misses) == (0, 2)
    del view
    third = pool.empty((2, 16), np.float32)  # same size in bytes: the first buffer is free now
    assert pool.hits == 1 and not np.shares_memory(third, second)
    fourth = pool.empty((4, 4), np.float64)  # 128 bytes, like the others: also reused once free
    assert pool.misses == 3 and fourth.dtype == np.float64
    assert pool.nbytes == 3 * 128
    small = pool.empty((3,), np.float32)  # below min_bytes: np.empty, not pooled
    assert small.shape == (3,) and pool.nbytes == 3 * 128
    pool.clear()
    assert pool.nbytes == 0 and third.shape == (2, 16)  # arrays in use live on


def test_pooled_results_kept_by_the_caller_are_never_overwritten() -> None:
    backend = pooling_everything()
    layer = Linear(6, 5)
    x = Tensor(np.random.default_rng(12).standard_normal((3, 6)).astype(np.float32))
    with backend:
        kept = layer(x)
        expected = kept.data.copy()
        for _ in range(5):
            layer(x * 2.0)
    np.testing.assert_array_equal(kept.data, expected)
    assert backend.pool.hits > 0


LINEAR_CASES = [((5,), True), ((3, 5), True), ((2, 3, 5), False), ((0, 5), True)]


@pytest.mark.parametrize("shape, with_bias", LINEAR_CASES, ids=str)
def test_pooled_linear_matches_module_04(shape, with_bias) -> None:
    from tinytorch.autograd import Node
    from tinytorch.backends import BufferPool, linear_backward_pooled, linear_pooled
    from tinytorch.nn.layers import linear_backward, linear_kernel

    rng = np.random.default_rng(13)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((4, 5)), rng.standard_normal(4)
    empty = BufferPool(min_bytes=0).empty
    args = (x, w, b) if with_bias else (x, w)
    out = linear_pooled(*args, empty=empty)
    np.testing.assert_allclose(out, linear_kernel(*args), rtol=1e-12, atol=1e-12)
    grad = rng.standard_normal(out.shape)
    node = Node("linear", tuple(Tensor(a, requires_grad=True) for a in args), {}, out)
    for mine, theirs in zip(linear_backward_pooled(grad, node, empty=empty), linear_backward(grad, node), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)


def test_pooled_add_gelu_and_split_heads_match_their_modules() -> None:
    from tinytorch.autograd import Node
    from tinytorch.backends import BufferPool, add_pooled, gelu_pooled, split_heads_backward_pooled
    from tinytorch.nn.activations import gelu_kernel
    from tinytorch.nn.attention import split_heads_backward

    empty = BufferPool(min_bytes=0).empty
    rng = np.random.default_rng(14)
    a, b = rng.standard_normal((3, 1, 4)).astype(np.float32), rng.standard_normal((5, 1)).astype(np.float32)
    np.testing.assert_array_equal(add_pooled(a, b, empty=empty), np.add(a, b))
    assert add_pooled(a, b.astype(np.float64), empty=empty).dtype == np.float64
    for approximate in ("tanh", "none"):
        x = rng.standard_normal((2, 7)).astype(np.float32) * 3
        np.testing.assert_allclose(gelu_pooled(x, approximate, empty=empty), gelu_kernel(x, approximate), rtol=1e-5, atol=1e-6)
    extremes = np.array([-200.0, -30.0, 0.0, 1e-8, 30.0, 200.0], dtype=np.float32)
    np.testing.assert_allclose(gelu_pooled(extremes, "tanh", empty=empty), gelu_kernel(extremes, "tanh"), rtol=1e-6, atol=1e-30)
    qkv = Tensor(rng.standard_normal((2, 3, 12)), requires_grad=True)
    for part in range(3):
        grad = rng.standard_normal((2, 2, 3, 2))
        node = Node("split_heads", (qkv,), {"num_heads": 2, "part": part}, np.empty(0))
        first = split_heads_backward_pooled(grad, node, empty=empty)[0]
        np.testing.assert_array_equal(first, split_heads_backward(grad, node)[0])
        del first
        again = split_heads_backward_pooled(grad, node, empty=empty)[0]  # a reused buffer is zeroed first
        np.testing.assert_array_equal(again, split_heads_backward(grad, node)[0])


@pytest.mark.parametrize("needs", [(True, True, True), (True, False, True), (False, False, True), (False, True, False)], ids=str)
def test_pooled_attention_backward_matches_module_13(needs) -> None:
    from tinytorch.autograd import Node
    from tinytorch.backends import BufferPool, attention_backward_pooled, attention_fused
    from tinytorch.nn.attention import attention_backward

    rng = np.random.default_rng(15)
    arrays = [rng.standard_normal((2, 2, 4, 3)), rng.standard_normal((2, 2, 6, 3)), rng.standard_normal((2, 2, 6, 5))]
    saved: dict = {}
    attrs = {"scale": 0.4, "attn_mask": None, "is_causal": True, "offset": 2, "dropout_mask": None, "saved": saved}
    out = attention_fused(*arrays, **attrs)
    node = Node("attention", tuple(Tensor(a, requires_grad=r) for a, r in zip(arrays, needs)), attrs, out)
    grad = rng.standard_normal(out.shape)
    mine = attention_backward_pooled(grad, node, empty=BufferPool(min_bytes=0).empty)
    for got, want in zip(mine, attention_backward(grad, node), strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_optimized_backend_pool_outlives_disable_and_clears() -> None:
    backend = OptimizedBackend()
    assert backend.pool is not None and OptimizedBackend(pool=False).pool is None
    backend.pool.min_bytes = 0
    layer = Linear(8, 8)
    with backend:
        layer(Tensor(np.ones((4, 8), dtype=np.float32)))
    held = backend.pool.nbytes
    assert held > 0
    with backend:
        layer(Tensor(np.ones((4, 8), dtype=np.float32)))
    assert backend.pool.nbytes == held and backend.pool.hits > 0
    backend.pool.clear()
    assert backend.pool.nbytes == 0


# ---- the channels-last convolution (kernel and backward formula installed by OptimizedBackend)

# (input shape, out channels, kernel, stride, padding): channels-last and Module 09 paths, stride 1 and
# larger, padding 0 to 3 (beyond kernel - 1 too), non-square images and kernels, 1x1 kernels, batch 1 and 0
CONV_CASES = [
    ((64, 16, 4, 4), 32, (3, 3), (1, 1), (1, 1)),  # the digits CNN's second layer: channels last
    ((6, 1, 8, 8), 16, (3, 3), (1, 1), (1, 1)),  # its first layer: one channel, Module 09's path
    ((2, 3, 5, 6), 4, (3, 3), (1, 1), (0, 0)),
    ((1, 4, 7, 5), 2, (2, 3), (2, 1), (0, 2)),
    ((3, 5, 4, 4), 3, (1, 1), (1, 1), (2, 0)),
    ((2, 4, 6, 5), 3, (3, 2), (1, 2), (3, 1)),
    ((2, 6, 9, 7), 5, (3, 3), (2, 2), (1, 1)),
    ((1, 8, 3, 3), 2, (3, 3), (1, 1), (2, 2)),
    ((0, 4, 5, 5), 3, (3, 3), (1, 1), (1, 1)),
    ((2, 2, 11, 13), 3, (3, 3), (1, 1), (1, 1)),  # few channels, wide rows: Module 09's path
    ((2, 2, 11, 13), 3, (2, 4), (3, 2), (1, 2)),
]


def conv_path(case) -> bool:
    """Whether the fast kernel takes the channels-last path for this case."""
    from tinytorch.backends import channels_last_pays
    from tinytorch.nn.conv import conv_output_size

    (_, channels, _, width), _, kernel, stride, padding = case
    return channels_last_pays(channels, kernel[1], conv_output_size(width, kernel[1], stride[1], padding[1]))


def test_conv_cases_take_both_paths() -> None:
    paths = [conv_path(case) for case in CONV_CASES]
    assert paths[0] and not paths[1], "the digits CNN: channels last for the second layer, Module 09 for the first"
    assert sum(paths) >= 6 and not all(paths)


def conv_arrays(case, dtype, seed: int, bias: bool = True) -> tuple[np.ndarray, ...]:
    shape, out_channels, kernel, _, _ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    weight = rng.standard_normal((out_channels, shape[1], *kernel)).astype(dtype)
    return x, weight, rng.standard_normal(out_channels).astype(dtype) if bias else None


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_fast_conv_kernel_and_backward_equal_module_09(case, dtype) -> None:
    from tinytorch.autograd import Node
    from tinytorch.backends import conv2d_fast, conv2d_fast_backward
    from tinytorch.nn.conv import conv2d_backward, conv2d_kernel

    _, _, _, stride, padding = case
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}
    for seed, bias_on in ((0, True), (1, False)):
        x, weight, bias = conv_arrays(case, dtype, seed, bias_on)
        expected, got = conv2d_kernel(x, weight, bias, stride, padding), conv2d_fast(x, weight, bias, stride, padding)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, **tol)
        grad = np.random.default_rng(seed + 10).standard_normal(expected.shape).astype(dtype)
        for needs in ((True, True, True), (False, True, False), (True, False, True), (True, True, False)):
            params = (x, weight) if bias is None else (x, weight, bias)
            node = Node("conv2d", tuple(Tensor(v, requires_grad=r) for v, r in zip(params, needs)),
                        {"stride": stride, "padding": padding}, got)
            reference, fast = conv2d_backward(grad, node), conv2d_fast_backward(grad, node)
            assert len(fast) == len(reference)
            for index, (want, have) in enumerate(zip(reference, fast, strict=True)):
                assert (have is None) == (want is None), f"gradient {index}: None where Module 09 gives None"
                if want is not None:
                    assert have.shape == want.shape and have.dtype == want.dtype
                    np.testing.assert_allclose(have, want, **tol, err_msg=f"gradient {index}")


def test_fast_conv_follows_module_09s_dtype_promotion() -> None:
    from tinytorch.backends import conv2d_fast
    from tinytorch.nn.conv import conv2d_kernel

    case = CONV_CASES[0]
    x, weight, bias = conv_arrays(case, np.float32, 2)
    for args in ((x, weight, bias.astype(np.float64)), (x, weight.astype(np.float64), bias), (x.astype(np.float64), weight, None)):
        expected, got = conv2d_kernel(*args, (1, 1), (1, 1)), conv2d_fast(*args, (1, 1), (1, 1))
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", [c for c in CONV_CASES if c[0][0] > 0 and math.prod(c[0]) <= 400], ids=str)
def test_fast_conv_passes_gradcheck(case) -> None:
    from tinytorch.autograd import GRADIENTS, gradcheck
    from tinytorch.backends import conv2d_fast_backward
    from tinytorch.nn.conv import conv2d

    _, _, _, stride, padding = case
    x, weight, bias = (Tensor(v, dtype=np.float64, requires_grad=True) for v in conv_arrays(case, np.float64, 3))
    with OptimizedBackend():
        assert GRADIENTS["conv2d"] is conv2d_fast_backward
        assert gradcheck(lambda a, w, b: conv2d(a, w, b, stride=stride, padding=padding), [x, weight, bias])


def test_optimized_backend_installs_and_restores_the_conv_kernel_and_formula() -> None:
    from tinytorch.autograd import GRADIENTS
    from tinytorch.backends import conv2d_fast, conv2d_fast_backward

    before = (KERNELS["conv2d"], GRADIENTS["conv2d"])
    with pytest.raises(KeyError), OptimizedBackend():
        assert (KERNELS["conv2d"], GRADIENTS["conv2d"]) == (conv2d_fast, conv2d_fast_backward)
        raise KeyError("inside")
    assert (KERNELS["conv2d"], GRADIENTS["conv2d"]) == before


def test_conv_under_the_backend_gives_module_09s_layer_gradients() -> None:
    manual_seed(1)
    layer = Conv2d(16, 32, 3, stride=2, padding=1)
    x = Tensor(np.random.default_rng(7).standard_normal((3, 16, 7, 6)).astype(np.float32), requires_grad=True)

    def run():
        out = layer(x)
        return out, (out * out).sum()

    x.grad = None
    reference = outputs_and_grads(layer, run) + (x.grad.data.copy(),)
    x.grad = None
    with OptimizedBackend():
        other = outputs_and_grads(layer, run) + (x.grad.data.copy(),)
    assert_same(reference[:2], other[:2], "optimized")
    np.testing.assert_allclose(other[2], reference[2], rtol=1e-4, atol=1e-5)


def test_optimized_backend_works_right_after_import() -> None:
    """OptimizedBackend replaces ops of Modules 09 and 10; importing tinytorch.backends must register them."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import tinytorch

    root = Path(tinytorch.__file__).resolve().parents[1]  # the package these tests import, in a fresh process
    code = "from tinytorch.backends import OptimizedBackend; OptimizedBackend()"
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(root)})
    assert result.returncode == 0, result.stderr[-2000:]
