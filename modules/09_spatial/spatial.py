# %% [markdown]
# # Module 09: Spatial layers (convolutions and pooling)
#
# A `Linear` layer on an 8×8 image treats its 64 pixels as 64 unrelated numbers: move the
# digit one pixel to the right and every input changes. A **convolution** slides one small
# filter, a 3×3 grid of weights, over every position of the image, so the same pattern
# (an edge, a corner, a stroke end) is detected wherever it appears, with nine weights per
# filter instead of one per pixel. **Pooling** then shrinks the map, keeping the strongest
# (max) or the average response of each small region. Stacked, they are the convolutional
# networks (CNNs) that made computer vision work.
#
# **What you will build.** The operations of `torch.nn.functional` and `torch.nn` for
# images of shape `(N, C, H, W)`: `conv2d` / `Conv2d`, `max_pool2d` / `MaxPool2d`,
# `avg_pool2d` / `AvgPool2d` and `Flatten`. You write the five functions that carry the
# arithmetic:
#
# - `im2col`: cut every window out of a batch of images as one column of a matrix, with
#   NumPy's stride tricks and no Python loop over pixels;
# - `conv2d_from_columns`: the convolution as **one matrix product** over those columns;
# - `col2im`: the reverse trip, adding columns back onto the image (the backward pass needs it);
# - `conv2d_backward_columns`: the gradients of the weight, the bias and the columns;
# - `route_to_max`: max pooling's backward, which sends each gradient to its window's maximum.
#
# The given code puts them together into three registered ops (a kernel and a backward
# formula each, like Module 04's `linear`) and the layers around them.
#
# **Why a systems engineer cares.** Written as loops, a convolution is seven nested loops
# and hopelessly slow in Python. Rearranged as *im2col + one GEMM* it runs on the same
# tuned matrix multiply as `Linear`, the classic way deep-learning libraries (Caffe, the
# first GPU frameworks) ran convolutions. The price is memory: every pixel is copied into up to `kh × kw` columns. You
# measure both at the end: the bytes the columns take and the time against a direct loop.
#
# **Connections.** You build on Module 01's dispatch (`register_kernel`), Module 02's
# autograd (`register_gradient`), Module 04's `Module` and initialization, and you train the
# result with Modules 05–08 (`examples/train_digits_cnn.py` trains a small CNN on the
# digits). Module 15 will profile these layers; Module 16 swaps in faster kernels behind the
# same op names; Module 17 quantizes a trained CNN.

# %%
#| default_exp nn.conv

# %%
#| export
from __future__ import annotations

import math
from typing import Union

import numpy as np

from tinytorch.autograd import Node, register_gradient
from tinytorch.nn.layers import Module, uniform_parameter
from tinytorch.tensor import DtypeError, ShapeError, Tensor, dispatch, register_kernel

IntOrPair = Union[int, tuple[int, int]]


# %% [markdown]
# ## 1. The convolution, and its size
#
# A 2-D convolution layer (cross-correlation, strictly: the filter is not flipped, as in
# every deep-learning library) maps an input $x$ of shape $(N, C, H, W)$ (a batch of $N$
# images with $C$ channels) with a weight $w$ of shape $(O, C, k_h, k_w)$ ($O$ filters, each
# spanning all $C$ input channels) and a bias $b$ of shape $(O,)$ to an output $y$ of shape
# $(N, O, H_{out}, W_{out})$:
#
# $$y_{n,o,i,j} = b_o + \sum_{c=0}^{C-1}\sum_{a=0}^{k_h-1}\sum_{d=0}^{k_w-1} w_{o,c,a,d}\;\tilde x_{n,c,\,i s_h + a,\,j s_w + d}$$
#
# where $\tilde x$ is $x$ with $p_h$ rows of zeros added above and below and $p_w$ columns
# left and right (the **padding**), and $s_h, s_w$ is the **stride**, the step between
# neighbouring windows. The window must fit inside the padded image, so
#
# $$H_{out} = \Big\lfloor \frac{H + 2p_h - k_h}{s_h} \Big\rfloor + 1, \qquad
#   W_{out} = \Big\lfloor \frac{W + 2p_w - k_w}{s_w} \Big\rfloor + 1 .$$
#
# An 8×8 digit with a 3×3 kernel, padding 1 and stride 1 stays 8×8 ("same" padding); a 2×2
# pooling window with stride 2 halves it to 4×4. Like PyTorch, every `kernel_size`, `stride`
# and `padding` argument may be one int (used for both directions) or a pair
# `(height, width)`; `pair` below turns it into a pair and rejects anything else.

# %%
#| export
def pair(value: IntOrPair, name: str, minimum: int) -> tuple[int, int]:
    """``value`` as ``(height, width)``: an int is used for both; each at least ``minimum``.

    TypeError for anything but an int or a pair of ints, ValueError below ``minimum``.
    """
    def is_int(v: object) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    items = (value, value) if is_int(value) else value
    if not (isinstance(items, (tuple, list)) and len(items) == 2 and all(is_int(v) for v in items)):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {value!r}")
    if min(items) < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Positions of a window of ``kernel`` along ``size`` padded by ``padding`` on both sides:
    ``floor((size + 2 padding - kernel) / stride) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


# %% [markdown]
# The formula above, written directly as loops: one loop over the output positions, and at
# each a sum of products over the window, all images and all filters at once. It is the
# reference the tests compare with, and the baseline the analysis times. (A fully naive
# version would loop over images, filters, channels and kernel offsets too.)

# %% nbgrader={"grade": false, "grade_id": "given-conv2d-direct", "locked": true, "solution": false, "schema_version": 3}
def conv2d_direct(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                  stride: tuple[int, int], padding: tuple[int, int]) -> np.ndarray:
    """The convolution by its definition: a loop over output positions. (N, C, H, W) -> (N, O, OH, OW)."""
    (sh, sw), (ph, pw) = stride, padding
    out_channels, _, kh, kw = weight.shape
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = conv_output_size(x.shape[2], kh, sh, ph), conv_output_size(x.shape[3], kw, sw, pw)
    out = np.zeros((x.shape[0], out_channels, oh, ow), dtype=np.result_type(x, weight))
    for i in range(oh):
        for j in range(ow):
            window = padded[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]  # (N, C, kh, kw)
            out[:, :, i, j] = np.einsum("ncab,ocab->no", window, weight)
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


# %% [markdown]
# ## 2. im2col: every window as a column
#
# The sum over $(c, a, d)$ above is a dot product between the filter, flattened to a vector
# of $C k_h k_w$ numbers, and the window of the input under it, flattened the same way. So
# lay every window out as one **column** of a matrix, the *columns* matrix ("image to
# columns"):
#
# ```
#   x: (N, C, H, W) ──pad──► (N, C, H+2p, W+2p) ──windows──► (N, C, OH, OW, kh, kw)
#                                                               │ transpose
#                                                               ▼
#        cols: (C·kh·kw, N·OH·OW)  ◄──reshape (copies)──  (C, kh, kw, N, OH, OW)
#   column (n·OH + i)·OW + j  =  the window at output position (i, j) of image n, flattened (c, a, d)
# ```
#
# **Windows without copying.** NumPy's `np.lib.stride_tricks.sliding_window_view(x, (kh,
# kw), axis=(2, 3))` returns *every* $k_h \times k_w$ window at stride 1, shape
# $(N, C, H'-k_h+1, W'-k_w+1, k_h, k_w)$, as a **view**: no data is copied; the two new axes
# reuse the strides of the last two. Keeping every $s$-th window is a slice,
# `[:, :, ::sh, ::sw]`, still a view. Only the final `reshape` copies, because overlapping
# windows share pixels: that copy is the memory cost of im2col.
#
# **Why columns, not rows.** Laying each window out as a *row* (shape
# $(N \cdot OH \cdot OW,\ C k_h k_w)$) holds the same numbers, but the copy then moves them
# in runs of $k_w$ (3) contiguous values; as columns, the last axes are $(OH, OW)$, runs of a
# whole output row, and NumPy's copy loop pays its fixed cost per run. The analysis at the
# end times both layouts.
#
# **Padding** makes a new array of the padded size filled with `fill` (`np.full`) and
# copies `x` into its middle (`np.pad` does the same, more slowly): zeros for a convolution
# (`fill=0`), $-\infty$ for max pooling (section 5), so that padding never wins a max.
#
# The tests compare your functions with the loop versions below (read-only): they are slow
# but say plainly what each function must return. Two more helpers serve the tests:
# `explain_columns` says in words how columns differ from the loop version's (which axis
# comes where), and `python_lines(fn)` counts the Python lines that run while `fn()` runs,
# in every function it calls. A vectorized function runs the same lines whatever the size
# of its input; a loop over windows or pixels runs more lines for a larger input. The tests
# of `im2col` and `col2im` use it to check their rule: no Python loop over pixels or windows.

# %% nbgrader={"grade": false, "grade_id": "given-loop-references", "locked": true, "solution": false, "schema_version": 3}
import gc
import itertools
import sys
from collections.abc import Callable

from tinytorch.tensor import error_name, expect_error, observe, unseen_rng


def windows_by_loops(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                     padding: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """What ``im2col`` returns, one window at a time: columns (C*kh*kw, N*OH*OW)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x.shape
    padded = np.full((n, c, h + 2 * ph, w + 2 * pw), fill, dtype=x.dtype)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    windows = [
        padded[image, :, top:top + kh, left:left + kw].ravel()
        for image in range(n)
        for top in range(0, h + 2 * ph - kh + 1, sh)
        for left in range(0, w + 2 * pw - kw + 1, sw)
    ]
    return np.array(windows, dtype=x.dtype).reshape(-1, c * kh * kw).T


def scatter_by_loops(cols: np.ndarray, input_shape: tuple[int, int, int, int], kernel: tuple[int, int],
                     stride: tuple[int, int], padding: tuple[int, int]) -> np.ndarray:
    """What ``col2im`` returns, one window at a time: each column added onto its window, padding cut off."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = input_shape
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    column = 0
    for image in range(n):
        for top in range(0, h + 2 * ph - kh + 1, sh):
            for left in range(0, w + 2 * pw - kw + 1, sw):
                padded[image, :, top:top + kh, left:left + kw] += cols[:, column].reshape(c, kh, kw)
                column += 1
    return padded[:, :, ph:ph + h, pw:pw + w]


WINDOW_AXES = ("channel", "kernel row", "kernel column", "image", "output row", "output column")


def explain_columns(got: np.ndarray, x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                    padding: tuple[int, int], fill: float = 0.0) -> str:
    """How ``got`` differs from ``windows_by_loops(x, ...)``, in words ("" if it does not).

    Rows must run over (channel, kernel row, kernel column) and columns over (image, output
    row, output column). If ``got`` holds the same windows with the axes in another order,
    the sentence names the order it has.
    """
    expected = windows_by_loops(x, kernel, stride, padding, fill)
    if got.shape == expected.shape and np.array_equal(got, expected):
        return ""
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kernel[0], stride[0], padding[0]), conv_output_size(w, kernel[1], stride[1], padding[1])
    windows = expected.reshape(c, *kernel, n, oh, ow)  # axes as WINDOW_AXES
    for order in itertools.permutations(range(6)):
        moved = windows.transpose(order)
        for split in range(1, 6):
            rows = math.prod(moved.shape[:split])
            if (rows, moved.size // rows) == got.shape and np.array_equal(moved.reshape(got.shape), got):
                names = [WINDOW_AXES[axis] for axis in order]
                return (f"it holds the right windows in the wrong order: its rows run over ({', '.join(names[:split])}) "
                        f"and its columns over ({', '.join(names[split:])}); rows must run over "
                        "(channel, kernel row, kernel column) and columns over (image, output row, output column)")
    if got.shape != expected.shape:
        return (f"its shape is {got.shape}, expected {expected.shape} = (C*kh*kw, N*OH*OW) "
                "with OH = (H + 2*ph - kh) // sh + 1 and OW = (W + 2*pw - kw) // sw + 1")
    wrong = int(np.argwhere(~np.all(got == expected, axis=0))[0, 0])
    return (f"column {wrong} should be the window at (image, output row, output column) = "
            f"{tuple(int(i) for i in np.unravel_index(wrong, (n, oh, ow)))}, padded with {fill}, flattened (channel, kernel row, kernel column): "
            f"expected {expected[:, wrong].tolist()}, got {got[:, wrong].tolist()}")


def python_lines(fn: Callable[[], object]) -> int:
    """How many Python lines run while ``fn()`` runs, in every Python function it calls.

    ``fn`` runs once untraced first (so a first call's one-off work is not counted), then
    once under ``sys.settrace``; the previous trace function is restored afterwards.
    """
    fn()
    count = 0

    def count_lines(frame: object, event: str, arg: object) -> Callable[..., object]:
        nonlocal count
        if event == "line":
            count += 1
        return count_lines

    previous, collecting = sys.gettrace(), gc.isenabled()
    gc.collect()
    gc.disable()  # a collection during the traced call would count other objects' finalizers
    sys.settrace(lambda frame, event, arg: count_lines)
    try:
        fn()
    finally:
        sys.settrace(previous)
        if collecting:
            gc.enable()
    return count


# %% [markdown]
# ### Your task: `im2col`
# All arguments are already pairs (`kernel_size=(kh, kw)`, ...). Keep the input's dtype.
# **No Python loop** over images, pixels or windows: pad, take the windows view, slice by
# the stride, move the axes into the order (channel, kernel row, kernel column, image,
# output row, output column), reshape. The test checks that rule with `python_lines`: your
# function must run as many Python lines for 3 images of 9×12 as for 1 image of 4×5.

# %% nbgrader={"grade": false, "grade_id": "impl-im2col", "locked": false, "solution": true, "schema_version": 3}
#| export
def im2col(x: np.ndarray, kernel_size: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """Every window of ``x`` (N, C, H, W) as one column: shape ``(C*kh*kw, N*OH*OW)``, ``x``'s dtype.

    ``x`` is first padded with ``fill`` by ``padding = (ph, pw)`` on each side. Column
    ``(n*OH + i)*OW + j`` is ``padded[n, :, i*sh:i*sh+kh, j*sw:j*sw+kw].ravel()`` (channel,
    then kernel row, then kernel column). No Python loop.
    Hint: pad with ``np.full`` of the padded shape and assign ``x`` into its middle.
    ``np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(2, 3))`` is every window
    at stride 1; slicing its two position axes by the stride leaves (N, C, OH, OW, kh, kw).
    One ``transpose`` brings the axes into the order (C, kh, kw, N, OH, OW); one ``reshape``
    makes that two-dimensional.
    If you are stuck: the axis order is ``.transpose(1, 4, 5, 0, 2, 3)``.
    """
    ### BEGIN SOLUTION
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    n, c, h, w = x.shape
    padded = np.full((n, c, h + 2 * ph, w + 2 * pw), fill, dtype=x.dtype)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    oh, ow = windows.shape[2:4]
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * oh * ow)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-im2col", "locked": true, "points": 3, "solution": false, "schema_version": 3}
x_val = np.arange(2 * 3 * 4 * 6, dtype=np.float32).reshape(2, 3, 4, 6)  # N=2, C=3, H=4, W=6: no two sizes alike
cols = im2col(x_val, (2, 3), (1, 1), (0, 0))
problem = explain_columns(np.asarray(cols), x_val, (2, 3), (1, 1), (0, 0))
assert not problem, f"im2col(x of shape (2, 3, 4, 6), kernel (2, 3), stride 1, no padding): {problem}"
assert cols.dtype == np.float32, f"im2col should keep float32, got {cols.dtype}"
assert im2col(x_val.astype(np.float64), (2, 2), (1, 1), (0, 0)).dtype == np.float64, "im2col should keep the input's dtype (float64 here)"
for kernel, stride, padding in (((3, 3), (1, 1), (1, 1)), ((2, 3), (2, 1), (0, 1)), ((3, 2), (1, 3), (1, 0))):
    problem = explain_columns(np.asarray(im2col(x_val, kernel, stride, padding)), x_val, kernel, stride, padding)
    assert not problem, f"im2col(kernel={kernel}, stride={stride}, padding={padding}): {problem}"
problem = explain_columns(np.asarray(im2col(x_val, (2, 2), (2, 2), (1, 1), fill=-np.inf)), x_val, (2, 2), (2, 2), (1, 1), -np.inf)
assert not problem, f"im2col(kernel=(2, 2), stride=(2, 2), padding=(1, 1), fill=-inf) pads with fill, not zeros: {problem}"
small_x, large_x = np.zeros((1, 2, 4, 5), np.float32), np.zeros((3, 2, 9, 12), np.float32)
small = python_lines(lambda: im2col(small_x, (2, 3), (1, 2), (1, 0)))
large = python_lines(lambda: im2col(large_x, (2, 3), (1, 2), (1, 0)))
assert small == large, (
    f"im2col must not use a Python loop over images, pixels or windows: it ran {small} Python lines for 1 image of 4x5 "
    f"and {large} for 3 images of 9x12. Let sliding_window_view cut the windows, and transpose and reshape them."
)

# Graded: the same calls on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-im2col")
for case in range(4):
    n, c, h, w = (int(v) for v in (*rng.integers(1, 4, size=2), *rng.integers(3, 8, size=2)))
    kernel, stride = tuple(int(v) for v in rng.integers(1, 4, size=2)), tuple(int(v) for v in rng.integers(1, 4, size=2))
    padding = tuple(int(v) for v in rng.integers(0, 2, size=2))
    observe(f"im2col(x, kernel, stride, padding) of float32 x, case {case}",
            im2col(rng.standard_normal((n, c, h, w)).astype(np.float32), kernel, stride, padding))
x_unseen = rng.standard_normal((2, 3, int(rng.integers(4, 8)), int(rng.integers(4, 8))))
observe("im2col(float64 x, (2, 3), (2, 1), (1, 1), fill=-inf)", im2col(x_unseen, (2, 3), (2, 1), (1, 1), fill=-np.inf))
small_x = np.zeros((1, 2) + tuple(int(v) for v in rng.integers(4, 6, size=2)), np.float32)
large_x = np.zeros((int(rng.integers(2, 4)), 2) + tuple(int(v) for v in rng.integers(8, 12, size=2)), np.float32)
observe("im2col runs more Python lines for a larger input (a Python loop)",
        bool(python_lines(lambda: im2col(small_x, (2, 3), (1, 2), (1, 0))) < python_lines(lambda: im2col(large_x, (2, 3), (1, 2), (1, 0)))))


# %% [markdown]
# ## 3. The convolution as one matrix product
#
# With the windows as columns, the triple sum is a matrix product. Flatten the weight to
# $W$ of shape $(O,\ C k_h k_w)$, one filter per row, in the same (channel, row, column)
# order as a window:
#
# $$Y = W\,\text{cols} + b \quad (O,\ N \cdot OH \cdot OW), \qquad Y_{o,m} = b_o + \sum_k W_{o,k}\,\text{cols}_{k,m},$$
#
# the bias added to every column. It is Module 04's `Linear` applied to every window at
# once, transposed. Column $(n \cdot OH + i) \cdot OW + j$ of $Y$ holds the $O$ outputs at
# position $(i, j)$ of image $n$, so $Y$ reshaped is $(O, N, OH, OW)$; PyTorch's layout
# puts the batch first, $(N, O, OH, OW)$: one `transpose(1, 0, 2, 3)`, a view.
#
# ### Your task: `conv2d_from_columns`

# %% nbgrader={"grade": false, "grade_id": "impl-conv2d-from-columns", "locked": false, "solution": true, "schema_version": 3}
#| export
def conv2d_from_columns(cols: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                        out_size: tuple[int, int, int]) -> np.ndarray:
    """The convolution's output ``(N, O, OH, OW)`` from the input's ``cols`` (C*kh*kw, N*OH*OW).

    ``weight`` (O, C, kh, kw), ``bias`` (O,) or None, ``out_size = (N, OH, OW)``. The flattened
    filters times every column, plus the bias: ``W @ cols + b[:, None]`` with
    ``W = weight.reshape(O, -1)``, then the batch axis moved first. Keeps the dtype.
    Hint: the product is (O, N*OH*OW) and its columns run over (image, output row, output
    column), so it reshapes to (O, N, OH, OW); then swap its first two axes.
    If you are stuck: ``.reshape(O, N, OH, OW).transpose(1, 0, 2, 3)``.
    """
    ### BEGIN SOLUTION
    out_channels = weight.shape[0]
    out = weight.reshape(out_channels, -1) @ cols
    if bias is not None:
        out = out + bias[:, None]
    n, oh, ow = out_size
    return out.reshape(out_channels, n, oh, ow).transpose(1, 0, 2, 3)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-conv2d-from-columns", "locked": true, "points": 2, "solution": false, "schema_version": 3}
rng = np.random.default_rng(1)
x_val = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)  # N=2, C=3, 5x6 images
w_val, b_val = rng.standard_normal((4, 3, 3, 2)).astype(np.float32), rng.standard_normal(4).astype(np.float32)  # O=4, 3x2 kernel
out = conv2d_from_columns(windows_by_loops(x_val, (3, 2), (1, 1), (0, 0)), w_val, b_val, (2, 3, 5))
expected = conv2d_direct(x_val, w_val, b_val, (1, 1), (0, 0))
assert out.shape == (2, 4, 3, 5), (
    f"conv2d_from_columns: 2 images, 4 filters, 3x5 positions give (N, O, OH, OW) = (2, 4, 3, 5), got {out.shape}; "
    "the product reshapes to (O, N, OH, OW): move the batch axis first"
)
same_numbers = np.allclose(np.sort(out, axis=None), np.sort(expected, axis=None), atol=1e-5)
assert np.allclose(out, expected, atol=1e-5), "conv2d_from_columns: " + (
    "the right numbers in the wrong places: the product's columns run over (image, output row, output column), "
    "so reshape it to (O, N, OH, OW) and then move the batch axis first" if same_numbers else
    "values differ from the direct convolution: W = weight.reshape(O, -1) (one filter per row) times cols, plus bias[o] on row o"
)
assert out.dtype == np.float32, f"conv2d_from_columns should keep float32, got {out.dtype}"
no_bias = conv2d_from_columns(windows_by_loops(x_val, (3, 2), (1, 1), (0, 0)), w_val, None, (2, 3, 5))
assert np.allclose(no_bias, conv2d_direct(x_val, w_val, None, (1, 1), (0, 0)), atol=1e-5), "conv2d_from_columns: bias=None means no bias"
w23 = rng.standard_normal((4, 3, 2, 3)).astype(np.float32)
out = conv2d_from_columns(windows_by_loops(x_val, (2, 3), (2, 1), (1, 0)), w23, b_val, (2, 3, 4))
assert np.allclose(out, conv2d_direct(x_val, w23, b_val, (2, 1), (1, 0)), atol=1e-5), (
    "conv2d_from_columns: a 2x3 kernel with stride (2, 1) and padding (1, 0): values differ from the direct convolution"
)

# Graded: the same calls on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-conv2d-from-columns")
n, c, o, kh, kw = (int(v) for v in rng.integers(1, 4, size=5))
oh, ow = (int(v) for v in rng.integers(1, 6, size=2))
cols_unseen = rng.standard_normal((c * kh * kw, n * oh * ow)).astype(np.float32)
w_unseen, b_unseen = rng.standard_normal((o, c, kh, kw)).astype(np.float32), rng.standard_normal(o).astype(np.float32)
observe("conv2d_from_columns(cols, weight, bias, (N, OH, OW)), float32",
        conv2d_from_columns(cols_unseen, w_unseen, b_unseen, (n, oh, ow)), rtol=1e-4, atol=1e-5)
observe("conv2d_from_columns(cols, weight, None, (N, OH, OW)), float64",
        conv2d_from_columns(cols_unseen.astype(np.float64), w_unseen.astype(np.float64), None, (n, oh, ow)))


# %% [markdown]
# ## 4. The backward pass
#
# Let $G$ be the output gradient $\bar y$ laid out like $Y$: shape
# $(O,\ N \cdot OH \cdot OW)$ (the inverse of the forward's layout step: the filter axis
# first, then flattened, so that its columns follow the columns of `cols`). Since
# $Y = W\,\text{cols} + b$ is linear,
# the gradients are Module 04's, with the columns as the input:
#
# $$\overline{W} = G\,\text{cols}^\top \ \ (O,\ C k_h k_w), \qquad
#   \bar b = \textstyle\sum_{m} G_{:,m} \ \ (O,), \qquad
#   \overline{\text{cols}} = W^\top G \ \ (C k_h k_w,\ N \cdot OH \cdot OW).$$
#
# $\overline{W}$ sums the contribution of every window of every image: one matrix product.
# Reshaped to $(O, C, k_h, k_w)$, it is the weight's gradient.
#
# **Skip what nobody needs.** The first layer's input is the images, which do not require
# grad, so $W^\top G$ is wasted work there; and a frozen weight needs no columns at all. So
# the formula (given, below) passes `input_grad=False` when the input does not require
# grad, and `cols=None` when the weight does not. Return `None` for those gradients.
#
# ### Your task: `conv2d_backward_columns`

# %% nbgrader={"grade": false, "grade_id": "impl-conv2d-backward-columns", "locked": false, "solution": true, "schema_version": 3}
#| export
def conv2d_backward_columns(grad: np.ndarray, cols: np.ndarray | None, weight: np.ndarray,
                            input_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """``(grad_cols, grad_weight, grad_bias)`` of ``conv2d_from_columns(cols, weight, bias, ...)``.

    ``grad`` (N, O, OH, OW); ``G`` is ``grad`` laid out like the product, (O, N*OH*OW).
    ``grad_cols = W.T @ G`` (C*kh*kw, N*OH*OW), or None if ``input_grad`` is False;
    ``grad_weight = G @ cols.T`` reshaped to ``weight.shape``, or None if ``cols`` is None;
    ``grad_bias`` = ``G`` summed over its columns, (O,). ``W = weight.reshape(O, -1)``.
    Hint: ``G`` is ``grad`` with the filter axis moved first, (O, N, OH, OW), flattened to
    (O, N*OH*OW), so that its columns run over (image, output row, output column) like those of cols.
    If you are stuck: ``grad.transpose(1, 0, 2, 3).reshape(O, -1)`` gives ``G``.
    """
    ### BEGIN SOLUTION
    out_channels = weight.shape[0]
    g = grad.transpose(1, 0, 2, 3).reshape(out_channels, -1)
    grad_cols = weight.reshape(out_channels, -1).T @ g if input_grad else None
    grad_weight = (g @ cols.T).reshape(weight.shape) if cols is not None else None
    return grad_cols, grad_weight, g.sum(axis=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-conv2d-backward-columns", "locked": true, "points": 3, "solution": false, "schema_version": 3}
rng = np.random.default_rng(2)
g_val = rng.standard_normal((2, 4, 3, 5))  # N=2, O=4, OH=3, OW=5
cols_val = rng.standard_normal((3 * 2 * 2, 2 * 3 * 5))  # C=3, kh=kw=2
w_val = rng.standard_normal((4, 3, 2, 2))
grad_cols, grad_w, grad_b = conv2d_backward_columns(g_val, cols_val, w_val)
per_position = cols_val.reshape(12, 2, 3, 5)
assert grad_w is not None and grad_w.shape == (4, 3, 2, 2), "conv2d_backward_columns: grad_weight has the weight's shape (4, 3, 2, 2)"
assert np.allclose(grad_w.reshape(4, 12), np.einsum("nohw,knhw->ok", g_val, per_position)), (
    "conv2d_backward_columns: grad_weight[o] sums grad[n, o, i, j] * (column of cols at (n, i, j)) over every position; "
    "G must be grad with the filter axis first, (O, N*OH*OW), its columns in the order of cols' (image, output row, output column)"
)
assert grad_cols is not None and grad_cols.shape == (12, 30), "conv2d_backward_columns: grad_cols has the shape of cols (12, 30)"
assert np.allclose(grad_cols.reshape(12, 2, 3, 5), np.einsum("nohw,ok->knhw", g_val, w_val.reshape(4, 12))), (
    "conv2d_backward_columns: grad_cols at (n, i, j) is the sum over o of grad[n, o, i, j] * filter o (flattened): W.T @ G"
)
assert grad_b.shape == (4,) and np.allclose(grad_b, g_val.sum(axis=(0, 2, 3))), (
    "conv2d_backward_columns: grad_bias has one value per filter, (4,): grad summed over N, OH and OW"
)
grad_cols, grad_w, grad_b = conv2d_backward_columns(g_val, cols_val, w_val, input_grad=False)
assert grad_cols is None and grad_w is not None, "conv2d_backward_columns: input_grad=False gives grad_cols None (skip W.T @ G)"
grad_cols, grad_w, grad_b = conv2d_backward_columns(g_val, None, w_val)
assert grad_w is None and grad_cols is not None, "conv2d_backward_columns: cols=None (a frozen weight) gives grad_weight None"

# Graded: the same calls on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-conv2d-backward-columns")
n, o, c, kh, kw = (int(v) for v in rng.integers(1, 4, size=5))
oh, ow = (int(v) for v in rng.integers(1, 6, size=2))
g_unseen, cols_unseen = rng.standard_normal((n, o, oh, ow)), rng.standard_normal((c * kh * kw, n * oh * ow))
w_unseen = rng.standard_normal((o, c, kh, kw))
for label, dtype in (("float64", np.float64), ("float32", np.float32)):
    grad_cols, grad_w, grad_b = conv2d_backward_columns(g_unseen.astype(dtype), cols_unseen.astype(dtype), w_unseen.astype(dtype))
    observe(f"conv2d_backward_columns: grad_cols, {label}", grad_cols, rtol=1e-4, atol=1e-5)
    observe(f"conv2d_backward_columns: grad_weight, {label}", grad_w, rtol=1e-4, atol=1e-5)
    observe(f"conv2d_backward_columns: grad_bias, {label}", grad_b, rtol=1e-4, atol=1e-5)
grad_cols, grad_w, _ = conv2d_backward_columns(g_unseen, cols_unseen, w_unseen, input_grad=False)
observe("conv2d_backward_columns(input_grad=False): grad_cols is None", grad_cols is None)
observe("conv2d_backward_columns(input_grad=False): grad_weight", grad_w, rtol=1e-4, atol=1e-5)
grad_cols, grad_w, grad_b = conv2d_backward_columns(g_unseen, None, w_unseen)
observe("conv2d_backward_columns(cols=None): grad_weight is None", grad_w is None)
observe("conv2d_backward_columns(cols=None): grad_cols", grad_cols, rtol=1e-4, atol=1e-5)


# %% [markdown]
# ### col2im: the adjoint of im2col
#
# The columns' gradient has one column per window; the input's gradient has one value per
# pixel. Every pixel was copied into each window that covers it, so its gradient is the
# **sum** over those copies: add every column back onto the window it was cut from.
# `col2im(cols, ...)` is the *adjoint* of `im2col`: for any $x$ and any matrix $R$ of the
# columns' shape, $\langle \text{im2col}(x), R\rangle = \langle x, \text{col2im}(R)\rangle$
# (with zero fill).
#
# Looping over columns (windows) means one Python step per output pixel. Loop over the
# **kernel offsets** $(a, d)$ instead, $k_h k_w$ steps (9 for a 3×3 kernel) whatever the
# image size. For offset $(a, d)$, the entry $(a, d)$ of the window at output position
# $(i, j)$ lands on padded pixel $(i s_h + a,\ j s_w + d)$; over all $(i, j)$ those pixels
# form a strided slice, so one vectorized `+=` adds them all:
#
# ```
#   patches = cols as (C, kh, kw, N, OH, OW)
#   for a in range(kh):
#       for d in range(kw):
#           padded[:, :, a : a + sh*OH : sh, d : d + sw*OW : sw] += patches[:, a, d] with N and C swapped
# ```
#
# Within one offset the slice never hits a pixel twice, so `+=` is exact (no `np.add.at`).
# Finally cut the padding off: a gradient that lands in the padding belongs to no pixel.
#
# ### Your task: `col2im`

# %% nbgrader={"grade": false, "grade_id": "impl-col2im", "locked": false, "solution": true, "schema_version": 3}
#| export
def col2im(cols: np.ndarray, input_shape: tuple[int, int, int, int], kernel_size: tuple[int, int],
           stride: tuple[int, int], padding: tuple[int, int]) -> np.ndarray:
    """Add every column of ``cols`` (C*kh*kw, N*OH*OW) back onto its window: shape ``input_shape`` (N, C, H, W).

    A pixel covered by several windows gets the sum of their values; what lands in the
    padding is dropped. The result has ``cols``' dtype. Loop over the kh*kw kernel offsets,
    never over pixels.
    Hint: view ``cols`` as (C, kh, kw, N, OH, OW) and start from zeros of the padded shape
    (N, C, H+2ph, W+2pw); for each offset (a, d), the (C, N, OH, OW) slab of that offset, with
    its first two axes swapped, is added onto a strided slice of the padded array (see above);
    then cut the padding off. ``conv_output_size`` gives OH and OW.
    If you are stuck: the slab is ``patches[:, a, d].transpose(1, 0, 2, 3)``.
    """
    ### BEGIN SOLUTION
    n, c, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    patches = cols.reshape(c, kh, kw, n, oh, ow)
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for a in range(kh):
        for d in range(kw):
            padded[:, :, a:a + sh * oh:sh, d:d + sw * ow:sw] += patches[:, a, d].transpose(1, 0, 2, 3)
    return padded[:, :, ph:ph + h, pw:pw + w]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-col2im", "locked": true, "points": 3, "solution": false, "schema_version": 3}
rng = np.random.default_rng(3)
back = col2im(rng.standard_normal((3 * 2 * 3, 2 * 5 * 3)), (2, 3, 4, 5), (2, 3), (1, 1), (1, 0))  # OH = 5, OW = 3
assert np.shape(back) == (2, 3, 4, 5), (
    f"col2im(input_shape=(2, 3, 4, 5), kernel (2, 3), stride 1, padding (1, 0)) must return an array of input_shape "
    f"(2, 3, 4, 5), got {np.shape(back)}" + ("; cut the padding off: ph rows above and below, pw columns left and right"
                                             if np.shape(back) == (2, 3, 6, 5) else "")
)
ones_back = col2im(np.ones((4, 9), dtype=np.float32), (1, 1, 4, 4), (2, 2), (1, 1), (0, 0))
coverage = np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]], dtype=np.float32)
assert ones_back.shape == (1, 1, 4, 4), f"col2im: the result has input_shape (1, 1, 4, 4), got {ones_back.shape}"
assert np.array_equal(ones_back[0, 0], coverage), (
    f"col2im of all-ones columns counts the 2x2 windows covering each pixel (add with +=, never overwrite): "
    f"expected {coverage.tolist()}, got {ones_back[0, 0].tolist()}"
)
assert ones_back.dtype == np.float32, f"col2im should keep the dtype of cols (float32), got {ones_back.dtype}"
for shape, kernel, stride, padding in (((2, 3, 5, 5), (3, 3), (1, 1), (1, 1)), ((2, 2, 6, 5), (2, 3), (2, 1), (1, 0)),
                                       ((1, 2, 7, 6), (3, 2), (3, 2), (0, 1))):
    oh, ow = conv_output_size(shape[2], kernel[0], stride[0], padding[0]), conv_output_size(shape[3], kernel[1], stride[1], padding[1])
    cols_val = rng.standard_normal((shape[1] * kernel[0] * kernel[1], shape[0] * oh * ow))
    got = col2im(cols_val, shape, kernel, stride, padding)
    assert got.shape == shape, f"col2im(input_shape={shape}, kernel={kernel}, stride={stride}, padding={padding}) returned shape {got.shape}"
    assert np.allclose(got, scatter_by_loops(cols_val, shape, kernel, stride, padding)), (
        f"col2im(input_shape={shape}, kernel={kernel}, stride={stride}, padding={padding}) differs from scatter_by_loops: "
        "row (c, a, d) of column (n, i, j) is added onto pixel (i*sh + a - ph, j*sw + d - pw) of channel c of image n"
    )
    x_val = rng.standard_normal(shape)
    assert np.isclose(np.sum(windows_by_loops(x_val, kernel, stride, padding) * cols_val), np.sum(x_val * got)), (
        "col2im must be the adjoint of im2col: <im2col(x), cols> == <x, col2im(cols)>"
    )
small_cols = np.zeros((2 * 2 * 3, 1 * conv_output_size(4, 2, 1, 1) * conv_output_size(5, 3, 2, 0)))
large_cols = np.zeros((2 * 2 * 3, 3 * conv_output_size(9, 2, 1, 1) * conv_output_size(12, 3, 2, 0)))
small = python_lines(lambda: col2im(small_cols, (1, 2, 4, 5), (2, 3), (1, 2), (1, 0)))
large = python_lines(lambda: col2im(large_cols, (3, 2, 9, 12), (2, 3), (1, 2), (1, 0)))
assert small == large, (
    f"col2im must loop over the kh*kw kernel offsets only, never over images, pixels or windows: it ran {small} Python "
    f"lines for 1 image of 4x5 and {large} for 3 images of 9x12 (same 2x3 kernel)"
)

# Graded: the same calls on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-col2im")
for case in range(4):
    n, c, h, w = (int(v) for v in (*rng.integers(1, 4, size=2), *rng.integers(3, 8, size=2)))
    kernel, stride = tuple(int(v) for v in rng.integers(1, 4, size=2)), tuple(int(v) for v in rng.integers(1, 4, size=2))
    padding = tuple(int(v) for v in rng.integers(0, 2, size=2))
    m = n * conv_output_size(h, kernel[0], stride[0], padding[0]) * conv_output_size(w, kernel[1], stride[1], padding[1])
    cols_unseen = rng.standard_normal((c * kernel[0] * kernel[1], m))
    observe(f"col2im(cols, input_shape, kernel, stride, padding) of float64 cols, case {case}",
            col2im(cols_unseen, (n, c, h, w), kernel, stride, padding))
    observe(f"col2im(ones, ...) of float32 cols, case {case}",
            col2im(np.ones_like(cols_unseen, dtype=np.float32), (n, c, h, w), kernel, stride, padding))
small_shape = (1, 2) + tuple(int(v) for v in rng.integers(4, 6, size=2))
large_shape = (int(rng.integers(2, 4)), 2) + tuple(int(v) for v in rng.integers(8, 12, size=2))
small_cols, large_cols = (
    np.zeros((2 * 2 * 3, shape[0] * conv_output_size(shape[2], 2, 1, 1) * conv_output_size(shape[3], 3, 2, 0)))
    for shape in (small_shape, large_shape)
)
observe("col2im runs more Python lines for a larger input (a loop over pixels or windows)",
        bool(python_lines(lambda: col2im(small_cols, small_shape, (2, 3), (1, 2), (1, 0)))
             < python_lines(lambda: col2im(large_cols, large_shape, (2, 3), (1, 2), (1, 0)))))


# %% [markdown]
# ### The op, given
#
# The kernel and the formula of the `conv2d` op put your functions together (as Module 05's
# `nll_loss` kernel does with its parts). The columns are recomputed in the backward pass
# rather than kept from the forward pass: keeping them would hold $k_h k_w$ copies of every
# input between the two passes, for the whole network (the analysis measures that size).
# Like `linear`, the op has two inputs without a bias and three with one.

# %%
#| export
@register_kernel("conv2d")
def conv2d_kernel(input: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                  stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(N, C, H, W) convolved with ``weight`` (O, C, kh, kw), plus ``bias`` (O,): (N, O, OH, OW)."""
    n, _, h, w = input.shape
    kernel = weight.shape[2:]
    out_size = (n, conv_output_size(h, kernel[0], stride[0], padding[0]), conv_output_size(w, kernel[1], stride[1], padding[1]))
    return conv2d_from_columns(im2col(input, kernel, stride, padding), weight, bias, out_size)


@register_gradient("conv2d")
def conv2d_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray | None, ...]:
    """d conv2d: input's gradient ``col2im(W.T @ G)``, weight's ``G @ im2col(input).T``, bias's ``sum(G)``;
    None for an input that does not require grad."""
    input, weight = node.inputs[0], node.inputs[1]
    kernel, stride, padding = weight.shape[2:], node.attrs["stride"], node.attrs["padding"]
    cols = im2col(input.data, kernel, stride, padding) if weight.requires_grad else None
    grad_cols, grad_weight, grad_bias = conv2d_backward_columns(grad, cols, weight.data, input.requires_grad)
    grad_input = None if grad_cols is None else col2im(grad_cols, input.shape, kernel, stride, padding)
    if len(node.inputs) == 2:
        return grad_input, grad_weight
    return grad_input, grad_weight, grad_bias if node.inputs[2].requires_grad else None


# %% [markdown]
# ## 5. Pooling
#
# Pooling has no weights. It summarizes each $k_h \times k_w$ window of each channel by one
# number: its maximum (**max pooling**) or its mean (**average pooling**). By default the
# stride equals the kernel size, so windows tile the image without overlap, and a 2×2 pool
# halves height and width. Both reuse `im2col`: its columns, reshaped to
# $(C, K, N \cdot OH \cdot OW)$ with $K = k_h k_w$, hold the $K$ values of each channel's
# window along axis 1; reduce over it, then reshape to $(C, N, OH, OW)$ and put the batch
# first.
#
# **Padding.** Max pooling pads with $-\infty$, so the padding is never the maximum.
# Average pooling pads with zeros and divides by $K$ whatever the window covers
# (PyTorch's default `count_include_pad=True`): a corner window with padding 1 averages in
# its zeros. As in PyTorch, padding may be at most half the kernel size, so every window
# holds at least one real pixel.
#
# **Backward.** The average's gradient is $\bar y / K$ for every element of the window:
# columns of $\bar y / K$, added back with your `col2im` (overlapping windows add up). The
# maximum depends on one element only, its window's largest, so
#
# $$\frac{\partial y}{\partial x_k} = \begin{cases} 1 & k = \arg\max_j x_j \\ 0 & \text{otherwise} \end{cases}$$
#
# and the gradient is routed there; every other element gets 0. **Ties.** If several
# elements share the maximum, the first one (in row order within the window) gets all of
# the gradient; this is what `np.argmax` returns, and what PyTorch's CPU kernel does. (Sharing
# it equally, as Module 02's `max` does, would also be a valid subgradient; picking one
# keeps max pooling's gradient a routing, like the forward pass.)
#
# ### Your task: `route_to_max`
# The routing inside the windows, on arrays laid out as `(C, K, M)`: `C` channels, `K` values
# per window, `M` window positions. The given formula brings the windows into that layout
# and sends the result through `col2im`.

# %% nbgrader={"grade": false, "grade_id": "impl-route-to-max", "locked": false, "solution": true, "schema_version": 3}
#| export
def route_to_max(windows: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Max pooling's backward inside each window: shape (C, K, M), ``grad``'s dtype.

    ``windows`` (C, K, M): ``windows[c, :, m]`` are the K values of a window; ``grad`` (C, M)
    the gradient of each window's maximum. Entry ``[c, k, m]`` of the result is ``grad[c, m]``
    if ``k`` is the position of the largest value of ``windows[c, :, m]``, else 0. Ties: only
    the first (lowest ``k``) of the tied maxima gets the gradient. No Python loop.
    Hint: an argmax along the K axis gives each window's first maximum, (C, M); comparing it
    with every position 0..K-1, by broadcasting, gives a one-hot (C, K, M) mask; multiply the
    mask by the gradient, broadcast along K.
    If you are stuck: ``np.argmax(windows, axis=1)``, ``np.arange(K)[:, None]`` and ``grad[:, None, :]``.
    """
    ### BEGIN SOLUTION
    first = np.argmax(windows, axis=1)
    one_hot = first[:, None, :] == np.arange(windows.shape[1])[:, None]
    return one_hot * grad[:, None, :]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test-route-to-max", "locked": true, "points": 2, "solution": false, "schema_version": 3}
windows_val = np.array([[1.0, 7.0, 2.0, 0.0], [5.0, 2.0, 5.0, 5.0]], dtype=np.float32).T.reshape(1, 4, 2)  # C=1, K=4, M=2
routed = route_to_max(windows_val, np.array([[10.0, -1.0]], dtype=np.float32))
assert routed.shape == (1, 4, 2), f"route_to_max: the result has the windows' shape (1, 4, 2), got {routed.shape}"
assert np.array_equal(routed[0, :, 0], [0.0, 10.0, 0.0, 0.0]), f"route_to_max: the gradient 10 goes to the maximum 7 (position 1), got {routed[0, :, 0]}"
assert np.array_equal(routed[0, :, 1], [-1.0, 0.0, 0.0, 0.0]), (
    f"route_to_max: three elements tie at 5; only the first (position 0) gets the gradient -1, got {routed[0, :, 1]}"
)
assert routed.dtype == np.float32, f"route_to_max should keep grad's dtype (float32), got {routed.dtype}"
rng = np.random.default_rng(4)
windows_val, g_val = rng.standard_normal((3, 9, 6)), rng.standard_normal((3, 6))
routed = route_to_max(windows_val, g_val)
for c in range(3):
    for m in range(6):
        expected = np.zeros(9)
        expected[list(windows_val[c, :, m]).index(max(windows_val[c, :, m]))] = g_val[c, m]
        assert np.array_equal(routed[c, :, m], expected), (
            f"route_to_max: window [{c}, :, {m}] should get its gradient at its maximum only (the max over axis 1, K)"
        )

# Graded: the same calls on inputs drawn for each graded run, compared with the reference.
rng = unseen_rng("test-route-to-max")
c, k, m = int(rng.integers(1, 4)), int(rng.integers(2, 10)), int(rng.integers(1, 8))
observe("route_to_max(windows, grad), float64", route_to_max(rng.standard_normal((c, k, m)), rng.standard_normal((c, m))))
ties = rng.integers(0, 3, size=(c, k, m)).astype(np.float32)  # small integers: many windows have tied maxima
observe("route_to_max(windows with ties, grad), float32", route_to_max(ties, rng.standard_normal((c, m)).astype(np.float32)))


# %% [markdown]
# The pooling ops, given: a kernel and a formula each, over `im2col`, your routing and
# `col2im`. `pool_windows` gives the $(C, K, N \cdot OH \cdot OW)$ view of the columns, and
# `batch_first` turns a $(C, N \cdot OH \cdot OW)$ result into $(N, C, OH, OW)$.

# %%
#| export
def pool_windows(input: np.ndarray, kernel_size: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int], fill: float) -> np.ndarray:
    """The windows of ``input`` (N, C, H, W) as (C, kh*kw, N*OH*OW), padded with ``fill``."""
    channels = input.shape[1]
    return im2col(input, kernel_size, stride, padding, fill).reshape(channels, kernel_size[0] * kernel_size[1], -1)


def batch_first(per_channel: np.ndarray, input_shape: tuple[int, ...], kernel_size: tuple[int, int],
                stride: tuple[int, int], padding: tuple[int, int]) -> np.ndarray:
    """A pooled (C, N*OH*OW) array as (N, C, OH, OW)."""
    n, c, h, w = input_shape
    oh = conv_output_size(h, kernel_size[0], stride[0], padding[0])
    ow = conv_output_size(w, kernel_size[1], stride[1], padding[1])
    return per_channel.reshape(c, n, oh, ow).transpose(1, 0, 2, 3)


@register_kernel("max_pool2d")
def max_pool2d_kernel(input: np.ndarray, kernel_size: tuple[int, int], stride: tuple[int, int],
                      padding: tuple[int, int]) -> np.ndarray:
    """The maximum of each window (padding is -inf): (N, C, OH, OW)."""
    windows = pool_windows(input, kernel_size, stride, padding, -np.inf)
    return batch_first(windows.max(axis=1), input.shape, kernel_size, stride, padding)


@register_gradient("max_pool2d")
def max_pool2d_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d max_pool2d: each window's gradient goes to its first maximum (``route_to_max``), added back by ``col2im``."""
    input, kernel, stride, padding = node.inputs[0], node.attrs["kernel_size"], node.attrs["stride"], node.attrs["padding"]
    windows = pool_windows(input.data, kernel, stride, padding, -np.inf)
    channels, size = windows.shape[:2]
    routed = route_to_max(windows, grad.transpose(1, 0, 2, 3).reshape(channels, -1))
    return (col2im(routed.reshape(channels * size, -1), input.shape, kernel, stride, padding),)


@register_kernel("avg_pool2d")
def avg_pool2d_kernel(input: np.ndarray, kernel_size: tuple[int, int], stride: tuple[int, int],
                      padding: tuple[int, int]) -> np.ndarray:
    """The mean of each window, zero padding included in the count: (N, C, OH, OW)."""
    windows = pool_windows(input, kernel_size, stride, padding, 0.0)
    return batch_first(windows.mean(axis=1), input.shape, kernel_size, stride, padding)


@register_gradient("avg_pool2d")
def avg_pool2d_backward(grad: np.ndarray, node: Node) -> tuple[np.ndarray]:
    """d avg_pool2d: ``grad / K`` to every element of each window (K = kh*kw), added back by ``col2im``."""
    input, kernel, stride, padding = node.inputs[0], node.attrs["kernel_size"], node.attrs["stride"], node.attrs["padding"]
    size, channels = kernel[0] * kernel[1], input.shape[1]
    per_window = grad.transpose(1, 0, 2, 3).reshape(channels, 1, -1) / size  # (C, 1, M)
    cols = np.broadcast_to(per_window, (channels, size, per_window.shape[2])).reshape(channels * size, -1)
    return (col2im(cols, input.shape, kernel, stride, padding),)


# %% [markdown]
# ## 6. The functions and the layers
#
# The public API is PyTorch's, argument order and defaults included:
#
# | function / layer | notes |
# |---|---|
# | `conv2d(input, weight, bias=None, stride=1, padding=0)` | weight `(O, C, kh, kw)`, bias `(O,)` |
# | `max_pool2d(input, kernel_size, stride=None, padding=0)` | `stride=None` means the kernel size |
# | `avg_pool2d(input, kernel_size, stride=None, padding=0)` | zero padding counted (`count_include_pad=True`) |
# | `Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True)` | |
# | `MaxPool2d(kernel_size, stride=None, padding=0)`, `AvgPool2d(...)` | same arguments as the functions |
# | `Flatten(start_dim=1, end_dim=-1)` | `(N, C, H, W) -> (N, C·H·W)` before a `Linear` |
#
# Sizes are an int or a pair. The input is a batch `(N, C, H, W)` or, as in PyTorch, a
# single image `(C, H, W)` (given a batch dimension of 1 on the way in, and without it on
# the way out). Not supported: dilation, groups, `ceil_mode`, string paddings such as
# `"same"` (so `MaxPool2d`'s repr leaves out PyTorch's `dilation=1, ceil_mode=False`). Before the kernel runs, bad input gets an error naming the layer and the shapes:
# a `ShapeError` for the wrong number of dimensions or input channels, or a kernel larger
# than the padded input; a `DtypeError` for an integer input; `TypeError`/`ValueError` for
# a size that is not a positive int (padding: non-negative, at most half the kernel for
# pooling).
#
# **Initialization.** `Conv2d` draws its weight and bias like PyTorch's default
# (`kaiming_uniform_(weight, a=sqrt(5))`), which works out to the uniform distribution
# $U(-1/\sqrt{\text{fan\_in}},\ 1/\sqrt{\text{fan\_in}})$ with
# $\text{fan\_in} = C \cdot k_h \cdot k_w$, the number of inputs of one output, for the
# weight and the bias alike; Module 04's `uniform_parameter` draws them from the default
# generator, so `manual_seed` makes a model reproducible. `Flatten` is a `reshape` (Module
# 01's op, with its gradient), not a new op.

# %%
#| export
def batched(op: str, input: Tensor, *params: Tensor, **attrs: object) -> Tensor:
    """``dispatch(op, input, *params)`` for a batch (N, C, H, W), or a single image (C, H, W)
    given a batch dimension of 1 on the way in and without it on the way out."""
    if input.ndim == 4:
        return dispatch(op, input, *params, **attrs)
    out = dispatch(op, input.reshape(1, *input.shape), *params, **attrs)
    return out.reshape(*out.shape[1:])


def check_image_input(layer: str, input: Tensor) -> None:
    """``input`` must be a floating-point Tensor of shape (N, C, H, W) or (C, H, W)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{layer} expects a Tensor input, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise ShapeError(f"{layer} expects (N, C, H, W) or (C, H, W) input, got shape {input.shape}")
    if input.dtype.kind != "f":
        raise DtypeError(f"{layer} expects a floating-point input, got {input.dtype}; convert it with Tensor(x, dtype=np.float32)")


def check_window_fits(layer: str, input: Tensor, kernel: tuple[int, int], padding: tuple[int, int]) -> None:
    """The kernel must fit inside the padded input: ShapeError naming both sizes otherwise."""
    padded = (input.shape[-2] + 2 * padding[0], input.shape[-1] + 2 * padding[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ShapeError(
            f"{layer}: kernel size {kernel} is larger than the padded input {padded} "
            f"(input shape {input.shape}, padding {padding}); use a smaller kernel or more padding"
        )


def apply_conv2d(layer: str, described: str, input: Tensor, weight: Tensor, bias: Tensor | None,
                 stride: tuple[int, int], padding: tuple[int, int]) -> Tensor:
    """Check ``input`` against ``weight``, then run the ``conv2d`` op. Errors name ``layer``
    (``"Conv2d"``) or, about channels and sizes, ``described`` (the layer's repr)."""
    check_image_input(layer, input)
    if input.shape[-3] != weight.shape[1]:
        raise ShapeError(
            f"{described} expects {weight.shape[1]} input channels, got {input.shape[-3]} (input shape {input.shape})"
        )
    check_window_fits(described, input, weight.shape[2:], padding)
    params = (weight,) if bias is None else (weight, bias)
    return batched("conv2d", input, *params, stride=stride, padding=padding)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrPair = 1,
           padding: IntOrPair = 0) -> Tensor:
    """2-D convolution of ``input`` (N, C, H, W) or (C, H, W) with ``weight`` (O, C, kh, kw) and
    ``bias`` (O,) or None: (N, O, OH, OW), OH = floor((H + 2 ph - kh) / sh) + 1."""
    stride, padding = pair(stride, "conv2d: stride", 1), pair(padding, "conv2d: padding", 0)
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ShapeError(f"conv2d expects a weight of shape (out_channels, in_channels, kh, kw), got {np.shape(weight)}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ShapeError(f"conv2d: bias must have shape ({weight.shape[0]},) for a weight of shape {weight.shape}, got {bias.shape}")
    return apply_conv2d("conv2d", f"conv2d with a weight of shape {weight.shape}", input, weight, bias, stride, padding)


def pool_arguments(layer: str, kernel_size: IntOrPair, stride: IntOrPair | None,
                   padding: IntOrPair) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Pairs ``(kernel, stride, padding)``; ``stride=None`` is the kernel size; padding at most half the kernel."""
    kernel = pair(kernel_size, f"{layer}: kernel_size", 1)
    strides = kernel if stride is None else pair(stride, f"{layer}: stride", 1)
    pads = pair(padding, f"{layer}: padding", 0)
    if pads[0] > kernel[0] // 2 or pads[1] > kernel[1] // 2:
        raise ValueError(f"{layer}: padding {pads} must be at most half of kernel_size {kernel}")
    return kernel, strides, pads


def apply_pool(op: str, layer: str, input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None,
               padding: IntOrPair) -> Tensor:
    """Check the arguments (errors name ``layer``), then run the pooling op ``op``."""
    kernel, strides, pads = pool_arguments(layer, kernel_size, stride, padding)
    check_image_input(layer, input)
    check_window_fits(layer, input, kernel, pads)
    return batched(op, input, kernel_size=kernel, stride=strides, padding=pads)


def max_pool2d(input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0) -> Tensor:
    """The maximum of each window (padding with -inf); gradient to the first maximum."""
    return apply_pool("max_pool2d", "max_pool2d", input, kernel_size, stride, padding)


def avg_pool2d(input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0) -> Tensor:
    """The mean of each window, zero padding counted (``count_include_pad=True``)."""
    return apply_pool("avg_pool2d", "avg_pool2d", input, kernel_size, stride, padding)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """``input`` with dimensions ``start_dim..end_dim`` (inclusive, negative from the end) merged into one."""
    ndim = max(input.ndim, 1)
    dims = []
    for name, dim in (("start_dim", start_dim), ("end_dim", end_dim)):
        if not -ndim <= dim < ndim:
            raise ShapeError(f"flatten: {name}={dim} is out of range for a tensor of shape {input.shape}")
        dims.append(dim % ndim)
    start, end = dims
    if start > end:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a tensor of shape {input.shape}")
    shape = input.shape or (1,)
    return input.reshape(*shape[:start], math.prod(shape[start:end + 1]), *shape[end + 1:])


class Conv2d(Module):
    """2-D convolution: ``weight`` (out_channels, in_channels, kh, kw), ``bias`` (out_channels,);
    both drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels * kh * kw."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair, stride: IntOrPair = 1,
                 padding: IntOrPair = 0, bias: bool = True) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"Conv2d needs positive channel counts, got in_channels={in_channels}, out_channels={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "Conv2d: kernel_size", 1)
        self.stride = pair(stride, "Conv2d: stride", 1)
        self.padding = pair(padding, "Conv2d: padding", 0)
        bound = 1 / math.sqrt(in_channels * self.kernel_size[0] * self.kernel_size[1])  # kaiming_uniform_(a=sqrt(5))
        self.weight = uniform_parameter(bound, out_channels, in_channels, *self.kernel_size)
        self.bias = uniform_parameter(bound, out_channels) if bias else None

    def forward(self, input: Tensor) -> Tensor:
        return apply_conv2d("Conv2d", repr(self), input, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        return text if self.bias is not None else text + ", bias=False"


class _Pool2d(Module):
    """What MaxPool2d and AvgPool2d share: the arguments, checked at construction, and the repr."""

    op = ""

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0) -> None:
        super().__init__()
        pool_arguments(type(self).__name__, kernel_size, stride, padding)  # fail now, not at the first call
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride  # PyTorch keeps them as given
        self.padding = padding

    def forward(self, input: Tensor) -> Tensor:
        return apply_pool(self.op, type(self).__name__, input, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum of each ``kernel_size`` window, every ``stride`` (default: the kernel size)."""

    op = "max_pool2d"


class AvgPool2d(_Pool2d):
    """The mean of each ``kernel_size`` window, every ``stride`` (default: the kernel size), zero padding counted."""

    op = "avg_pool2d"


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one: ``(N, C, H, W) -> (N, C*H*W)`` by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


# %% [markdown]
# A small CNN for the 8×8 digits, the one `examples/train_digits_cnn.py` trains: each
# layer's output shape is printed by a forward hook (Module 04), then one batch goes forward
# and backward. The convolutions keep 8×8 (padding 1); each pool halves it.

# %%
from collections import Counter

from tinytorch.autograd import topological_order
from tinytorch.data import fetch_batch, load_digits
from tinytorch.nn.layers import Linear, ReLU, Sequential
from tinytorch.tensor import manual_seed

manual_seed(0)
cnn = Sequential(Conv2d(1, 16, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(16, 32, 3, padding=1), ReLU(),
                 MaxPool2d(2), Flatten(), Linear(32 * 2 * 2, 10))
print(cnn)
images, labels = fetch_batch(load_digits().train, np.arange(32))
batch = images.reshape(32, 1, 8, 8)
handles = [layer.register_forward_hook(lambda m, args, out: print(f"  {type(m).__name__:>9} -> {out.shape}"))
           for layer in cnn]
logits = cnn(batch)
for handle in handles:
    handle.remove()
logits.sum().backward()
ops = Counter(t.grad_fn.op for t in topological_order(logits) if t.grad_fn is not None)
print("parameters:", sum(p.size for p in cnn.parameters()), "| conv1 weight grad", cnn[0].weight.grad.shape,
      "| graph nodes by op:", dict(ops))
print("unbatched (1, 8, 8) ->", cnn[0](Tensor(np.zeros((1, 8, 8)))).shape)
print("wrong channels:", expect_error(ShapeError, lambda: cnn[3](batch), "16", "1"))
print("wrong rank:", expect_error(ShapeError, lambda: cnn[0](images), "(N, C, H, W)"))
print("kernel too large:", expect_error(ShapeError, lambda: Conv2d(1, 1, 5)(Tensor(np.zeros((1, 1, 3, 3)))), "(5, 5)"))

# %% [markdown]
# Every op's backward against finite differences (Module 02's `gradcheck`, float64, small
# inputs): convolution with and without bias, strides, rectangular kernels and padding,
# an unbatched input; both pools with overlapping windows and padding; `Flatten`. Max
# pooling gets distinct values, so that no tie sits under a finite difference.

# %%
from tinytorch.autograd import gradcheck

rng = np.random.default_rng(5)


def leaf(*shape: int) -> Tensor:
    return Tensor(rng.standard_normal(shape), dtype=np.float64, requires_grad=True)


checks = {
    "conv2d 3x3 pad 1": (lambda x, w, b: conv2d(x, w, b, padding=1), [leaf(2, 2, 3, 3), leaf(2, 2, 3, 3), leaf(2)]),
    "conv2d 2x3 stride (2, 1) pad (1, 0)": (lambda x, w: conv2d(x, w, stride=(2, 1), padding=(1, 0)), [leaf(1, 1, 4, 4), leaf(2, 1, 2, 3)]),
    "conv2d unbatched": (lambda x, w, b: conv2d(x, w, b, stride=2), [leaf(1, 5, 5), leaf(2, 1, 3, 3), leaf(2)]),
    "max_pool2d 3x3 stride 2 pad 1": (lambda x: max_pool2d(x, 3, stride=2, padding=1),
                                      [Tensor(rng.permutation(2 * 5 * 5).reshape(1, 2, 5, 5) * 0.1, dtype=np.float64, requires_grad=True)]),
    "avg_pool2d 3x3 stride 2 pad 1": (lambda x: avg_pool2d(x, 3, stride=2, padding=1), [leaf(1, 2, 5, 5)]),
    "Flatten": (lambda x: Flatten()(x), [leaf(2, 3, 2, 2)]),
}
for name, (fn, inputs) in checks.items():
    gradcheck(fn, inputs)
print(f"gradcheck passed: {', '.join(checks)}")

# %% [markdown]
# ## 7. Systems analysis
#
# ### What im2col costs in memory
# The columns hold $C k_h k_w$ values per output position, so compared with the
# input they are about $k_h k_w \cdot \frac{OH \cdot OW}{H \cdot W}$ times larger: about
# $k_h k_w$ for "same" padding at stride 1, fewer with a stride. The cell measures the bytes
# for the digits CNN's two convolutions (batch 64), a 5×5 kernel on 32×32 colour images,
# and a strided one, and prints the ratio beside $k_h k_w$.

# %%
print(f"{'input shape':>18} {'kernel':>7} {'stride':>6} {'pad':>3} | {'input':>9} {'columns':>10} {'ratio':>6}  kh*kw")
for shape, kernel, stride, padding in (((64, 1, 8, 8), 3, 1, 1), ((64, 16, 4, 4), 3, 1, 1),
                                       ((16, 3, 32, 32), 5, 1, 0), ((16, 3, 32, 32), 3, 2, 1)):
    x = np.zeros(shape, dtype=np.float32)
    cols = im2col(x, (kernel, kernel), (stride, stride), (padding, padding))
    print(f"{str(shape):>18} {kernel}x{kernel:<5} {stride:>6} {padding:>3} | {x.nbytes / 1024:7.1f} KiB "
          f"{cols.nbytes / 1024:8.1f} KiB {cols.nbytes / x.nbytes:5.2f}x  {kernel * kernel}")

# %% [markdown]
# ### Windows as columns or as rows
# The copy that im2col makes, timed in both layouts for the digits CNN's two convolutions
# at batch 64: windows as columns $(C k_h k_w,\ N \cdot OH \cdot OW)$, as you wrote it, and
# as rows $(N \cdot OH \cdot OW,\ C k_h k_w)$, the same numbers transposed.

# %%
import timeit

for shape in ((64, 1, 8, 8), (64, 16, 4, 4)):
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    view = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))  # (N, C, OH, OW, 3, 3)
    size = (shape[1] * 9, shape[0] * shape[2] * shape[3])
    column_s = min(timeit.repeat(lambda: view.transpose(1, 4, 5, 0, 2, 3).reshape(size), number=3, repeat=5)) / 3
    row_s = min(timeit.repeat(lambda: view.transpose(0, 2, 3, 1, 4, 5).reshape(size[::-1]), number=3, repeat=5)) / 3
    print(f"{str(shape):>15}, 3x3, pad 1: columns {column_s * 1e6:6.1f} us, rows {row_s * 1e6:6.1f} us "
          f"(rows take {row_s / column_s:.1f}x as long)")

# %% [markdown]
# ### Direct loop against im2col + GEMM
# The same convolution (batch 16, 1 → 16 channels, 3×3, padding 1, on the 8×8 digits),
# forward only, timed side by side: `conv2d_direct` (a Python loop over the 64 output
# positions, each a small `einsum`) against the `conv2d` op (im2col and one matrix
# product). Both give the same numbers first.

# %%
rng = np.random.default_rng(6)
x_small = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
layer = Conv2d(1, 16, 3, padding=1)
x_tensor = Tensor(x_small)
w_arr, b_arr = layer.weight.numpy(), layer.bias.numpy()
assert np.allclose(layer(x_tensor).numpy(), conv2d_direct(x_small, w_arr, b_arr, (1, 1), (1, 1)), atol=1e-5), (
    "Conv2d (im2col + GEMM) and conv2d_direct differ on the timed input: the timing would compare different computations"
)
direct_times, gemm_times = [], []
for _ in range(5):  # alternate, so both see the same machine load
    direct_times.append(timeit.timeit(lambda: conv2d_direct(x_small, w_arr, b_arr, (1, 1), (1, 1)), number=3) / 3)
    gemm_times.append(timeit.timeit(lambda: layer(x_tensor), number=20) / 20)
print(f"conv 1->16, 3x3, pad 1, batch 16 on 8x8: direct loop {min(direct_times) * 1e6:7.1f} us, "
      f"im2col + GEMM {min(gemm_times) * 1e6:6.1f} us ({min(direct_times) / min(gemm_times):.1f}x faster)")

# %% [markdown]
# ## Summary
#
# You wrote the five functions that make a convolution a matrix product: `im2col` (windows
# as columns, with stride tricks), `conv2d_from_columns` (one GEMM), `conv2d_backward_columns`
# (the gradients, as for `Linear`), `col2im` (the adjoint scatter, a loop over kernel
# offsets only) and `route_to_max` (max pooling's routing, first maximum on ties). Given
# code made them three registered ops, `conv2d`, `max_pool2d` and `avg_pool2d`, each one
# graph node with a closed-form backward, and the layers `Conv2d`, `MaxPool2d`, `AvgPool2d`
# and `Flatten`. `python examples/train_digits_cnn.py` trains the CNN above on the digits
# with Modules 05–08.
#
# **Reflection questions**
#
# 1. The memory table shows the columns of a stride-1 "same" convolution about $k_h k_w$
#    times the input. For a 3×3 convolution on a batch of 32 images of 224×224×64 float32
#    activations, how large are they? Why do libraries process such a batch in slices?
# 2. The backward pass recomputes `im2col` instead of keeping the columns from the forward
#    pass. What would keeping them cost for the digits CNN, and when would you trade the
#    memory for the time?
# 3. `col2im` loops over the $k_h k_w$ kernel offsets. Why is a loop over those cheap while a
#    loop over output pixels is not? What happens to its cost for a 1×1 convolution?
# 4. A max-pooling tie sends the whole gradient to the first maximum. After a ReLU, many
#    windows are all zeros: which pixel gets the gradient there, and does it matter?
