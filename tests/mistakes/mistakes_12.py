"""Likely mistakes in module 12 (embeddings) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("check_indices lets negative ids through (NumPy would wrap them)", "impl-check-indices",
            "bad = indices[(indices < 0) | (indices >= num_embeddings)]", "bad = indices[indices >= num_embeddings]",
            "test-check-indices", "negative id"),
    Mistake("check_indices accepts id num_embeddings", "impl-check-indices",
            "bad = indices[(indices < 0) | (indices >= num_embeddings)]", "bad = indices[(indices < 0) | (indices > num_embeddings)]",
            "test-check-indices", "id 10 for num_embeddings=10"),
    Mistake("check_indices names the last bad id", "impl-check-indices", "{bad[0]}", "{bad[-1]}",
            "test-check-indices", "name the FIRST bad id"),
    Mistake("check_indices takes booleans for ids", "impl-check-indices", 'if indices.dtype.kind not in "iu":',
            'if indices.dtype.kind not in "biu":', "test-check-indices", "booleans are not ids"),
    Mistake("embedding_backward adds with grad_weight[ids] += grad", "impl-embedding-backward",
            "grad_weight = scatter_add_rows(ids.data.ravel(), grad.reshape(-1, width), num_rows)",
            "grad_weight = np.zeros((num_rows, width)); grad_weight[ids.data.ravel()] += grad.reshape(-1, width)",
            "test-embedding-backward", "SUM of their gradients"),
    Mistake("embedding_backward forgets padding_idx", "impl-embedding-backward", "grad_weight[padding_idx] = 0", "pass",
            "test-embedding-backward", "padding_idx=1 gets 0"),
    Mistake("sinusoidal_table uses i instead of 2i in the frequency", "impl-sinusoidal-table",
            "-np.arange(0, embedding_dim, 2, dtype=np.float64) / embedding_dim",
            "-np.arange(0, (embedding_dim + 1) // 2, dtype=np.float64) / embedding_dim",
            "test-sinusoidal-table", "P[p, 2i] = sin(p / 10000**(2i/E))"),
    Mistake("position_ids refuses a sequence that ends at max_seq_len", "impl-position-ids",
            "if offset + seq_len > max_seq_len:", "if offset + seq_len >= max_seq_len:",
            "test-position-ids", "may end exactly at max_seq_len"),
)
