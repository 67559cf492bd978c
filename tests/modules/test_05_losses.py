"""Module 05: ``tinytorch.nn.losses`` (MSE, NLL, cross-entropy, BCE with logits) and the namespaces.

Every loss is compared with a float64 NumPy reference written here from the published
definitions (PyTorch's semantics, written out: the weighted mean divides by the sum of the
weights of the counted targets, ignored targets count for nothing and all-ignored gives nan
with a zero gradient, label smoothing for class indices is ``(1 - e) nll + e/C smooth`` with
the same divisor, probability targets average over samples, ``pos_weight`` scales the
positive term of BCE). Gradients are checked with ``gradcheck`` (Module 02) and against the
closed forms ``(softmax - onehot) / N`` and ``sigmoid(x) - y``. Where PyTorch is importable,
a few results are also compared with it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest

import tinytorch.nn.functional as F
from tinytorch import nn
from tinytorch.autograd import gradcheck, topological_order
from tinytorch.nn import losses
from tinytorch.nn.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    MSELoss,
    NLLLoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
    nll_loss,
)
from tinytorch.tensor import DtypeError, ShapeError, Tensor

REDUCTIONS = ("none", "mean", "sum")


# ---------------------------------------------------------------------------------------------
# float64 NumPy references
# ---------------------------------------------------------------------------------------------
def np_log_softmax(x: np.ndarray, dim: int) -> np.ndarray:
    """x minus its log-sum-exp along dim (the max is factored out of the sum for stability)."""
    peak = np.max(x, axis=dim, keepdims=True)
    log_sum_exp = peak + np.log(np.sum(np.exp(x - peak), axis=dim, keepdims=True))
    return x - log_sum_exp


def reduce(values: np.ndarray, reduction: str, total: float | None = None) -> np.ndarray:
    if reduction == "none":
        return values
    if reduction == "sum":
        return np.asarray(values.sum())
    return np.asarray(values.sum() / (values.size if total is None else total))


def ref_nll(lp: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignore: int, reduction: str) -> np.ndarray:
    """NLL for lp (N, C, *d) or (C,), written with an explicit loop over samples (slow but obvious)."""
    if lp.ndim == 1:
        lp, target = lp[None], np.asarray(target).reshape(1)
    losses_ = np.zeros(target.shape)
    weights = np.zeros(target.shape)
    for index in np.ndindex(target.shape):
        t = int(target[index])
        if t == ignore:
            continue
        w = 1.0 if weight is None else weight[t]
        losses_[index] = -w * lp[(index[0], t) + index[1:]]
        weights[index] = w
    if reduction == "mean" and weights.sum() == 0:
        return np.asarray(np.nan)
    return reduce(losses_, reduction, weights.sum())


def ref_cross_entropy(
    x: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None, ignore: int = -100,
    reduction: str = "mean", smoothing: float = 0.0,
) -> np.ndarray:
    dim = 1 if x.ndim >= 2 else 0
    lp = np_log_softmax(x, dim)
    classes = x.shape[dim]
    wshape = (-1,) + (1,) * (x.ndim - 2) if x.ndim >= 2 else (-1,)
    w = np.ones(classes) if weight is None else weight
    if target.dtype.kind == "f":  # probabilities
        p = target * (1 - smoothing) + smoothing / classes
        per = -(lp * p * w.reshape(wshape)).sum(axis=dim)
        return reduce(per, reduction)
    nll = ref_nll(lp, target, weight, ignore, reduction)
    if smoothing == 0:
        return nll.reshape(target.shape) if reduction == "none" else nll
    counted = (np.asarray(target) != ignore)
    smooth = -(lp * w.reshape(wshape)).sum(axis=dim) * counted
    safe = np.where(counted, target, 0)
    total = (w[safe] * counted).sum()
    return (1 - smoothing) * nll.reshape(smooth.shape if reduction == "none" else ()) + smoothing / classes * reduce(smooth, reduction, total)


def ref_bce(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None, pos_weight: np.ndarray | None, reduction: str) -> np.ndarray:
    s = 1 / (1 + np.exp(-x))
    p = 1.0 if pos_weight is None else pos_weight
    per = -(p * y * np.log(s) + (1 - y) * np.log(1 - s))
    if weight is not None:
        per = per * weight
    return reduce(per, reduction)


def int_tensor(values: object) -> Tensor:
    return Tensor(np.asarray(values), dtype=np.int64)


def f64(values: np.ndarray, requires_grad: bool = False) -> Tensor:
    return Tensor(values, dtype=np.float64, requires_grad=requires_grad)


def graph_ops(root: Tensor) -> list[str]:
    return [t.grad_fn.op for t in topological_order(root) if t.grad_fn is not None]


RNG = np.random.default_rng(0)


# ---------------------------------------------------------------------------------------------
# mse_loss
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_matches_the_closed_form(reduction: str) -> None:
    x, y = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    out = mse_loss(f64(x), f64(y), reduction=reduction)
    np.testing.assert_allclose(out.numpy(), reduce((x - y) ** 2, reduction), rtol=1e-12)
    assert mse_loss(Tensor(x), Tensor(y)).dtype == np.float32


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_gradients_for_input_and_target(reduction: str) -> None:
    x, y = f64(RNG.standard_normal((2, 3)), True), f64(RNG.standard_normal((2, 3)), True)
    assert gradcheck(lambda a, b: mse_loss(a, b, reduction=reduction), [x, y])
    mse_loss(x, y, reduction=reduction).sum().backward()
    scale = 1 / 6 if reduction == "mean" else 1.0
    np.testing.assert_allclose(x.grad.numpy(), 2 * scale * (x.numpy() - y.numpy()))
    np.testing.assert_allclose(y.grad.numpy(), -x.grad.numpy())


def test_mse_broadcasts_with_a_warning_as_torch() -> None:
    x, y = RNG.standard_normal((3, 1)), RNG.standard_normal(3)
    with pytest.warns(UserWarning, match=r"\(3,\).*\(3, 1\)|\(3, 1\).*\(3,\)"):
        out = mse_loss(f64(x), f64(y))
    np.testing.assert_allclose(out.item(), np.mean((x - y) ** 2))  # the (3, 3) matrix of differences
    with pytest.warns(UserWarning):
        assert gradcheck(lambda a: mse_loss(a, f64(y), reduction="sum"), [f64(x, True)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mse_loss(f64(y), f64(y))  # same shapes: no warning


def test_mse_shapes_that_do_not_broadcast_are_a_shape_error() -> None:
    with pytest.warns(UserWarning), pytest.raises(ShapeError):
        mse_loss(Tensor(np.ones((2, 3))), Tensor(np.ones(4)))


# ---------------------------------------------------------------------------------------------
# nll_loss and cross_entropy with class indices
# ---------------------------------------------------------------------------------------------
CASES = {  # name -> (input shape, target shape)
    "batch": ((5, 4), (5,)),
    "single": ((4,), ()),
    "spatial": ((2, 3, 4, 2), (2, 4, 2)),
    "sequence": ((2, 5, 3), (2, 3)),
}


def make_case(name: str, ignore: bool = False) -> tuple[np.ndarray, np.ndarray]:
    shape, target_shape = CASES[name]
    rng = np.random.default_rng(len(name))
    classes = shape[1] if len(shape) >= 2 else shape[0]
    target = rng.integers(0, classes, target_shape)
    if ignore and target.size > 1:
        target.reshape(-1)[1] = -100
    return rng.standard_normal(shape) * 2, target


def class_weight(x: np.ndarray) -> np.ndarray:
    """Distinct weights, one per class of logits ``x`` ((C,) or (N, C, ...))."""
    return np.linspace(0.5, 2.0, x.shape[1] if x.ndim >= 2 else x.shape[0])


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_the_reference(case: str, reduction: str, weighted: bool) -> None:
    x, target = make_case(case, ignore=True)
    weight = class_weight(x) if weighted else None
    out = cross_entropy(f64(x), int_tensor(target), None if weight is None else f64(weight), reduction=reduction)
    expected = ref_cross_entropy(x, target, weight, reduction=reduction)
    assert out.shape == (target.shape if reduction == "none" else ())
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    lp = np_log_softmax(x, 1 if x.ndim >= 2 else 0)
    nll = nll_loss(f64(lp), int_tensor(target), None if weight is None else f64(weight), reduction=reduction)
    np.testing.assert_allclose(nll.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_gradcheck(case: str, reduction: str) -> None:
    x, target = make_case(case, ignore=True)
    weight = f64(class_weight(x))
    assert gradcheck(lambda z: cross_entropy(z, int_tensor(target), weight, reduction=reduction), [f64(x, True)])
    assert gradcheck(lambda z: nll_loss(z, int_tensor(target), reduction=reduction), [f64(x, True)])


def test_cross_entropy_gradient_is_softmax_minus_onehot() -> None:
    x, target = make_case("batch")
    logits = f64(x, True)
    cross_entropy(logits, int_tensor(target)).backward()
    softmax = np.exp(np_log_softmax(x, 1))
    np.testing.assert_allclose(logits.grad.numpy(), (softmax - np.eye(4)[target]) / 5, atol=1e-12)


def test_cross_entropy_is_two_graph_nodes() -> None:
    logits = Tensor(RNG.standard_normal((64, 10)), requires_grad=True)
    loss = cross_entropy(logits, int_tensor(RNG.integers(0, 10, 64)))
    assert graph_ops(loss) == ["log_softmax", "nll_loss"]
    assert isinstance(CrossEntropyLoss()(logits, int_tensor(np.zeros(64))), Tensor)


def test_ignore_index_and_weights_divide_by_counted_weights() -> None:
    x = np.log(np.array([[0.5, 0.25, 0.25], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1]]))
    weight = np.array([1.0, 2.0, 4.0])
    out = nll_loss(f64(x), int_tensor([0, 2, -100]), f64(weight))
    expected = (-math.log(0.5) * 1 - math.log(0.6) * 4) / 5
    np.testing.assert_allclose(out.item(), expected)
    out = nll_loss(f64(x), int_tensor([0, 2, 1]), ignore_index=1)  # an ignore_index inside [0, C)
    np.testing.assert_allclose(out.item(), (-math.log(0.5) - math.log(0.6)) / 2)
    out = nll_loss(f64(x), int_tensor([0, 7, 1]), ignore_index=7)  # or above C
    np.testing.assert_allclose(out.item(), (-math.log(0.5) - math.log(0.8)) / 2)


def test_all_targets_ignored_gives_nan_and_a_zero_gradient() -> None:
    logits = f64(RNG.standard_normal((3, 4)), True)
    loss = cross_entropy(logits, int_tensor([-100, -100, -100]))
    assert math.isnan(loss.item())
    loss.backward()
    assert np.array_equal(logits.grad.numpy(), np.zeros((3, 4)))
    assert cross_entropy(logits, int_tensor([-100, -100, -100]), reduction="sum").item() == 0.0


def test_an_empty_batch_gives_nan_for_the_mean() -> None:
    assert math.isnan(cross_entropy(Tensor(np.zeros((0, 4))), int_tensor(np.zeros(0))).item())


def test_int32_class_indices_work() -> None:
    x, target = make_case("batch")
    as_int32 = Tensor(target, dtype=np.int32)
    np.testing.assert_allclose(cross_entropy(f64(x), as_int32).item(), ref_cross_entropy(x, target))


# ---------------------------------------------------------------------------------------------
# label smoothing and probability targets
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["batch", "spatial", "single"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_label_smoothing_with_class_indices(case: str, reduction: str, weighted: bool) -> None:
    x, target = make_case(case, ignore=True)
    weight = class_weight(x) if weighted else None
    w_tensor = None if weight is None else f64(weight)
    out = cross_entropy(f64(x), int_tensor(target), w_tensor, reduction=reduction, label_smoothing=0.2)
    expected = ref_cross_entropy(x, target, weight, reduction=reduction, smoothing=0.2)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10)
    assert gradcheck(lambda z: cross_entropy(z, int_tensor(target), w_tensor, reduction=reduction, label_smoothing=0.2),
                     [f64(x, True)])


def test_full_label_smoothing_ignores_the_labels() -> None:
    x = RNG.standard_normal((4, 3))
    a = cross_entropy(f64(x), int_tensor([0, 1, 2, 0]), label_smoothing=1.0).item()
    b = cross_entropy(f64(x), int_tensor([2, 2, 1, 1]), label_smoothing=1.0).item()
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(a, -np_log_softmax(x, 1).mean())


@pytest.mark.parametrize("shape", [(4, 3), (3,), (2, 3, 2, 2)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_probability_targets(shape: tuple[int, ...], reduction: str) -> None:
    dim = 1 if len(shape) >= 2 else 0
    x = RNG.standard_normal(shape)
    p = np.exp(np_log_softmax(RNG.standard_normal(shape), dim))
    weight = np.array([1.0, 0.5, 2.0])
    for w, smoothing in ((None, 0.0), (weight, 0.0), (weight, 0.3)):
        out = cross_entropy(f64(x), f64(p), None if w is None else f64(w), reduction=reduction, label_smoothing=smoothing)
        np.testing.assert_allclose(out.numpy(), ref_cross_entropy(x, p, w, reduction=reduction, smoothing=smoothing), rtol=1e-10)
    assert gradcheck(lambda z, q: cross_entropy(z, q, f64(weight), reduction=reduction, label_smoothing=0.1),
                     [f64(x, True), f64(p, True)])


def test_onehot_probabilities_equal_class_indices() -> None:
    x, target = make_case("batch")
    np.testing.assert_allclose(cross_entropy(f64(x), f64(np.eye(4)[target])).item(), cross_entropy(f64(x), int_tensor(target)).item())


# ---------------------------------------------------------------------------------------------
# stability
# ---------------------------------------------------------------------------------------------
def test_cross_entropy_is_finite_and_exact_for_logits_of_1000() -> None:
    x = np.array([[1000.0, 0.0, -1000.0], [1000.0, 0.0, -1000.0], [-1000.0, -1000.0, 1000.0]], dtype=np.float32)
    logits = Tensor(x, requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        per_sample = cross_entropy(logits, int_tensor([0, 1, 2]), reduction="none")
        loss = cross_entropy(logits, int_tensor([2, 1, 0]))
        loss.backward()
    assert per_sample.numpy().tolist() == [0.0, 1000.0, 0.0]
    assert loss.item() == pytest.approx((2000 + 1000 + 2000) / 3)
    assert np.all(np.isfinite(logits.grad.numpy()))
    np.testing.assert_allclose(logits.grad.numpy(), (np.eye(3)[[0, 0, 2]] - np.eye(3)[[2, 1, 0]]) / 3, atol=1e-7)


def test_bce_with_logits_is_finite_for_logits_of_1000() -> None:
    x = Tensor(np.array([1000.0, -1000.0, 1000.0, -1000.0], dtype=np.float32), requires_grad=True)
    y = Tensor(np.array([1.0, 1.0, 0.0, 0.0], dtype=np.float32))
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out = binary_cross_entropy_with_logits(x, y, reduction="none")
        out.sum().backward()
    assert out.numpy().tolist() == [0.0, 1000.0, 1000.0, 0.0]
    assert x.grad.numpy().tolist() == [0.0, -1.0, 1.0, 0.0]


# ---------------------------------------------------------------------------------------------
# binary_cross_entropy_with_logits
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_the_textbook_form(reduction: str) -> None:
    x, y = RNG.standard_normal((4, 3)) * 3, RNG.random((4, 3))
    weight, pos_weight = RNG.random((4, 1)) + 0.5, np.array([0.5, 1.0, 3.0])
    for w, p in ((None, None), (weight, None), (None, pos_weight), (weight, pos_weight)):
        out = binary_cross_entropy_with_logits(f64(x), f64(y), None if w is None else f64(w), reduction=reduction,
                                               pos_weight=None if p is None else f64(p))
        np.testing.assert_allclose(out.numpy(), ref_bce(x, y, w, p, reduction), rtol=1e-10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_gradcheck(reduction: str) -> None:
    x, y = f64(RNG.standard_normal((3, 4)) * 2, True), f64(RNG.random((3, 4)), True)
    weight, pos_weight = f64(RNG.random(4) + 0.5), f64(np.array([0.5, 1.0, 2.0, 3.0]))
    assert gradcheck(lambda a, b: binary_cross_entropy_with_logits(a, b, reduction=reduction), [x, y])
    assert gradcheck(lambda a, b: binary_cross_entropy_with_logits(a, b, weight, reduction=reduction, pos_weight=pos_weight), [x, y])


def test_bce_gradient_is_sigmoid_minus_target() -> None:
    x, y = RNG.standard_normal(6), RNG.random(6)
    logits = f64(x, True)
    binary_cross_entropy_with_logits(logits, f64(y), reduction="sum").backward()
    np.testing.assert_allclose(logits.grad.numpy(), 1 / (1 + np.exp(-x)) - y, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [4, -1, 10])
def test_class_out_of_range_is_an_index_error(bad: int) -> None:
    with pytest.raises(IndexError, match=rf"{bad}.*4 classes"):
        cross_entropy(Tensor(np.zeros((3, 4))), int_tensor([0, bad, 1]))
    with pytest.raises(IndexError, match=str(bad)):
        nll_loss(Tensor(np.zeros((3, 4))), int_tensor([0, bad, 1]), ignore_index=-100)


def test_float_class_indices_are_a_dtype_error() -> None:
    for fn in (cross_entropy, nll_loss):
        with pytest.raises(DtypeError, match="int64") as caught:
            fn(Tensor(np.zeros((3, 4))), Tensor([0.0, 1.0, 2.0]))
        assert isinstance(caught.value, TypeError)
    with pytest.raises(DtypeError, match="int64"):
        nll_loss(Tensor(np.zeros((3, 4))), Tensor(np.zeros(3), dtype=np.bool_))


@pytest.mark.parametrize(("input_shape", "target_shape"), [((3, 4), (2,)), ((3, 4), (3, 1)), ((4,), (1,)), ((2, 3, 5), (2, 4))])
def test_wrong_target_shape_is_a_shape_error_naming_both(input_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> None:
    for fn in (cross_entropy, nll_loss):
        with pytest.raises(ShapeError) as caught:
            fn(Tensor(np.zeros(input_shape)), int_tensor(np.zeros(target_shape)))
        assert str(input_shape) in str(caught.value) and str(target_shape) in str(caught.value)
    with pytest.raises(ShapeError, match=r"\(3, 4\).*\(3, 5\)"):
        cross_entropy(Tensor(np.zeros((3, 4))), Tensor(np.zeros((3, 5))))  # float of neither shape


def test_zero_dimensional_input_and_wrong_weight_shape() -> None:
    with pytest.raises(ShapeError):
        cross_entropy(Tensor(1.0), int_tensor(0))
    with pytest.raises(ShapeError, match=r"\(4,\)"):
        cross_entropy(Tensor(np.zeros((3, 4))), int_tensor([0, 1, 2]), Tensor(np.ones(3)))


@pytest.mark.parametrize("fn", [
    lambda r: mse_loss(Tensor([1.0]), Tensor([1.0]), reduction=r),
    lambda r: nll_loss(Tensor([[0.0]]), int_tensor([0]), reduction=r),
    lambda r: cross_entropy(Tensor([[0.0]]), int_tensor([0]), reduction=r),
    lambda r: binary_cross_entropy_with_logits(Tensor([0.0]), Tensor([1.0]), reduction=r),
    lambda r: CrossEntropyLoss(reduction=r),
    lambda r: MSELoss(reduction=r),
])
def test_unknown_reduction_is_a_value_error_listing_the_valid_ones(fn: Callable[[str], object]) -> None:
    with pytest.raises(ValueError, match="'none', 'mean' or 'sum'"):
        fn("avg")


def test_label_smoothing_out_of_range_and_ignore_index_with_probabilities() -> None:
    with pytest.raises(ValueError, match="label_smoothing"):
        cross_entropy(Tensor(np.zeros((2, 3))), int_tensor([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=-0.1)
    with pytest.raises(ValueError, match="ignore_index"):
        cross_entropy(Tensor(np.zeros((2, 3))), Tensor(np.full((2, 3), 1 / 3)), ignore_index=0)


def test_bce_errors() -> None:
    with pytest.raises(ShapeError, match=r"\(4,\).*\(3,\)") as caught:
        binary_cross_entropy_with_logits(Tensor(np.zeros(3)), Tensor(np.zeros(4)))
    assert isinstance(caught.value, ValueError)  # PyTorch raises ValueError; ShapeError is one
    with pytest.raises(DtypeError):
        binary_cross_entropy_with_logits(Tensor(np.zeros(3)), int_tensor([0, 1, 1]))
    with pytest.raises(ShapeError, match="pos_weight"):
        binary_cross_entropy_with_logits(Tensor(np.zeros((2, 3))), Tensor(np.zeros((2, 3))), pos_weight=Tensor(np.ones(2)))


def test_targets_must_be_tensors() -> None:
    with pytest.raises(TypeError, match="Tensor"):
        cross_entropy(Tensor(np.zeros((2, 3))), [0, 1])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# modules and namespaces
# ---------------------------------------------------------------------------------------------
def test_loss_modules_call_the_functions_with_their_options() -> None:
    x, target = make_case("batch", ignore=True)
    weight = f64(np.array([1.0, 2.0, 0.5, 1.5]))
    module = CrossEntropyLoss(weight, ignore_index=-100, reduction="sum", label_smoothing=0.1)
    np.testing.assert_allclose(module(f64(x), int_tensor(target)).item(),
                               cross_entropy(f64(x), int_tensor(target), weight, reduction="sum", label_smoothing=0.1).item())
    lp = f64(np_log_softmax(x, 1))
    np.testing.assert_allclose(NLLLoss(weight)(lp, int_tensor(target)).item(), nll_loss(lp, int_tensor(target), weight).item())
    y = f64(RNG.random((5, 4)))
    pos = f64(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_allclose(BCEWithLogitsLoss(pos_weight=pos)(f64(x), y).item(),
                               binary_cross_entropy_with_logits(f64(x), y, pos_weight=pos).item())
    np.testing.assert_allclose(MSELoss(reduction="none")(f64(x), f64(x * 2)).numpy(), x * x)


def test_loss_modules_have_torch_defaults_and_keyword_only_options() -> None:
    module = CrossEntropyLoss()
    assert (module.weight, module.ignore_index, module.reduction, module.label_smoothing) == (None, -100, "mean", 0.0)
    bce = BCEWithLogitsLoss()
    assert (bce.weight, bce.pos_weight, bce.reduction) == (None, None, "mean")
    assert NLLLoss().ignore_index == -100 and MSELoss().reduction == "mean"
    with pytest.raises(TypeError):
        CrossEntropyLoss(None, -100)  # type: ignore[misc]
    with pytest.raises(TypeError):
        cross_entropy(Tensor(np.zeros((2, 3))), int_tensor([0, 1]), None, -100)  # type: ignore[misc]
    assert repr(module) == "CrossEntropyLoss()" and isinstance(module, nn.Module)


def test_weights_are_buffers_in_the_state_dict() -> None:
    module = CrossEntropyLoss(Tensor([1.0, 2.0]))
    assert list(module.state_dict()) == ["weight"] and list(module.parameters()) == []
    bce = BCEWithLogitsLoss(pos_weight=Tensor([3.0]))
    assert list(bce.state_dict()) == ["pos_weight"]


def test_namespaces_give_the_losses() -> None:
    for name in ("mse_loss", "nll_loss", "cross_entropy", "binary_cross_entropy_with_logits"):
        assert getattr(F, name) is getattr(losses, name) and name in dir(F)
    for name in ("MSELoss", "NLLLoss", "CrossEntropyLoss", "BCEWithLogitsLoss"):
        assert getattr(nn, name) is getattr(losses, name) and name in dir(nn)


# ---------------------------------------------------------------------------------------------
# PyTorch, when it is importable (never required)
# ---------------------------------------------------------------------------------------------
def test_agrees_with_torch_when_installed() -> None:
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, target = make_case("spatial", ignore=True)
    weight = np.array([0.5, 1.0, 2.0])
    for reduction in REDUCTIONS:
        ours = cross_entropy(f64(x), int_tensor(target), f64(weight), reduction=reduction, label_smoothing=0.15)
        theirs = tf.cross_entropy(torch.tensor(x), torch.tensor(target), torch.tensor(weight), reduction=reduction,
                                  label_smoothing=0.15)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10)
    xb, yb = RNG.standard_normal((3, 4)), RNG.random((3, 4))
    pos = np.array([1.0, 2.0, 0.5, 3.0])
    ours = binary_cross_entropy_with_logits(f64(xb), f64(yb), pos_weight=f64(pos))
    theirs = tf.binary_cross_entropy_with_logits(torch.tensor(xb), torch.tensor(yb), pos_weight=torch.tensor(pos))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-10)
