"""Likely mistakes in module 09 (spatial) and the words the notebook must name each with."""

from mistake import Mistake

MISTAKES = (
    Mistake("im2col swaps the kernel row and column axes", "impl-im2col", "return windows.transpose(1, 4, 5, 0, 2, 3)",
            "return windows.transpose(1, 5, 4, 0, 2, 3)", "test-im2col", "its rows run over (channel, kernel column, kernel row)"),
    Mistake("im2col lays the windows out as rows", "impl-im2col",
            "return windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * oh * ow)",
            "return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)",
            "test-im2col", "its rows run over (image, output row, output column)"),
    Mistake("im2col loops over the windows", "impl-im2col",
            "return windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * oh * ow)",
            "return np.stack([windows[i, :, a, b].ravel() for i in range(n) for a in range(oh) for b in range(ow)], axis=1)",
            "test-im2col", "im2col must not use a Python loop"),
    Mistake("conv2d_from_columns reshapes straight to (N, O, OH, OW)", "impl-conv2d-from-columns",
            "return out.reshape(out_channels, n, oh, ow).transpose(1, 0, 2, 3)", "return out.reshape(n, out_channels, oh, ow)",
            "test-conv2d-from-columns", "the right numbers in the wrong places"),
    Mistake("conv2d_backward_columns flattens grad without moving the filter axis first", "impl-conv2d-backward-columns",
            "g = grad.transpose(1, 0, 2, 3).reshape(out_channels, -1)", "g = grad.reshape(out_channels, -1)",
            "test-conv2d-backward-columns", "G must be grad with the filter axis first"),
    Mistake("col2im keeps the padding", "impl-col2im", "return padded[:, :, ph:ph + h, pw:pw + w]", "return padded",
            "test-col2im", "cut the padding off"),
    Mistake("col2im loops over the windows", "impl-col2im",
            "    for a in range(kh):\n"
            "        for d in range(kw):\n"
            "            padded[:, :, a:a + sh * oh:sh, d:d + sw * ow:sw] += patches[:, a, d].transpose(1, 0, 2, 3)\n",
            "    for image in range(n):\n"
            "        for i in range(oh):\n"
            "            for j in range(ow):\n"
            "                padded[image, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += patches[:, :, :, image, i, j]\n",
            "test-col2im", "col2im must loop over the kh*kw kernel offsets only"),
    Mistake("route_to_max sends the gradient to every tied maximum", "impl-route-to-max",
            "one_hot = first[:, None, :] == np.arange(windows.shape[1])[:, None]",
            "one_hot = windows == windows.max(axis=1, keepdims=True)", "test-route-to-max", "only the first (position 0)"),
)
