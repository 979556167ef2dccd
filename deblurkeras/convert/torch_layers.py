"""PyTorch building blocks that reproduce TensorFlow/Keras numerics exactly (pure PyTorch, no TensorFlow).

Every block takes `naive`, a set of pitfall names; a name in it makes the block behave the way a hand port
usually does instead (used to show what the parity report catches). Pitfalls (the TF rules are those of
`tf.nn.convolution` / `tf.nn.conv2d_transpose` padding='SAME' and TF1.4 `tf.image.resize_images`; the defaults
those of keras.layers.BatchNormalization / LeakyReLU against torch.nn.BatchNorm2d / LeakyReLU):
    padding  Conv2d(padding=k//2) symmetric instead of TF SAME's extra pixel bottom/right
    deconv   ConvTranspose2d(padding=(k-1)//2, output_padding=s+2p-k) instead of TF's 'same' crop
    resize   interpolate(align_corners=False) (half-pixel) instead of TF1 legacy asymmetric sampling
    bn       torch default eps 1e-5 instead of Keras 1e-3
    leaky    torch default slope 0.01 instead of the Keras slope
    shuffle  the other depth-to-space channel order (F.pixel_shuffle CRD vs tf.nn.depth_to_space DCR)
"""
import contextlib

import torch
import torch.nn.functional as F
from torch import nn

# one copy of each TF-exact helper: tf_same.py (self-contained, what convert-keras folders carry) holds them
from .tf_same import activate, resize, same_pads

PITFALLS = ("padding", "deconv", "resize", "bn", "leaky", "shuffle")


def check_naive(naive):
    """Normalise a naive-mode spec (None, 'a,b' or an iterable) to a frozenset of known pitfall names."""
    if naive is None:
        return frozenset()
    items = naive.split(",") if isinstance(naive, str) else naive
    items = frozenset(s.strip() for s in items if s and s.strip())
    unknown = items - set(PITFALLS)
    if unknown:
        raise ValueError(f"unknown naive mode(s) {sorted(unknown)}; expected some of {list(PITFALLS)}")
    return items


class SameConv2d(nn.Conv2d):
    """Conv2d with Keras padding ('same' = TF SAME with explicit asymmetric pads, or 'valid') and an activation."""

    def __init__(self, cin, cout, kernel, stride=1, dilation=1, padding="same", activation=None, naive=(), bias=True):
        super().__init__(cin, cout, kernel, stride=stride, dilation=dilation, padding=0, bias=bias)
        self.keras_padding, self.activation = padding, activation
        self.naive_padding = "padding" in naive

    def forward(self, x):
        if self.keras_padding == "same":
            (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
            if self.naive_padding:
                ph, pw = (kh // 2 * dh,) * 2, (kw // 2 * dw,) * 2
            else:
                ph, pw = same_pads(x.shape[2], kh, sh, dh), same_pads(x.shape[3], kw, sw, dw)
            traced = any(isinstance(p, torch.Tensor) for p in ph + pw)  # ONNX export: the branch-free form
            if not traced and ph[0] == ph[1] and pw[0] == pw[1]:  # symmetric: let the conv pad (no extra copy)
                y = F.conv2d(x, self.weight, self.bias, self.stride, (ph[0], pw[0]), self.dilation)
            else:
                y = F.conv2d(F.pad(x, (pw[0], pw[1], ph[0], ph[1])), self.weight, self.bias, self.stride, 0,
                             self.dilation)
        else:
            y = F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation)
        return activate(y, self.activation)


class SameConvTranspose2d(nn.ConvTranspose2d):
    """Keras Conv2DTranspose(padding='same'): output in*s, the full output cropped by k-s, begin = (k-s)//2."""

    def __init__(self, cin, cout, kernel, stride=2, activation=None, naive=(), bias=True):
        super().__init__(cin, cout, kernel, stride=stride, padding=0, bias=bias)
        self.activation = activation
        self.naive_deconv = "deconv" in naive

    def forward(self, x):
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if self.naive_deconv:
            p = ((kh - 1) // 2, (kw - 1) // 2)
            op = (sh + 2 * p[0] - kh, sw + 2 * p[1] - kw)
            return activate(F.conv_transpose2d(x, self.weight, self.bias, self.stride, p, op), self.activation)
        th, tw = max(kh - sh, 0), max(kw - sw, 0)
        if th % 2 == 0 and tw % 2 == 0:  # symmetric crop == torch padding (k=4, s=2 -> padding=1)
            y = F.conv_transpose2d(x, self.weight, self.bias, self.stride, (th // 2, tw // 2))
        else:
            y = F.conv_transpose2d(x, self.weight, self.bias, self.stride, 0)
            oh, ow = x.shape[2] * sh, x.shape[3] * sw
            y = y[:, :, th // 2:th // 2 + oh, tw // 2:tw // 2 + ow]
        return activate(y, self.activation)


def resize_bilinear(x, size, mode="tf1_legacy", naive=()):
    """Bilinear resize of an NCHW tensor to size=(h, w) with TF semantics (tf_same.resize): tf1_legacy (TF1's
    src = dst * in / out) or half_pixel; the naive 'resize' pitfall always uses the half-pixel form."""
    if mode not in ("tf1_legacy", "half_pixel"):
        raise ValueError(f"unknown resize mode {mode!r}")
    return resize(x, size, "half_pixel" if "resize" in naive else mode)


def scaled_size(h, w, scale):
    """SRN's level size int(round(n*scale)), round half to even like Python and tf.round."""
    if isinstance(h, torch.Tensor):  # traced sizes (ONNX export); torch.round also rounds half to even
        return torch.round(h * scale).long(), torch.round(w * scale).long()
    return int(round(h * scale)), int(round(w * scale))


def pixel_shuffle(x, block, order="dcr", naive=()):
    """Depth to space on NCHW in either channel order: 'dcr' = tf.nn.depth_to_space (input channel (i*b + j)*C + c),
    'crd' = F.pixel_shuffle (c*b*b + i*b + j). The naive 'shuffle' pitfall takes the other order: the usual mix-up
    when a model moves between the frameworks."""
    if "shuffle" in naive:
        order = "crd" if order == "dcr" else "dcr"
    if order == "crd":
        return F.pixel_shuffle(x, block)
    n, cb, h, w = x.shape
    c = cb // (block * block)
    return x.view(n, block, block, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c, h * block, w * block)


def depth_to_space(x, block, naive=()):
    """tf.nn.depth_to_space on NCHW (see pixel_shuffle)."""
    return pixel_shuffle(x, block, "dcr", naive)


def batch_norm(channels, epsilon=1e-3, momentum=0.99, naive=()):
    """BatchNorm2d with Keras' epsilon and momentum (torch momentum = 1 - Keras momentum)."""
    return nn.BatchNorm2d(channels, eps=1e-5 if "bn" in naive else epsilon, momentum=1.0 - momentum)


def leaky_relu(slope, naive=()):
    """LeakyReLU with the Keras slope (Keras 3 layer default 0.3); naive 'leaky' = torch default 0.01."""
    return nn.LeakyReLU(0.01 if "leaky" in naive else slope)


class TwinModule(nn.Module):
    """Base class of the PyTorch twins: what export and parity need of a twin, and explicit per-layer capture keyed
    by (keras layer name, call index).

    Export (convert.export.keras_path) turns a torch module path into a Keras weight path with `keras_prefix`:
    "." -> KERAS_PATH_SEP ("/", as Keras nests sub-layers: SRN's enc1_2/conv1; "." where the Keras layer names
    already hold dots, the SR tutorial's `residual_blocks.0.conv_block1...`; a twin overrides keras_prefix where
    only some dots are nesting, DMPHN's `encoder_lv1/layer2.0`). Parity checks `parity_sizes()` unless told sizes;
    `check_size` refuses a size the model cannot run on.

    A Keras layer shared across calls (SRN's 3 scales) has one capture entry per call; the call index is the index
    of the Keras node, so both sides pair up by name.
    """

    KERAS_PATH_SEP = "/"
    PARITY_SIZES = ((64, 64), (63, 81), (48, 80))  # even, odd + non-square, not a multiple of 16 + non-square

    def __init__(self):
        super().__init__()
        self._taps = None

    def keras_prefix(self, prefix):
        """The Keras path of the torch module path `prefix` (dotted)."""
        return prefix.replace(".", self.KERAS_PATH_SEP)

    def parity_sizes(self):
        """The (H, W) sizes parity checks by default (a twin whose sizes follow its configuration overrides it)."""
        return tuple(self.PARITY_SIZES)

    def check_size(self, h, w):
        """Raise BadInputError when the model cannot run on an h x w input (default: any size)."""

    def tap(self, name, x, node=0):
        if self._taps is not None:
            self._taps[(name, node)] = x.detach()
        return x

    @contextlib.contextmanager
    def capturing(self):
        """`with twin.capturing() as acts: twin(x)` fills acts {(name, node): NCHW tensor} in execution order."""
        self._taps = {}
        try:
            yield self._taps
        finally:
            self._taps = None
