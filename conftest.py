"""Settings for the whole test suite.

One BLAS thread per process: ``make test`` runs two pytest-xdist workers on a two-core
machine, and each starts notebook kernels and graders of its own. With OpenBLAS's default
of one thread per core, those processes fight over the cores and a matrix product can take
tens of times longer than alone. The variables are set before any test imports NumPy, and
every process the tests start (xdist workers, Jupyter kernels, graders) inherits them.
Benchmarks set their own thread counts (benchmarks/harness.py).

Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set (as on the course's
development machine). pytest rewrites the asserts of every module of a plugin's package
when it is imported, hypothesis's included, and caches the result as .pyc files next to
them; without the cache every test process, and every ``tito module test`` the tests run,
rewrites hypothesis again: 2.7 s more to collect tests/modules/test_01_tensor.py alone
(5.0 s against 2.3 s here). This process writes the cache; the processes it starts read it.
"""

import os
import sys

sys.dont_write_bytecode = False

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
