"""Module 01 (tensor): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-as-array": '''
def as_array(data, dtype=None):
    if isinstance(data, np.ndarray):
        raw = data.copy()
    else:
        try:
            raw = np.array(data)
        except ValueError:
            raise ShapeError("nested lists of different lengths: rows must be equally long") from None
    if raw.dtype.kind not in ("b", "i", "u", "f"):
        raise DtypeError(f"{raw.dtype} is not supported: use one of {_supported_names()}")
    if dtype is not None and np.dtype(dtype) not in SUPPORTED_DTYPES:
        raise DtypeError(f"{np.dtype(dtype)} is not supported: use one of {_supported_names()}")
    wanted = np.dtype(dtype) if dtype is not None else (np.dtype(bool) if raw.dtype.kind == "b" else np.dtype(np.float32))
    out = np.empty(raw.shape, dtype=wanted)
    out[...] = raw
    return out
''',
    "impl-bytes-for": '''
def bytes_for(shape, dtype=DEFAULT_DTYPE):
    count = 1
    for size in shape:
        count *= int(size)
    return count * np.zeros((), dtype=dtype).nbytes
''',
    "impl-broadcast-shape": '''
def broadcast_shape(shape_a, shape_b):
    result = []
    for back in range(1, max(len(shape_a), len(shape_b)) + 1):
        a = shape_a[-back] if back <= len(shape_a) else 1
        b = shape_b[-back] if back <= len(shape_b) else 1
        if a == b or b == 1:
            result.append(a)
        elif a == 1:
            result.append(b)
        else:
            raise ShapeError(f"{tuple(shape_a)} and {tuple(shape_b)} do not broadcast at dimension -{back}")
    return tuple(reversed(result))
''',
    "impl-matmul-kernel": '''
@register_kernel("matmul")
def matmul_kernel(a, b):
    if min(a.ndim, b.ndim) < 1:
        raise ShapeError(f"matmul of shapes {a.shape} and {b.shape}: 0-d operands cannot be multiplied")
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if a.shape[-1] != k_b:
        raise ShapeError(f"matmul of shapes {a.shape} and {b.shape}: inner sizes {a.shape[-1]} and {k_b} differ")
    try:
        return np.einsum("...ij,...jk->...ik", a[..., None, :] if a.ndim == 1 else a,
                         b[..., None] if b.ndim == 1 else b).reshape(
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + a.shape[-2:-1] * (a.ndim > 1) + b.shape[-1:] * (b.ndim > 1))
    except ValueError:
        raise ShapeError(f"matmul of shapes {a.shape} and {b.shape}: batch dimensions do not broadcast") from None
''',
    "impl-mean-kernel": '''
@register_kernel("mean")
def mean_kernel(a, axis=None, keepdims=False):
    work = a if a.dtype.kind == "f" else a.astype(np.float32)
    axes = normalize_axes(axis, a.ndim)
    n = 1
    for ax in axes:
        n *= a.shape[ax]
    return (np.sum(work / n, axis=axes, keepdims=keepdims)).astype(work.dtype)
''',
    "impl-infer-shape": '''
def infer_shape(shape, size):
    dims = [int(s) for s in shape]
    if dims.count(-1) > 1 or any(s < -1 for s in dims):
        raise ShapeError(f"cannot reshape into {tuple(dims)}: at most one -1 and no other negative size")
    rest = math.prod(s for s in dims if s >= 0)
    if -1 in dims:
        if rest == 0 or size % rest:
            raise ShapeError(f"cannot reshape {size} elements into {tuple(dims)}")
        dims[dims.index(-1)] = size // rest
    if math.prod(dims) != size:
        raise ShapeError(f"cannot reshape {size} elements into {tuple(dims)}")
    return tuple(dims)
''',
}
