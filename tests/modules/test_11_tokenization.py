"""Unit tests of Module 11: ``tinytorch.text.tokenizers`` (corpus, character and BPE tokenizers).

References are written here: a BPE trainer that recounts every pair after each merge, the
merges applied to a word one after another in the order they were learned, and merges
computed by hand. The behaviour mirrored is that of byte-level BPE tokenizers as GPT-2 and
tiktoken define it (256 byte tokens, merges inside pre-tokenized words, special tokens
matched as whole strings); the tie rule (equal counts: the smallest pair) is this course's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.data import DATA_DIR_VARIABLE
from tinytorch.tensor import Tensor
from tinytorch.text.tokenizers import (
    CORPUS_FILE,
    END_OF_TEXT,
    BPETokenizer,
    CharTokenizer,
    count_pairs,
    encode_word,
    load_corpus,
    merge_pair,
    pretokenize,
    split_stories,
    token_bytes,
    train_merges,
    word_counts_of,
)

PROPERTY = settings(max_examples=40, deadline=None, derandomize=True, database=None)
REPO = Path(__file__).resolve().parents[2]
CORPUS_DIR = REPO / "data" / "corpus"


# ---------------------------------------------------------------------------------------------
# references written for the tests
# ---------------------------------------------------------------------------------------------
def merged(ids: tuple[int, ...] | list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """``ids`` with ``pair`` replaced by ``new_id``, scanning left to right (no overlaps)."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def naive_merges(word_counts: dict[tuple[int, ...], int], num_merges: int) -> list[tuple[int, int]]:
    """BPE training that recounts every pair of every word after each merge (ties: smallest pair)."""
    words = dict(word_counts)
    merges: list[tuple[int, int]] = []
    for k in range(num_merges):
        counts: dict[tuple[int, int], int] = {}
        for word, count in words.items():
            for i in range(len(word) - 1):
                counts[word[i], word[i + 1]] = counts.get((word[i], word[i + 1]), 0) + count
        if not counts:
            break
        best = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]
        rewritten: dict[tuple[int, ...], int] = {}
        for word, count in words.items():
            new = tuple(merged(word, best, 256 + k))
            rewritten[new] = rewritten.get(new, 0) + count
        words = rewritten
        merges.append(best)
    return merges


def apply_in_order(word: bytes, merges: list[tuple[int, int]]) -> list[int]:
    """The word's bytes with merge k (-> 256 + k) applied everywhere, for k = 0, 1, ... in turn."""
    ids = list(word)
    for k, pair in enumerate(merges):
        ids = merged(ids, pair, 256 + k)
    return ids


words_strategy = st.dictionaries(
    st.lists(st.integers(97, 100), min_size=1, max_size=8).map(tuple), st.integers(1, 6), min_size=1, max_size=12
)


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    """A BPE of 400 tokens trained on the first 60,000 characters of the training split."""
    return BPETokenizer.train(load_corpus("train")[:60_000], vocab_size=400)


# ---------------------------------------------------------------------------------------------
# the corpus
# ---------------------------------------------------------------------------------------------
def test_the_corpus_regenerates_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "stories.txt"
    run = subprocess.run([sys.executable, str(CORPUS_DIR / "make_stories.py"), "--out", str(out)],
                         capture_output=True, text=True, check=True)
    assert out.read_bytes() == (CORPUS_DIR / "stories.txt").read_bytes(), "stories.txt differs from a fresh run of make_stories.py"
    assert "wrote" in run.stdout


def test_the_corpus_file_is_what_its_readme_says() -> None:
    data = (CORPUS_DIR / "stories.txt").read_bytes()
    text = data.decode("utf-8")
    readme = (CORPUS_DIR / "README.md").read_text(encoding="utf-8")
    stories = split_stories(text)
    assert 1_000_000 <= len(data) <= 1_500_000, "the corpus should be 1.0-1.5 MB"
    assert f"{len(data):,} bytes" in readme and f"{len(stories):,} short children's stories" in readme
    assert f"{len(set(text))} distinct characters" in readme
    words = set(re.findall(r"[A-Za-z]+", text.replace(END_OF_TEXT, "")))
    assert f"{len(words)} distinct words" in readme
    assert f"{len(stories) // 10} of {len(stories):,}" in readme, "the README states the validation count"
    assert text.endswith(END_OF_TEXT + "\n") and "\r" not in text
    assert all(story.endswith("\n" + END_OF_TEXT + "\n") for story in stories)
    assert all(END_OF_TEXT not in story[: -len(END_OF_TEXT) - 1] for story in stories), "one separator per story"


def test_every_story_refers_back_to_its_hero_and_its_object() -> None:
    colours = "red|blue|green|yellow|pink|purple|orange|white|black|brown"
    for story in split_stories(load_corpus("all")):
        hero = re.search(r"named (\w+)|called (\w+)|^(\w+) was a little", story)
        assert hero is not None, story[:80]
        name = next(group for group in hero.groups() if group)
        paragraphs = story.split("\n")
        assert name in paragraphs[-3], f"the hero {name} should appear again in the last paragraph"
        thing = re.search(rf"\b({colours}) (\w+)", story)
        assert thing is not None and story.count(thing.group(2)) >= 2, "the object is mentioned more than once"


def test_load_corpus_splits_are_disjoint_and_cover_the_file() -> None:
    everything = load_corpus("all")
    assert everything == (CORPUS_DIR / "stories.txt").read_text(encoding="utf-8")
    train, val = load_corpus("train"), load_corpus("val")
    assert load_corpus() == train, "the default split is train"
    assert train + val == everything
    stories = split_stories(everything)
    n_val = len(stories) // 10
    assert split_stories(val) == stories[len(stories) - n_val:], "val is the last n // 10 stories"
    assert split_stories(train) == stories[: len(stories) - n_val]
    assert len(split_stories(train)) + len(split_stories(val)) == len(stories)


def test_split_stories_keeps_every_character() -> None:
    assert split_stories("") == []
    assert split_stories(f"a\n{END_OF_TEXT}\nb\n{END_OF_TEXT}\ntail") == [f"a\n{END_OF_TEXT}\n", f"b\n{END_OF_TEXT}\n", "tail"]


def test_load_corpus_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'validation'"):
        load_corpus("validation")
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(FileNotFoundError) as caught:
        load_corpus("train")
    message = str(caught.value)
    assert str(tmp_path / CORPUS_FILE) in message and DATA_DIR_VARIABLE in message and "make_stories.py" in message


def test_load_corpus_reads_the_folder_of_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stories = [f"story {i}\n{END_OF_TEXT}\n" for i in range(25)]
    (tmp_path / CORPUS_FILE).parent.mkdir()
    (tmp_path / CORPUS_FILE).write_text("".join(stories), encoding="utf-8")
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))
    assert load_corpus("val") == "".join(stories[23:]), "25 stories: the last 2 are validation"
    assert load_corpus("train") == "".join(stories[:23])


# ---------------------------------------------------------------------------------------------
# the character tokenizer
# ---------------------------------------------------------------------------------------------
def test_char_vocabulary_is_sorted_then_specials_then_unk() -> None:
    tok = CharTokenizer.train(f"hello{END_OF_TEXT}world", special_tokens=(END_OF_TEXT,), unk_token="<unk>")
    assert tok.chars == ("d", "e", "h", "l", "o", "r", "w"), "sorted distinct characters, special tokens cut out"
    assert tok.itos[7:] == [END_OF_TEXT, "<unk>"] and tok.vocab_size == 9
    assert tok.encode(f"hold{END_OF_TEXT}") == [2, 4, 3, 0, 7]
    assert tok.encode("hex!") == [2, 1, 8, 8], "unknown characters map to <unk>"
    assert tok.token_to_id("<unk>") == 8 and tok.id_to_token(0) == "d"
    assert CharTokenizer.train("").vocab_size == 0


CHARS = CharTokenizer.train("the quick brown fox!\n\t\u00e9\u20ac\U0001f642" + END_OF_TEXT, special_tokens=(END_OF_TEXT,))


@PROPERTY
@given(st.data())
def test_char_round_trip_over_its_alphabet(data: st.DataObject) -> None:
    tok = CHARS
    pieces = data.draw(st.lists(st.one_of(st.text(alphabet="".join(tok.chars)), st.just(END_OF_TEXT))))
    text = "".join(pieces)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) == len(text.replace(END_OF_TEXT, "#")), "one id per character, one per special token"


def test_char_unknown_character_error_names_it_and_its_position() -> None:
    tok = CharTokenizer.train("abc", special_tokens=(END_OF_TEXT,))
    with pytest.raises(ValueError, match=r"'é' at position 16"):
        tok.encode(f"ab{END_OF_TEXT}cé")
    with pytest.raises(ValueError, match="'x' at position 0"):
        tok.encode("x")


def test_char_save_load_round_trip(tmp_path: Path) -> None:
    text = load_corpus("val")[:5000]
    tok = CharTokenizer.train(text, special_tokens=(END_OF_TEXT, "<pad>"), unk_token="<unk>")
    tok.save(tmp_path / "chars.json")
    again = CharTokenizer.load(tmp_path / "chars.json")
    assert again.itos == tok.itos and again.encode(text + "é") == tok.encode(text + "é")


# ---------------------------------------------------------------------------------------------
# pieces, pairs and merges
# ---------------------------------------------------------------------------------------------
@PROPERTY
@given(st.text())
def test_pretokenize_pieces_join_back(text: str) -> None:
    assert "".join(pretokenize(text)) == text


def test_pretokenize_keeps_a_leading_space_with_a_word() -> None:
    assert pretokenize("Mia  saw 12 kites!\n") == ["Mia", " ", " saw", " 12", " kites", "!", "\n"]
    assert pretokenize("snake_case über") == ["snake", "_", "case", " über"]


def test_word_counts_cut_out_special_tokens() -> None:
    counts = word_counts_of(f"a b{END_OF_TEXT} b", (END_OF_TEXT,))
    assert counts == {(97,): 1, (32, 98): 2}
    assert word_counts_of(f"a{END_OF_TEXT}")[(60, 124)] == 1, "without special tokens, '<|' is an ordinary piece"


@PROPERTY
@given(words_strategy)
def test_count_pairs_matches_a_direct_count(words: dict[tuple[int, ...], int]) -> None:
    expected: dict[tuple[int, int], int] = {}
    for word, count in words.items():
        for i in range(len(word) - 1):
            expected[word[i], word[i + 1]] = expected.get((word[i], word[i + 1]), 0) + count
    assert count_pairs(words) == expected


def test_merge_pair_is_left_to_right_and_not_overlapping() -> None:
    assert merge_pair([97, 97, 97], (97, 97), 256) == [256, 97]
    assert merge_pair([97, 97, 97, 97], (97, 97), 256) == [256, 256]
    assert merge_pair([1, 2, 3, 1, 2], (1, 2), 9) == [9, 3, 9]
    assert merge_pair([], (1, 2), 9) == [] and merge_pair([1], (1, 2), 9) == [1]


def test_train_merges_hand_example_with_a_tie() -> None:
    # abab x2, ab x3, ba x1, cd x2 -> (a,b) 7 times; then (256,256) and (c,d) tie at 2: (99,100) is smaller
    example = {tuple(b"abab"): 2, tuple(b"ab"): 3, tuple(b"ba"): 1, tuple(b"cd"): 2}
    assert train_merges(example, 10) == [(97, 98), (99, 100), (256, 256), (98, 97)], "stops when no pair is left"
    assert train_merges(example, 1) == [(97, 98)]
    assert train_merges(example, 0) == []


def test_bpe_train_on_the_classic_example() -> None:
    # "aaabdaaabac": (a,a) 4 times (overlapping) -> 256; then (a,b) and (256,a) tie at 2: (97,98) -> 257;
    # then (256,257) -> 258, leaving 258 d 258 a c
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=259, special_tokens=())
    assert tok.merges == [(97, 97), (97, 98), (256, 257)]
    assert tok.encode("aaabdaaabac") == [258, 100, 258, 97, 99]


@PROPERTY
@given(words_strategy, st.integers(0, 15))
def test_incremental_training_equals_a_full_recount(words: dict[tuple[int, ...], int], num_merges: int) -> None:
    assert train_merges(words, num_merges) == naive_merges(words, num_merges)


def test_incremental_training_equals_a_full_recount_on_the_corpus() -> None:
    words = word_counts_of(load_corpus("train")[:8000], (END_OF_TEXT,))
    assert train_merges(words, 60) == naive_merges(words, 60)


@PROPERTY
@given(words_strategy, st.integers(0, 12))
def test_encode_word_reproduces_training(words: dict[tuple[int, ...], int], num_merges: int) -> None:
    merges = train_merges(words, num_merges)
    ranks = {pair: 256 + k for k, pair in enumerate(merges)}
    for word in words:
        assert encode_word(bytes(word), ranks) == apply_in_order(bytes(word), merges)


@PROPERTY
@given(st.binary(max_size=12).filter(lambda b: all(97 <= c <= 99 for c in b)), st.data())
def test_encode_word_applies_any_valid_merge_list_in_order(word: bytes, data: st.DataObject) -> None:
    merges: list[tuple[int, int]] = []
    for k in range(data.draw(st.integers(0, 8))):
        ids = st.integers(97, 99) | st.integers(256, 255 + k) if k else st.integers(97, 99)
        pair = data.draw(st.tuples(ids, ids))
        if pair not in merges:  # a trained merge list never repeats a pair
            merges.append(pair)
    ranks = {pair: 256 + k for k, pair in enumerate(merges)}
    assert encode_word(word, ranks) == apply_in_order(word, merges)


def test_token_bytes() -> None:
    table = token_bytes([(104, 105), (256, 33)])
    assert table[:256] == [bytes([i]) for i in range(256)] and table[256:] == [b"hi", b"hi!"]


# ---------------------------------------------------------------------------------------------
# the BPE tokenizer
# ---------------------------------------------------------------------------------------------
@PROPERTY
@given(st.text())
def test_bpe_round_trips_any_text(bpe: BPETokenizer, text: str) -> None:
    ids = bpe.encode(text)
    assert bpe.decode(ids) == text
    assert all(0 <= i < bpe.vocab_size for i in ids)


@PROPERTY
@given(st.lists(st.one_of(st.text(max_size=20), st.just(END_OF_TEXT))))
def test_bpe_special_tokens_are_whole_and_never_merged(bpe: BPETokenizer, pieces: list[str]) -> None:
    text = "".join(pieces)
    special = bpe.token_to_id(END_OF_TEXT)
    ids = bpe.encode(text)
    assert bpe.decode(ids) == text
    # the same as encoding the text between special tokens on its own: nothing merges across them
    expected: list[int] = []
    for i, chunk in enumerate(text.split(END_OF_TEXT)):
        expected += ([special] if i else []) + bpe.encode(chunk)
    assert ids == expected
    plain = bpe.encode(text, allowed_special="none")
    assert special not in plain and bpe.decode(plain) == text, "a special token that is not allowed is ordinary text"


def test_bpe_vocabulary_layout(bpe: BPETokenizer) -> None:
    assert bpe.vocab_size == 400 and len(bpe.merges) == 400 - 256 - 1
    assert bpe.token_to_id(END_OF_TEXT) == 399 and bpe.id_to_token(399) == END_OF_TEXT
    assert bpe.id_to_token(65) == "A" and bpe.token_to_id("A") == 65
    first = bpe.merges[0]
    assert bpe.id_to_token(256) == bpe.id_to_token(first[0]) + bpe.id_to_token(first[1])
    assert bpe.token_to_id(bpe.id_to_token(300)) == 300
    assert bpe.id_to_token(0xC3) == "\\xc3", "a byte that is not a whole character shows as an escape"
    with pytest.raises(KeyError, match="is not one token"):
        bpe.token_to_id("The quick brown fox")
    assert not any(END_OF_TEXT.encode() in bpe.vocab[i] for i in range(399)), "no merged token holds the special token"


def test_bpe_training_stops_when_no_pair_is_left() -> None:
    tok = BPETokenizer.train("ab ab", vocab_size=1000, special_tokens=())
    assert tok.merges == [(97, 98), (32, 256)] and tok.vocab_size == 258


def test_bpe_compresses_held_out_text(bpe: BPETokenizer) -> None:
    val = load_corpus("val")[:20_000]
    assert len(bpe.encode(val)) < 0.6 * len(val.encode("utf-8")), "400 tokens should encode the stories well below a byte per token"


def test_bpe_allowed_special_subsets() -> None:
    tok = BPETokenizer.train("a b", vocab_size=258, special_tokens=("<a>", "<b>"))
    assert tok.encode("<a><b>", allowed_special={"<b>"}) == tok.encode("<a>", allowed_special="none") + [257]
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode("x", allowed_special={"<c>"})
    with pytest.raises(ValueError, match="allowed_special"):
        tok.encode("x", allowed_special="some")


def test_longer_special_token_wins() -> None:
    tok = BPETokenizer(special_tokens=("<|end|>", "<|end|>x"))
    assert tok.encode("<|end|>x<|end|>") == [257, 256]


def test_bpe_errors() -> None:
    with pytest.raises(ValueError, match="at least 257"):
        BPETokenizer.train("abc", vocab_size=256)
    with pytest.raises(TypeError, match="not one string"):
        BPETokenizer.train("abc", vocab_size=300, special_tokens=END_OF_TEXT)
    with pytest.raises(ValueError, match="distinct"):
        BPETokenizer(special_tokens=("<x>", "<x>"))
    with pytest.raises(ValueError, match="merge 0"):
        BPETokenizer(merges=[(256, 97)])
    tok = BPETokenizer()
    with pytest.raises(ValueError, match="position 2"):
        tok.encode("ab\ud800")
    with pytest.raises(TypeError, match="str"):
        tok.encode(b"bytes")  # type: ignore[arg-type]


def test_decode_takes_lists_arrays_and_tensors(bpe: BPETokenizer) -> None:
    ids = bpe.encode("Mia found a kite.")
    assert bpe.decode(np.array(ids)) == bpe.decode(Tensor(ids, dtype=np.int64)) == bpe.decode(tuple(ids)) == "Mia found a kite."
    assert bpe.decode([]) == "" and bpe.decode(np.array([], dtype=np.int64)) == ""
    with pytest.raises(TypeError, match="integer ids"):
        bpe.decode(np.array(ids, dtype=np.float32))
    with pytest.raises(TypeError, match="integer ids"):
        bpe.decode(Tensor(ids))  # float32 by default
    with pytest.raises(TypeError, match="one sequence"):
        bpe.decode(np.array([ids, ids]))
    with pytest.raises(ValueError, match="id 400 is out of range"):
        bpe.decode([1, 400])
    with pytest.raises(ValueError, match="id -1"):
        bpe.decode([-1])
    with pytest.raises(TypeError, match="list, NumPy array or Tensor"):
        bpe.decode("abc")
    chars = CharTokenizer.train("ab")
    with pytest.raises(ValueError, match="id 2 is out of range"):
        chars.decode([0, 1, 2])


def test_decode_of_a_cut_character_shows_a_replacement() -> None:
    tok = BPETokenizer()
    ids = tok.encode("é")
    assert ids == [0xC3, 0xA9] and tok.decode(ids[:1]) == "\ufffd"


def test_bpe_save_load_round_trip(bpe: BPETokenizer, tmp_path: Path) -> None:
    path = tmp_path / "bpe.json"
    bpe.save(path)
    again = BPETokenizer.load(path)
    text = load_corpus("val")[:3000] + "Zoë 🙂"
    assert again.merges == bpe.merges and again.special_tokens == bpe.special_tokens
    assert again.encode(text) == bpe.encode(text) and again.decode(bpe.encode(text)) == text


@pytest.mark.parametrize("cls", [BPETokenizer, CharTokenizer])
def test_loading_a_corrupt_or_foreign_file_names_it(cls: type, tmp_path: Path) -> None:
    cases = {
        "not_json.json": "{merges: [",
        "not_utf8.json": b"\xff\xfe\x00",
        "list.json": "[1, 2]",
        "other_format.json": json.dumps({"format": "someone.else", "version": 1}),
    }
    other = CharTokenizer if cls is BPETokenizer else BPETokenizer
    cases["other_tokenizer.json"] = json.dumps({"format": other.FORMAT, "version": 1})
    cases["bad_fields.json"] = json.dumps({"format": cls.FORMAT, "version": 1, "merges": [[300, 1]], "special_tokens": [],
                                           "chars": ["ab"], "unk_token": None})
    cases["missing_fields.json"] = json.dumps({"format": cls.FORMAT, "version": 1})
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(ValueError) as caught:
            cls.load(path)
        assert str(path) in str(caught.value), f"{name}: the error should name the file"
    with pytest.raises(FileNotFoundError):
        cls.load(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------
# the whole corpus, and the namespace
# ---------------------------------------------------------------------------------------------
def test_whole_corpus_trains_and_encodes_in_seconds() -> None:
    train, everything = load_corpus("train"), load_corpus("all")
    start = time.process_time()  # CPU time: other programs on a shared machine do not count
    tok = BPETokenizer.train(train, vocab_size=512)
    trained = time.process_time() - start
    start = time.process_time()
    ids = tok.encode(everything)
    encoded = time.process_time() - start
    assert tok.vocab_size == 512 and tok.decode(ids) == everything
    assert ids.count(tok.token_to_id(END_OF_TEXT)) == len(split_stories(everything))
    assert trained < 10 and encoded < 10, f"training took {trained:.1f} s of CPU time, encoding {encoded:.1f} s"


def test_the_text_namespace_is_lazy() -> None:
    code = (
        "import sys, tinytorch.text\n"
        "print(sorted(m for m in sys.modules if m.startswith('tinytorch')))\n"
        "from tinytorch.text import BPETokenizer, CharTokenizer, load_corpus\n"
        "print(BPETokenizer.__module__, CharTokenizer.__module__, load_corpus.__module__)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = run.stdout.strip().splitlines()
    assert first == "['tinytorch', 'tinytorch.nn', 'tinytorch.text']"
    assert second == "tinytorch.text.tokenizers " * 2 + "tinytorch.text.tokenizers"
