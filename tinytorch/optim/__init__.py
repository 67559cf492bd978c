"""tinytorch.optim: optimizers, as in ``torch.optim`` (``from tinytorch.optim import Adam``).

Written by hand, not exported. Like ``tinytorch.nn`` it imports nothing when it is imported:
each public name is looked up in ``EXPORTS`` on first use (PEP 562 ``__getattr__``, with
``tinytorch.nn.lazy_attribute``) and imported from the package file of the course module
that builds it, so a module not built yet never loads by accident. The schedulers are in
``tinytorch.optim.lr_scheduler``, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

from tinytorch.nn import lazy_attribute

# public name -> package file that defines it
EXPORTS: dict[str, str] = {
    "Optimizer": "tinytorch.optim.optimizers",
    "SGD": "tinytorch.optim.optimizers",
    "Adam": "tinytorch.optim.optimizers",
    "AdamW": "tinytorch.optim.optimizers",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(globals(), EXPORTS, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *EXPORTS})
