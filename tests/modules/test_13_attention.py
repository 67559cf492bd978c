"""Module 13: ``tinytorch.nn.attention`` (the attention op, masks, the KV cache, MultiHeadAttention).

The reference is plain float64 NumPy written here (``reference_sdpa``); MultiHeadAttention is
checked against the same reference applied to its own weights. PyTorch semantics mirrored,
written out since torch is not installed: ``F.scaled_dot_product_attention(query, key, value,
attn_mask=None, dropout_p=0.0, is_causal=False, scale=None)``, scale 1/sqrt(E), a bool mask
True = may attend, a float mask added to the scores, ``is_causal`` = tril of an (L, S) matrix
of ones (top-left aligned). Documented differences: a fully masked row gives zeros (torch:
NaN); ``attn_mask`` with ``is_causal`` is combined (torch refuses). When torch is importable,
optional tests compare directly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch.nn.functional as F
from tinytorch import nn
from tinytorch.autograd import gradcheck, no_grad
from tinytorch.nn.attention import (
    ConcatKVCache,
    KVCacheLike,
    MultiHeadAttention,
    attention,
    attention_weights,
    causal_mask,
    masked_softmax,
    plot_attention,
    scaled_dot_product_attention,
)
from tinytorch.tensor import DtypeError, ShapeError, Tensor, manual_seed, randn


def reference_sdpa(q: np.ndarray, k: np.ndarray, v: np.ndarray, allowed: np.ndarray | None = None,
                   bias: np.ndarray | float = 0.0, scale: float | None = None) -> np.ndarray:
    """Float64 attention; masked keys get weight 0; a row with no allowed key gives 0."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale + bias
    if allowed is None:
        allowed = np.ones(scores.shape, dtype=bool)
    allowed = np.broadcast_to(allowed, scores.shape) & np.isfinite(scores)
    shifted = np.where(allowed, scores, -1e300)
    weights = np.where(allowed, np.exp(shifted - shifted.max(-1, keepdims=True)), 0.0)
    totals = weights.sum(-1, keepdims=True)
    probs = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    return probs @ v


def tensors(rng: np.random.Generator, *shapes: tuple[int, ...], dtype: type = np.float32, grad: bool = False) -> list[Tensor]:
    return [Tensor(rng.standard_normal(shape).astype(dtype), dtype=dtype, requires_grad=grad) for shape in shapes]


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention against NumPy
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "q_shape, k_shape, v_shape",
    [((4, 8), (4, 8), (4, 8)), ((3, 8), (6, 8), (6, 5)), ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6)),
     ((2, 3, 5, 4), (1, 3, 7, 4), (2, 1, 7, 6))],
    ids=["square", "L!=S", "batch-heads", "broadcast"],
)
def test_sdpa_matches_numpy(q_shape: tuple[int, ...], k_shape: tuple[int, ...], v_shape: tuple[int, ...]) -> None:
    q, k, v = tensors(np.random.default_rng(0), q_shape, k_shape, v_shape)
    out = scaled_dot_product_attention(q, k, v)
    expected = reference_sdpa(q.numpy(), k.numpy(), v.numpy())
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(scaled_dot_product_attention(q, k, v, scale=0.3).numpy(),
                               reference_sdpa(q.numpy(), k.numpy(), v.numpy(), scale=0.3), atol=1e-5)


@pytest.mark.parametrize("length, keys", [(5, 5), (3, 6), (6, 3)])
def test_causal_is_top_left_tril(length: int, keys: int) -> None:
    q, k, v = tensors(np.random.default_rng(1), (2, length, 4), (2, keys, 4), (2, keys, 3))
    tril = np.tril(np.ones((length, keys), dtype=bool))
    np.testing.assert_array_equal(causal_mask(length, keys), tril)
    out = scaled_dot_product_attention(q, k, v, is_causal=True)
    np.testing.assert_allclose(out.numpy(), reference_sdpa(q.numpy(), k.numpy(), v.numpy(), tril), atol=1e-5)


def test_bool_and_float_masks_and_the_mask_alias() -> None:
    rng = np.random.default_rng(2)
    q, k, v = tensors(rng, (2, 2, 4, 8), (2, 2, 6, 8), (2, 2, 6, 8))
    allowed = rng.random((2, 1, 4, 6)) > 0.4
    expected = reference_sdpa(q.numpy(), k.numpy(), v.numpy(), allowed)
    np.testing.assert_allclose(scaled_dot_product_attention(q, k, v, attn_mask=allowed).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(scaled_dot_product_attention(q, k, v, mask=Tensor(allowed)).numpy(), expected, atol=1e-5)
    bias = rng.standard_normal((4, 6)).astype(np.float32)
    bias[0, 2] = -np.inf
    np.testing.assert_allclose(scaled_dot_product_attention(q, k, v, attn_mask=bias).numpy(),
                               reference_sdpa(q.numpy(), k.numpy(), v.numpy(), bias=bias), atol=1e-5)
    with pytest.raises(ValueError, match="mask"):
        scaled_dot_product_attention(q, k, v, attn_mask=allowed, mask=allowed)


def test_mask_and_causal_are_combined() -> None:
    rng = np.random.default_rng(3)
    q, k, v = tensors(rng, (5, 4), (5, 4), (5, 4))
    allowed = rng.random((5, 5)) > 0.3
    out = scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=True)
    np.testing.assert_allclose(out.numpy(), reference_sdpa(q.numpy(), k.numpy(), v.numpy(), allowed & causal_mask(5, 5)), atol=1e-5)


def test_masked_positions_get_exactly_zero_weight() -> None:
    rng = np.random.default_rng(4)
    q, k = tensors(rng, (2, 5, 4), (2, 7, 4))
    allowed = rng.random((5, 7)) > 0.5
    weights = attention_weights(q, k, attn_mask=allowed).numpy()
    assert np.all(weights[:, ~allowed] == 0)
    rows = allowed.any(-1)
    np.testing.assert_allclose(weights[:, rows].sum(-1), 1.0, rtol=1e-6)
    causal = attention_weights(q, k, is_causal=True).numpy()
    assert np.all(causal[:, ~causal_mask(5, 7)] == 0)


def test_fully_masked_rows_give_zero_output_and_zero_gradients() -> None:
    rng = np.random.default_rng(5)
    q, k, v = tensors(rng, (2, 4, 3), (2, 5, 3), (2, 5, 2), dtype=np.float64, grad=True)
    allowed = rng.random((4, 5)) > 0.3
    allowed[1] = False
    bias = np.where(allowed, 0.0, -np.inf)
    for mask in (allowed, bias):
        for t in (q, k, v):
            t.grad = None
        with np.errstate(all="raise"):
            out = scaled_dot_product_attention(q, k, v, attn_mask=mask)
            out.backward(Tensor(rng.standard_normal(out.shape), dtype=np.float64))
        assert np.all(out.numpy()[:, 1] == 0) and np.all(np.isfinite(out.numpy()))
        assert np.all(q.grad.numpy()[:, 1] == 0)
        assert all(np.all(np.isfinite(t.grad.numpy())) for t in (q, k, v))
        np.testing.assert_allclose(out.numpy(), reference_sdpa(q.numpy(), k.numpy(), v.numpy(), allowed), atol=1e-10)


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["plain", "causal", "bool", "float", "offset", "broadcast"])
def test_gradcheck_of_the_attention_op(case: str) -> None:
    rng = np.random.default_rng(6)
    shapes = {"broadcast": ((2, 3, 4), (1, 5, 4), (2, 5, 3))}.get(case, ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    q, k, v = tensors(rng, *shapes, dtype=np.float64, grad=True)
    allowed = rng.random((3, 5)) > 0.4
    allowed[:, 0] = True
    bias = np.where(allowed, rng.standard_normal((3, 5)), -np.inf)  # a bias and forbidden keys
    fns = {
        "plain": lambda q, k, v: scaled_dot_product_attention(q, k, v),
        "causal": lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True),
        "bool": lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=allowed),
        "float": lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=bias),
        "offset": lambda q, k, v: attention(q, k, v, is_causal=True, offset=2),
        "broadcast": lambda q, k, v: scaled_dot_product_attention(q, k, v, scale=0.7),
    }
    assert gradcheck(fns[case], [q, k, v])


def test_dropout_is_inverted_seeded_and_differentiable() -> None:
    rng = np.random.default_rng(7)
    q, k, v = tensors(rng, (2, 4, 3), (2, 6, 3), (2, 6, 2), dtype=np.float64, grad=True)
    manual_seed(3)
    first = scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    manual_seed(3)
    np.testing.assert_array_equal(scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy(), first)
    assert not np.allclose(first, scaled_dot_product_attention(q, k, v).numpy())
    assert np.all(scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy() == 0)
    # the dropout mask is fixed inside one call, so gradcheck sees a deterministic function if reseeded
    def seeded(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        manual_seed(11)
        return scaled_dot_product_attention(q, k, v, dropout_p=0.3)

    assert gradcheck(seeded, [q, k, v])
    big = Tensor(np.zeros((64, 64, 8)))
    manual_seed(0)
    kept = attention_weights(big, big)  # uniform weights 1/64
    out = scaled_dot_product_attention(big, big, Tensor(np.ones((64, 64, 1))), dropout_p=0.25).numpy()
    assert abs(out.mean() - 1.0) < 0.02 and np.allclose(kept.numpy(), 1 / 64)  # inverted: the mean is kept
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.5)


def test_attention_is_one_node_that_saves_only_the_probabilities() -> None:
    q, k, v = tensors(np.random.default_rng(8), (2, 5, 4), (2, 5, 4), (2, 5, 4), grad=True)
    out = scaled_dot_product_attention(q, k, v, is_causal=True)
    assert out.grad_fn.op == "attention" and out.grad_fn.inputs == (q, k, v)
    assert list(out.grad_fn.attrs["saved"]) == ["probs"] and out.grad_fn.attrs["saved"]["probs"].shape == (2, 5, 5)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_shape_and_dtype_errors_name_the_problem() -> None:
    q, k, v = tensors(np.random.default_rng(9), (2, 4, 8), (2, 6, 8), (2, 6, 5))
    with pytest.raises(ShapeError, match="\\(2, 4, 8\\).*\\(2, 6, 7\\)"):
        scaled_dot_product_attention(q, Tensor(np.zeros((2, 6, 7))), v)
    with pytest.raises(ShapeError, match="\\(2, 5, 5\\)"):
        scaled_dot_product_attention(q, k, Tensor(np.zeros((2, 5, 5))))
    with pytest.raises(ShapeError, match="\\(3, 6\\)"):
        scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 6), dtype=bool))
    with pytest.raises(DtypeError, match="int64"):
        scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 6), dtype=np.int64))
    with pytest.raises(ShapeError):
        scaled_dot_product_attention(Tensor(np.zeros(8)), k, v)


# ---------------------------------------------------------------------------------------------
# the cache
# ---------------------------------------------------------------------------------------------
def test_concat_cache_follows_the_protocol() -> None:
    cache = ConcatKVCache()
    assert isinstance(cache, KVCacheLike) and cache.get_seq_length() == 0
    k = Tensor(np.arange(24.0).reshape(1, 2, 3, 4))
    keys, values = cache.update(1, k, k * 2)
    assert cache.get_seq_length(1) == 3 and cache.get_seq_length(0) == 0
    keys, values = cache.update(1, k[:, :, :1], k[:, :, :1])
    assert keys.shape == (1, 2, 4, 4) and cache.get_seq_length(1) == 4
    np.testing.assert_array_equal(values.numpy()[:, :, :3], 2 * k.numpy())
    with pytest.raises(RuntimeError, match="no_grad"):
        cache.update(1, Tensor(np.zeros((1, 2, 1, 4)), requires_grad=True), k[:, :, :1])
    with pytest.raises(ShapeError):
        cache.update(1, Tensor(np.zeros((1, 3, 1, 4))), Tensor(np.zeros((1, 3, 1, 4))))


# ---------------------------------------------------------------------------------------------
# MultiHeadAttention
# ---------------------------------------------------------------------------------------------
def reference_mha(layer: MultiHeadAttention, x: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """The layer's forward from its own weights, in float64 NumPy."""
    batch, length, width = x.shape
    heads, dim = layer.num_heads, layer.head_dim
    w_in, b_in = layer.in_proj.weight.numpy().astype(np.float64), layer.in_proj.bias.numpy().astype(np.float64)
    qkv = x.astype(np.float64) @ w_in.T + b_in
    q, k, v = (qkv[..., i * width : (i + 1) * width].reshape(batch, length, heads, dim).transpose(0, 2, 1, 3) for i in range(3))
    merged = reference_sdpa(q, k, v, allowed).transpose(0, 2, 1, 3).reshape(batch, length, width)
    return merged @ layer.out_proj.weight.numpy().T + layer.out_proj.bias.numpy()


def test_mha_matches_a_reference_from_its_own_weights() -> None:
    manual_seed(0)
    layer = MultiHeadAttention(16, 4)
    rng = np.random.default_rng(10)
    for p in layer.parameters():  # nonzero biases, so that they are checked too
        p.data[...] = rng.standard_normal(p.shape) * 0.3
    x = rng.standard_normal((2, 5, 16)).astype(np.float32)
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), reference_mha(layer, x, None), atol=1e-4)
    np.testing.assert_allclose(layer(Tensor(x), is_causal=True).numpy(), reference_mha(layer, x, causal_mask(5, 5)), atol=1e-4)
    allowed = rng.random((2, 1, 5, 5)) > 0.3
    np.testing.assert_allclose(layer(Tensor(x), attn_mask=allowed).numpy(), reference_mha(layer, x, allowed), atol=1e-4)


def test_mha_attributes_initialization_and_errors() -> None:
    manual_seed(0)
    layer = MultiHeadAttention(64, 8, dropout=0.1, bias=True)
    assert (layer.embed_dim, layer.num_heads, layer.head_dim, layer.dropout) == (64, 8, 8, 0.1)
    assert layer.in_proj.weight.shape == (192, 64) and layer.out_proj.weight.shape == (64, 64)
    assert np.abs(layer.in_proj.weight.numpy()).max() <= math.sqrt(6 / (64 + 192))  # xavier_uniform_
    assert not layer.in_proj.bias.numpy().any() and not layer.out_proj.bias.numpy().any()
    assert [name for name, _ in layer.named_parameters()] == ["in_proj.weight", "in_proj.bias", "out_proj.weight", "out_proj.bias"]
    assert MultiHeadAttention(8, 2, bias=False).in_proj.bias is None
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ShapeError, match="MultiHeadAttention.*\\(2, 5, 63\\)"):
        layer(randn(2, 5, 63))
    with pytest.raises(ShapeError):
        layer(randn(5, 64))
    assert nn.MultiHeadAttention is MultiHeadAttention and F.scaled_dot_product_attention is scaled_dot_product_attention


def test_mha_gradients_reach_every_parameter_and_the_input() -> None:
    manual_seed(1)
    layer = MultiHeadAttention(8, 2)
    rng = np.random.default_rng(11)
    for p in layer.parameters():
        p.data = rng.standard_normal(p.shape)  # float64 parameters for gradcheck
    x = Tensor(rng.standard_normal((2, 3, 8)), requires_grad=True)
    assert gradcheck(lambda x, *params: layer(x, is_causal=True), [x, *layer.parameters()])


def test_mha_dropout_only_in_training() -> None:
    manual_seed(2)
    layer = MultiHeadAttention(8, 2, dropout=0.5)
    x = randn(2, 6, 8)
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())
    layer.train()
    assert not np.allclose(layer(x).numpy(), layer(x).numpy())


@pytest.mark.parametrize("batch", [1, 3])
def test_cache_token_by_token_and_in_chunks_equals_one_causal_pass(batch: int) -> None:
    manual_seed(3)
    layers = [MultiHeadAttention(16, 4), MultiHeadAttention(16, 4)]  # two layers share one cache
    x = randn(batch, 7, 16)

    def run(pieces: list[slice]) -> np.ndarray:
        cache = ConcatKVCache()
        outs = []
        for piece in pieces:
            h = x[:, piece]
            for index, layer in enumerate(layers):
                h = layer(h, is_causal=True, cache=cache, layer_idx=index)
            outs.append(h.numpy())
        assert cache.get_seq_length(0) == cache.get_seq_length(1) == 7
        return np.concatenate(outs, axis=1)

    with no_grad():
        whole = x
        for layer in layers:
            whole = layer(whole, is_causal=True)
        np.testing.assert_allclose(run([slice(t, t + 1) for t in range(7)]), whole.numpy(), atol=1e-5)
        np.testing.assert_allclose(run([slice(0, 3), slice(3, 7)]), whole.numpy(), atol=1e-5)
        np.testing.assert_allclose(run([slice(0, 1), slice(1, 5), slice(5, 7)]), whole.numpy(), atol=1e-5)


def test_plot_attention_returns_a_figure() -> None:
    from matplotlib.figure import Figure

    weights = attention_weights(randn(4, 3, 5), randn(4, 5, 5), is_causal=True)
    figure = plot_attention(weights, tokens=list("abcde"))
    assert isinstance(figure, Figure) and len(figure.axes) == 5  # 4 heads and a colorbar
    assert [axes.get_xticklabels()[1].get_text() for axes in figure.axes[:4]] == ["b"] * 4
    with pytest.raises(ShapeError):
        plot_attention(np.zeros(3))


# ---------------------------------------------------------------------------------------------
# PyTorch, when it is installed
# ---------------------------------------------------------------------------------------------
def test_sdpa_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    q, k, v = tensors(np.random.default_rng(12), (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4))
    tq, tk, tv = (torch.from_numpy(t.numpy()) for t in (q, k, v))
    for causal in (False, True):
        expected = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal).numpy()
        np.testing.assert_allclose(scaled_dot_product_attention(q, k, v, is_causal=causal).numpy(), expected, atol=1e-5)


def test_mha_matches_torch_multihead_attention() -> None:
    torch = pytest.importorskip("torch")
    manual_seed(4)
    layer = MultiHeadAttention(16, 4)
    reference = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.from_numpy(layer.in_proj.weight.numpy()))
        reference.in_proj_bias.copy_(torch.from_numpy(layer.in_proj.bias.numpy()))
        reference.out_proj.weight.copy_(torch.from_numpy(layer.out_proj.weight.numpy()))
        reference.out_proj.bias.copy_(torch.from_numpy(layer.out_proj.bias.numpy()))
    x = randn(2, 5, 16)
    tx = torch.from_numpy(x.numpy())
    future = torch.from_numpy(np.where(causal_mask(5, 5), 0.0, -np.inf).astype(np.float32))  # float masks agree
    expected, _ = reference(tx, tx, tx, attn_mask=future, need_weights=False)
    np.testing.assert_allclose(layer(x, is_causal=True).numpy(), expected.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("with_mask", [False, True])
def test_attention_writes_none_of_its_inputs(with_mask: bool) -> None:
    # masked_softmax and the attention op compute in place in arrays of their own.
    manual_seed(0)
    q, k, v = (randn(2, 3, 5, 4, requires_grad=True) for _ in range(3))
    scores = np.array(randn(2, 3, 5, 5).data)
    allowed = causal_mask(5, 5) if with_mask else None
    upstream = np.array(randn(2, 3, 5, 4).data)
    arrays = {"query": q.data, "key": k.data, "value": v.data, "scores": scores, "gradient": upstream}
    before = {name: array.copy() for name, array in arrays.items()}
    masked_softmax(scores, allowed)
    scaled_dot_product_attention(q, k, v, is_causal=with_mask).backward(upstream)
    for name, array in arrays.items():
        np.testing.assert_array_equal(array, before[name], err_msg=f"attention changed its {name}")
