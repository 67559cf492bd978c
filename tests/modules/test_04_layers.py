"""Module 04: ``tinytorch.nn.layers`` (Parameter, Module, Linear, containers, activation layers).

The PyTorch semantics mirrored, written out here since torch is not installed:
``Linear.weight`` is ``(out_features, in_features)``, both parameters drawn from
U(-1/sqrt(in), 1/sqrt(in)); ``named_parameters`` yields dotted names depth-first in
assignment order, shared parameters once; hooks follow ``register_forward_pre_hook`` /
``register_forward_hook`` (a non-None result replaces args / output, a non-tuple args result
is wrapped); ``zero_grad`` sets grads to None; ``load_state_dict(strict=False)`` returns
missing and unexpected keys; ``train``/``eval`` return the module; reprs as PyTorch prints them.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import tinytorch.autograd  # noqa: F401  (gradients for .backward())
from tinytorch import nn
from tinytorch.autograd import gradcheck
from tinytorch.nn import activations
from tinytorch.nn.layers import (
    GELU,
    Identity,
    IncompatibleKeys,
    Linear,
    LogSoftmax,
    Module,
    ModuleList,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    linear,
    linear_backward,
)
from tinytorch.tensor import ShapeError, Tensor, manual_seed, randn


def mlp() -> Sequential:
    return Sequential(Linear(4, 8), ReLU(), Linear(8, 3))


class Tied(Module):
    """Two layers sharing one Linear (weight tying)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = Linear(3, 3)
        self.decoder = self.encoder
        self.scale = Parameter(np.ones(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x)) * self.scale


# ---------------------------------------------------------------------------------------------
# Parameter and registration
# ---------------------------------------------------------------------------------------------
def test_parameter_requires_grad_and_is_a_tensor() -> None:
    p = Parameter([1, 2, 3])
    assert isinstance(p, Tensor) and p.requires_grad and p.dtype == np.float32
    assert Parameter(np.zeros(2)).dtype == np.float64  # a float array keeps its dtype
    assert not Parameter(np.zeros(2), requires_grad=False).requires_grad
    assert type(p * 2) is Tensor and repr(p).startswith("Parameter containing:")


def test_setattr_registers_parameters_and_modules_in_order() -> None:
    model = Tied()
    assert list(model._parameters) == ["scale"] and list(model._modules) == ["encoder", "decoder"]
    model.scale = Tensor([2.0])  # a plain tensor is not a parameter: unregistered
    assert list(model._parameters) == [] and isinstance(model.scale, Tensor)
    del model.decoder
    assert list(model._modules) == ["encoder"]


def test_assigning_before_init_is_a_clear_error() -> None:
    class Forgetful(Module):
        def __init__(self) -> None:
            self.weight = Parameter([1.0])

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Forgetful()


def test_forward_must_be_overridden() -> None:
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        Module()(1)


# ---------------------------------------------------------------------------------------------
# the tree
# ---------------------------------------------------------------------------------------------
def test_named_parameters_are_dotted_depth_first() -> None:
    names = [name for name, _ in mlp().named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [name for name, _ in mlp().named_parameters(prefix="net")][0] == "net.0.weight"


def test_shared_parameters_and_modules_are_yielded_once() -> None:
    model = Tied()
    assert [name for name, _ in model.named_parameters()] == ["scale", "encoder.weight", "encoder.bias"]
    assert [name for name, _ in model.named_modules()] == ["", "encoder"]
    assert [name for name, _ in model.named_children()] == ["encoder", "decoder"]  # children: as assigned
    assert len(list(model.parameters())) == 3


def test_modules_children_and_nesting() -> None:
    inner = mlp()
    outer = Sequential(inner, Identity())
    assert list(outer.children()) == [inner, outer[1]]
    assert [name for name, _ in outer.named_modules()] == ["", "0", "0.0", "0.1", "0.2", "1"]
    assert list(outer.modules())[0] is outer


def test_train_and_eval_are_recursive_and_return_self() -> None:
    model = Sequential(mlp(), ReLU())
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    assert model.train() is model and all(m.training for m in model.modules())
    model[0].train(False)
    assert model.training and not model[0][1].training


def test_zero_grad_sets_grads_to_none() -> None:
    model = mlp()
    model(randn(2, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# hooks
# ---------------------------------------------------------------------------------------------
def test_hooks_run_in_order_and_can_replace_args_and_output() -> None:
    layer = Identity()
    calls: list[str] = []
    layer.register_forward_pre_hook(lambda m, args: calls.append("pre1"))
    layer.register_forward_pre_hook(lambda m, args: args[0] + 1)  # a non-tuple result becomes (result,)
    layer.register_forward_hook(lambda m, args, out: calls.append(f"post args={args} out={out}"))
    handle = layer.register_forward_hook(lambda m, args, out: out * 10)
    assert layer(1) == 20 and calls == ["pre1", "post args=(2,) out=2"]
    handle.remove()
    handle.remove()  # a second remove does nothing
    assert layer(1) == 2


def test_hooks_see_each_layer_of_a_model() -> None:
    model = mlp()
    shapes: list[tuple[str, tuple[int, ...]]] = []
    for name, module in model.named_modules():
        module.register_forward_hook(lambda m, args, out, name=name: shapes.append((name, out.shape)))
    model(randn(5, 4))
    assert shapes == [("0", (5, 8)), ("1", (5, 8)), ("2", (5, 3)), ("", (5, 3))]


def test_keyword_arguments_reach_forward_but_not_pre_hooks() -> None:
    class Add(Module):
        def forward(self, a: float, b: float = 0.0) -> float:
            return a + b

    seen: list[tuple] = []
    add = Add()
    add.register_forward_pre_hook(lambda m, args: seen.append(args))
    assert add(1.0, b=2.0) == 3.0 and seen == [(1.0,)]


def test_a_hook_may_remove_itself() -> None:
    layer = Identity()
    handles = []
    handles.append(layer.register_forward_hook(lambda m, args, out: handles[0].remove()))
    layer(1)
    layer(1)
    assert not layer._forward_hooks


# ---------------------------------------------------------------------------------------------
# state_dict
# ---------------------------------------------------------------------------------------------
def test_state_dict_is_an_ordered_copy() -> None:
    model = mlp()
    state = model.state_dict()
    assert isinstance(state, OrderedDict) and list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    state["0.bias"].data[...] = 123.0
    assert not np.any(model[0].bias.numpy() == 123.0)
    assert not state["0.weight"].requires_grad


def test_state_dict_round_trip_restores_outputs() -> None:
    manual_seed(3)
    source, target = mlp(), mlp()
    x = randn(4, 4)
    weight = target[0].weight
    assert target.load_state_dict(source.state_dict()) == IncompatibleKeys([], [])
    assert target[0].weight is weight
    np.testing.assert_array_equal(target(x).numpy(), source(x).numpy())


def test_buffers_are_state_but_not_parameters() -> None:
    model = Linear(2, 2)
    model.register_buffer("running_mean", Tensor(np.zeros(2)))
    assert [name for name, _ in model.named_parameters()] == ["weight", "bias"]
    assert list(model.state_dict()) == ["weight", "bias", "running_mean"]
    state = model.state_dict()
    state["running_mean"] = np.array([1.0, 2.0])
    model.load_state_dict(state)
    assert model.running_mean.numpy().tolist() == [1.0, 2.0]


def test_load_state_dict_rejects_what_does_not_fit() -> None:
    model = mlp()
    state = model.state_dict()
    before = model[0].weight.numpy().copy()
    with pytest.raises(KeyError, match="2.bias"):
        model.load_state_dict({k: v for k, v in state.items() if k != "2.bias"})
    with pytest.raises(KeyError, match="extra"):
        model.load_state_dict({**state, "extra": np.zeros(1)})
    bad = {**state, "0.weight": np.ones((4, 8))}
    with pytest.raises(ShapeError, match="0.weight"):
        model.load_state_dict(bad)
    with pytest.raises(ShapeError, match="0.weight"):
        model.load_state_dict(bad, strict=False)
    np.testing.assert_array_equal(model[0].weight.numpy(), before)  # nothing changed
    result = model.load_state_dict({"0.bias": np.ones(8), "other": np.zeros(2)}, strict=False)
    assert result.missing_keys == ["0.weight", "2.weight", "2.bias"] and result.unexpected_keys == ["other"]
    assert model[0].bias.numpy().tolist() == [1.0] * 8


# ---------------------------------------------------------------------------------------------
# Linear
# ---------------------------------------------------------------------------------------------
def test_linear_layout_and_default_initialization() -> None:
    manual_seed(0)
    layer = Linear(64, 10)
    assert layer.weight.shape == (10, 64) and layer.bias.shape == (10,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    bound = 1 / math.sqrt(64)
    big = Linear(400, 300)
    assert np.abs(big.weight.numpy()).max() <= 1 / math.sqrt(400)
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    # uniform on (-b, b): variance b^2 / 3
    np.testing.assert_allclose(big.weight.numpy().var(), (1 / 400) / 3, rtol=0.05)
    assert Linear(3, 2, bias=False).bias is None
    assert [name for name, _ in Linear(3, 2, bias=False).named_parameters()] == ["weight"]


def test_manual_seed_makes_layers_reproducible() -> None:
    manual_seed(42)
    first = Linear(5, 5).weight.numpy()
    manual_seed(42)
    np.testing.assert_array_equal(Linear(5, 5).weight.numpy(), first)
    assert not np.array_equal(Linear(5, 5).weight.numpy(), first)


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)], ids=str)
def test_linear_forward_matches_numpy(shape: tuple[int, ...]) -> None:
    layer = Linear(4, 6)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    expected = x @ layer.weight.numpy().T + layer.bias.numpy()
    out = layer(Tensor(x))
    assert out.shape == (*shape[:-1], 6)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_linear_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    b = Tensor(rng.standard_normal(2), requires_grad=True)
    assert gradcheck(linear, [x, w, b])
    assert gradcheck(lambda x, w: linear(x, w), [x, w])
    batched = Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    assert gradcheck(linear, [batched, w, b])


def test_linear_is_one_recorded_op_and_skips_gradients_nobody_needs() -> None:
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((6, 4)).astype(np.float32))
    w = Tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    b = Tensor(rng.standard_normal(3).astype(np.float32))
    out = linear(x, w, b)
    assert out.grad_fn.op == "linear" and out.grad_fn.inputs == (x, w, b)
    grads = linear_backward(np.ones((6, 3)), out.grad_fn)
    assert grads[0] is None and grads[2] is None  # neither x nor b requires grad
    np.testing.assert_allclose(grads[1], np.ones((6, 3)).T @ x.numpy(), rtol=1e-6)
    out.sum().backward()
    assert x.grad is None and b.grad is None and w.grad.shape == (3, 4)


def test_linear_gradients_with_a_one_dimensional_input() -> None:
    rng = np.random.default_rng(4)
    x = Tensor(rng.standard_normal(4), requires_grad=True)
    w = Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    b = Tensor(rng.standard_normal(2), requires_grad=True)
    assert linear(x, w, b).shape == (2,)
    assert gradcheck(linear, [x, w, b])


def test_linear_closed_form_gradients() -> None:
    layer = Linear(3, 2)
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    layer(Tensor(x)).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), np.ones((5, 2)).T @ x, rtol=1e-5)
    np.testing.assert_allclose(layer.bias.grad.numpy(), [5.0, 5.0])


def test_linear_rejects_a_wrong_feature_size() -> None:
    layer = Linear(64, 10)
    with pytest.raises(ShapeError, match="Linear\\(in_features=64.*63"):
        layer(randn(8, 63))
    with pytest.raises(ShapeError):
        layer(Tensor(1.0))
    with pytest.raises(ValueError):
        Linear(-1, 3)


def test_linear_with_zero_inputs() -> None:
    layer = Linear(0, 3)
    assert layer(Tensor(np.zeros((2, 0)))).shape == (2, 3)


# ---------------------------------------------------------------------------------------------
# containers
# ---------------------------------------------------------------------------------------------
def test_sequential_indexing_len_iteration_and_append() -> None:
    model = mlp()
    assert len(model) == 3 and isinstance(model[1], ReLU) and model[-1] is model[2]
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    head = model[:2]
    assert isinstance(head, Sequential) and len(head) == 2 and head[0] is model[0]
    with pytest.raises(IndexError):
        model[3]
    model.append(Softmax(dim=-1))
    np.testing.assert_allclose(model(randn(2, 4)).numpy().sum(axis=-1), 1.0, rtol=1e-5)
    with pytest.raises(TypeError):
        model.append(lambda x: x)  # type: ignore[arg-type]


def test_sequential_from_an_ordered_dict() -> None:
    model = Sequential(OrderedDict([("hidden", Linear(2, 3)), ("act", Tanh())]))
    assert [name for name, _ in model.named_parameters()] == ["hidden.weight", "hidden.bias"]
    assert model(randn(1, 2)).shape == (1, 3)


def test_module_list_registers_its_modules() -> None:
    class Stack(Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = ModuleList([Linear(2, 2) for _ in range(3)])

        def forward(self, x: Tensor) -> Tensor:
            for layer in self.layers:
                x = layer(x)
            return x

    stack = Stack()
    assert len(list(stack.parameters())) == 6 and "layers.2.bias" in dict(stack.named_parameters())
    stack.layers.append(Linear(2, 1))
    assert len(stack.layers) == 4 and stack(randn(3, 2)).shape == (3, 1)
    assert isinstance(stack.layers[1:], ModuleList) and len(stack.layers[1:]) == 3
    with pytest.raises(NotImplementedError):
        stack.layers(randn(1, 2))


# ---------------------------------------------------------------------------------------------
# activation layers and repr
# ---------------------------------------------------------------------------------------------
def test_activation_layers_call_the_functions() -> None:
    x = Tensor(np.linspace(-3, 3, 12).reshape(3, 4))
    pairs = [
        (ReLU(), activations.relu(x)), (Sigmoid(), activations.sigmoid(x)), (Tanh(), activations.tanh(x)),
        (GELU(), activations.gelu(x)), (GELU("tanh"), activations.gelu(x, "tanh")),
        (Softmax(dim=0), activations.softmax(x, 0)), (LogSoftmax(dim=-1), activations.log_softmax(x, -1)),
    ]
    for layer, expected in pairs:
        np.testing.assert_array_equal(layer(x).numpy(), expected.numpy())
        assert list(layer.parameters()) == []


def test_activation_layers_validate_arguments() -> None:
    with pytest.raises(ValueError, match="dim"):
        Softmax()
    with pytest.raises(ValueError, match="dim"):
        LogSoftmax()
    with pytest.raises(ValueError, match="approximate"):
        GELU("fast")


def test_repr_like_pytorch() -> None:
    assert repr(Linear(64, 10)) == "Linear(in_features=64, out_features=10, bias=True)"
    assert repr(Linear(3, 2, bias=False)) == "Linear(in_features=3, out_features=2, bias=False)"
    assert repr(ReLU()) == "ReLU()" and repr(GELU()) == "GELU(approximate='none')"
    assert repr(Softmax(dim=-1)) == "Softmax(dim=-1)" and repr(LogSoftmax(dim=1)) == "LogSoftmax(dim=1)"
    nested = Sequential(Linear(4, 8), Sequential(ReLU(), Linear(8, 2)))
    assert repr(nested) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Linear(in_features=8, out_features=2, bias=True)\n"
        "  )\n"
        ")"
    )


# ---------------------------------------------------------------------------------------------
# the lazy tinytorch.nn namespace
# ---------------------------------------------------------------------------------------------
def test_nn_namespace_re_exports_the_layers() -> None:
    for name in ("Parameter", "Module", "Linear", "Sequential", "ModuleList", "Identity",
                 "ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"):
        assert getattr(nn, name) is getattr(__import__("tinytorch.nn.layers", fromlist=[name]), name)
    from tinytorch.nn import Linear as Imported

    assert Imported is Linear
    with pytest.raises(AttributeError):
        nn.NoSuchLayer  # noqa: B018


def test_training_a_small_model_reduces_its_loss() -> None:
    manual_seed(0)
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((64, 2)))
    labels = (x.numpy()[:, 0] * x.numpy()[:, 1] > 0).astype(np.int64)
    model = Sequential(Linear(2, 16), Tanh(), Linear(16, 2), LogSoftmax(dim=-1))

    def loss() -> Tensor:
        return -model(x)[np.arange(64), labels].mean()

    first = loss().item()
    for _ in range(200):
        model.zero_grad()
        loss().backward()
        for p in model.parameters():
            p.data -= 0.5 * p.grad.data
    assert loss().item() < 0.5 * first


def test_linear_on_three_dimensional_input_writes_none_of_its_inputs() -> None:
    # The kernel flattens (B, T, in) into rows for one 2-D matmul and adds the bias in place
    # into its own output: the result is x @ W.T + b and the caller's arrays stay as they were.
    manual_seed(0)
    layer = Linear(5, 3)
    x = randn(2, 4, 5, requires_grad=True)
    upstream = np.arange(24, dtype=np.float32).reshape(2, 4, 3) / 24
    arrays = {"weight": layer.weight.data, "bias": layer.bias.data, "input": x.data, "gradient": upstream}
    before = {name: array.copy() for name, array in arrays.items()}
    out = layer(x)
    np.testing.assert_allclose(out.numpy(), x.data @ layer.weight.data.T + layer.bias.data, rtol=1e-6)
    assert out.shape == (2, 4, 3)
    out.backward(upstream)
    assert x.grad.shape == (2, 4, 5) and layer.weight.grad.shape == (3, 5)
    np.testing.assert_allclose(x.grad.numpy(), upstream @ layer.weight.data, rtol=1e-6)
    for name, array in arrays.items():
        np.testing.assert_array_equal(array, before[name], err_msg=f"linear changed its {name}")
