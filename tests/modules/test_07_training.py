"""Module 07: ``tinytorch.training`` (clip_grad_norm_, train_step, evaluate, Trainer, plot_history, checkpoints).

PyTorch semantics mirrored, written out since torch is not installed here:
``torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False)``
treats all gradients as one vector, returns the total norm before clipping as a 0-d tensor,
scales by ``max_norm / (total + 1e-6)`` (here only when ``total > max_norm``), accepts
``inf`` and raises RuntimeError for a non-finite total only when asked to.

The loss, optimizers and scheduler used here are written in this file from the published
rules, so these tests do not depend on Modules 05 and 06 (the integration test in
tests/examples uses those).
"""

from __future__ import annotations

import io
import json
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch.autograd  # noqa: F401  (gradients for .backward())
from tinytorch import training
from tinytorch.nn.layers import Linear, ReLU, Sequential
from tinytorch.tensor import Tensor, manual_seed, randn
from tinytorch.training import (
    CheckpointError,
    EpochProgress,
    History,
    Trainer,
    clip_grad_norm_,
    count_correct,
    evaluate,
    load_checkpoint,
    pack_state,
    plot_history,
    read_checkpoint,
    save_checkpoint,
    train_step,
    unpack_state,
    write_atomically,
)

PROPERTY = settings(max_examples=30, deadline=None, derandomize=True, database=None)


# ---------------------------------------------------------------------------------------------
# test-local parts: a loss, two optimizers and a scheduler from the published rules


def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean softmax cross-entropy from primitive ops (log-sum-exp with the max subtracted)."""
    top = logits.max(axis=1, keepdims=True).detach()
    log_z = (logits - top).exp().sum(axis=1, keepdims=True).log() + top
    picked = logits[np.arange(len(targets)), targets.numpy()]
    return (log_z.reshape(-1) - picked).mean()


class Momentum:
    """SGD with momentum, torch's rule: b = mu * b + g (b = g on the first step), p -= lr * b."""

    def __init__(self, params: Any, lr: float, momentum: float = 0.9) -> None:
        self.param_groups = [{"params": list(params), "lr": lr, "momentum": momentum}]
        self.state: dict[int, dict[str, Any]] = {}

    def zero_grad(self) -> None:
        for p in self.param_groups[0]["params"]:
            p.grad = None

    def step(self) -> None:
        group = self.param_groups[0]
        for index, p in enumerate(group["params"]):
            if p.grad is None:
                continue
            if index in self.state:
                buffer = self.state[index]["momentum_buffer"]
                buffer[...] = group["momentum"] * buffer + p.grad.data
            else:
                buffer = self.state.setdefault(index, {"momentum_buffer": p.grad.data.copy()})["momentum_buffer"]
            p.data -= group["lr"] * buffer

    def state_dict(self) -> dict[str, Any]:
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": list(range(len(g["params"])))}
                  for g in self.param_groups]
        return {"state": {i: {k: np.copy(v) for k, v in s.items()} for i, s in self.state.items()},
                "param_groups": groups}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = {i: {k: np.copy(v) for k, v in s.items()} for i, s in state["state"].items()}
        for group, saved in zip(self.param_groups, state["param_groups"]):
            group.update({k: v for k, v in saved.items() if k != "params"})


class AdamRule(Momentum):
    """Adam with bias correction (Kingma & Ba); state: step (an int), exp_avg, exp_avg_sq."""

    def __init__(self, params: Any, lr: float = 1e-2, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        self.param_groups[0].update(betas=betas, eps=eps)
        del self.param_groups[0]["momentum"]

    def step(self) -> None:
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        for index, p in enumerate(group["params"]):
            if p.grad is None:
                continue
            state = self.state.setdefault(index, {"step": 0, "exp_avg": np.zeros_like(p.data),
                                                  "exp_avg_sq": np.zeros_like(p.data)})
            state["step"] += 1
            g = p.grad.data
            state["exp_avg"][...] = beta1 * state["exp_avg"] + (1 - beta1) * g
            state["exp_avg_sq"][...] = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
            m_hat = state["exp_avg"] / (1 - beta1 ** state["step"])
            v_hat = state["exp_avg_sq"] / (1 - beta2 ** state["step"])
            p.data -= (group["lr"] * m_hat / (np.sqrt(v_hat) + group["eps"])).astype(p.data.dtype)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for entry in self.state.values():
            entry["step"] = int(entry["step"])


class HalvingLR:
    """StepLR(step_size, gamma): lr = base * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer: Momentum, step_size: int = 1, gamma: float = 0.5) -> None:
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.base = optimizer.param_groups[0]["lr"]
        self.last_epoch = 0

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.param_groups[0]["lr"] = self.base * self.gamma ** (self.last_epoch // self.step_size)

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "base": self.base, "step_size": self.step_size, "gamma": self.gamma}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_epoch, self.base = state["last_epoch"], state["base"]
        self.step_size, self.gamma = state["step_size"], state["gamma"]


class Loader:
    """Shuffled (inputs, targets) batches from a NumPy generator, like Module 08's DataLoader."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None = 0) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.generator = None if seed is None else np.random.default_rng(seed)

    def __iter__(self):
        order = np.arange(len(self.y)) if self.generator is None else self.generator.permutation(len(self.y))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            yield Tensor(self.x[rows]), Tensor(self.y[rows], dtype=np.int64)

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)


def blobs(n: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs in 8-d: a small learnable classification problem."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = rng.standard_normal((3, 8)) * 3
    return (centers[y] + rng.standard_normal((n, 8))).astype(np.float32), y.astype(np.int64)


def mlp(seed: int = 0) -> Sequential:
    manual_seed(seed)
    return Sequential(Linear(8, 16), ReLU(), Linear(16, 3))


def grads_of(*arrays: Any) -> list[Tensor]:
    """Parameters whose gradients are ``arrays``, set by a real backward pass: d/dp sum(p * g) = g."""
    params = [Tensor(np.ones(np.shape(a)), requires_grad=True) for a in arrays]
    sum((p * Tensor(a)).sum() for p, a in zip(params, arrays)).backward()
    return params


def flat_grads(params: list[Tensor]) -> np.ndarray:
    return np.concatenate([p.grad.numpy().ravel() for p in params]).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# clip_grad_norm_


@PROPERTY
@given(
    shapes=st.lists(st.sampled_from([(3,), (2, 4), (1,), (5, 1)]), min_size=1, max_size=4),
    norm_type=st.sampled_from([0.5, 1.0, 2.0, 3.0, math.inf]),
    max_norm=st.floats(0.01, 20.0),
    seed=st.integers(0, 1000),
)
def test_clip_matches_the_norm_of_all_gradients_as_one_vector(shapes, norm_type, max_norm, seed):
    rng = np.random.default_rng(seed)
    params = grads_of(*[rng.standard_normal(shape) * 3 for shape in shapes])
    before = flat_grads(params)
    expected = np.abs(before).max() if math.isinf(norm_type) else (np.abs(before) ** norm_type).sum() ** (1 / norm_type)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert isinstance(total, Tensor) and total.shape == () and total.dtype == np.float32
    np.testing.assert_allclose(total.item(), expected, rtol=1e-5)
    after = flat_grads(params)
    if expected > max_norm:
        np.testing.assert_allclose(after, before * max_norm / (expected + 1e-6), rtol=1e-5)
        new_norm = np.abs(after).max() if math.isinf(norm_type) else (np.abs(after) ** norm_type).sum() ** (1 / norm_type)
        assert new_norm <= max_norm * (1 + 1e-5)
    else:
        np.testing.assert_array_equal(after, before)


def test_clip_scales_in_place_and_keeps_dtype():
    params = grads_of([3.0, 4.0], [[0.0]])
    arrays = [p.grad.data for p in params]
    clip_grad_norm_(params, 1.0)
    assert all(p.grad.data is a for p, a in zip(params, arrays))
    assert all(p.grad.dtype == np.float32 for p in params)
    np.testing.assert_allclose(params[0].grad.numpy(), np.array([3.0, 4.0]) / (5 + 1e-6), rtol=1e-6)


def test_clip_float64_gradients_give_a_float64_total():
    p = Tensor(np.zeros(2), dtype=np.float64, requires_grad=True)
    p.grad = Tensor([3.0, 4.0], dtype=np.float64)
    total = clip_grad_norm_([p], 10.0)
    assert total.dtype == np.float64 and total.item() == 5.0


def test_clip_at_exactly_max_norm_changes_nothing():
    params = grads_of([3.0, 4.0])  # norm exactly 5 in float32 and float64
    assert clip_grad_norm_(params, 5.0).item() == 5.0
    np.testing.assert_array_equal(params[0].grad.numpy(), np.float32([3.0, 4.0]))


def test_clip_accepts_a_tensor_a_generator_and_skips_missing_grads():
    single = grads_of([6.0, 8.0])[0]
    assert clip_grad_norm_(single, 100.0).item() == pytest.approx(10.0)
    params = grads_of([6.0, 8.0]) + [Tensor([1.0], requires_grad=True)]
    assert clip_grad_norm_((p for p in params), 1.0).item() == pytest.approx(10.0)
    assert clip_grad_norm_([Tensor([1.0], requires_grad=True)], 1.0).item() == 0.0
    assert clip_grad_norm_([], 1.0).item() == 0.0


def test_clip_non_finite():
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(grads_of([np.inf, 1.0]), 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(grads_of([np.nan, 1.0]), 1.0, error_if_nonfinite=True)
    params = grads_of([np.nan, 1.0])
    assert math.isnan(clip_grad_norm_(params, 1.0).item())  # as torch: scaled by a nan factor
    assert np.isnan(params[0].grad.numpy()).all()


@pytest.mark.parametrize("kwargs", [{"norm_type": 0}, {"norm_type": -2.0}, {"max_norm": -1.0}])
def test_clip_rejects_bad_arguments(kwargs):
    arguments = {"max_norm": 1.0, **kwargs}
    with pytest.raises(ValueError):
        clip_grad_norm_(grads_of([1.0]), **arguments)


def test_clip_is_reachable_as_torch_names_it():
    from tinytorch.nn.utils import clip_grad_norm_ as from_utils

    assert from_utils is clip_grad_norm_


# ---------------------------------------------------------------------------------------------
# train_step and evaluate


class Watched(Momentum):
    def __init__(self, params: Any, lr: float) -> None:
        super().__init__(params, lr, momentum=0.0)
        self.calls: list[str] = []
        self.seen: list[np.ndarray] = []

    def zero_grad(self) -> None:
        self.calls.append("zero_grad")
        super().zero_grad()

    def step(self) -> None:
        self.calls.append("step")
        self.seen.append(np.concatenate([p.grad.numpy().ravel() for p in self.param_groups[0]["params"]]))
        super().step()


def test_train_step_order_loss_and_outputs():
    x, y = blobs(20)
    model = mlp()
    optimizer = Watched(model.parameters(), lr=0.0)
    expected = cross_entropy(model(Tensor(x)), Tensor(y, dtype=np.int64)).item()
    loss, outputs = train_step(model, cross_entropy, optimizer, Tensor(x), Tensor(y, dtype=np.int64))
    loss_again, _ = train_step(model, cross_entropy, optimizer, Tensor(x), Tensor(y, dtype=np.int64))
    assert isinstance(loss, float) and loss == pytest.approx(expected, rel=1e-6)
    assert outputs.shape == (20, 3) and outputs.grad_fn is None and not outputs.requires_grad
    assert optimizer.calls == ["zero_grad", "step", "zero_grad", "step"]
    np.testing.assert_allclose(optimizer.seen[0], optimizer.seen[1], rtol=1e-6)  # lr 0: no accumulation


def test_train_step_clips_before_the_update():
    x, y = blobs(20)
    model = mlp()
    optimizer = Watched(model.parameters(), lr=0.1)
    train_step(model, cross_entropy, optimizer, Tensor(x), Tensor(y, dtype=np.int64), max_grad_norm=1e-3)
    assert np.linalg.norm(optimizer.seen[0]) <= 1e-3 * (1 + 1e-5)


def test_train_step_learns():
    x, y = blobs(150)
    model = mlp()
    optimizer = Momentum(model.parameters(), lr=0.05)
    losses = [train_step(model, cross_entropy, optimizer, Tensor(x), Tensor(y, dtype=np.int64))[0] for _ in range(40)]
    assert losses[-1] < 0.5 * losses[0]


def test_evaluate_weights_batches_by_size_and_restores_mode():
    x, y = blobs(107)
    model = mlp(1)
    result = evaluate(model, cross_entropy, Loader(x, y, 25, seed=None))  # 25, 25, 25, 25, 7
    logits = model(Tensor(x)).numpy().astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert result["samples"] == 107
    assert result["loss"] == pytest.approx(-log_probs[np.arange(107), y].mean(), rel=1e-5)
    assert result["accuracy"] == pytest.approx((logits.argmax(axis=1) == y).mean())
    assert model.training
    model.eval()
    evaluate(model, cross_entropy, Loader(x, y, 25, seed=None))
    assert not model.training


def test_evaluate_runs_in_eval_mode_without_a_graph():
    x, y = blobs(30)
    model = mlp()
    seen: list[tuple[bool, bool]] = []
    model.register_forward_hook(lambda module, args, output: seen.append((module.training, output.grad_fn is not None)))
    evaluate(model, cross_entropy, Loader(x, y, 10, seed=None))
    assert seen == [(False, False)] * 3


def test_evaluate_restores_the_mode_after_an_error_and_rejects_empty_data():
    def failing(outputs: Tensor, targets: Tensor) -> Tensor:
        raise ArithmeticError("loss failed")

    x, y = blobs(30)
    model = mlp()
    with pytest.raises(ArithmeticError):
        evaluate(model, failing, Loader(x, y, 10, seed=None))
    assert model.training
    with pytest.raises(ValueError, match="no batches"):
        evaluate(model, cross_entropy, [])


def test_evaluate_regression_has_no_accuracy():
    def mse(outputs: Tensor, targets: Tensor) -> Tensor:
        return ((outputs - targets) ** 2).mean()

    data = [(Tensor(np.ones((4, 2))), Tensor(np.zeros((4, 2)))), (Tensor(np.ones((2, 2))), Tensor(np.ones((2, 2))))]
    result = evaluate(Sequential(), mse, data)
    assert result["accuracy"] is None and result["loss"] == pytest.approx(4 / 6)


def test_count_correct():
    outputs = Tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert count_correct(outputs, Tensor([1, 0, 0], dtype=np.int64)) == 2
    sequence = Tensor(np.eye(3)[None].repeat(2, axis=0))  # (2, 3, 3): per-position classes 0, 1, 2
    assert count_correct(sequence, Tensor([[0, 1, 2], [0, 0, 0]], dtype=np.int64)) == 4
    assert count_correct(outputs, Tensor([1.0, 0.0, 0.0])) is None  # float targets: not classes
    assert count_correct(outputs, Tensor([1, 0], dtype=np.int64)) is None  # shapes do not pair up


# ---------------------------------------------------------------------------------------------
# Trainer, History, progress, plot_history


def test_fit_history_scheduler_and_epochs():
    x, y = blobs(150)
    model = mlp()
    optimizer = Momentum(model.parameters(), lr=0.1)
    trainer = Trainer(model, cross_entropy, optimizer, scheduler=HalvingLR(optimizer), progress=False)
    history = trainer.fit(Loader(x, y, 32), 3, val_data=Loader(x[:50], y[:50], 50, seed=None))
    assert history is trainer.history and isinstance(history, History) and len(history) == 3
    assert history.metric("epoch") == [1, 2, 3] and trainer.epoch == 3
    assert history.metric("lr") == [0.1, 0.05, 0.025]
    assert set(history[0]) == set(training.HISTORY_KEYS)
    assert all(0 <= r["train_accuracy"] <= 1 and 0 <= r["val_accuracy"] <= 1 and r["seconds"] > 0 for r in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_loss"] == pytest.approx(trainer.evaluate(Loader(x[:50], y[:50], 50, seed=None))["loss"])
    trainer.fit(Loader(x, y, 32), 1)
    assert trainer.history.metric("epoch") == [1, 2, 3, 4] and trainer.history[-1]["val_loss"] is None
    assert trainer.fit(Loader(x, y, 32), 0) is trainer.history and len(trainer.history) == 4
    with pytest.raises(KeyError, match="val_loss"):
        history.metric("val_los")


def test_fit_train_loss_is_the_sample_weighted_mean_of_the_steps():
    x, y = blobs(70)
    losses: list[tuple[float, int]] = []

    def recording_loss(outputs: Tensor, targets: Tensor) -> Tensor:
        loss = cross_entropy(outputs, targets)
        losses.append((loss.item(), len(targets)))
        return loss

    model = mlp()
    trainer = Trainer(model, recording_loss, Momentum(model.parameters(), 0.1), progress=False)
    trainer.fit(Loader(x, y, 32), 1)
    assert [n for _, n in losses] == [32, 32, 6]
    weighted = sum(loss * n for loss, n in losses) / 70
    assert trainer.history[0]["train_loss"] == pytest.approx(weighted, rel=1e-9)
    assert weighted != pytest.approx(np.mean([loss for loss, _ in losses]), rel=1e-6)  # the check tells them apart


def test_fit_passes_max_grad_norm_to_each_step():
    x, y = blobs(40)
    model = mlp()
    optimizer = Watched(model.parameters(), lr=0.1)
    Trainer(model, cross_entropy, optimizer, max_grad_norm=1e-3, progress=False).fit(Loader(x, y, 20), 1)
    assert len(optimizer.seen) == 2 and all(np.linalg.norm(g) <= 1e-3 * (1 + 1e-5) for g in optimizer.seen)


def test_fit_rejects_bad_arguments():
    model = mlp()
    trainer = Trainer(model, cross_entropy, Momentum(model.parameters(), 0.1), progress=False)
    for epochs in (-1, 1.5, True):
        with pytest.raises(ValueError, match="epochs"):
            trainer.fit([], epochs)
    with pytest.raises(ValueError, match="no batches"):
        trainer.fit([], 1)
    with pytest.raises(TypeError, match="Module"):
        Trainer(lambda x: x, cross_entropy, None)


def test_progress_prints_one_line_per_epoch(capsys):
    x, y = blobs(40)
    model = mlp()
    Trainer(model, cross_entropy, Momentum(model.parameters(), 0.1)).fit(Loader(x, y, 20), 2, Loader(x, y, 40))
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch   1") and "val loss" in lines[1]


def test_epoch_progress_draws_on_a_terminal_and_throttles():
    from rich.console import Console

    counts = {}
    for refresh in (0.0, 3600.0):
        screen = io.StringIO()
        with EpochProgress(50, "epoch 1", refresh, console=Console(file=screen, force_terminal=True, width=80)) as bar:
            for _ in range(50):
                bar.advance("loss 1.0")
        counts[refresh] = screen.getvalue().count("epoch 1")
        assert bar.done == 50
    assert counts[0.0] >= 50 and counts[3600.0] <= 3  # every batch vs the first draw (and the final one)
    silent = io.StringIO()
    with EpochProgress(5, "epoch 1", console=Console(file=silent, force_terminal=False)) as bar:
        for _ in range(5):
            bar.advance()
    assert silent.getvalue() == "" and bar.done == 5


def test_trainer_draws_its_bar_on_the_console_it_is_given(capsys):
    import time

    from rich.console import Console

    x, y = blobs(40)

    class SlowLoader(Loader):  # 4 batches of 0.05 s: the bar starts 0.1 s into the epoch
        def __iter__(self):
            for batch in super().__iter__():
                time.sleep(0.05)
                yield batch

    model = mlp()
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, force_jupyter=False, width=80)
    Trainer(model, cross_entropy, Momentum(model.parameters(), 0.1), console=console).fit(SlowLoader(x, y, 10), 1)
    assert "epoch 1 loss" in screen.getvalue()  # the bar, with the running loss
    assert "epoch   1 | train loss" in screen.getvalue()  # the epoch's line
    assert capsys.readouterr().out == ""
    quick = io.StringIO()
    fast_console = Console(file=quick, force_terminal=True, force_jupyter=False, width=80)
    Trainer(model, cross_entropy, Momentum(model.parameters(), 0.1), console=fast_console).fit(Loader(x, y, 20), 1)
    assert "epoch 1 loss" not in quick.getvalue() and "epoch   1 | train loss" in quick.getvalue()


def test_the_bar_is_shown_in_jupyter_and_not_in_a_pipe():
    from rich.console import Console

    assert EpochProgress(3, "epoch 1", console=Console(file=io.StringIO(), force_jupyter=True)).shown
    assert not EpochProgress(3, "epoch 1", console=Console(file=io.StringIO(), force_jupyter=False)).shown


def test_plot_history_draws_and_writes_a_png(tmp_path):
    from matplotlib.figure import Figure

    history = History([{"epoch": e, "train_loss": 1 / e, "train_accuracy": 0.5 + e / 10, "val_loss": None,
                        "val_accuracy": None, "lr": 0.1, "seconds": 0.1} for e in (1, 2, 3)])
    path = tmp_path / "deep" / "folder" / "curve.png"
    figure = plot_history(history, path)
    assert isinstance(figure, Figure)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loss_axes, accuracy_axes = figure.axes
    assert [line.get_label() for line in loss_axes.lines] == ["train"]  # val is None: left out
    np.testing.assert_allclose(accuracy_axes.lines[0].get_ydata(), [60, 70, 80])
    assert figure._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"  # what a notebook displays
    with pytest.raises(ValueError, match="empty"):
        plot_history([])


# ---------------------------------------------------------------------------------------------
# pack_state / unpack_state


def test_pack_round_trips_nested_state_with_dtypes():
    state = {"a": Tensor(np.arange(6.0).reshape(2, 3)), "state": {0: {"step": np.int64(7), "buf": np.ones(3, np.float64)},
             3: {"flag": np.bool_(True)}}, "betas": (0.9, 0.999), "lst": [1, "x", None, 2.5, False, float("inf")],
             "__weird": {"k": -0.0}, "i32": np.array([1, 2], dtype=np.int32)}
    arrays: dict[str, np.ndarray] = {}
    packed = pack_state(state, arrays)
    text = json.dumps(packed)
    back = unpack_state(json.loads(text), arrays)
    assert isinstance(back["a"], Tensor) and back["a"].dtype == np.float32
    np.testing.assert_array_equal(back["a"].numpy(), state["a"].numpy())
    assert back["state"][0]["step"] == 7 and type(back["state"][0]["step"]) is np.int64
    assert back["state"][0]["buf"].dtype == np.float64 and back["state"][3]["flag"] is np.True_
    assert back["betas"] == (0.9, 0.999) and back["lst"][:5] == [1, "x", None, 2.5, False] and back["lst"][5] == math.inf
    assert math.copysign(1, back["__weird"]["k"]) == -1 and back["i32"].dtype == np.int32


def test_pack_refuses_what_needs_pickle():
    with pytest.raises(TypeError, match="pickle"):
        pack_state({"x": np.array([{}], dtype=object)}, {})
    with pytest.raises(TypeError, match="set"):
        pack_state({"x": {1, 2}}, {})


@pytest.mark.parametrize("packed", [{"__array__": "a9"}, {"__mystery__": 1}, {"__tensor__": 3}, 1j])
def test_unpack_rejects_broken_structures(packed):
    with pytest.raises(CheckpointError, match="here.npz"):
        unpack_state(packed, {"a0": np.zeros(1)}, where="here.npz")


# ---------------------------------------------------------------------------------------------
# write_atomically and save_checkpoint's atomicity


def test_write_atomically_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "file.bin"
    names = []

    def writer(handle):
        names.append(handle.name)
        handle.write(b"one")

    write_atomically(target, writer)
    assert target.read_bytes() == b"one" and Path(names[0]).parent == tmp_path and Path(names[0]) != target

    def half(handle):
        handle.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, half)
    assert target.read_bytes() == b"one" and [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_a_save_that_fails_midway_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = mlp()
    path = tmp_path / "run.npz"
    save_checkpoint(path, model, epoch=1)
    good = path.read_bytes()

    def write_half_then_fail(handle, entries):
        buffer = io.BytesIO()
        np.savez(buffer, **entries)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError("the disk filled up")

    monkeypatch.setattr(training, "write_entries", write_half_then_fail)
    with pytest.raises(OSError, match="filled up"):
        save_checkpoint(path, mlp(5), epoch=2)
    assert path.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]
    assert load_checkpoint(path, mlp(9))["epoch"] == 1


def test_save_refuses_unsavable_extra_before_touching_the_file(tmp_path):
    path = tmp_path / "run.npz"
    save_checkpoint(path, mlp(), epoch=1)
    good = path.read_bytes()
    with pytest.raises(TypeError):
        save_checkpoint(path, mlp(), epoch=2, extra={"callback": print})
    assert path.read_bytes() == good


def test_save_creates_folders_and_needs_no_pickle(tmp_path):
    path = tmp_path / "a" / "b" / "run.npz"
    model = mlp()
    optimizer = AdamRule(model.parameters())
    x, y = blobs(20)
    train_step(model, cross_entropy, optimizer, Tensor(x), Tensor(y, dtype=np.int64))
    save_checkpoint(path, model, optimizer, epoch=3, history=[{"epoch": 1}], extra={"note": "hi", "sizes": (8, 16)})
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
    fresh = mlp(7)
    fresh_optimizer = AdamRule(fresh.parameters())
    info = load_checkpoint(path, fresh, fresh_optimizer)
    assert info["epoch"] == 3 and info["history"] == [{"epoch": 1}] and info["extra"] == {"note": "hi", "sizes": (8, 16)}
    for a, b in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert fresh_optimizer.state[0]["step"] == 1
    np.testing.assert_array_equal(fresh_optimizer.state[2]["exp_avg_sq"], optimizer.state[2]["exp_avg_sq"])


# ---------------------------------------------------------------------------------------------
# read_checkpoint and load_checkpoint: what they refuse


@pytest.fixture
def saved(tmp_path) -> Path:
    model = mlp()
    optimizer = Momentum(model.parameters(), 0.1)
    x, y = blobs(20)
    train_step(model, cross_entropy, optimizer, Tensor(x), Tensor(y, dtype=np.int64))
    save_checkpoint(tmp_path / "good.npz", model, optimizer, HalvingLR(optimizer), epoch=1)
    return tmp_path / "good.npz"


def damaged_copies(saved: Path) -> dict[str, Path]:
    data = saved.read_bytes()
    folder = saved.parent
    files = {"truncated": data[: len(data) // 2], "empty": b"", "text": b"epoch,loss\n1,0.5\n"}
    flipped = bytearray(data)
    with zipfile.ZipFile(saved) as archive:
        start = archive.getinfo("a0.npy").header_offset
    name_length, extra_length = int.from_bytes(data[start + 26:start + 28], "little"), int.from_bytes(
        data[start + 28:start + 30], "little")
    flipped[start + 30 + name_length + extra_length + 200] ^= 0xFF  # inside a0's stored bytes: its checksum fails
    files["flipped"] = bytes(flipped)
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name}.npz"
        paths[name].write_bytes(content)
    np.save(folder / "array.npy", np.zeros(3))
    paths["npy"] = folder / "array.npy"
    return paths


@pytest.mark.parametrize("kind", ["truncated", "empty", "text", "flipped", "npy"])
def test_damaged_files_raise_checkpoint_error_naming_the_file(saved, kind):
    path = damaged_copies(saved)[kind]
    with pytest.raises(CheckpointError, match=path.name) as error:
        load_checkpoint(path, mlp())
    assert isinstance(error.value, ValueError)


def header_file(path: Path, header: Any, **arrays: np.ndarray) -> Path:
    arrays["checkpoint"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("header", [{"format": "other", "version": 1}, {"format": "tinytorch-checkpoint", "version": 2},
                                    ["not", "a", "dict"]])
def test_foreign_headers_are_refused(tmp_path, header):
    path = header_file(tmp_path / "x.npz", header)
    with pytest.raises(CheckpointError, match="x.npz"):
        read_checkpoint(path)


def test_missing_header_and_missing_file(tmp_path):
    np.savez(tmp_path / "plain.npz", a0=np.zeros(2))
    with pytest.raises(CheckpointError, match="plain.npz"):
        read_checkpoint(tmp_path / "plain.npz")
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path / "nothing.npz")


def test_a_reference_to_a_missing_entry_is_refused(tmp_path):
    header = {"format": "tinytorch-checkpoint", "version": 1, "epoch": 0, "model": {"0.weight": {"__tensor__": "a7"}}}
    with pytest.raises(CheckpointError, match="a7"):
        load_checkpoint(header_file(tmp_path / "ref.npz", header), mlp())


class Detonator:
    """Unpickling this object would create a file: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code from the checkpoint ran"))


def test_loading_never_runs_code_from_the_file(tmp_path):
    marker = tmp_path / "ran.txt"
    (tmp_path / "evil.npz").write_bytes(pickle.dumps(Detonator(marker)))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.npz", mlp())
    header = {"format": "tinytorch-checkpoint", "version": 1}
    np.savez(tmp_path / "evil2.npz", a0=np.array([Detonator(marker)], dtype=object),
             checkpoint=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    with pytest.raises(CheckpointError, match="evil2.npz"):
        load_checkpoint(tmp_path / "evil2.npz", mlp())
    assert not marker.exists()


def test_mismatches_are_reported_and_change_nothing(saved):
    wider = Sequential(Linear(8, 32), ReLU(), Linear(32, 3))
    before = [p.numpy().copy() for p in wider.parameters()]
    with pytest.raises(CheckpointError, match=r"0\.weight.*\(16, 8\).*\(32, 8\)"):
        load_checkpoint(saved, wider)
    assert all(np.array_equal(a, p.numpy()) for a, p in zip(before, wider.parameters()))
    deeper = Sequential(Linear(8, 16), ReLU(), Linear(16, 3), ReLU(), Linear(3, 3))
    with pytest.raises(CheckpointError, match="4.weight"):
        load_checkpoint(saved, deeper)
    model = mlp(3)
    with pytest.raises(CheckpointError, match="Momentum.*AdamRule"):
        load_checkpoint(saved, model, AdamRule(model.parameters()))
    with pytest.raises(CheckpointError, match="sizes"):
        load_checkpoint(saved, model, Momentum(list(model.parameters())[:2], 0.1))
    save_checkpoint(saved.parent / "bare.npz", model, epoch=0)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(saved.parent / "bare.npz", model, Momentum(model.parameters(), 0.1))
    before = [p.numpy().copy() for p in model.parameters()]
    optimizer = Momentum(model.parameters(), 0.1)
    with pytest.raises(CheckpointError, match="no scheduler state"):
        load_checkpoint(saved.parent / "bare.npz", model, None, HalvingLR(optimizer))
    assert all(np.array_equal(a, p.numpy()) for a, p in zip(before, model.parameters()))


def test_optimizer_state_of_the_wrong_shape_is_refused(tmp_path):
    model = mlp()
    optimizer = Momentum(model.parameters(), 0.1)
    optimizer.state = {0: {"momentum_buffer": np.zeros((3, 3), np.float32)}}
    save_checkpoint(tmp_path / "odd.npz", model, optimizer, epoch=0)
    fresh = mlp()
    with pytest.raises(CheckpointError, match=r"momentum_buffer.*\(3, 3\).*\(16, 8\)"):
        load_checkpoint(tmp_path / "odd.npz", fresh, Momentum(fresh.parameters(), 0.1))


def test_random_generators_are_restored(tmp_path):
    model = mlp()
    loader = Loader(*blobs(30), batch_size=10, seed=4)
    list(loader)
    manual_seed(11)
    randn(5)
    save_checkpoint(tmp_path / "rng.npz", model, epoch=0, data=loader)
    expected_global, expected_order = randn(4).numpy(), loader.generator.permutation(30)
    manual_seed(0)
    fresh_loader = Loader(*blobs(30), batch_size=10, seed=4)
    info = load_checkpoint(tmp_path / "rng.npz", mlp(), data=fresh_loader)
    np.testing.assert_array_equal(randn(4).numpy(), expected_global)
    np.testing.assert_array_equal(fresh_loader.generator.permutation(30), expected_order)
    assert info["data_rng"]["bit_generator"] == "PCG64"


def test_resuming_into_data_without_a_generator_warns(tmp_path):
    x, y = blobs(40)

    def new_trainer() -> Trainer:
        model = mlp()
        return Trainer(model, cross_entropy, Momentum(model.parameters(), 0.1), progress=False)

    first = new_trainer()
    first.fit(Loader(x, y, 20), 1)
    first.save_checkpoint(tmp_path / "t.npz")
    again = new_trainer()
    again.load_checkpoint(tmp_path / "t.npz")
    with pytest.warns(UserWarning, match="another order"):
        again.fit(Loader(x, y, 20, seed=None), 1)
    assert again.history.metric("epoch") == [1, 2]


# ---------------------------------------------------------------------------------------------
# bit-for-bit resume


def run(tmp_path: Path, make_optimizer: Any, split_at: int | None, epochs: int = 4) -> Trainer:
    x, y = blobs(150)

    def build() -> tuple[Trainer, Loader]:
        model = mlp(2)
        optimizer = make_optimizer(model.parameters())
        trainer = Trainer(model, cross_entropy, optimizer, scheduler=HalvingLR(optimizer, 2, 0.5),
                          max_grad_norm=5.0, progress=False)
        return trainer, Loader(x, y, 32, seed=1)

    trainer, loader = build()
    val = Loader(x[:40], y[:40], 40, seed=None)
    if split_at is None:
        trainer.fit(loader, epochs, val)
        return trainer
    trainer.fit(loader, split_at, val)
    trainer.save_checkpoint(tmp_path / "resume.npz")
    manual_seed(123)  # the restarted program's global generator is elsewhere: the checkpoint must fix it
    trainer, loader = build()
    trainer.load_checkpoint(tmp_path / "resume.npz")
    trainer.fit(loader, epochs - split_at, val)
    return trainer


@pytest.mark.parametrize("make_optimizer", [lambda ps: Momentum(ps, 0.05, 0.9), lambda ps: AdamRule(ps, 1e-2)],
                         ids=["sgd-momentum", "adam"])
def test_resume_is_bit_for_bit(tmp_path, make_optimizer):
    straight = run(tmp_path, make_optimizer, None)
    resumed = run(tmp_path, make_optimizer, 2)
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert np.array_equal(a.numpy(), b.numpy())
    for key in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        assert straight.history.metric(key) == resumed.history.metric(key), key


def test_resume_without_the_optimizer_state_differs(tmp_path):
    """The check above can fail: restoring the weights and generators alone gives another trajectory."""
    straight = run(tmp_path, lambda ps: Momentum(ps, 0.05, 0.9), None)
    run(tmp_path, lambda ps: Momentum(ps, 0.05, 0.9), 2)  # leaves resume.npz, saved after epoch 2
    x, y = blobs(150)
    model = mlp(2)
    loader = Loader(x, y, 32, seed=1)
    load_checkpoint(tmp_path / "resume.npz", model, data=loader)  # no optimizer (momentum) or scheduler state
    optimizer = Momentum(model.parameters(), 0.05, 0.9)
    Trainer(model, cross_entropy, optimizer, scheduler=HalvingLR(optimizer, 2, 0.5), max_grad_norm=5.0,
            progress=False).fit(loader, 2)
    assert not all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(straight.model.parameters(), model.parameters()))
