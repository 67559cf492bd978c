"""Module 12: ``tinytorch.nn.embedding`` (Embedding, the embedding op, positional encodings).

References are written here in NumPy: a Python loop for the scatter-add, ``math.sin`` /
``math.cos`` for the sinusoidal table. The PyTorch semantics mirrored, written out since torch
is not installed: ``nn.Embedding(num_embeddings, embedding_dim, padding_idx=None)`` with
``weight`` ~ N(0, 1) of shape (num_embeddings, embedding_dim), row ``padding_idx`` zero at
initialization and never given a gradient (a negative ``padding_idx`` counts from the end);
``F.embedding(input, weight, padding_idx=None)``; ids of any shape S give ``(*S, E)``; ids must
be integers and in ``[0, num_embeddings)`` (no wrapping of negative ids); repr ``Embedding(10, 3)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch.nn.functional as F
from tinytorch import nn
from tinytorch.autograd import gradcheck
from tinytorch.nn.embedding import (
    Embedding,
    PositionalEmbedding,
    SinusoidalPositionalEncoding,
    embedding,
    embedding_backward,
    position_ids,
    scatter_add_rows,
    sinusoidal_table,
)
from tinytorch.nn.layers import Module
from tinytorch.tensor import DtypeError, ShapeError, Tensor, manual_seed


def ids_tensor(values: object) -> Tensor:
    return Tensor(np.asarray(values), dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# the op
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 3, 4)], ids=str)
def test_lookup_of_any_id_shape(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    weight = Tensor(rng.standard_normal((7, 3)).astype(np.float32))
    ids = rng.integers(0, 7, shape)
    out = embedding(ids_tensor(ids), weight)
    assert out.shape == (*shape, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), weight.numpy()[ids])
    np.testing.assert_array_equal(embedding(ids, weight).numpy(), out.numpy())  # a NumPy array of ids works too


def test_int32_ids_and_functional_namespace() -> None:
    weight = Tensor(np.eye(4))
    out = F.embedding(Tensor([3, 1], dtype=np.int32), weight)
    np.testing.assert_array_equal(out.numpy(), [[0, 0, 0, 1], [0, 1, 0, 0]])
    assert nn.Embedding is Embedding and nn.PositionalEmbedding is PositionalEmbedding
    assert nn.SinusoidalPositionalEncoding is SinusoidalPositionalEncoding


def reference_grad(ids: np.ndarray, grad: np.ndarray, rows: int, padding_idx: int | None = None) -> np.ndarray:
    expected = np.zeros((rows, grad.shape[-1]))
    for index in np.ndindex(ids.shape):
        expected[ids[index]] += grad[index]
    if padding_idx is not None:
        expected[padding_idx] = 0
    return expected


def test_backward_accumulates_repeated_ids() -> None:
    rng = np.random.default_rng(1)
    weight = Tensor(rng.standard_normal((6, 4)), requires_grad=True)
    ids = np.array([[1, 1, 5], [1, 0, 5]])
    upstream = rng.standard_normal((2, 3, 4))
    embedding(ids_tensor(ids), weight).backward(Tensor(upstream, dtype=np.float64))
    np.testing.assert_allclose(weight.grad.numpy(), reference_grad(ids, upstream, 6))


def test_backward_leaves_the_padding_row_at_zero() -> None:
    rng = np.random.default_rng(2)
    weight = Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    ids = np.array([0, 2, 2, 4, 0])
    upstream = rng.standard_normal((5, 3))
    embedding(ids_tensor(ids), weight, padding_idx=2).backward(Tensor(upstream, dtype=np.float64))
    np.testing.assert_allclose(weight.grad.numpy(), reference_grad(ids, upstream, 5, padding_idx=2))
    weight.grad = None
    embedding(ids_tensor(ids), weight, padding_idx=-1).backward(Tensor(upstream, dtype=np.float64))  # row 4
    np.testing.assert_allclose(weight.grad.numpy(), reference_grad(ids, upstream, 5, padding_idx=4))


def test_gradcheck_of_the_embedding_op() -> None:
    rng = np.random.default_rng(3)
    weight = Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    ids = ids_tensor([[0, 3, 3], [4, 0, 1]])
    assert gradcheck(lambda i, w: embedding(i, w), [ids, weight])
    # (with padding_idx, finite differences see row 3 and backward by design does not: tested above)


def test_embedding_is_one_node_and_the_ids_get_no_gradient() -> None:
    weight = Tensor(np.ones((3, 2)), requires_grad=True)
    ids = ids_tensor([2, 0])
    out = embedding(ids, weight)
    assert out.grad_fn.op == "embedding" and out.grad_fn.inputs == (ids, weight)
    grads = embedding_backward(np.ones((2, 2)), out.grad_fn)
    assert grads[0] is None and grads[1].shape == (3, 2)


@pytest.mark.parametrize("seed", range(4))
def test_scatter_add_rows_matches_add_at(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, n, width = int(rng.integers(1, 20)), int(rng.integers(0, 50)), int(rng.integers(1, 9))
    ids = rng.integers(0, rows, n)
    values = rng.standard_normal((n, width)).astype(np.float32)
    expected = np.zeros((rows, width), dtype=np.float32)
    np.add.at(expected, ids, values)
    out = scatter_add_rows(ids, values, rows)
    assert out.dtype == np.float32 and out.shape == (rows, width)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# bad ids
# ---------------------------------------------------------------------------------------------
def test_float_and_bool_ids_are_dtype_errors_naming_the_dtype() -> None:
    weight = Tensor(np.zeros((4, 2)))
    with pytest.raises(DtypeError, match="float32"):
        embedding(Tensor([1.0, 2.0]), weight)
    with pytest.raises(TypeError, match="float64"):
        embedding(np.array([1.0]), weight)
    with pytest.raises(TypeError, match="bool"):
        embedding(Tensor([True, False]), weight)
    with pytest.raises(TypeError):
        embedding([1, 2], weight)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [4, 17, -1, -4])
def test_ids_out_of_range_are_index_errors(bad: int) -> None:
    layer = Embedding(4, 2)
    with pytest.raises(IndexError, match=f"{bad}.*num_embeddings=4"):
        layer(ids_tensor([[0, 1], [bad, 2]]))


def test_empty_ids_give_an_empty_result() -> None:
    out = Embedding(4, 3)(np.zeros((2, 0), dtype=np.int64))
    assert out.shape == (2, 0, 3)


# ---------------------------------------------------------------------------------------------
# the layer
# ---------------------------------------------------------------------------------------------
def test_embedding_layer_initialization_like_pytorch() -> None:
    manual_seed(0)
    layer = Embedding(2000, 64)
    weight = layer.weight.numpy()
    assert weight.shape == (2000, 64) and weight.dtype == np.float32 and layer.weight.requires_grad
    assert abs(weight.mean()) < 0.01 and abs(weight.std() - 1.0) < 0.01  # N(0, 1), 128,000 samples
    manual_seed(0)
    np.testing.assert_array_equal(Embedding(2000, 64).weight.numpy(), weight)
    padded = Embedding(10, 3, padding_idx=-2)
    assert padded.padding_idx == 8 and not padded.weight.numpy()[8].any() and padded.weight.numpy()[7].any()
    assert [name for name, _ in layer.named_parameters()] == ["weight"]


def test_embedding_layer_repr_and_validation() -> None:
    assert repr(Embedding(10, 3)) == "Embedding(10, 3)"
    assert repr(Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(10, 3, padding_idx=10)
    with pytest.raises(ValueError):
        Embedding(0, 3)


def test_padding_row_stays_zero_through_training_steps() -> None:
    layer = Embedding(5, 2, padding_idx=0)
    ids = ids_tensor([[0, 1, 0, 2]])
    for _ in range(3):
        layer.zero_grad()
        (layer(ids) * layer(ids)).sum().backward()
        layer.weight.data -= 0.1 * layer.weight.grad.data
    assert not layer.weight.numpy()[0].any()


# ---------------------------------------------------------------------------------------------
# positions
# ---------------------------------------------------------------------------------------------
def test_sinusoidal_table_matches_the_formula() -> None:
    for length, dim in ((20, 6), (9, 7), (3, 1)):
        table = sinusoidal_table(length, dim)
        assert table.shape == (length, dim) and table.dtype == np.float32
        expected = np.zeros((length, dim))
        for p in range(length):
            for d in range(dim):
                angle = p / 10000 ** ((d - d % 2) / dim)  # the pair (2i, 2i + 1) shares frequency i
                expected[p, d] = math.sin(angle) if d % 2 == 0 else math.cos(angle)
        np.testing.assert_allclose(table, expected, atol=1e-6)


def test_sinusoidal_dot_products_depend_only_on_distance() -> None:
    table = sinusoidal_table(300, 32).astype(np.float64)
    for distance in (1, 5, 40):
        dots = np.einsum("pe,pe->p", table[: 300 - distance], table[distance:])
        np.testing.assert_allclose(dots, dots[0], atol=1e-4)
    np.testing.assert_allclose(np.einsum("pe,pe->p", table, table), 16.0, rtol=1e-5)


def test_position_ids_and_the_error_message() -> None:
    assert position_ids(3, 5, 8).tolist() == [5, 6, 7] and position_ids(0, 8, 8).tolist() == []
    with pytest.raises(ValueError, match="sequence of 4 tokens starting at position 5 exceeds max_seq_len=8"):
        position_ids(4, 5, 8)
    with pytest.raises(ValueError):
        position_ids(1, -1, 8)


@pytest.mark.parametrize("layer_type", ["learned", "sinusoidal"])
def test_positional_layers_add_rows_from_offset(layer_type: str) -> None:
    manual_seed(1)
    layer: Module = PositionalEmbedding(12, 4) if layer_type == "learned" else SinusoidalPositionalEncoding(4, max_seq_len=12)
    table = layer.weight.numpy() if layer_type == "learned" else sinusoidal_table(12, 4)
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    out = layer(Tensor(x))
    assert out.shape == (2, 5, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), x + table[:5], rtol=1e-6)
    np.testing.assert_allclose(layer(Tensor(x), offset=7).numpy(), x + table[7:12], rtol=1e-6)
    with pytest.raises(ValueError, match="sequence of 5 tokens starting at position 8 exceeds max_seq_len=12"):
        layer(Tensor(x), offset=8)
    with pytest.raises(ShapeError, match="\\(2, 5, 3\\)"):
        layer(Tensor(x[..., :3]))


def test_learned_positions_get_gradients_only_for_their_rows() -> None:
    layer = PositionalEmbedding(10, 3)
    x = Tensor(np.zeros((4, 2, 3)), requires_grad=True)
    layer(x, offset=6).sum().backward()
    grad = layer.weight.grad.numpy()
    np.testing.assert_allclose(grad[6:8], 4.0)  # each of the 2 rows used by 4 batch elements
    assert not np.delete(grad, [6, 7], axis=0).any()
    np.testing.assert_allclose(x.grad.numpy(), 1.0)
    assert isinstance(layer, Embedding) and layer.max_seq_len == 10


def test_sinusoidal_table_is_a_buffer_not_a_parameter() -> None:
    layer = SinusoidalPositionalEncoding(8)
    assert layer.max_seq_len == 5000 and list(layer.parameters()) == []
    assert list(layer.state_dict()) == ["table"] and layer.table.shape == (5000, 8)
    x = Tensor(np.ones((1, 3, 8)), requires_grad=True)
    assert gradcheck(lambda t: layer(t, offset=2), [x])
