"""Module 11 (tokenization): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-char-encode": '''
def char_encode(text: str, stoi: Mapping[str, int], unk_id: int | None = None, start: int = 0) -> list[int]:
    """The id of each character of text; unknown characters become unk_id or raise ValueError."""
    missing = [i for i, char in enumerate(text) if char not in stoi]
    if missing and unk_id is None:
        first = missing[0]
        raise ValueError(
            f"unknown character {text[first]!r} (position {start + first}): CharTokenizer was not trained on it; "
            "retrain with that character in the text or pass unk_token"
        )
    return [stoi[char] if char in stoi else unk_id for char in text]
''',
    "impl-count-pairs": '''
def count_pairs(word_counts: Mapping[tuple[int, ...], int]) -> dict[tuple[int, int], int]:
    """Weighted counts of adjacent pairs, with a Counter and index arithmetic."""
    totals = Counter()
    for word, count in word_counts.items():
        for i in range(len(word) - 1):
            totals[(word[i], word[i + 1])] += count
    return {pair: n for pair, n in totals.items() if n}
''',
    "impl-train-merges": '''
def train_merges(word_counts: Mapping[tuple[int, ...], int], num_merges: int) -> list[tuple[int, int]]:
    """BPE merges, with words kept as tuples and each word's pair Counter kept to update counts."""
    entries = [(tuple(word), count) for word, count in word_counts.items()]
    words = [word for word, _ in entries]
    weights = [count for _, count in entries]
    counts = Counter()
    holders: dict[tuple[int, int], list[int]] = {}
    for index, word in enumerate(words):
        for pair in zip(word, word[1:]):
            counts[pair] += weights[index]
            holders.setdefault(pair, []).append(index)
    learned: list[tuple[int, int]] = []
    for step in range(num_merges):
        live = {pair: n for pair, n in counts.items() if n > 0}
        if not live:
            break
        best = max(live, key=lambda pair: (live[pair], -pair[0], -pair[1]))
        new_id = 256 + step
        for index in dict.fromkeys(holders.pop(best, [])):  # each word once, in order
            word, weight = words[index], weights[index]
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    merged.append(new_id)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            merged = tuple(merged)
            if merged == word:
                continue
            counts.subtract({pair: weight * n for pair, n in Counter(zip(word, word[1:])).items()})
            for pair in zip(merged, merged[1:]):
                counts[pair] += weight
                holders.setdefault(pair, []).append(index)
            words[index] = merged
        counts = Counter({pair: n for pair, n in counts.items() if n > 0})
        learned.append(best)
    return learned
''',
    "impl-encode-word": '''
def encode_word(word: bytes, merges: Mapping[tuple[int, int], int]) -> list[int]:
    """Merge the earliest-learned pair present, again and again, with a hand-written scan."""
    ids = [int(b) for b in word]
    while True:
        best_rank, best_pair = None, None
        for i in range(len(ids) - 1):
            rank = merges.get((ids[i], ids[i + 1]))
            if rank is not None and (best_rank is None or rank < best_rank):
                best_rank, best_pair = rank, (ids[i], ids[i + 1])
        if best_pair is None:
            return ids
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and ids[i] == best_pair[0] and ids[i + 1] == best_pair[1]:
                out.append(best_rank)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
''',
    "impl-token-bytes": '''
def token_bytes(merges: Sequence[tuple[int, int]]) -> list[bytes]:
    """Bytes of every token id, built from byte values recursively with a memo."""
    memo: dict[int, bytes] = {}

    def expand(token: int) -> bytes:
        if token < 256:
            return bytes((token,))
        if token not in memo:
            left, right = merges[token - 256]
            memo[token] = b"".join((expand(left), expand(right)))
        return memo[token]

    return [expand(token) for token in range(256 + len(merges))]
''',
}
