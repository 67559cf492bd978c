# %% [markdown]
# # Module 04: Layers
#
# A model is a tree of **modules**: a `Sequential` holds `Linear` layers and activations,
# a transformer block holds attention and an MLP. Each module owns its **parameters** (the
# tensors training changes), knows its children, and is called like a function. In this
# module you build `Module`, the base class of every layer in the course, and the first
# layers on top of it.
#
# **What you will build**
#
# - `walk_modules`: the recursive walk behind `modules()`, `named_parameters()`, `train()`
#   and `state_dict()`, with dotted names like `"0.weight"`;
# - `run_with_hooks`: what `model(x)` does: forward-pre hooks, `forward`, forward hooks;
# - `load_state`: `load_state_dict`, which refuses a checkpoint that does not fit;
# - `linear_kernel` and `linear_backward`: `Linear`'s `x @ W.T + b` as one op with a
#   closed-form backward, registered through the dispatch seam.
#
# You are given `Parameter`, the `Module` class that calls your functions, `Linear`,
# `Sequential`, `ModuleList`, `Identity` and the activation modules (`ReLU`, `GELU`,
# `Softmax`, ...) over Module 03's functions. Names, signatures and behaviour follow
# `torch.nn`, so what you learn here transfers.
#
# **Why a systems engineer cares.** Parameters are the memory a model occupies at rest and
# the bytes a checkpoint holds; you count them below, from the model itself. And
# `Module.__call__` is the seam three later modules plug into without touching any layer:
#
# ```
#   model(x) ──► Module.__call__ ──► run_with_hooks(model, (x,), {})   (if it has hooks)
#                                      │ forward-pre hooks(module, args)        ◄── Module 18: re-apply pruning masks
#                                      │ output = module.forward(*args)
#                                      │ forward hooks(module, args, output)    ◄── Module 15: time per layer
#                                      ▼                                        ◄── Module 17: observe ranges to quantize
#                                    output
# ```
#
# **Connections.** Module 03's activations become layers here. Module 05's losses and
# Module 06's optimizers consume `model.parameters()`; Module 07 saves `state_dict()`
# checkpoints; Modules 09–14 build convolutions, normalization, embeddings and a GPT as
# `Module` subclasses.

# %%
#| default_exp nn.layers

# %%
#| export
from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

import tinytorch.tensor as tensor_module
from tinytorch.nn.activations import gelu, log_softmax, relu, sigmoid, softmax, tanh
from tinytorch.autograd import Node, register_gradient
from tinytorch.tensor import ShapeError, Tensor, dispatch, register_kernel


# %% [markdown]
# ## 1. Parameters
#
# A `Parameter` is a `Tensor` that marks itself as a learnable weight: it requires grad by
# default, and when it is assigned to an attribute of a `Module` (`self.weight =
# Parameter(...)`), the module registers it, so `model.parameters()` finds it. A plain
# `Tensor` attribute is not registered: it is a constant (a mask, a cached value). The
# operations of a parameter give plain tensors, as in PyTorch. A floating-point tensor or
# array keeps its dtype; other data becomes float32.

# %%
#| export
class Parameter(Tensor):
    """A Tensor that is a learnable weight: ``requires_grad=True`` by default, and
    registered by the ``Module`` it is assigned to. The data is copied."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        floating = isinstance(data, (Tensor, np.ndarray)) and data.dtype.kind == "f"
        super().__init__(data, dtype=data.dtype if floating else None, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


# %% [markdown]
# ## 2. `Module`
#
# `Module.__init__` creates the registries, in insertion order (Python dicts keep it):
# `_parameters` and `_modules` (filled by `__setattr__`), `_buffers` (tensors that belong to
# the model's state but are not trained, like BatchNorm's running mean in Module 10;
# `register_buffer` adds one), and the two hook tables. A subclass must call
# `super().__init__()` before assigning anything; otherwise `__setattr__` says so.
#
# The methods below are PyTorch's: `forward` (to override), `__call__`,
# `register_forward_pre_hook` / `register_forward_hook` (each returns a handle whose
# `.remove()` takes the hook out again), `parameters` / `named_parameters`, `buffers` /
# `named_buffers`, `children` / `named_children`, `modules` / `named_modules`,
# `train(mode=True)` / `eval()`, `zero_grad()`, `state_dict()`, `load_state_dict()` and a
# `__repr__` like PyTorch's. Most of them are a few lines over the functions you write:
# `walk_modules`, `run_with_hooks` and `load_state`. Read the class first; the tasks follow.

# %%
#| export
class RemovableHandle:
    """Returned by ``register_forward_hook`` and friends: ``handle.remove()`` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict[int, Callable[..., Any]]) -> None:
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        """Take the hook out; removing it twice does nothing."""
        self._hooks.pop(self.id, None)


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` returns: keys the checkpoint lacked, and keys it had extra."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer and model: subclasses set attributes in ``__init__`` and
    override ``forward``; calling the module runs its hooks around ``forward``."""

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: these are the registries themselves, not entries in them
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_pre_hooks", {})
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "training", True)

    # ---- registration ----------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() has run: call super().__init__() "
                f"first in {type(self).__name__}.__init__"
            )
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)  # a name belongs to at most one registry, the latest assignment's
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Tensor) -> None:
        """Make ``tensor`` part of the module's state (``state_dict``) without training it."""
        if not isinstance(tensor, Tensor) or isinstance(tensor, Parameter):
            raise TypeError(f"register_buffer({name!r}): expected a Tensor that is not a Parameter")
        self.__setattr__(name, tensor)
        self._buffers[name] = tensor

    # ---- calling -----------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation of this module; every subclass overrides it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks:
            return run_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)  # no hook: nothing to run around forward (PyTorch skips too)

    def register_forward_pre_hook(self, hook: Callable[[Module, tuple[Any, ...]], Any]) -> RemovableHandle:
        """Run ``hook(module, args)`` before ``forward``; a non-None result replaces ``args``
        (a non-tuple result is wrapped in a 1-tuple)."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook: Callable[[Module, tuple[Any, ...], Any], Any]) -> RemovableHandle:
        """Run ``hook(module, args, output)`` after ``forward``; a non-None result replaces the output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ---- the tree ------------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named ``prefix``) and every descendant, each once, with dotted names."""
        return walk_modules(self, prefix)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules, in the order they were assigned."""
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()  # a tensor shared by two modules is yielded once, under its first name
        for module_name, module in self.named_modules(prefix):
            for name, tensor in getattr(module, registry).items():
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    yield (f"{module_name}.{name}" if module_name else name), tensor

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter of the tree, once, with dotted names like ``"0.weight"``."""
        return self._named_members("_parameters", prefix)  # type: ignore[return-value]

    def parameters(self) -> Iterator[Parameter]:
        for _, parameter in self.named_parameters():
            yield parameter

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix)

    def buffers(self) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers():
            yield buffer

    # ---- modes and gradients ----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and all descendants; returns ``self``."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """``train(False)``: evaluation mode (Dropout and BatchNorm behave differently, Module 10)."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None (PyTorch's default, ``set_to_none=True``)."""
        for parameter in self.parameters():
            parameter.grad = None

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Copies of every parameter and buffer, by dotted name: what a checkpoint saves."""
        state: OrderedDict[str, Tensor] = OrderedDict()
        for name, tensor in itertools.chain(self.named_parameters(), self.named_buffers()):
            state[name] = Tensor(tensor.data, dtype=tensor.dtype)
        return state

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy ``state_dict``'s values into the parameters and buffers, in place (see ``load_state``)."""
        return load_state(self, state_dict, strict)

    # ---- printing --------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The arguments shown inside ``Name(...)``; layers override it."""
        return ""

    def __repr__(self) -> str:
        children = [f"({name}): {child!r}".replace("\n", "\n  ") for name, child in self.named_children()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = ([self.extra_repr()] if self.extra_repr() else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


# %% [markdown]
# The tests below check errors with Module 01's `expect_error`. Each test cell first checks
# fixed inputs with asserts that say what is wrong, then calls your function again on inputs
# from `unseen_rng(...)` and hands the results to `observe` (Module 01 explains both): that
# second part is what the grader compares with the reference solution.

# %% nbgrader={"grade": false, "grade_id": "given-expect-error-import", "locked": true, "solution": false, "schema_version": 3}
from tinytorch.tensor import error_name, expect_error, observe, unseen_rng


# %% [markdown]
# ## 3. Walking the tree
#
# `named_modules()`, and through it `parameters()`, `train()`, `zero_grad()` and
# `state_dict()`, all walk the module tree. The walk yields `(name, module)` pairs:
#
# ```
#   model = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
#
#   ("", model) ─┬─ ("0", Linear) ─── its parameters: "0.weight", "0.bias"
#                ├─ ("1", ReLU)
#                └─ ("2", Linear) ─── "2.weight", "2.bias"
# ```
#
# The rules, PyTorch's:
#
# 1. The module itself comes first, named `prefix` (`""` by default).
# 2. Then, depth-first, each child from `module._modules` in insertion order, named
#    `prefix + "." + child_name`, or just `child_name` when `prefix` is empty; each child
#    brings its own descendants right after it.
# 3. A module reachable twice (the same `Linear` used in two places: **weight sharing**, as
#    GPT-2 shares its embedding with its output layer) is yielded only once, the first
#    time it is met. Compare by identity (`id(module)`), not by `==`.
#
# ### Your task: `walk_modules`

# %% nbgrader={"grade": false, "grade_id": "impl-walk-modules", "locked": false, "solution": true, "schema_version": 3}
#| export
def walk_modules(module: Module, prefix: str = "") -> Iterator[tuple[str, Module]]:
    """Yield ``(dotted name, module)`` for ``module`` and every descendant, each once, depth-first.

    ``module`` itself comes first, named ``prefix``; a child named ``c`` of a module named
    ``p`` is named ``"p.c"`` (just ``"c"`` when ``p`` is empty).
    Hint: keep a set of ``id``s already yielded; a stack of ``(name, module)`` pairs (push the
    children in reverse) or a recursive helper both give the order.
    """
    ### BEGIN SOLUTION
    seen: set[int] = set()
    stack = [(prefix, module)]
    while stack:
        name, current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield name, current
        children = [(f"{name}.{child_name}" if name else child_name, child)
                    for child_name, child in current._modules.items()]
        stack.extend(reversed(children))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-walk-modules", "locked": true, "points": 3, "solution": false, "schema_version": 3}
class Leaf(Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = Parameter(np.ones(2, dtype=np.float32))


class Branch(Module):
    def __init__(self, left: Module, right: Module) -> None:
        super().__init__()
        self.left = left
        self.right = right


shared = Leaf()
tree = Branch(Branch(Leaf(), shared), shared)
walked = list(walk_modules(tree))
names = [name for name, _ in walked]
assert len(walked) == len({id(m) for _, m in walked}), (
    f"walk_modules yielded a module twice ({names}): a module reachable twice (shared) is yielded only the first "
    "time it is met; compare id(module)"
)
assert not any(name.startswith(".") for name in names), (
    f"walk_modules: when the prefix is empty a child is named just by its own name ('left', not '.left'); got {names}"
)
assert names == ["", "left", "left.left", "left.right"], (
    f"walk_modules: expected ['', 'left', 'left.left', 'left.right'] (self first, then each child in the order they "
    f"were assigned, each followed by its own descendants; a shared module once), got {names}"
)
assert walked[0][1] is tree and walked[3][1] is shared, "walk_modules: yield the module objects themselves"
wide = Branch(Leaf(), Branch(Leaf(), Leaf()))
names = [name for name, _ in walk_modules(wide)]
assert names == ["", "left", "right", "right.left", "right.right"], (
    "walk_modules: expected ['', 'left', 'right', 'right.left', 'right.right'] (depth-first, children in the order "
    f"they were assigned), got {names}"
)
prefixed = [name for name, _ in walk_modules(tree.left, "encoder")]
assert prefixed == ["encoder", "encoder.left", "encoder.right"], f"walk_modules with prefix 'encoder': got {prefixed}"
assert [name for name, _ in walk_modules(Leaf())] == [""], "walk_modules: a module without children yields only itself"
parameter_names = [name for name, _ in tree.named_parameters()]
assert parameter_names == ["left.left.weight", "left.right.weight"], (
    "walk_modules: named_parameters() and state_dict() list the parameters in the order of your walk, a shared one "
    f"once under its first name: expected ['left.left.weight', 'left.right.weight'], got {parameter_names}"
)

# Graded: a tree drawn for the run, with modules shared under several names.
rng = unseen_rng("test-walk-modules")
pool: list[Module] = [Leaf() for _ in range(3)]
child_names = ("enc", "dec", "mlp", "head", "attn")
for _ in range(int(rng.integers(4, 8))):
    node = Module()
    picks = rng.choice(len(pool), size=int(rng.integers(1, 4)))  # may repeat: one module under two names
    for child_name, index in zip(rng.permutation(child_names), picks):
        setattr(node, str(child_name), pool[int(index)])
    pool.append(node)
for tag, member in enumerate(pool):
    member.tag = tag
root = pool[-1]
observe("walk_modules(root): names", [name for name, _ in walk_modules(root)])
observe("walk_modules(root): which module each is", [member.tag for _, member in walk_modules(root)])
observe("walk_modules(root, 'model'): names", [name for name, _ in walk_modules(root, "model")])
observe("walk_modules(pool[-2], 'sub'): names", [name for name, _ in walk_modules(pool[-2], "sub")])
observe("root.named_parameters(): names", [name for name, _ in root.named_parameters()])

# %% [markdown]
# Parameters come from the same walk: `named_parameters()` visits each module of the walk
# and yields its own `_parameters` under `module_name + "." + parameter_name`, skipping a
# parameter it has already yielded (a tensor shared by two modules). With your walk:

# %%
print("named_parameters of the tree:", [(name, p.shape) for name, p in tree.named_parameters()])


# %% [markdown]
# ## 4. Calling a module: hooks
#
# `model(x)` calls `Module.__call__`, which calls `run_with_hooks(model, args, kwargs)`, not
# `forward` directly, whenever the module has a hook (without any, it calls `forward`
# straight away, as PyTorch does, so the common case pays nothing for the seam). Hooks let
# code outside a layer watch or change what goes in and out, without editing or
# subclassing the layer. The protocol is PyTorch's:
#
# 1. Each **forward-pre hook**, in the order registered, is called as `hook(module, args)`
#    (`args` a tuple of the positional arguments). If it returns `None`, nothing changes; if
#    it returns something else, that replaces `args` for the following hooks and for
#    `forward`, and a result that is not a tuple is wrapped into a 1-tuple.
# 2. `output = module.forward(*args, **kwargs)`.
# 3. Each **forward hook**, in the order registered, is called as
#    `hook(module, args, output)`, with the `args` after the pre-hooks. A non-`None` result
#    replaces `output` for the following hooks and for the caller.
# 4. Return `output`.
#
# The hooks live in `module._forward_pre_hooks` and `module._forward_hooks`, dicts from a
# handle id to the hook, in registration order. Iterate over a **copy** of their values
# (`list(...)`): a hook may remove itself while it runs (a one-shot hook), and a dict must
# not change size during iteration.
#
# ### Your task: `run_with_hooks`

# %% nbgrader={"grade": false, "grade_id": "impl-run-with-hooks", "locked": false, "solution": true, "schema_version": 3}
#| export
def run_with_hooks(module: Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``module.forward(*args, **kwargs)`` with its forward-pre hooks before and forward hooks after.

    Pre-hooks: ``hook(module, args)``, a non-None result replaces ``args`` (wrapped in a tuple if
    it is not one). Forward hooks: ``hook(module, args, output)``, a non-None result replaces
    ``output``. Both in registration order.
    Hint: loop over a copy of each table's hooks (a hook may remove itself while it runs):
    first the pre-hooks, then ``forward``, then the forward hooks.
    If you are stuck: ``for hook in list(module._forward_pre_hooks.values()):``.
    """
    ### BEGIN SOLUTION
    for hook in list(module._forward_pre_hooks.values()):
        result = hook(module, args)
        if result is not None:
            args = result if isinstance(result, tuple) else (result,)
    output = module.forward(*args, **kwargs)
    for hook in list(module._forward_hooks.values()):
        result = hook(module, args, output)
        if result is not None:
            output = result
    return output
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-run-with-hooks", "locked": true, "points": 4, "solution": false, "schema_version": 3}
class Scale(Module):
    def forward(self, x: float, factor: float = 2.0) -> float:
        return x * factor


scale = Scale()
assert run_with_hooks(scale, (3.0,), {}) == 6.0, "run_with_hooks: without hooks it returns forward(*args)"
assert run_with_hooks(scale, (3.0,), {"factor": 10.0}) == 30.0, "run_with_hooks: keyword arguments go to forward"
calls = []
scale._forward_pre_hooks[1] = lambda m, args: calls.append(("pre", m, args))
scale._forward_hooks[2] = lambda m, args, out: calls.append(("post", m, args, out))
assert run_with_hooks(scale, (3.0,), {}) == 6.0, "run_with_hooks: hooks that return None change nothing"
assert calls == [("pre", scale, (3.0,)), ("post", scale, (3.0,), 6.0)], (
    f"run_with_hooks: expected the pre-hook called as hook(module, args), then forward, then hook(module, args, output); calls were {calls}"
)
wrapped = Scale()
wrapped._forward_pre_hooks[3] = lambda m, args: 5.0  # not a tuple
outcome = error_name(lambda: run_with_hooks(wrapped, (3.0,), {}))
assert outcome == "nothing", (
    f"run_with_hooks: a forward-pre hook that returns 5.0 made the call raise {outcome}: a result that is not a "
    "tuple is wrapped into a 1-tuple, (5.0,)"
)
assert run_with_hooks(wrapped, (3.0,), {}) == 10.0, (
    "run_with_hooks: a forward-pre hook's non-None result replaces args: it returned 5.0, so forward(5.0) gives 10.0"
)
scale._forward_pre_hooks[3] = lambda m, args: 5.0  # not a tuple: wrapped into (5.0,)
scale._forward_pre_hooks[4] = lambda m, args: (args[0] + 1,)  # sees the replaced args
scale._forward_hooks[5] = lambda m, args, out: out + 100
scale._forward_hooks[6] = lambda m, args, out: -out  # sees the replaced output
calls.clear()
result = run_with_hooks(scale, (3.0,), {})
assert result != 12.0, (
    "run_with_hooks: a forward hook's non-None result replaces the output: the hooks returned 112, then -112, "
    "but you returned forward's 12.0"
)
assert result == -112.0, f"run_with_hooks: pre-hooks give args (6.0,), forward 12, hooks 112 then -112; got {result}"
assert calls[1] == ("post", scale, (6.0,), 12.0), "run_with_hooks: forward hooks receive the args after the pre-hooks"

one_shot = Scale()
one_shot._forward_pre_hooks[7] = lambda m, args: m._forward_pre_hooks.pop(7) and None
one_shot._forward_hooks[8] = lambda m, args, out: m._forward_hooks.pop(8) and None
outcome = error_name(lambda: run_with_hooks(one_shot, (1.0,), {}))
assert outcome == "nothing", (
    f"run_with_hooks: hooks that remove themselves while running made the call raise {outcome}: iterate over a "
    "copy of the hooks, list(...), not over the dict itself"
)
assert not one_shot._forward_pre_hooks and not one_shot._forward_hooks, "run_with_hooks: each one-shot hook runs once"


# Graded: hook chains drawn for the run. Each hook logs what it saw.
def logging_pre_hook(kind: int, shift: float, log: list[float]) -> Callable[..., Any]:
    def hook(module: Module, args: tuple[Any, ...]) -> Any:
        log.append(float(args[0]))
        if kind == 1:
            return args[0] + shift  # not a tuple
        if kind == 2:
            return (args[0] + shift,)
        return None
    return hook


def logging_forward_hook(kind: int, factor: float, log: list[float]) -> Callable[..., Any]:
    def hook(module: Module, args: tuple[Any, ...], output: Any) -> Any:
        log.extend([float(args[0]), float(output)])
        return output * factor if kind else None
    return hook


def removing_hook(table: dict[int, Any], key: int, log: list[float]) -> Callable[..., Any]:
    def hook(module: Module, *args: Any) -> None:
        log.append(-1000.0 - key)
        table.pop(key)
    return hook


rng = unseen_rng("test-run-with-hooks")
for trial in range(4):
    module, log = Scale(), []
    for key in range(int(rng.integers(0, 4))):
        module._forward_pre_hooks[key] = logging_pre_hook(int(rng.integers(0, 3)), float(rng.integers(-5, 6)), log)
    for key in range(10, 10 + int(rng.integers(0, 4))):
        module._forward_hooks[key] = logging_forward_hook(int(rng.integers(0, 2)), float(rng.integers(-3, 4)), log)
    table = module._forward_pre_hooks if rng.integers(0, 2) else module._forward_hooks
    table[20] = removing_hook(table, 20, log)
    x, factor = float(rng.integers(-9, 10)), float(rng.integers(1, 5))
    observe(f"trial {trial}: run_with_hooks(module, (x,), {{'factor': f}})", float(run_with_hooks(module, (x,), {"factor": factor})))
    observe(f"trial {trial}: what the hooks saw, in call order", log)
    observe(f"trial {trial}: hooks left (pre, forward)", [len(module._forward_pre_hooks), len(module._forward_hooks)])

# %% [markdown]
# Through `Module`'s own methods, with handles:

# %%
seen_shapes = []
handle = scale.register_forward_hook(lambda module, args, output: seen_shapes.append(type(output).__name__))
Scale()(1.0)
scale(1.0)
handle.remove()
scale(1.0)
print("the forward hook ran once, on its own module:", seen_shapes)


# %% [markdown]
# ## 5. Loading a checkpoint
#
# `state_dict()` returns copies of every parameter and buffer by dotted name (given above).
# `load_state_dict(state_dict, strict=True)` copies values back **into** the existing
# tensors, in place (`tensor.data[...] = value`), so whatever holds a reference to a
# parameter (an optimizer, Module 06) sees the new values. A checkpoint that does not fit
# the model is the bug to catch here, with a message naming the key:
#
# - **missing keys**: the model has them, the checkpoint does not;
# - **unexpected keys**: the checkpoint has them, the model does not;
# - a **wrong shape** is always an error: a `ShapeError` naming the key and both shapes.
#
# With `strict=True`, missing or unexpected keys raise a `KeyError` that names every one of
# them. With `strict=False` they are allowed: the keys that match are loaded, and both lists
# are returned as `IncompatibleKeys(missing_keys, unexpected_keys)`, like PyTorch's named
# tuple (also with `strict=True`, when both are empty): the missing keys in the model's
# order (its `state_dict()` order), the unexpected ones in the checkpoint's order. Values
# may be Tensors or NumPy arrays; each is copied into the existing array, which keeps its
# dtype (a float64 checkpoint loads into a float32 parameter as float32) and shares no
# memory with the checkpoint. A wrong shape is an error with `strict=False` too.
# **Check everything before copying anything**: a load that fails leaves the model as it
# was.
#
# ### Your task: `load_state`

# %% nbgrader={"grade": false, "grade_id": "impl-load-state", "locked": false, "solution": true, "schema_version": 3}
#| export
def load_state(module: Module, state_dict: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
    """Copy ``state_dict`` values into ``module``'s parameters and buffers, in place.

    ShapeError naming the key and both shapes for a wrong shape; with ``strict``, KeyError
    naming every missing and unexpected key. Nothing is modified unless all checks pass.
    Returns ``IncompatibleKeys(missing_keys, unexpected_keys)``.
    Hint: first map each of the model's keys to its live tensor (its parameters, then its
    buffers, by dotted name); compare the keys, then every shape; copy only once all passed.
    If you are stuck: ``dict(itertools.chain(module.named_parameters(), module.named_buffers()))``
    gives that map; ``tensor.data[...] = array`` copies in place.
    """
    ### BEGIN SOLUTION
    own = dict(itertools.chain(module.named_parameters(), module.named_buffers()))
    missing = [key for key in own if key not in state_dict]
    unexpected = [key for key in state_dict if key not in own]
    if strict and (missing or unexpected):
        raise KeyError(
            f"load_state_dict for {type(module).__name__}: missing keys {missing}, unexpected keys {unexpected}"
        )
    values = {}
    for key, tensor in own.items():
        if key in state_dict:
            value = state_dict[key]
            array = value.data if isinstance(value, Tensor) else np.asarray(value)
            if array.shape != tensor.shape:
                raise ShapeError(
                    f"load_state_dict: {key} has shape {array.shape} in the state dict, "
                    f"but {tensor.shape} in the model"
                )
            values[key] = array
    for key, array in values.items():
        own[key].data[...] = array
    return IncompatibleKeys(missing, unexpected)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-load-state", "locked": true, "points": 3, "solution": false, "schema_version": 3}
class Pair(Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = Leaf()
        self.scale = Parameter(np.zeros(3, dtype=np.float32))


model = Pair()
weight = model.first.weight
source = np.array([5.0, 6.0])  # float64, loaded into a float32 parameter
result = load_state(model, {"first.weight": source, "scale": Tensor([1.0, 2.0, 3.0])})
assert model.first.weight is weight, "load_state: the parameter object must stay the same (an optimizer holds it)"
assert weight.numpy().tolist() == [5.0, 6.0], "load_state: values are copied into the existing parameter (in place)"
source[0] = -1.0
assert weight.dtype == np.float32 and weight.numpy()[0] == 5.0, (
    "load_state: copy the values into the existing array (tensor.data[...] = value): the parameter keeps its float32 "
    f"dtype and shares no memory with the checkpoint; got dtype {weight.dtype}, values {weight.numpy().tolist()}"
)
assert model.scale.numpy().tolist() == [1.0, 2.0, 3.0], "load_state: every key is loaded, Tensor or array"
assert result == IncompatibleKeys([], []), f"load_state: a complete load returns IncompatibleKeys([], []), got {result}"
expect_error(KeyError, lambda: load_state(model, {"first.weight": np.zeros(2)}), "scale",
             what="load_state with the key 'scale' missing")
expect_error(KeyError, lambda: load_state(model, {"first.weight": np.zeros(2), "scale": np.zeros(3), "extra": np.zeros(1)}),
             "extra", what="load_state with an unexpected key 'extra'")
expect_error(ShapeError, lambda: load_state(model, {"first.weight": np.zeros(4), "scale": np.zeros(3)}),
             "first.weight", "(4,)", "(2,)", what="load_state with first.weight of shape (4,) instead of (2,)")
expect_error(ShapeError, lambda: load_state(model, {"first.weight": np.zeros(2), "scale": np.zeros(4)}),
             "scale", "(4,)", "(3,)", what="load_state with scale of shape (4,) instead of (3,)")
assert weight.numpy().tolist() == [5.0, 6.0] and model.scale.numpy().tolist() == [1.0, 2.0, 3.0], (
    "load_state: a failed load must not change anything: check every key and every shape before copying any value "
    f"(after the failed loads first.weight is {weight.numpy().tolist()})"
)
expect_error(ShapeError, lambda: load_state(model, {"scale": np.zeros((3, 1))}, strict=False), "scale",
             what="load_state(strict=False) with scale of shape (3, 1) (a wrong shape is an error with strict=False too)")
result = load_state(model, {"scale": np.full(3, 9.0), "extra": np.zeros(1)}, strict=False)
assert result.missing_keys == ["first.weight"] and result.unexpected_keys == ["extra"], (
    f"load_state(strict=False) should return missing ['first.weight'] and unexpected ['extra'], got {result}"
)
assert model.scale.numpy().tolist() == [9.0, 9.0, 9.0], "load_state(strict=False) still loads the keys that match"
result = load_state(model, {"z": np.zeros(1), "a": np.zeros(1)}, strict=False)
assert result == IncompatibleKeys(["scale", "first.weight"], ["z", "a"]), (
    "load_state: the missing keys come in the model's order, the unexpected ones in the checkpoint's order: expected "
    f"IncompatibleKeys(['scale', 'first.weight'], ['z', 'a']), got {result}"
)


# Graded: a model and checkpoints drawn for the run.
class Holder(Module):
    def __init__(self, shapes: list[tuple[int, ...]], child: Module | None = None) -> None:
        super().__init__()
        for number, shape in enumerate(shapes):
            setattr(self, f"p{number}", Parameter(np.zeros(shape, dtype=np.float32)))
        if child is not None:
            self.child = child
        self.register_buffer("count", Tensor(np.zeros(2, dtype=np.float32)))


rng = unseen_rng("test-load-state")
outer_shapes = [tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(1, 3)))) for _ in range(int(rng.integers(1, 4)))]
inner_shapes = [tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(1, 3)))) for _ in range(int(rng.integers(1, 3)))]
model = Holder(outer_shapes, Holder(inner_shapes))
shapes = {f"p{n}": shape for n, shape in enumerate(outer_shapes)}
shapes |= {f"child.p{n}": shape for n, shape in enumerate(inner_shapes)}
shapes |= {"count": (2,), "child.count": (2,)}


def owner_and_name(key: str) -> tuple[Module, str]:
    return (model.child, key[len("child."):]) if key.startswith("child.") else (model, key)


live = {key: getattr(*owner_and_name(key)) for key in shapes}  # the tensors before any load


def checkpoint(keys: list[str]) -> dict[str, Any]:
    """Random values for ``keys``: NumPy float64 arrays and float32 Tensors, in a drawn order."""
    state = {}
    for key in rng.permutation(keys):
        values = rng.standard_normal(shapes[str(key)])
        state[str(key)] = values if rng.integers(0, 2) else Tensor(values, dtype=np.float32)
    return state


def observe_state(label: str) -> None:
    for key, tensor in live.items():
        observe(f"{label}: {key}", tensor.data)


keys = list(shapes)
result = load_state(model, checkpoint(keys))
observe("complete load: missing keys", list(result.missing_keys))
observe("complete load: unexpected keys", list(result.unexpected_keys))
observe_state("after the complete load")
observe("the same tensor objects after a load", [getattr(*owner_and_name(key)) is live[key] for key in keys])
dropped = str(rng.choice(keys))
state = checkpoint([key for key in keys if key != dropped])
observe("strict load with a key missing raises", error_name(lambda: load_state(model, state)))
state = {**checkpoint(keys), "extra": np.zeros(1)}
observe("strict load with an unexpected key raises", error_name(lambda: load_state(model, state)))
state, wrong, strict = checkpoint(keys), str(rng.choice(keys)), bool(rng.integers(0, 2))
state[wrong] = np.zeros(shapes[wrong] + (2,))
observe("load with one wrong shape raises", error_name(lambda: load_state(model, state, strict=strict)))
observe_state("after the failed loads")
state = checkpoint([key for key in keys if rng.integers(0, 3)])
state["unknown." + dropped] = np.zeros(1)
result = load_state(model, state, strict=False)
observe("load(strict=False): missing keys", list(result.missing_keys))
observe("load(strict=False): unexpected keys", list(result.unexpected_keys))
observe_state("after the load with strict=False")


# %% [markdown]
# ## 6. `Linear`
#
# A fully connected layer maps `in_features` to `out_features`:
#
# $$y = x W^\top + b, \qquad x: (\dots, \text{in}),\ W: (\text{out}, \text{in}),\ b: (\text{out},),\ y: (\dots, \text{out}).$$
#
# The weight is stored `(out_features, in_features)`, as in PyTorch: row $j$ holds the
# weights of output $j$. Any number of leading batch dimensions pass through, and the bias
# broadcasts over them.
#
# Module 02 could already differentiate `input @ weight.T + bias`: it is three recorded ops
# (`permute`, `matmul`, `add`), so three graph nodes per layer and per step, each with its
# Python cost in the forward and the backward pass, and a bias gradient that `unbroadcast`
# has to sum. For the small layers of this course that Python cost is a large share of the
# step. So `linear` is **one op**, registered through the dispatch seam like Module 03's
# activations: a kernel and a closed-form backward. The analysis at the end times both
# versions side by side.
#
# **Backward.** Flatten the leading dimensions so that every row is one sample:
# $X$ is $(N, \text{in})$ and the output gradient $G$ is $(N, \text{out})$. Then
#
# $$\frac{\partial L}{\partial x} = G W \;(\dots, \text{in}), \qquad
#   \frac{\partial L}{\partial W} = G^\top X \;(\text{out}, \text{in}), \qquad
#   \frac{\partial L}{\partial b} = \textstyle\sum_{\text{rows}} G \;(\text{out},).$$
#
# The weight's gradient adds up the contribution of every sample, which is exactly what the
# matrix product $G^\top X$ does. An input that does not require grad gets `None` (the
# input batch usually does not, and $G W$ is as costly as the forward matmul).
#
# ### Your task: `linear_kernel`
# The forward computation on NumPy arrays; `bias` may be None (no bias).

# %% nbgrader={"grade": false, "grade_id": "impl-linear-kernel", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_kernel("linear")
def linear_kernel(input: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``input @ weight.T + bias``: ``(..., in) -> (..., out)`` for ``weight`` of shape ``(out, in)``.

    ``bias`` of shape ``(out,)`` or None (no bias). Any leading dimensions pass through,
    none included (a 1-d input ``(in,)`` gives ``(out,)``); float32 inputs give float32.
    Hint: the weight is stored ``(out, in)``, so the rows of the input multiply its transpose;
    add the bias only if there is one. For speed, flatten the leading dimensions into rows
    first (one 2-D matmul is faster than NumPy's batched one), add the bias in place (no
    second array), and give the result the input's leading dimensions back.
    """
    ### BEGIN SOLUTION
    # (rows, in); math.prod, not -1: a (0, in) or (N, 0) input is valid
    rows = input if input.ndim == 2 else input.reshape(math.prod(input.shape[:-1]), input.shape[-1])
    output = rows @ weight.T  # (rows, out)
    if bias is not None:
        output += bias
    return output if rows is input else output.reshape(*input.shape[:-1], weight.shape[0])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-linear-kernel", "locked": true, "points": 1, "solution": false, "schema_version": 3}
rng = np.random.default_rng(0)
# A square weight first: a missing transpose gives wrong values here, not a shape error.
x_sq, w_sq, b_sq = rng.standard_normal((5, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3)
out = linear_kernel(x_sq, w_sq, b_sq)
assert not np.allclose(out, x_sq @ w_sq + b_sq), (
    "linear_kernel computed input @ weight + bias: the weight is stored (out_features, in_features), so multiply "
    "by its transpose, input @ weight.T"
)
assert not np.allclose(out, x_sq @ w_sq.T), "linear_kernel: the output lacks the bias: add bias, shape (out,), to every row"
assert np.allclose(out, x_sq @ w_sq.T + b_sq), "linear_kernel: expected input @ weight.T + bias"
x_val, w_val, b_val = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
out = linear_kernel(x_val, w_val, b_val)
assert out.shape == (5, 4), f"linear_kernel: (5, 3) inputs with a (4, 3) weight give (5, 4), got {out.shape}"
assert np.allclose(out, x_val @ w_val.T + b_val), "linear_kernel: expected input @ weight.T + bias"
outcome = error_name(lambda: linear_kernel(x_val, w_val, None))
assert outcome == "nothing", f"linear_kernel(input, weight, None) raised {outcome}: bias=None means no bias, add one only if there is one"
assert np.allclose(linear_kernel(x_val, w_val), x_val @ w_val.T), "linear_kernel: bias=None means no bias"
batch = rng.standard_normal((2, 5, 3))
out = linear_kernel(batch, w_val, b_val)
assert out.shape == (2, 5, 4), f"linear_kernel: leading batch dimensions pass through: (2, 5, 3) -> (2, 5, 4), got {out.shape}"
assert np.allclose(out, batch @ w_val.T + b_val), "linear_kernel: wrong values for a (2, 5, 3) batch"
out = linear_kernel(x_val[0], w_val, b_val)
assert out.shape == (4,) and np.allclose(out, w_val @ x_val[0] + b_val), (
    f"linear_kernel: a 1-d input (3,) gives a (4,) output, got shape {out.shape}"
)
out = linear_kernel(x_val.astype(np.float32), w_val.astype(np.float32), b_val.astype(np.float32))
assert out.dtype == np.float32, f"linear_kernel: float32 inputs give a float32 output, got {out.dtype}"

rng = unseen_rng("test-linear-kernel")
n, d_in, d_out = (int(v) for v in rng.integers(1, 7, size=3))
x = rng.standard_normal((n, d_in)).astype(np.float32)
w, b = rng.standard_normal((d_out, d_in)).astype(np.float32), rng.standard_normal(d_out).astype(np.float32)
observe("linear_kernel(x, w, b), float32 (n, in), (out, in), (out,)", linear_kernel(x, w, b), rtol=1e-5, atol=1e-5)
observe("linear_kernel(x, w, None)", linear_kernel(x, w, None), rtol=1e-5, atol=1e-5)
observe("linear_kernel(batch, w, b), (2, 3, in)", linear_kernel(rng.standard_normal((2, 3, d_in)).astype(np.float32), w, b),
        rtol=1e-5, atol=1e-5)
observe("linear_kernel(vector, w, b), (in,)", linear_kernel(x[0], w, b), rtol=1e-5, atol=1e-5)
x64, w64 = rng.standard_normal((3, 4)), rng.standard_normal((4, 4))
observe("linear_kernel(x, w, b), float64 (3, 4), square (4, 4) weight", linear_kernel(x64, w64, rng.standard_normal(4)))


# %% [markdown]
# ### Your task: `linear_backward`
# The three gradients above, for a node whose inputs are `(input, weight)` or
# `(input, weight, bias)`: return one gradient per input, in that order, each of its
# input's shape, and `None` for an input that does not require grad. The test hands it a
# node built with `linear_node` (read-only, below), so your kernel is not involved.

# %% nbgrader={"grade": false, "grade_id": "given-linear-node", "locked": true, "solution": false, "schema_version": 3}
def linear_node(*arrays: np.ndarray, requires_grad: tuple[bool, ...] | None = None) -> Node:
    """The Node recording ``linear(*arrays)``, its output computed here from the closed form.

    ``requires_grad``: one flag per array (default: all True).
    """
    flags = requires_grad or (True,) * len(arrays)
    inputs = tuple(Tensor(a, dtype=np.float64, requires_grad=flag) for a, flag in zip(arrays, flags))
    out = arrays[0] @ arrays[1].T + (arrays[2] if len(arrays) == 3 else 0.0)
    return Node("linear", inputs, {}, np.asarray(out, dtype=np.float64))


# %% nbgrader={"grade": false, "grade_id": "impl-linear-backward", "locked": false, "solution": true, "schema_version": 3}
#| export
@register_gradient("linear")
def linear_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, ...]:
    """Gradients of ``input @ weight.T + bias`` for the inputs of ``node``, in their order.

    ``grad`` has the output's shape ``(..., out)``. Returns ``(grad_input, grad_weight)`` or
    ``(grad_input, grad_weight, grad_bias)``: ``grad @ W`` of shape ``(..., in)``, ``G.T @ X``
    of shape ``(out, in)`` and ``G`` summed over rows, shape ``(out,)``, where ``G`` and ``X``
    are ``grad`` and the input with their leading dimensions flattened into rows (a 1-d
    input is one row). ``None`` for an input whose ``requires_grad`` is False.
    Hint: flatten ``grad`` into ``(N, out)`` and the input into ``(N, in)`` rows; give
    ``grad_input`` the input's shape back. The inputs are ``node.inputs`` (Tensors: use ``.data``).
    If you are stuck: ``grad.reshape(-1, grad.shape[-1])``.
    """
    ### BEGIN SOLUTION
    input, weight = node.inputs[0], node.inputs[1]
    grad_rows = grad.reshape(-1, grad.shape[-1])  # (N, out): every leading dimension is a sample
    grad_input = (grad_rows @ weight.data).reshape(input.shape) if input.requires_grad else None
    grad_weight = grad_rows.T @ input.data.reshape(-1, input.shape[-1]) if weight.requires_grad else None
    if len(node.inputs) == 2:
        return grad_input, grad_weight
    grad_bias = grad_rows.sum(axis=0) if node.inputs[2].requires_grad else None
    return grad_input, grad_weight, grad_bias
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-linear-backward", "locked": true, "points": 3, "solution": false, "schema_version": 3}
rng = np.random.default_rng(1)
# A square weight first: a transposed product gives wrong values here, not a shape error.
x_sq, w_sq, b_sq, g_sq = rng.standard_normal((5, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal((5, 3))
grads = linear_backward(g_sq, linear_node(x_sq, w_sq, b_sq))
assert len(grads) == 3, f"linear_backward: a node with input, weight and bias needs 3 gradients, got {len(grads)}"
grad_x, grad_w, grad_b = grads
assert np.allclose(grad_x, g_sq @ w_sq), "linear_backward: grad_input should be grad @ weight (the weight is (out, in))"
assert not np.allclose(grad_w, x_sq.T @ g_sq), (
    "linear_backward: grad_weight came out transposed: it has the weight's layout (out, in), so it is grad.T @ input, "
    "not input.T @ grad"
)
assert np.allclose(grad_w, g_sq.T @ x_sq), "linear_backward: grad_weight should be grad.T @ input"
assert np.allclose(grad_b, g_sq.sum(axis=0)), "linear_backward: grad_bias should be grad summed over rows"
x_val, w_val, b_val = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
g_val = rng.standard_normal((5, 4))
grad_x, grad_w, grad_b = linear_backward(g_val, linear_node(x_val, w_val, b_val))
assert grad_x.shape == (5, 3) and np.allclose(grad_x, g_val @ w_val), "linear_backward: grad_input should be grad @ weight, shape (5, 3)"
assert grad_w.shape == (4, 3) and np.allclose(grad_w, g_val.T @ x_val), (
    f"linear_backward: grad_weight should be grad.T @ input, with the weight's shape (out, in) = (4, 3); got {grad_w.shape}"
)
assert grad_b.shape == (4,) and np.allclose(grad_b, g_val.sum(axis=0)), "linear_backward: grad_bias should be grad summed over rows"
outcome = error_name(lambda: linear_backward(g_val, linear_node(x_val, w_val)))
assert outcome == "nothing", (
    f"linear_backward raised {outcome} for a node without bias: its inputs are (input, weight), so return 2 gradients"
)
assert len(linear_backward(g_val, linear_node(x_val, w_val))) == 2, "linear_backward: a node without bias has 2 inputs, so 2 gradients"
grads = linear_backward(g_val, linear_node(x_val, w_val, b_val, requires_grad=(False, True, True)))
assert grads[0] is None, "linear_backward: an input that does not require grad gets None (skip the matmul)"
grads = linear_backward(g_val, linear_node(x_val, w_val, b_val, requires_grad=(True, False, False)))
assert grads[1] is None and grads[2] is None, "linear_backward: a frozen weight and bias (requires_grad False) get None"
batch, g_batch = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 4))
grad_x, grad_w, grad_b = linear_backward(g_batch, linear_node(batch, w_val, b_val))
assert grad_x.shape == (2, 5, 3) and np.allclose(grad_x, g_batch @ w_val), "linear_backward: grad_input keeps the (2, 5, 3) shape"
assert grad_w.shape == (4, 3) and np.allclose(grad_w, np.einsum("bno,bni->oi", g_batch, batch)), (
    "linear_backward: grad_weight sums over every leading dimension: flatten (2, 5, 4) and (2, 5, 3) into rows first"
)
assert grad_b.shape == (4,) and np.allclose(grad_b, g_batch.sum(axis=(0, 1))), (
    f"linear_backward: grad_bias sums over every leading dimension, shape (4,); got shape {grad_b.shape}"
)
x1, g1 = rng.standard_normal(3), rng.standard_normal(4)
grad_x, grad_w, grad_b = linear_backward(g1, linear_node(x1, w_val, b_val))
assert grad_x.shape == (3,) and np.allclose(grad_x, g1 @ w_val), "linear_backward: a 1-d input (3,) gets a (3,) gradient"
assert np.allclose(grad_w, np.outer(g1, x1)) and np.allclose(grad_b, g1), "linear_backward: a 1-d input is one row"

rng = unseen_rng("test-linear-backward")
n, d_in, d_out = (int(v) for v in rng.integers(1, 7, size=3))
x, w, b = rng.standard_normal((n, d_in)), rng.standard_normal((d_out, d_in)), rng.standard_normal(d_out)
g = rng.standard_normal((n, d_out))
for name, value in zip(("grad_input", "grad_weight", "grad_bias"), linear_backward(g, linear_node(x, w, b))):
    observe(f"linear_backward, (n, in) input with bias: {name}", value)
grads = linear_backward(g, linear_node(x, w))
observe("linear_backward, no bias: number of gradients", len(grads))
for name, value in zip(("grad_input", "grad_weight"), grads):
    observe(f"linear_backward, no bias: {name}", value)
batch, g_batch = rng.standard_normal((2, 3, d_in)), rng.standard_normal((2, 3, d_out))
for name, value in zip(("grad_input", "grad_weight", "grad_bias"), linear_backward(g_batch, linear_node(batch, w, b))):
    observe(f"linear_backward, (2, 3, in) input: {name}", value)
for name, value in zip(("grad_input", "grad_weight", "grad_bias"), linear_backward(g[0], linear_node(x[0], w, b))):
    observe(f"linear_backward, 1-d input: {name}", value)
flags = tuple(bool(flag) for flag in rng.integers(0, 2, size=3))
grads = linear_backward(g, linear_node(x, w, b, requires_grad=flags))
observe("linear_backward, some inputs not requiring grad: which gradients are None", [grad is None for grad in grads])
for number, grad in enumerate(grads):
    if flags[number]:
        observe(f"linear_backward, some inputs not requiring grad: gradient {number}", grad)


# %% [markdown]
# The function `torch.nn.functional.linear(input, weight, bias=None)` is one `dispatch` call
# (given): with a bias the op has three inputs, without one two. Shapes are checked by the
# `Linear` layer that calls it.

# %%
#| export
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` as one recorded op: ``(..., in) -> (..., out)`` for ``weight``
    of shape ``(out, in)`` and ``bias`` of shape ``(out,)`` or None."""
    if bias is None:
        return dispatch("linear", input, weight)
    return dispatch("linear", input, weight, bias)


# %% [markdown]
# ### The layer, and its initialization
#
# `Linear(in_features, out_features, bias=True)` creates its parameters with PyTorch's
# default initialization: `kaiming_uniform_(weight, a=sqrt(5))`, which works out to the
# uniform distribution $U(-1/\sqrt{\text{in}},\ 1/\sqrt{\text{in}})$, and the same bound for
# the bias. Scaling by $1/\sqrt{\text{in}}$ keeps the output's variance from growing with
# the number of inputs. The random numbers come from `tinytorch.tensor`'s default
# generator, so `manual_seed(0)` before building a model makes it reproducible. The layer
# checks the input's last dimension and raises a `ShapeError` naming the layer and both
# sizes.

# %%
#| export
def uniform_parameter(bound: float, *shape: int) -> Parameter:
    """A Parameter of ``shape`` drawn from U(-bound, bound) with the default generator
    (``tinytorch.tensor.manual_seed`` resets it)."""
    generator = tensor_module._GENERATOR  # looked up at call time: manual_seed replaces it
    return Parameter(generator.uniform(-bound, bound, shape).astype(np.float32))


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` (out_features, in_features) and ``bias`` (out_features,)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear needs non-negative sizes, got in_features={in_features}, out_features={out_features}")
        self.in_features = in_features
        self.out_features = out_features
        bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0  # PyTorch: kaiming_uniform_(a=sqrt(5))
        self.weight = uniform_parameter(bound, out_features, in_features)
        self.bias = uniform_parameter(bound, out_features) if bias else None

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise ShapeError(
                f"{self!r} got an input of shape {input.shape}: its last dimension must be "
                f"in_features={self.in_features}, not {input.shape[-1] if input.ndim else 'missing (0-d input)'}"
            )
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# %% [markdown]
# ## 7. Containers and activation layers
#
# `Sequential(*modules)` calls its modules one after the other; its children are named
# `"0"`, `"1"`, ... (or by the keys of one `OrderedDict` argument). It supports `len`,
# iteration, `append` and indexing (a negative index counts from the end, a slice gives a
# new `Sequential`, an index out of range is an `IndexError`, and appending anything but a
# `Module` a `TypeError`). `ModuleList(modules)` only holds modules, registered so their
# parameters count, for models that call them in their own loop (a transformer's blocks);
# it has no `forward`. `Identity` returns its input. (`Linear` with a negative size is a
# `ValueError`.) The activation layers are thin
# wrappers over Module 03's functions; `Softmax` and `LogSoftmax` need their `dim`
# (PyTorch's implicit choice when it is missing is deprecated), so they reject `dim=None`.

# %%
#| export
class _IndexedModules(Module):
    """Children named "0", "1", ...: the indexing shared by Sequential and ModuleList."""

    def _index(self, index: int) -> str:
        size = len(self._modules)
        if not -size <= index < size:
            raise IndexError(f"index {index} is out of range for {type(self).__name__} of length {size}")
        return list(self._modules)[index % size]

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return type(self)(*list(self._modules.values())[index])
        return self._modules[self._index(index)]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def append(self, module: Module) -> _IndexedModules:
        """Add ``module`` at the end, named by its position; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.append expects a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self


class Sequential(_IndexedModules):
    """Modules called in order: ``Sequential(Linear(4, 8), ReLU())(x)``."""

    def __init__(self, *modules: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                setattr(self, name, module)
            return
        for module in modules:
            self.append(module)  # type: ignore[arg-type]

    def forward(self, input: Any) -> Any:
        for module in self:
            input = module(input)
        return input


class ModuleList(_IndexedModules):
    """A registered list of modules: ``ModuleList([Linear(4, 4) for _ in range(3)])``."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        self.extend(modules or ())

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[self._index(index)]


class Identity(Module):
    """Returns its input unchanged; stands where a model needs a layer that does nothing (e.g. one switched off)."""

    def forward(self, input: Any) -> Any:
        return input


class ReLU(Module):
    def forward(self, input: Tensor) -> Tensor:
        return relu(input)


class Sigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        return sigmoid(input)


class Tanh(Module):
    def forward(self, input: Tensor) -> Tensor:
        return tanh(input)


class GELU(Module):
    """GELU, exact (``approximate="none"``) or in its tanh form (``"tanh"``)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        gelu(Tensor(0.0), approximate)  # rejects an unknown approximation now, not at the first call
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """Softmax along ``dim``, which must be given (e.g. ``Softmax(dim=-1)``)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        if dim is None:
            raise ValueError(f"{type(self).__name__} needs dim=, e.g. {type(self).__name__}(dim=-1) for the last axis")
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """Log-softmax along ``dim``, which must be given."""

    def forward(self, input: Tensor) -> Tensor:
        return log_softmax(input, self.dim)


# %% [markdown]
# A small model, built, printed and run forward and backward; then a checkpoint round trip
# and a wrong input size.

# %%
from tinytorch.tensor import manual_seed, randn
import tinytorch.autograd  # noqa: F401  (gradients for .backward())

manual_seed(0)
model = Sequential(Linear(64, 128), ReLU(), Linear(128, 10), LogSoftmax(dim=-1))
print(model)
x = randn(32, 64)
out = model(x)
out.mean().backward()
print("output", out.shape, "| parameters:", [(name, p.shape) for name, p in model.named_parameters()])
print("every parameter has a gradient:", all(p.grad is not None for p in model.parameters()))
checkpoint = model.state_dict()
manual_seed(1)
fresh = Sequential(Linear(64, 128), ReLU(), Linear(128, 10), LogSoftmax(dim=-1))
fresh.load_state_dict(checkpoint)
print("same outputs after load_state_dict:", np.allclose(fresh(x).numpy(), out.numpy()))
print("wrong input size:", expect_error(ShapeError, lambda: model(randn(32, 63)), "64", "63"))

# %% [markdown]
# ## 8. Systems analysis
#
# ### Parameters and bytes, measured from the model
# A `Linear(in, out)` holds `in * out + out` parameters. We count them from
# `model.parameters()` and their bytes from each tensor's `nbytes` for three MLPs, and
# print the formula's count beside it as a check. Training needs more than this: a gradient
# of the same size for each parameter (Module 02), and for Adam two more (Module 06).

# %%
for sizes in ((64, 128, 10), (784, 256, 128, 10), (512, 2048, 512)):
    layers: list[Module] = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [Linear(d_in, d_out), ReLU()]
    mlp = Sequential(*layers[:-1])
    count = sum(p.size for p in mlp.parameters())
    nbytes = sum(p.nbytes for p in mlp.parameters())
    formula = sum(d_in * d_out + d_out for d_in, d_out in zip(sizes[:-1], sizes[1:]))
    print(f"MLP {'->'.join(map(str, sizes)):>22}: {count:>10,} parameters (formula {formula:>10,}), "
          f"{nbytes / 2**20:8.3f} MiB float32")

# %% [markdown]
# ### What a hook costs
# Hooks run on every call, so they must be cheap. We time `model(x)` for a small MLP
# (batch 32, 64 -> 128 -> 10) with no hooks, with a no-op forward hook on every layer, and
# with a hook that records each layer's output shape (what a profiler would do), side by
# side, and print each against the hook-free time.

# %%
import timeit

manual_seed(0)
mlp = Sequential(Linear(64, 128), ReLU(), Linear(128, 10))
x = randn(32, 64)
recorded: list[tuple[int, ...]] = []


def timed(repeats: int = 7, number: int = 300) -> float:
    """Seconds per call of ``mlp(x)``, the fastest of ``repeats`` runs of ``number`` calls."""
    return min(timeit.repeat(lambda: mlp(x), number=number, repeat=repeats)) / number


plain = timed()
handles = [layer.register_forward_hook(lambda m, args, out: None) for layer in mlp.modules()]
noop = timed()
for handle in handles:
    handle.remove()
handles = [layer.register_forward_hook(lambda m, args, out: recorded.append(out.shape)) for layer in mlp.modules()]
recording = timed()
for handle in handles:
    handle.remove()
print(f"no hooks {plain * 1e6:7.1f} us/call; no-op hook on each of {len(handles)} modules {noop * 1e6:7.1f} us "
      f"({noop / plain:.2f}x); recording hook {recording * 1e6:7.1f} us ({recording / plain:.2f}x)")

# %% [markdown]
# ### One op or three: what fusing `linear` saves
# The same layer's forward and backward, batch 64, 64 -> 128, timed side by side: once as
# the fused op you wrote, once composed from Module 01's ops (`x @ w.T + b`, three graph
# nodes). Both give the same gradients; the difference is Python work per node.

# %%
x = Tensor(np.random.default_rng(0).standard_normal((64, 64)), dtype=np.float32)
layer = Linear(64, 128)


def fused_step() -> None:
    layer.zero_grad()
    linear(x, layer.weight, layer.bias).sum().backward()


def composed_step() -> None:
    layer.zero_grad()
    (x @ layer.weight.T + layer.bias).sum().backward()


fused_step()
fused_grads = [p.grad.numpy().copy() for p in layer.parameters()]
composed_step()
assert all(np.allclose(a, p.grad.numpy(), atol=1e-5) for a, p in zip(fused_grads, layer.parameters()))
fused_times, composed_times = [], []
for _ in range(7):  # alternate, so both see the same machine load
    fused_times.append(min(timeit.repeat(fused_step, number=200, repeat=1)) / 200)
    composed_times.append(min(timeit.repeat(composed_step, number=200, repeat=1)) / 200)
print(f"forward + backward of Linear(64, 128) at batch 64: fused {min(fused_times) * 1e6:6.1f} us, "
      f"composed {min(composed_times) * 1e6:6.1f} us ({min(composed_times) / min(fused_times):.2f}x the fused time)")

# %% [markdown]
# ## Summary
#
# You wrote the walk over a module tree, the hook protocol of `Module.__call__`, checkpoint
# loading that refuses what does not fit, and the linear map as one op with its closed-form
# backward. With the given `Module`,
# `Parameter`, `Linear`, `Sequential`, `ModuleList` and activation layers, `tinytorch.nn`
# now builds models the way `torch.nn` does: `from tinytorch.nn import Linear, ReLU,
# Sequential`.
#
# **Reflection questions**
#
# 1. The parameter count above grows with the product of neighbouring layer widths. Which
#    layer of the largest MLP holds most of its bytes, and how much memory would training
#    it with Adam need (parameters, gradients and two moment estimates)?
# 2. The hook measurement shows a cost per call even for a hook that does nothing. Where
#    does that cost come from, and why does it matter less for large layers?
# 3. `load_state_dict` copies values into the existing parameters instead of replacing
#    them. What would break in a training loop (Module 07) if it replaced them?
# 4. Module 17 will replace `Linear` layers by quantized ones "in place". Which of the
#    methods above would it use to find every `Linear` and its parent?
