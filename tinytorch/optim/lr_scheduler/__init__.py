"""tinytorch.optim.lr_scheduler: learning-rate schedulers, as in ``torch.optim.lr_scheduler``.

Written by hand, not exported; a lazy namespace like ``tinytorch.optim`` (a package rather
than a ``lr_scheduler.py`` because every hand-written ``__init__.py`` is copied into student
copies and grading staging; see ``tito.course``). The classes are defined in the package
file of Module 06.
"""

from __future__ import annotations

from typing import Any

from tinytorch.nn import lazy_attribute

# public name -> package file that defines it
EXPORTS: dict[str, str] = {
    "LRScheduler": "tinytorch.optim.optimizers",
    "StepLR": "tinytorch.optim.optimizers",
    "CosineAnnealingLR": "tinytorch.optim.optimizers",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(globals(), EXPORTS, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *EXPORTS})
