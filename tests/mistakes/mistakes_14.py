"""Likely mistakes in module 14 (transformers) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("block_forward normalizes the sum (post-norm)", "impl-block-forward",
            "return h + block.mlp(block.ln_2(h))", "return block.ln_2(h + block.mlp(h))",
            "test-block-forward", "normalize the branch's input"),
    Mistake("gpt_forward starts the positions at 0 with a cache", "impl-gpt-forward",
            "model.pos_emb(model.tok_emb(idx), offset=offset)", "model.pos_emb(model.tok_emb(idx), offset=0)",
            "test-gpt-forward", "offset = cache.get_seq_length(0)"),
    Mistake("gpt_forward refuses exactly max_seq_len tokens", "impl-gpt-forward",
            "if offset + T > model.config.max_seq_len:", "if offset + T >= model.config.max_seq_len:",
            "test-gpt-forward", "exactly max_seq_len tokens fit"),
    Mistake("sample_next_token forgets the temperature", "impl-sample-next-token",
            "z = logits.astype(np.float64) / temperature", "z = logits.astype(np.float64)",
            "test-sample-next-token", "divide the logits by the temperature"),
    Mistake("sample_next_token drops the k-th largest logit", "impl-sample-next-token",
            "z = np.where(z < kth[:, None], -np.inf, z)", "z = np.where(z <= kth[:, None], -np.inf, z)",
            "test-sample-next-token", "top_k=2 keeps exactly ids 1 and 2"),
    Mistake("sample_next_token does not subtract the row maximum", "impl-sample-next-token",
            "weights = np.exp(z - z.max(axis=-1, keepdims=True))", "weights = np.exp(z)",
            "test-sample-next-token", "must not overflow"),
    Mistake("generate_tokens feeds the last token back with a cache", "impl-generate-tokens",
            "if step < max_new_tokens - 1:", "if True:", "test-generate-tokens", "and not the last one"),
    Mistake("generate_tokens runs the prompt when no token is asked for", "impl-generate-tokens",
            "    if max_new_tokens == 0:\n        return tokens\n", "", "test-generate-tokens", "max_new_tokens=0 calls no model"),
)
