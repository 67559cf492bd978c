"""The MLP step of ``benchmarks.mlp`` in PyTorch eager mode, for comparison only.

PyTorch is an optional extra: import this module only after checking that torch is
installed (``importlib.util.find_spec("torch")``).
"""

from __future__ import annotations

import torch

from benchmarks.mlp import PARAMETERS, Gradients, MLPProblem


class TorchStep:
    """The same forward and backward as ``TinytorchStep``, op for op, in float32 on CPU."""

    def __init__(self, problem: MLPProblem) -> None:
        # from_numpy shares memory with the problem's arrays; clone so nothing is shared.
        self.x = torch.from_numpy(problem.x).clone()
        self.onehot = torch.from_numpy(problem.onehot).clone()
        self.parameters = {
            name: torch.from_numpy(getattr(problem, name)).clone().requires_grad_(True) for name in PARAMETERS
        }

    def __call__(self) -> torch.Tensor:
        """Forward and backward once; returns the loss."""
        params = self.parameters
        for parameter in params.values():
            parameter.grad = None
        pre = self.x @ params["w1"] + params["b1"]
        hidden = pre * (pre > 0)
        logits = hidden @ params["w2"] + params["b2"]
        shifted = logits - torch.amax(logits, dim=1, keepdim=True).detach()
        log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
        loss = -(log_probs * self.onehot).sum(dim=1).mean()
        loss.backward()
        return loss

    def gradients(self) -> Gradients:
        """The parameters' ``.grad`` as NumPy arrays after a step."""
        grads = {}
        for name, parameter in self.parameters.items():
            if parameter.grad is None:
                raise RuntimeError(f"torch step: {name} received no gradient; run the step first")
            grads[name] = parameter.grad.numpy()
        return grads


def version() -> str:
    return torch.__version__
