"""Likely mistakes in module 05 (losses) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("reduce_losses ignores total", "impl-reduce-losses",
            "return losses.sum() / (losses.size if total is None else total)", "return losses.sum() / losses.size",
            "test-reduce-losses", "divides the sum by total"),
    Mistake("mse_loss_backward forgets the factor 2", "impl-mse-loss-backward", "scaled = 2 * diff * reduced_grad",
            "scaled = diff * reduced_grad", "test-mse-loss-backward", "expected 2 (x - y) / 6"),
    Mistake("mse_loss_backward counts the input's elements, not the broadcast diff's", "impl-mse-loss-backward",
            "diff * reduced_grad(grad, diff.shape", "diff * reduced_grad(grad, input.shape", "test-mse-loss-backward",
            "the size of the broadcast diff"),
    Mistake("nll_rows picks a column for every row", "impl-nll-rows", "log_probs[np.arange(len(target)), target]",
            "log_probs[:, target]", "test-nll-rows", "one loss per row"),
    Mistake("nll_loss_backward divides the weighted mean by the number of samples", "impl-nll-loss-backward",
            "node.attrs[\"reduction\"], weights.sum())", "node.attrs[\"reduction\"])", "test-nll-loss-backward", "divides by the sum of the counted weights"),
)

MISTAKES += (
    Mistake("bce_with_logits_losses computes the softplus naively", "impl-bce-with-logits-losses",
            "np.maximum(-input, 0) + np.log1p(np.exp(-np.abs(input)))", "np.log1p(np.exp(-input))",
            "test-bce-with-logits-losses", "never exponentiate a positive number"),
    Mistake("bce_with_logits_losses scales both terms by pos_weight", "impl-bce-with-logits-losses",
            "1 + (pos_weight - 1) * target", "pos_weight", "test-bce-with-logits-losses", "pos_weight only the positive (y) term"),
    Mistake("bce_with_logits_backward uses sigmoid(x) for sigmoid(-x)", "impl-bce-with-logits-backward",
            "positive * sigmoid_kernel(-x)", "positive * sigmoid_kernel(x)", "test-bce-with-logits-backward",
            "expected (sigmoid(x) - y) / 6"),
)
