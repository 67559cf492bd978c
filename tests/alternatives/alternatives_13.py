"""Module 13 (attention): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-causal-mask": '''
def causal_mask(query_len: int, key_len: int, offset: int = 0) -> np.ndarray:
    """True where key j may be seen by query i (j <= i + offset), from np.tri."""
    return np.tri(query_len, key_len, k=offset, dtype=bool)
''',
    "impl-masked-softmax": '''
def masked_softmax(scores: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Softmax along the last axis in float64 with where= arguments, cast back to the scores' dtype."""
    usable = scores > -np.inf
    if allowed is not None:
        usable = np.logical_and(usable, allowed)
    work = np.where(usable, scores.astype(np.float64), 0.0)
    peak = np.max(work, axis=-1, keepdims=True, where=usable, initial=-np.inf)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    exps = np.zeros(work.shape)
    np.exp(work - peak, out=exps, where=usable)
    total = exps.sum(axis=-1, keepdims=True)
    probs = np.zeros(work.shape)
    np.divide(exps, total, out=probs, where=total > 0)
    return probs.astype(scores.dtype)
''',
    "impl-attention-kernel": '''
@register_kernel("attention")
def attention_kernel(
    query: np.ndarray, key: np.ndarray, value: np.ndarray, *, scale: float, attn_mask: np.ndarray | None = None,
    is_causal: bool = False, offset: int = 0, dropout_mask: np.ndarray | None = None, saved: dict[str, Any] | None = None,
) -> np.ndarray:
    """Attention computed in float64 with einsum; P (float64) saved; output cast to the inputs' dtype."""
    out_dtype = np.result_type(query.dtype, key.dtype, value.dtype)
    scores = np.einsum("...le,...se->...ls", query.astype(np.float64), key.astype(np.float64)) * scale
    allowed = None
    if is_causal:
        allowed = causal_mask(query.shape[-2], key.shape[-2], offset)
    if attn_mask is not None and attn_mask.dtype == np.bool_:
        allowed = attn_mask if allowed is None else np.logical_and(attn_mask, allowed)
    elif attn_mask is not None:
        scores = scores + attn_mask.astype(np.float64)
    probs = masked_softmax(scores, allowed)
    if saved is not None:
        saved["probs"] = probs
    mixed = probs if dropout_mask is None else probs * dropout_mask
    return np.einsum("...ls,...sv->...lv", mixed, value.astype(np.float64)).astype(out_dtype)
''',
    "impl-attention-backward": '''
@register_gradient("attention")
def attention_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of attention with einsum, computing every gradient and dropping the unneeded ones."""
    q, k, v = (t.data for t in node.inputs)
    p = node.attrs["saved"]["probs"]
    m = node.attrs["dropout_mask"]
    scale = node.attrs["scale"]
    used = p if m is None else p * m
    d_used = np.einsum("...lv,...sv->...ls", grad, v)
    d_p = d_used if m is None else d_used * m
    row = np.einsum("...ls,...ls->...l", d_p, p)[..., None]
    d_s = p * d_p - p * row
    results = (
        scale * np.einsum("...ls,...se->...le", d_s, k),
        scale * np.einsum("...ls,...le->...se", d_s, q),
        np.einsum("...ls,...lv->...sv", used, grad),
    )
    return tuple(g if t.requires_grad else None for g, t in zip(results, node.inputs))
''',
    "impl-concat-cache-update": '''
class ConcatKVCache:
    """A KV cache by concatenation: per layer, the keys and values so far (B, H, T, D) as arrays. Inference only."""

    def __init__(self) -> None:
        self.keys: list[np.ndarray | None] = []
        self.values: list[np.ndarray | None] = []

    def update(self, layer_idx: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Append key, value (B, H, T_new, D) to layer layer_idx; return all so far (copied into a new array)."""
        if len(key.shape) != 4 or len(value.shape) != 4:
            raise ShapeError(f"ConcatKVCache.update: key {key.shape} and value {value.shape} must both be 4-D (B, H, T_new, D)")
        if tuple(key.shape[:3]) != tuple(value.shape[:3]):
            raise ShapeError(f"ConcatKVCache.update: key {key.shape} and value {value.shape} differ in (B, H, T_new)")
        if (key.requires_grad or value.requires_grad) and is_grad_enabled():
            raise RuntimeError("ConcatKVCache.update: a tensor that requires grad cannot be cached (the cache cuts the "
                               "graph); wrap generation in no_grad()")
        if layer_idx >= len(self.keys):
            missing = layer_idx + 1 - len(self.keys)
            self.keys.extend([None] * missing)
            self.values.extend([None] * missing)
        held_k, held_v = self.keys[layer_idx], self.values[layer_idx]
        if held_k is None:
            joined_k, joined_v = key.data, value.data
        else:
            b, h, t, d = held_k.shape
            if key.shape[0] != b or key.shape[1] != h or key.shape[3] != d or value.shape[3] != held_v.shape[3]:
                raise ShapeError(f"ConcatKVCache.update: layer {layer_idx} caches keys of shape {held_k.shape}; "
                                 f"a new key of shape {key.shape} (value {value.shape}) does not fit")
            new = key.shape[2]
            joined_k = np.empty((b, h, t + new, d), dtype=np.result_type(held_k, key.data))
            joined_k[:, :, :t], joined_k[:, :, t:] = held_k, key.data
            joined_v = np.empty((b, h, t + new, held_v.shape[3]), dtype=np.result_type(held_v, value.data))
            joined_v[:, :, :t], joined_v[:, :, t:] = held_v, value.data
        self.keys[layer_idx], self.values[layer_idx] = joined_k, joined_v
        return Tensor._wrap(joined_k), Tensor._wrap(joined_v)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Tokens cached so far for ``layer_idx`` (0 for a layer never updated)."""
        if layer_idx >= len(self.keys) or self.keys[layer_idx] is None:
            return 0
        return self.keys[layer_idx].shape[2]
''',
}
