"""Module 07 (training): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-clip-grad-norm": '''
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm_: a negative max_norm ({max_norm}) makes no sense")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type {norm_type} is not a positive number or inf")
    if isinstance(parameters, Tensor):
        parameters = (parameters,)
    grads = []
    for p in parameters:
        if p.grad is not None:
            grads.append(p.grad.data)
    if len(grads) == 0:
        return Tensor(np.zeros((), dtype=np.float32), dtype=np.float32)
    # as PyTorch does: the norm of each gradient (in the gradient's own dtype), then the norm of those norms
    per_param = np.array([np.linalg.norm(g.ravel(), ord=norm_type) if g.size else 0.0 for g in grads],
                         dtype=grads[0].dtype)
    total = float(np.linalg.norm(per_param, ord=norm_type))
    if not math.isfinite(total) and error_if_nonfinite:
        raise RuntimeError(f"clip_grad_norm_: the total norm is non-finite ({total}); cannot clip gradients")
    if total > max_norm or math.isnan(total):
        scale = max_norm / (total + 1e-6)
        for g in grads:
            np.multiply(g, scale, out=g, casting="unsafe")
    return Tensor(np.asarray(total, dtype=grads[0].dtype), dtype=grads[0].dtype)
''',
    "impl-train-step": '''
def train_step(model, loss_fn, optimizer, inputs, targets, max_grad_norm=None):
    optimizer.zero_grad()
    predictions = model(inputs)
    batch_loss = loss_fn(predictions, targets)
    batch_loss.backward()
    if max_grad_norm is not None:
        clip_grad_norm_(list(model.parameters()), max_grad_norm)
    optimizer.step()
    value = float(np.asarray(batch_loss.data).reshape(()))
    return value, Tensor(predictions.data.copy(), dtype=predictions.data.dtype)
''',
    "impl-evaluate": '''
def evaluate(model, loss_fn, data):
    previous_mode = model.training
    losses, sizes, hits = [], [], []
    model.eval()
    try:
        with no_grad():
            for inputs, targets in data:
                predictions = model(inputs)
                losses.append(float(loss_fn(predictions, targets).item()))
                sizes.append(int(targets.shape[0]))
                hits.append(count_correct(predictions, targets))
        if not sizes:
            raise ValueError("evaluate: no batches in data, nothing to average over")
    finally:
        model.train(previous_mode)
    weights = np.array(sizes, dtype=np.float64)
    total = int(weights.sum())
    mean_loss = float(np.dot(np.array(losses, dtype=np.float64), weights) / weights.sum())
    accuracy = None if any(h is None for h in hits) else sum(hits) / total
    return {"samples": total, "loss": mean_loss, "accuracy": accuracy}
''',
    "impl-write-atomically": '''
def write_atomically(path, write):
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
''',
    "impl-read-checkpoint": '''
def read_checkpoint(path):
    where = str(path)
    todo = "save it again with save_checkpoint, or load another file"
    try:
        loaded = np.load(where, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
        raise CheckpointError(f"cannot read {where}: {type(error).__name__} ({error}); {todo}") from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{where} is a plain .npy array, not a checkpoint npz; {todo}")
    try:
        with loaded:
            arrays = {}
            for name in loaded.files:
                arrays[name] = loaded[name]
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
        raise CheckpointError(f"cannot read an entry of {where}: {type(error).__name__} ({error}); {todo}") from error
    header = arrays.pop(HEADER_ENTRY, None)
    if header is None:
        raise CheckpointError(f"{where} lacks the {HEADER_ENTRY!r} entry: not a tinytorch checkpoint; {todo}")
    try:
        text = bytes(header.tobytes()).decode("utf-8")
        structure = json.loads(text)
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        raise CheckpointError(f"{where}: the header entry is not UTF-8 JSON ({error}); {todo}") from error
    if type(structure) is not dict:
        raise CheckpointError(f"{where}: the header is a JSON {type(structure).__name__}, not an object; {todo}")
    if structure.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{where} has format {structure.get('format')!r}, expected {CHECKPOINT_FORMAT!r}; {todo}")
    if structure.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{where} has version {structure.get('version')!r}, expected {CHECKPOINT_VERSION}; {todo}")
    return structure, arrays
''',
}
