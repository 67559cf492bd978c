"""Likely mistakes in module 11 (tokenization) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("char_encode ignores start", "impl-char-encode", "at position {start + i}", "at position {i}",
            "test-char-encode", "the position counts from start"),
    Mistake("char_encode takes unk_id=0 for no unk_id", "impl-char-encode", "if unk_id is None:", "if not unk_id:",
            "test-char-encode", "unk_id=0 is a valid id"),
    Mistake("count_pairs ignores the word counts", "impl-count-pairs", "counts[pair] = counts.get(pair, 0) + count",
            "counts[pair] = counts.get(pair, 0) + 1", "test-count-pairs", "weight by the word's count"),
    Mistake("train_merges breaks ties towards the largest pair", "impl-train-merges",
            "best = min(pair for pair, count in counts.items() if count == top)",
            "best = max(pair for pair, count in counts.items() if count == top)", "test-train-merges", "the smaller pair"),
    Mistake("train_merges counts each word once", "impl-train-merges",
            "counts[pair] = counts.get(pair, 0) + freqs[index]\n            where",
            "counts[pair] = counts.get(pair, 0) + 1\n            where", "test-train-merges",
            "weight each pair by its word's count"),
    Mistake("train_merges numbers merge k as 257 + k", "impl-train-merges", "new_id = 256 + len(merges)",
            "new_id = 257 + len(merges)", "test-train-merges", "256 + k"),
    Mistake("encode_word merges the leftmost known pair, not the earliest merge", "impl-encode-word",
            'pair = min(zip(ids, ids[1:]), key=lambda p: merges.get(p, float("inf")))',
            "pair = next((p for p in zip(ids, ids[1:]) if p in merges), (None, None))", "test-encode-word",
            "apply the earliest merge"),
    Mistake("token_bytes joins the parts in the wrong order", "impl-token-bytes", "table.append(table[first] + table[second])",
            "table.append(table[second] + table[first])", "test-token-bytes", "first part followed by its second"),
)
