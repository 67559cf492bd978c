"""tinytorch.nn: layers, activations and losses, as in ``torch.nn``.

Written by hand, not exported. It imports nothing when it is imported: every public name
is looked up in ``EXPORTS`` on first use (PEP 562 ``__getattr__``) and imported from the
package file of the course module that builds it, so ``from tinytorch.nn import Linear``
works as in PyTorch once Module 04 is built, and a module not built yet never loads by
accident. A course module that adds a public name adds one line to ``EXPORTS`` (and, for a
new package file, one line to ``BUILT_BY``).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

# package file -> the course module that exports it (named in the error for an unbuilt one)
BUILT_BY: dict[str, str] = {
    "tinytorch.nn.activations": "03_activations",
    "tinytorch.nn.layers": "04_layers",
    "tinytorch.nn.losses": "05_losses",
    "tinytorch.optim.optimizers": "06_optimizers",
    "tinytorch.training": "07_training",
    "tinytorch.nn.conv": "09_spatial",
    "tinytorch.nn.normalization": "10_normalization",
    "tinytorch.text.tokenizers": "11_tokenization",
    "tinytorch.nn.embedding": "12_embeddings",
    "tinytorch.nn.attention": "13_attention",
    "tinytorch.models.gpt": "14_transformers",
}

# public name -> package file that defines it
EXPORTS: dict[str, str] = {
    "Parameter": "tinytorch.nn.layers",
    "Module": "tinytorch.nn.layers",
    "Linear": "tinytorch.nn.layers",
    "Sequential": "tinytorch.nn.layers",
    "ModuleList": "tinytorch.nn.layers",
    "Identity": "tinytorch.nn.layers",
    "ReLU": "tinytorch.nn.layers",
    "Sigmoid": "tinytorch.nn.layers",
    "Tanh": "tinytorch.nn.layers",
    "GELU": "tinytorch.nn.layers",
    "Softmax": "tinytorch.nn.layers",
    "LogSoftmax": "tinytorch.nn.layers",
    "MSELoss": "tinytorch.nn.losses",
    "NLLLoss": "tinytorch.nn.losses",
    "CrossEntropyLoss": "tinytorch.nn.losses",
    "BCEWithLogitsLoss": "tinytorch.nn.losses",
    "Embedding": "tinytorch.nn.embedding",
    "PositionalEmbedding": "tinytorch.nn.embedding",
    "SinusoidalPositionalEncoding": "tinytorch.nn.embedding",
    "MultiHeadAttention": "tinytorch.nn.attention",
    "ConcatKVCache": "tinytorch.nn.attention",
    "KVCacheLike": "tinytorch.nn.attention",
    "LayerNorm": "tinytorch.nn.normalization",
    "BatchNorm1d": "tinytorch.nn.normalization",
    "BatchNorm2d": "tinytorch.nn.normalization",
    "Dropout": "tinytorch.nn.normalization",
    "Conv2d": "tinytorch.nn.conv",
    "MaxPool2d": "tinytorch.nn.conv",
    "AvgPool2d": "tinytorch.nn.conv",
    "Flatten": "tinytorch.nn.conv",
}


def lazy_attribute(namespace: dict[str, Any], table: dict[str, str], name: str) -> Any:
    """``name`` from the package file ``table`` names, cached in ``namespace`` (a module's globals).

    AttributeError for a name the table does not know; ImportError naming the course module
    to complete when the package file that defines ``name`` is not built yet.
    """
    owner = namespace["__name__"]
    target = table.get(name)
    if target is None:
        raise AttributeError(f"module {owner!r} has no attribute {name!r}")
    if importlib.util.find_spec(target) is None:
        raise ImportError(
            f"{owner}.{name} is defined in {target}, which is not built yet: complete module "
            f"{BUILT_BY.get(target, target)} (`tito module test {BUILT_BY.get(target, target)[:2]}`)"
        )
    value = getattr(importlib.import_module(target), name)
    namespace[name] = value  # later lookups find it directly
    return value


def __getattr__(name: str) -> Any:
    return lazy_attribute(globals(), EXPORTS, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *EXPORTS})
