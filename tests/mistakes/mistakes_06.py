"""Likely mistakes in module 06 (optimizers) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("sgd_update keeps d_p itself as the first momentum buffer", "impl-sgd-update",
            "momentum_buffer = d_p.copy()", "momentum_buffer = d_p", "test-sgd-update", "must be a copy of d_p"),
    Mistake("sgd_update dampens the first momentum step", "impl-sgd-update", "momentum_buffer = d_p.copy()",
            "momentum_buffer = d_p * (1 - dampening)", "test-sgd-update", "dampening does not apply on the first step"),
    Mistake("sgd_update allocates lr * update", "impl-sgd-update", "np.multiply(update, lr, out=tmp)\n    param -= tmp",
            "param -= lr * update", "test-sgd-update", "write intermediate results into tmp with out="),
    Mistake("adam_update without bias correction", "impl-adam-update", "bias_correction1 = 1 - beta1**step",
            "bias_correction1 = 1", "test-adam-update", "with bias correction the first step"),
    Mistake("adam_update adds eps before the bias correction of v", "impl-adam-update",
            "tmp /= math.sqrt(bias_correction2)\n    tmp += eps", "tmp += eps\n    tmp /= math.sqrt(bias_correction2)",
            "test-adam-update", "eps is added after the bias correction of v"),
    Mistake("adam_update's AMSGrad keeps the maximum but divides by exp_avg_sq", "impl-adam-update",
            "second_moment = max_exp_avg_sq", "second_moment = exp_avg_sq", "test-adam-update",
            "AMSGrad uses max_exp_avg_sq in the denominator"),
    Mistake("decoupled_weight_decay makes a new array", "impl-decoupled-weight-decay", "    param *= 1 - lr * weight_decay\n",
            "    param = param * (1 - lr * weight_decay)\n", "test-decoupled-weight-decay", "must change param in place"),
    Mistake("pack_state keeps the live buffers", "impl-pack-state",
            "Tensor(value.data, dtype=value.dtype) if isinstance(value, Tensor) else value", "value", "test-pack-state",
            "tensors are copied"),
)
