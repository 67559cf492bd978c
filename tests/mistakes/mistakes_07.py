"""Likely mistakes in module 07 (training) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("clip_grad_norm_ clips each parameter on its own", "impl-clip-grad-norm", "for g in grads:\n            g *= factor",
            "for g in grads:\n            g *= max_norm / (float(np.sqrt((g.astype(np.float64) ** 2).sum())) + 1e-6)",
            "test-clip-grad-norm", "not of each parameter on its own"),
    Mistake("clip_grad_norm_ forgets the + 1e-6", "impl-clip-grad-norm", "factor = max_norm / (total + 1e-6)",
            "factor = max_norm / total", "test-clip-grad-norm", "with the + 1e-6"),
    Mistake("clip_grad_norm_ scales even below max_norm", "impl-clip-grad-norm", "if not total <= max_norm:",
            "if True:", "test-clip-grad-norm", "a total <= max_norm changes nothing"),
    Mistake("train_step calls zero_grad() after backward()", "impl-train-step",
            "optimizer.zero_grad()\n    outputs = model(inputs)\n    loss = loss_fn(outputs, targets)\n    loss.backward()\n",
            "outputs = model(inputs)\n    loss = loss_fn(outputs, targets)\n    loss.backward()\n    optimizer.zero_grad()\n",
            "test-train-step", "zero_grad() must come before backward()"),
    Mistake("evaluate averages without the batch sizes", "impl-evaluate", "total_loss += loss_fn(outputs, targets).item() * n",
            "total_loss += loss_fn(outputs, targets).item()",
            "test-evaluate", "weight each batch's mean loss by its size"),
    Mistake("evaluate records a graph", "impl-evaluate", "with no_grad():", "with contextlib.nullcontext():",
            "test-evaluate", "inside `with no_grad():`"),
    Mistake("write_atomically leaves the temporary file after a failure", "impl-write-atomically",
            "Path(handle.name).unlink(missing_ok=True)", "pass", "test-write-atomically",
            "remove the temporary file after a failure"),
    Mistake("write_atomically writes into the target itself", "impl-write-atomically",
            'handle = tempfile.NamedTemporaryFile(mode="wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)',
            'handle = open(path, "wb")', "test-write-atomically", "not the target itself"),
    Mistake("read_checkpoint ignores the version", "impl-read-checkpoint",
            ' or structure.get("version") != CHECKPOINT_VERSION', "", "test-read-checkpoint", "version 99"),
)
