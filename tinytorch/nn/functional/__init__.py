"""tinytorch.nn.functional: the functions of ``torch.nn.functional`` (``F.relu``, ``F.softmax``, ...).

Written by hand, not exported. Like ``tinytorch.nn`` it imports nothing when imported:
each name is looked up in ``EXPORTS`` on first use (PEP 562) and imported from the package
file that defines it. A course module that adds a function adds one line here.
(A package, not a ``functional.py``, because every hand-written ``__init__.py`` of the
package is copied into student copies and grading staging; see ``tito.course``.)
"""

from __future__ import annotations

from typing import Any

from tinytorch.nn import lazy_attribute

# public name -> package file that defines it
EXPORTS: dict[str, str] = {
    "relu": "tinytorch.nn.activations",
    "sigmoid": "tinytorch.nn.activations",
    "tanh": "tinytorch.nn.activations",
    "gelu": "tinytorch.nn.activations",
    "softmax": "tinytorch.nn.activations",
    "log_softmax": "tinytorch.nn.activations",
    "mse_loss": "tinytorch.nn.losses",
    "nll_loss": "tinytorch.nn.losses",
    "cross_entropy": "tinytorch.nn.losses",
    "binary_cross_entropy_with_logits": "tinytorch.nn.losses",
    "embedding": "tinytorch.nn.embedding",
    "scaled_dot_product_attention": "tinytorch.nn.attention",
    "attention_weights": "tinytorch.nn.attention",
    "layer_norm": "tinytorch.nn.normalization",
    "batch_norm": "tinytorch.nn.normalization",
    "dropout": "tinytorch.nn.normalization",
    "conv2d": "tinytorch.nn.conv",
    "max_pool2d": "tinytorch.nn.conv",
    "avg_pool2d": "tinytorch.nn.conv",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(globals(), EXPORTS, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *EXPORTS})
