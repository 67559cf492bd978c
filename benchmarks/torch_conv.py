"""The Conv2d forward and backward of ``benchmarks.conv`` in PyTorch eager mode.

PyTorch is an optional extra: import this module only after checking that torch is
installed (``benchmarks.harness.torch_available``).
"""

from __future__ import annotations

import numpy as np
import torch


class TorchConvStep:
    """``Conv2d`` forward on a fixed batch, then backward of a fixed output gradient."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, x: np.ndarray, grad: np.ndarray, padding: int,
                 input_grad: bool) -> None:
        out_channels, in_channels, kh, kw = weight.shape
        self.layer = torch.nn.Conv2d(in_channels, out_channels, (kh, kw), padding=padding)
        with torch.no_grad():
            self.layer.weight.copy_(torch.from_numpy(weight))
            self.layer.bias.copy_(torch.from_numpy(bias))
        self.x = torch.from_numpy(x.copy()).requires_grad_(input_grad)
        self.grad = torch.from_numpy(grad.copy())

    def __call__(self) -> torch.Tensor:
        self.layer.zero_grad(set_to_none=True)
        self.x.grad = None
        out = self.layer(self.x)
        out.backward(self.grad)
        return out

    def arrays(self) -> list[np.ndarray]:
        """Output, weight gradient, bias gradient (and the input's gradient, if it requires grad) after a call."""
        out = self().detach().numpy().copy()
        grads = [self.layer.weight.grad.numpy().copy(), self.layer.bias.grad.numpy().copy()]
        return [out, *grads] + ([self.x.grad.numpy().copy()] if self.x.requires_grad else [])


def version() -> str:
    return torch.__version__
