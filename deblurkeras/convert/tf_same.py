"""TensorFlow/Keras-exact PyTorch layers used by code that `deblurkeras convert-keras` writes.

Self-contained (imports only torch): convert-keras copies this file next to the generated model.py.
Layout: channels first. A Keras (N, H, W, C) tensor is (N, C, H, W) here, (N, L, C) is (N, C, L), (N, C) stays.
The pitfalls a hand port usually hits are options here, so the `compare` detectors can try them:
    Conv padding "symmetric"       torch padding=k//2 instead of TF SAME's extra pixel bottom/right
    ConvTranspose padding "symmetric"  torch padding=(k-1)//2 + output_padding instead of TF's crop
    Resize mode "half_pixel" / "align_corners" instead of TF1's legacy asymmetric sampling (and back)
    DepthToSpace order "crd"       F.pixel_shuffle's channel order instead of tf.nn.depth_to_space's (DCR)
    Flatten order "chw"            flattening NCHW directly instead of Keras' (H, W, C) order
"""
import contextlib
import operator

import torch
import torch.nn.functional as F
from torch import nn


# ---- layout -------------------------------------------------------------------------------------------------
def to_keras(x):
    """Channels-first -> Keras' channels-last (rank >= 3)."""
    return x.movedim(1, -1) if x.dim() >= 3 else x


def to_torch(x):
    """Keras' channels-last -> channels-first (rank >= 3)."""
    return x.movedim(-1, 1) if x.dim() >= 3 else x


def channel_view(t, rank):
    """A per-channel vector shaped to broadcast over a channels-first tensor of `rank`."""
    return t.view(1, -1, *([1] * (rank - 2))) if rank > 2 else t


# ---- base class: per-layer capture --------------------------------------------------------------------------
class TapModule(nn.Module):
    """Base of generated models. `with model.capturing() as acts: model(x)` fills acts {(keras name, call): out}.

    Every direct child is one Keras layer; a forward hook records its first output for each call. KERAS_NAMES maps
    attribute -> Keras layer name where they differ; KERAS_CALLS maps attribute -> Keras call (node) indices in
    the order forward calls it, where that is not 0, 1, 2...
    """

    KERAS_NAMES = {}
    KERAS_CALLS = {}

    @contextlib.contextmanager
    def capturing(self):
        acts, counts, handles = {}, {}, []

        def hook_for(attr):
            def hook(module, args, out):
                k = counts.get(attr, 0)
                counts[attr] = k + 1
                calls = self.KERAS_CALLS.get(attr)
                first = out[0] if isinstance(out, (tuple, list)) else out
                acts[(self.KERAS_NAMES.get(attr, attr), calls[k] if calls else k)] = first.detach()
            return hook

        for attr, child in self.named_children():
            handles.append(child.register_forward_hook(hook_for(attr)))
        try:
            yield acts
        finally:
            for h in handles:
                h.remove()


# ---- padding ------------------------------------------------------------------------------------------------
def same_pads(size, kernel, stride, dilation=1):
    """TF SAME padding along one dim: (before, after); the odd pixel goes after (bottom/right).
    Stride 1 needs no size (constant pads in a traced ONNX graph); traced sizes (0-d tensors) stay ops."""
    if stride == 1:
        total = (kernel - 1) * dilation
        return total // 2, total - total // 2
    out = (size + stride - 1) // stride  # ceil; no negative floor division (ONNX Div truncates)
    total = (out - 1) * stride + (kernel - 1) * dilation + 1 - size
    total = total.clamp(min=0) if isinstance(total, torch.Tensor) else max(total, 0)
    return total // 2, total - total // 2


def spatial_pads(x, kernel, stride, dilation, padding):
    """F.pad list (last dim first) for `padding` in valid / same / symmetric / causal."""
    pads = []
    for i in reversed(range(len(kernel))):
        k, s, d = kernel[i], stride[i], dilation[i]
        if padding == "same":
            pads += same_pads(x.shape[2 + i], k, s, d)
        elif padding == "symmetric":
            pads += ((k // 2) * d, (k // 2) * d)
        elif padding == "causal":
            pads += ((k - 1) * d, 0)
        else:
            pads += (0, 0)
    return pads


# ---- activations --------------------------------------------------------------------------------------------
def activate(x, name, dim=1):
    """A Keras activation by name; `dim` is the Keras axis -1 in channels-first layout (for softmax)."""
    if name in (None, "linear"):
        return x
    fns = {
        "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "elu": F.elu,
        "selu": F.selu, "softplus": F.softplus, "softsign": F.softsign, "exponential": torch.exp,
        "swish": F.silu, "silu": F.silu, "gelu": F.gelu, "mish": F.mish,
        "hard_sigmoid": lambda t: F.relu6(t + 3.0) / 6.0, "hard_silu": lambda t: t * F.relu6(t + 3.0) / 6.0,
        "hard_swish": lambda t: t * F.relu6(t + 3.0) / 6.0, "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
        "softmax": lambda t: torch.softmax(t, dim), "log_softmax": lambda t: torch.log_softmax(t, dim),
    }
    if name not in fns:
        raise ValueError(f"unsupported activation {name!r}")
    return fns[name](x)


class Activation(nn.Module):
    def __init__(self, name, dim=1):
        super().__init__()
        self.name, self.dim = name, dim

    def forward(self, x):
        return activate(x, self.name, self.dim)


class ReLU(nn.Module):
    """Keras ReLU(max_value, negative_slope, threshold)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0):
        super().__init__()
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def forward(self, x):
        if self.negative_slope == 0 and self.threshold == 0:
            y = F.relu(x)
        else:
            y = torch.where(x >= self.threshold, x, self.negative_slope * (x - self.threshold))
        return y.clamp(max=self.max_value) if self.max_value is not None else y


class PReLU(nn.Module):
    """Keras PReLU: alpha of the Keras shape without the shared axes, in channels-first layout."""

    def __init__(self, shape):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(shape))

    def forward(self, x):
        return torch.where(x >= 0, x, self.weight * x)


class Softmax(nn.Module):
    def __init__(self, dim=1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return torch.softmax(x, self.dim)


# ---- convolutions -------------------------------------------------------------------------------------------
class Conv(nn.Module):
    """Keras Conv1D/Conv2D/DepthwiseConv2D: weight (out, in/groups, *kernel), TF SAME / valid / causal padding."""

    def __init__(self, cin, cout, kernel, stride=1, dilation=1, groups=1, padding="valid", activation=None,
                 bias=True):
        super().__init__()
        kernel = (kernel,) if isinstance(kernel, int) else tuple(kernel)
        n = len(kernel)
        self.kernel, self.groups, self.padding, self.activation = kernel, groups, padding, activation
        self.stride = (stride,) * n if isinstance(stride, int) else tuple(stride)
        self.dilation = (dilation,) * n if isinstance(dilation, int) else tuple(dilation)
        self.weight = nn.Parameter(torch.zeros(cout, cin // groups, *kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.conv = F.conv1d if n == 1 else F.conv2d

    def forward(self, x):
        pads = spatial_pads(x, self.kernel, self.stride, self.dilation, self.padding)
        if any(isinstance(p, torch.Tensor) for p in pads):  # traced pads (ONNX export): the branch-free form
            y = self.conv(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        elif all(p == 0 for p in pads):
            y = self.conv(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        elif all(pads[2 * i] == pads[2 * i + 1] for i in range(len(pads) // 2)):  # symmetric: the conv pads
            sym = tuple(reversed(pads[0::2]))
            y = self.conv(x, self.weight, self.bias, self.stride, sym, self.dilation, self.groups)
        else:
            y = self.conv(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return activate(y, self.activation)


class SeparableConv(nn.Module):
    """Keras SeparableConv2D: depthwise conv (TF padding, no bias) then a 1x1 pointwise conv (+ bias)."""

    def __init__(self, cin, cout, kernel, stride=1, dilation=1, multiplier=1, padding="valid", activation=None,
                 bias=True):
        super().__init__()
        self.depthwise = Conv(cin, cin * multiplier, kernel, stride, dilation, cin, padding, None, bias=False)
        self.pointwise = Conv(cin * multiplier, cout, (1,) * len(self.depthwise.kernel), bias=bias)
        self.activation = activation

    def forward(self, x):
        return activate(self.pointwise(self.depthwise(x)), self.activation)


class ConvTranspose(nn.Module):
    """Keras Conv2DTranspose: weight (in, out, kh, kw); 'same' = output in*s, full output cropped by k-s from
    (k-s)//2; 'valid' = full output (in-1)*s + k (+ any output_padding)."""

    def __init__(self, cin, cout, kernel, stride=1, dilation=1, padding="valid", output_padding=None,
                 activation=None, bias=True):
        super().__init__()
        pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
        self.kernel, self.stride, self.dilation = pair(kernel), pair(stride), pair(dilation)
        self.padding, self.output_padding, self.activation = padding, output_padding, activation
        self.weight = nn.Parameter(torch.zeros(cin, cout, *kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None

    def forward(self, x):
        (kh, kw), (sh, sw) = self.kernel, self.stride
        if self.padding == "symmetric":  # the usual hand port
            p = ((kh - 1) // 2, (kw - 1) // 2)
            op = (sh + 2 * p[0] - kh, sw + 2 * p[1] - kw)
            y = F.conv_transpose2d(x, self.weight, self.bias, self.stride, p, op, 1, self.dilation)
        elif self.padding == "same":
            th, tw = kh - sh, kw - sw
            if th % 2 == 0 and tw % 2 == 0:  # a symmetric crop is torch's padding (k=4, s=2 -> padding=1)
                y = F.conv_transpose2d(x, self.weight, self.bias, self.stride, (th // 2, tw // 2), 0, 1, self.dilation)
            else:
                y = F.conv_transpose2d(x, self.weight, self.bias, self.stride, 0, 0, 1, self.dilation)
                oh, ow = x.shape[2] * sh, x.shape[3] * sw
                y = y[:, :, th // 2:th // 2 + oh, tw // 2:tw // 2 + ow]
        else:
            op = self.output_padding or (0, 0)
            y = F.conv_transpose2d(x, self.weight, self.bias, self.stride, 0, op, 1, self.dilation)
        return activate(y, self.activation)


class Dense(nn.Linear):
    """Keras Dense: acts on the last Keras axis, i.e. the channel dim (1) for rank >= 3."""

    def __init__(self, cin, cout, activation=None, bias=True):
        super().__init__(cin, cout, bias=bias)
        self.activation = activation

    def forward(self, x):
        y = super().forward(x) if x.dim() <= 2 else super().forward(x.movedim(1, -1)).movedim(-1, 1)
        return activate(y, self.activation)


# ---- normalisation ------------------------------------------------------------------------------------------
class BatchNorm(nn.modules.batchnorm._BatchNorm):
    """Keras BatchNormalization (axis = channels) for any rank; eps and momentum passed as Keras has them."""

    def _check_input_dim(self, x):
        pass


class LayerNorm(nn.Module):
    """Keras LayerNormalization over one axis (`dim` in channels-first layout)."""

    def __init__(self, size, dim=1, eps=1e-3, center=True, scale=True):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = nn.Parameter(torch.ones(size)) if scale else None
        self.bias = nn.Parameter(torch.zeros(size)) if center else None

    def forward(self, x):
        mean = x.mean(self.dim, keepdim=True)
        var = ((x - mean) ** 2).mean(self.dim, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        shape = [1] * x.dim()
        shape[self.dim] = -1
        if self.weight is not None:
            y = y * self.weight.view(shape)
        if self.bias is not None:
            y = y + self.bias.view(shape)
        return y


class Normalization(nn.Module):
    """Keras Normalization (axis = channels): (x - mean) / max(sqrt(var), 1e-7), or its inverse."""

    def __init__(self, channels, invert=False):
        super().__init__()
        self.invert = invert
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("variance", torch.ones(channels))

    def forward(self, x):
        mean, std = channel_view(self.mean, x.dim()), channel_view(self.variance, x.dim()).sqrt().clamp(min=1e-7)
        return mean + x * std if self.invert else (x - mean) / std


class Rescaling(nn.Module):
    """x * scale + offset (scale / offset scalars or per channel)."""

    def __init__(self, scale, offset):
        super().__init__()
        # constants from the code, not weights
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32).reshape(-1), persistent=False)
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32).reshape(-1), persistent=False)

    def forward(self, x):
        s = self.scale if self.scale.numel() == 1 else channel_view(self.scale, x.dim())
        o = self.offset if self.offset.numel() == 1 else channel_view(self.offset, x.dim())
        return x * s + o


class Scale(nn.Module):
    """x * weight, weight per channel (ConvNeXt's LayerScale)."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x):
        return x * channel_view(self.weight, x.dim())


# ---- merge --------------------------------------------------------------------------------------------------
class Merge(nn.Module):
    """Keras Add / Subtract / Multiply / Average / Maximum / Minimum over the positional inputs."""

    def __init__(self, op):
        super().__init__()
        self.op = op

    def forward(self, *xs):
        if self.op == "subtract":
            return xs[0] - xs[1]
        y = xs[0]
        for x in xs[1:]:
            y = {"add": torch.add, "multiply": torch.mul, "average": torch.add, "maximum": torch.maximum,
                 "minimum": torch.minimum}[self.op](y, x)
        return y / len(xs) if self.op == "average" else y


class ScalarOp(nn.Module):
    """A keras.ops elementwise call with a Python number on one side: `x + 3.0`, `x * (1 / 6)`, `1 - x`."""

    def __init__(self, op, value, tensor_first=True):
        super().__init__()
        self.op, self.value, self.tensor_first = op, float(value), tensor_first

    def forward(self, x):
        a, b = (x, self.value) if self.tensor_first else (self.value, x)
        if self.op in ("maximum", "minimum"):
            return getattr(torch, f"clamp_{'min' if self.op == 'maximum' else 'max'}")(x, self.value)
        return {"add": operator.add, "subtract": operator.sub, "multiply": operator.mul, "divide": operator.truediv,
                "power": operator.pow}[self.op](a, b)


class Concatenate(nn.Module):
    def __init__(self, dim=1):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, self.dim)


class Identity(nn.Module):
    """Dropout and friends at inference; also tf.stop_gradient (detach)."""

    def __init__(self, detach=False):
        super().__init__()
        self.detach = detach

    def forward(self, x):
        return x.detach() if self.detach else x


# ---- shape --------------------------------------------------------------------------------------------------
class Pad(nn.Module):
    """ZeroPadding1D/2D: `pads` in F.pad order (last dim first)."""

    def __init__(self, pads):
        super().__init__()
        self.pads = tuple(pads)

    def forward(self, x):
        return F.pad(x, self.pads)


class Crop(nn.Module):
    """Cropping1D/2D: ((begin, end), ...) per spatial dim."""

    def __init__(self, crops):
        super().__init__()
        self.crops = tuple(tuple(c) for c in crops)

    def forward(self, x):
        idx = [slice(None), slice(None)] + [slice(a, x.shape[2 + i] - b) for i, (a, b) in enumerate(self.crops)]
        return x[tuple(idx)]


class Flatten(nn.Module):
    """Keras Flatten: (H, W, C) order ("hwc"); "chw" is the usual hand port that flattens NCHW as is."""

    def __init__(self, order="hwc"):
        super().__init__()
        self.order = order

    def forward(self, x):
        return torch.flatten(to_keras(x) if self.order == "hwc" else x, 1)


class Reshape(nn.Module):
    """Keras Reshape: done in Keras' channels-last order, then back to channels first."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return to_torch(to_keras(x).reshape(x.shape[0], *self.shape))


class Permute(nn.Module):
    """Keras Permute (1-based dims), in Keras' channels-last order."""

    def __init__(self, dims):
        super().__init__()
        self.dims = (0,) + tuple(dims)

    def forward(self, x):
        return to_torch(to_keras(x).permute(self.dims))


# ---- resize / pooling ---------------------------------------------------------------------------------------
def resize(x, size, mode):
    """Resize NCHW to size=(h, w). Modes: half_pixel (TF2 tf.image.resize bilinear = torch align_corners=False),
    tf1_legacy (TF1 resize_bilinear: src = dst * in / out), align_corners, nearest (TF2 = torch nearest-exact),
    nearest_legacy (Keras UpSampling2D: torch nearest)."""
    oh, ow = size[0], size[1]
    if not isinstance(oh, torch.Tensor):  # traced sizes (ONNX export) stay tensors: a dynamic Resize
        oh, ow = int(oh), int(ow)
    if mode in ("half_pixel", "tf1_legacy") and (oh, ow) == tuple(x.shape[2:]):
        return x
    if mode == "half_pixel":
        return F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False)
    if mode == "align_corners":
        return F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=True)
    if mode == "nearest":
        return F.interpolate(x, size=(oh, ow), mode="nearest-exact")
    if mode == "nearest_legacy":
        return F.interpolate(x, size=(oh, ow), mode="nearest")
    if mode != "tf1_legacy":
        raise ValueError(f"unknown resize mode {mode!r}")
    # No torch flag: replicate-pad bottom/right, align_corners=True to (h+1, w+1), drop the last row/col.
    padded = F.pad(x, (0, 1, 0, 1), mode="replicate")
    return F.interpolate(padded, size=(oh + 1, ow + 1), mode="bilinear", align_corners=True)[:, :, :oh, :ow]


class Resize(nn.Module):
    """Resize to a fixed `size`, by `factor` (int(round(n * factor)), half to even like TF), or to the spatial size
    of a second input."""

    def __init__(self, mode, size=None, factor=None):
        super().__init__()
        self.mode, self.size, self.factor = mode, size, factor

    def forward(self, x, like=None):
        if like is not None:
            size = like.shape[2:]
        elif self.size is not None:
            size = self.size
        else:
            size = [torch.round(n * f).long() if isinstance(n, torch.Tensor) else int(round(n * f))
                    for n, f in zip(x.shape[2:], self.factor)]
        return resize(x, size, self.mode)


class Pool(nn.Module):
    """Max / average pooling (1D or 2D) with TF padding; SAME average excludes the padding from the count."""

    def __init__(self, kind, kernel, stride, padding="valid"):
        super().__init__()
        self.kind, self.kernel, self.stride, self.padding = kind, tuple(kernel), tuple(stride), padding

    def forward(self, x):
        n = len(self.kernel)
        pool = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d, ("avg", 1): F.avg_pool1d,
                ("avg", 2): F.avg_pool2d}[(self.kind, n)]
        if self.padding != "same":
            return pool(x, self.kernel, self.stride)
        pads = spatial_pads(x, self.kernel, self.stride, (1,) * n, "same")
        if self.kind == "max":
            return pool(F.pad(x, pads, value=float("-inf")), self.kernel, self.stride)
        ones = torch.ones_like(x[:1, :1])
        return pool(F.pad(x, pads), self.kernel, self.stride) / pool(F.pad(ones, pads), self.kernel, self.stride)


class GlobalPool(nn.Module):
    def __init__(self, kind, keepdims=False):
        super().__init__()
        self.kind, self.keepdims = kind, keepdims

    def forward(self, x):
        dims = tuple(range(2, x.dim()))
        if self.kind == "max":
            return x.amax(dims, keepdim=self.keepdims)
        return x.mean(dims, keepdim=self.keepdims)


class DepthToSpace(nn.Module):
    """Pixel shuffle by `block`: order "dcr" = tf.nn.depth_to_space (channel (i*b + j)*C + c), "crd" =
    F.pixel_shuffle (channel c*b*b + i*b + j)."""

    def __init__(self, block, order="dcr"):
        super().__init__()
        self.block, self.order = block, order

    def forward(self, x):
        if self.order == "crd":
            return F.pixel_shuffle(x, self.block)
        n, cb, h, w = x.shape
        b = self.block
        c = cb // (b * b)
        return x.reshape(n, b, b, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c, h * b, w * b)
