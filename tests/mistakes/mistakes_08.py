"""Likely mistakes in module 08 (dataloader) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("common_length accepts NumPy arrays", "impl-common-length", "if not isinstance(tensor, Tensor):",
            "if False:", "test-common-length", "common_length of a NumPy array should raise TypeError"),
    Mistake("common_length forgets 0-d tensors", "impl-common-length", "if any(len(shape) == 0 for shape in shapes):",
            "if False:", "test-common-length", "common_length with a 0-d tensor should raise ShapeError"),
    Mistake("batch_indices drops one batch too many", "impl-batch-indices", "stop = n - n % batch_size if drop_last else n",
            "stop = n - batch_size if drop_last else n", "test-batch-indices", "drop_last keeps full batches"),
    Mistake("batch_indices shuffles with NumPy's global generator", "impl-batch-indices", "generator.permutation(n) if",
            "np.random.permutation(n) if", "test-batch-indices", "the order must be generator.permutation(n)"),
    Mistake("count_batches rounds up in floats", "impl-count-batches", "(n + batch_size - 1) // batch_size",
            "math.ceil(n / batch_size)", "test-count-batches", "count_batches(n=100000000000000000001"),
    Mistake("collate turns integer labels into float32", "impl-collate", "dtype = np.int64", "dtype = None",
            "test-collate", "integer labels must stay integers (int64)"),
    Mistake("collate drops a Tensor's dtype", "impl-collate", "dtype = first.dtype", "dtype = None",
            "test-collate", "stacked Tensors keep their dtype"),
    Mistake("split_lengths hands the leftovers out from the last part", "impl-split-lengths",
            "counts[i % len(counts)] += 1", "counts[-1 - i % len(counts)] += 1", "test-split-lengths",
            "split_lengths(11, [0.5, 0.5]) should be [6, 5]"),
)
