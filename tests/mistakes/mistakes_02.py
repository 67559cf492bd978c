"""Likely mistakes in module 02 (autograd) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("unbroadcast counts the size-1 axes from the left", "impl-unbroadcast",
            "stretched = [extra + i for i, size in enumerate(shape) if size == 1]",
            "stretched = [i for i, size in enumerate(shape) if size == 1]", "test-unbroadcast", "shapes align on the right"),
    Mistake("pow_backward gives nan for x ** 0 at 0", "impl-pow-backward", "if exponent == 0:", "if False:",
            "test-pow-backward", "x ** 0 is constant"),
    Mistake("matmul_backward computes grad_a when a needs none", "impl-matmul-backward",
            "if node.inputs[0].requires_grad:", "if True:", "test-matmul-backward", "does not require grad (here a)"),
    Mistake("sum_backward broadcasts grad without restoring the reduced axes", "impl-sum-backward",
            "spread_to(restore_reduced_axes(grad, node), node.inputs[0].shape)", "spread_to(grad, node.inputs[0].shape)",
            "test-sum-backward", "put the reduced axis back"),
    Mistake("max_backward gives every tied maximum the whole gradient", "impl-max-backward",
            "restore_reduced_axes(grad, node) * is_max / ties", "restore_reduced_axes(grad, node) * is_max",
            "test-max-backward", "tied maxima share the gradient equally"),
    Mistake("getitem_backward assigns instead of adding repeated picks", "impl-getitem-backward",
            'np.add.at(scattered, node.attrs["index"], grad)', 'scattered[node.attrs["index"]] = grad',
            "test-getitem-backward", "picked twice gets both gradients"),
    Mistake("run_backward overwrites a gradient instead of summing contributions", "impl-run-backward",
            "grads[key] = grads[key] + parent_grad if key in grads else parent_grad", "grads[key] = parent_grad",
            "test-run-backward", "must sum all contributions"),
    Mistake("gradcheck differentiates in float32", "impl-gradcheck",
            'dtype=np.float64 if t.dtype.kind == "f" else t.dtype', "dtype=t.dtype", "test-gradcheck", "compute in float64"),
)
