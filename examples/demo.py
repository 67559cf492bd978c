"""The course demo: train the digits MLP (Modules 01-08), then let the reference GPT (Modules 09-14) write.

Part 1 is ``examples/train_digits_mlp.py`` (its options below). Part 2 loads the trained GPT
of ``data/gpt/`` with ``load_pretrained`` (training it first with ``examples/train_gpt.py`` only
if its files are missing, which takes minutes) and samples a short story from it with a KV
cache (Module 13's ``ConcatKVCache``), printing its validation loss, as ``examples/train_gpt.py``
measured it, beside the baselines.

Run: ``python examples/demo.py`` (``make demo`` does it in the venv).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import train_digits_mlp  # the sibling script: python puts this folder first on the path
import train_gpt

from tinytorch.models.gpt import load_pretrained
from tinytorch.nn.attention import ConcatKVCache

PROMPT = "Once upon a time, there was a little boy named"


def gpt_part(folder: Path, tokens: int, seed: int) -> None:
    if not (folder / "model.npz").is_file():
        print(f"no trained GPT in {folder}: training it now with examples/train_gpt.py (a few minutes)")
        train_gpt.main(["--out", str(folder)])
    model, tokenizer = load_pretrained(folder)
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    baselines = metrics["baselines"]
    print(f"GPT: {sum(p.size for p in model.parameters()):,} parameters, {model.config.n_layer} layers, "
          f"{model.config.n_head} heads, width {model.config.n_embd}, context {model.config.max_seq_len} tokens; "
          f"validation loss {metrics['val_loss']:.3f} nats/token (bigram {baselines['bigram']:.3f}, "
          f"unigram {baselines['unigram']:.3f})")
    prompt = np.asarray([tokenizer.encode(PROMPT)])
    start = time.perf_counter()
    out = model.generate(prompt, tokens, temperature=0.8, top_k=20, seed=seed, cache=ConcatKVCache())
    seconds = time.perf_counter() - start
    print(f"GPT sample ({tokens} tokens in {seconds:.2f} s, temperature 0.8, top-k 20, seed {seed}):")
    print(tokenizer.decode(out.numpy()[0]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15, help="digits MLP epochs")
    parser.add_argument("--curve", type=Path, default=train_digits_mlp.CURVE, help="where to write the digits curve (PNG)")
    parser.add_argument("--gpt", type=Path, default=train_gpt.OUT, help="folder of the trained GPT")
    parser.add_argument("--tokens", type=int, default=100, help="tokens the GPT writes (prompt + tokens <= its max_seq_len)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("== Part 1: an MLP learns the 8x8 digits (Modules 01-08) ==")
    train_digits_mlp.main(["--epochs", str(args.epochs), "--curve", str(args.curve), "--seed", str(args.seed)])
    print("\n== Part 2: the reference GPT writes a story (Modules 09-14) ==")
    gpt_part(args.gpt, args.tokens, args.seed)


if __name__ == "__main__":
    main()
