"""Likely mistakes in module 16 (acceleration) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("matmul_naive loops over the columns of a instead of the rows", "impl-matmul-naive",
            "for i in range(m):", "for i in range(min(m, k_size)):",
            "test-matmul-naive", "must fill all 4 rows"),
    Mistake("matmul_naive always returns float64", "impl-matmul-naive",
            "dtype=np.result_type(a, b))", "dtype=np.float64)",
            "test-matmul-naive", "float32 inputs give float32"),
    Mistake("matmul_blocked assigns each tile product instead of adding it", "impl-matmul-blocked",
            "out[i:i + tile, j:j + tile] += ", "out[i:i + tile, j:j + tile] = ",
            "test-matmul-blocked", "check that each tile product is added (+=)"),
    Mistake("matmul_blocked drops the last, smaller tile", "impl-matmul-blocked",
            "for i in range(0, m, tile):", "for i in range(0, m - m % tile if m >= tile else m, tile):",
            "test-matmul-blocked", "the last, smaller tile is missed"),
    Mistake("gflops counts a multiply-add as one FLOP", "impl-gflops",
            "return float(2 * m * k * n / seconds / 1e9)", "return float(m * k * n / seconds / 1e9)",
            "test-gflops", "a multiply-add is 2 FLOPs"),
    Mistake("install_kernels registers before checking every name", "impl-install-kernels",
            "    for op in kernels:\n        if op not in KERNELS:\n            raise ValueError(f\"install_kernels: op '{op}' has no kernel to replace\")\n    return {op: register_kernel(op, kernel) for op, kernel in kernels.items()}",
            "    previous = {}\n    for op, kernel in kernels.items():\n        if op not in KERNELS:\n            raise ValueError(f\"install_kernels: op '{op}' has no kernel to replace\")\n        previous[op] = register_kernel(op, kernel)\n    return previous",
            "test-install-kernels", "nothing may be installed"),
    Mistake("install_kernels returns the new kernels instead of the replaced ones", "impl-install-kernels",
            "return {op: register_kernel(op, kernel) for op, kernel in kernels.items()}",
            "[register_kernel(op, kernel) for op, kernel in kernels.items()]\n    return dict(kernels)",
            "test-install-kernels", "return each op's previous kernel"),
    Mistake("pick_kernel compares with <= at a limit", "impl-pick-kernel",
            "if work < limit:", "if work <= limit:",
            "test-pick-kernel", "work exactly at a limit (100) goes to the next choice"),
)
