"""Module 06: ``tinytorch.optim`` (SGD, Adam, AdamW, Optimizer) and ``tinytorch.optim.lr_scheduler``.

The PyTorch semantics mirrored (torch 2.x, written out here; torch is not needed to run
these tests): SGD's buffer starts as the first direction, then ``mu * b + (1 - dampening) * d``,
Nesterov adds ``mu * b`` to the direction; L2 weight decay and ``maximize`` enter the direction
before anything else; Adam's step is ``lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``
with AMSGrad's running maximum of ``v``; AdamW multiplies the parameter by ``1 - lr * wd``
first. Schedulers set ``initial_lr``, step once on construction, and follow the closed forms.
The reference rules below are written plainly in NumPy, independently of the module, and the
stored trajectories in ``data/optim_trajectories`` were computed by PyTorch itself.
"""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinytorch.autograd  # noqa: F401  (gradients for .backward())
from tinytorch import optim
from tinytorch.nn.layers import Linear, Parameter, ReLU, Sequential
from tinytorch.optim import SGD, Adam, AdamW, Optimizer
from tinytorch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR
from tinytorch.optim.optimizers import gradient_with_decay
from tinytorch.tensor import Tensor, add_observer, manual_seed, remove_observer

TRAJECTORIES = Path(__file__).resolve().parents[2] / "data" / "optim_trajectories" / "trajectories.npz"


# ---------------------------------------------------------------------------------------------
# Independent references: the published rules, allocating, over a list of gradients
# ---------------------------------------------------------------------------------------------
def direction(p: np.ndarray, g: np.ndarray, weight_decay: float, maximize: bool) -> np.ndarray:
    g = -g if maximize else g
    return g + weight_decay * p


def sgd_reference(p: np.ndarray, grads: list[np.ndarray], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                  weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False) -> np.ndarray:
    p, buf = p.copy(), None
    for g in grads:
        d = direction(p, g, weight_decay, maximize)
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p


def adam_reference(p: np.ndarray, grads: list[np.ndarray], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                   eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False,
                   decoupled: bool = False) -> np.ndarray:
    p = p.copy()
    m, v, v_max = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    b1, b2 = betas
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        d = direction(p, g, 0.0 if decoupled else weight_decay, maximize)
        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d**2
        v_max = np.maximum(v_max, v)
        denominator = np.sqrt(v_max if amsgrad else v) / math.sqrt(1 - b2**t) + eps
        p = p - lr / (1 - b1**t) * m / denominator
    return p


def run(optimizer_class: type[Optimizer], start: np.ndarray, grads: list[np.ndarray], **kwargs: Any) -> np.ndarray:
    p = Parameter(start.copy())
    optimizer = optimizer_class([p], **kwargs)
    for g in grads:
        p.grad = Tensor(g, dtype=g.dtype)
        optimizer.step()
    return p.data


@pytest.fixture
def problem() -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((3, 4)), [rng.standard_normal((3, 4)) for _ in range(6)]


# ---------------------------------------------------------------------------------------------
# Update rules, one step and several, every option
# ---------------------------------------------------------------------------------------------
SGD_OPTIONS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True),
    dict(lr=0.05, maximize=True),
    dict(lr=0.03, momentum=0.7, dampening=0.2, weight_decay=0.05, maximize=True),
]


@pytest.mark.parametrize("options", SGD_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("steps", [1, 6])
def test_sgd_matches_the_published_rule(problem: Any, options: dict[str, Any], steps: int) -> None:
    start, grads = problem
    expected = sgd_reference(start, grads[:steps], **options)
    np.testing.assert_allclose(run(SGD, start, grads[:steps], **options), expected, rtol=1e-12, atol=1e-14)


ADAM_OPTIONS = [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.9), eps=1e-4),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.02, maximize=True),
    dict(lr=0.02, betas=(0.5, 0.7), weight_decay=0.05, amsgrad=True, maximize=True),
]


@pytest.mark.parametrize("options", ADAM_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
@pytest.mark.parametrize("steps", [1, 6])
def test_adam_matches_the_published_rule(problem: Any, options: dict[str, Any], steps: int) -> None:
    start, grads = problem
    expected = adam_reference(start, grads[:steps], **options)
    np.testing.assert_allclose(run(Adam, start, grads[:steps], **options), expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("options", [dict(), dict(lr=0.05, weight_decay=0.3), dict(lr=0.02, weight_decay=0.1, amsgrad=True, maximize=True)],
                         ids=["defaults", "wd", "amsgrad-maximize"])
def test_adamw_decays_the_parameter_before_the_adam_step(problem: Any, options: dict[str, Any]) -> None:
    start, grads = problem
    merged = dict(dict(weight_decay=1e-2), **options)
    expected = adam_reference(start, grads, decoupled=True, **merged)
    np.testing.assert_allclose(run(AdamW, start, grads, **options), expected, rtol=1e-10, atol=1e-13)
    # and it is not Adam's L2 decay
    assert not np.allclose(run(Adam, start, grads, **merged), expected, rtol=1e-6)


def test_adam_first_step_moves_each_coordinate_by_lr() -> None:
    g = np.array([1e-3, -5.0, 200.0])
    np.testing.assert_allclose(run(Adam, np.zeros(3), [g], lr=0.1), -0.1 * np.sign(g), rtol=1e-4)  # eps=1e-8 matters at 1e-5 for |g|=1e-3


def test_adam_state_is_pytorchs() -> None:
    p = Parameter(np.ones((2, 2), dtype=np.float32))
    plain, ams = Adam([p]), Adam([p], amsgrad=True)
    p.grad = Tensor(np.ones((2, 2), dtype=np.float32))
    plain.step()
    plain.step()
    ams.step()
    assert set(plain.state[p]) == {"step", "exp_avg", "exp_avg_sq"} and plain.state[p]["step"] == 2
    assert set(ams.state[p]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert all(v.dtype == np.float32 and v.shape == (2, 2) for k, v in plain.state[p].items() if k != "step")
    assert p.dtype == np.float32


def test_sgd_keeps_a_momentum_buffer_only_with_momentum() -> None:
    p = Parameter(np.ones(3))
    p.grad = Tensor(np.full(3, 2.0), dtype=np.float64)
    plain, heavy = SGD([p], lr=0.1), SGD([p], lr=0.1, momentum=0.9)
    plain.step()
    heavy.step()
    assert p not in plain.state or plain.state[p] == {}
    np.testing.assert_array_equal(heavy.state[p]["momentum_buffer"].data, [2.0, 2.0, 2.0])


def test_gradient_with_decay_does_not_touch_the_gradient() -> None:
    p, g, out = np.array([1.0, 2.0]), np.array([0.5, -0.5]), np.empty(2)
    assert gradient_with_decay(p, g, 0.0, False, out) is g
    np.testing.assert_allclose(gradient_with_decay(p, g, 0.0, True, out), [-0.5, 0.5])
    np.testing.assert_allclose(gradient_with_decay(p, g, 0.1, True, out), [-0.4, 0.7])
    np.testing.assert_array_equal(g, [0.5, -0.5])


# ---------------------------------------------------------------------------------------------
# The Optimizer contract
# ---------------------------------------------------------------------------------------------
def test_parameters_without_a_gradient_are_skipped() -> None:
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    for optimizer in (SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.5), Adam([a, b], weight_decay=0.5), AdamW([a, b])):
        a.grad, b.grad = Tensor(np.ones(2), dtype=np.float64), None
        optimizer.step()
        np.testing.assert_array_equal(b.data, [1.0, 1.0])
        assert b not in optimizer.state
        assert not np.array_equal(a.data, [1.0, 1.0])


def test_param_groups_hold_every_hyperparameter_and_override_defaults() -> None:
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    optimizer = SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.5]
    for group in optimizer.param_groups:
        assert set(group) == {"params", "lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"}
    assert optimizer.param_groups[1]["params"] == [b] or optimizer.param_groups[1]["params"][0] is b
    a.grad = b.grad = Tensor(np.ones(2), dtype=np.float64)
    optimizer.step()
    np.testing.assert_allclose(a.data, [0.9, 0.9])
    np.testing.assert_allclose(b.data, [0.5, 0.5])
    c = Parameter(np.ones(1))
    optimizer.add_param_group({"params": [c], "momentum": 0.0})
    assert optimizer.param_groups[2]["lr"] == 0.1 and optimizer.param_groups[2]["momentum"] == 0.0


def test_defaults_and_argument_order_are_pytorchs() -> None:
    def defaults(cls: type) -> dict[str, Any]:
        return {name: p.default for name, p in inspect.signature(cls).parameters.items() if name != "params"}

    assert defaults(SGD) == dict(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False)
    assert defaults(Adam) == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False)
    assert defaults(AdamW) == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False)
    assert inspect.signature(SGD).parameters["maximize"].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(StepLR).parameters) == ["optimizer", "step_size", "gamma", "last_epoch"]
    assert list(inspect.signature(CosineAnnealingLR).parameters) == ["optimizer", "T_max", "eta_min", "last_epoch"]


def test_bad_parameters_are_pytorchs_errors() -> None:
    p = Parameter(np.ones(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="sets"):
        SGD({p}, lr=0.1)
    with pytest.raises(TypeError, match="ndarray"):
        SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.warns(UserWarning, match="duplicate"):
        SGD([p, p], lr=0.1)


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda ps: SGD(ps, lr=-0.1), "-0.1"),
    (lambda ps: SGD(ps, momentum=-0.5), "-0.5"),
    (lambda ps: SGD(ps, weight_decay=-1e-4), "-0.0001"),
    (lambda ps: SGD(ps, nesterov=True), "Nesterov"),
    (lambda ps: SGD(ps, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda ps: Adam(ps, lr=-1.0), "-1.0"),
    (lambda ps: Adam(ps, eps=-1e-8), "-1e-08"),
    (lambda ps: Adam(ps, betas=(1.0, 0.999)), "1.0"),
    (lambda ps: Adam(ps, betas=(0.9, -0.1)), "-0.1"),
    (lambda ps: AdamW(ps, weight_decay=-0.01), "-0.01"),
    (lambda ps: Adam(ps, lr=float("nan")), "nan"),
])
def test_invalid_hyperparameters_name_the_value(make: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace(".", r"\.").replace("+", r"\+")):
        make([Parameter(np.ones(1))])


def test_zero_grad_sets_none_or_zeros_in_place() -> None:
    p = Parameter(np.ones(2))
    optimizer = SGD([p], lr=0.1)
    p.grad = Tensor(np.ones(2), dtype=np.float64)
    grad_array = p.grad.data
    optimizer.zero_grad(set_to_none=False)
    assert p.grad.data is grad_array and np.array_equal(grad_array, [0.0, 0.0])
    optimizer.zero_grad()
    assert p.grad is None
    optimizer.zero_grad()  # no gradient: nothing to do


def test_step_with_a_closure_returns_its_loss_and_records_no_graph() -> None:
    x = Parameter(np.array([3.0, -1.0]))
    optimizer = Adam([x], lr=0.1)

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    class Counter:
        ops = 0

        def before(self, op: str, inputs: Any, attrs: Any) -> None:
            self.ops += 1

        def after(self, op: str, inputs: Any, attrs: Any, out: Any) -> None:
            pass

    loss = optimizer.step(closure)
    assert math.isclose(loss.item(), 10.0)
    counter = Counter()
    add_observer(counter)
    try:
        optimizer.step()
    finally:
        remove_observer(counter)
    assert counter.ops == 0, "a step works on the arrays: no tensor op is dispatched"
    assert x.grad_fn is None and x.is_leaf and x.requires_grad
    assert optimizer.step() is None


def test_repr_lists_each_group_like_pytorch() -> None:
    text = repr(Adam([Parameter(np.ones(1))], lr=0.01))
    assert text.startswith("Adam (\nParameter Group 0\n    amsgrad: False\n    betas: (0.9, 0.999)")
    assert "    lr: 0.01\n" in text and text.endswith(")")


# ---------------------------------------------------------------------------------------------
# In place: same array, no parameter-sized allocation per step
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1),
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-4),
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, maximize=True),
    lambda ps: Adam(ps, weight_decay=1e-4, amsgrad=True),
    lambda ps: AdamW(ps, maximize=True),
], ids=["sgd", "sgd-momentum-wd", "sgd-nesterov-maximize", "adam-wd-amsgrad", "adamw-maximize"])
def test_a_step_updates_in_place_and_allocates_almost_nothing(make: Any) -> None:
    p = Parameter(np.zeros((256, 256), dtype=np.float32))
    p.grad = Tensor(np.ones((256, 256), dtype=np.float32))
    array = p.data
    optimizer = make([p])
    optimizer.step()  # creates the state
    buffers = {k: v.data for k, v in optimizer.state[p].items() if isinstance(v, Tensor)}
    tracemalloc.start()
    try:
        optimizer.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.1 * p.nbytes, f"a step allocated {peak} bytes for a parameter of {p.nbytes}"
    assert p.data is array and not np.array_equal(array, 0)
    assert all(optimizer.state[p][k].data is buffer for k, buffer in buffers.items()), "state buffers updated in place"


def test_the_scratch_workspace_is_shared_and_sized_by_the_largest_parameter() -> None:
    small, large = Parameter(np.ones(3, dtype=np.float32)), Parameter(np.ones((10, 10), dtype=np.float32))
    wide = Parameter(np.ones(4))  # float64: a workspace of its own
    optimizer = Adam([small, large, wide])
    for p in (small, large, wide):
        p.grad = Tensor(np.ones(p.shape), dtype=p.dtype)
    optimizer.step()
    sizes = {dtype: flat.size for dtype, flat in optimizer._workspace.items()}
    assert sizes == {np.dtype(np.float32): 200, np.dtype(np.float64): 8}


# ---------------------------------------------------------------------------------------------
# state_dict / load_state_dict
# ---------------------------------------------------------------------------------------------
def gradients_at(params: list[Parameter], step: int) -> None:
    for i, p in enumerate(params):
        p.grad = Tensor(np.sin(3 * p.data + i + step), dtype=p.dtype)


@pytest.mark.parametrize("make", [
    lambda groups: SGD(groups, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda groups: Adam(groups, lr=0.05, amsgrad=True),
    lambda groups: AdamW(groups, lr=0.05, weight_decay=0.1, maximize=True),
], ids=["sgd", "adam", "adamw"])
def test_state_dict_round_trip_continues_bit_identically(make: Any) -> None:
    rng = np.random.default_rng(3)
    params_a = [Parameter(rng.standard_normal((4, 3)).astype(np.float32)), Parameter(rng.standard_normal(3).astype(np.float32))]
    opt_a = make([{"params": params_a[:1]}, {"params": params_a[1:], "lr": 0.01}])
    for step in range(5):
        gradients_at(params_a, step)
        opt_a.step()
    params_b = [Parameter(p.data.copy()) for p in params_a]
    opt_b = make([{"params": params_b[:1]}, {"params": params_b[1:]}])
    saved = opt_a.state_dict()
    opt_b.load_state_dict(saved)
    assert opt_b.param_groups[1]["lr"] == 0.01 and opt_b.param_groups[1]["params"][0] is params_b[1]
    for step in range(5, 10):
        for params, opt in ((params_a, opt_a), (params_b, opt_b)):
            gradients_at(params, step)
            opt.step()
    for p, q in zip(params_a, params_b):
        assert np.array_equal(p.data, q.data)
    # the saved dict is a snapshot: later steps did not change it, and B does not share A's buffers
    for values in saved["state"].values():
        for name, value in values.items():
            if isinstance(value, Tensor):
                assert all(value.data is not v.data for s in opt_a.state.values() for v in s.values() if isinstance(v, Tensor))
                assert all(value.data is not v.data for s in opt_b.state.values() for v in s.values() if isinstance(v, Tensor))


def test_state_dict_format_is_pytorchs() -> None:
    a, b, c = Parameter(np.ones(2)), Parameter(np.ones(3)), Parameter(np.ones(1))
    optimizer = Adam([{"params": [a, b]}, {"params": [c], "lr": 0.1}])
    b.grad = Tensor(np.ones(3), dtype=np.float64)
    optimizer.step()
    state = optimizer.state_dict()
    assert set(state) == {"state", "param_groups"}
    assert list(state["state"]) == [1] and set(state["state"][1]) == {"step", "exp_avg", "exp_avg_sq"}
    assert state["state"][1]["step"] == 1
    assert [g["params"] for g in state["param_groups"]] == [[0, 1], [2]]
    assert list(state["param_groups"][0])[-1] == "params"
    assert state["param_groups"][1] == dict(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                                            maximize=False, params=[2])


def test_load_state_dict_rejects_a_different_layout() -> None:
    a, b = Parameter(np.ones(2)), Parameter(np.ones(3))
    source = SGD([a, b], lr=0.1, momentum=0.9)
    a.grad = b.grad = None
    with pytest.raises(ValueError, match="number of parameter groups"):
        SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(source.state_dict())
    with pytest.raises(ValueError, match="size of optimizer's group"):
        SGD([a], lr=0.1).load_state_dict(source.state_dict())
    a.grad = Tensor(np.ones(2), dtype=np.float64)
    source.step()
    with pytest.raises(ValueError, match=r"\(2,\)"):
        SGD([Parameter(np.ones(5)), b], lr=0.1).load_state_dict(source.state_dict())


def test_load_state_dict_casts_to_the_parameter_dtype() -> None:
    p = Parameter(np.ones(2))
    source = Adam([p])
    p.grad = Tensor(np.ones(2), dtype=np.float64)
    source.step()
    q = Parameter(np.ones(2, dtype=np.float32))
    target = Adam([q])
    target.load_state_dict(source.state_dict())
    assert target.state[q]["exp_avg"].dtype == np.float32 and target.state[q]["step"] == 1


# ---------------------------------------------------------------------------------------------
# Schedulers
# ---------------------------------------------------------------------------------------------
def lrs_over(scheduler: LRScheduler, optimizer: Optimizer, epochs: int) -> list[list[float]]:
    rates = []
    for _ in range(epochs):
        rates.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return rates


def two_group_sgd() -> SGD:
    return SGD([{"params": [Parameter(np.ones(1))]}, {"params": [Parameter(np.ones(1))], "lr": 0.5}], lr=0.1)


def test_steplr_sequence() -> None:
    optimizer = two_group_sgd()
    scheduler = StepLR(optimizer, step_size=3, gamma=0.5)
    assert scheduler.last_epoch == 0 and [g["initial_lr"] for g in optimizer.param_groups] == [0.1, 0.5]
    rates = lrs_over(scheduler, optimizer, 10)
    for epoch, row in enumerate(rates):
        np.testing.assert_allclose(row, [base * 0.5 ** (epoch // 3) for base in (0.1, 0.5)], rtol=1e-15)
    assert scheduler.last_epoch == 10 and scheduler.get_last_lr() == [g["lr"] for g in optimizer.param_groups]


def test_cosine_sequence_up_to_and_past_t_max() -> None:
    optimizer = two_group_sgd()
    scheduler = CosineAnnealingLR(optimizer, T_max=4, eta_min=0.01)
    rates = lrs_over(scheduler, optimizer, 13)
    for epoch, row in enumerate(rates):
        expected = [0.01 + (base - 0.01) * (1 + math.cos(math.pi * epoch / 4)) / 2 for base in (0.1, 0.5)]
        np.testing.assert_allclose(row, expected, rtol=1e-14)
    assert rates[4] == pytest.approx([0.01, 0.01]) and rates[8] == pytest.approx([0.1, 0.5])


def test_scheduler_state_round_trip_and_resume() -> None:
    optimizer = two_group_sgd()
    scheduler = StepLR(optimizer, step_size=2, gamma=0.1)
    for _ in range(3):
        scheduler.step()
    saved = scheduler.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 3 and saved["base_lrs"] == [0.1, 0.5]
    resumed_optimizer = two_group_sgd()
    resumed = StepLR(resumed_optimizer, step_size=2, gamma=0.1)
    resumed.load_state_dict(saved)
    resumed.step()
    scheduler.step()
    assert resumed.get_last_lr() == scheduler.get_last_lr() and resumed.last_epoch == 4


def test_scheduler_errors() -> None:
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(two_group_sgd(), step_size=2, last_epoch=5)
    with pytest.raises(TypeError, match="not an Optimizer"):
        StepLR("sgd", step_size=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step_size"):
        StepLR(two_group_sgd(), step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        CosineAnnealingLR(two_group_sgd(), T_max=0)


def test_resuming_with_last_epoch_continues_the_schedule() -> None:
    optimizer = two_group_sgd()
    StepLR(optimizer, step_size=2, gamma=0.1)  # sets initial_lr
    resumed = StepLR(optimizer, step_size=2, gamma=0.1, last_epoch=3)
    assert resumed.last_epoch == 4 and resumed.get_last_lr() == pytest.approx([0.1 * 0.01, 0.5 * 0.01])


# ---------------------------------------------------------------------------------------------
# PyTorch's own trajectories
# ---------------------------------------------------------------------------------------------
def replay(data: Any, name: str) -> tuple[np.ndarray, list[float]]:
    config = json.loads(str(data[f"{name}/config"]))
    shapes = [tuple(s) for s in config["shapes"]]
    start = data[f"{name}/trajectory"][0]
    sizes = [int(np.prod(s)) for s in shapes]
    params = [Parameter(chunk.reshape(s).copy()) for chunk, s in zip(np.split(start, np.cumsum(sizes)[:-1]), shapes)]
    targets = [data[f"{name}/target{i}"] for i in range(len(params))]
    curvatures = [data[f"{name}/curvature{i}"] for i in range(len(params))]
    classes: dict[str, Any] = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "StepLR": StepLR, "CosineAnnealingLR": CosineAnnealingLR}
    kwargs = dict(config["kwargs"])
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    groups: Any = params
    if config.get("groups"):
        groups = [{**{k: v for k, v in g.items() if k != "param_indices"}, "params": [params[i] for i in g["param_indices"]]}
                  for g in config["groups"]]
    optimizer = classes[config["optimizer"]](groups, **kwargs)
    scheduler = classes[config["scheduler"]](optimizer, **config["scheduler_kwargs"]) if config.get("scheduler") else None
    rows, rates = [start], []
    for _ in range(config["steps"]):
        rates.append(optimizer.param_groups[0]["lr"])
        for p, c, a in zip(params, targets, curvatures):
            x = p.data
            p.grad = Tensor(config["grad_sign"] * (a * (x - c) + x**3 / 10), dtype=np.float64)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        rows.append(np.concatenate([p.data.ravel() for p in params]))
    return np.stack(rows), rates


def test_the_trajectory_file_was_made_by_pytorch_and_covers_every_option() -> None:
    data = np.load(TRAJECTORIES, allow_pickle=False)
    assert str(data["generator"]).startswith("PyTorch ")
    configs = [json.loads(str(data[f"{name}/config"])) for name in data["names"]]
    used = {(c["optimizer"], k) for c in configs for k, v in c["kwargs"].items() if v not in (0, False)}
    for option in ("momentum", "dampening", "nesterov", "weight_decay", "maximize"):
        assert ("SGD", option) in used
    for option in ("amsgrad", "maximize", "weight_decay", "betas", "eps"):
        assert ("Adam", option) in used or ("AdamW", option) in used
    assert {c.get("scheduler") for c in configs} >= {"StepLR", "CosineAnnealingLR"}
    assert any(c.get("groups") for c in configs)


@pytest.mark.parametrize("name", [str(n) for n in np.load(TRAJECTORIES, allow_pickle=False)["names"]])
def test_matches_pytorchs_trajectory(name: str) -> None:
    data = np.load(TRAJECTORIES, allow_pickle=False)
    ours, rates = replay(data, name)
    np.testing.assert_allclose(rates, data[f"{name}/lr"], rtol=1e-12)
    theirs = data[f"{name}/trajectory"]
    assert not np.allclose(theirs[-1], theirs[0]), "the trajectory moves"
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_a_live_comparison_with_pytorch_when_installed(problem: Any) -> None:
    torch = pytest.importorskip("torch")
    start, grads = problem
    p = torch.tensor(start, requires_grad=True)
    optimizer = torch.optim.Adam([p], lr=0.01, amsgrad=True, weight_decay=0.1, foreach=False)
    for g in grads:
        p.grad = torch.from_numpy(g.copy())
        optimizer.step()
    np.testing.assert_allclose(run(Adam, start, grads, lr=0.01, amsgrad=True, weight_decay=0.1), p.detach().numpy(), rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# Namespaces and a training smoke test
# ---------------------------------------------------------------------------------------------
def test_namespaces_are_lazy_and_complete() -> None:
    code = (
        "import sys, tinytorch.optim, tinytorch.optim.lr_scheduler\n"
        "print(sorted(m for m in sys.modules if m.startswith('tinytorch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['tinytorch', 'tinytorch.nn', 'tinytorch.optim', 'tinytorch.optim.lr_scheduler']"
    assert {"SGD", "Adam", "AdamW", "Optimizer"} <= set(dir(optim))
    with pytest.raises(AttributeError, match="RMSprop"):
        optim.RMSprop  # noqa: B018


def test_training_a_small_mlp_lowers_its_loss() -> None:
    manual_seed(0)  # the layers draw from the global generator: without a seed the result depends on test order
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((64, 4)).astype(np.float32))
    y = Tensor(np.sin(x.data.sum(axis=1, keepdims=True)))
    model = Sequential(Linear(4, 16), ReLU(), Linear(16, 1))
    optimizer = AdamW(model.parameters(), lr=0.01)
    scheduler = CosineAnnealingLR(optimizer, T_max=100)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        diff = model(x) - y
        loss = (diff * diff).mean()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
