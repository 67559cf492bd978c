"""Likely mistakes in module 10 (normalization) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("layer_norm_kernel normalizes over the last dim only", "impl-layer-norm-kernel",
            "rows = input.reshape(-1, math.prod(normalized_shape))", "rows = input.reshape(-1, normalized_shape[-1])",
            "test-layer-norm-kernel", "normalizes each sample's 12 numbers together"),
    Mistake("layer_norm_kernel computes the variance in one pass", "impl-layer-norm-kernel",
            "rstd = 1 / np.sqrt((x_hat * x_hat).mean(axis=1, keepdims=True) + eps)",
            "rstd = 1 / np.sqrt((rows * rows).mean(axis=1, keepdims=True) - rows.mean(axis=1, keepdims=True) ** 2 + eps)",
            "test-layer-norm-kernel", "two passes"),
    Mistake("layer_norm_backward forgets the weight in g", "impl-layer-norm-backward",
            "g = grad_rows * weight.data.reshape(-1) if weight is not None else grad_rows", "g = grad_rows",
            "test-layer-norm-backward", "g = grad * weight"),
    Mistake("batch_norm_kernel normalizes with the unbiased variance", "impl-batch-norm-kernel",
            "mean, var = input.mean(axis=axes), input.var(axis=axes)", "mean, var = input.mean(axis=axes), input.var(axis=axes, ddof=1)",
            "test-batch-norm-kernel", "you divided by m - 1"),
    Mistake("batch_norm_kernel uses the batch statistics in evaluation", "impl-batch-norm-kernel",
            "if training:", "if True:", "test-batch-norm-kernel", "in evaluation normalize with running_mean and running_var"),
    Mistake("update_running_stats averages the biased variance", "impl-update-running-stats",
            "running_var += momentum * batch_var * (count / (count - 1))", "running_var += momentum * batch_var",
            "test-update-running-stats", "averages the unbiased batch variance"),
    Mistake("update_running_stats weights the running value by momentum", "impl-update-running-stats",
            "running_mean *= 1 - momentum\n    running_mean += momentum * batch_mean",
            "running_mean *= momentum\n    running_mean += (1 - momentum) * batch_mean",
            "test-update-running-stats", "momentum is the weight of the new batch value"),
    Mistake("dropout_mask scales by 1 - p (scaling meant for evaluation)", "impl-dropout-mask",
            "scale = 0.0 if p == 1 else 1.0 / (1.0 - p)", "scale = 1.0 - p",
            "test-dropout-mask", "inverted dropout scales the survivors in training"),
)
