"""Module 04 (layers): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-walk-modules": '''
def walk_modules(module: Module, prefix: str = "") -> Iterator[tuple[str, Module]]:
    """Recursive pre-order walk; a module met a second time is skipped with its subtree."""
    met: set[int] = set()

    def visit(name: str, current: Module) -> Iterator[tuple[str, Module]]:
        if id(current) in met:
            return
        met.add(id(current))
        yield name, current
        for child_name, child in current._modules.items():
            yield from visit(child_name if not name else name + "." + child_name, child)

    yield from visit(prefix, module)
''',
    "impl-run-with-hooks": '''
def run_with_hooks(module: Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Snapshots of both hook tables, taken before anything runs."""
    pre_hooks = tuple(module._forward_pre_hooks.values())
    post_hooks = tuple(module._forward_hooks.values())
    current = tuple(args)
    for hook in pre_hooks:
        replaced = hook(module, current)
        if replaced is None:
            continue
        current = replaced if type(replaced) is tuple or isinstance(replaced, tuple) else (replaced,)
    result = module.forward(*current, **kwargs)
    index = 0
    while index < len(post_hooks):
        changed = post_hooks[index](module, current, result)
        result = result if changed is None else changed
        index += 1
    return result
''',
    "impl-load-state": '''
def load_state(module: Module, state_dict: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
    """Check keys and shapes first (shapes before the strict key check), then np.copyto each value."""
    targets: dict[str, Tensor] = {}
    for name, tensor in module.named_parameters():
        targets[name] = tensor
    for name, tensor in module.named_buffers():
        targets.setdefault(name, tensor)
    arrays = {}
    for name in state_dict:
        if name in targets:
            value = state_dict[name]
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            if tuple(array.shape) != tuple(targets[name].shape):
                raise ShapeError(f"size mismatch for {name}: the checkpoint has {tuple(array.shape)}, "
                                 f"the model's tensor is {tuple(targets[name].shape)}")
            arrays[name] = array
    missing = [name for name in targets if name not in arrays]
    unexpected = [name for name in state_dict if name not in targets]
    if strict and (missing or unexpected):
        problems = [f"missing: {name}" for name in missing] + [f"unexpected: {name}" for name in unexpected]
        raise KeyError("state dict does not fit the model (" + "; ".join(problems) + ")")
    for name, array in arrays.items():
        np.copyto(targets[name].data, array, casting="unsafe")
    return IncompatibleKeys(list(missing), list(unexpected))
''',
    "impl-linear-kernel": '''
@register_kernel("linear")
def linear_kernel(input: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """einsum over the last axis, accumulated in float64, cast back to the inputs' dtype."""
    dtype = np.result_type(input, weight) if bias is None else np.result_type(input, weight, bias)
    out = np.einsum("...i,oi->...o", input.astype(np.float64), weight.astype(np.float64))
    if bias is not None:
        out = out + bias.astype(np.float64)
    return out.astype(dtype)
''',
    "impl-linear-backward": '''
@register_gradient("linear")
def linear_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, ...]:
    """tensordot over the leading axes instead of flattening them."""
    x, w = node.inputs[0].data, node.inputs[1].data
    lead = tuple(range(grad.ndim - 1))
    wanted = [t.requires_grad for t in node.inputs]
    grads: list[np.ndarray | None] = [None] * len(node.inputs)
    if wanted[0]:
        grads[0] = np.matmul(grad, w)
    if wanted[1]:
        grads[1] = np.tensordot(grad, x, axes=(lead, lead))
    if len(node.inputs) == 3 and wanted[2]:
        grads[2] = np.sum(grad, axis=lead) if lead else grad.copy()
    return tuple(grads)
''',
}
