"""Make ``trajectories.npz``: parameter trajectories of ``torch.optim`` optimizers and schedulers.

Run with any Python that has PyTorch (CPU is enough) and NumPy, from anywhere:

    python data/optim_trajectories/make_trajectories.py

Each configuration runs 20 steps on two float64 parameters, of shapes (2, 3) and (3,), with
the objective ``sum(a / 2 * (x - c)**2 + x**4 / 40)`` per parameter (``c`` a target, ``a``
positive curvatures). Its gradient, ``a * (x - c) + x**3 / 10``, is computed here in NumPy
from that closed form and handed to PyTorch as ``p.grad`` (times ``grad_sign``: -1 gives the
gradient of ``-f``, which ``maximize=True`` climbs), so the trajectories record what
PyTorch's optimizers and schedulers do, and nothing of its autograd. The single-tensor
implementations are used (``foreach=False``), PyTorch's reference code path on the CPU.

The file holds, for each configuration NAME: ``NAME/config`` (JSON: optimizer class and
keyword arguments, optional parameter groups, scheduler and its arguments, steps,
grad_sign, shapes), ``NAME/trajectory`` (steps + 1 rows: the parameters flattened and
concatenated, before the first step and after each step), ``NAME/lr`` (group 0's learning
rate used at each step), ``NAME/target{i}`` and ``NAME/curvature{i}``; and ``names`` and
``generator`` (the PyTorch and NumPy versions).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

STEPS = 20
SHAPES = [(2, 3), (3,)]
SEED = 2024

CONFIGS: dict[str, dict[str, Any]] = {
    "sgd_nesterov_wd_steplr": dict(
        optimizer="SGD", kwargs=dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        scheduler="StepLR", scheduler_kwargs=dict(step_size=5, gamma=0.5), grad_sign=1),
    "sgd_plain": dict(optimizer="SGD", kwargs=dict(lr=0.02), grad_sign=1),
    "sgd_dampening_maximize_cosine": dict(
        optimizer="SGD", kwargs=dict(lr=0.03, momentum=0.8, dampening=0.3, maximize=True),
        scheduler="CosineAnnealingLR", scheduler_kwargs=dict(T_max=12, eta_min=0.001), grad_sign=-1),
    "adam_wd_cosine_past_tmax": dict(
        optimizer="Adam", kwargs=dict(lr=0.1, betas=[0.8, 0.95], eps=1e-6, weight_decay=0.05),
        scheduler="CosineAnnealingLR", scheduler_kwargs=dict(T_max=8, eta_min=0.005), grad_sign=1),
    "adam_amsgrad_steplr": dict(
        optimizer="Adam", kwargs=dict(lr=0.05, amsgrad=True),
        scheduler="StepLR", scheduler_kwargs=dict(step_size=7, gamma=0.3), grad_sign=1),
    "adamw_cosine": dict(
        optimizer="AdamW", kwargs=dict(lr=0.05, weight_decay=0.1),
        scheduler="CosineAnnealingLR", scheduler_kwargs=dict(T_max=20), grad_sign=1),
    "adamw_amsgrad_maximize_groups": dict(
        optimizer="AdamW", kwargs=dict(lr=0.05, amsgrad=True, maximize=True),
        groups=[dict(param_indices=[0], lr=0.02), dict(param_indices=[1], weight_decay=0.3)],
        scheduler="StepLR", scheduler_kwargs=dict(step_size=4, gamma=0.7), grad_sign=-1),
}


def gradients(values: list[np.ndarray], targets: list[np.ndarray], curvatures: list[np.ndarray]) -> list[np.ndarray]:
    return [a * (x - c) + x * x * x / 10 for x, c, a in zip(values, targets, curvatures)]


def run(config: dict[str, Any], start: list[np.ndarray], targets: list[np.ndarray],
        curvatures: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in start]
    kwargs = dict(config["kwargs"], foreach=False)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    if config.get("groups"):
        groups = [{**{k: v for k, v in g.items() if k != "param_indices"},
                   "params": [params[i] for i in g["param_indices"]]} for g in config["groups"]]
    else:
        groups = params
    optimizer = getattr(torch.optim, config["optimizer"])(groups, **kwargs)
    scheduler = None
    if config.get("scheduler"):
        scheduler = getattr(torch.optim.lr_scheduler, config["scheduler"])(optimizer, **config["scheduler_kwargs"])
    rows, rates = [np.concatenate([x.ravel() for x in start])], []
    for _ in range(STEPS):
        rates.append(float(optimizer.param_groups[0]["lr"]))
        values = [p.detach().numpy().copy() for p in params]
        for p, g in zip(params, gradients(values, targets, curvatures)):
            p.grad = torch.from_numpy(config["grad_sign"] * g)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        rows.append(np.concatenate([p.detach().numpy().ravel() for p in params]))
    return np.stack(rows), np.array(rates)


def main() -> None:
    rng = np.random.default_rng(SEED)
    arrays: dict[str, Any] = {}
    for name, config in CONFIGS.items():
        start = [rng.standard_normal(shape) for shape in SHAPES]
        targets = [rng.standard_normal(shape) for shape in SHAPES]
        curvatures = [rng.uniform(0.5, 4.0, shape) for shape in SHAPES]
        trajectory, rates = run(config, start, targets, curvatures)
        arrays[f"{name}/config"] = np.array(json.dumps({**config, "steps": STEPS, "shapes": SHAPES}))
        arrays[f"{name}/trajectory"] = trajectory
        arrays[f"{name}/lr"] = rates
        for i, (c, a) in enumerate(zip(targets, curvatures)):
            arrays[f"{name}/target{i}"] = c
            arrays[f"{name}/curvature{i}"] = a
    arrays["names"] = np.array(list(CONFIGS))
    arrays["generator"] = np.array(f"PyTorch {torch.__version__} (NumPy {np.__version__})")
    out = Path(__file__).resolve().parent / "trajectories.npz"
    np.savez_compressed(out, **arrays)
    print(f"wrote {out} ({out.stat().st_size:,} bytes) with {len(CONFIGS)} trajectories of {STEPS} steps")


if __name__ == "__main__":
    main()
