"""tinytorch.models: whole models built from the layers of ``tinytorch.nn`` (``from tinytorch.models import GPT``).

Written by hand, not exported. Like ``tinytorch.nn`` it imports nothing when it is imported:
each public name is looked up in ``EXPORTS`` on first use (PEP 562 ``__getattr__``, with
``tinytorch.nn.lazy_attribute``) and imported from the package file of the course module
that builds it, so a module not built yet never loads by accident.
"""

from __future__ import annotations

from typing import Any

from tinytorch.nn import lazy_attribute

# public name -> package file that defines it
EXPORTS: dict[str, str] = {
    "GPTConfig": "tinytorch.models.gpt",
    "TransformerBlock": "tinytorch.models.gpt",
    "GPT": "tinytorch.models.gpt",
    "count_parameters_by_component": "tinytorch.models.gpt",
    "flops_per_token": "tinytorch.models.gpt",
    "save_pretrained": "tinytorch.models.gpt",
    "load_pretrained": "tinytorch.models.gpt",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(globals(), EXPORTS, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *EXPORTS})
