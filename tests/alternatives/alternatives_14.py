"""Module 14 (transformers): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-block-forward": '''
def block_forward(block: TransformerBlock, x: Tensor, cache: KVCacheLike | None = None, layer_idx: int = 0) -> Tensor:
    """One pre-norm block, each branch computed first and added to the stream after."""
    attended = block.attn(block.ln_1(x), is_causal=True, cache=cache, layer_idx=layer_idx)
    stream = attended + x
    update = block.mlp(block.ln_2(stream))
    return update + stream
''',
    "impl-gpt-forward": '''
def gpt_forward(model: GPT, idx: np.ndarray, cache: KVCacheLike | None = None) -> Tensor:
    """Logits (B, T, V), the blocks called by index with positional arguments."""
    batch, length = idx.shape
    start = 0 if cache is None else int(cache.get_seq_length(0))
    limit = model.config.max_seq_len
    if start + length > limit:
        raise ValueError(f"gpt_forward: offset {start} + T {length} = {start + length} tokens, "
                         f"but the model has max_seq_len={limit} positions")
    tokens = model.tok_emb(idx)
    stream = model.pos_emb(tokens, offset=start)
    stream = model.drop(stream)
    for i in range(len(model.blocks)):
        stream = model.blocks[i](stream, cache, i)
    normed = model.ln_f(stream)
    return model.lm_head(normed)
''',
    "impl-sample-next-token": '''
def sample_next_token(logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> np.ndarray:
    """Inverse CDF over the tokens in REVERSED order (a different draw-to-token map), top-k by np.partition."""
    rows, vocab = logits.shape
    if temperature == 0:
        return np.argmax(logits, axis=1).astype(np.int64)
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True).astype(np.float64)
    z = shifted / float(temperature)
    if top_k is not None and top_k < vocab:
        kth = np.partition(z, vocab - top_k, axis=1)[:, vocab - top_k]
        z[z < kth[:, None]] = -np.inf
    weights = np.exp(z)[:, ::-1]
    cdf = np.cumsum(weights, axis=1)
    total = cdf[:, -1]
    u = np.minimum(rng.random(rows) * total, np.nextafter(total, 0))
    first_above = np.argmax(cdf > u[:, None], axis=1)
    return (vocab - 1 - first_above).astype(np.int64)
''',
    "impl-generate-tokens": '''
def generate_tokens(model: Module, idx: np.ndarray, max_new_tokens: int,
                    sample: Callable[[np.ndarray], np.ndarray], cache: KVCacheLike | None = None) -> np.ndarray:
    """Fill a preallocated (B, T + n) int64 array column by column."""
    batch, length = np.shape(idx)
    out = np.zeros((batch, length + max_new_tokens), dtype=np.int64)
    out[:, :length] = idx
    for step in range(max_new_tokens):
        end = length + step
        if cache is None:
            logits = model(out[:, :end])
        elif step == 0:
            logits = model(out[:, :length].copy(), cache=cache)
        else:
            logits = model(out[:, end - 1:end].copy(), cache=cache)
        out[:, end] = sample(np.asarray(logits.numpy())[:, -1])
    return out
''',
}
