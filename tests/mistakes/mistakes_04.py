"""Likely mistakes in module 04 (layers) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("walk_modules yields a shared module twice", "impl-walk-modules", "if id(current) in seen:", "if False:",
            "test-walk-modules", "only the first time it is met"),
    Mistake("walk_modules visits the children last first (parameters and state_dict out of order)", "impl-walk-modules",
            "stack.extend(reversed(children))", "stack.extend(children)", "test-walk-modules",
            "in the order they were assigned"),
    Mistake("run_with_hooks iterates over the hook dict itself", "impl-run-with-hooks",
            "for hook in list(module._forward_hooks.values()):", "for hook in module._forward_hooks.values():",
            "test-run-with-hooks", "iterate over a copy"),
    Mistake("load_state replaces the parameter's array", "impl-load-state", "own[key].data[...] = array",
            "own[key].data = array", "test-load-state", "copy the values into the existing array"),
    Mistake("load_state copies before every key is checked", "impl-load-state", "values[key] = array",
            "own[key].data[...] = array", "test-load-state", "a failed load must not change anything"),
    Mistake("linear_kernel does not transpose the (out, in) weight", "impl-linear-kernel",
            "output = rows @ weight.T  # (rows, out)", "output = rows @ weight  # (rows, out)", "test-linear-kernel",
            "multiply by its transpose"),
    Mistake("linear_kernel forgets the bias", "impl-linear-kernel", "output += bias", "pass", "test-linear-kernel",
            "lacks the bias"),
    Mistake("linear_backward gives grad_weight transposed", "impl-linear-backward",
            "grad_rows.T @ input.data.reshape(-1, input.shape[-1])",
            "input.data.reshape(-1, input.shape[-1]).T @ grad_rows", "test-linear-backward", "came out transposed"),
)
