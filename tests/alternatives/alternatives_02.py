"""Module 02 (autograd): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-unbroadcast": '''
def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape`` (accumulated in float64, cast back to grad's dtype)."""
    work = grad.astype(np.float64)
    while work.ndim > len(shape):  # one leading axis at a time
        work = work.sum(axis=0)
    for axis in range(len(shape) - 1, -1, -1):
        if shape[axis] == 1 and work.shape[axis] != 1:
            work = work.sum(axis=axis, keepdims=True)
    return work.reshape(shape).astype(grad.dtype)
''',
    "impl-mul-backward": '''
@register_gradient("mul")
def mul_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None]:
    """d(a*b)/da = b, d(a*b)/db = a."""
    left, right = node.inputs
    out = []
    for this, other in ((left, right), (right, left)):
        out.append(np.multiply(other.data, grad) if this.requires_grad else None)
    return tuple(out)
''',
    "impl-div-backward": '''
@register_gradient("div")
def div_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None]:
    """d(a/b)/da = 1/b, d(a/b)/db = -a/b**2 (computed from the inputs, not node.out)."""
    num, den = node.inputs[0].data, node.inputs[1].data
    inv = 1.0 / den
    grad_a = grad * inv if node.inputs[0].requires_grad else None
    grad_b = -(grad * num) * inv * inv if node.inputs[1].requires_grad else None
    return grad_a, grad_b
''',
    "impl-pow-backward": '''
@register_gradient("pow")
def pow_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(a**p)/da = p * a**(p-1); zeros for p = 0."""
    p = float(node.attrs["exponent"])
    base = node.inputs[0].data
    if p == 0.0:
        return (np.zeros(np.broadcast_shapes(grad.shape, base.shape), dtype=np.result_type(grad, base)),)
    local = p * base ** (p - 1.0)
    return (local * grad,)
''',
    "impl-exp-backward": '''
@register_gradient("exp")
def exp_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(e**a)/da = e**a, recomputed from the input."""
    return (np.exp(node.inputs[0].data) * grad,)
''',
    "impl-log-backward": '''
@register_gradient("log")
def log_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(ln a)/da = 1/a."""
    return (np.reciprocal(node.inputs[0].data) * grad,)
''',
    "impl-sqrt-backward": '''
@register_gradient("sqrt")
def sqrt_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d(sqrt a)/da = 1/(2 sqrt a), recomputed from the input."""
    return (0.5 * grad / np.sqrt(node.inputs[0].data),)
''',
    "impl-matmul-backward": '''
@register_gradient("matmul")
def matmul_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Gradients of a @ b with einsum, one case per kind of operand."""
    (ta, tb) = node.inputs
    a, b = ta.data, tb.data
    if a.ndim == 1 and b.ndim == 1:
        specs = ("...,k->k", "...,k->k")
        ga = (lambda: np.einsum(specs[0], grad, b)) if ta.requires_grad else None
        gb = (lambda: np.einsum(specs[1], grad, a)) if tb.requires_grad else None
    elif a.ndim == 1:  # (k,) @ (..., k, n) -> (..., n)
        ga = (lambda: np.einsum("...n,...kn->...k", grad, b)) if ta.requires_grad else None
        gb = (lambda: np.einsum("k,...n->...kn", a, grad)) if tb.requires_grad else None
    elif b.ndim == 1:  # (..., m, k) @ (k,) -> (..., m)
        ga = (lambda: np.einsum("...m,k->...mk", grad, b)) if ta.requires_grad else None
        gb = (lambda: np.einsum("...mk,...m->...k", a, grad)) if tb.requires_grad else None
    else:
        ga = (lambda: np.einsum("...mn,...kn->...mk", grad, b)) if ta.requires_grad else None
        gb = (lambda: np.einsum("...mk,...mn->...kn", a, grad)) if tb.requires_grad else None
    return (None if ga is None else ga(), None if gb is None else gb())
''',
    "impl-sum-backward": '''
@register_gradient("sum")
def sum_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """The output gradient copied to every summed element."""
    x = node.inputs[0]
    g = np.asarray(grad)
    if not node.attrs.get("keepdims", False):
        for axis in sorted(normalize_axes(node.attrs.get("axis"), x.ndim)):
            g = np.expand_dims(g, axis)
    out = np.zeros(x.shape, dtype=g.dtype)
    out += g
    return (out,)
''',
    "impl-mean-backward": '''
@register_gradient("mean")
def mean_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """1/N to every averaged element, N = input size / output size."""
    x = node.inputs[0]
    per_output = x.size // max(node.out.size, 1)
    spread = np.broadcast_to(restore_reduced_axes(grad, node), x.shape)
    return (spread * (1.0 / per_output),)
''',
    "impl-max-backward": '''
@register_gradient("max")
def max_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """Gradient to the maxima, split equally among ties."""
    x = node.inputs[0].data
    axes = normalize_axes(node.attrs.get("axis"), x.ndim)
    peak = x.max(axis=axes, keepdims=True)
    mask = (x == peak).astype(np.float64)
    count = np.sum(mask, axis=axes, keepdims=True)
    share = restore_reduced_axes(grad, node) / count
    return ((mask * share).astype(np.result_type(grad, x)),)
''',
    "impl-reshape-backward": '''
@register_gradient("reshape")
def reshape_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """The gradient, flattened and laid out in x's shape."""
    return (np.ravel(grad).reshape(*node.inputs[0].shape),)
''',
    "impl-permute-backward": '''
@register_gradient("permute")
def permute_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """Inverse permutation, built by hand."""
    axes = node.attrs["axes"]
    inverse = [0] * len(axes)
    for position, axis in enumerate(axes):
        inverse[axis] = position
    return (grad.transpose(inverse),)
''',
    "impl-getitem-backward": '''
@register_gradient("getitem")
def getitem_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """Scatter-add with bincount over the flat positions the index picked."""
    x = node.inputs[0].data
    positions = np.arange(x.size).reshape(x.shape)[node.attrs["index"]]
    summed = np.bincount(np.ravel(positions), weights=np.ravel(np.broadcast_to(grad, np.shape(positions))),
                         minlength=x.size)
    return (summed.reshape(x.shape).astype(x.dtype),)
''',
    "impl-topological-order": '''
def topological_order(root: Tensor) -> list[Tensor]:
    """Kahn's algorithm on the reversed graph: a tensor is emitted once all its consumers are."""
    found = {id(root): root}
    consumers: dict[int, int] = {id(root): 0}
    todo = [root]
    while todo:  # discover the graph, counting how many times each tensor is consumed
        tensor = todo.pop()
        if tensor.grad_fn is None:
            continue
        for parent in tensor.grad_fn.inputs:
            if not parent.requires_grad:
                continue
            consumers[id(parent)] = consumers.get(id(parent), 0) + 1
            if id(parent) not in found:
                found[id(parent)] = parent
                todo.append(parent)
    ready = [root]
    reverse: list[Tensor] = []
    while ready:
        tensor = ready.pop(0)
        reverse.append(tensor)
        if tensor.grad_fn is None:
            continue
        for parent in tensor.grad_fn.inputs:
            if not parent.requires_grad:
                continue
            consumers[id(parent)] -= 1
            if consumers[id(parent)] == 0:
                ready.append(parent)
    return reverse[::-1]
''',
    "impl-run-backward": '''
def run_backward(root: Tensor, gradient: Tensor | np.ndarray | Sequence[Any] | None = None) -> None:
    """Accumulate d(root)/d(leaf) into every leaf's .grad."""
    if not root.requires_grad:
        raise RuntimeError("nothing to differentiate: this tensor has requires_grad=False "
                           "(set requires_grad=True on the inputs you want gradients for)")
    if gradient is None:
        if root.data.size > 1 or root.data.size == 0:
            raise RuntimeError(f"a root of shape {root.shape} is not a scalar: pass gradient= to backward()")
        start = np.ones(root.shape, dtype=root.dtype)
    else:
        raw = gradient.data if isinstance(gradient, Tensor) else gradient
        start = np.array(raw, dtype=root.dtype)
        if start.shape != root.shape:
            raise ShapeError(f"gradient shape {start.shape} does not match the root's shape {root.shape}")
    pending: dict[int, np.ndarray] = {}
    pending[id(root)] = start
    for tensor in topological_order(root)[::-1]:
        if id(tensor) not in pending:
            continue
        grad = pending.pop(id(tensor))
        if tensor.grad_fn is None:
            total = grad.astype(tensor.dtype) if tensor.grad is None else tensor.grad.data + grad
            tensor.grad = Tensor(total, dtype=tensor.dtype)
            continue
        node = tensor.grad_fn
        parts = list(GRADIENTS[node.op](grad, node))
        if len(parts) != len(node.inputs):
            raise ValueError(f"the backward formula of '{node.op}' returned {len(parts)} gradients "
                             f"for {len(node.inputs)} inputs")
        for parent, part in zip(node.inputs, parts):
            if part is None or not parent.requires_grad:
                continue
            part = unbroadcast(np.asarray(part), parent.shape)
            if id(parent) in pending:
                pending[id(parent)] = np.add(pending[id(parent)], part)
            else:
                pending[id(parent)] = part
''',
    "impl-gradcheck": '''
def gradcheck(
    fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
) -> bool:
    """Central differences on fresh float64 tensors, compared with backward()."""
    if not any(t.requires_grad for t in inputs):
        raise ValueError("gradcheck needs at least one input with requires_grad=True")

    def fresh(arrays):
        return [Tensor(arr, dtype=arr.dtype, requires_grad=t.requires_grad) for arr, t in zip(arrays, inputs)]

    base = [np.array(t.data, dtype=np.float64) if t.dtype.kind == "f" else np.array(t.data) for t in inputs]
    with no_grad():
        out_shape = fn(*fresh(base)).shape
    v = np.random.default_rng(2024).uniform(-1.0, 1.0, size=out_shape)
    tensors = fresh(base)
    fn(*tensors).backward(v.astype(np.float64))

    def value(arrays) -> float:
        with no_grad():
            return float((fn(*fresh(arrays)).data * v).sum())

    for i, t in enumerate(tensors):
        if not t.requires_grad:
            continue
        analytic = np.zeros(t.shape) if t.grad is None else t.grad.data.astype(np.float64)
        flat_numeric = np.empty(t.size)
        for j in range(t.size):
            shifted = [arr.copy() for arr in base]
            shifted[i].reshape(-1)[j] += eps
            up = value(shifted)
            shifted[i].reshape(-1)[j] -= 2 * eps
            down = value(shifted)
            flat_numeric[j] = (up - down) / (2 * eps)
        numeric = flat_numeric.reshape(t.shape)
        bad = np.abs(analytic - numeric) > atol + rtol * np.abs(numeric)
        if bad.any():
            where = tuple(int(k) for k in np.argwhere(bad)[0])
            raise GradcheckError(f"input {i}: element {where} has analytic gradient {analytic[where]!r} "
                                 f"but the numerical estimate is {numeric[where]!r}")
    return True
''',
}
