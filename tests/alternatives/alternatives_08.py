"""Module 08 (dataloader): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-common-length": '''
def common_length(tensors):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("common_length: no tensors given; pass at least one, e.g. TensorDataset(x, y)")
    firsts = []
    for position, tensor in enumerate(tensors):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"argument {position} is a {type(tensor).__name__}, not a Tensor; wrap it with Tensor(...)")
        if tensor.ndim == 0:
            raise ShapeError(f"argument {position} is a 0-d tensor (shape ()), it has no samples to index")
        firsts.append(tensor.shape[0])
    if min(firsts) != max(firsts):
        listed = " and ".join(str(tuple(t.shape)) for t in tensors)
        raise ShapeError(f"the tensors disagree on the number of samples: shapes {listed}")
    return int(firsts[0])
''',
    "impl-batch-indices": '''
def batch_indices(n, batch_size, shuffle, drop_last, generator):
    order = np.arange(n)
    if shuffle:
        generator.shuffle(order)  # the same draw as generator.permutation(n)
    full, rest = divmod(n, batch_size)
    batches = [order[i * batch_size:(i + 1) * batch_size] for i in range(full)]
    if rest and not drop_last:
        batches.append(order[full * batch_size:])
    return batches
''',
    "impl-count-batches": '''
def count_batches(n, batch_size, drop_last):
    whole, left = divmod(n, batch_size)
    return whole + (1 if left and not drop_last else 0)
''',
    "impl-collate": '''
def collate(samples):
    samples = list(samples)
    if not samples:
        raise ValueError("collate: an empty list of samples cannot be stacked")
    if isinstance(samples[0], (tuple, list)):
        width = len(samples[0])
        for sample in samples:
            if not isinstance(sample, (tuple, list)) or len(sample) != width:
                raise ValueError("collate: every sample must have the same number of fields")
        batches = []
        for field in range(width):
            batches.append(collate([sample[field] for sample in samples]))
        return tuple(batches)
    arrays = [np.asarray(s.data if isinstance(s, Tensor) else s) for s in samples]
    shape = arrays[0].shape
    for array in arrays[1:]:
        if array.shape != shape:
            raise ShapeError(f"collate: samples of shape {shape} and {array.shape} cannot be stacked")
    if isinstance(samples[0], Tensor):
        dtype = samples[0].data.dtype
    elif all(a.dtype == np.bool_ for a in arrays):
        dtype = np.dtype(np.bool_)
    elif all(np.issubdtype(a.dtype, np.integer) for a in arrays):
        dtype = np.dtype(np.int64)
    else:
        dtype = np.dtype(np.float32)
    batch = np.empty((len(arrays),) + shape, dtype=dtype)
    for row, array in enumerate(arrays):
        batch[row] = array
    return Tensor(batch, dtype=dtype)
''',
    "impl-split-lengths": '''
def split_lengths(n, lengths):
    lengths = list(lengths)
    if not lengths:
        raise ValueError("split_lengths: lengths is empty (sum 0)")
    def whole(x):
        return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))
    kinds = {whole(x) for x in lengths}
    if len(kinds) == 2:
        raise ValueError(f"split_lengths: {lengths} mixes whole counts and fractions (sum {sum(lengths)})")
    if min(lengths) < 0:
        raise ValueError(f"split_lengths: negative length in {lengths} (sum {sum(lengths)})")
    if kinds == {True}:
        if sum(int(x) for x in lengths) != n:
            raise ValueError(f"split_lengths: counts sum to {sum(int(x) for x in lengths)}, not to {n}")
        return [int(x) for x in lengths]
    fractions = np.array(lengths, dtype=np.float64)
    if fractions.max() > 1 or not math.isclose(float(sum(lengths)), 1.0):
        raise ValueError(f"split_lengths: fractions sum to {sum(lengths)}, not to 1")
    counts = np.floor(n * fractions).astype(np.int64)
    left = n - int(counts.sum())
    np.add.at(counts, np.arange(left) % len(counts), 1)
    return [int(c) for c in counts]
''',
}
