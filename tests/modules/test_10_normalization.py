"""Module 10: ``tinytorch.nn.normalization`` (LayerNorm, BatchNorm1d/2d, Dropout and their functions).

Forward results are compared with float64 NumPy references written here; every op's
gradient is checked with ``gradcheck`` (finite differences), including weight and bias,
normalized shapes of rank 1–3 and batch norm in training and evaluation. The PyTorch
semantics mirrored, written out since torch is not installed: ``LayerNorm(normalized_shape,
eps=1e-5, elementwise_affine=True, bias=True)`` with weight ones and bias zeros and a biased
variance; ``BatchNorm{1,2}d(num_features, eps=1e-5, momentum=0.1, affine=True,
track_running_stats=True)`` normalizing with the biased batch variance and averaging the
unbiased one into ``running_var`` (``running = (1 - momentum) * running + momentum * batch``,
cumulative with ``momentum=None``), buffers ``running_mean``, ``running_var``,
``num_batches_tracked`` (int64) in ``state_dict``, ValueError "Expected more than 1 value per
channel when training"; inverted ``Dropout(p=0.5)``, the identity in evaluation and for p=0,
zeros for p=1, ValueError for p outside [0, 1]; reprs as PyTorch prints them. Optional
comparisons with PyTorch run when it is installed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch.nn.functional as F
from tinytorch import nn
from tinytorch.autograd import gradcheck, no_grad
from tinytorch.nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
    LayerNorm,
    batch_norm,
    dropout,
    dropout_mask,
    layer_norm,
    update_running_stats,
)
from tinytorch.tensor import DtypeError, ShapeError, Tensor, manual_seed


# ---------------------------------------------------------------------------------------------
# float64 NumPy references
# ---------------------------------------------------------------------------------------------
def np_layer_norm(x: np.ndarray, normalized_ndim: int, weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    x = x.astype(np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    out = (x - mean) / np.sqrt(var + eps)
    return out * (1.0 if weight is None else weight) + (0.0 if bias is None else bias)


def np_batch_norm(x: np.ndarray, mean: np.ndarray, var: np.ndarray, weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    view = (1, -1) + (1,) * (x.ndim - 2)
    out = (x.astype(np.float64) - mean.reshape(view)) / np.sqrt(var.reshape(view) + eps)
    if weight is not None:
        out = out * weight.reshape(view)
    if bias is not None:
        out = out + bias.reshape(view)
    return out


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance of an (N, C, ...) array, in float64."""
    axes = (0,) + tuple(range(2, x.ndim))
    x = x.astype(np.float64)
    return x.mean(axis=axes), x.var(axis=axes)


def random(shape: tuple[int, ...], seed: int = 0, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale + shift).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# layer_norm and LayerNorm
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("shape", "normalized_shape"), [((4, 8), (8,)), ((2, 3, 8), (8,)), ((2, 3, 4), (3, 4)),
                                                         ((2, 3, 4), (2, 3, 4)), ((5,), 5)])
def test_layer_norm_matches_numpy_and_keeps_float32(shape, normalized_shape) -> None:
    x = random(shape, scale=3, shift=2)
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    weight, bias = random(ns, seed=1), random(ns, seed=2)
    out = layer_norm(Tensor(x), normalized_shape, Tensor(weight), Tensor(bias))
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_allclose(out.numpy(), np_layer_norm(x, len(ns), weight, bias), atol=2e-5)
    plain = layer_norm(Tensor(x), normalized_shape)
    np.testing.assert_allclose(plain.numpy(), np_layer_norm(x, len(ns)), atol=2e-5)


def test_layer_norm_float64_stays_float64_and_bias_only_is_a_shift() -> None:
    x = np.random.default_rng(0).standard_normal((3, 4))
    bias = np.array([1.0, -1.0, 0.5, 2.0])
    out = layer_norm(Tensor(x, dtype=np.float64), 4, bias=Tensor(bias, dtype=np.float64))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), np_layer_norm(x, 1) + bias, atol=1e-12)


def test_layer_norm_is_stable_far_from_zero_and_for_constant_rows() -> None:
    x = random((4, 64), scale=0.1, shift=1000.0)
    np.testing.assert_allclose(layer_norm(Tensor(x), 64).numpy(), np_layer_norm(x, 1), atol=5e-3)
    with np.errstate(all="raise"):
        constant = layer_norm(Tensor(np.full((2, 5), 3.0)), 5, bias=Tensor(np.arange(5.0))).numpy()
    np.testing.assert_array_equal(constant, np.broadcast_to(np.arange(5.0), (2, 5)))


def test_layer_norm_is_one_node_that_saves_x_hat_and_rstd() -> None:
    layer = LayerNorm(8)
    x = Tensor(random((2, 3, 8)), requires_grad=True)
    out = layer(x)
    node = out.grad_fn
    assert node.op == "layer_norm" and node.inputs == (x, layer.weight, layer.bias)
    saved = node.attrs["saved"]
    assert saved["x_hat"].shape == (6, 8) and saved["rstd"].shape == (6, 1)
    np.testing.assert_allclose(saved["x_hat"].reshape(2, 3, 8), np_layer_norm(x.numpy(), 1), atol=2e-5)
    assert out.numpy() is not saved["x_hat"]  # the affine output is its own array
    with no_grad():
        assert layer(x).grad_fn is None


def test_layer_norm_backward_reads_the_saved_arrays() -> None:
    x = Tensor(random((3, 4)), requires_grad=True)
    out = layer_norm(x, 4)
    out.grad_fn.attrs["saved"]["rstd"] = out.grad_fn.attrs["saved"]["rstd"] * 2  # what the formula must read
    out.backward(Tensor(np.ones((3, 4)) + np.arange(4)))
    x2 = Tensor(x.numpy(), requires_grad=True)
    layer_norm(x2, 4).backward(Tensor(np.ones((3, 4)) + np.arange(4)))
    np.testing.assert_allclose(x.grad.numpy(), 2 * x2.grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize(("shape", "normalized_shape"), [((3, 4), (4,)), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 4)),
                                                         ((2, 2, 3), (2, 2, 3))])
@pytest.mark.parametrize("parameters", ["both", "weight", "bias", "none"])
def test_layer_norm_gradcheck(shape, normalized_shape, parameters) -> None:
    rng = np.random.default_rng(sum(shape) + len(parameters))
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    w = Tensor(rng.standard_normal(normalized_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(normalized_shape), requires_grad=True)
    if parameters == "both":
        assert gradcheck(lambda x, w, b: layer_norm(x, normalized_shape, w, b), [x, w, b])
    elif parameters == "weight":
        assert gradcheck(lambda x, w: layer_norm(x, normalized_shape, w), [x, w])
    elif parameters == "bias":
        assert gradcheck(lambda x, b: layer_norm(x, normalized_shape, bias=b), [x, b])
    else:
        assert gradcheck(lambda x: layer_norm(x, normalized_shape), [x])


def test_layer_norm_gradients_with_a_frozen_input() -> None:
    x, w, b = Tensor(random((4, 3))), Tensor(random((3,), 1), requires_grad=True), Tensor(random((3,), 2), requires_grad=True)
    assert gradcheck(lambda x, w, b: layer_norm(x, 3, w, b), [x, w, b])
    assert x.grad is None


def test_layer_norm_module_parameters_repr_and_state_dict() -> None:
    layer = LayerNorm((3, 4))
    assert layer.normalized_shape == (3, 4) and layer.eps == 1e-5
    assert np.array_equal(layer.weight.numpy(), np.ones((3, 4))) and np.array_equal(layer.bias.numpy(), np.zeros((3, 4)))
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert repr(LayerNorm(128)) == "LayerNorm((128,), eps=1e-05, elementwise_affine=True)"
    assert repr(LayerNorm([2, 3], eps=1e-6, elementwise_affine=False)) == "LayerNorm((2, 3), eps=1e-06, elementwise_affine=False)"
    assert LayerNorm(4, elementwise_affine=False).weight is None and list(LayerNorm(4, elementwise_affine=False).parameters()) == []
    no_bias = LayerNorm(4, bias=False)
    assert no_bias.bias is None and [name for name, _ in no_bias.named_parameters()] == ["weight"]


def test_layer_norm_module_trains_its_parameters() -> None:
    layer = LayerNorm(4)
    x = Tensor(random((5, 4)), requires_grad=True)
    upstream = random((5, 4), seed=3)
    (layer(x) * Tensor(upstream)).sum().backward()
    x_hat = np_layer_norm(x.numpy(), 1)
    np.testing.assert_allclose(layer.weight.grad.numpy(), (upstream * x_hat).sum(0), atol=1e-5)
    np.testing.assert_allclose(layer.bias.grad.numpy(), upstream.sum(0), atol=1e-5)
    assert x.grad.shape == (5, 4)


def test_layer_norm_errors() -> None:
    with pytest.raises(ShapeError, match=r"\(2, 3, 7\)") as error:
        LayerNorm(8)(Tensor(np.zeros((2, 3, 7))))
    assert "LayerNorm((8,)" in str(error.value) and "8" in str(error.value)
    with pytest.raises(ShapeError, match=r"\(2, 4\)"):
        layer_norm(Tensor(np.zeros((2, 4))), (3, 4))
    with pytest.raises(ShapeError, match="weight"):
        layer_norm(Tensor(np.zeros((2, 4))), 4, Tensor(np.ones(3)))
    with pytest.raises(TypeError, match="normalized_shape"):
        LayerNorm(4.0)
    with pytest.raises(DtypeError):
        layer_norm(Tensor(np.zeros((2, 4)), dtype=np.int64), 4)


# ---------------------------------------------------------------------------------------------
# batch_norm, BatchNorm1d and BatchNorm2d
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("layer_type", "shape"), [(BatchNorm1d, (8, 3)), (BatchNorm1d, (4, 3, 5)), (BatchNorm2d, (2, 3, 4, 5))])
def test_batch_norm_training_uses_batch_statistics(layer_type, shape) -> None:
    layer = layer_type(3)
    layer.weight.data[...] = [0.5, 2.0, -1.0]
    layer.bias.data[...] = [0.0, 1.0, 3.0]
    x = random(shape, scale=2, shift=1)
    out = layer(Tensor(x))
    mean, var = channel_stats(x)
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_allclose(out.numpy(), np_batch_norm(x, mean, var, layer.weight.numpy(), layer.bias.numpy()), atol=3e-5)


@pytest.mark.parametrize("shape", [(6, 2), (3, 2, 4), (2, 2, 3, 3)])
def test_running_statistics_after_several_steps_match_a_hand_computation(shape) -> None:
    layer = (BatchNorm2d if len(shape) == 4 else BatchNorm1d)(2, momentum=0.2)
    expected_mean, expected_var = np.zeros(2), np.ones(2)
    count = math.prod(shape) // 2
    for step in range(4):
        x = random(shape, seed=step, scale=step + 1, shift=step - 1)
        layer(Tensor(x))
        mean, var = channel_stats(x)
        expected_mean = 0.8 * expected_mean + 0.2 * mean
        expected_var = 0.8 * expected_var + 0.2 * var * count / (count - 1)
    np.testing.assert_allclose(layer.running_mean.numpy(), expected_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.running_var.numpy(), expected_var, rtol=1e-5)
    assert layer.num_batches_tracked.item() == 4 and layer.num_batches_tracked.dtype == np.int64
    assert layer.running_mean.dtype == np.float32


def test_momentum_none_is_a_cumulative_average() -> None:
    layer = BatchNorm1d(3, momentum=None)
    batches = [random((5, 3), seed=s, shift=s) for s in range(3)]
    for x in batches:
        layer(Tensor(x))
    np.testing.assert_allclose(layer.running_mean.numpy(), np.mean([channel_stats(x)[0] for x in batches], axis=0), rtol=1e-5)
    np.testing.assert_allclose(layer.running_var.numpy(), np.mean([channel_stats(x)[1] * 5 / 4 for x in batches], axis=0),
                               rtol=1e-5)
    assert repr(layer) == "BatchNorm1d(3, eps=1e-05, momentum=None, affine=True, track_running_stats=True)"


def test_evaluation_uses_running_statistics_and_changes_nothing() -> None:
    layer = BatchNorm1d(3)
    layer.running_mean.data[...] = [1.0, -2.0, 0.5]
    layer.running_var.data[...] = [4.0, 0.25, 1.0]
    layer.eval()
    x = random((1, 3))  # a batch of one is fine in evaluation
    out = layer(Tensor(x))
    np.testing.assert_allclose(out.numpy(), np_batch_norm(x, np.array([1.0, -2.0, 0.5]), np.array([4.0, 0.25, 1.0])), atol=1e-5)
    assert layer.running_mean.numpy().tolist() == [1.0, -2.0, 0.5] and layer.num_batches_tracked.item() == 0


def test_without_running_statistics_the_batch_is_used_in_evaluation_too() -> None:
    layer = BatchNorm2d(2, affine=False, track_running_stats=False).eval()
    assert layer.running_mean is None and list(layer.state_dict()) == [] and list(layer.parameters()) == []
    x = random((3, 2, 2, 2))
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), np_batch_norm(x, *channel_stats(x)), atol=2e-5)


def test_state_dict_holds_torchs_keys_and_round_trips() -> None:
    layer = BatchNorm2d(4)
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [name for name, _ in layer.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    for seed in range(3):
        layer(Tensor(random((2, 4, 3, 3), seed=seed, shift=seed)))
    state = layer.state_dict()
    assert state["num_batches_tracked"].dtype == np.int64 and state["num_batches_tracked"].item() == 3
    fresh = BatchNorm2d(4)
    fresh.load_state_dict(state)
    for name, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[name].numpy())
    x = Tensor(random((2, 4, 3, 3), seed=9))
    np.testing.assert_allclose(fresh.eval()(x).numpy(), layer.eval()(x).numpy())


def test_running_statistics_are_updated_in_place() -> None:
    layer = BatchNorm1d(2)
    buffers = [layer.running_mean.numpy(), layer.running_var.numpy(), layer.num_batches_tracked.numpy()]
    layer(Tensor(random((4, 2), shift=3)))
    after = [layer.running_mean.numpy(), layer.running_var.numpy(), layer.num_batches_tracked.numpy()]
    assert all(a is b for a, b in zip(after, buffers)) and layer.running_mean.numpy().min() > 0
    layer.reset_running_stats()
    assert layer.running_mean.numpy().tolist() == [0, 0] and layer.running_var.numpy().tolist() == [1, 1]
    assert layer.num_batches_tracked.item() == 0


def test_update_running_stats_closed_form() -> None:
    mean, var = np.array([1.0, 2.0], np.float32), np.array([1.0, 3.0], np.float32)
    update_running_stats(mean, var, np.array([3.0, -2.0]), np.array([2.0, 0.0]), count=5, momentum=0.25)
    np.testing.assert_allclose(mean, [1.5, 1.0])
    np.testing.assert_allclose(var, [0.75 + 0.25 * 2.0 * 5 / 4, 2.25])


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 3, 2, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(shape, training) -> None:
    rng = np.random.default_rng(len(shape) + training)
    channels = shape[1]
    running = (Tensor(rng.standard_normal(channels)), Tensor(rng.random(channels) + 0.5))
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    w = Tensor(rng.standard_normal(channels), requires_grad=True)
    b = Tensor(rng.standard_normal(channels), requires_grad=True)
    mean, var = (None, None) if training else running
    assert gradcheck(lambda x, w, b: batch_norm(x, mean, var, w, b, training=training), [x, w, b])
    assert gradcheck(lambda x: batch_norm(x, mean, var, training=training), [x])


def test_batch_norm_module_gradcheck_in_training_mode() -> None:
    layer = BatchNorm1d(3)
    layer.weight.data[...] = [1.5, -0.5, 2.0]
    x = Tensor(np.random.default_rng(3).standard_normal((4, 3, 2)), requires_grad=True)
    assert gradcheck(layer, [x])


def test_batch_norm_training_gradient_sums_to_zero_per_channel() -> None:
    # the batch mean is subtracted, so shifting a channel changes nothing: gradients sum to 0 per channel
    x = Tensor(random((6, 3, 4)), requires_grad=True)
    (BatchNorm1d(3)(x) * Tensor(random((6, 3, 4), seed=5))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy().sum(axis=(0, 2)), 0, atol=1e-4)


def test_batch_norm_errors() -> None:
    layer = BatchNorm1d(3)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        layer(Tensor(np.zeros((1, 3))))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        BatchNorm2d(3)(Tensor(np.zeros((1, 3, 1, 1))))
    assert layer.num_batches_tracked.item() == 0  # the refused batch changed nothing
    layer(Tensor(np.zeros((1, 3, 2))))  # one sample of length 2: two values per channel
    with pytest.raises(ShapeError, match=r"\(4, 5\)") as error:
        layer(Tensor(np.zeros((4, 5))))
    assert "BatchNorm1d(3" in str(error.value) and "num_features=3" in str(error.value)
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        layer(Tensor(np.zeros((2, 3, 4, 5))))
    with pytest.raises(ValueError, match="expected 4D input"):
        BatchNorm2d(3)(Tensor(np.zeros((2, 3))))
    with pytest.raises(ShapeError, match="running_mean"):
        batch_norm(Tensor(np.zeros((2, 3))), Tensor(np.zeros(4)), Tensor(np.ones(3)))
    with pytest.raises(ValueError, match="training=False"):
        batch_norm(Tensor(np.zeros((2, 3))), None, None, training=False)


def test_batch_norm_reprs() -> None:
    assert repr(BatchNorm1d(16)) == "BatchNorm1d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert repr(BatchNorm2d(8, eps=1e-3, momentum=0.01, affine=False, track_running_stats=False)) == (
        "BatchNorm2d(8, eps=0.001, momentum=0.01, affine=False, track_running_stats=False)"
    )


# ---------------------------------------------------------------------------------------------
# dropout and Dropout
# ---------------------------------------------------------------------------------------------
def test_dropout_is_seeded_and_reproducible() -> None:
    x = Tensor(np.ones((32, 32)))
    manual_seed(3)
    first, second = dropout(x, 0.5).numpy(), dropout(x, 0.5).numpy()
    manual_seed(3)
    assert np.array_equal(dropout(x, 0.5).numpy(), first) and np.array_equal(dropout(x, 0.5).numpy(), second)
    assert np.any(first != second)  # the generator moved on between the two calls


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_scales_the_survivors_and_keeps_the_mean(p: float) -> None:
    manual_seed(0)
    x = np.random.default_rng(1).random((200, 200)).astype(np.float32) + 1
    out = dropout(Tensor(x), p).numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-6)
    assert abs(kept.mean() - (1 - p)) < 0.01  # 40,000 draws: the standard error is at most 0.0025
    assert abs(out.mean() - x.mean()) < 0.02 * x.mean()
    assert out.dtype == np.float32


def test_dropout_gradient_is_the_mask() -> None:
    manual_seed(1)
    x = Tensor(np.random.default_rng(0).standard_normal((6, 5)), requires_grad=True)
    out = dropout(x, 0.4)
    mask = out.grad_fn.attrs["mask"]
    upstream = np.random.default_rng(2).standard_normal((6, 5)).astype(np.float32)
    out.backward(Tensor(upstream))
    np.testing.assert_allclose(x.grad.numpy(), upstream * mask)
    assert set(np.unique(mask).tolist()) == {0.0, np.float32(1 / 0.6)}


def test_dropout_gradcheck_with_a_fixed_mask() -> None:
    # gradcheck calls the function many times, each drawing a new mask: reseed inside it
    def seeded(t: Tensor) -> Tensor:
        manual_seed(5)
        return dropout(t, 0.3)

    assert gradcheck(seeded, [Tensor(np.random.default_rng(0).standard_normal((4, 5)), requires_grad=True)])


def test_dropout_edge_cases() -> None:
    x = Tensor(np.random.default_rng(0).standard_normal((4, 4)), requires_grad=True)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    layer = Dropout(0.3)
    assert layer.eval()(x) is x
    with np.errstate(all="raise"):
        zeros = dropout(x, 1.0)
    assert np.array_equal(zeros.numpy(), np.zeros((4, 4)))
    zeros.sum().backward()
    assert np.array_equal(x.grad.numpy(), np.zeros((4, 4)))
    assert dropout(Tensor(np.ones(3), dtype=np.float64), 0.5).dtype == np.float64


def test_dropout_errors_and_repr() -> None:
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            Dropout(p)
        with pytest.raises(ValueError, match="between 0 and 1"):
            dropout(Tensor([1.0]), p)
    with pytest.raises(ValueError, match="inplace"):
        Dropout(0.5, inplace=True)
    assert repr(Dropout()) == "Dropout(p=0.5, inplace=False)"
    assert repr(Dropout(0.1)) == "Dropout(p=0.1, inplace=False)"
    assert list(Dropout().parameters()) == [] and list(Dropout().state_dict()) == []


def test_dropout_mask_draws_from_the_generator_it_is_given() -> None:
    a = dropout_mask((1000,), 0.25, np.random.default_rng(11))
    b = dropout_mask((1000,), 0.25, np.random.default_rng(11))
    assert np.array_equal(a, b) and a.dtype == np.float32
    assert set(np.unique(a).tolist()) == {0.0, np.float32(1 / 0.75)}


# ---------------------------------------------------------------------------------------------
# namespaces
# ---------------------------------------------------------------------------------------------
def test_public_names_resolve_in_nn_and_functional() -> None:
    assert nn.LayerNorm is LayerNorm and nn.BatchNorm1d is BatchNorm1d and nn.BatchNorm2d is BatchNorm2d
    assert nn.Dropout is Dropout
    assert F.layer_norm is layer_norm and F.batch_norm is batch_norm and F.dropout is dropout


def test_layers_compose_in_a_sequential_with_train_and_eval() -> None:
    manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), BatchNorm1d(8), nn.ReLU(), Dropout(0.5), nn.Linear(8, 2), LayerNorm(2))
    x = Tensor(random((16, 6)))
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    first, second = model(x).numpy(), model(x).numpy()
    np.testing.assert_array_equal(first, second)  # no dropout, running statistics: deterministic


# ---------------------------------------------------------------------------------------------
# optional: PyTorch itself
# ---------------------------------------------------------------------------------------------
def test_matches_torch_when_installed() -> None:
    torch = pytest.importorskip("torch")
    x = random((4, 3, 5), shift=1, scale=2)
    ours, theirs = LayerNorm((3, 5)), torch.nn.LayerNorm((3, 5))
    ours.weight.data[...] = random((3, 5), seed=1)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.numpy()))
    tx = torch.tensor(x, requires_grad=True)
    theirs(tx).pow(2).sum().backward()
    xt = Tensor(x, requires_grad=True)
    out = ours(xt)
    (out * out).sum().backward()
    np.testing.assert_allclose(out.numpy(), theirs(tx).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), atol=1e-4)

    ours_bn, theirs_bn = BatchNorm1d(3, momentum=0.3), torch.nn.BatchNorm1d(3, momentum=0.3)
    for seed in range(3):
        batch = random((4, 3, 5), seed=seed, shift=seed)
        np.testing.assert_allclose(ours_bn(Tensor(batch)).numpy(), theirs_bn(torch.tensor(batch)).detach().numpy(), atol=1e-5)
    for name, value in ours_bn.state_dict().items():
        np.testing.assert_allclose(value.numpy(), theirs_bn.state_dict()[name].numpy(), rtol=1e-5)
    ours_bn.eval()
    theirs_bn.eval()
    np.testing.assert_allclose(ours_bn(Tensor(x)).numpy(), theirs_bn(torch.tensor(x)).detach().numpy(), atol=1e-5)
