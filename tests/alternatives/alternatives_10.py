"""Module 10 (normalization): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-layer-norm-kernel": '''
@register_kernel("layer_norm")
def layer_norm_kernel(
    input: np.ndarray, weight: np.ndarray | None = None, bias: np.ndarray | None = None, *,
    normalized_shape: tuple[int, ...], eps: float, saved: dict[str, np.ndarray],
) -> np.ndarray:
    """Normalize over the trailing dims, then * weight + bias (float64 inside, cast back)."""
    width = 1
    for size in normalized_shape:
        width *= int(size)
    rows = np.asarray(input, dtype=np.float64).reshape(input.size // width, width)
    mean = np.einsum("rd->r", rows)[:, None] / width
    centered = rows - mean
    variance = np.einsum("rd,rd->r", centered, centered)[:, None] / width
    rstd = np.reciprocal(np.sqrt(variance + eps))
    x_hat = centered * rstd
    result = x_hat.reshape(input.shape)
    if weight is not None:
        result = result * np.asarray(weight, dtype=np.float64)
    if bias is not None:
        result = result + np.asarray(bias, dtype=np.float64)
    saved["rstd"] = rstd.astype(input.dtype)
    saved["x_hat"] = x_hat.astype(input.dtype)
    return result.astype(input.dtype)
''',
    "impl-layer-norm-backward": '''
@register_gradient("layer_norm")
def layer_norm_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, ...]:
    """Gradients of layer_norm, written with row sums instead of row means."""
    x_hat = node.attrs["saved"]["x_hat"]
    rstd = node.attrs["saved"]["rstd"]
    rows, width = x_hat.shape
    dy = grad.reshape(rows, width)
    inputs = list(node.inputs)
    has_weight = len(inputs) >= 2
    g = dy * inputs[1].data.reshape(1, width) if has_weight else dy
    out = []
    if inputs[0].requires_grad:
        sum_g = np.sum(g, axis=1, keepdims=True)
        sum_gx = np.einsum("rd,rd->r", g, x_hat)[:, None]
        out.append(((width * g - sum_g - x_hat * sum_gx) * (rstd / width)).reshape(inputs[0].shape))
    else:
        out.append(None)
    if has_weight:
        w = inputs[1]
        out.append(np.einsum("rd,rd->d", dy, x_hat).reshape(w.shape) if w.requires_grad else None)
    if len(inputs) == 3:
        b = inputs[2]
        out.append(np.ones(rows, dtype=dy.dtype) @ dy if b.requires_grad else None)
        if out[-1] is not None:
            out[-1] = out[-1].reshape(b.shape)
    return tuple(out)
''',
    "impl-batch-norm-kernel": '''
@register_kernel("batch_norm")
def batch_norm_kernel(
    input: np.ndarray, weight: np.ndarray | None = None, bias: np.ndarray | None = None, *,
    running_mean: np.ndarray | None, running_var: np.ndarray | None, training: bool, eps: float,
    saved: dict[str, np.ndarray],
) -> np.ndarray:
    """Per-channel normalization, computed on a (C, m) matrix of channels in float64."""
    channels = input.shape[1]
    by_chan = np.moveaxis(np.asarray(input, dtype=np.float64), 1, 0).reshape(channels, -1)
    if training:
        m = by_chan.shape[1]
        mean = by_chan.sum(axis=1) / m
        var = ((by_chan - mean[:, None]) ** 2).sum(axis=1) / m
        saved["mean"], saved["var"] = mean.astype(input.dtype), var.astype(input.dtype)
    else:
        mean = np.asarray(running_mean, dtype=np.float64)
        var = np.asarray(running_var, dtype=np.float64)
        saved["mean"], saved["var"] = running_mean, running_var
    rstd = 1.0 / np.sqrt(var + eps)
    x_hat_rows = (by_chan - mean[:, None]) * rstd[:, None]
    y_rows = x_hat_rows
    if weight is not None:
        y_rows = y_rows * np.asarray(weight, dtype=np.float64)[:, None]
    if bias is not None:
        y_rows = y_rows + np.asarray(bias, dtype=np.float64)[:, None]
    moved = (channels, input.shape[0]) + tuple(input.shape[2:])
    saved["rstd"] = rstd.astype(input.dtype)
    saved["x_hat"] = np.moveaxis(x_hat_rows.reshape(moved), 0, 1).astype(input.dtype)
    return np.ascontiguousarray(np.moveaxis(y_rows.reshape(moved), 0, 1)).astype(input.dtype)
''',
    "impl-update-running-stats": '''
def update_running_stats(running_mean: np.ndarray, running_var: np.ndarray, batch_mean: np.ndarray,
                         batch_var: np.ndarray, count: int, momentum: float) -> None:
    """In place, each array assigned through [...] from a float64 blend."""
    keep = 1.0 - momentum
    unbiased = np.asarray(batch_var, dtype=np.float64) * count / (count - 1)
    running_mean[...] = keep * running_mean.astype(np.float64) + momentum * np.asarray(batch_mean, dtype=np.float64)
    running_var[...] = keep * running_var.astype(np.float64) + momentum * unbiased
''',
    "impl-batch-norm-backward": '''
@register_gradient("batch_norm")
def batch_norm_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, ...]:
    """Gradients of batch_norm, computed on (C, m) matrices of channels."""
    saved = node.attrs["saved"]
    channels = grad.shape[1]

    def rows(a):
        return np.moveaxis(a, 1, 0).reshape(channels, -1)

    def unrows(r):
        return np.moveaxis(r.reshape((channels, grad.shape[0]) + tuple(grad.shape[2:])), 0, 1)

    dy, x_hat = rows(grad), rows(saved["x_hat"])
    rstd = np.asarray(saved["rstd"]).reshape(channels, 1)
    inputs = node.inputs
    w = inputs[1].data.reshape(channels, 1) if len(inputs) > 1 else 1.0
    g = dy * w
    result = []
    if not inputs[0].requires_grad:
        result.append(None)
    elif node.attrs["training"]:
        m = g.shape[1]
        inner = g - g.sum(axis=1, keepdims=True) / m - x_hat * ((g * x_hat).sum(axis=1, keepdims=True) / m)
        result.append(unrows(inner * rstd))
    else:
        result.append(unrows(g * rstd))
    if len(inputs) > 1:
        result.append(np.einsum("cm,cm->c", dy, x_hat) if inputs[1].requires_grad else None)
    if len(inputs) > 2:
        result.append(dy.sum(axis=1) if inputs[2].requires_grad else None)
    return tuple(result)
''',
    "impl-dropout-mask": '''
def dropout_mask(shape: tuple[int, ...], p: float, generator: np.random.Generator,
                 dtype: Any = np.float32) -> np.ndarray:
    """1 / (1 - p) where a float64 uniform draw is >= p, else 0."""
    draws = generator.uniform(0.0, 1.0, size=shape)
    mask = np.zeros(shape, dtype=dtype)
    if p < 1:
        mask[draws >= p] = np.asarray(1.0, dtype=dtype) / np.asarray(1.0 - p, dtype=dtype)
    return mask
''',
}
