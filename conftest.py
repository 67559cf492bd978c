"""Settings for the whole test suite.

One BLAS thread per process: ``make test`` runs two pytest-xdist workers on a two-core
machine, and each starts notebook kernels and graders of its own. With OpenBLAS's default
of one thread per core, those processes fight over the cores and a matrix product can take
tens of times longer than alone. The variables are set before any test imports NumPy, and
every process the tests start (xdist workers, Jupyter kernels, graders) inherits them.
Benchmarks set their own thread counts (benchmarks/harness.py).
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
