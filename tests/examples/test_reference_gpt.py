"""The committed reference GPT (data/gpt/, made by examples/train_gpt.py) is what its README says.

It loads with ``load_pretrained``, fits the 2 MB budget, beats a bigram model of the same
tokens on the validation split by the margin its target asks for (the bigram is fitted here,
add-one smoothed, on the train split), writes corpus words when decoding greedily, and gives
the same logits and tokens with and without a KV cache.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tinytorch.autograd import no_grad
from tinytorch.models.gpt import load_pretrained, lm_loss
from tinytorch.nn.attention import ConcatKVCache
from tinytorch.text import load_corpus

FOLDER = Path(__file__).resolve().parents[2] / "data" / "gpt"
VAL_WINDOWS = 16  # the fixed slice: the first 16 windows of max_seq_len tokens of the validation split


@pytest.fixture(scope="module")
def reference():
    model, tokenizer = load_pretrained(FOLDER)
    metrics = json.loads((FOLDER / "metrics.json").read_text(encoding="utf-8"))
    return model, tokenizer, metrics


def test_weights_fit_the_budget_and_the_recorded_config(reference) -> None:
    model, tokenizer, metrics = reference
    assert (FOLDER / "model.npz").stat().st_size <= 2_000_000
    assert model.config.vocab_size == tokenizer.vocab_size == 512
    assert metrics["config"] == json.loads((FOLDER / "config.json").read_text(encoding="utf-8"))
    assert sum(p.size for p in model.parameters()) == metrics["parameters"]["total"]


def test_validation_loss_meets_the_target_and_beats_the_bigram(reference) -> None:
    model, tokenizer, metrics = reference
    train = np.asarray(tokenizer.encode(load_corpus("train")), dtype=np.int64)
    val = np.asarray(tokenizer.encode(load_corpus("val")), dtype=np.int64)[: VAL_WINDOWS * model.config.max_seq_len + 1]
    loss = lm_loss(model, val)
    vocab = tokenizer.vocab_size
    counts = np.ones((vocab, vocab))  # add-one smoothing
    np.add.at(counts, (train[:-1], train[1:]), 1.0)
    probabilities = counts / counts.sum(axis=1, keepdims=True)
    bigram = float(-np.log(probabilities[val[:-1], val[1:]]).mean())  # the same targets the model predicts
    print(f"reference GPT on {len(val) - 1} validation tokens: {loss:.3f} nats/token; add-one bigram {bigram:.3f}; "
          f"target {metrics['target']}")
    assert loss <= metrics["target"]
    assert loss < bigram


def test_greedy_text_is_made_of_corpus_words(reference) -> None:
    model, tokenizer, _ = reference
    vocabulary = set(re.findall(r"[A-Za-z]+", load_corpus("all")))
    story = load_corpus("val").split("<|endoftext|>")[0]
    prompt = " ".join(story.split()[:12])
    out = model.generate(np.asarray([tokenizer.encode(prompt)]), 100, temperature=0, cache=ConcatKVCache())
    text = tokenizer.decode(out.numpy()[0, len(tokenizer.encode(prompt)):])
    words = re.findall(r"[A-Za-z]+", text)
    known = sum(word in vocabulary for word in words)
    assert len(words) >= 20, text
    assert known >= 0.9 * len(words), text


def test_cache_gives_the_same_logits_and_tokens_on_the_trained_model(reference) -> None:
    model, tokenizer, _ = reference
    prompt = np.asarray([tokenizer.encode("Once upon a time, there was a little boy named")] * 2)
    plain = model.generate(prompt, 30, temperature=0).numpy()
    cached = model.generate(prompt, 30, temperature=0, cache=ConcatKVCache()).numpy()
    assert np.array_equal(plain, cached)
    cache = ConcatKVCache()
    with no_grad():  # Module 13's ConcatKVCache is for inference only
        steps = [model(plain[:, :prompt.shape[1]], cache=cache).numpy()[:, -1]]
        steps += [model(plain[:, t:t + 1], cache=cache).numpy()[:, -1] for t in range(prompt.shape[1], plain.shape[1] - 1)]
        full = model(plain[:, :-1]).numpy()[:, prompt.shape[1] - 1:]
    assert np.allclose(np.stack(steps, axis=1), full, atol=1e-4)
