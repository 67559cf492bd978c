"""Train the course's reference GPT on the bundled story corpus, with the course's own framework.

Everything comes from tinytorch: Module 11's byte-level ``BPETokenizer`` (trained here on
the train split) and ``load_corpus``, Module 14's ``GPT``, Module 05's ``cross_entropy``,
Module 06's ``AdamW`` and ``CosineAnnealingLR``, Module 07's ``clip_grad_norm_`` and progress
bar. Each step trains on ``batch_size`` windows of ``max_seq_len + 1`` tokens taken at
random places of the train split (seeded). Before training it measures two baselines on
the validation split: a unigram and a bigram model of the same tokens, add-k smoothed and
fitted on the train split. The validation-loss target (``VAL_LOSS_TARGET``) was set before
the final run; the script reports whether the model meets it.

It writes ``data/gpt/``: ``model.npz`` (the weights), ``config.json``, ``tokenizer.json``,
``metrics.json`` (the figures below) and ``README.md`` (how they were made).

Run: ``python examples/train_gpt.py`` (``make gpt`` does it in the venv).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from tinytorch.models.gpt import GPT, GPTConfig, count_parameters_by_component, lm_loss, save_pretrained
from tinytorch.nn.functional import cross_entropy
from tinytorch.optim import AdamW
from tinytorch.optim.lr_scheduler import CosineAnnealingLR
from tinytorch.tensor import Tensor, manual_seed
from tinytorch.text import BPETokenizer, load_corpus
from tinytorch.training import EpochProgress, clip_grad_norm_

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "gpt"
VOCAB_SIZE = 512
# Set before the final run, from the baselines (bigram: 2.265 nats per token on the validation
# split) and a pilot run of this configuration that was stopped early: less than half the
# bigram's loss (see README.md for why that is the right bar for this corpus).
VAL_LOSS_TARGET = 1.00
SMOOTHING = (1.0, 0.1, 0.01)  # add-k values tried for the baselines; the best on val is reported


def ngram_baselines(train: np.ndarray, val: np.ndarray, vocab: int) -> dict[str, float]:
    """Cross-entropy (nats per token) on ``val`` of add-k smoothed unigram and bigram models fitted
    on ``train``, for the k in SMOOTHING that fits val best (the strongest baseline of the three)."""
    unigram_counts = np.bincount(train, minlength=vocab).astype(np.float64)
    bigram_counts = np.zeros((vocab, vocab))
    np.add.at(bigram_counts, (train[:-1], train[1:]), 1.0)
    results: dict[str, float] = {}
    for k in SMOOTHING:
        unigram = (unigram_counts + k) / (unigram_counts.sum() + k * vocab)
        bigram = (bigram_counts + k) / (bigram_counts.sum(axis=1, keepdims=True) + k * vocab)
        unigram_loss = float(-np.log(unigram[val[1:]]).mean())  # the same val targets as the bigram's
        bigram_loss = float(-np.log(bigram[val[:-1], val[1:]]).mean())
        if unigram_loss < results.get("unigram", np.inf):
            results["unigram"], results["unigram_k"] = unigram_loss, k
        if bigram_loss < results.get("bigram", np.inf):
            results["bigram"], results["bigram_k"] = bigram_loss, k
    return results


def random_windows(tokens: np.ndarray, batch_size: int, length: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """``batch_size`` windows of ``length + 1`` consecutive tokens at random starts: (inputs, targets)."""
    starts = rng.integers(0, len(tokens) - length - 1, size=batch_size)
    rows = tokens[starts[:, None] + np.arange(length + 1)]
    return Tensor(rows[:, :-1], dtype=np.int64), Tensor(rows[:, 1:], dtype=np.int64)


def write_readme(out: Path, command: str, metrics: dict) -> None:
    c, b = metrics["config"], metrics["baselines"]
    params = metrics["parameters"]
    text = f"""# The reference GPT

The trained GPT of Module 14, loaded by `tinytorch.models.gpt.load_pretrained()` (the module's
notebook, `make demo`, the tests and Modules 15-20 use it). Made by `examples/train_gpt.py`;
every figure below is what that script printed and wrote to `metrics.json`.

- **Command:** `{command}` (`make gpt`), seed {metrics['seed']}, on {metrics['machine']}:
  {metrics['wall_seconds'] / 60:.1f} minutes of wall time ({metrics['train_seconds'] / 60:.1f} of them training).
- **Files:** `model.npz` (the state_dict's float32 arrays, read with `allow_pickle=False`;
  {metrics['weights_bytes']:,} bytes), `config.json`, `tokenizer.json` (Module 11's byte-level BPE),
  `metrics.json`.
- **Tokenizer:** `BPETokenizer.train(load_corpus("train"), {VOCAB_SIZE})`: 256 bytes, {VOCAB_SIZE - 257} merges and
  `<|endoftext|>`. The train split is {metrics['train_tokens']:,} tokens, the validation split {metrics['val_tokens']:,}.
- **Model:** `GPTConfig(vocab_size={c['vocab_size']}, max_seq_len={c['max_seq_len']}, n_layer={c['n_layer']}, n_head={c['n_head']}, n_embd={c['n_embd']}, dropout={c['dropout']}, bias={c['bias']})`:
  {params['total']:,} parameters (token embedding tied with the output head). Why this size: the
  weights must stay under 2 MB ({params['total']:,} x 4 bytes), training must take minutes on a
  2-core machine, and {c['max_seq_len']} positions hold a good part of a story (a story of the train split is
  {metrics['story_tokens']:.0f} tokens on average), enough to look back at the names, places and objects the
  story introduced a few sentences earlier.
- **Training:** {metrics['steps']} steps of AdamW (lr {metrics['lr']}, betas (0.9, 0.95), weight decay
  {metrics['weight_decay']} on the matrices only), cosine schedule down to lr/10, gradients clipped at norm 1,
  batches of {metrics['batch_size']} random windows of {c['max_seq_len']} tokens of the train split
  ({metrics['steps'] * metrics['batch_size'] * c['max_seq_len']:,} tokens seen). Final train loss (mean of the
  last 50 steps) {metrics['train_loss']:.3f} nats per token.

## Validation loss (nats per token, the whole validation split)

| model | loss |
|---|---|
| unigram, add-{b['unigram_k']:g} smoothing | {b['unigram']:.3f} |
| bigram, add-{b['bigram_k']:g} smoothing | {b['bigram']:.3f} |
| **this GPT** | **{metrics['val_loss']:.3f}** |
| target, set before the final run | {metrics['target']:.2f} |

The baselines are fitted on the train split's tokens and measured on the same validation
tokens as the GPT (each smoothing constant tried of {', '.join(map(str, SMOOTHING))}: the best on validation is
shown, so the baselines are if anything too strong). The target asks for less than half
the bigram's loss: a bigram model only sees the previous token, while the corpus is made
so that names, colours, objects and places must be copied from earlier in the story, and
counting and dialogue follow fixed patterns over several sentences. A model that uses its
context predicts those tokens almost surely; one that does not stays near the bigram. The
target was set from the baselines and a pilot run that was stopped early, before this run. It is
{'met' if metrics['val_loss'] <= metrics['target'] else 'NOT met'}.

## A sample (greedy, from the prompt "{metrics['prompt']}")

```
{metrics['sample']}
```
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--n-layer", type=int, default=3)
    parser.add_argument("--n-embd", type=int, default=96)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write the model into")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    train_text, val_text = load_corpus("train"), load_corpus("val")
    tokenizer = BPETokenizer.train(train_text, VOCAB_SIZE)
    train = np.asarray(tokenizer.encode(train_text), dtype=np.int64)
    val = np.asarray(tokenizer.encode(val_text), dtype=np.int64)
    baselines = ngram_baselines(train, val, tokenizer.vocab_size)
    print(f"tokenizer: vocab {tokenizer.vocab_size}; train {len(train):,} tokens, val {len(val):,} tokens "
          f"({time.perf_counter() - start:.1f} s)")
    print(f"baselines on val: unigram {baselines['unigram']:.3f}, bigram {baselines['bigram']:.3f} nats/token; "
          f"target {VAL_LOSS_TARGET:.2f}")

    config = GPTConfig(vocab_size=tokenizer.vocab_size, max_seq_len=args.max_seq_len, n_layer=args.n_layer,
                       n_head=args.n_head, n_embd=args.n_embd)
    manual_seed(args.seed)
    model = GPT(config)
    params = count_parameters_by_component(model)
    print(f"model: {config}, {params['total']:,} parameters")
    matrices = [p for p in model.parameters() if p.ndim == 2]
    others = [p for p in model.parameters() if p.ndim != 2]
    optimizer = AdamW([{"params": matrices, "weight_decay": args.weight_decay}, {"params": others, "weight_decay": 0.0}],
                      lr=args.lr, betas=(0.9, 0.95))
    scheduler = CosineAnnealingLR(optimizer, T_max=args.steps, eta_min=args.lr / 10)
    rng = np.random.default_rng(args.seed)
    eval_slice = val[: 8 * config.max_seq_len + 1]  # a quick look during training; the full split at the end
    losses: list[float] = []
    train_start = time.perf_counter()
    model.train()
    with EpochProgress(args.steps, "training") as bar:
        for step in range(1, args.steps + 1):
            inputs, targets = random_windows(train, args.batch_size, config.max_seq_len, rng)
            optimizer.zero_grad()
            logits = model(inputs)
            loss = cross_entropy(logits.reshape(-1, config.vocab_size), targets.reshape(-1))
            loss.backward()
            clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.advance(f"loss {losses[-1]:.3f}")
            if step % args.eval_every == 0 or step == args.steps:
                print(f"step {step:5d} | train loss {np.mean(losses[-50:]):.3f} | val loss (8 windows) "
                      f"{lm_loss(model, eval_slice):.3f} | {time.perf_counter() - train_start:6.1f} s", flush=True)
    train_seconds = time.perf_counter() - train_start
    val_loss = lm_loss(model, val)
    prompt = "Once upon a time, there was a little girl named"
    prompt_ids = tokenizer.encode(prompt)
    sample_ids = model.generate(np.asarray([prompt_ids]), min(120, config.max_seq_len - len(prompt_ids)),
                                temperature=0).numpy()[0]
    sample = tokenizer.decode(sample_ids)
    print(f"val loss {val_loss:.3f} nats/token (bigram {baselines['bigram']:.3f}, unigram {baselines['unigram']:.3f}, "
          f"target {VAL_LOSS_TARGET:.2f}: {'met' if val_loss <= VAL_LOSS_TARGET else 'NOT met'})")
    print("sample:", sample)

    save_pretrained(args.out, model, tokenizer)
    metrics = {
        "seed": args.seed, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
        "weight_decay": args.weight_decay, "config": json.loads((args.out / "config.json").read_text()),
        "parameters": params, "weights_bytes": (args.out / "model.npz").stat().st_size,
        "train_tokens": len(train), "val_tokens": len(val), "baselines": baselines,
        "story_tokens": len(train) / max(1, int(np.sum(train == tokenizer.token_to_id("<|endoftext|>")))),
        "target": VAL_LOSS_TARGET, "val_loss": val_loss, "train_loss": float(np.mean(losses[-50:])),
        "train_seconds": train_seconds, "wall_seconds": time.perf_counter() - start,
        "machine": f"{os.cpu_count()} CPU cores shared with other jobs, OPENBLAS_NUM_THREADS="
                   f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, Python {sys.version.split()[0]}, NumPy {np.__version__}",
        "prompt": prompt, "sample": sample,
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    write_readme(args.out, " ".join(["python examples/train_gpt.py", *(sys.argv[1:] if argv is None else argv)]), metrics)
    print(f"wrote {args.out} in {metrics['wall_seconds'] / 60:.1f} minutes")
    return metrics


if __name__ == "__main__":
    main()
