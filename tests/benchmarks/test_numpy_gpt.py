"""The plain-NumPy GPT of benchmarks/numpy_gpt, the floor of the GPT benchmark: its
hand-written backward against finite differences, AdamW against the closed form, greedy
decoding against the forward pass, and (when PyTorch is installed) loss and gradients
against PyTorch from the same weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import numpy_gpt
from benchmarks.numpy_gpt import GPTShape, Weights

TINY = GPTShape(vocab_size=7, max_seq_len=6, n_layer=2, n_head=2, n_embd=8)


def varied_weights(shape: GPTShape, seed: int, dtype: type = np.float64) -> Weights:
    """Weights large enough that every nonlinearity works away from its linear regime:
    N(0, 0.5) everywhere, LayerNorm weights around 1."""
    rng = np.random.default_rng(seed)
    weights = numpy_gpt.init_weights(shape, seed, dtype)
    for name, array in weights.items():
        array[...] = rng.standard_normal(array.shape) * 0.5 + (1.0 if ".ln_" in name or "ln_f.weight" in name else 0.0)
    return weights


def tokens(shape: GPTShape, batch: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.random.default_rng(seed).integers(0, shape.vocab_size, size=(batch, length + 1))
    return ids[:, :-1], ids[:, 1:]


def loss_of(weights: Weights, idx: np.ndarray, targets: np.ndarray, shape: GPTShape) -> float:
    logits = numpy_gpt.forward(weights, idx, shape)
    return numpy_gpt.cross_entropy(logits.reshape(-1, shape.vocab_size), targets.reshape(-1))[0]


def test_parameter_names_cover_the_weights() -> None:
    weights = numpy_gpt.init_weights(TINY, 0)
    assert list(weights) == numpy_gpt.parameter_names(TINY)
    assert all(array.dtype == np.float32 for array in weights.values())
    assert weights["blocks.1.attn.in_proj.weight"].shape == (24, 8)
    assert weights["blocks.0.mlp.proj.weight"].shape == (8, 32)


def test_backward_matches_finite_differences_for_every_parameter() -> None:
    # float64 copy, tiny model, T = 5 < max_seq_len so unused position rows must get 0.
    idx, targets = tokens(TINY, batch=2, length=5, seed=1)
    weights = varied_weights(TINY, seed=2)
    loss, grads = numpy_gpt.loss_and_grads(numpy_gpt.copy_weights(weights), idx, targets, TINY)
    assert loss == pytest.approx(loss_of(weights, idx, targets, TINY), rel=1e-12)
    assert set(grads) == set(weights)
    rng, step = np.random.default_rng(3), 1e-6
    for name, array in weights.items():
        # 12 elements of each array (central differences cost two forward passes each),
        # chosen at random, plus, for the position table, a row past T that must get 0.
        flat = rng.choice(array.size, size=min(12, array.size), replace=False)
        if name == "pos_emb.weight":
            flat = np.append(flat, array.size - 1)
        for index in zip(*np.unravel_index(flat, array.shape)):
            saved = array[index]
            array[index] = saved + step
            up = loss_of(weights, idx, targets, TINY)
            array[index] = saved - step
            down = loss_of(weights, idx, targets, TINY)
            array[index] = saved
            numeric = (up - down) / (2 * step)
            assert abs(grads[name][index] - numeric) <= 1e-6 * max(abs(numeric), 1e-2), (name, index)
    assert np.all(grads["pos_emb.weight"][5:] == 0)


def test_embedding_backward_accumulates_repeated_ids() -> None:
    rng = np.random.default_rng(3)
    idx = np.array([4, 1, 4, 4, 0, 1])
    grad = rng.standard_normal((6, 3))
    expected = np.zeros((6, 3))
    np.add.at(expected, idx, grad)
    np.testing.assert_allclose(numpy_gpt.embedding_backward(grad, idx, 6), expected, rtol=1e-12)


def test_adamw_first_step_is_the_closed_form_and_second_follows_the_recursion() -> None:
    rng = np.random.default_rng(4)
    param = rng.standard_normal((5, 3))
    g1, g2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-8
    weights = {"w": param.copy()}
    optimizer = numpy_gpt.AdamW(weights, lr=lr, weight_decay=wd)
    optimizer.step({"w": g1})
    # step 1: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps) after the decay
    first = param * (1 - lr * wd) - lr * g1 / (np.abs(g1) + eps)
    np.testing.assert_allclose(weights["w"], first, rtol=1e-12)
    optimizer.step({"w": g2})
    m = b1 * (1 - b1) * g1 + (1 - b1) * g2
    v = b2 * (1 - b2) * g1**2 + (1 - b2) * g2**2
    m_hat, v_hat = m / (1 - b1**2), v / (1 - b2**2)
    second = first * (1 - lr * wd) - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(weights["w"], second, rtol=1e-12)


def test_greedy_decode_picks_the_argmax_of_the_forward_pass_each_step() -> None:
    shape = GPTShape(vocab_size=11, max_seq_len=12, n_layer=2, n_head=2, n_embd=8)
    weights = varied_weights(shape, seed=5, dtype=np.float32)
    prompt = np.array([[3, 1, 4], [1, 5, 9]])
    out = numpy_gpt.greedy_decode(weights, prompt, 9, shape)
    assert out.shape == (2, 12) and out.dtype == np.int64
    np.testing.assert_array_equal(out[:, :3], prompt)
    for t in range(3, 12):
        expected = numpy_gpt.forward(weights, out[:, :t], shape)[:, -1].argmax(axis=-1)
        np.testing.assert_array_equal(out[:, t], expected)
    assert len(np.unique(out[:, 3:])) > 1  # not a degenerate constant sequence
    with pytest.raises(ValueError, match="max_seq_len=12"):
        numpy_gpt.greedy_decode(weights, prompt, 10, shape)


def test_forward_is_causal() -> None:
    weights = varied_weights(TINY, seed=6)
    idx = np.array([[1, 2, 3, 4, 5, 6]])
    changed = idx.copy()
    changed[0, 4] = 0
    a, b = numpy_gpt.forward(weights, idx, TINY), numpy_gpt.forward(weights, changed, TINY)
    np.testing.assert_allclose(a[:, :4], b[:, :4], rtol=1e-12)
    assert not np.allclose(a[:, 4:], b[:, 4:])


def test_same_loss_and_gradients_as_pytorch() -> None:
    torch = pytest.importorskip("torch")
    from benchmarks import torch_gpt

    torch.manual_seed(0)
    shape = GPTShape(vocab_size=50, max_seq_len=24, n_layer=2, n_head=4, n_embd=32)
    weights = varied_weights(shape, seed=7, dtype=np.float32)
    for name in weights:  # smaller weights keep float32 logits moderate
        weights[name] *= 0.2 if ".ln_" not in name and "ln_f" not in name else 1.0
    idx, targets = tokens(shape, batch=3, length=16, seed=8)
    loss, grads = numpy_gpt.loss_and_grads(numpy_gpt.copy_weights(weights), idx, targets, shape)
    step = torch_gpt.TorchTrainStep(shape, weights, idx, targets, lr=1e-3)
    torch_loss, torch_grads = step.loss_and_grads()
    assert loss == pytest.approx(torch_loss, rel=1e-5)
    for name, grad in torch_grads.items():
        scale = np.abs(grad).max()
        assert np.abs(grads[name] - grad).max() <= 1e-4 * scale, name
    long_ids = np.random.default_rng(9).integers(0, shape.vocab_size, size=(2, shape.max_seq_len))
    logits, torch_logits = numpy_gpt.forward(weights, long_ids, shape), step.logits(long_ids)
    assert np.abs(logits - torch_logits).max() <= 1e-4 * np.abs(torch_logits).max()


def test_same_adamw_update_as_pytorch() -> None:
    torch = pytest.importorskip("torch")

    rng = np.random.default_rng(10)
    params = {"a": rng.standard_normal((4, 3)).astype(np.float32), "b": rng.standard_normal(5).astype(np.float32)}
    mine = {name: array.copy() for name, array in params.items()}
    theirs = [torch.tensor(array, requires_grad=True) for array in params.values()]
    optimizer = numpy_gpt.AdamW(mine, lr=0.01, weight_decay=0.1)
    torch_optimizer = torch.optim.AdamW(theirs, lr=0.01, weight_decay=0.1)
    for _ in range(4):
        grads = {name: rng.standard_normal(array.shape).astype(np.float32) for name, array in params.items()}
        optimizer.step(grads)
        for tensor, grad in zip(theirs, grads.values()):
            tensor.grad = torch.from_numpy(grad.copy())
        torch_optimizer.step()
    for array, tensor in zip(mine.values(), theirs):
        np.testing.assert_allclose(array, tensor.detach().numpy(), rtol=1e-5, atol=1e-6)
