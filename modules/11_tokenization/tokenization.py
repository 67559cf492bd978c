# %% [markdown]
# # Module 11: Tokenization
#
# A language model never sees text. It sees a sequence of integers, the **token ids**, and
# it predicts the next integer. A **tokenizer** is the two-way map between the two:
# `encode("Mia found a blue kite.")` gives a list of ids before the model (section 2 prints
# them), and `decode(ids)` after it turns the model's predictions back into text. In this module you build the
# two classic tokenizers, train them on the course's story corpus and measure what the
# choice costs.
#
# **What you will build**
#
# - `char_encode`: the heart of a **character tokenizer** (one token per character), with a
#   clear error for a character it has never seen;
# - `count_pairs`: how often each pair of adjacent tokens occurs in a corpus;
# - `train_merges`: the training loop of **byte-pair encoding** (BPE), the tokenizer of
#   GPT-2, GPT-4 and Llama: repeatedly merge the most frequent pair into a new token,
#   updating the pair counts **incrementally**;
# - `encode_word`: encoding with a trained BPE, applying its merges in the order they were
#   learned;
# - `token_bytes`: the bytes each token stands for, which is what `decode` needs.
#
# Given, for you to read: the corpus loader `load_corpus`, the `CharTokenizer` and
# `BPETokenizer` classes built on your functions (train, encode, decode, save, load), and a
# systems analysis.
#
# **Why a systems engineer cares.** The tokenizer fixes two numbers of every language model.
# The **vocabulary size** $V$ sets the size of the embedding table and of the output layer
# ($V \times d$ parameters each) and the cost of the softmax over $V$ classes per position.
# The **number of tokens per character** sets the sequence length $T$ of a given text, and
# attention costs $O(T^2)$ per layer. A character tokenizer has a tiny $V$ and a long $T$; a
# BPE trades a larger $V$ for a shorter $T$. At the end you measure that trade on the corpus.
#
# **Connections.** Module 08 gave the data folder (`data_dir`). Module 12 turns token ids into
# vectors (an `Embedding` of `vocab_size` rows); Module 14's GPT trains on
# `load_corpus("train")` encoded by the tokenizers of this module and decodes what it generates.

# %%
#| default_exp text.tokenizers

# %%
#| export
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinytorch.data import DATA_DIR_VARIABLE, data_dir
from tinytorch.tensor import Tensor

# %% [markdown]
# ## 1. The corpus
#
# `data/corpus/stories.txt` holds 1,300 short children's stories (about 1.3 MB), generated
# by the script `data/corpus/make_stories.py` beside it (provenance and license in
# `data/corpus/README.md`). Each story introduces a child, a friend, a place and a coloured
# object, and refers back to them later ("Mia found a blue kite in the garden. ... Mia gave
# the blue kite to Tom."): a model that remembers what came earlier can predict those
# words, one that only looks at the last word or two cannot. Module 14's GPT learns from it.
#
# Each story ends with a line holding only `<|endoftext|>`, a **special token**: a marker
# that separates documents, never produced by splitting ordinary text. `load_corpus(split)`
# returns the text of the whole file (`"all"`), of the first 90% of the stories
# (`"train"`), or of the last `n // 10` stories (`"val"`), each story with its separator
# line, so `load_corpus("train") + load_corpus("val") == load_corpus("all")`. It finds the
# file as `load_digits` of Module 08 does: in the folder named by `TINYTORCH_DATA_DIR`, else
# in the repository's `data/` folder. The cell is given and read-only.

# %% nbgrader={"grade": false, "grade_id": "given-load-corpus", "locked": true, "solution": false, "schema_version": 3}
#| export
END_OF_TEXT = "<|endoftext|>"
CORPUS_FILE = Path("corpus") / "stories.txt"
CORPUS_SPLITS = ("train", "val", "all")
STORY_SEPARATOR = END_OF_TEXT + "\n"  # the line that ends every story


def split_stories(text: str) -> list[str]:
    """The stories of ``text``, each with its ``<|endoftext|>`` line; ``"".join`` gives ``text`` back."""
    parts = text.split(STORY_SEPARATOR)
    stories = [part + STORY_SEPARATOR for part in parts[:-1]]
    if parts[-1]:  # text after the last separator: a story without its end line
        stories.append(parts[-1])
    return stories


def load_corpus(split: str = "train") -> str:
    """The bundled stories as one string: ``"train"`` (first 90% of the stories), ``"val"``
    (the last ``n // 10``) or ``"all"`` (the whole file). Train + val == all, disjoint."""
    if split not in CORPUS_SPLITS:
        raise ValueError(f"load_corpus: split must be one of {', '.join(map(repr, CORPUS_SPLITS))}, got {split!r}")
    path = data_dir() / CORPUS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"the story corpus is not at {path}; set {DATA_DIR_VARIABLE} to the folder that holds "
            f"{CORPUS_FILE} (the repository's data/ folder), or run data/corpus/make_stories.py to make it"
        )
    text = path.read_text(encoding="utf-8")
    if split == "all":
        return text
    stories = split_stories(text)
    cut = len(stories) - len(stories) // 10
    return "".join(stories[:cut] if split == "train" else stories[cut:])


# %%
corpus = load_corpus("all")
train_text, val_text = load_corpus("train"), load_corpus("val")
print(f"corpus: {len(corpus.encode('utf-8')):,} bytes, {len(corpus):,} characters, "
      f"{len(split_stories(corpus)):,} stories ({len(split_stories(train_text)):,} train, "
      f"{len(split_stories(val_text)):,} validation), {len(set(corpus))} distinct characters")
print(f"train + val == all: {train_text + val_text == corpus}")
print(split_stories(corpus)[0])


# %% [markdown]
# ## 2. Characters as tokens
#
# The simplest tokenizer gives every distinct character of the training text an id:
# sort the characters (so the ids are the same on every run), and number them
# $0, 1, \dots$. Encoding looks each character up; decoding looks each id up and joins.
#
# ```
#   vocabulary  ['\n', ' ', '!', '"', ..., 'a', 'b', ...]     id = position in the list
#   "ab"  ──encode──►  [stoi['a'], stoi['b']]  ──decode──►  "ab"
# ```
#
# Special tokens such as `<|endoftext|>` get ids of their own after the characters, and the
# tokenizer matches them as whole strings before it looks at characters: `<|endoftext|>` is
# one token, not thirteen.
#
# **Unknown characters.** A character tokenizer knows only the characters it was trained
# on. Text with another one (an `é`, an emoji) has two honest outcomes: fail, or map it to a
# reserved **unknown token** `<unk>`, losing the character. Our choice: by default `encode`
# raises a `ValueError` that names the character and its position in the text, so nothing is
# lost silently; trained with `unk_token="<unk>"`, the tokenizer maps every unknown character
# to that token's id instead. (A byte-level BPE, below, has no unknown characters at all.)
#
# ### Your task: `char_encode`
# `CharTokenizer.encode` calls `char_encode` on each run of text between special tokens,
# with `start`, the position of that run in the whole text, so the error can name the
# position the user sees. The `ValueError` message must contain the character's `repr`
# (e.g. `'é'`) and `position N`.

# %% nbgrader={"grade": false, "grade_id": "impl-char-encode", "locked": false, "solution": true, "schema_version": 3}
#| export
def char_encode(text: str, stoi: Mapping[str, int], unk_id: int | None = None, start: int = 0) -> list[int]:
    """The id of each character of ``text``: ``[stoi[c] for c in text]``, ``len(text)`` ids.

    A character missing from ``stoi`` becomes ``unk_id`` if that is not None (0 is an id like
    any other), otherwise raises ``ValueError`` naming the character (its ``repr``) and its
    position ``start + i``.
    Hint: loop with ``enumerate`` and use ``stoi.get(char)``.
    """
    ### BEGIN SOLUTION
    ids = []
    for i, char in enumerate(text):
        token = stoi.get(char)
        if token is None:
            if unk_id is None:
                raise ValueError(
                    f"character {char!r} at position {start + i} is not in the vocabulary; train the "
                    f"tokenizer on text that contains it, or with unk_token='<unk>'"
                )
            token = unk_id
        ids.append(token)
    return ids
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-char-encode", "locked": true, "points": 2, "solution": false, "schema_version": 3}
from tinytorch.tensor import error_name, expect_error, observe, unseen_rng

stoi_val = {"a": 0, "b": 1, " ": 2}
got = char_encode("ab ba", stoi_val)
assert got == [0, 1, 2, 1, 0], f"char_encode('ab ba') should be [0, 1, 2, 1, 0], got {got}"
assert char_encode("", stoi_val) == [], "char_encode of the empty string is []"
assert error_name(lambda: char_encode("axb", stoi_val, unk_id=3)) == "nothing", \
    "char_encode('axb', unk_id=3) raised: with unk_id given, an unknown character becomes unk_id instead"
assert char_encode("axb", stoi_val, unk_id=3) == [0, 3, 1], "char_encode: an unknown character becomes unk_id when it is given"
assert error_name(lambda: char_encode("xbq", stoi_val, unk_id=0)) == "nothing", \
    "char_encode('xbq', unk_id=0) raised: unk_id=0 is a valid id; only unk_id=None means 'raise'"
got = char_encode("xbq", stoi_val, unk_id=0)
assert got == [0, 1, 0], f"char_encode('xbq', unk_id=0): every unknown character becomes id 0, got {got}"
expect_error(ValueError, lambda: char_encode("abé", stoi_val), "'é'", "position 2", what="char_encode('abé') without unk_id")
expect_error(ValueError, lambda: char_encode("xa", stoi_val, start=10), "'x'", "position 10",
             what="char_encode('xa', start=10): the position counts from start")
expect_error(ValueError, lambda: char_encode("ab\nq", stoi_val, start=5), "'\\n'", "position 7",
             what="char_encode('ab\\nq', start=5): the first unknown character, '\\n', at position 5 + 2")

# Graded: the same rules on a random text, a shuffled vocabulary and an unknown character at a random place.
rng = unseen_rng("test-char-encode")
alphabet_val = list("abcxyz \n!é")
stoi_val = {char: int(i) for char, i in zip(alphabet_val, rng.permutation(len(alphabet_val)))}
text_val = "".join(rng.choice(alphabet_val, size=int(rng.integers(20, 40))))
observe("char_encode(text, stoi)", char_encode(text_val, stoi_val))
unknown_val = str(rng.choice(list("QRS?")))
cut = int(rng.integers(0, len(text_val) + 1))
offset_val = int(rng.integers(0, 100))
with_unknown = text_val[:cut] + unknown_val + text_val[cut:] + unknown_val
observe("char_encode(text with unknown characters, unk_id)",
        char_encode(with_unknown, stoi_val, unk_id=int(rng.integers(0, len(alphabet_val) + 1))))
observe("char_encode(text with unknown characters) without unk_id raises",
        error_name(lambda: char_encode(with_unknown, stoi_val, start=offset_val)))
message = str(expect_error(ValueError, lambda: char_encode(with_unknown, stoi_val, start=offset_val),
                           what="char_encode of a text with an unknown character, without unk_id"))
observe("char_encode: the ValueError names the character (its repr)", repr(unknown_val) in message)
observe("char_encode: the ValueError names the first unknown position, start + i",
        re.search(rf"position {offset_val + cut}\b", message) is not None)


# %% [markdown]
# The tokenizer around it, given. Two helpers serve both tokenizers of this module:
# `special_token_pattern` builds a regular expression that finds special tokens as whole
# strings (longest first, so a special token that begins with another one wins), and
# `as_id_list` accepts the ids to decode as a list, a NumPy array or a `Tensor` of integers
# and checks that each is a valid id.
#
# `CharTokenizer.train(text, special_tokens=(), unk_token=None)` builds the vocabulary:
# the sorted distinct characters of `text` (special tokens removed from it first), then the
# special tokens, then `unk_token` if given. `save(path)` writes it as JSON, and
# `CharTokenizer.load(path)` reads it back (a file that is not JSON of this format raises a
# `ValueError` naming the file).

# %%
#| export
def special_token_pattern(special_tokens: Iterable[str]) -> re.Pattern[str] | None:
    """A regex with one capturing group matching any of ``special_tokens`` (longest first), or None."""
    ordered = sorted(set(special_tokens), key=lambda token: (-len(token), token))
    if not ordered:
        return None
    return re.compile("(" + "|".join(re.escape(token) for token in ordered) + ")")


def split_on_specials(text: str, pattern: re.Pattern[str] | None) -> list[tuple[str, bool]]:
    """``text`` cut into ``(piece, is_special)`` runs, in order; the pieces join to ``text``."""
    if pattern is None:
        return [(text, False)] if text else []
    # re.split with one capturing group alternates ordinary text (even) and specials (odd)
    return [(piece, i % 2 == 1) for i, piece in enumerate(pattern.split(text)) if piece]


def as_id_list(ids: Any, vocab_size: int, who: str) -> list[int]:
    """``ids`` (list / tuple of ints, 1-D integer ndarray or Tensor) as a list of ints in [0, vocab_size)."""
    if isinstance(ids, Tensor):
        ids = ids.numpy()
    elif isinstance(ids, (list, tuple)):
        if len(ids) == 0:
            return []
        ids = np.asarray(ids)  # checked below in one vectorized pass, not id by id
    elif not isinstance(ids, np.ndarray):
        raise TypeError(f"{who}.decode takes a list, NumPy array or Tensor of ids, got {type(ids).__name__}")
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(
            f"{who}.decode needs one sequence of integer ids, got shape {ids.shape} and dtype {ids.dtype}; "
            f"decode one sequence at a time, as integers (a list of ints, or Tensor(..., dtype=np.int64))"
        )
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        bad = ids[(ids < 0) | (ids >= vocab_size)][0]
        raise ValueError(f"{who}.decode: id {bad} is out of range for a vocabulary of {vocab_size} tokens")
    return ids.tolist()


def read_tokenizer_file(path: str | Path, kind: str) -> dict[str, Any]:
    """The JSON object of a saved ``kind`` tokenizer; ValueError naming the file if it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a saved {kind} (not UTF-8 JSON: {error})") from error
    if not isinstance(data, dict) or data.get("format") != kind or data.get("version") != 1:
        raise ValueError(f"{path} is not a saved {kind}: expected a JSON object with format {kind!r} and version 1")
    return data


def _check_special_tokens(special_tokens: Iterable[str], who: str) -> tuple[str, ...]:
    specials = tuple(special_tokens)
    if isinstance(special_tokens, str):
        raise TypeError(f"{who}: special_tokens is a sequence of strings, e.g. ('<|endoftext|>',), not one string")
    if not all(isinstance(token, str) and token for token in specials):
        raise ValueError(f"{who}: special tokens must be non-empty strings, got {specials!r}")
    if len(set(specials)) != len(specials):
        raise ValueError(f"{who}: special tokens must be distinct, got {specials!r}")
    return specials


class CharTokenizer:
    """One token per character. Ids: the characters (sorted), then the special tokens, then
    ``unk_token`` if set. Unknown characters raise ValueError unless ``unk_token`` is set."""

    FORMAT = "tinytorch.CharTokenizer"

    def __init__(self, chars: Sequence[str], special_tokens: Sequence[str] = (), unk_token: str | None = None) -> None:
        if not all(isinstance(c, str) and len(c) == 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer: chars must be distinct single characters")
        self.special_tokens = _check_special_tokens(special_tokens, "CharTokenizer")
        self.unk_token = unk_token
        extra = self.special_tokens + ((unk_token,) if unk_token is not None and unk_token not in self.special_tokens else ())
        self.itos: list[str] = list(chars) + list(extra)
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("CharTokenizer: a special token may not also be an ordinary character")
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}
        self.chars = tuple(chars)
        self._unk_id = None if unk_token is None else self.stoi[unk_token]
        self._specials = special_token_pattern(extra)

    @classmethod
    def train(cls, text: str, special_tokens: Sequence[str] = (), unk_token: str | None = None) -> CharTokenizer:
        """The vocabulary of ``text``: its sorted distinct characters, special tokens removed first."""
        specials = _check_special_tokens(special_tokens, "CharTokenizer.train")
        pattern = special_token_pattern(specials)
        plain = "".join(piece for piece, special in split_on_specials(text, pattern) if not special)
        return cls(sorted(set(plain)), specials, unk_token)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """One id per character; each special token found in ``text`` is one id."""
        ids: list[int] = []
        position = 0
        for piece, special in split_on_specials(text, self._specials):
            ids.extend([self.stoi[piece]] if special else char_encode(piece, self.stoi, self._unk_id, position))
            position += len(piece)
        return ids

    def decode(self, ids: Any) -> str:
        """The text of ``ids`` (a list, 1-D integer array or Tensor)."""
        return "".join(map(self.itos.__getitem__, as_id_list(ids, self.vocab_size, "CharTokenizer")))

    def token_to_id(self, token: str) -> int:
        if token not in self.stoi:
            raise KeyError(f"{token!r} is not a token of this CharTokenizer")
        return self.stoi[token]

    def id_to_token(self, token_id: int) -> str:
        return self.itos[as_id_list([token_id], self.vocab_size, "CharTokenizer")[0]]

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (characters, special tokens, unk token)."""
        data = {"format": self.FORMAT, "version": 1, "chars": list(self.chars),
                "special_tokens": list(self.special_tokens), "unk_token": self.unk_token}
        Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        data = read_tokenizer_file(path, cls.FORMAT)
        try:
            return cls(data["chars"], data["special_tokens"], data["unk_token"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path} is not a valid saved {cls.FORMAT}: {error}") from error

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, special_tokens={self.special_tokens}, unk_token={self.unk_token!r})"


# %%
chars = CharTokenizer.train(train_text, special_tokens=(END_OF_TEXT,))
print(chars)
print("characters:", "".join(chars.chars).replace("\n", "\\n"))
sample = 'Mia found a blue kite. "Look!" she said.\n' + END_OF_TEXT
ids = chars.encode(sample)
print(f"{len(sample)} characters -> {len(ids)} ids: {ids}")
print("decode(encode(sample)) == sample:", chars.decode(ids) == sample)
print("encode('café') raises:", expect_error(ValueError, lambda: chars.encode("café"), "'é'", "position 3"))
print("with unk_token='<unk>':", CharTokenizer.train(train_text, unk_token="<unk>").encode("café"))

# %% [markdown]
# ## 3. Bytes: a vocabulary with no unknowns
#
# Python strings are sequences of Unicode code points, over a million of them. A tokenizer
# that must handle *any* text starts one level lower, with the **UTF-8 bytes** of the text:
# every string is a sequence of bytes, and there are only 256 byte values. ASCII characters
# are one byte each; `é` is two bytes, `€` three, an emoji four.
#
# A byte-level tokenizer starts from the 256 single bytes as tokens $0..255$, so it can
# encode any string, and decoding joins the bytes and decodes them as UTF-8. The cost: text
# outside ASCII takes several tokens per character, and even ASCII takes one token per
# character, as many as the character tokenizer. Byte-pair encoding fixes that by learning
# longer tokens.

# %%
for text in ("kite", "café", "€5", "🙂"):
    print(f"{text!r}: {len(text)} characters, UTF-8 bytes {list(text.encode('utf-8'))}")

# %% [markdown]
# ## 4. Byte-pair encoding: the idea
#
# BPE (Sennrich et al., 2016, after a compression method of Gage, 1994) **learns** its
# vocabulary from the corpus, one token at a time:
#
# 1. Start with each word as its sequence of byte tokens.
# 2. Count every pair of adjacent tokens, weighted by how often the word occurs.
# 3. Replace the most frequent pair $(a, b)$ everywhere by a new token $n$ (the next free id:
#    256, 257, ...). Record the **merge** $(a, b) \to n$.
# 4. Repeat until the vocabulary has the wanted size.
#
# The result is an ordered list of merges. A token is the bytes of its two parts, joined:
# after `(' ', 't') -> 256` and `(256, 'h') -> 257`, token 257 stands for `" th"`.
#
# **Words first.** Merges are learned inside **words** only: the text is first cut into
# pieces by a regular expression (given below), so no token ever spans `"kite. The"`, and
# the same word is encoded the same way wherever it appears. The pattern keeps an optional
# leading space with a word (GPT-2's convention: `" kite"` is one piece, so the space costs
# no token of its own):
#
# ```
#   optional space + letters  |  optional space + digits  |  optional space + other symbols
#   | whitespace not followed by a non-space (a run of spaces keeps its last one for the next word)
#   | any other whitespace
# ```
#
# "Letters" are Unicode letters (`[^\W\d_]`: word characters that are not digits or `_`),
# and "other symbols" everything else that is not whitespace, so the pieces of any string
# join back to it exactly. Special tokens are cut out before this split, so they are never
# merged with anything.
#
# **Counting once per distinct word.** A slice of the training split has tens of thousands
# of pieces but only a few hundred distinct ones (the cell below prints both, and the most
# frequent pieces). Training works on the table `word -> number of occurrences` (the word as
# a tuple of byte ids), so a pair inside `" the"` is counted once, with the weight of all
# the occurrences of `" the"`.

# %%
#| export
# An optional space + letters | optional space + digits | optional space + other symbols
# | whitespace that is not followed by a non-space | other whitespace (see the prose above).
PRETOKENIZE = re.compile(r" ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+")


def pretokenize(text: str) -> list[str]:
    """``text`` cut into the pieces merges stay inside; ``"".join(pretokenize(t)) == t``."""
    return PRETOKENIZE.findall(text)


def word_counts_of(text: str, special_tokens: Iterable[str] = ()) -> dict[tuple[int, ...], int]:
    """``{word as a tuple of byte ids: occurrences}`` of the pieces of ``text``, special tokens cut out."""
    pieces: Counter[str] = Counter()
    for chunk, special in split_on_specials(text, special_token_pattern(special_tokens)):
        if not special:
            pieces.update(pretokenize(chunk))
    return {tuple(piece.encode("utf-8")): count for piece, count in pieces.items()}


# %%
print(pretokenize('Mia said, "Look at  the 3 kites!"\nThe end.'))
corpus_words = word_counts_of(train_text[:200_000], (END_OF_TEXT,))
print(f"first 200,000 characters of the train split: {sum(corpus_words.values()):,} pieces, "
      f"{len(corpus_words):,} distinct words")
print("most frequent:", [(bytes(word).decode(), count) for word, count in Counter(corpus_words).most_common(6)])


# %% [markdown]
# ### Your task: `count_pairs`
# Count the adjacent pairs of every word, each occurrence weighted by the word's count. A
# word of $L$ tokens has $L - 1$ adjacent pairs, overlapping ones included: the word
# `(97, 97, 97)` (`"aaa"`) has the pair `(97, 97)` twice. Keys are tuples `(a, b)` of ints.

# %% nbgrader={"grade": false, "grade_id": "impl-count-pairs", "locked": false, "solution": true, "schema_version": 3}
#| export
def count_pairs(word_counts: Mapping[tuple[int, ...], int]) -> dict[tuple[int, int], int]:
    """``{(a, b): total}``: each adjacent pair of each word, weighted by the word's count.

    ``count_pairs({(1, 2, 1, 2): 3, (2, 1): 1}) == {(1, 2): 6, (2, 1): 4}``. Pairs that occur
    nowhere are absent (never a count of 0).
    Hint: ``zip(word, word[1:])`` gives the adjacent pairs of a word.
    """
    ### BEGIN SOLUTION
    counts: dict[tuple[int, int], int] = {}
    for word, count in word_counts.items():
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + count
    return counts
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-count-pairs", "locked": true, "points": 2, "solution": false, "schema_version": 3}
got = count_pairs({(5, 6): 4})
assert got == {(5, 6): 4}, f"count_pairs({{(5, 6): 4}}): a pair counts once per occurrence of its word (weight by the word's count), got {got}"
got = count_pairs({(97, 97, 97): 5})
assert got == {(97, 97): 10}, f"count_pairs: 'aaa' x5 holds the pair (97, 97) twice, so 10 (overlapping pairs count), got {got}"
got = count_pairs({(1, 2, 1, 2): 3, (2, 1): 1})
assert got == {(1, 2): 6, (2, 1): 4}, f"count_pairs({{(1, 2, 1, 2): 3, (2, 1): 1}}) should be {{(1, 2): 6, (2, 1): 4}}, got {got}"
assert count_pairs({(7,): 100, (): 3}) == {}, "count_pairs: words of 0 or 1 token have no pairs (and no 0 counts)"

# Graded: random words of a few ids, and the words of a random text.
rng = unseen_rng("test-count-pairs")
words_val = {tuple(int(i) for i in rng.integers(0, 4, size=int(rng.integers(0, 7)))): int(rng.integers(1, 9))
             for _ in range(30)}
got = count_pairs(words_val)
observe("count_pairs(random words): [a, b, count] of each pair, sorted", [[a, b, n] for (a, b), n in sorted(got.items())])
text_val = " ".join(rng.choice(["ab", "ba", "aab", "abba", "b", "bab"], size=40))
got = count_pairs(word_counts_of(text_val))
observe("count_pairs(words of a random text): [a, b, count] of each pair, sorted", [[a, b, n] for (a, b), n in sorted(got.items())])


# %% [markdown]
# Merging one pair in one word is given: scan left to right and replace each occurrence of
# `(a, b)` by the new id, skipping past it, so overlapping occurrences merge once:
# `(97, 97, 97)` with `(97, 97) -> 256` becomes `(256, 97)`. After a merge no occurrence of
# the pair is left in the word.

# %% nbgrader={"grade": false, "grade_id": "given-merge-pair", "locked": true, "solution": false, "schema_version": 3}
#| export
def merge_pair(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """``ids`` with every occurrence of ``pair`` (left to right, not overlapping) replaced by ``new_id``."""
    first, second = pair
    merged: list[int] = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == first and ids[i + 1] == second:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


# %%
print("merge_pair([97, 97, 97, 98], (97, 97), 256) =", merge_pair([97, 97, 97, 98], (97, 97), 256))


# %% [markdown]
# ## 5. Training, with incremental counts
#
# The plain loop recounts every pair of every word after each merge: with $W$ distinct
# words of length $L$ and $M$ merges, $O(M \cdot W L)$ work. But a merge of $(a, b)$ changes
# only the words that contain $(a, b)$; all other words keep their pairs. So keep two tables
# from one step to the next:
#
# - `counts`: pair → weighted count (what `count_pairs` computes once, at the start);
# - `where`: pair → the set of (indices of) words that contain it.
#
# and after choosing the best pair, visit only the words in `where[best]`: for each, take
# its pairs away from `counts` (weighted by the word's count), merge the word with
# `merge_pair`, add the new word's pairs to `counts` and its index to `where` of each new pair.
# A word listed under a pair it no longer holds (it was merged away) is harmless: merging it
# changes nothing, and what is taken away is added back.
#
# **Which pair.** The most frequent one. **Ties** go to the smallest pair in numeric order,
# $(a, b) < (a', b')$ if $a < a'$, or $a = a'$ and $b < b'$: find the largest count with
# `max(counts.values())` (fast: it runs in C), then the smallest pair that has it. Any fixed
# rule works; this one makes training deterministic and easy to compute by hand. The $k$-th merge ($k = 0, 1, \dots$) gets the id $256 + k$. Training stops
# early, with fewer merges, when no pair is left (every word is a single token).
#
# **A worked example.** Words `"abab"` ×2, `"ab"` ×3, `"ba"` ×1, `"cd"` ×2 (a = 97, b = 98,
# c = 99, d = 100):
#
# | step | counts (non-zero) | best | words afterwards |
# |---|---|---|---|
# | 0 | (97,98): 7, (98,97): 3, (99,100): 2 | (97,98) → 256 | (256,256)×2, (256)×3, (98,97), (99,100)×2 |
# | 1 | (256,256): 2, (98,97): 1, (99,100): 2 | tie at 2: (99,100) → 257 | (256,256)×2, (256)×3, (98,97), (257)×2 |
# | 2 | (256,256): 2, (98,97): 1 | (256,256) → 258 | (258)×2, (256)×3, (98,97), (257)×2 |
# | 3 | (98,97): 1 | (98,97) → 259 | every word is one token: stop |
#
# ### Your task: `train_merges`

# %% nbgrader={"grade": false, "grade_id": "impl-train-merges", "locked": false, "solution": true, "schema_version": 3}
#| export
def train_merges(word_counts: Mapping[tuple[int, ...], int], num_merges: int) -> list[tuple[int, int]]:
    """The BPE merges learned from ``{word (tuple of ids): count}``, in order; merge k makes id 256 + k.

    Each step merges the most frequent pair (ties: the smallest pair), updating the pair
    counts incrementally (only the words that contain the pair change). Returns at most
    ``num_merges`` pairs, fewer if no pair is left.
    Hint: build ``counts`` (pair -> weighted count) and ``where`` (pair -> set of word
    indices) in one pass over the words; per step, pick the pair with the largest count
    (ties: the smallest pair), then update only the words listed under it in ``where``,
    deleting a count that reaches 0.
    If you are stuck: ``top = max(counts.values())``, then the smallest pair whose count is
    ``top``; ``where.pop(best)`` gives the words to update.
    """
    ### BEGIN SOLUTION
    words = [list(word) for word in word_counts]
    freqs = list(word_counts.values())
    counts: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    for index, word in enumerate(words):
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + freqs[index]
            where.setdefault(pair, set()).add(index)
    merges: list[tuple[int, int]] = []
    while len(merges) < num_merges and counts:
        top = max(counts.values())
        best = min(pair for pair, count in counts.items() if count == top)
        new_id = 256 + len(merges)
        for index in where.pop(best):
            old, new = words[index], merge_pair(words[index], best, new_id)
            if len(new) == len(old):
                continue  # the word no longer holds the pair: nothing changes
            for pair in zip(old, old[1:]):
                counts[pair] -= freqs[index]
                if counts[pair] == 0:
                    del counts[pair]
            for pair in zip(new, new[1:]):
                counts[pair] = counts.get(pair, 0) + freqs[index]
                where.setdefault(pair, set()).add(index)
            words[index] = new
        merges.append(best)
    return merges
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-train-merges", "locked": true, "points": 4, "solution": false, "schema_version": 3}
got = train_merges({tuple(b"ab"): 1, tuple(b"cd"): 5}, 1)
assert got == [(99, 100)], f"train_merges: weight each pair by its word's count: 'cd' x5 beats 'ab' x1, so [(99, 100)]; got {got}"
got = train_merges({tuple(b"aaaa"): 1}, 2)
assert got == [(97, 97), (256, 256)], \
    f"train_merges: merge k makes the new id 256 + k: 'aaaa' merges (97, 97) -> 256, then (256, 256) -> 257; got {got}"
example = {tuple(b"abab"): 2, tuple(b"ab"): 3, tuple(b"ba"): 1, tuple(b"cd"): 2}
got = train_merges(example, 10)
assert got[:1] == [(97, 98)], f"train_merges: the first merge is the most frequent pair (97, 98) (7 times), got {got[:1]}"
assert got[:2] == [(97, 98), (99, 100)], f"train_merges: at step 1 (99, 100) and (256, 256) tie at 2; the smaller pair (99, 100) wins; got {got[:2]}"
assert len(set(got)) == len(got), \
    f"train_merges learned a pair twice ({got}): after a merge, update counts and where for the words that changed"
assert got == [(97, 98), (99, 100), (256, 256), (98, 97)], f"train_merges: the worked example gives [(97, 98), (99, 100), (256, 256), (98, 97)], got {got}"
assert train_merges(example, 2) == [(97, 98), (99, 100)], "train_merges: stop after num_merges merges"
assert train_merges({(97, 97, 97): 1}, 5) == [(97, 97), (256, 97)], "train_merges: 'aaa' merges to (256, 97), then (256, 97) -> 257"
assert train_merges({tuple(b"ab"): 4}, 0) == [], "train_merges(words, 0) learns no merge"

# Graded: the merges learned from random words of a small alphabet, and from random word counts.
rng = unseen_rng("test-train-merges")
vocabulary_val = ["".join(rng.choice(list("abcd"), size=int(rng.integers(1, 6)))) for _ in range(12)]
text_val = " ".join(rng.choice(vocabulary_val, size=200))
words_val = word_counts_of(text_val)
observe("train_merges(words of a random text, 8)", np.array(train_merges(words_val, 8), dtype=np.int64).reshape(-1, 2))
observe("train_merges(words of a random text, 1000): every word merged into one token",
        np.array(train_merges(words_val, 1000), dtype=np.int64).reshape(-1, 2))
for _ in range(3):
    words_val = {tuple(int(i) for i in rng.integers(97, 100, size=int(rng.integers(1, 9)))): int(rng.integers(1, 6))
                 for _ in range(25)}
    observe("train_merges(random words of ids 97..99, 12)", np.array(train_merges(words_val, 12), dtype=np.int64).reshape(-1, 2))


# %% [markdown]
# ## 6. Encoding a word
#
# To encode a new word, start from its bytes and apply the learned merges **in the order
# they were learned**: repeatedly find, among the word's adjacent pairs, the one whose merge
# came **earliest** (the smallest new id), and merge it everywhere in the word with
# `merge_pair`; stop when no pair of the word is a merge. This reproduces exactly what
# training did to the words of the corpus, and it works on words never seen in training.
#
# `merges` here is the dictionary `{(a, b): new_id}`; the earliest merge is the one with the
# smallest `new_id`.
#
# ### Your task: `encode_word`

# %% nbgrader={"grade": false, "grade_id": "impl-encode-word", "locked": false, "solution": true, "schema_version": 3}
#| export
def encode_word(word: bytes, merges: Mapping[tuple[int, int], int]) -> list[int]:
    """The token ids of ``word`` (its bytes, then every applicable merge, earliest first).

    ``encode_word(b"aaab", {(97, 97): 256, (256, 97): 257})`` is ``[257, 98]``; bytes with no
    merge stay byte ids; ``b""`` gives ``[]``.
    Hint: start from ``list(word)``; while the word has two ids or more, find its adjacent
    pair with the smallest id in ``merges`` (a pair not in ``merges`` counts as infinitely
    late); stop if that pair is not a merge, else merge it with ``merge_pair``.
    If you are stuck: ``min`` over ``zip(ids, ids[1:])`` with ``key=lambda p: merges.get(p, float("inf"))``.
    """
    ### BEGIN SOLUTION
    ids = list(word)
    while len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: merges.get(p, float("inf")))
        if pair not in merges:
            break
        ids = merge_pair(ids, pair, merges[pair])
    return ids
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-encode-word", "locked": true, "points": 3, "solution": false, "schema_version": 3}
merges_val = {(97, 97): 256, (256, 97): 257}
got = encode_word(b"aaab", merges_val)
assert got == [257, 98], f"encode_word(b'aaab') should be [257, 98], got {got}"
assert encode_word(b"", merges_val) == [], "encode_word(b'') should be []"
got = encode_word(b"aa", merges_val)
assert got == [256], f"encode_word(b'aa'): a word of two bytes is one pair and merges too, so [256]; got {got}"
assert encode_word(b"xyz", merges_val) == [120, 121, 122], "encode_word: bytes without a merge stay byte ids"
assert encode_word(b"aaaa", merges_val) == [256, 256], "encode_word(b'aaaa'): (97, 97) merges twice, then no (256, 97) is left"
order_val = {(98, 99): 256, (97, 98): 257}
got = encode_word(b"abc", order_val)
assert got == [97, 256], f"encode_word(b'abc'): apply the earliest merge (smallest id) first: (98, 99) -> 256 before (97, 98), so [97, 256]; got {got}"


def learned_merges(words: list[list[int]], rng: np.random.Generator, count: int) -> dict[tuple[int, int], int]:
    """``count`` merges as training makes them (each merges a pair found in ``words``, everywhere,
    with the next id), but choosing each pair at random: ``{pair: id}``."""
    merges: dict[tuple[int, int], int] = {}
    for new_id in range(256, 256 + count):
        pairs = sorted({pair for word in words for pair in zip(word, word[1:])})
        if not pairs:
            break
        pair = pairs[int(rng.integers(len(pairs)))]
        words = [merge_pair(word, pair, new_id) for word in words]
        merges[pair] = new_id
    return merges


# Graded: the token ids of random texts of a small alphabet, with merges learned from one of them.
rng = unseen_rng("test-encode-word")
vocabulary_val = ["".join(rng.choice(list("abcé"), size=int(rng.integers(1, 7)))) for _ in range(10)]
train_val = " ".join(rng.choice(vocabulary_val, size=30))
ranks_val = learned_merges([list(piece.encode("utf-8")) for piece in pretokenize(train_val)], rng, 15)
for label, text_val in (("the training text", train_val),
                        ("a new text of the same letters", "".join(rng.choice(list("abcé "), size=60)))):
    observe(f"encode_word(each piece of {label}), ids joined",
            [i for piece in pretokenize(text_val) for i in encode_word(piece.encode("utf-8"), ranks_val)])
word_val = bytes(int(b) for b in rng.integers(97, 100, size=12))
observe("encode_word(12 random bytes of 'abc', merges learned from them)",
        encode_word(word_val, learned_merges([list(word_val)], rng, 6)))


# %% [markdown]
# ## 7. Decoding
#
# Every token stands for a string of bytes: the byte tokens $0..255$ for themselves, and the
# merge $(a, b) \to 256 + k$ for the bytes of $a$ followed by the bytes of $b$. Because a
# merge only uses ids made before it, one pass over the merges in order fills the table.
# Decoding a sequence is then `b"".join(table[i] for i in ids).decode("utf-8")`.
#
# ### Your task: `token_bytes`

# %% nbgrader={"grade": false, "grade_id": "impl-token-bytes", "locked": false, "solution": true, "schema_version": 3}
#| export
def token_bytes(merges: Sequence[tuple[int, int]]) -> list[bytes]:
    """The bytes of every token id: ``256 + len(merges)`` entries, entry i for id i.

    Entries 0..255 are the single bytes (``bytes([i])``); entry ``256 + k`` is the bytes of
    the two parts of merge k, joined.
    Hint: start from the 256 single bytes and append one entry per merge.
    """
    ### BEGIN SOLUTION
    table = [bytes([i]) for i in range(256)]
    for first, second in merges:
        table.append(table[first] + table[second])
    return table
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-token-bytes", "locked": true, "points": 1, "solution": false, "schema_version": 3}
table_val = token_bytes([(32, 116), (256, 104), (257, 101)])
assert len(table_val) == 259, f"token_bytes: 256 bytes + 3 merges is 259 entries, got {len(table_val)}"
assert table_val[65] == b"A" and table_val[0] == b"\x00" and table_val[255] == b"\xff", "token_bytes: entry i < 256 is bytes([i])"
assert table_val[256:] == [b" t", b" th", b" the"], \
    f"token_bytes: entry 256 + k is the bytes of merge k's first part followed by its second: merges (32, 116), (256, 104), (257, 101) are ' t', ' th', ' the'; got {table_val[256:]}"
table_val = token_bytes([(195, 169), (99, 97), (257, 102), (258, 256)])
assert table_val[256:] == [b"\xc3\xa9", b"ca", b"caf", "café".encode()], \
    f"token_bytes: merges (195, 169), (99, 97), (257, 102), (258, 256) are b'\\xc3\\xa9' (é), 'ca', 'caf', 'café'; got {table_val[256:]}"
assert token_bytes([]) == [bytes([i]) for i in range(256)], "token_bytes([]) is the 256 single bytes"

# Graded: the table of random merges, and decode(encode(text)) of a random text: the text is
# encoded here by applying the merges in order with merge_pair, and decoded with your table.
rng = unseen_rng("test-token-bytes")
merges_val = []
for k in range(int(rng.integers(5, 15))):
    merges_val.append((int(rng.integers(0, 256 + k)), int(rng.integers(0, 256 + k))))
observe("token_bytes(random merges): each entry as hex", [entry.hex() for entry in token_bytes(merges_val)])
vocabulary_val = ["".join(rng.choice(list("abé€🙂"), size=int(rng.integers(1, 5)))) for _ in range(8)]
text_val = " ".join(rng.choice(vocabulary_val, size=20))
pieces_val = [list(piece.encode("utf-8")) for piece in pretokenize(text_val)]
merges_val = []
for new_id in range(256, 276):
    pairs = sorted({pair for piece in pieces_val for pair in zip(piece, piece[1:])})
    if not pairs:
        break
    merges_val.append(pairs[int(rng.integers(len(pairs)))])
    pieces_val = [merge_pair(piece, merges_val[-1], new_id) for piece in pieces_val]
table_val = token_bytes(merges_val)
observe("decode(encode(random text)) with token_bytes(merges learned from it)",
        b"".join(table_val[i] for piece in pieces_val for i in piece).decode("utf-8", errors="replace"))

# %% [markdown]
# ## 8. The BPE tokenizer
#
# The class, given, puts your functions together:
#
# - `BPETokenizer.train(text, vocab_size, special_tokens=("<|endoftext|>",))` cuts the
#   special tokens out of `text`, counts its words (`word_counts_of`) and learns
#   `vocab_size - 256 - len(special_tokens)` merges with `train_merges`. Ids: the 256 bytes,
#   the merges, then the special tokens.
# - `encode(text, allowed_special="all")` cuts out the allowed special tokens (`"all"`,
#   `"none"`, or a collection of them; a special token that is not allowed is encoded as
#   ordinary text), pre-tokenizes the rest and encodes each piece with `encode_word`.
#   Pieces repeat a lot, so their encodings are **cached**: each distinct piece is encoded
#   once. Text that cannot be UTF-8 encoded (a lone surrogate such as `"\ud800"`) raises a
#   `ValueError` naming the position.
# - `decode(ids)` joins the bytes of the tokens (`token_bytes`) and decodes them as UTF-8,
#   with `errors="replace"`: a sequence cut inside a character, as a language model may
#   generate, shows `�` there instead of failing.
# - `save(path)` writes the merges (in order) and the special tokens as JSON;
#   `BPETokenizer.load(path)` reads them back and checks them: a file that is not JSON of
#   this format, or whose merges use ids that do not exist yet, raises a `ValueError`
#   naming the file.
# - `id_to_token(i)` shows a token as text (bytes that are not whole UTF-8 characters as
#   `\xNN` escapes); `token_to_id(s)` is its inverse for strings that are one token.

# %%
#| export
BYTE_TOKENS = 256
WORD_CACHE_LIMIT = 100_000  # distinct pieces whose encodings one tokenizer keeps


class BPETokenizer:
    """Byte-level byte-pair encoding. Ids: 256 bytes, then one per merge, then the special tokens."""

    FORMAT = "tinytorch.BPETokenizer"

    def __init__(self, merges: Sequence[tuple[int, int]] = (), special_tokens: Sequence[str] = ()) -> None:
        self.merges: list[tuple[int, int]] = []
        for k, pair in enumerate(merges):
            if (len(pair) != 2 or not all(isinstance(i, int) and not isinstance(i, bool) for i in pair)
                    or not all(0 <= i < BYTE_TOKENS + k for i in pair)):
                raise ValueError(f"BPETokenizer: merge {k} is {pair!r}; it must be two ids below {BYTE_TOKENS + k}")
            self.merges.append((pair[0], pair[1]))
        self.special_tokens = _check_special_tokens(special_tokens, "BPETokenizer")
        first_special = BYTE_TOKENS + len(self.merges)
        self.special_ids = {token: first_special + j for j, token in enumerate(self.special_tokens)}
        # the rank of a merge is its new id (earliest = smallest); a repeated pair keeps its first id
        self.ranks: dict[tuple[int, int], int] = {}
        for k, pair in enumerate(self.merges):
            self.ranks.setdefault(pair, BYTE_TOKENS + k)
        self.vocab = token_bytes(self.merges) + [token.encode("utf-8") for token in self.special_tokens]
        self._patterns: dict[frozenset[str], re.Pattern[str] | None] = {}
        self._cache: dict[str, list[int]] = {}
        self._ids_by_bytes: dict[bytes, int] = {}

    @classmethod
    def train(cls, text: str, vocab_size: int, special_tokens: Sequence[str] = (END_OF_TEXT,)) -> BPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text`` (fewer if it runs out of pairs)."""
        specials = _check_special_tokens(special_tokens, "BPETokenizer.train")
        num_merges = vocab_size - BYTE_TOKENS - len(specials)
        if num_merges < 0:
            raise ValueError(
                f"BPETokenizer.train: vocab_size {vocab_size} is too small; it must be at least "
                f"{BYTE_TOKENS + len(specials)} (256 bytes + {len(specials)} special tokens)"
            )
        return cls(train_merges(word_counts_of(text, specials), num_merges), specials)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def _special_pattern(self, allowed_special: str | Iterable[str]) -> re.Pattern[str] | None:
        if allowed_special == "all":
            allowed = frozenset(self.special_tokens)
        elif allowed_special == "none":
            allowed = frozenset()
        elif isinstance(allowed_special, str):
            raise ValueError(f"allowed_special is 'all', 'none' or a collection of special tokens, got {allowed_special!r}")
        else:
            allowed = frozenset(allowed_special)
            unknown = sorted(allowed - set(self.special_tokens))
            if unknown:
                raise ValueError(f"allowed_special names {unknown}, which are not special tokens of this tokenizer "
                                 f"(it has {list(self.special_tokens)})")
        if allowed not in self._patterns:
            self._patterns[allowed] = special_token_pattern(allowed)
        return self._patterns[allowed]

    def _encode_piece(self, piece: str) -> list[int]:
        ids = self._cache.get(piece)
        if ids is None:
            ids = encode_word(piece.encode("utf-8"), self.ranks)
            if len(self._cache) < WORD_CACHE_LIMIT:
                self._cache[piece] = ids
        return ids

    def encode(self, text: str, allowed_special: str | Iterable[str] = "all") -> list[int]:
        """Token ids of ``text``; the allowed special tokens (default: all) are one id each."""
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode takes a str, got {type(text).__name__}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"BPETokenizer.encode: the character {text[error.start]!r} at position {error.start} "
                             "cannot be encoded as UTF-8 (a lone surrogate)") from error
        ids: list[int] = []
        for chunk, special in split_on_specials(text, self._special_pattern(allowed_special)):
            if special:
                ids.append(self.special_ids[chunk])
            else:
                for piece in pretokenize(chunk):
                    ids.extend(self._encode_piece(piece))
        return ids

    def decode(self, ids: Any) -> str:
        """The text of ``ids`` (list, 1-D integer array or Tensor); invalid UTF-8 becomes U+FFFD."""
        data = b"".join(map(self.vocab.__getitem__, as_id_list(ids, self.vocab_size, "BPETokenizer")))
        return data.decode("utf-8", errors="replace")

    def id_to_token(self, token_id: int) -> str:
        """Token ``token_id`` as text; bytes that are not whole UTF-8 characters as ``\\xNN``."""
        token_id = as_id_list([token_id], self.vocab_size, "BPETokenizer")[0]
        return self.vocab[token_id].decode("utf-8", errors="backslashreplace")

    def token_to_id(self, token: str) -> int:
        """The id of the token whose text is ``token``: a special token, or the bytes of one token."""
        if token in self.special_ids:
            return self.special_ids[token]
        if not self._ids_by_bytes:  # built on first use: {bytes: smallest id with them}
            for token_id in range(len(self.vocab) - len(self.special_tokens) - 1, -1, -1):
                self._ids_by_bytes[self.vocab[token_id]] = token_id
        token_id = self._ids_by_bytes.get(token.encode("utf-8"))
        if token_id is None:
            raise KeyError(f"{token!r} is not one token of this BPETokenizer; encode() splits text into tokens")
        return token_id

    def save(self, path: str | Path) -> None:
        """Write the merges (in order) and the special tokens as JSON."""
        data = {"format": self.FORMAT, "version": 1, "merges": [list(pair) for pair in self.merges],
                "special_tokens": list(self.special_tokens)}
        Path(path).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        data = read_tokenizer_file(path, cls.FORMAT)
        merges, specials = data.get("merges"), data.get("special_tokens")
        if not isinstance(merges, list) or not all(isinstance(pair, list) for pair in merges) or not isinstance(specials, list):
            raise ValueError(f"{path} is not a valid saved {cls.FORMAT}: merges must be a list of [a, b] pairs "
                             "and special_tokens a list of strings")
        try:
            return cls([tuple(pair) for pair in merges], specials)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path} is not a valid saved {cls.FORMAT}: {error}") from error

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, special_tokens={self.special_tokens})"


# %% [markdown]
# A BPE of 512 tokens trained on a slice of the training split (the first 200,000
# characters: training on the whole split takes longer than this notebook may), the first
# merges it learned, and a sentence cut into its tokens:

# %%
import time

slice_text = train_text[:200_000]
start = time.perf_counter()
bpe = BPETokenizer.train(slice_text, vocab_size=512)
train_seconds = time.perf_counter() - start
print(f"{bpe}, trained on {len(slice_text):,} characters in {train_seconds:.2f} s")
print("first merges:", [bpe.id_to_token(256 + k) for k in range(12)])
print("last merges: ", [bpe.id_to_token(bpe.vocab_size - 2 - k) for k in range(6)][::-1])
sentence = 'Mia gave the blue kite to Tom. "Thank you!" said Tom.\n' + END_OF_TEXT
ids = bpe.encode(sentence)
print(f"{len(sentence)} characters -> {len(ids)} tokens:", [bpe.id_to_token(i) for i in ids])
print("round trip:", bpe.decode(ids) == sentence, "| special token id:", bpe.token_to_id(END_OF_TEXT))
unseen = "Zoë's robot counted 12 stars 🙂"
print(f"unseen text {unseen!r}: {len(bpe.encode(unseen))} tokens, round trip {bpe.decode(bpe.encode(unseen)) == unseen}")

# %% [markdown]
# ## 9. Systems analysis
#
# ### Compression against vocabulary size
# BPE training is greedy: the first 32 merges of a 512-token training run are exactly what
# a run of 32 merges learns (the cell checks it). So the cell below builds tokenizers of 256 + 32, 256 + 128 and
# 256 + 255 tokens (plus `<|endoftext|>`) from the merges of the run above, and encodes the
# first 50,000 characters of the **validation** split with each, next to the character
# tokenizer and the plain bytes (no merges). It prints tokens per character (lower: shorter
# sequences) and bytes per token.

# %%
prefix_ok = train_merges(corpus_words, 32) == bpe.merges[:32]  # the same 200,000 characters' words
print(f"a 32-merge run learns the first 32 merges of the 255-merge run: {prefix_ok}")
val_slice = val_text[:50_000]
val_bytes = len(val_slice.encode("utf-8"))
print(f"validation slice: {len(val_slice):,} characters, {val_bytes:,} bytes")
print(f"{'tokenizer':>26} {'vocab':>6} {'tokens':>8} {'tokens/char':>12} {'bytes/token':>12}")
rows = [("characters", chars.vocab_size, len(chars.encode(val_slice)))]
for merge_count in (0, 32, 128, len(bpe.merges)):
    sized = BPETokenizer(bpe.merges[:merge_count], (END_OF_TEXT,))
    rows.append((f"BPE, {merge_count} merges", sized.vocab_size, len(sized.encode(val_slice))))
for name, vocab, count in rows:
    print(f"{name:>26} {vocab:6d} {count:8,d} {count / len(val_slice):12.3f} {val_bytes / count:12.2f}")


# %% [markdown]
# ### Incremental counts against a full recount
# The plain trainer below recounts every pair with your `count_pairs` after each merge and
# rewrites every word with `merge_pair`. Both trainers learn 64 merges from the words of a
# slice of 20,000 characters; the cell checks that they learn the same merges and prints the
# times (CPU time of this process, so that other programs running on the machine count less)
# and their ratio.

# %%
def naive_train_merges(word_counts: Mapping[tuple[int, ...], int], num_merges: int) -> list[tuple[int, int]]:
    """The plain loop: recount all pairs of all words after every merge."""
    words = dict(word_counts)
    merges: list[tuple[int, int]] = []
    while len(merges) < num_merges:
        counts = count_pairs(words)
        if not counts:
            break
        top = max(counts.values())
        best = min(pair for pair, count in counts.items() if count == top)
        rewritten: dict[tuple[int, ...], int] = {}
        for word, count in words.items():
            new = tuple(merge_pair(word, best, BYTE_TOKENS + len(merges)))
            rewritten[new] = rewritten.get(new, 0) + count
        words = rewritten
        merges.append(best)
    return merges


small_words = word_counts_of(train_text[:20_000], (END_OF_TEXT,))
start = time.process_time()
fast_merges = train_merges(small_words, 64)
incremental_seconds = time.process_time() - start
start = time.process_time()
slow_merges = naive_train_merges(small_words, 64)
naive_seconds = time.process_time() - start
assert fast_merges == slow_merges, "the two trainers should learn the same merges"
print(f"{len(small_words)} distinct words, 64 merges: incremental {incremental_seconds * 1e3:.1f} ms, "
      f"full recount {naive_seconds * 1e3:.1f} ms ({naive_seconds / incremental_seconds:.1f}x), same merges: True")

# %% [markdown]
# ### What the choice costs a language model
# Module 14's GPT sees a story as a sequence of tokens. Per story of the validation slice,
# the cell prints the mean number of tokens with each tokenizer, the number of entries of
# one attention score matrix ($T^2$ per head and layer) for that mean length, and the
# parameters of an embedding table plus an output layer of width $d = 128$
# ($2 \cdot V \cdot d$).

# %%
stories_val = split_stories(val_slice)[:-1]  # whole stories only
d_model = 128
for name, tokenizer in (("characters", chars), ("BPE, 512 tokens", bpe)):
    mean_tokens = float(np.mean([len(tokenizer.encode(story)) for story in stories_val]))
    print(f"{name:>16}: {mean_tokens:6.1f} tokens per story, attention matrix {mean_tokens ** 2:9,.0f} entries, "
          f"embedding + output {2 * tokenizer.vocab_size * d_model:7,d} parameters")

# %% [markdown]
# ## Summary
#
# You built the two tokenizers a language model can stand on. The character tokenizer has a
# vocabulary of a few dozen characters, and fails loudly (or maps to `<unk>`) on a character
# it has not seen. The byte-level BPE starts from the 256 bytes, so it encodes any string,
# and learns merges of frequent pairs, counted once per distinct word and updated
# incrementally after each merge; encoding applies the merges earliest first, and decoding
# joins the bytes of the tokens.
#
# The analysis printed the trade: more merges give fewer tokens per character (the
# compression table), the incremental trainer learns the same merges as a full recount in a
# fraction of the time, and a BPE story is a fraction of the tokens of a character story,
# which makes its attention matrix smaller by the square of that fraction, for a larger
# embedding table.
#
# **Reflection questions**
#
# 1. In the compression table, which step in merges bought the most, and why do the last
#    merges buy less? (Think about what the frequency of the $k$-th merged pair must be.)
# 2. The incremental trainer still scans every pair to find the most frequent one at each
#    step. What data structure would find it faster, and what would it have to support when
#    counts go down?
# 3. A character tokenizer trained on this corpus knows 50-odd characters. What happens when
#    a user types a name with an `é`? What does the BPE do with it, and at what cost in tokens?
# 4. The cell above compares an attention matrix and an embedding table for the two
#    tokenizers. For a model of 6 layers with 4 heads, which of the two costs dominates the
#    memory of one training step on a story, and how would that change for a vocabulary of
#    50,000 tokens?
# 5. `encode` caches the tokens of each distinct piece. Why is that cache small for this
#    corpus, and what would bound its size for arbitrary text from users?
