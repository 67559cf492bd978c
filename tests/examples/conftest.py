"""Fixtures of the example tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from benchmarks import environment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def load_example() -> Callable[[str], ModuleType]:
    """``load_example("train_digits_cnn")``: the script ``examples/train_digits_cnn.py``,
    imported as a module of that name (examples/ is a folder of scripts, not a package)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None, f"no example {name}.py"
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module

    return load


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
