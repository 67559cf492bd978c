"""Module 16 (acceleration): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-matmul-naive": '''
def matmul_naive(a, b):
    if len(a.shape) != 2 or len(b.shape) != 2:
        raise ValueError(f"matmul_naive needs 2-D operands, got {a.shape} and {b.shape}")
    rows, inner = a.shape
    inner_b, cols = b.shape
    if inner != inner_b:
        raise ValueError(f"matmul_naive: inner sizes differ in {a.shape} @ {b.shape}")
    result = np.empty((rows, cols), dtype=np.result_type(a.dtype, b.dtype))
    b_columns = b.T
    for row in range(rows):
        a_row = a[row]
        for col in range(cols):
            column = b_columns[col]
            acc = 0.0
            for index in range(inner):
                acc = acc + float(a_row[index]) * float(column[index])
            result[row, col] = acc
    return result
''',
    "impl-matmul-blocked": '''
def matmul_blocked(a, b, tile=64):
    if not tile >= 1:
        raise ValueError(f"matmul_blocked needs a tile of at least 1, got tile={tile}")
    if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul_blocked cannot multiply {a.shape} by {b.shape}")
    m, inner = a.shape
    n = b.shape[1]
    result = np.zeros((m, n), dtype=np.result_type(a.dtype, b.dtype))
    starts_k = list(range(0, inner, tile))
    for k0 in starts_k:
        k1 = min(k0 + tile, inner)
        for i0 in range(0, m, tile):
            i1 = min(i0 + tile, m)
            for j0 in range(0, n, tile):
                j1 = min(j0 + tile, n)
                np.add(result[i0:i1, j0:j1], np.dot(a[i0:i1, k0:k1], b[k0:k1, j0:j1]), out=result[i0:i1, j0:j1])
    return result
''',
    "impl-gflops": '''
def gflops(m, k, n, seconds):
    if not seconds > 0:
        raise ValueError(f"gflops: the time in seconds must be > 0, got {seconds!r}")
    operations = 2.0 * m * k * n
    return operations / (seconds * 1e9)
''',
    "impl-install-kernels": '''
def install_kernels(kernels):
    missing = [name for name in kernels if name not in KERNELS]
    if missing:
        raise ValueError(f"install_kernels: cannot swap {', '.join(missing)}: not registered")
    replaced = {}
    for name in list(kernels):
        replaced[name] = register_kernel(name, kernels[name])
    return replaced
''',
    "impl-pick-kernel": '''
def pick_kernel(work, choices):
    matches = [name for limit, name in choices if limit > work]
    if not matches:
        raise ValueError(f"pick_kernel: every limit is at most the work ({work})")
    return matches[0]
''',
}
