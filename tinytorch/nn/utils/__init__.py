"""tinytorch.nn.utils: the helpers of ``torch.nn.utils`` (``clip_grad_norm_``).

Written by hand, not exported. Like ``tinytorch.nn`` it imports nothing when imported:
each name is looked up in ``EXPORTS`` on first use (PEP 562) and imported from the package
file that defines it (``clip_grad_norm_`` lives with the training loop of Module 07).
A course module that adds a helper here adds one line.
"""

from __future__ import annotations

from typing import Any

from tinytorch.nn import lazy_attribute

# public name -> package file that defines it
EXPORTS: dict[str, str] = {
    "clip_grad_norm_": "tinytorch.training",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(globals(), EXPORTS, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *EXPORTS})
