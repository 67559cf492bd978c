"""Module 12 (embeddings): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-check-indices": '''
def check_indices(indices: np.ndarray, num_embeddings: int) -> None:
    """Integer ids in [0, num_embeddings), checked with np.flatnonzero."""
    if not np.issubdtype(indices.dtype, np.integer):
        raise DtypeError(
            f"ids of dtype {indices.dtype} cannot index an embedding table: only integer ids can; "
            "build them as Tensor(ids, dtype=np.int64)"
        )
    flat = indices.reshape(-1)
    wrong = np.flatnonzero(np.logical_or(flat < 0, flat >= num_embeddings))
    if len(wrong) > 0:
        first = int(flat[wrong[0]])
        raise IndexError(f"index out of range: id {first} is not a row of the table (num_embeddings={num_embeddings})")
''',
    "impl-embedding-kernel": '''
@register_kernel("embedding")
def embedding_kernel(indices: np.ndarray, weight: np.ndarray, padding_idx: int | None = None) -> np.ndarray:
    """weight rows picked by indices, via np.take along axis 0."""
    return np.take(weight, indices, axis=0)
''',
    "impl-embedding-backward": '''
@register_gradient("embedding")
def embedding_backward(grad: np.ndarray, node: Node) -> tuple[None, np.ndarray]:
    """Scatter-add with np.bincount over flat positions (float64 sums, cast to grad's dtype)."""
    ids = node.inputs[0].data.reshape(-1)
    num_rows, width = node.inputs[1].shape
    flat_positions = (ids[:, None] * width + np.arange(width)[None, :]).reshape(-1)
    sums = np.bincount(flat_positions, weights=np.reshape(grad, -1), minlength=num_rows * width)
    grad_weight = sums.reshape(num_rows, width).astype(grad.dtype)
    if node.attrs.get("padding_idx") is not None:
        grad_weight[node.attrs["padding_idx"], :] = 0.0
    return (None, grad_weight)
''',
    "impl-sinusoidal-table": '''
def sinusoidal_table(max_seq_len: int, embedding_dim: int) -> np.ndarray:
    """Sines and cosines interleaved with stack + reshape; frequencies from exp(-2i ln(10000) / E)."""
    pairs = (embedding_dim + 1) // 2
    omega = np.exp(np.arange(pairs, dtype=np.float64) * (-2.0 * np.log(10000.0) / embedding_dim))
    angle = np.outer(np.arange(max_seq_len, dtype=np.float64), omega)
    both = np.stack((np.sin(angle), np.cos(angle)), axis=2).reshape(max_seq_len, 2 * pairs)
    return np.array(both[:, :embedding_dim], dtype=np.float32)
''',
    "impl-position-ids": '''
def position_ids(seq_len: int, offset: int, max_seq_len: int) -> np.ndarray:
    """offset + 0..seq_len-1 as int64, after checking the range."""
    end = offset + seq_len
    if offset < 0:
        raise ValueError(f"a negative offset ({offset}) is not a position: offset counts tokens already seen, from 0")
    if end > max_seq_len:
        raise ValueError(f"sequence of {seq_len} tokens starting at position {offset} exceeds max_seq_len={max_seq_len}"
                         f" (the last position would be {end - 1})")
    return (offset + np.arange(seq_len)).astype(np.int64)
''',
}
