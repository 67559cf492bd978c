"""Fixtures of the example tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks import environment


@pytest.fixture
def one_blas_thread() -> Iterator[None]:
    """Run the test with NumPy's OpenBLAS on one thread, as ``examples/choose_cnn_settings.py`` does.

    The CNN's matrices are small: one thread is as fast, and its sums come out in the same
    order on every run, so a validation accuracy computed here is the one the script printed
    (settings that differ by one validation digit stay in the same order). Two test workers
    each running multithreaded BLAS on two CPUs also wait on each other's threads.
    Without a reachable OpenBLAS the test runs as it is.
    """
    before = environment.blas_threads()
    if before is not None:
        environment.set_blas_threads(1)
    yield
    if before is not None:
        environment.set_blas_threads(before)
