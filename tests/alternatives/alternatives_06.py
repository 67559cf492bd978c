"""Module 06 (optimizers): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-sgd-update": '''
def sgd_update(param, d_p, momentum_buffer, tmp, *, lr, momentum, dampening, nesterov):
    if momentum == 0:
        np.multiply(d_p, -lr, out=tmp)
        np.add(param, tmp, out=param)
        return None
    first = momentum_buffer is None
    if first:
        momentum_buffer = np.array(d_p, copy=True)
    else:
        np.multiply(d_p, 1.0 - dampening, out=tmp)
        np.multiply(momentum_buffer, momentum, out=momentum_buffer)
        np.add(momentum_buffer, tmp, out=momentum_buffer)
    if nesterov:
        # two separate in-place subtractions: lr * d_p, then lr * momentum * buf
        np.multiply(d_p, lr, out=tmp)
        np.subtract(param, tmp, out=param)
        np.multiply(momentum_buffer, lr * momentum, out=tmp)
        np.subtract(param, tmp, out=param)
    else:
        np.multiply(momentum_buffer, lr, out=tmp)
        np.subtract(param, tmp, out=param)
    return momentum_buffer
''',
    "impl-adam-update": '''
def adam_update(param, d_p, exp_avg, exp_avg_sq, max_exp_avg_sq, step, tmp, *, lr, beta1, beta2, eps):
    # m += (1 - beta1) * (g - m)   (the lerp form PyTorch uses)
    np.subtract(d_p, exp_avg, out=tmp)
    np.multiply(tmp, 1.0 - beta1, out=tmp)
    np.add(exp_avg, tmp, out=exp_avg)
    # v = beta2 * v + (1 - beta2) * g * g
    np.square(d_p, out=tmp)
    np.multiply(tmp, 1.0 - beta2, out=tmp)
    np.multiply(exp_avg_sq, beta2, out=exp_avg_sq)
    np.add(exp_avg_sq, tmp, out=exp_avg_sq)
    if max_exp_avg_sq is None:
        denom_source = exp_avg_sq
    else:
        np.maximum(exp_avg_sq, max_exp_avg_sq, out=max_exp_avg_sq)
        denom_source = max_exp_avg_sq
    # sqrt(v / (1 - beta2**t)) + eps, the same as sqrt(v) / sqrt(1 - beta2**t) + eps
    np.divide(denom_source, 1.0 - beta2 ** step, out=tmp)
    np.sqrt(tmp, out=tmp)
    np.add(tmp, eps, out=tmp)
    np.reciprocal(tmp, out=tmp)
    np.multiply(tmp, exp_avg, out=tmp)
    np.multiply(tmp, -lr / (1.0 - beta1 ** step), out=tmp)
    np.add(param, tmp, out=param)
''',
    "impl-decoupled-weight-decay": '''
def decoupled_weight_decay(param, lr, weight_decay):
    if weight_decay:
        np.multiply(param, 1.0 - lr * weight_decay, out=param)
''',
    "impl-step-lr": '''
def step_lr(base_lr, epoch, step_size, gamma):
    rate = base_lr
    periods, _ = divmod(epoch, step_size)
    for _ in range(periods):
        rate *= gamma
    return rate
''',
    "impl-cosine-lr": '''
def cosine_lr(base_lr, epoch, T_max, eta_min):
    # (1 + cos(x)) / 2 = cos(x / 2) ** 2
    half_angle = math.pi * epoch / (2 * T_max)
    return eta_min + (base_lr - eta_min) * math.cos(half_angle) ** 2
''',
    "impl-pack-state": '''
def pack_state(param_groups, state):
    numbers = {}
    counter = 0
    packed_groups = []
    for group in param_groups:
        indices = []
        for p in group["params"]:
            numbers[id(p)] = counter
            indices.append(counter)
            counter += 1
        packed = dict(group)
        del packed["params"]
        packed["params"] = indices
        packed_groups.append(packed)
    entries = []
    for p, values in state.items():
        copied = {}
        for name, value in values.items():
            if isinstance(value, Tensor):
                copied[name] = Tensor(np.array(value.data, copy=True), dtype=value.data.dtype)
            else:
                copied[name] = value
        entries.append((numbers[id(p)], copied))
    entries.sort(key=lambda pair: pair[0])
    return {"state": dict(entries), "param_groups": packed_groups}
''',
}
