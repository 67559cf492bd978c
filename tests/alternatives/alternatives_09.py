"""Module 09 (spatial): a second correct solution of every solution cell, written differently."""

ALTERNATIVES = {
    "impl-im2col": '''
def im2col(x, kernel_size, stride, padding, fill=0.0):
    kh, kw = kernel_size
    sh, sw = stride
    ph, pw = padding
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="constant", constant_values=fill)
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    s_n, s_c, s_h, s_w = padded.strides
    # the windows built directly in the order (C, kh, kw, N, OH, OW) with explicit strides
    view = np.lib.stride_tricks.as_strided(
        padded, shape=(c, kh, kw, n, oh, ow),
        strides=(s_c, s_h, s_w, s_n, s_h * sh, s_w * sw), writeable=False)
    return np.ascontiguousarray(view).reshape(c * kh * kw, n * oh * ow)
''',
    "impl-conv2d-from-columns": '''
def conv2d_from_columns(cols, weight, bias, out_size):
    n, oh, ow = out_size
    o, c, kh, kw = weight.shape
    # contract straight into the (N, O, OH, OW) layout
    out = np.einsum("ok,knij->noij", weight.reshape(o, c * kh * kw), cols.reshape(c * kh * kw, n, oh, ow))
    if bias is not None:
        out += bias.reshape(1, o, 1, 1)
    return out
''',
    "impl-conv2d-backward-columns": '''
def conv2d_backward_columns(grad, cols, weight, input_grad=True):
    o = weight.shape[0]
    flat_w = weight.reshape(o, -1)
    n, _, oh, ow = grad.shape
    grad_bias = grad.sum(axis=(0, 2, 3), dtype=np.float64).astype(grad.dtype)
    grad_weight = None
    if cols is not None:
        per_position = cols.reshape(cols.shape[0], n, oh, ow)
        grad_weight = np.einsum("noij,knij->ok", grad, per_position).reshape(weight.shape)
    grad_cols = None
    if input_grad:
        grad_cols = np.einsum("ok,noij->knij", flat_w, grad).reshape(flat_w.shape[1], n * oh * ow)
    return grad_cols, grad_weight, grad_bias
''',
    "impl-col2im": '''
def col2im(cols, input_shape, kernel_size, stride, padding):
    n, c, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    hp, wp = h + 2 * ph, w + 2 * pw
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    # the flat index in the padded (N, C, Hp, Wp) array of every entry of cols, seen as (C, kh, kw, N, OH, OW)
    ch = np.arange(c).reshape(c, 1, 1, 1, 1, 1)
    a = np.arange(kh).reshape(1, kh, 1, 1, 1, 1)
    d = np.arange(kw).reshape(1, 1, kw, 1, 1, 1)
    im = np.arange(n).reshape(1, 1, 1, n, 1, 1)
    i = np.arange(oh).reshape(1, 1, 1, 1, oh, 1)
    j = np.arange(ow).reshape(1, 1, 1, 1, 1, ow)
    index = ((im * c + ch) * hp + (i * sh + a)) * wp + (j * sw + d)
    sums = np.bincount(index.ravel(), weights=cols.reshape(-1).astype(np.float64), minlength=n * c * hp * wp)
    padded = sums.reshape(n, c, hp, wp).astype(cols.dtype)
    return padded[:, :, ph:ph + h, pw:pw + w]
''',
    "impl-route-to-max": '''
def route_to_max(windows, grad):
    is_max = windows == windows.max(axis=1, keepdims=True)
    first = is_max & (np.cumsum(is_max, axis=1) == 1)  # only the first of tied maxima
    return np.where(first, grad[:, None, :], np.zeros((), dtype=grad.dtype)).astype(grad.dtype)
''',
}
