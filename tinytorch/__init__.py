"""tinytorch: a small PyTorch-like framework built in NumPy, one course module at a time.

This file is written by hand and imports nothing on purpose: each submodule
(``tinytorch.tensor``, ``tinytorch.autograd``, ...) is exported from its course module and
imported explicitly, so a module that is not built yet never loads by accident.
"""

__version__ = "0.1.0"
