"""Module 05 (losses): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-reduce-losses": '''
def reduce_losses(losses: np.ndarray | Tensor, reduction: str, total: float | None = None) -> np.ndarray | Tensor:
    """The mean method without a total; the sum times 1/total with one."""
    if reduction == "none":
        return losses
    if reduction == "mean" and total is None:
        return losses.mean()
    summed = losses.sum()
    if reduction == "sum":
        return summed
    return summed * (1.0 / total) if total else summed / total
''',
    "impl-mse-loss-backward": '''
@register_gradient("mse_loss")
def mse_loss_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None]:
    """2 (x - y) lbar, written as (d + d) * lbar; the target's as (-2 lbar) * d."""
    x, y = node.inputs
    d = np.subtract(x.data, y.data)
    lbar = reduced_grad(grad, d.shape, node.attrs["reduction"])
    gx = (d + d) * lbar if x.requires_grad else None
    gy = (-2.0 * lbar) * d if y.requires_grad else None
    return gx, gy
''',
    "impl-nll-rows": '''
def nll_rows(log_probs: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """take_along_axis picks each row's target column."""
    picked = np.take_along_axis(log_probs, target.reshape(-1, 1), axis=1).reshape(-1)
    return (weights * picked) * -1
''',
    "impl-nll-loss-backward": '''
@register_gradient("nll_loss")
def nll_loss_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray, None]:
    """A one-hot mask times -w * lbar, with lbar computed here for each reduction."""
    log_probs, target = node.inputs
    rows, row_target = to_rows(log_probs.data, target.data)
    safe, weights = target_weights(row_target, node.attrs["weight"], node.attrs["ignore_index"], rows.dtype)
    reduction = node.attrs["reduction"]
    if reduction == "none":
        lbar = np.reshape(grad, -1)
    elif reduction == "sum":
        lbar = grad
    else:
        counted = weights.sum()
        lbar = grad / counted if counted != 0 else np.zeros_like(grad)
    onehot = np.arange(rows.shape[1])[None, :] == safe[:, None]
    grad_rows = np.where(onehot, (-(weights * lbar))[:, None], 0.0).astype(rows.dtype, copy=False)
    return from_rows(grad_rows, log_probs.shape), None
''',
    "impl-bce-with-logits-losses": '''
def bce_with_logits_losses(
    input: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None, pos_weight: np.ndarray | None = None,
) -> np.ndarray:
    """(1 - y) sp(x) + p y sp(-x), both softplus terms by np.logaddexp(0, .), which never overflows."""
    soft_pos = np.logaddexp(0, input)  # -log(1 - sigmoid(x))
    soft_neg = np.logaddexp(0, -input)  # -log(sigmoid(x))
    positive = target if pos_weight is None else pos_weight * target
    losses = (1 - target) * soft_pos + positive * soft_neg
    if weight is not None:
        losses = weight * losses
    return losses
''',
    "impl-bce-with-logits-backward": '''
@register_gradient("binary_cross_entropy_with_logits")
def bce_with_logits_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, np.ndarray | None]:
    """d/dx = w ((1 + (p - 1) y) sigmoid(x) - p y); d/dy = w (p sp(-x) - sp(x))."""
    xt, yt = node.inputs
    x, y = xt.data, yt.data
    p = node.attrs["pos_weight"]
    w = node.attrs["weight"]
    scale = reduced_grad(grad, x.shape, node.attrs["reduction"])
    if w is not None:
        scale = w * scale
    p_eff = 1.0 if p is None else p
    gx = gy = None
    if xt.requires_grad:
        gx = scale * ((1 + (p_eff - 1) * y) * sigmoid_kernel(x) - p_eff * y)
    if yt.requires_grad:
        gy = scale * (p_eff * np.logaddexp(0, -x) - np.logaddexp(0, x))
    return gx, gy
''',
}
