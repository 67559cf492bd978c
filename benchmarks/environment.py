"""What a benchmark ran on: versions, BLAS library and threads, CPUs, load, date.

Ratios travel between machines better than absolute times, but both depend on the BLAS
library NumPy uses and on how many threads it runs, so every result records them.
"""

from __future__ import annotations

import ctypes
import datetime
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

# Entry points of OpenBLAS builds for the thread count: NumPy's wheels ship
# scipy-openblas (64-bit integer interface, prefixed names); a system OpenBLAS uses the
# plain names. threadpoolctl looks for the same symbols.
_GET_THREADS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")
_SET_THREADS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")


def _loaded_openblas() -> ctypes.CDLL | None:
    """The OpenBLAS library this process has loaded (through NumPy), or None.

    Reads /proc/self/maps, so it only finds it on Linux; elsewhere the thread count is
    reported as unknown. Opening an already loaded library returns the same handle, so
    the calls below act on the copy NumPy uses.
    """
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return None
    for line in maps.read_text().splitlines():
        path = line.split()[-1]
        if path.startswith("/") and "openblas" in Path(path).name.lower():
            return ctypes.CDLL(path)
    return None


def _openblas_function(names: tuple[str, ...]) -> Any:
    library = _loaded_openblas()
    if library is None:
        return None
    for name in names:
        if hasattr(library, name):
            return getattr(library, name)
    return None


def blas_threads() -> int | None:
    """Threads NumPy's OpenBLAS uses for a large matmul; None if that cannot be read."""
    get_threads = _openblas_function(_GET_THREADS)
    return None if get_threads is None else int(get_threads())


def set_blas_threads(threads: int) -> None:
    """Make NumPy's OpenBLAS use ``threads`` threads (like threadpoolctl's limit).

    Raises ``RuntimeError`` when NumPy's BLAS is not an OpenBLAS this can reach.
    """
    set_threads = _openblas_function(_SET_THREADS)
    if set_threads is None:
        raise RuntimeError(
            "cannot set the BLAS thread count: NumPy's BLAS is not a loaded OpenBLAS; "
            "set OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS before starting Python"
        )
    set_threads(int(threads))


def _blas_build() -> dict[str, Any]:
    """Name, version and configuration of the BLAS NumPy was built against."""
    config = np.show_config(mode="dicts")
    blas = config.get("Build Dependencies", {}).get("blas", {})
    return {key: blas[key] for key in ("name", "version", "openblas configuration") if key in blas}


def _usable_cpus() -> int | None:
    """CPUs this process may run on (affinity), which can be fewer than the machine has."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def load_average_1min() -> float | None:
    """Processes running or waiting for a CPU, averaged over the last minute (None if unknown).

    Above the number of CPUs, other work competes with the benchmark for them.
    """
    if hasattr(os, "getloadavg"):
        return os.getloadavg()[0]
    return None


def describe_environment() -> dict[str, Any]:
    """Versions, hardware and BLAS settings of this process, for the results file."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": _usable_cpus(),
        "numpy": np.__version__,
        "blas": _blas_build(),
        "blas_threads": blas_threads(),
        "thread_env": {
            name: os.environ[name]
            for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
            if name in os.environ
        },
    }
