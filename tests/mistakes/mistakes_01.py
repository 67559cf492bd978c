"""Likely mistakes in module 01 (tensor) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("as_array keeps float64", "impl-as-array", "target = raw.dtype if raw.dtype.kind == \"b\" else DEFAULT_DTYPE",
            "target = raw.dtype", "test-as-array", "float32 by default"),
    Mistake("as_array does not copy", "impl-as-array", "return np.array(raw, dtype=target, copy=True)",
            "return raw.astype(target, copy=False)", "test-as-array", "as_array must copy"),
    Mistake("bytes_for counts elements, not bytes", "impl-bytes-for", "return math.prod(shape) * np.dtype(dtype).itemsize",
            "return math.prod(shape)", "test-bytes-for", "should be 24"),
    Mistake("broadcast_shape from the left", "impl-broadcast-shape",
            "padded_a = (1,) * (ndim - len(shape_a)) + tuple(shape_a)", "padded_a = tuple(shape_a) + (1,) * (ndim - len(shape_a))",
            "test-broadcast-shape", "broadcast_shape"),
)

MISTAKES += (
    Mistake("mean_kernel keeps integers", "impl-mean-kernel", "total = total.astype(DEFAULT_DTYPE)", "pass",
            "test-mean-kernel", "should be float32"),
    Mistake("mean_kernel divides by the total size", "impl-mean-kernel", "return total / count", "return total / a.size",
            "test-mean-kernel", "wrong values"),
    Mistake("matmul_kernel lets a mismatch through to NumPy", "impl-matmul-kernel", "if a.shape[-1] != inner_b:",
            "if False:", "test-matmul-kernel", "should raise ShapeError"),
    Mistake("infer_shape accepts two -1s", "impl-infer-shape", "if len(unknown) > 1:", "if False:",
            "test-infer-shape", "infer_shape((-1, -1), 24)"),
)
