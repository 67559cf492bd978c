"""Likely mistakes in module 03 (activations) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("relu_backward passes the gradient at x = 0", "impl-relu-backward", "(node.inputs[0].data > 0)",
            "(node.inputs[0].data >= 0)", "test-relu-backward", "the gradient at x = 0 must be 0"),
    Mistake("sigmoid_kernel exponentiates -x (overflows for x = -1000)", "impl-sigmoid-kernel",
            "return np.where(x >= 0, 1 / (1 + z), z / (1 + z))", "return 1 / (1 + np.exp(-x))",
            "test-sigmoid-kernel", "exp overflowed"),
    Mistake("gelu_kernel ignores approximate='tanh'", "impl-gelu-kernel", 'if approximate == "tanh":', "if False:",
            "test-gelu-kernel", "gave the exact (erf) form"),
    Mistake("softmax_kernel does not subtract the max", "impl-softmax-kernel",
            "e = np.exp(x - x.max(axis=dim, keepdims=True))", "e = np.exp(x)", "test-softmax-kernel",
            "subtract the max first"),
    Mistake("softmax_kernel sums without keepdims", "impl-softmax-kernel", "return e / e.sum(axis=dim, keepdims=True)",
            "return e / e.sum(axis=dim)", "test-softmax-kernel", "keepdims=True so the sum over dim broadcasts"),
    Mistake("softmax_backward uses only the Jacobian's diagonal", "impl-softmax-backward",
            "return (s * (grad - (grad * s).sum(axis=dim, keepdims=True)),)", "return (grad * s * (1 - s),)",
            "test-softmax-backward", "only the diagonal of the Jacobian"),
    Mistake("log_softmax_kernel does not subtract the max", "impl-log-softmax-kernel",
            "shifted = x - x.max(axis=dim, keepdims=True)", "shifted = x", "test-log-softmax-kernel",
            "subtract the max first"),
    Mistake("log_softmax_kernel takes the log of the softmax", "impl-log-softmax-kernel",
            "return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))",
            "return np.log(np.exp(shifted) / np.exp(shifted).sum(axis=dim, keepdims=True))",
            "test-log-softmax-kernel", "log of a softmax that rounded to 0"),
)
