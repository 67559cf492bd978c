"""A stride-1 convolution's forward and backward written by hand in NumPy: the floor of ``benchmarks.conv``.

The same algorithm as Module 09 (im2col as columns, one matrix product, col2im over the
kernel offsets), without a framework around it: no dispatch, no graph, no argument
checks, and the columns kept from the forward pass instead of recomputed.

Shapes: x (N, C, H, W), weight (O, C, kh, kw), bias (O,), output (N, O, OH, OW), float32.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def conv_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, padding: int) -> tuple[np.ndarray, np.ndarray]:
    """The output (N, O, OH, OW) and the columns (C*kh*kw, N*OH*OW) the backward pass needs."""
    n, c, h, w = x.shape
    out_channels, _, kh, kw = weight.shape
    padded = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=x.dtype)
    padded[:, :, padding:padding + h, padding:padding + w] = x
    oh, ow = padded.shape[2] - kh + 1, padded.shape[3] - kw + 1
    s = padded.strides
    windows = as_strided(padded, (c, kh, kw, n, oh, ow), (s[1], s[2], s[3], s[0], s[2], s[3]), writeable=False)
    cols = windows.reshape(c * kh * kw, n * oh * ow)
    out = weight.reshape(out_channels, -1) @ cols
    out += bias[:, None]
    return out.reshape(out_channels, n, oh, ow).transpose(1, 0, 2, 3), cols


def conv_backward(grad: np.ndarray, cols: np.ndarray, weight: np.ndarray, input_shape: tuple[int, ...],
                  padding: int, input_grad: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of the input (None unless ``input_grad``), the weight and the bias."""
    out_channels, c, kh, kw = weight.shape
    n, _, h, w = input_shape
    g = grad.transpose(1, 0, 2, 3).reshape(out_channels, -1)
    grad_weight = (g @ cols.T).reshape(weight.shape)
    grad_bias = g.sum(axis=1)
    if not input_grad:
        return None, grad_weight, grad_bias
    oh, ow = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
    patches = (weight.reshape(out_channels, -1).T @ g).reshape(c, kh, kw, n, oh, ow)
    padded = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=grad.dtype)
    for a in range(kh):
        for d in range(kw):
            padded[:, :, a:a + oh, d:d + ow] += patches[:, a, d].transpose(1, 0, 2, 3)
    return padded[:, :, padding:padding + h, padding:padding + w], grad_weight, grad_bias
