"""Likely mistakes in module 13 (attention) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("causal_mask hides the diagonal", "impl-causal-mask",
            "return np.arange(key_len)[None, :] <= np.arange(query_len)[:, None] + offset",
            "return np.arange(key_len)[None, :] < np.arange(query_len)[:, None] + offset", "test-causal-mask", "with its diagonal"),
    Mistake("causal_mask ignores the offset", "impl-causal-mask",
            "return np.arange(key_len)[None, :] <= np.arange(query_len)[:, None] + offset",
            "return np.arange(key_len)[None, :] <= np.arange(query_len)[:, None]", "test-causal-mask", "sits at position 3 + i"),
    Mistake("masked_softmax shifts a fully masked row by -inf", "impl-masked-softmax",
            "row_max[~np.isfinite(row_max)] = 0", "pass", "test-masked-softmax", "gave NaN"),
    Mistake("masked_softmax does not subtract the row maximum", "impl-masked-softmax",
            "row_max = scores.max(axis=-1, keepdims=True)", "row_max = np.zeros_like(scores[..., :1])",
            "test-masked-softmax", "must not overflow"),
    Mistake("attention_kernel recomputes 1/sqrt(E) instead of using scale", "impl-attention-kernel",
            "scores *= scale", "scores /= math.sqrt(query.shape[-1])", "test-attention-kernel", "multiply the scores by the scale given"),
    Mistake("attention_backward leaves dropout out of grad_P", "impl-attention-backward",
            "grad_probs *= dropout_mask", "pass", "test-attention-backward", "with a dropout mask M"),
    Mistake("ConcatKVCache.update returns the joined arrays without keeping them", "impl-concat-cache-update",
            "self.keys[layer_idx] = np.concatenate([old_keys, key.data], axis=2)",
            "return Tensor._wrap(np.concatenate([old_keys, key.data], axis=2)), "
            "Tensor._wrap(np.concatenate([old_values, value.data], axis=2))",
            "test-concat-cache-update", "get_seq_length(0) should be 5"),
    Mistake("ConcatKVCache.update refuses under no_grad()", "impl-concat-cache-update",
            "is_grad_enabled() and (key.requires_grad or value.requires_grad)", "(key.requires_grad or value.requires_grad)",
            "test-concat-cache-update", "under no_grad() any tensor may be cached"),
)
