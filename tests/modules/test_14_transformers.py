"""Module 14: ``tinytorch.models.gpt`` (GPTConfig, TransformerBlock, GPT, generate, saving, counting).

Modules 15-20 are built on this model, so these tests pin its contracts: the cache gives the
same logits as a full pass at every step of a generation (batch 1 and 3, prompts of 1, 7 and
30 tokens, up to max_seq_len), greedy tokens are the same with and without a cache, the
block and the model have correct gradients (finite differences in float64), weight tying,
initialization, state_dict round trips, seeded sampling, ``no_grad`` inference keeping no
graph, and the errors. The architecture is GPT-2's (pre-norm blocks, GELU tanh MLP of width
4E, learned positions, tied head, N(0, 0.02) init with 1/sqrt(2L) on residual projections),
written out in the reference computations here.
"""

from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest

import tinytorch.autograd  # noqa: F401  (gradients for .backward())
from tinytorch.autograd import gradcheck, no_grad
from tinytorch.models import GPT as LazyGPT
from tinytorch.models.gpt import (
    GPT,
    GPTConfig,
    TransformerBlock,
    count_parameters_by_component,
    flops_per_token,
    lm_loss,
    load_pretrained,
    load_state_dict_file,
    sample_next_token,
    save_pretrained,
    save_state_dict,
)
from tinytorch.nn.attention import ConcatKVCache, MultiHeadAttention
from tinytorch.nn.embedding import Embedding, PositionalEmbedding
from tinytorch.nn.functional import cross_entropy
from tinytorch.nn.layers import GELU, Identity, Linear
from tinytorch.nn.normalization import LayerNorm
from tinytorch.tensor import DtypeError, ShapeError, Tensor, manual_seed

SMALL = GPTConfig(vocab_size=23, max_seq_len=36, n_layer=2, n_head=2, n_embd=16)


def small_model(seed: int = 0, **changes: object) -> GPT:
    manual_seed(seed)
    config = GPTConfig(**{**SMALL.__dict__, **changes})
    return GPT(config).eval()


def random_ids(batch: int, length: int, vocab: int = SMALL.vocab_size, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, size=(batch, length))


# ------------------------------------------------------------------------------------------ config


def test_config_defaults_and_head_dim() -> None:
    config = GPTConfig(vocab_size=512)
    assert (config.max_seq_len, config.n_layer, config.n_head, config.n_embd, config.dropout, config.bias) == (
        256, 4, 4, 128, 0.0, True)
    assert config.head_dim == 32


@pytest.mark.parametrize("changes, fragment", [
    ({"n_embd": 30, "n_head": 4}, "n_head=4"),
    ({"vocab_size": 0}, "vocab_size"),
    ({"n_layer": -1}, "n_layer"),
    ({"max_seq_len": 2.5}, "max_seq_len"),
    ({"n_head": True}, "n_head"),
    ({"dropout": 1.0}, "dropout"),
    ({"dropout": -0.1}, "dropout"),
])
def test_config_rejects_bad_sizes(changes: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        GPTConfig(**{"vocab_size": 10, **changes})


def test_gpt_needs_a_config() -> None:
    with pytest.raises(TypeError, match="GPTConfig"):
        GPT({"vocab_size": 10})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------- structure


def test_structure_names_and_layer_types() -> None:
    model = small_model()
    assert LazyGPT is GPT
    assert isinstance(model.tok_emb, Embedding) and isinstance(model.pos_emb, PositionalEmbedding)
    assert isinstance(model.drop, Identity) and isinstance(model.ln_f, LayerNorm)
    assert isinstance(model.lm_head, Linear) and model.lm_head.bias is None
    assert len(model.blocks) == 2
    block = model.blocks[0]
    assert isinstance(block, TransformerBlock) and isinstance(block.attn, MultiHeadAttention)
    assert isinstance(block.ln_1, LayerNorm) and isinstance(block.ln_2, LayerNorm)
    fc, gelu, proj = block.mlp.fc, block.mlp.gelu, block.mlp.proj
    assert (fc.in_features, fc.out_features, proj.in_features, proj.out_features) == (16, 64, 64, 16)
    assert isinstance(gelu, GELU) and gelu.approximate == "tanh"
    assert len(block.mlp) == 3  # no dropout layer when dropout == 0


def test_state_dict_keys_list_the_tied_weight_once() -> None:
    keys = list(small_model().state_dict())
    assert keys[0] == "tok_emb.weight" and not any(key.startswith("lm_head") for key in keys)
    for i in range(2):
        for name in ("ln_1.weight", "ln_1.bias", "attn.in_proj.weight", "attn.in_proj.bias", "attn.out_proj.weight",
                     "attn.out_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.fc.weight", "mlp.fc.bias",
                     "mlp.proj.weight", "mlp.proj.bias"):
            assert f"blocks.{i}.{name}" in keys
    assert "ln_f.weight" in keys and "ln_f.bias" in keys


def test_parameter_count_closed_form_and_components() -> None:
    model = small_model()
    V, T, L, E = 23, 36, 2, 16
    per_block = (3 * E * E + 3 * E) + (E * E + E) + (4 * E * E + 4 * E) + (4 * E * E + E) + 4 * E
    expected = V * E + T * E + L * per_block + 2 * E
    assert sum(p.size for p in model.parameters()) == expected
    counts = count_parameters_by_component(model)
    assert counts["total"] == expected and counts["lm_head"] == 0
    assert counts["token_embedding"] == V * E and counts["position_embedding"] == T * E
    assert counts["attention"] == L * (4 * E * E + 4 * E) and counts["mlp"] == L * (8 * E * E + 5 * E)
    assert counts["layernorm"] == L * 4 * E + 2 * E


def test_bias_false_drops_every_bias() -> None:
    model = small_model(bias=False)
    assert not [name for name, _ in model.named_parameters() if name.endswith("bias")]
    assert model(random_ids(1, 4)).shape == (1, 4, 23)


# ------------------------------------------------------------------------------------ init and tying


def test_initialization_follows_gpt2() -> None:
    manual_seed(0)
    model = GPT(GPTConfig(vocab_size=300, max_seq_len=64, n_layer=4, n_head=4, n_embd=64))
    residual_std = 0.02 / math.sqrt(2 * 4)
    for name, p in model.named_parameters():
        values = p.numpy()
        if name.endswith(("attn.out_proj.weight", "mlp.proj.weight")):
            assert abs(values.std() - residual_std) < 0.1 * residual_std, name
        elif name.endswith("weight") and values.ndim == 2:
            assert abs(values.std() - 0.02) < 0.002, name
            assert abs(values.mean()) < 0.002, name
        elif "ln" in name and name.endswith("weight"):
            assert np.all(values == 1.0), name
        else:
            assert name.endswith("bias") and np.all(values == 0.0), name


def test_initialization_is_seeded_by_manual_seed() -> None:
    a, b, c = small_model(seed=3).state_dict(), small_model(seed=3).state_dict(), small_model(seed=4).state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert not np.array_equal(a["blocks.0.mlp.fc.weight"].numpy(), c["blocks.0.mlp.fc.weight"].numpy())


def test_weight_tying_shares_one_parameter_and_adds_both_gradients() -> None:
    model = small_model().train()
    assert model.lm_head.weight is model.tok_emb.weight
    ids = random_ids(2, 6)
    targets = Tensor(random_ids(2, 6, seed=1).reshape(-1), dtype=np.int64)
    model.zero_grad()
    cross_entropy(model(ids).reshape(-1, 23), targets).backward()
    tied_grad = model.tok_emb.weight.grad.numpy().copy()
    # Untie: give the head its own copy of the same values; the two gradients must add up to the tied one.
    from tinytorch.nn.layers import Parameter

    model.lm_head.weight = Parameter(model.tok_emb.weight.numpy().copy())
    model.zero_grad()
    cross_entropy(model(ids).reshape(-1, 23), targets).backward()
    summed = model.tok_emb.weight.grad.numpy() + model.lm_head.weight.grad.numpy()
    assert np.allclose(tied_grad, summed, atol=1e-6)


# ------------------------------------------------------------------------------------ forward, errors


def test_forward_shapes_for_tensor_array_and_list_input() -> None:
    model = small_model()
    ids = random_ids(3, 5)
    out = model(Tensor(ids, dtype=np.int64))
    assert out.shape == (3, 5, 23) and out.dtype == np.float32
    assert np.array_equal(out.numpy(), model(ids).numpy())
    assert np.array_equal(model(ids.tolist()).numpy(), out.numpy())
    assert model(ids.astype(np.int32)).shape == (3, 5, 23)


def test_forward_is_causal() -> None:
    model = small_model()
    ids = random_ids(1, 9)
    changed = ids.copy()
    changed[0, 6] = (changed[0, 6] + 1) % 23
    first, second = model(ids).numpy(), model(changed).numpy()
    assert np.allclose(first[0, :6], second[0, :6], atol=1e-6)
    assert not np.allclose(first[0, 6:], second[0, 6:])


@pytest.mark.parametrize("bad, error, fragment", [
    (np.zeros((1, 3), dtype=np.float32), DtypeError, "integers"),
    (np.zeros(3, dtype=np.int64), ShapeError, "(B, T)"),
    (np.zeros((2, 0), dtype=np.int64), ValueError, "0 tokens"),
    (np.array([[1, 23]]), IndexError, "23"),
    (np.array([[-1, 2]]), IndexError, "-1"),
])
def test_forward_rejects_bad_ids(bad: np.ndarray, error: type, fragment: str) -> None:
    with pytest.raises(error, match=f".*{__import__('re').escape(fragment)}"):
        small_model()(bad)


def test_forward_past_max_seq_len_names_the_limit_the_offset_and_t() -> None:
    model = small_model()
    with pytest.raises(ValueError, match="max_seq_len=36") as info:
        model(random_ids(1, 37))
    assert "37" in str(info.value)
    cache = ConcatKVCache()
    with no_grad():  # Module 13's ConcatKVCache is for inference only
        model(random_ids(1, 31), cache=cache)
        with pytest.raises(ValueError, match="max_seq_len=36") as info:
            model(random_ids(1, 6), cache=cache)
        assert "31" in str(info.value) and "6" in str(info.value)
        assert cache.get_seq_length(0) == 31, "a refused call must leave the cache as it was"
        assert model(random_ids(1, 5), cache=cache).shape == (1, 5, 23)  # exactly up to max_seq_len fits


# ---------------------------------------------------------------------------------------- the cache


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("prompt_len", [1, 7, 30])
@no_grad()
def test_cached_logits_equal_full_pass_at_every_step_up_to_max_seq_len(batch: int, prompt_len: int) -> None:
    model = small_model()
    tokens = random_ids(batch, prompt_len, seed=prompt_len)
    cache = ConcatKVCache()
    cached = model(tokens, cache=cache).numpy()
    assert np.allclose(cached, model(tokens).numpy(), atol=1e-4)
    while tokens.shape[1] < SMALL.max_seq_len:
        new = cached[:, -1].argmax(axis=-1)[:, None]
        tokens = np.concatenate([tokens, new], axis=1)
        cached = model(new, cache=cache).numpy()
        assert cached.shape == (batch, 1, 23)
        full = model(tokens).numpy()
        assert np.allclose(cached[:, 0], full[:, -1], atol=1e-4), f"position {tokens.shape[1] - 1}"
    assert cache.get_seq_length(0) == cache.get_seq_length(1) == SMALL.max_seq_len


@no_grad()
def test_prompt_fed_in_chunks_through_the_cache_gives_the_full_pass() -> None:
    model = small_model()
    tokens = random_ids(3, 12)
    cache = ConcatKVCache()
    chunks = [model(tokens[:, a:b], cache=cache).numpy() for a, b in ((0, 3), (3, 7), (7, 12))]
    assert np.allclose(np.concatenate(chunks, axis=1), model(tokens).numpy(), atol=1e-4)


@pytest.mark.parametrize("batch, prompt_len", [(1, 1), (3, 7), (1, 30)])
def test_greedy_generation_is_the_same_with_and_without_the_cache(batch: int, prompt_len: int) -> None:
    model = small_model()
    prompt = random_ids(batch, prompt_len, seed=5)
    steps = min(12, SMALL.max_seq_len - prompt_len)  # prompt 30: up to max_seq_len
    plain = model.generate(prompt, steps, temperature=0).numpy()
    cached = model.generate(prompt, steps, temperature=0, cache=ConcatKVCache()).numpy()
    assert plain.shape == (batch, prompt_len + steps) and plain.dtype == np.int64
    assert np.array_equal(plain, cached) and np.array_equal(plain[:, :prompt_len], prompt)
    # greedy means argmax of a full pass at each position
    logits = model(plain[:, :-1]).numpy()
    assert np.array_equal(logits[:, prompt_len - 1:].argmax(axis=-1), plain[:, prompt_len:])


# ---------------------------------------------------------------------------------------- generate


def test_sampling_is_seeded_and_the_cache_does_not_change_it() -> None:
    model = small_model()
    prompt = random_ids(2, 4)
    a = model.generate(prompt, 12, temperature=1.0, top_k=8, seed=11).numpy()
    b = model.generate(prompt, 12, temperature=1.0, top_k=8, seed=11, cache=ConcatKVCache()).numpy()
    c = model.generate(prompt, 12, temperature=1.0, top_k=8, seed=12).numpy()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() < 23


def test_generate_restores_the_mode_and_records_no_graph() -> None:
    model = small_model().train()
    model.generate(random_ids(1, 3), 4, temperature=0)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    model.generate(random_ids(1, 3), 4, temperature=0, cache=ConcatKVCache())
    assert not model.training
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("kwargs, fragment", [
    ({"max_new_tokens": 34}, "max_seq_len=36"),
    ({"max_new_tokens": -1}, "max_new_tokens"),
    ({"max_new_tokens": 2, "temperature": -1.0}, "temperature"),
    ({"max_new_tokens": 2, "temperature": float("nan")}, "temperature"),
    ({"max_new_tokens": 2, "top_k": 0}, "top_k"),
])
def test_generate_rejects_bad_arguments_up_front(kwargs: dict, fragment: str) -> None:
    model = small_model()
    cache = ConcatKVCache()
    with pytest.raises(ValueError, match=fragment):
        model.generate(random_ids(1, 3), cache=cache, **kwargs)
    assert cache.get_seq_length(0) == 0, "nothing may run before the arguments are checked"


def test_generate_wants_an_empty_cache() -> None:
    model = small_model()
    cache = ConcatKVCache()
    with no_grad():
        model(random_ids(1, 3), cache=cache)
    with pytest.raises(ValueError, match="empty cache"):
        model.generate(random_ids(1, 3), 2, cache=cache)


def test_generate_exactly_to_max_seq_len_and_zero_new_tokens() -> None:
    model = small_model()
    prompt = random_ids(2, 5)
    assert model.generate(prompt, 31, temperature=0, cache=ConcatKVCache()).shape == (2, 36)
    assert np.array_equal(model.generate(prompt, 0).numpy(), prompt)


# ------------------------------------------------------------------------------------------ sampling


def test_sample_next_token_matches_the_softmax_distribution() -> None:
    rng = np.random.default_rng(0)
    row = np.array([1.0, 0.0, 2.5, -1.0, 0.5, 0.3])
    n = 40000
    for temperature, top_k in ((1.0, None), (0.7, None), (1.3, 3)):
        z = row / temperature
        if top_k is not None:
            z = np.where(z >= np.sort(z)[-top_k], z, -np.inf)
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        drawn = sample_next_token(np.tile(row, (n, 1)).astype(np.float32), temperature, top_k, rng)
        freq = np.bincount(drawn, minlength=6) / n
        assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-12), (temperature, top_k, freq, p)


def test_sample_next_token_greedy_topk_and_stability() -> None:
    logits = np.array([[0.0, 3.0, 1.0], [2.0, -1.0, 2.5]], dtype=np.float32)
    assert sample_next_token(logits, 0.0, None, np.random.default_rng(0)).tolist() == [1, 2]
    assert sample_next_token(logits, 2.0, 1, np.random.default_rng(0)).tolist() == [1, 2]
    huge = np.array([[3e4, -3e4, 0.0]], dtype=np.float32)
    assert sample_next_token(np.repeat(huge, 100, axis=0), 1.0, None, np.random.default_rng(0)).tolist() == [0] * 100


# -------------------------------------------------------------------------------------- gradients


def as_float64(model: object) -> None:
    for p in model.parameters():  # type: ignore[attr-defined]
        p.data = p.data.astype(np.float64)


def finite_difference_check(loss_fn, params: dict, samples: int = 3, eps: float = 1e-6) -> None:
    """Backward gradients of ``loss_fn()`` against central differences on a few entries of each parameter."""
    for p in params.values():
        p.grad = None
    loss_fn().backward()
    rng = np.random.default_rng(0)
    for name, p in params.items():
        assert p.grad is not None, f"{name} got no gradient"
        for flat in rng.choice(p.size, size=min(samples, p.size), replace=False):
            index = np.unravel_index(flat, p.shape)
            original = p.data[index]
            with no_grad():
                p.data[index] = original + eps
                plus = loss_fn().item()
                p.data[index] = original - eps
                minus = loss_fn().item()
            p.data[index] = original
            numeric = (plus - minus) / (2 * eps)
            assert abs(p.grad.data[index] - numeric) <= 1e-5 + 1e-4 * abs(numeric), (name, index, p.grad.data[index], numeric)


def test_block_gradients_match_finite_differences() -> None:
    manual_seed(0)
    block = TransformerBlock(GPTConfig(vocab_size=5, max_seq_len=8, n_layer=1, n_head=2, n_embd=4))
    as_float64(block)
    for p in block.parameters():  # spread the values so that every path matters
        p.data[...] = np.random.default_rng(p.size).normal(0.0, 0.5, p.shape)
    x = Tensor(np.random.default_rng(1).standard_normal((2, 3, 4)), dtype=np.float64, requires_grad=True)
    assert gradcheck(lambda t: block(t), [x])
    weights = np.random.default_rng(2).standard_normal((2, 3, 4))
    finite_difference_check(lambda: (block(x) * Tensor(weights, dtype=np.float64)).sum(), dict(block.named_parameters()))


def test_gpt_loss_gradients_match_finite_differences() -> None:
    model = small_model(seed=1, n_layer=1, n_embd=8, max_seq_len=6, vocab_size=7).train()
    as_float64(model)
    ids = random_ids(2, 5, vocab=7)
    targets = Tensor(random_ids(2, 5, vocab=7, seed=3).reshape(-1), dtype=np.int64)
    finite_difference_check(lambda: cross_entropy(model(ids).reshape(-1, 7), targets), dict(model.named_parameters()), samples=2)


# -------------------------------------------------------------------------------------- no_grad


def test_no_grad_inference_keeps_no_graph_and_frees_intermediates() -> None:
    model = small_model()
    kept: list[weakref.ref] = []
    handle = model.blocks[0].register_forward_hook(lambda module, args, out: kept.append(weakref.ref(out)))
    with no_grad():
        logits = model(random_ids(2, 8))
    gc.collect()
    assert logits.grad_fn is None and not logits.requires_grad
    assert kept[-1]() is None, "under no_grad nothing may hold the first block's output once forward returns"
    logits = model(random_ids(2, 8))  # the control: with grad, the graph keeps it alive
    gc.collect()
    assert logits.grad_fn is not None and kept[-1]() is not None
    handle.remove()


# ------------------------------------------------------------------------------------- dropout


def test_dropout_is_active_in_training_only() -> None:
    model = small_model(dropout=0.3)
    assert model.drop.p == 0.3 and model.blocks[0].mlp.drop.p == 0.3
    ids = random_ids(2, 6)
    model.eval()
    assert np.array_equal(model(ids).numpy(), model(ids).numpy())
    model.train()
    assert not np.allclose(model(ids).numpy(), model(ids).numpy())


# ------------------------------------------------------------------------------- saving and loading


def test_state_dict_file_round_trip(tmp_path) -> None:
    model = small_model(seed=1)
    path = tmp_path / "sub" / "weights.npz"
    save_state_dict(path, model)
    arrays = load_state_dict_file(path)
    assert list(arrays) == list(model.state_dict()) and all(a.dtype == np.float32 for a in arrays.values())
    other = small_model(seed=2)
    other.load_state_dict(arrays)
    ids = random_ids(2, 7)
    assert np.array_equal(other(ids).numpy(), model(ids).numpy())
    assert other.lm_head.weight is other.tok_emb.weight  # loading keeps the tie


def test_state_dict_file_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_state_dict_file(tmp_path / "nothing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="junk.npz"):
        load_state_dict_file(junk)


def test_pretrained_round_trip_with_a_tokenizer(tmp_path) -> None:
    from tinytorch.text import BPETokenizer

    tokenizer = BPETokenizer.train("the cat sat on the mat. the dog sat on the log.\n" * 20, 270)
    manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, max_seq_len=16, n_layer=1, n_head=2, n_embd=8))
    save_pretrained(tmp_path / "gpt", model, tokenizer)
    loaded, loaded_tokenizer = load_pretrained(tmp_path / "gpt")
    assert loaded.config == model.config and not loaded.training
    ids = np.asarray([tokenizer.encode("the cat sat")])
    assert loaded_tokenizer.encode("the cat sat") == tokenizer.encode("the cat sat")
    assert np.array_equal(loaded(ids).numpy(), model(ids).numpy())


def test_load_pretrained_names_the_folder_and_the_fix(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="examples/train_gpt.py") as info:
        load_pretrained(tmp_path / "empty")
    assert "empty" in str(info.value) and "model.npz" in str(info.value)


# ------------------------------------------------------------------------------------------ counting


def test_flops_per_token_closed_form_and_errors() -> None:
    config = GPTConfig(vocab_size=100, max_seq_len=64, n_layer=3, n_head=2, n_embd=32)
    matrices = 3 * (32 * 96 + 32 * 32 + 32 * 128 + 128 * 32) + 100 * 32  # in_proj, out_proj, fc, proj; head
    assert flops_per_token(config, 1) == 2 * matrices + 4 * 3 * 1 * 32
    assert flops_per_token(config, 64) - flops_per_token(config, 63) == 4 * 3 * 32
    for bad in (0, 65, 2.0):
        with pytest.raises(ValueError, match="seq_len"):
            flops_per_token(config, bad)  # type: ignore[arg-type]


def test_flops_per_token_matches_the_linear_ops_seen_by_dispatch() -> None:
    """The weight-matmul part of the closed form equals 2 * rows * in * out summed over every
    ``linear`` op one token's forward dispatches (counted by an observer, from the shapes)."""
    from tinytorch.tensor import add_observer, remove_observer

    model = small_model()

    class LinearFlops:
        total = 0

        def before(self, op, inputs, attrs) -> None:
            if op == "linear":
                x, w = inputs[0], inputs[1]
                LinearFlops.total += 2 * int(np.prod(x.shape[:-1])) * w.shape[0] * w.shape[1]

        def after(self, op, inputs, attrs, out) -> None:
            pass

    observer = LinearFlops()
    add_observer(observer)
    try:
        with no_grad():
            model(random_ids(1, 1))
    finally:
        remove_observer(observer)
    attention_part = 4 * SMALL.n_layer * 1 * SMALL.n_embd
    assert LinearFlops.total == flops_per_token(SMALL, 1) - attention_part


def test_lm_loss_is_the_mean_cross_entropy_of_the_windows() -> None:
    model = small_model()
    tokens = random_ids(1, 3 * 10 + 4).reshape(-1)  # three windows of 10 + 1 tokens; the tail is dropped
    windows = np.stack([tokens[i * 10:i * 10 + 11] for i in range(3)])
    logits = model(windows[:, :-1]).reshape(-1, 23)
    expected = cross_entropy(logits, Tensor(windows[:, 1:].reshape(-1), dtype=np.int64)).item()
    assert lm_loss(model, tokens, seq_len=10, batch_size=2) == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="lm_loss"):
        lm_loss(model, tokens[:5], seq_len=10)
