"""One training step of a 2-layer MLP, in tinytorch and hand-written in NumPy.

The model: ``logits = relu(x @ W1 + b1) @ W2 + b2`` and the mean softmax cross-entropy
of ``logits`` against one-hot labels. One step is the forward pass plus the gradients of
the loss with respect to W1, b1, W2 and b2. Both versions compute the same maths in
float32; ``check_gradients`` proves it before anything is timed.

Shapes: x (B, d_in), W1 (d_in, h), b1 (h,), W2 (h, d_out), b2 (d_out,), one-hot (B, d_out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import tinytorch.autograd  # noqa: F401  (registers the graph recorder and backward engine)
from tinytorch.tensor import Tensor

PARAMETERS = ("w1", "b1", "w2", "b2")
Gradients = dict[str, np.ndarray]


@dataclass(frozen=True)
class MLPShape:
    """Batch size and layer widths ``d_in -> hidden -> d_out``."""

    batch: int
    d_in: int
    hidden: int
    d_out: int

    def describe(self) -> str:
        return f"{self.d_in}->{self.hidden}->{self.d_out}, batch {self.batch}"


@dataclass(frozen=True)
class MLPProblem:
    """Inputs, labels and parameters of one step, all float32 NumPy arrays."""

    x: np.ndarray
    onehot: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray


def make_problem(shape: MLPShape, seed: int) -> MLPProblem:
    """Random inputs, random labels and He-initialised weights from a seeded generator.

    Biases are small but non-zero so their gradients are not trivially checked, and He
    scaling keeps about half the ReLUs active, as in a real network.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, shape.d_out, size=shape.batch)

    def normal(*size: int, scale: float) -> np.ndarray:
        return (rng.standard_normal(size) * scale).astype(np.float32)

    return MLPProblem(
        x=normal(shape.batch, shape.d_in, scale=1.0),
        onehot=np.eye(shape.d_out, dtype=np.float32)[labels],
        w1=normal(shape.d_in, shape.hidden, scale=np.sqrt(2.0 / shape.d_in)),
        b1=normal(shape.hidden, scale=0.1),
        w2=normal(shape.hidden, shape.d_out, scale=np.sqrt(2.0 / shape.hidden)),
        b2=normal(shape.d_out, scale=0.1),
    )


def numpy_step(problem: MLPProblem) -> tuple[float, Gradients]:
    """Loss and gradients, written by hand as one would without a framework.

    The backward pass uses the closed form of the softmax cross-entropy gradient,
    ``(softmax(logits) - onehot) / B``, which is what the chain rule through the
    tinytorch graph adds up to (the labels are one-hot, so each row sums to 1).
    """
    x, onehot = problem.x, problem.onehot
    batch = x.shape[0]
    pre = x @ problem.w1 + problem.b1
    active = pre > 0
    hidden = pre * active
    logits = hidden @ problem.w2 + problem.b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    total = exps.sum(axis=1, keepdims=True)
    loss = -((shifted - np.log(total)) * onehot).sum(axis=1).mean()

    grad_logits = (exps / total - onehot) / batch
    grad_hidden = (grad_logits @ problem.w2.T) * active
    gradients = {
        "w1": x.T @ grad_hidden,
        "b1": grad_hidden.sum(axis=0),
        "w2": hidden.T @ grad_logits,
        "b2": grad_logits.sum(axis=0),
    }
    return float(loss), gradients


class TinytorchStep:
    """The same step through tinytorch's ``Tensor`` ops and ``loss.backward()``.

    Call the object to run one step; the gradients are then in ``gradients()``.
    """

    def __init__(self, problem: MLPProblem) -> None:
        self.x = Tensor(problem.x)
        self.onehot = Tensor(problem.onehot)
        self.parameters = {name: Tensor(getattr(problem, name), requires_grad=True) for name in PARAMETERS}

    def __call__(self) -> Tensor:
        """Forward and backward once; returns the loss."""
        params = self.parameters
        for parameter in params.values():
            parameter.grad = None  # like optimizer.zero_grad(set_to_none=True)
        pre = self.x @ params["w1"] + params["b1"]
        hidden = pre * (pre > 0)  # ReLU with Module 01 ops
        logits = hidden @ params["w2"] + params["b2"]
        # The row max only shifts the logits for numerical stability; the loss does not
        # depend on it, so its gradient is exactly zero. Detaching it skips computing that
        # zero (a max backward), as production log-softmax kernels do.
        shifted = logits - logits.max(axis=1, keepdims=True).detach()
        log_probs = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
        loss = -(log_probs * self.onehot).sum(axis=1).mean()
        loss.backward()
        return loss

    def gradients(self) -> Gradients:
        """The parameters' ``.grad`` arrays after a step."""
        grads = {}
        for name, parameter in self.parameters.items():
            if parameter.grad is None:
                raise RuntimeError(f"tinytorch step: {name} received no gradient; run the step first")
            grads[name] = parameter.grad.data
        return grads


class GradientMismatch(AssertionError):
    """Two implementations of the step disagree, so timing them would compare different work."""


def check_gradients(
    reference: tuple[float, Gradients], candidate: tuple[float, Gradients], label: str, rtol: float = 1e-4
) -> float:
    """Raise ``GradientMismatch`` unless loss and all gradients agree; returns the worst error.

    The error of each array is measured relative to its largest element, because
    float32 sums taken in a different order differ by a few units in the last place of
    the *largest* terms, not of each element.
    """
    ref_loss, ref_grads = reference
    loss, grads = candidate
    if not np.isclose(loss, ref_loss, rtol=rtol, atol=0.0):
        raise GradientMismatch(f"{label}: loss {loss!r} differs from the NumPy reference {ref_loss!r}")
    worst = 0.0
    for name in PARAMETERS:
        expected, got = ref_grads[name], np.asarray(grads[name])
        if got.shape != expected.shape or got.dtype != np.float32:
            raise GradientMismatch(
                f"{label}: gradient of {name} is {got.dtype}{got.shape}, expected float32{expected.shape}"
            )
        scale = float(np.abs(expected).max())
        error = float(np.abs(got - expected).max()) / scale if scale > 0 else float(np.abs(got).max())
        if not np.isfinite(error) or error > rtol:
            raise GradientMismatch(f"{label}: gradient of {name} differs from NumPy's by {error:.2e} (relative)")
        worst = max(worst, error)
    return worst
